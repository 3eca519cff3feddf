//! Replies by email to a visitor who left, on real workerd with the `send_email` binding as
//! `wrangler dev` simulates it (it logs each message and writes its text to a file, which this
//! test reads): one email per quiet spell with the thread and two signed links — one that opens
//! exactly this conversation again (and expires), one that stops the emails.

use baton_tests::*;
use serde_json::{json, Value};

const SITE: &str = "team-test";
const SENT: &str = "send_email binding called with MessageBuilder:";

/// One message as `wrangler dev` logged it: the header lines and the text part.
#[derive(Debug)]
struct Sent {
    head: String,
    text: String,
}

/// The messages sent so far, from the worker's log.
fn sent(w: &Wrangler) -> Vec<Sent> {
    let log = w.log();
    log.split(SENT)
        .skip(1)
        .map(|block| {
            let head: String = block.lines().take_while(|l| !l.trim().is_empty() || l.is_empty()).take(6).collect::<Vec<_>>().join("\n");
            let path = block.lines().find_map(|l| l.trim().strip_prefix("Text: ")).map(|p| p.trim().to_string());
            let text = path.and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
            Sent { head, text }
        })
        .collect()
}

/// Waits (bounded) until `n` messages were sent and their text files are readable.
async fn sent_until(w: &Wrangler, n: usize) -> Vec<Sent> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let s = sent(w);
        if s.len() >= n && s.iter().all(|m| !m.text.is_empty()) {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "{n} email(s) expected; the log shows:\n{}", w.log());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The value of `name=` in a URL's query.
fn param(url: &str, name: &str) -> String {
    url.split(['?', '&']).find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap_or_default().to_string()
}

#[tokio::test]
async fn replies_reach_a_visitor_who_left_in_one_email_with_a_link_back_and_a_way_out() {
    // The quiet spell is 600 ms here (the site's is 30 s).
    let w = Wrangler::start_with_vars(&[("BATON_EMAIL_QUIET_MS", "600")]).await;
    let dee = login(&w, SITE, "dee@example.com", "dee-password-1").await;

    // Nobody online: the visitor is asked for an email and leaves it — a malformed one first.
    let (id, token) = create_conversation(&w, SITE).await;
    let mut visitor = Ws::visitor(&w, SITE, &id, &token, 0).await;
    visitor.message("m1", "My <b>invoice</b> is wrong, I need a person").await;
    let handoff = visitor.expect_event("handoff_requested").await;
    assert_eq!(handoff["kind"]["form"]["action"], "email");
    visitor.send(&json!({"type": "submit_fields", "client_id": "f0", "action": "email", "values": {"email": "vis@example.org\r\nBcc: x@evil.test"}})).await;
    let refused = visitor.expect(|m| m["type"] == "error" && m["client_id"] == "f0").await;
    assert_eq!(refused["field"], "email");
    visitor.send(&json!({"type": "submit_fields", "client_id": "f1", "action": "email", "values": {"email": "vis@example.org"}})).await;
    visitor.ack("f1").await;
    visitor.close().await;

    // Dee answers twice while the visitor is away: one email, with both replies.
    let mut op = Ws::operator(&w, SITE, &id, &dee, 0).await;
    op.message("r1", "Which invoice number is it?").await;
    op.ack("r1").await;
    op.message("r2", "I have corrected the company name; it's on its way.").await;
    op.ack("r2").await;
    let mail = sent_until(&w, 1).await;
    assert_eq!(mail.len(), 1, "one email per quiet spell: {mail:#?}");
    let m = &mail[0];
    assert!(m.head.contains("To: vis@example.org"), "{}", m.head);
    assert!(m.head.contains("\"Team Test Support\" <support@team.test>") || m.head.contains("Team Test Support"), "{}", m.head);
    assert!(m.head.contains("Subject: Dee replied to your question on Team Test"), "{}", m.head);
    assert!(!m.head.contains("Bcc"), "{}", m.head);
    let t = &m.text;
    assert!(t.starts_with("Dee replied:\n\nWhich invoice number is it?\n\nDee replied:\n\nI have corrected"), "{t}");
    assert!(t.contains("You:\nMy <b>invoice</b> is wrong, I need a person"), "the thread so far: {t}");
    let resume = t.lines().find_map(|l| l.strip_prefix("Continue the conversation: ")).expect("a link back").to_string();
    let unsubscribe = t.lines().find_map(|l| l.strip_prefix("Stop these emails: ")).expect("an unsubscribe link").to_string();
    assert!(resume.starts_with(&format!("{}/c/{SITE}/{id}?e=", w.base())), "{resume}");

    // The link back gives a new token for this conversation only; a tampered one nothing.
    let (e, s) = (param(&resume, "e"), param(&resume, "s"));
    let url = format!("{}/api/v1/sites/{SITE}/conversations/{id}/resume", w.base());
    let r = http().post(&url).json(&json!({"e": e.parse::<i64>().unwrap(), "s": s})).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["conversation_id"], id.as_str());
    let new_token = again["visitor_token"].as_str().unwrap();
    let thread = visitor_events(&w, SITE, &id, new_token, 0).await;
    assert!(thread.iter().any(|e| e["kind"]["text"] == "I have corrected the company name; it's on its way."));
    let r = http().post(&url).json(&json!({"e": e.parse::<i64>().unwrap() + 1, "s": s})).send().await.unwrap();
    assert_eq!(r.status(), 401, "a later expiry is another link");
    let (other, _) = create_conversation(&w, SITE).await;
    let r = http()
        .post(format!("{}/api/v1/sites/{SITE}/conversations/{other}/resume", w.base()))
        .json(&json!({"e": e.parse::<i64>().unwrap(), "s": s}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "one conversation only");
    let page = http().get(&resume).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/resume"));

    // Unsubscribed (the page's button), the next reply sends nothing — the reply before it did.
    let r = http()
        .post(format!("{}/api/v1/sites/{SITE}/conversations/{id}/unsubscribe?s={}", w.base(), param(&unsubscribe, "s")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let r =
        http().post(format!("{}/api/v1/sites/{SITE}/conversations/{id}/unsubscribe?s={}", w.base(), "0".repeat(64))).send().await.unwrap();
    assert_eq!(r.status(), 401);
    op.message("r3", "Anything else?").await;
    op.ack("r3").await;
    // A second conversation's email proves the batch time passed; this one sent none.
    let (id2, token2) = create_conversation(&w, SITE).await;
    let mut v2 = Ws::visitor(&w, SITE, &id2, &token2, 0).await;
    v2.send(&json!({"type": "request_human", "client_id": "h"})).await;
    v2.expect_event("handoff_requested").await;
    v2.send(&json!({"type": "submit_fields", "client_id": "f", "action": "email", "values": {"email": "second@example.org"}})).await;
    v2.ack("f").await;
    v2.close().await;
    let mut op2 = Ws::operator(&w, SITE, &id2, &dee, 0).await;
    op2.message("x", "Hello second visitor").await;
    op2.ack("x").await;
    let mail = sent_until(&w, 2).await;
    assert_eq!(mail.len(), 2, "{mail:#?}");
    assert!(mail[1].head.contains("To: second@example.org"));
    assert!(!mail.iter().any(|m| m.text.contains("Anything else?")), "unsubscribed: nothing more");
    assert!(!w.log().contains("panicked"), "{}", w.log());
}
