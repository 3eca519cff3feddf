//! `index-builder triage` against the team's hand-labelled sets in `tests/data/` (see its
//! README): agreement with the labels, a confusion matrix, and false `explicit_request` on
//! look-alikes. These sets are unit-test material, not a claim (the held-out figures come from
//! `./baton bench triage` on public data): the bar asserted here (≥ 90 % agreement on each set,
//! no false request for a person on a look-alike) catches a classifier or a rule change that
//! regresses badly on docs-chat messages.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TRIGGERS: [&str; 5] = ["explicit_request", "urgent", "keyword", "frustration", "none"];

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// Runs `index-builder triage [args]` with `input` on stdin; returns (status ok, stdout, stderr).
fn triage(args: &[&str], input: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_index-builder"))
        .arg("triage")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run index-builder");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

struct Score {
    total: usize,
    agree: usize,
    false_explicit_on_lookalikes: usize,
    lookalikes: usize,
    confusion: BTreeMap<(String, String), usize>,
    misses: Vec<Value>,
}

fn score(file: &str) -> Score {
    let rows: Vec<Value> = std::fs::read_to_string(data(file)).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let input: String = rows.iter().map(|r| format!("{}\n", json!({"id": r["id"], "message": r["message"]}))).collect();
    let (ok, stdout, stderr) = triage(&[], &input);
    assert!(ok, "triage failed: {stderr}");
    let out: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(out.len(), rows.len(), "one line out per line in");
    let mut s =
        Score { total: rows.len(), agree: 0, false_explicit_on_lookalikes: 0, lookalikes: 0, confusion: BTreeMap::new(), misses: vec![] };
    for (r, o) in rows.iter().zip(&out) {
        assert_eq!(r["id"], o["id"]);
        let (label, got) = (r["label"].as_str().unwrap(), o["trigger"].as_str().unwrap());
        assert!(TRIGGERS.contains(&got), "{o}");
        *s.confusion.entry((label.to_string(), got.to_string())).or_default() += 1;
        if r["lookalike"] == true {
            s.lookalikes += 1;
            if got == "explicit_request" {
                s.false_explicit_on_lookalikes += 1;
            }
        }
        if label == got {
            s.agree += 1;
        } else {
            s.misses.push(json!({"id": r["id"], "message": r["message"], "label": label, "trigger": got, "evidence": o["evidence"]}));
        }
    }
    s
}

/// Prints a set's agreement, confusion matrix and misses (`--nocapture` shows them).
fn report(file: &str, s: &Score) {
    let agreement = s.agree as f64 / s.total as f64;
    println!("\n{file}: {} messages, agreement {:.1} % ({}/{})", s.total, agreement * 100.0, s.agree, s.total);
    println!("  false explicit_request on look-alikes: {} of {}", s.false_explicit_on_lookalikes, s.lookalikes);
    println!("  {:>18} | {}", "label \\ trigger", TRIGGERS.map(|t| format!("{t:>17}")).join(""));
    for label in TRIGGERS {
        let row: Vec<usize> = TRIGGERS.iter().map(|t| s.confusion.get(&(label.to_string(), t.to_string())).copied().unwrap_or(0)).collect();
        println!("  {label:>18} | {}", row.iter().map(|n| format!("{n:>17}")).collect::<String>());
    }
    for m in &s.misses {
        println!("  miss {} [{} → {}] {:?} {}", m["id"], m["label"], m["trigger"], m["message"].as_str().unwrap(), m["evidence"]);
    }
}

#[test]
fn triage_agrees_with_the_labelled_sets() {
    let sets = ["triage.jsonl", "triage-holdout.jsonl", "triage-blind.jsonl"];
    let scores: Vec<(&str, Score)> = sets.iter().map(|f| (*f, score(f))).collect();
    for (f, s) in &scores {
        report(f, s);
    }
    for (f, s) in &scores {
        assert_eq!(s.false_explicit_on_lookalikes, 0, "{f}: a look-alike was taken for a request for a person");
        assert!(s.agree as f64 >= 0.90 * s.total as f64, "{f}: agreement {}/{} is below 90 %", s.agree, s.total);
    }
}

#[test]
fn triage_uses_the_given_site_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("baton.toml");
    std::fs::write(
        &config,
        r#"site = "shop"
[handoff]
keywords = ["invoice"]
explicit_phrases = ["hablar con una persona"]
frustration = false
"#,
    )
    .unwrap();
    let input = [
        r#"{"id": 1, "message": "where is my invoice"}"#,
        r#"{"id": 2, "message": "I want a refund"}"#,
        r#"{"id": 3, "message": "quiero hablar con una persona"}"#,
        r#"{"id": 4, "message": "THIS IS USELESS"}"#,
        "",
    ]
    .join("\n");
    let (ok, stdout, stderr) = triage(&["--config", config.to_str().unwrap()], &input);
    assert!(ok, "{stderr}");
    let out: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let trigger = |i: usize| (out[i]["trigger"].as_str().unwrap(), out[i]["evidence"].clone());
    assert_eq!(trigger(0), ("keyword", json!(["invoice"])));
    assert_eq!(out[1]["trigger"], "none", "the site's keywords replace the defaults");
    assert_eq!(trigger(2), ("explicit_request", json!(["hablar con una persona"])));
    assert_eq!(out[3]["trigger"], "none", "frustration is off for this site");
    // The classifier's view comes with every line.
    let p = &out[0]["probabilities"];
    let sum: f64 = ["explicit_request", "urgent", "frustration", "none"].iter().map(|c| p[c].as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 0.01, "{p}");
    assert_eq!(out[0]["class"], "none");
}

#[test]
fn bad_input_and_bad_config_are_named() {
    let (ok, _, stderr) = triage(&[], "{\"id\": 1, \"message\": \"hi\"}\n{\"id\": 2}\n");
    assert!(!ok);
    assert!(stderr.contains("stdin line 2"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("baton.toml");
    std::fs::write(&config, "site = \"shop\"\n[handoff]\nlow_confidence_repeats = 99\n").unwrap();
    let (ok, _, stderr) = triage(&["--config", config.to_str().unwrap()], "");
    assert!(!ok);
    assert!(stderr.contains("handoff.low_confidence_repeats"), "{stderr}");
}

#[test]
fn the_sites_own_examples_are_used_and_checked_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("baton.toml");
    std::fs::write(&config, "site = \"shop\"\n[handoff]\nexamples = \"handoff-examples.jsonl\"\n").unwrap();
    let examples = dir.path().join("handoff-examples.jsonl");
    std::fs::write(&examples, "{\"text\": \"the nightly sync to Salesforce didn't run\", \"label\": \"urgent\"}\n").unwrap();
    let input =
        "{\"id\": 1, \"message\": \"The nightly Salesforce sync did not run\"}\n{\"id\": 2, \"message\": \"How do I add a locale?\"}\n";
    let (ok, stdout, stderr) = triage(&["--config", config.to_str().unwrap()], input);
    assert!(ok, "{stderr}");
    let out: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(out[0]["trigger"], "urgent", "{}", out[0]);
    assert!(out[0]["evidence"].to_string().contains("site's example"), "{}", out[0]);
    assert_eq!(out[1]["trigger"], "none");

    // A wrong label names the file and the line.
    std::fs::write(&examples, "{\"text\": \"fine\", \"label\": \"none\"}\n{\"text\": \"x\", \"label\": \"urgnt\"}\n").unwrap();
    let (ok, _, stderr) = triage(&["--config", config.to_str().unwrap()], "");
    assert!(!ok);
    assert!(stderr.contains("handoff-examples.jsonl:2") && stderr.contains("\"urgnt\""), "{stderr}");
    // A missing file says which key points at it.
    std::fs::remove_file(&examples).unwrap();
    let (ok, _, stderr) = triage(&["--config", config.to_str().unwrap()], "");
    assert!(!ok);
    assert!(stderr.contains("handoff.examples"), "{stderr}");
}
