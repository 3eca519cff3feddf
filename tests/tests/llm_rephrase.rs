//! Optional LLM phrasing, against a small fake OpenAI-compatible server on loopback (no real
//! model anywhere): with the endpoint configured, answers are the model's words with Baton's
//! citations; the model sees only the question and the retrieved passages; a failing endpoint
//! falls back to the extractive answer; questions Baton can't answer never reach the model; a
//! site's budget of calls (`[limits] llm_calls_per_site`) caps what it spends.
//! Every other test runs with no endpoint, so purely extractive.

use baton_tests::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const REPHRASED: &str = "Operators' passwords are kept only as PBKDF2 hashes (rephrased by the fake model).";

/// What the fake server saw: (authorization header, JSON body) per request.
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// A one-route HTTP/1.1 server: `POST /v1/chat/completions` → a fixed chat completion, or a
/// 500 while `fail` is set.
async fn fake_llm(seen: Seen, fail: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (seen, fail) = (seen.clone(), fail.clone());
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                let (mut len, mut auth, mut path) = (0usize, String::new(), String::new());
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if path.is_empty() {
                        path = l.split(' ').nth(1).unwrap_or("").to_string();
                    }
                    let lower = l.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("authorization:") {
                        auth = l["authorization:".len()..].trim().to_string();
                    }
                }
                let mut body = vec![0u8; len];
                reader.read_exact(&mut body).await.unwrap();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                seen.lock().unwrap().push((auth, body));
                let (status, reply) = if fail.load(Ordering::SeqCst) || path != "/v1/chat/completions" {
                    ("500 Internal Server Error", json!({"error": {"message": "down"}}))
                } else {
                    ("200 OK", json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": REPHRASED}}]}))
                };
                let reply = reply.to_string();
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let mut stream = reader.into_inner();
                let _ = stream.write_all(resp.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

async fn ask(w: &Wrangler, question: &str) -> Value {
    let r = http().post(format!("{}/api/v1/sites/demo/ask", w.base())).json(&json!({ "question": question })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn answers_are_rephrased_from_the_passages_with_citations_kept() {
    let seen: Seen = Arc::default();
    let fail = Arc::new(AtomicBool::new(false));
    let port = fake_llm(seen.clone(), fail.clone()).await;
    let vars = vec![
        ("BATON_LLM_BASE_URL".to_string(), format!("http://127.0.0.1:{port}/v1")),
        ("BATON_LLM_API_KEY".to_string(), "test-llm-key".to_string()),
        ("BATON_LLM_MODEL".to_string(), "fake-model".to_string()),
    ];
    let w = Wrangler::start_with_options(&Options { vars, ..Options::default() }).await;

    // The one-shot API: the model's words, Baton's citation and confidence.
    let a = ask(&w, "How are operator passwords stored?").await;
    assert_eq!(a["text"], REPHRASED, "{a}");
    assert_eq!(a["handoff"], false);
    assert_eq!(a["citations"][0]["path"], "faq.md", "{a}");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "one call to the model");
        let (auth, body) = &seen[0];
        assert_eq!(auth, "Bearer test-llm-key");
        assert_eq!(body["model"], "fake-model");
        let user = body["messages"][1]["content"].as_str().unwrap();
        assert!(user.contains("How are operator passwords stored?"), "{user}");
        assert!(user.contains("PBKDF2"), "the retrieved passage is sent: {user}");
    }

    // In a conversation the bot answer is the rephrased one too.
    let (id, token) = create_conversation(&w, "demo").await;
    let mut visitor = Ws::visitor(&w, "demo", &id, &token, 0).await;
    visitor.send(&json!({"type": "message", "client_id": "q1", "text": "How are operator passwords stored?"})).await;
    let answer = visitor.expect_event("bot_answer").await;
    assert_eq!(answer["kind"]["text"], REPHRASED, "{answer}");
    assert_eq!(answer["kind"]["citations"][0]["path"], "faq.md");

    // A question the docs can't answer is handed off without asking the model.
    let before = seen.lock().unwrap().len();
    let a = ask(&w, "What is the capital of Mongolia and its population in 1850?").await;
    assert_eq!(a["handoff"], true, "{a}");
    assert_eq!(seen.lock().unwrap().len(), before, "no call for a handoff");

    // A failing endpoint: the extractive answer, still cited.
    fail.store(true, Ordering::SeqCst);
    let a = ask(&w, "How are operator passwords stored?").await;
    assert_ne!(a["text"], REPHRASED);
    assert!(a["text"].as_str().unwrap().contains("PBKDF2"), "{a}");
    assert_eq!(a["citations"][0]["path"], "faq.md");

    // Each call is paid for: a site's budget (limits-test: 2, then one a minute) caps them, and
    // past it answers are extractive — still answers, from any address — and the model is not
    // called.
    fail.store(false, Ordering::SeqCst);
    let before = seen.lock().unwrap().len();
    let mut texts = Vec::new();
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let r = http()
            .post(format!("{}/api/v1/sites/limits-test/ask", w.base()))
            .header("cf-connecting-ip", ip)
            .json(&json!({"question": "When are invoices sent?"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        texts.push(r.json::<Value>().await.unwrap()["text"].as_str().unwrap().to_string());
    }
    assert_eq!(seen.lock().unwrap().len() - before, 2, "calls past the site's budget");
    assert_eq!(texts[..2], [REPHRASED, REPHRASED]);
    assert!(texts[2].contains("first day of each month"), "the extractive answer: {}", texts[2]);
}
