//! What a hostile tester got through (issue 13), each against the real worker: operator
//! sockets outliving their session, `/ask` without limits, test-only sites in the deployed
//! build, conversations jammed by sockets that never say hello, the per-address message budget
//! leaking across conversations, typing floods, a step that half-commits, and the smaller HTTP
//! gaps (HEAD, 405, nosniff, CSP, chunked bodies, malformed origins).

use base64::Engine as _;
use baton_tests::*;
use futures_util::future::join_all;
use serde_json::{json, Value};
use sha2::Digest;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn no_panic(w: &Wrangler) {
    assert!(!w.log().contains("panicked"), "the worker panicked:\n{}", w.log());
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn error_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("error bodies are JSON");
    (status, body["error"]["code"].as_str().expect("error.code").to_string())
}

/// Whether the operators' log of a conversation holds an event with this client id.
async fn stored(w: &Wrangler, site: &str, id: &str, cookie: &str, client_id: &str) -> bool {
    operator_events(w, site, id, cookie).await.iter().any(|e| e["client_id"] == client_id)
}

/// Sends a frame the server should refuse by closing the socket; returns the close code (or
/// panics with the frame the server answered instead).
async fn closes_on(ws: &mut Ws, frame: Value) -> Option<u16> {
    ws.send(&frame).await;
    loop {
        match ws.next_or_closed().await {
            Ok(f) if f["type"] == "ack" || f["type"] == "event" => panic!("the frame was taken: {f}"),
            Ok(_) => continue,
            Err(code) => return code,
        }
    }
}

// ---- 1. Logout and expiry reach open conversation sockets ----

#[tokio::test]
async fn signing_out_or_expiring_closes_the_operators_conversation_sockets() {
    let w = Wrangler::start().await;
    let ann = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let bob = login(&w, "demo", "bob@example.com", "bob-password-1").await;
    let (id, token) = create_conversation(&w, "demo").await;
    let mut op = Ws::operator(&w, "demo", &id, &ann, 0).await;
    op.send(&json!({"type": "note", "client_id": "n1", "text": "before signing out"})).await;
    op.ack("n1").await;

    // Signing out closes the session's conversation socket: a note sent after it is not stored.
    let r = http().post(format!("{}/api/v1/sites/demo/logout", w.base())).header("cookie", &ann).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let code = closes_on(&mut op, json!({"type": "note", "client_id": "n2", "text": "after signing out"})).await;
    assert_eq!(code, Some(4401));
    assert!(stored(&w, "demo", &id, &bob, "n1").await);
    assert!(!stored(&w, "demo", &id, &bob, "n2").await, "a note from a signed-out session was stored");
    let op_ws = format!("{}/api/v1/sites/demo/conversations/{id}/ws?as=operator", w.ws_base());
    assert_eq!(ws_refusal(&op_ws, Some(&ann)).await, Some(401), "the signed-out cookie opens a socket");

    // A session that expires: its socket is closed at its next frame, and a socket that stays
    // silent hears nothing more (closed at the next event instead).
    let ann_ref = json!({"id": "ann@example.com", "name": "Ann"});
    let exp = now_secs() + 4;
    let session = |sid: &str| json!({"site": "demo", "operator": ann_ref, "exp": exp, "sid": sid});
    let talking = forge_cookie(&session("0123456789abcdef0123456789abcde1"), SESSION_KEY);
    let silent = forge_cookie(&session("0123456789abcdef0123456789abcde2"), SESSION_KEY);
    let mut talking = Ws::operator(&w, "demo", &id, &talking, 1 << 40).await;
    let mut silent = Ws::operator(&w, "demo", &id, &silent, 1 << 40).await;
    // Waiting for the session's own expiry time, which is what is tested.
    tokio::time::sleep(Duration::from_secs((exp - now_secs() + 1).max(0) as u64)).await;
    let code = closes_on(&mut talking, json!({"type": "add_tag", "client_id": "t1", "tag": "expired"})).await;
    assert_eq!(code, Some(4401));
    assert!(!stored(&w, "demo", &id, &bob, "t1").await, "a tag from an expired session was stored");
    let mut v = Ws::visitor(&w, "demo", &id, &token, 1 << 40).await;
    v.message("m1", "My card was charged twice").await;
    v.ack("m1").await;
    match silent.next_or_closed().await {
        Err(code) => assert_eq!(code, Some(4401)),
        Ok(f) => panic!("an expired session's socket still hears the conversation: {f}"),
    }
    no_panic(&w);
}

// ---- 2. `/ask` is limited per address and per site ----

#[tokio::test]
async fn ask_is_limited_per_address_and_per_site() {
    // tests/sites/limits-test: 3 questions per address, 5 per site, then one a minute.
    let w = Wrangler::start().await;
    let url = format!("{}/api/v1/sites/limits-test/ask", w.base());
    let ask = |ip: &'static str, origin: Option<String>| {
        let mut r = http().post(&url).header("cf-connecting-ip", ip).json(&json!({"question": "When are invoices sent?"}));
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    for _ in 0..3 {
        assert_eq!(ask("198.51.100.1", None).await.unwrap().status(), 200);
    }
    // The fourth from that address is refused, with and without an Origin header.
    for origin in [None, Some(w.base())] {
        let r = ask("198.51.100.1", origin).await.unwrap();
        assert_eq!(r.status(), 429);
        let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("your network"), "{body}");
    }
    // Other addresses share the site's budget: two more answers, then the site says no.
    for ip in ["198.51.100.2", "198.51.100.3"] {
        assert_eq!(ask(ip, None).await.unwrap().status(), 200);
    }
    let r = ask("198.51.100.4", None).await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("these docs"));
    no_panic(&w);
}

#[tokio::test]
async fn ask_answered_before_it_is_charged_still_gets_exactly_its_budget() {
    // tests/sites/flood-test: 40 questions per address, no refill. While the worker knows an
    // address has tokens to spare it answers at once and charges after; near the end it asks
    // the limiter first. Either way the address gets 40 answers, not one more.
    let w = Wrangler::start().await;
    let url = format!("{}/api/v1/sites/flood-test/ask", w.base());
    let ask = || http().post(&url).header("cf-connecting-ip", "198.51.100.40").json(&json!({"question": "How do refunds work?"})).send();
    for n in 1..=40 {
        assert_eq!(ask().await.unwrap().status(), 200, "question {n} of the address's 40");
    }
    let r = ask().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("your network"));
    // Another address is not affected.
    let other = http().post(&url).header("cf-connecting-ip", "198.51.100.41").json(&json!({"question": "How do refunds work?"})).send();
    assert_eq!(other.await.unwrap().status(), 200);
    no_panic(&w);
}

#[tokio::test]
async fn one_sites_spent_ask_budget_does_not_refuse_another_site() {
    // One worker serves every site: what it remembers of one site's limiter (limits-test: 5
    // questions per site) must not refuse another's (flood-test), nor the same address there.
    let w = Wrangler::start().await;
    let ask = |site: &'static str, ip: &'static str| {
        http()
            .post(format!("{}/api/v1/sites/{site}/ask", w.base()))
            .header("cf-connecting-ip", ip)
            .json(&json!({"question": "How do refunds work?"}))
            .send()
    };
    for ip in ["198.51.100.51", "198.51.100.51", "198.51.100.51", "198.51.100.52", "198.51.100.52"] {
        assert_eq!(ask("limits-test", ip).await.unwrap().status(), 200);
    }
    let spent = ask("limits-test", "198.51.100.53").await.unwrap();
    assert_eq!(spent.status(), 429);
    assert!(spent.text().await.unwrap().contains("these docs"));
    for ip in ["198.51.100.51", "198.51.100.53"] {
        assert_eq!(ask("flood-test", ip).await.unwrap().status(), 200, "{ip} on another site");
    }
    no_panic(&w);
}

// ---- 3. Test-only sites are not in the deployed build ----

#[tokio::test]
async fn the_deployed_build_serves_only_the_deployed_sites() {
    // The repo's wrangler config as `wrangler deploy` reads it: dist/.
    let w = Wrangler::start_with_options(&Options::production()).await;
    let widget = |site: &'static str| http().get(format!("{}/api/v1/sites/{site}/widget", w.base())).send();
    for site in ["demo", "acme"] {
        assert_eq!(widget(site).await.unwrap().status(), 200, "{site}");
    }
    for site in ["bench", "limits-test", "flood-test", "widget-test"] {
        assert_eq!(error_of(widget(site).await.unwrap()).await, (404, "unknown_site".into()), "test-only site {site} is deployed");
    }
    let shipped: Vec<String> = std::fs::read_dir(root().join("dist/sites"))
        .expect("dist/sites")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(shipped.iter().all(|s| s == "demo" || s == "acme"), "dist/sites holds {shipped:?}");
    no_panic(&w);
}

// ---- 5. Sockets that never say hello cannot jam a conversation ----

#[tokio::test]
async fn sockets_that_never_say_hello_cannot_jam_a_conversation() {
    let w = Wrangler::start().await;
    let cookie = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let (id, token) = create_conversation(&w, "demo").await;
    let url = format!("{}/api/v1/sites/demo/conversations/{id}/ws", w.ws_base());
    let from = |ip: &'static str| {
        let url = url.clone();
        async move { Ws::connect_with(&url, &[("cf-connecting-ip", ip)]).await }
    };

    // One address opens sockets and says nothing: a few are held, then 429.
    let mut jam = Vec::new();
    let refused = loop {
        match from("203.0.113.66").await {
            Ok(ws) => jam.push(ws),
            Err(e) => break e,
        }
        assert!(jam.len() <= 64, "every silent socket was accepted");
    };
    let opened = Instant::now(); // all of them are open by now
    assert_eq!(jam.len(), 8, "refused after {}: {refused}", jam.len());
    assert!(refused.contains("429"), "{refused}");

    // The visitor and an operator still get in and talk.
    let mut v = Ws::visitor(&w, "demo", &id, &token, 0).await;
    let mut op = Ws::operator(&w, "demo", &id, &cookie, 1 << 40).await;
    v.message("m1", "Can I talk to a person about my invoice?").await;
    v.ack("m1").await;
    op.expect(|m| m["type"] == "event" && m["event"]["client_id"] == "m1").await;

    // Past the hello deadline, the silent sockets are closed as the next socket arrives.
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(opened.elapsed()) + Duration::from_millis(200)).await;
    let _again = from("203.0.113.66").await.expect("the address may open a socket again");
    for ws in jam.iter_mut() {
        assert_eq!(ws.closed().await.map(|c| c.0), Some(4408));
    }

    // Sockets that proved themselves fill the conversation: 64, then `too_many_connections`.
    let mut tabs = vec![v, op];
    while tabs.len() < 64 {
        tabs.push(Ws::visitor(&w, "demo", &id, &token, 1 << 40).await);
    }
    let mut extra = Ws::visitor_socket(&w, "demo", &id).await;
    extra.send(&json!({"type": "hello", "token": token, "after": 0})).await;
    let e = extra.expect(|m| m["type"] == "error").await;
    assert_eq!(e["code"], "too_many_connections", "{e}");
    assert_eq!(extra.closed().await.map(|c| c.0), Some(4429));
    no_panic(&w);
}

// ---- 6. The per-address message budget holds across conversations ----

#[tokio::test]
async fn the_per_address_message_budget_holds_across_conversations() {
    // tests/sites/flood-test: 10 messages per address, then one a second; conversations wide.
    const CONVERSATIONS: usize = 8;
    const EVERY: Duration = Duration::from_millis(250);
    const FOR: Duration = Duration::from_secs(5);
    let w = Wrangler::start().await;
    let mut sockets = Vec::new();
    for _ in 0..CONVERSATIONS {
        let (id, token) = create_conversation(&w, "flood-test").await;
        let url = format!("{}/api/v1/sites/flood-test/conversations/{id}/ws", w.ws_base());
        let mut ws = Ws::connect_with(&url, &[("cf-connecting-ip", "192.0.2.50")]).await.unwrap();
        ws.send(&json!({"type": "hello", "token": token, "after": 0})).await;
        ws.expect(|m| m["type"] == "welcome").await;
        sockets.push(ws);
    }
    // One address floods all its conversations at once, four messages a second each (the
    // load's shape, not synchronisation: every answer is awaited below).
    let started = Instant::now();
    let flood = sockets.into_iter().enumerate().map(|(c, mut ws)| async move {
        let (mut accepted, mut refused, mut retry_after) = (0, 0, 0);
        let mut n = 0;
        while started.elapsed() < FOR {
            let client_id = format!("c{c}-{n}");
            ws.message(&client_id, "How do refunds work?").await;
            let f = ws.expect(|m| (m["type"] == "ack" || m["type"] == "error") && m["client_id"] == client_id.as_str()).await;
            if f["type"] == "ack" {
                accepted += 1;
            } else {
                assert_eq!(f["code"], "rate_limited", "{f}");
                refused += 1;
                retry_after = retry_after.max(f["retry_after"].as_u64().unwrap());
            }
            n += 1;
            tokio::time::sleep_until(tokio::time::Instant::from_std(started + EVERY * n)).await;
        }
        (accepted, refused, retry_after)
    });
    let results = join_all(flood).await;
    let seconds = started.elapsed().as_secs_f64();
    let accepted: u32 = results.iter().map(|r| r.0).sum();
    let refused: u32 = results.iter().map(|r| r.1).sum();
    let sent = accepted + refused;
    // The budget over the run — the burst, plus what refills meanwhile — and what the address
    // sends in one second while its charges are on their way.
    let budget = 10.0 + seconds;
    let one_seconds_worth = sent as f64 / seconds;
    eprintln!("flood: {sent} sent in {seconds:.1} s, {accepted} accepted, budget {budget:.0} + one second's worth {one_seconds_worth:.0}");
    assert!(accepted as f64 <= budget + one_seconds_worth, "{accepted} accepted of {sent}: the budget leaks across conversations");
    assert!(accepted >= 10, "the budget itself was not granted: {accepted}");
    assert!(results.iter().all(|r| r.1 == 0 || r.2 >= 1), "a refusal without Retry-After: {results:?}");
    no_panic(&w);
}

// ---- 7. Typing frames are coalesced ----

#[tokio::test]
async fn a_typing_flood_reaches_the_other_side_as_one_frame_a_second() {
    let w = Wrangler::start().await;
    let cookie = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let (id, token) = create_conversation(&w, "demo").await;
    let mut op = Ws::operator(&w, "demo", &id, &cookie, 1 << 40).await;
    let mut v = Ws::visitor(&w, "demo", &id, &token, 1 << 40).await;
    // 2,000 typing frames at once (the last says "stopped"), then a message: a socket's frames
    // are handled in order, so every typing frame was handled before the message.
    let started = Instant::now();
    for i in 0..2000 {
        v.send_raw(&format!(r#"{{"type":"typing","on":{}}}"#, i % 2 == 0)).await;
    }
    v.message("m1", "What does the Pro plan cost?").await;
    let frames = op.frames_until(|m| m["type"] == "event" && m["event"]["client_id"] == "m1").await;
    let typing: Vec<&Value> = frames.iter().filter(|f| f["type"] == "typing").collect();
    // One a second at most: the first at once, perhaps the newest state a second later.
    let seconds = started.elapsed().as_secs_f64().ceil() as usize;
    assert!(!typing.is_empty() && typing.len() <= 1 + seconds, "{} relayed in {seconds} s: {typing:?}", typing.len());
    assert_eq!(typing[0]["on"], true);
    // The newest state follows at the end of the second (unless that second passed already):
    // the visitor stopped typing.
    let last = match typing.last() {
        Some(t) if t["on"] == false => (*t).clone(),
        _ => op.expect(|m| m["type"] == "typing").await,
    };
    assert_eq!(last["on"], false, "{last}");
    no_panic(&w);
}

// ---- 8. A step is all or nothing ----

#[tokio::test]
async fn a_step_that_fails_half_way_stores_nothing_and_the_next_frame_works() {
    // The worker's test-only fault: a visitor message containing this fails its step after its
    // events and jobs are written, as a full disk would.
    const FAULT: &str = "[fail-this-step]";
    let w = Wrangler::start_with_vars(&[("BATON_TEST_FAIL_STEP_ON", FAULT)]).await;
    let cookie = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let (id, token) = create_conversation(&w, "demo").await;
    let mut op = Ws::operator(&w, "demo", &id, &cookie, 0).await;
    op.send(&json!({"type": "take_over", "client_id": "t1"})).await;
    let taken = op.ack("t1").await;
    let mut v = Ws::visitor(&w, "demo", &id, &token, 1 << 40).await;

    v.message("bad", &format!("Hello {FAULT}")).await;
    let e = v.expect(|m| m["type"] == "error").await;
    assert_eq!(e["code"], "internal", "{e}");
    // Nothing of it was stored, nobody heard of it, and the next frames go on from the same seq.
    v.message("next", "Hello again").await;
    assert_eq!(v.ack("next").await, taken + 1, "a seq was used by the failed step");
    let seen = op.frames_until(|m| m["type"] == "event" && m["event"]["client_id"] == "next").await;
    assert!(!seen.iter().any(|f| f["event"]["client_id"] == "bad"), "the operator heard of the failed step: {seen:#?}");
    let log = operator_events(&w, "demo", &id, &cookie).await;
    assert!(!log.iter().any(|e| e["client_id"] == "bad"), "the failed step's event is stored");
    let seqs: Vec<u64> = log.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "the log has a gap or a duplicate");
    // The same client id sent again (without the fault) is stored as new: nothing half-stored
    // claimed it.
    v.message("bad", "Hello, as I meant to say").await;
    assert_eq!(v.ack("bad").await, taken + 2);
    op.send(&json!({"type": "message", "client_id": "r1", "text": "Hi, I'm here."})).await;
    assert_eq!(op.ack("r1").await, taken + 3);
    no_panic(&w);
}

// ---- 9. HEAD, 405, nosniff, CSP, chunked bodies, malformed origins ----

#[tokio::test]
async fn http_answers_head_wrong_methods_sniffing_framing_endless_bodies_and_fake_origins() {
    let w = Wrangler::start().await;
    let c = http();
    let base = w.base();

    // HEAD where uptime checks look: the GET's status and headers, no body.
    for path in ["/", "/inbox", "/healthz", "/widget.js"] {
        let r = c.head(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "HEAD {path}");
        assert!(r.headers().contains_key("content-type"), "HEAD {path}");
        assert!(r.bytes().await.unwrap().is_empty(), "HEAD {path} has a body");
    }

    // A known API route with the wrong method: 405 naming the right ones; unknown routes 404.
    let api = format!("{base}/api/v1/sites/demo");
    for (method, path, allow) in [
        (reqwest::Method::GET, "/ask", "POST, OPTIONS"),
        (reqwest::Method::PUT, "/conversations", "POST, OPTIONS"),
        (reqwest::Method::DELETE, "/login", "POST"),
        (reqwest::Method::POST, "/me", "GET, HEAD"),
    ] {
        let r = c.request(method.clone(), format!("{api}{path}")).send().await.unwrap();
        assert_eq!(r.headers().get("allow").map(|a| a.to_str().unwrap().to_string()).as_deref(), Some(allow), "{method} {path}");
        assert_eq!(error_of(r).await, (405, "method_not_allowed".into()), "{method} {path}");
    }
    assert_eq!(error_of(c.get(format!("{api}/nothing-here")).send().await.unwrap()).await, (404, "not_found".into()));

    // API answers, errors included, are never sniffed as something else.
    for r in [
        c.get(format!("{api}/widget")).send().await.unwrap(),
        c.get(format!("{api}/me")).send().await.unwrap(),
        c.post(format!("{api}/ask")).json(&json!({"question": "How do I embed the widget?"})).send().await.unwrap(),
        c.post(format!("{api}/ask")).body("{").send().await.unwrap(),
    ] {
        assert_eq!(r.headers().get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{}", r.url());
    }

    // Pages: a policy that runs only their own scripts and forbids framing; the inbox's inline
    // script is allowed by its hash, as served.
    // The docs pages too (`/docs/…`, where citations lead), and none is readable cross-origin.
    for path in ["/", "/inbox", "/acme", "/inbox/webhooks", "/docs/faq"] {
        let r = c
            .get(format!("{base}{path}"))
            .header("accept-encoding", "identity")
            .header("origin", "https://evil.test")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers().get("access-control-allow-origin").is_none(), "{path}: readable by other sites");
        let csp = r.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        for directive in ["frame-ancestors 'none'", "script-src 'self' 'wasm-unsafe-eval'", "object-src 'none'", "base-uri 'none'"] {
            assert!(csp.contains(directive), "{path}: {directive} missing from {csp:?}");
        }
        let html = r.text().await.unwrap();
        for script in html.split("<script").skip(1).filter(|s| !s.split('>').next().unwrap().contains("src=")) {
            let body = script.split_once('>').unwrap().1.split("</script>").next().unwrap();
            let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body.as_bytes()));
            assert!(csp.contains(&format!("'sha256-{hash}'")), "{path}: its inline script is not allowed by {csp:?}");
        }
    }

    // A chunked body that never ends is refused once it passes the limit, not read forever.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", w.port)).await.unwrap();
    let head = "POST /api/v1/sites/demo/conversations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    tcp.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 4096, "a".repeat(4096));
    for _ in 0..5 {
        tcp.write_all(chunk.as_bytes()).await.unwrap();
    }
    // ...and no final chunk: the client keeps the body open.
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(WAIT, tcp.read(&mut answer)).await.expect("no answer to an endless body").unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Origins are parsed, not pattern-matched as text: a path that ends like an allowed
    // subdomain is not one (acme allows https://*.acme-backup.example).
    let create = |origin: &'static str| c.post(format!("{base}/api/v1/sites/acme/conversations")).header("origin", origin).send();
    for hostile in
        ["https://evil.com/.acme-backup.example", "https://evil.com?.acme-backup.example", "https://x@status.acme-backup.example"]
    {
        assert_eq!(error_of(create(hostile).await.unwrap()).await, (403, "origin_not_allowed".into()), "{hostile}");
    }
    assert_eq!(create("https://status.acme-backup.example").await.unwrap().status(), 201);
    no_panic(&w);
}
