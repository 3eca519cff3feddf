//! Bad requests get a typed 4xx JSON error — never a 500, never a panic.

use baton_tests::*;
use serde_json::{json, Value};

async fn error_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("error bodies are JSON");
    (status, body["error"]["code"].as_str().expect("error.code").to_string())
}

#[tokio::test]
async fn bad_requests_get_typed_errors() {
    let w = Wrangler::start().await;
    let c = http();
    let base = format!("{}/api/v1/sites/demo", w.base());

    let r = c.post(format!("{base}/conversations")).body("{not json").send().await.unwrap();
    assert_eq!(error_of(r).await, (400, "bad_request".into()));

    let r = c.post(format!("{base}/ask")).json(&json!({"q": "missing field"})).send().await.unwrap();
    assert_eq!(error_of(r).await, (400, "bad_request".into()));

    let r = c.post(format!("{base}/ask")).json(&json!({"question": 42})).send().await.unwrap();
    assert_eq!(error_of(r).await, (400, "bad_request".into()));

    let r = c.post(format!("{}/api/v1/sites/nope/ask", w.base())).json(&json!({"question": "hi"})).send().await.unwrap();
    assert_eq!(error_of(r).await, (404, "unknown_site".into()));

    let unknown = "0123456789abcdef0123456789abcdef";
    let r = c.get(format!("{base}/conversations/{unknown}/events")).bearer_auth("x").send().await.unwrap();
    assert_eq!(error_of(r).await, (404, "unknown_conversation".into()));

    let r = c.get(format!("{base}/conversations/not-an-id/events")).send().await.unwrap();
    assert_eq!(error_of(r).await, (404, "unknown_conversation".into()));

    let (id, token) = create_conversation(&w, "demo").await;
    let r = c.get(format!("{base}/conversations/{id}/events")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(error_of(r).await, (401, "unauthorized".into()));

    let r = c
        .post(format!("{base}/conversations/{id}/commands"))
        .bearer_auth(&token)
        .json(&json!({"type": "launch_rockets"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (400, "unknown_command".into()));

    let r = c
        .post(format!("{base}/conversations/{id}/commands"))
        .bearer_auth(&token)
        .json(&json!({"type": "resolve", "client_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (403, "forbidden".into()));

    let r = c
        .post(format!("{base}/conversations/{id}/commands"))
        .bearer_auth(&token)
        .json(&json!({"type": "message", "client_id": "x", "text": "a".repeat(5000)}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (413, "too_large".into()));

    let r = c.get(format!("{base}/me")).send().await.unwrap();
    assert_eq!(error_of(r).await, (401, "unauthorized".into()));

    let r = c.post(format!("{base}/login")).json(&json!({"email": "ann@example.com", "password": "nope"})).send().await.unwrap();
    assert_eq!(error_of(r).await, (401, "unauthorized".into()));

    // A bad frame on a socket gets an error frame; the socket stays usable.
    let mut v = Ws::visitor(&w, "demo", &id, &token, 0).await;
    v.send_raw("{oops").await;
    let e = v.expect(|m| m["type"] == "error").await;
    assert_eq!(e["code"], "bad_request");
    v.send(&json!({"type": "ping"})).await;
    v.expect(|m| m["type"] == "pong").await;

    // A wrong token on a socket is refused and the socket closed with 4401.
    let mut bad = Ws::connect(&format!("{}/api/v1/sites/demo/conversations/{id}/ws", w.ws_base()), None).await.unwrap();
    bad.send(&json!({"type": "hello", "token": "wrong"})).await;
    assert_eq!(bad.closed().await.map(|c| c.0), Some(4401));

    assert!(!w.log().contains("panicked"), "the worker panicked:\n{}", w.log());
}
