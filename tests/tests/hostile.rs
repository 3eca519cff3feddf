//! Hostile and broken input against the real worker: every case gets its specific, typed answer
//! (an HTTP status with `{"error": {"code", …}}`, an error frame, or a close code), nothing is
//! stored half-way, and the worker never panics. Also the abuse limits, erasure (an operator's
//! delete, the retention alarm) and CORS on every visitor answer, errors included.

use baton_tests::*;
use serde_json::{json, Value};

async fn error_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("error bodies are JSON");
    (status, body["error"]["code"].as_str().expect("error.code").to_string())
}

fn no_panic(w: &Wrangler) {
    assert!(!w.log().contains("panicked"), "the worker panicked:\n{}", w.log());
}

/// The whole conversation as its operators see it, or the error code.
async fn export_status(w: &Wrangler, site: &str, id: &str, cookie: &str) -> (u16, Value) {
    let r =
        http().get(format!("{}/api/v1/sites/{site}/conversations/{id}/export", w.base())).header("cookie", cookie).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn inbox_ids(w: &Wrangler, site: &str, cookie: &str) -> Vec<String> {
    let r = http().get(format!("{}/api/v1/sites/{site}/inbox/rows?view=all", w.base())).header("cookie", cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["rows"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn an_index_that_cannot_be_loaded_answers_503_and_handoff_still_works() {
    // A copy of the build with each site's index damaged a different way.
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    copy_dist(&dist);
    let index = |site: &str| dist.join("sites").join(site).join("index.idx");
    let raw = std::fs::read(index("demo")).unwrap();
    std::fs::write(index("demo"), &raw[..raw.len() / 2]).unwrap(); // truncated (an interrupted upload)
    let mut acme = std::fs::read(index("acme")).unwrap();
    let last = acme.len() - 1;
    acme[last] ^= 0xff; // one flipped byte: the checksum
    std::fs::write(index("acme"), acme).unwrap();
    let mut older = std::fs::read(index("widget-test")).unwrap();
    older[12] = older[12].wrapping_sub(1); // the format version (first header field): an older build
    std::fs::write(index("widget-test"), older).unwrap();
    std::fs::write(index("bench"), b"<html>404 Not Found</html>").unwrap(); // not an index at all
    let config = wrangler_config_with_assets(tmp.path(), &dist);
    let w = Wrangler::start_with_options(&Options { config: Some(config), ..Options::default() }).await;

    for (site, why) in [("demo", "truncated"), ("acme", "checksum"), ("widget-test", "format version"), ("bench", "not a Baton index file")]
    {
        let r = http()
            .post(format!("{}/api/v1/sites/{site}/ask", w.base()))
            .json(&json!({"question": "how do I start?"}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!((status, body["error"]["code"].as_str().unwrap()), (503, "index_unavailable"), "{site} ({why}): {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("talk to a person"), "{body}");
    }

    // A visitor still gets a person: the question is stored and the visitor told, then the
    // handoff reaches the inbox.
    let cookie = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let (id, token) = create_conversation(&w, "demo").await;
    let mut v = Ws::visitor(&w, "demo", &id, &token, 0).await;
    v.message("q1", "How do I embed the widget?").await;
    let seq = v.ack("q1").await;
    let notice = v.expect(|m| m["type"] == "error").await;
    assert_eq!(notice["code"], "index_unavailable", "{notice}");
    v.send(&json!({"type": "request_human", "client_id": "h1"})).await;
    let handoff = v.expect_event("handoff_requested").await; // broadcast before the ack
    assert!(v.ack("h1").await > seq);
    assert_eq!(handoff["client_id"], "h1");
    let events = visitor_events(&w, "demo", &id, &token, 0).await;
    assert_eq!(kinds(&events)[..2], ["started", "visitor_message"], "{events:#?}");
    assert!(!kinds(&events).contains(&"bot_answer".to_string()));
    let (mut inbox, snapshot) = Ws::inbox(&w, "demo", &cookie).await;
    if !snapshot.to_string().contains(&id) {
        inbox.expect(|m| m["type"] == "row" && m["row"]["id"] == id.as_str()).await;
    }
    no_panic(&w);
}

// tests/sites/limits-test: 3 messages per conversation, 5 per address, 4 new conversations
// per address, then one a minute. Each test on its own worker, so its buckets start full.

#[tokio::test]
async fn a_conversations_message_limit_answers_a_calm_error_frame() {
    let w = Wrangler::start().await;
    let site = "limits-test";
    let (a, a_token) = create_conversation(&w, site).await;
    // The fourth message gets an error frame naming it, with the wait; nothing is stored for it.
    let mut v = Ws::visitor(&w, site, &a, &a_token, 0).await;
    for i in 0..3 {
        v.message(&format!("a{i}"), "When are invoices sent?").await;
        v.ack(&format!("a{i}")).await;
    }
    v.message("a3", "and refunds?").await;
    let e = v.expect(|m| m["type"] == "error" && m["client_id"] == "a3").await;
    assert_eq!(e["code"], "rate_limited", "{e}");
    assert!(e["message"].as_str().unwrap().contains("this conversation"), "{e}");
    assert!(e["retry_after"].as_u64().unwrap() >= 1, "{e}");
    // Typing and pings are free, and the socket stays usable.
    v.send(&json!({"type": "typing", "on": true})).await;
    v.send(&json!({"type": "ping"})).await;
    v.expect(|m| m["type"] == "pong").await;
    // A resend of a stored message is not charged (and is acknowledged with its seq).
    v.message("a1", "When are invoices sent?").await;
    v.ack("a1").await;
    let stored = visitor_events(&w, site, &a, &a_token, 0).await;
    assert!(!stored.iter().any(|e| e["client_id"] == "a3"), "a refused message was stored");
    no_panic(&w);
}

#[tokio::test]
async fn an_address_over_its_limits_gets_429_with_retry_after() {
    let w = Wrangler::start().await;
    let site = "limits-test";
    let (b, b_token) = create_conversation(&w, site).await;
    let (c, c_token) = create_conversation(&w, site).await;
    let send = |id: &str, token: &str, n: usize| {
        let (w, id, token) = (w.base(), id.to_string(), token.to_string());
        async move {
            http()
                .post(format!("{w}/api/v1/sites/{site}/conversations/{id}/commands"))
                .bearer_auth(token)
                .json(&json!({"type": "message", "client_id": format!("m{n}"), "text": "How do refunds work?"}))
                .send()
                .await
                .unwrap()
        }
    };
    // Three from one conversation and two from another spend the address's five (over HTTP a
    // message is charged to its address before the answer); the next is refused with 429,
    // Retry-After and the message.
    for n in 0..3 {
        assert_eq!(send(&b, &b_token, n).await.status(), 200);
    }
    for n in 0..2 {
        assert_eq!(send(&c, &c_token, n).await.status(), 200, "message {n} of the second conversation");
    }
    let r = send(&c, &c_token, 2).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(body["error"]["message"].as_str().unwrap().contains("your network"), "{body}");

    // New conversations per address: two more, then 429.
    create_conversation(&w, site).await;
    create_conversation(&w, site).await;
    let r = http().post(format!("{}/api/v1/sites/{site}/conversations", w.base())).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "rate_limited");
    no_panic(&w);
}

#[tokio::test]
async fn an_operator_erases_a_conversation_and_everything_of_it_is_gone() {
    let w = Wrangler::start().await;
    let cookie = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let (id, token) = create_conversation(&w, "demo").await;
    let (other, other_token) = create_conversation(&w, "demo").await;
    let mut v = Ws::visitor(&w, "demo", &id, &token, 0).await;
    v.message("m1", "My email is jo@example.com, please delete my data").await;
    v.ack("m1").await;
    v.send(&json!({"type": "request_human", "client_id": "h1"})).await;
    v.ack("h1").await;
    let mut op = Ws::operator(&w, "demo", &id, &cookie, 0).await;
    let url = format!("{}/api/v1/sites/demo/conversations/{id}", w.base());

    // Not the visitor, not without a session, not from another page.
    let r = http().delete(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(error_of(r).await, (401, "unauthorized".into()));
    let r = http().delete(&url).header("cookie", &cookie).header("origin", "https://evil.test").send().await.unwrap();
    assert_eq!(error_of(r).await, (403, "forbidden".into()));
    assert_eq!(export_status(&w, "demo", &id, &cookie).await.0, 200, "refused deletes erased something");

    // The export first (the person asked for a copy), then the delete.
    let (_, export) = export_status(&w, "demo", &id, &cookie).await;
    assert!(export["events"].to_string().contains("jo@example.com"));
    let r = http().delete(&url).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["erased"], id.as_str());

    // Open sockets are told and closed; the thread is gone for everyone.
    for ws in [&mut v, &mut op] {
        let e = ws.expect(|m| m["type"] == "error").await;
        assert_eq!(e["code"], "unknown_conversation", "{e}");
        assert_eq!(ws.closed().await.map(|c| c.0), Some(4404));
    }
    let r = http().get(format!("{url}/events")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(error_of(r).await, (404, "unknown_conversation".into()));
    assert_eq!(export_status(&w, "demo", &id, &cookie).await.0, 404);
    let ids = inbox_ids(&w, "demo", &cookie).await;
    assert!(!ids.contains(&id), "the erased conversation is still in the inbox");
    let refused = Ws::connect(&format!("{}/api/v1/sites/demo/conversations/{id}/ws", w.ws_base()), None).await.err();
    assert!(refused.as_deref().is_some_and(|e| e.contains("404")), "a socket to the erased conversation: {refused:?}");
    let r = http().delete(&url).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(error_of(r).await, (404, "unknown_conversation".into()), "erasing twice");

    // Another conversation is untouched.
    assert_eq!(visitor_events(&w, "demo", &other, &other_token, 0).await.len(), 1);
    no_panic(&w);
}

#[tokio::test]
async fn conversations_past_the_sites_retention_are_erased_by_their_alarm() {
    // limits-test keeps conversations 1 "day" after their last event; a day is 4 s here.
    let w = Wrangler::start_with_vars(&[("BATON_RETENTION_DAY_MS", "4000")]).await;
    let cookie = login(&w, "limits-test", "lim@example.com", "lim-password-1").await;
    let (id, token) = create_conversation(&w, "limits-test").await;
    let mut v = Ws::visitor(&w, "limits-test", &id, &token, 0).await;
    v.send(&json!({"type": "request_human", "client_id": "h1"})).await;
    v.ack("h1").await;
    let (mut inbox, snapshot) = Ws::inbox(&w, "limits-test", &cookie).await;
    if !snapshot.to_string().contains(&id) {
        inbox.expect(|m| m["type"] == "row" && m["row"]["id"] == id.as_str()).await;
    }

    // The alarm erases it: the visitor's socket is told why, the inbox drops the row.
    let e = v.expect(|m| m["type"] == "error").await;
    assert_eq!(e["code"], "unknown_conversation");
    assert!(e["message"].as_str().unwrap().contains("retention"), "{e}");
    inbox.expect(|m| m["type"] == "removed" && m["id"] == id.as_str()).await;
    let r =
        http().get(format!("{}/api/v1/sites/limits-test/conversations/{id}/events", w.base())).bearer_auth(&token).send().await.unwrap();
    assert_eq!(error_of(r).await, (404, "unknown_conversation".into()));
    assert!(!inbox_ids(&w, "limits-test", &cookie).await.contains(&id));
    no_panic(&w);
}

#[tokio::test]
async fn allowed_pages_can_read_every_visitor_answer_and_oversized_or_broken_input_is_refused() {
    let w = Wrangler::start().await;
    let base = format!("{}/api/v1/sites/demo", w.base());
    let page = "http://localhost:8787"; // in the demo's allowed_origins
    let c = http();
    let (id, token) = create_conversation(&w, "demo").await;

    // Answers forwarded from the Conversation object carry CORS headers, errors too.
    let r = c.get(format!("{base}/conversations/{id}/events")).bearer_auth(&token).header("origin", page).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], page);
    let r = c
        .post(format!("{base}/conversations/{id}/commands"))
        .bearer_auth(&token)
        .header("origin", page)
        .json(&json!({"type": "message", "client_id": "c1", "text": "How do I embed the widget?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], page);
    let r = c.get(format!("{base}/conversations/{id}/events")).bearer_auth("wrong").header("origin", page).send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], page, "an error the page must be able to read");
    assert_eq!(error_of(r).await, (401, "unauthorized".into()));
    // A foreign page gets 403 — readable by it (the widget there says the chat is not
    // available and logs which `allowed_origins` entry is missing), and nothing but that.
    let r =
        c.get(format!("{base}/conversations/{id}/events")).bearer_auth(&token).header("origin", "https://evil.test").send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://evil.test");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "origin_not_allowed");
    assert_eq!(body.as_object().unwrap().len(), 1, "only the error: {body}");

    // Invalid UTF-8, wrong types, unknown kinds, bodies over the limit.
    let r = c.post(format!("{base}/conversations")).body(vec![0xff, 0xfe, b'{', b'}']).send().await.unwrap();
    assert_eq!(error_of(r).await, (400, "bad_request".into()));
    let r = c
        .post(format!("{base}/conversations/{id}/commands"))
        .bearer_auth(&token)
        .json(&json!({"type": "message", "client_id": 7, "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (400, "bad_request".into()));
    let r = c.post(format!("{base}/conversations/{id}/commands")).bearer_auth(&token).body("x".repeat(20_000)).send().await.unwrap();
    assert_eq!(error_of(r).await, (413, "too_large".into()));
    // A frame type the protocol does not have is refused as it is read (`decode_error`), before
    // any field is looked at: 400 unknown_command.
    let r = c
        .post(format!("{base}/conversations/{id}/commands"))
        .bearer_auth(&token)
        .json(&json!({"type": "submit_form", "client_id": "f1", "action": "bug_report", "values": {"email": "a".repeat(600)}}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (400, "unknown_command".into()));
    // A field value over MAX_FIELD_BYTES (512) in a real frame: `ClientMsg::validate`, first
    // thing `conversation::decide` does, says 413 too_large and names the field.
    let r = c
        .post(format!("{base}/conversations/{id}/commands"))
        .bearer_auth(&token)
        .json(&json!({"type": "submit_fields", "client_id": "f2", "action": "bug_report", "values": {"email": "a".repeat(600)}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!((body["error"]["code"].as_str(), body["error"]["field"].as_str()), (Some("too_large"), Some("email")), "{body}");

    // A frame over 16 KB closes the socket with 1009 (message too big); the thread is intact.
    let mut v = Ws::visitor(&w, "demo", &id, &token, 1 << 40).await;
    v.send_raw(&format!(r#"{{"type":"message","client_id":"big","text":"{}"}}"#, "a".repeat(17_000))).await;
    assert_eq!(v.closed().await.map(|c| c.0), Some(1009));
    let events = visitor_events(&w, "demo", &id, &token, 0).await;
    assert!(!events.iter().any(|e| e["client_id"] == "big"));

    // Operator actions on a resolved conversation, and a second resolve.
    let cookie = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let mut op = Ws::operator(&w, "demo", &id, &cookie, 1 << 40).await;
    op.send(&json!({"type": "resolve", "client_id": "r1"})).await;
    op.ack("r1").await;
    for (client_id, frame) in
        [("r2", json!({"type": "resolve", "client_id": "r2"})), ("t1", json!({"type": "take_over", "client_id": "t1"}))]
    {
        op.send(&frame).await;
        let e = op.expect(|m| m["type"] == "error" && m["client_id"] == client_id).await;
        assert_eq!(e["code"], "invalid_state", "{client_id}: {e}");
    }

    no_panic(&w);
}
