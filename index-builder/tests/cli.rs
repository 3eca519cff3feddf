//! `index-builder` as a site owner and CI use it: build a docs folder, ask questions, and get a
//! clear message — never a panic — for every kind of bad input.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_index-builder"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run index-builder")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A panic prints this; a handled error never does.
fn assert_no_panic(o: &Output) {
    let e = stderr(o);
    assert!(!e.contains("panicked"), "index-builder panicked:\n{e}");
}

fn write(dir: &Path, rel: &str, content: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// A small docs folder with Markdown, MDX (front matter, imports, JSX, a table, code) and HTML.
fn docs() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "guide/install.md",
        b"---\ntitle: Installing\n---\n\n# Installing\n\nRun the installer to set up the tool.\n\n## Upgrading\n\nTo upgrade, run `tool upgrade` and restart the service.\n",
    );
    write(
        d.path(),
        "reference/config.mdx",
        b"---\ntitle: Configuration\nslug: reference/configuration\n---\nimport { Banner } from '../components'\n\n# Configuration\n\n<Banner type=\"warning\">\n  Restart after every change to the config file.\n</Banner>\n\n## Keys\n\n| Key | Default |\n|---|---|\n| port | 8080 |\n| timeout | 30 seconds |\n\n```js\nexport default { port: 8080 }\n```\n",
    );
    write(
        d.path(),
        "faq.html",
        b"<html><head><title>FAQ</title></head><body><h2>Is it free?</h2><p>Yes, the tool is free and open source.</p><script>var x = 1;</script></body></html>",
    );
    write(d.path(), "draft.md", b"---\ndraft: true\n---\n# Secret\n\nNot published yet.\n");
    d
}

fn build(docs: &Path, out: &Path) -> Output {
    run(bin().args(["build", "--docs"]).arg(docs).arg("--out").arg(out))
}

#[test]
fn same_docs_give_a_byte_identical_index() {
    let d = docs();
    let out = tempfile::tempdir().unwrap();
    let (a, b) = (out.path().join("a/index.idx"), out.path().join("b/index.idx"));
    assert!(build(d.path(), &a).status.success());
    assert!(build(d.path(), &b).status.success());
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "two builds of the same docs differ");
    // ... and a change to the docs changes it.
    write(d.path(), "guide/install.md", b"# Installing\n\nRun the new installer.\n");
    let c = out.path().join("c/index.idx");
    assert!(build(d.path(), &c).status.success());
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
}

#[test]
fn build_summarises_and_ask_answers_with_citations() {
    let d = docs();
    let out = tempfile::tempdir().unwrap();
    let idx = out.path().join("index.idx");
    let o = build(d.path(), &idx);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("3 files") && e.contains("chunks") && e.contains("tokens"), "summary: {e}");
    assert!(e.contains("draft.md") && e.contains("draft"), "the draft is reported as skipped: {e}");
    assert!(out.path().join("site.json").is_file());

    // Human form.
    let o = run(bin().args(["ask", "--index"]).arg(&idx).arg("How do I upgrade?"));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("tool upgrade"), "{text}");
    assert!(text.contains("Installing › Upgrading") && text.contains("/docs/guide/install#upgrading"), "{text}");

    // JSON Lines, exactly the bench's ANSWERS format.
    let mut child =
        bin().args(["ask", "--index"]).arg(&idx).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"id\": \"q1\", \"question\": \"What is the default port?\"}\n\n{\"id\": 2, \"question\": \"Is it free?\"}\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    let a = &lines[0];
    assert_eq!(a["id"], "q1");
    let keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["answer", "confidence", "handoff", "id", "micros", "sources"]);
    assert!(a["answer"].as_str().unwrap().contains("8080"), "{a}");
    assert_eq!(a["handoff"], false);
    let c = a["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&c));
    let s = &a["sources"][0];
    assert_eq!(s["path"], "reference/config.mdx");
    assert_eq!(s["url"], "/docs/reference/configuration#keys", "front matter slug + heading anchor");
    for k in ["title", "heading", "score"] {
        assert!(!s[k].is_null(), "source has {k}: {s}");
    }
    assert_eq!(lines[1]["id"], 2);
    assert_eq!(lines[1]["sources"][0]["path"], "faq.html");

    // A bad line names its line number.
    let mut child =
        bin().args(["ask", "--index"]).arg(&idx).stdin(Stdio::piped()).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"{\"id\": 1, \"question\": \"ok\"}\nnot json\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("stdin line 2"), "{}", stderr(&o));
    assert_no_panic(&o);
}

#[test]
fn unreadable_non_utf8_and_empty_files_are_skipped_with_a_warning() {
    let d = docs();
    write(d.path(), "latin1.md", b"# Caf\xe9\n\nCaf\xe9 au lait.\n");
    write(d.path(), "empty.md", b"");
    write(d.path(), "blank.mdx", b"   \n\n");
    let out = tempfile::tempdir().unwrap();
    let o = build(d.path(), &out.path().join("index.idx"));
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("latin1.md") && e.contains("not UTF-8"), "{e}");
    assert!(e.contains("empty.md") && e.contains("empty"), "{e}");
    assert!(e.contains("blank.mdx"), "{e}");
    assert!(e.contains("3 files"), "the good files are still indexed: {e}");
}

#[test]
fn empty_corpus_and_missing_folder_are_clear_errors() {
    let empty = tempfile::tempdir().unwrap();
    write(empty.path(), "notes.txt", b"not a doc");
    let out = tempfile::tempdir().unwrap();
    let o = build(empty.path(), &out.path().join("index.idx"));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no documents to index"), "{}", stderr(&o));
    assert_no_panic(&o);
    assert!(!out.path().join("index.idx").exists(), "no index is written");

    let o = build(&empty.path().join("nope"), &out.path().join("index.idx"));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    assert_no_panic(&o);
}

#[test]
fn corrupt_foreign_old_and_missing_indexes_are_clear_errors() {
    let d = docs();
    let out = tempfile::tempdir().unwrap();
    let idx = out.path().join("index.idx");
    assert!(build(d.path(), &idx).status.success());
    let good = std::fs::read(&idx).unwrap();
    let ask = |bytes: &[u8]| {
        let p = out.path().join("bad.idx");
        std::fs::write(&p, bytes).unwrap();
        let o = run(bin().args(["ask", "--index"]).arg(&p).arg("port?"));
        assert!(!o.status.success());
        assert_no_panic(&o);
        stderr(&o)
    };
    let mut flipped = good.clone();
    let last = flipped.len() - 10;
    flipped[last] ^= 0x55;
    assert!(ask(&flipped).contains("checksum"), "corrupt");
    assert!(ask(&good[..good.len() / 2]).contains("truncated"), "truncated");
    assert!(ask(b"{\"not\": \"an index\"}").contains("not a Baton index"), "foreign");
    // Format version 1 (written by an older index-builder): the version is the header's
    // first field, a postcard varint right after the magic and the header length.
    let mut old = good.clone();
    old[12] = 1;
    let e = ask(&old);
    assert!(e.contains("format version 1") && e.contains("rebuild"), "old version: {e}");
    let o = run(bin().args(["ask", "--index"]).arg(out.path().join("missing.idx")).arg("port?"));
    assert!(!o.status.success() && stderr(&o).contains("cannot read index"), "{}", stderr(&o));
}

/// A fake OpenAI-compatible endpoint on loopback: answers every request with `reply` (or a 500
/// when `reply` is None) and hands back what it received.
fn fake_llm(reply: Option<&'static str>, requests: usize) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..requests {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let (mut head, mut len, mut chunked) = (String::new(), 0usize, false);
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim_end().is_empty() {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
                head.push_str(&line);
            }
            let mut body = Vec::new();
            if chunked {
                loop {
                    let mut size = String::new();
                    reader.read_line(&mut size).unwrap();
                    let n = usize::from_str_radix(size.trim(), 16).unwrap();
                    let mut part = vec![0; n + 2]; // the chunk and its CRLF
                    reader.read_exact(&mut part).unwrap();
                    if n == 0 {
                        break;
                    }
                    body.extend_from_slice(&part[..n]);
                }
            } else {
                body.resize(len, 0);
                reader.read_exact(&mut body).unwrap();
            }
            seen.push(format!("{head}\n{}", String::from_utf8_lossy(&body)));
            let (status, json) = match reply {
                Some(text) => ("200 OK", serde_json::json!({"choices": [{"message": {"role": "assistant", "content": text}}]}).to_string()),
                None => ("500 Internal Server Error", "{}".to_string()),
            };
            let mut stream = reader.into_inner();
            write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
                json.len()
            )
            .unwrap();
        }
        seen
    });
    (port, handle)
}

#[test]
fn ask_can_rephrase_through_an_llm_endpoint_and_falls_back() {
    let d = docs();
    let out = tempfile::tempdir().unwrap();
    let idx = out.path().join("index.idx");
    assert!(build(d.path(), &idx).status.success());

    let (port, server) = fake_llm(Some("Run `tool upgrade`, then restart the service."), 1);
    let o = run(bin()
        .args(["ask", "--index"])
        .arg(&idx)
        .args(["--llm-base-url", &format!("http://127.0.0.1:{port}/v1"), "--llm-api-key", "k-123", "--llm-model", "m-1"])
        .arg("How do I upgrade?"));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("Run `tool upgrade`, then restart the service."), "{text}");
    assert!(text.contains("Installing › Upgrading"), "the citation stays: {text}");
    let seen = server.join().unwrap();
    assert!(seen[0].starts_with("POST /v1/chat/completions"), "{}", seen[0]);
    assert!(seen[0].to_ascii_lowercase().contains("authorization: bearer k-123"), "{}", seen[0]);
    let body: serde_json::Value = serde_json::from_str(&seen[0][seen[0].find("\n{").unwrap()..]).unwrap();
    assert_eq!(body["model"], "m-1");
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("tool upgrade") && user.contains("How do I upgrade?"), "the passage and the question are sent: {user}");

    // The endpoint fails: the extractive answer, and a warning.
    let (port, server) = fake_llm(None, 1);
    let o = run(bin()
        .args(["ask", "--index"])
        .arg(&idx)
        .args(["--llm-base-url", &format!("http://127.0.0.1:{port}/v1"), "--llm-api-key", "k"])
        .arg("How do I upgrade?"));
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("To upgrade, run `tool upgrade`"));
    assert!(stderr(&o).contains("LLM rephrasing failed"), "{}", stderr(&o));
    server.join().unwrap();

    // No key: a clear error before anything is asked.
    let o = run(bin()
        .args(["ask", "--index"])
        .arg(&idx)
        .args(["--llm-base-url", "http://127.0.0.1:9/v1"])
        .env_remove("BATON_LLM_API_KEY")
        .arg("x"));
    assert!(!o.status.success() && stderr(&o).contains("--llm-api-key"), "{}", stderr(&o));
}
