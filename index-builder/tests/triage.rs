//! `index-builder triage` against the hand-labelled sets in `tests/data/` (see its README):
//! agreement with the labels, a confusion matrix, and false `explicit_request` on look-alikes.
//! Prints the figures and writes `target/bench/triage.json`. The quality bar (≥ 95 %
//! agreement, no false explicit request on a look-alike) is asserted: a change to the rules
//! that breaks it must be seen.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TRIGGERS: [&str; 4] = ["explicit_request", "keyword", "frustration", "none"];

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

fn report(file: &str, s: &Score) -> Value {
    let agreement = s.agree as f64 / s.total as f64;
    println!("\n{file}: {} messages, agreement {:.1} % ({}/{})", s.total, agreement * 100.0, s.agree, s.total);
    println!("  false explicit_request on look-alikes: {} of {}", s.false_explicit_on_lookalikes, s.lookalikes);
    println!("  {:>18} | {}", "label \\ trigger", TRIGGERS.map(|t| format!("{t:>16}")).join(""));
    let mut per_class = serde_json::Map::new();
    for label in TRIGGERS {
        let row: Vec<usize> = TRIGGERS.iter().map(|t| s.confusion.get(&(label.to_string(), t.to_string())).copied().unwrap_or(0)).collect();
        println!("  {label:>18} | {}", row.iter().map(|n| format!("{n:>16}")).collect::<String>());
        let tp = s.confusion.get(&(label.to_string(), label.to_string())).copied().unwrap_or(0) as f64;
        let predicted: usize = TRIGGERS.iter().map(|l| s.confusion.get(&(l.to_string(), label.to_string())).copied().unwrap_or(0)).sum();
        let actual: usize = row.iter().sum();
        per_class.insert(
            label.to_string(),
            json!({"precision": tp / predicted.max(1) as f64, "recall": tp / actual.max(1) as f64, "labelled": actual}),
        );
    }
    for m in &s.misses {
        println!("  miss {} [{} → {}] {:?} {}", m["id"], m["label"], m["trigger"], m["message"].as_str().unwrap(), m["evidence"]);
    }
    json!({
        "file": file, "messages": s.total, "agreement": agreement,
        "false_explicit_on_lookalikes": s.false_explicit_on_lookalikes, "lookalikes": s.lookalikes,
        "per_trigger": per_class, "misses": s.misses,
    })
}

#[test]
fn triage_agrees_with_the_labelled_sets() {
    let sets = ["triage.jsonl", "triage-holdout.jsonl", "triage-blind.jsonl"];
    let scores: Vec<(&str, Score)> = sets.iter().map(|f| (*f, score(f))).collect();
    let json = Value::Array(scores.iter().map(|(f, s)| report(f, s)).collect());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("triage.json"), serde_json::to_string_pretty(&json!({"bench": "triage", "sets": json})).unwrap()).unwrap();
    for (f, s) in &scores {
        assert_eq!(s.false_explicit_on_lookalikes, 0, "{f}: a look-alike was taken for a request for a person");
        assert!(s.agree as f64 >= 0.95 * s.total as f64, "{f}: agreement {}/{} is below 95 %", s.agree, s.total);
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
    assert_eq!(out[0], json!({"id": 1, "trigger": "keyword", "evidence": ["invoice"]}));
    assert_eq!(out[1]["trigger"], "none", "the site's keywords replace the defaults");
    assert_eq!(out[2], json!({"id": 3, "trigger": "explicit_request", "evidence": ["hablar con una persona"]}));
    assert_eq!(out[3]["trigger"], "none", "frustration is off for this site");
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
