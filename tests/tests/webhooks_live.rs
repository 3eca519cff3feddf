//! Outgoing webhooks from the real worker to receivers on loopback: the demo's `acme` site
//! (examples/acme-docs/baton.toml) has a signed JSON webhook ("Helpdesk", every event) and a
//! Slack one ("Slack #support", handoff and resolve), their URLs in Worker variables as they
//! would be in secrets. Retries are 200 ms apart here (BATON_WEBHOOK_RETRY_BASE_MS) instead of
//! 30 s.

use baton_tests::receiver::{Received, Receiver};
use baton_tests::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const SECRET: &str = "test-webhook-signing-secret-0123456789";

/// The receiver's side of docs/webhooks.md, written from the docs: `X-Baton-Signature:
/// t=<unix>,v1=<hex>` where v1 = HMAC-SHA256(secret, "<t>.<body>"), t within 5 minutes.
fn signature_valid(r: &Received, secret: &str) -> bool {
    let Some(header) = r.header("x-baton-signature") else { return false };
    let parts: std::collections::HashMap<&str, &str> = header.split(',').filter_map(|p| p.split_once('=')).collect();
    let (Some(t), Some(v1)) = (parts.get("t"), parts.get("v1")) else { return false };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    if (now - t.parse::<i64>().unwrap_or(0)).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", r.body).as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    expected == *v1
}

fn to(path: &str) -> impl Fn(&Received) -> bool + '_ {
    move |r| r.path == path
}

async fn start(receiver: &Receiver, retry_base_ms: &str) -> Wrangler {
    let (hook, slack) = (receiver.url("/hook"), receiver.url("/slack"));
    Wrangler::start_with_vars(&[
        ("ACME_HELPDESK_WEBHOOK_URL", &hook),
        ("ACME_SLACK_WEBHOOK_URL", &slack),
        ("BATON_WEBHOOK_SECRET", SECRET),
        ("BATON_WEBHOOK_RETRY_BASE_MS", retry_base_ms),
    ])
    .await
}

/// The site's delivery log, as an operator reads it.
async fn delivery_log(w: &Wrangler, cookie: &str) -> Value {
    let r = http().get(format!("{}/api/v1/sites/acme/webhooks", w.base())).header("cookie", cookie).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    r.json().await.unwrap()
}

/// Polls the delivery log (bounded) until `done` holds for it.
async fn log_until(w: &Wrangler, cookie: &str, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let log = delivery_log(w, cookie).await;
        let deliveries = log["deliveries"].as_array().unwrap().clone();
        if done(&deliveries) {
            return deliveries;
        }
        assert!(std::time::Instant::now() < deadline, "the delivery log never showed {what}: {deliveries:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn handoff_waiting_message_and_resolve_reach_the_team_signed_with_retries_in_the_log() {
    let receiver = Receiver::start().await;
    // The helpdesk is down for the first two tries.
    receiver.fail_next("/hook", &[500, 503]);
    let w = start(&receiver, "200").await;
    let dee = login(&w, "acme", "dee@example.com", "dee-password-1").await;

    let (id, token) = create_conversation(&w, "acme").await;
    let mut visitor = Ws::visitor(&w, "acme", &id, &token, 0).await;
    visitor.send(&json!({"type": "message", "client_id": "m1", "text": "Can I talk to a person about my invoice?"})).await;
    let handoff = visitor.expect_event("handoff_requested").await;

    // The helpdesk: two failures, then exactly one success — the same delivery each time, each
    // try freshly signed.
    let got = receiver.wait_until("a successful handoff delivery", |r| r.iter().any(|x| x.path == "/hook" && x.status == 200)).await;
    let hook: Vec<&Received> = got.iter().filter(|r| to("/hook")(r)).collect();
    assert_eq!(hook.iter().map(|r| r.status).collect::<Vec<_>>(), [500, 503, 200]);
    assert!(hook.iter().all(|r| signature_valid(r, SECRET)), "{hook:#?}");
    let delivery_id = hook[0].header("x-baton-delivery").unwrap().to_string();
    assert!(hook.iter().all(|r| r.header("x-baton-delivery") == Some(&delivery_id) && r.header("x-baton-event") == Some("handoff")));
    assert!(hook.iter().all(|r| r.body == hook[0].body), "a retry sends the same body");
    // A signature is bound to its body and secret.
    let mut tampered = hook[2].clone();
    tampered.body = tampered.body.replace("invoice", "invoices");
    assert!(!signature_valid(&tampered, SECRET) && !signature_valid(hook[2], "another-secret"));

    let p = hook[2].json();
    let inbox_url = format!("{}/inbox?site=acme&conversation={id}", w.base());
    assert_eq!((&p["event"], &p["site"], &p["conversation_id"]), (&json!("handoff"), &json!("acme"), &json!(id)));
    assert_eq!(p["delivery_id"], delivery_id.as_str());
    assert_eq!(p["seq"], handoff["seq"]);
    assert_eq!(p["inbox_url"], inbox_url.as_str());
    assert_eq!(p["message"], "Can I talk to a person about my invoice?");
    assert_eq!(p["handoff"]["reason"], "explicit_request");
    assert_eq!(p["conversation"]["ownership"]["state"], "waiting_for_human");
    assert_eq!(p["conversation"]["briefing"]["first_question"], "Can I talk to a person about my invoice?");

    // Slack: one message with the link to the conversation in the inbox.
    let slack = receiver.wait_until("the Slack handoff message", |r| r.iter().any(|x| to("/slack")(x))).await;
    let slack: Vec<&Received> = slack.iter().filter(|r| to("/slack")(r)).collect();
    let text = slack[0].json()["text"].as_str().unwrap().to_string();
    assert!(text.starts_with("*Acme Backup*: a visitor needs a person"), "{text}");
    assert!(text.ends_with(&format!("<{}|Open in the inbox>", inbox_url.replace('&', "&amp;"))), "{text}");

    // Operators see every try in the delivery log: the two failures, then the delivery.
    let log = log_until(&w, &dee, "the delivered handoff", |d| {
        d.iter().any(|x| x["delivery_id"] == delivery_id.as_str() && x["outcome"] == "delivered")
    })
    .await;
    let tries: Vec<&Value> = log.iter().filter(|x| x["delivery_id"] == delivery_id.as_str()).rev().collect();
    let summary: Vec<(u64, String, Value)> =
        tries.iter().map(|x| (x["attempt"].as_u64().unwrap(), x["outcome"].as_str().unwrap().to_string(), x["status"].clone())).collect();
    assert_eq!(summary, [(1, "retrying".into(), json!(500)), (2, "retrying".into(), json!(503)), (3, "delivered".into(), json!(200))]);
    assert_eq!(tries[0]["webhook"], "Helpdesk");
    assert_eq!(tries[0]["error"], "HTTP 500: the receiver is down for a test");
    assert!(tries[0]["next_attempt_at"].as_i64().unwrap() >= tries[0]["at"].as_i64().unwrap() + 200);
    let status = delivery_log(&w, &dee).await;
    assert_eq!(
        status["webhooks"],
        json!([
            {"name": "Slack #support", "format": "slack", "events": ["handoff", "resolved"], "target": "secret ACME_SLACK_WEBHOOK_URL"},
            {"name": "Helpdesk", "format": "json", "events": ["handoff", "visitor_message", "resolved"], "target": "secret ACME_HELPDESK_WEBHOOK_URL"},
        ])
    );
    assert!(!status.to_string().contains(&receiver.url("/hook")), "the URL secret is never shown");

    // The visitor writes again while waiting: the helpdesk hears it (Slack is not subscribed).
    visitor.send(&json!({"type": "message", "client_id": "m2", "text": "Hello? Anyone there?"})).await;
    let got = receiver
        .wait_until("the waiting-visitor message", |r| r.iter().any(|x| x.header("x-baton-event") == Some("visitor_message")))
        .await;
    let waiting = got.iter().find(|x| x.header("x-baton-event") == Some("visitor_message")).unwrap();
    assert!(signature_valid(waiting, SECRET));
    assert_eq!(waiting.json()["message"], "Hello? Anyone there?");

    // Dee takes over and resolves: both webhooks hear of the resolve, with her display name.
    let mut op = Ws::operator(&w, "acme", &id, &dee, 0).await;
    op.send(&json!({"type": "take_over", "client_id": "t1"})).await;
    op.expect_event("operator_joined").await;
    op.send(&json!({"type": "resolve", "client_id": "r1"})).await;
    op.expect_event("resolved").await;
    let got = receiver
        .wait_until("the resolve on both webhooks", |r| r.iter().filter(|x| x.header("x-baton-event") == Some("resolved")).count() == 2)
        .await;
    let resolved = got.iter().find(|x| x.path == "/hook" && x.header("x-baton-event") == Some("resolved")).unwrap();
    assert!(signature_valid(resolved, SECRET));
    assert_eq!(resolved.json()["operator"]["name"], "Dee from Acme Support");
    let slack_resolved = got.iter().find(|x| x.path == "/slack" && x.header("x-baton-event") == Some("resolved")).unwrap();
    assert!(slack_resolved.json()["text"].as_str().unwrap().contains("Dee from Acme Support resolved the conversation."));

    // Nothing else was sent: one handoff (3 tries), one waiting message and one resolve to the
    // helpdesk; one handoff and one resolve to Slack.
    let events: Vec<(String, String, u16)> = receiver
        .received()
        .iter()
        .map(|r| (r.path.clone(), r.header("x-baton-event").unwrap_or("").to_string(), r.status))
        .filter(|(p, ..)| p == "/hook")
        .collect();
    assert_eq!(events.iter().filter(|(_, e, s)| e == "handoff" && *s == 200).count(), 1, "{events:?}");
    assert_eq!(events.len(), 5, "{events:?}");
    assert_eq!(receiver.received().iter().filter(|r| r.path == "/slack").count(), 2);
    assert!(!w.log().contains("panicked"), "{}", w.log());
}

#[tokio::test]
async fn a_missing_secret_is_reported_in_the_log_and_nothing_is_sent() {
    // No webhook URLs configured for this worker: the tries fail at once, saying what to set.
    let w = Wrangler::start_with_vars(&[("BATON_WEBHOOK_RETRY_BASE_MS", "200")]).await;
    let dee = login(&w, "acme", "dee@example.com", "dee-password-1").await;
    let (id, token) = create_conversation(&w, "acme").await;
    let mut visitor = Ws::visitor(&w, "acme", &id, &token, 0).await;
    visitor.send(&json!({"type": "request_human", "client_id": "b1"})).await;
    visitor.expect_event("handoff_requested").await;
    let log = log_until(&w, &dee, "both failures", |d| d.len() == 2).await;
    let mut errors: Vec<(String, String, String)> = log
        .iter()
        .map(|x| (x["webhook"].as_str().unwrap().into(), x["outcome"].as_str().unwrap().into(), x["error"].as_str().unwrap().into()))
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        [
            (
                "Helpdesk".to_string(),
                "failed".to_string(),
                "the secret ACME_HELPDESK_WEBHOOK_URL (this webhook's URL) is not set: run `wrangler secret put ACME_HELPDESK_WEBHOOK_URL`"
                    .to_string()
            ),
            (
                "Slack #support".into(),
                "failed".into(),
                "the secret ACME_SLACK_WEBHOOK_URL (this webhook's URL) is not set: run `wrangler secret put ACME_SLACK_WEBHOOK_URL`"
                    .into()
            ),
        ]
    );
    // Only operators of the site read the log.
    let r = http().get(format!("{}/api/v1/sites/acme/webhooks", w.base())).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // The inbox's page for it.
    let r = http().get(format!("{}/inbox/webhooks?site=acme", w.base())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("\"/webhooks\""), "the page reads the delivery log API");
}

#[tokio::test]
async fn a_delivery_queued_before_a_crash_is_sent_after_the_restart() {
    // The helpdesk is unreachable (nothing listens on its port yet): the first try fails.
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/hook");
    let slack_receiver = Receiver::start().await;
    let slack = slack_receiver.url("/slack");
    let vars = [
        ("ACME_HELPDESK_WEBHOOK_URL", hook.as_str()),
        ("ACME_SLACK_WEBHOOK_URL", slack.as_str()),
        ("BATON_WEBHOOK_SECRET", SECRET),
        ("BATON_WEBHOOK_RETRY_BASE_MS", "1000"),
    ];
    let mut w = Wrangler::start_with_vars(&vars).await;
    let dee = login(&w, "acme", "dee@example.com", "dee-password-1").await;
    let (id, token) = create_conversation(&w, "acme").await;
    let mut visitor = Ws::visitor(&w, "acme", &id, &token, 0).await;
    visitor.send(&json!({"type": "request_human", "client_id": "b1"})).await;
    visitor.expect_event("handoff_requested").await;
    let log = log_until(&w, &dee, "a failed first try", |d| d.iter().any(|x| x["webhook"] == "Helpdesk")).await;
    let first = log.iter().find(|x| x["webhook"] == "Helpdesk").unwrap();
    assert_eq!((&first["outcome"], &first["status"]), (&json!("retrying"), &Value::Null), "no answer: {first}");
    drop(visitor);

    // workerd dies with the retry pending; the helpdesk comes up; the worker restarts on the
    // same storage. The outbox and the alarm survived: the delivery arrives, signed.
    w.kill();
    let receiver = Receiver::start_on(port).await;
    let state = w.state.clone();
    let tmp_keeper = w; // keeps the state directory until the end
    let w2 = Wrangler::start_on_with_vars(&state, &vars).await;
    let got = receiver.wait_until("the delivery after the restart", |r| r.iter().any(|x| x.status == 200)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(signature_valid(&got[0], SECRET));
    assert_eq!(got[0].json()["conversation_id"], id.as_str());
    let dee = login(&w2, "acme", "dee@example.com", "dee-password-1").await;
    log_until(&w2, &dee, "the delivered try", |d| d.iter().any(|x| x["webhook"] == "Helpdesk" && x["outcome"] == "delivered")).await;
    drop(w2);
    drop(tmp_keeper);
}
