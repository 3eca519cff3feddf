//! One deployment, two sites (the demo's `demo` = docs/ and `acme` = examples/acme-docs/): the
//! site id in the script tag selects the index and the config, and nothing crosses between
//! sites — answers, inbox rows, operators — over HTTP and WebSocket.

use baton_tests::*;
use serde_json::{json, Value};

const ACME_DOCS: &str = "/acme/docs/";

async fn ask(w: &Wrangler, site: &str, question: &str) -> Value {
    let r = http().post(format!("{}/api/v1/sites/{site}/ask", w.base())).json(&json!({ "question": question })).send().await.unwrap();
    assert_eq!(r.status(), 200, "ask {site}: {}", r.text().await.unwrap_or_default());
    r.json().await.unwrap()
}

fn cited_urls(answer: &Value) -> Vec<String> {
    answer["citations"].as_array().unwrap().iter().map(|c| c["url"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn each_site_answers_from_its_own_docs_with_its_own_settings() {
    let w = Wrangler::start().await;

    // Acme's widget gets Acme's answer; the same question to the demo site never cites Acme.
    let acme = ask(&w, "acme", "How do I restore a deleted file?").await;
    assert_eq!(acme["citations"][0]["path"], "restore.md", "{acme}");
    assert!(cited_urls(&acme).iter().all(|u| u.starts_with(ACME_DOCS)), "{acme}");
    let demo = ask(&w, "demo", "How do I restore a deleted file?").await;
    assert!(cited_urls(&demo).iter().all(|u| u.starts_with("/docs/")), "the demo site cites only Baton's docs: {demo}");

    // And the other way round.
    let demo = ask(&w, "demo", "How are operator passwords stored?").await;
    assert_eq!(demo["citations"][0]["path"], "faq.md", "{demo}");
    let acme = ask(&w, "acme", "How are operator passwords stored?").await;
    assert!(cited_urls(&acme).iter().all(|u| u.starts_with(ACME_DOCS)), "Acme cites only Acme's docs: {acme}");

    // The widget's settings come from each site's baton.toml.
    for (site, name, color) in [("acme", "Acme Backup", json!("#c2410c")), ("demo", "Baton", Value::Null)] {
        let s: Value = http().get(format!("{}/api/v1/sites/{site}/widget", w.base())).send().await.unwrap().json().await.unwrap();
        assert_eq!((&s["name"], &s["color"]), (&json!(name), &color), "{site}: {s}");
    }

    // In a live conversation, as the widget speaks: Acme's bot answers from Acme's docs.
    let (id, token) = create_conversation(&w, "acme").await;
    let mut visitor = Ws::visitor(&w, "acme", &id, &token, 0).await;
    visitor.send(&json!({"type": "message", "client_id": "q1", "text": "How do I change when backups run?"})).await;
    let answer = visitor.expect_event("bot_answer").await;
    assert_eq!(answer["kind"]["citations"][0]["path"], "schedules.md", "{answer}");

    // A site that is not deployed is a clear 404, not another site's data.
    let r = http().post(format!("{}/api/v1/sites/globex/ask", w.base())).json(&json!({"question": "hi"})).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "unknown_site");
    assert!(!w.log().contains("panicked"), "{}", w.log());
}

/// The HTTP status a WebSocket upgrade was refused with.
async fn refused(url: &str, cookie: &str) -> String {
    match Ws::connect(url, Some(cookie)).await {
        Ok(_) => panic!("{url} accepted the socket"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn operators_see_and_act_on_their_own_sites_conversations_only() {
    let w = Wrangler::start().await;
    let (base, ws) = (w.base(), w.ws_base());
    let ann = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let dee = login(&w, "acme", "dee@example.com", "dee-password-1").await;

    // An operator account belongs to one site: Ann cannot sign in to Acme's inbox.
    let r = http()
        .post(format!("{base}/api/v1/sites/acme/login"))
        .json(&json!({"email": "ann@example.com", "password": "ann-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let (mut ann_inbox, _) = Ws::inbox(&w, "demo", &ann).await;
    let (mut dee_inbox, _) = Ws::inbox(&w, "acme", &dee).await;

    // An Acme visitor asks for a person: Acme's inbox gets the row, with the question.
    let (id, token) = create_conversation(&w, "acme").await;
    let mut visitor = Ws::visitor(&w, "acme", &id, &token, 0).await;
    visitor.send(&json!({"type": "message", "client_id": "m1", "text": "My restore failed and I need a person now"})).await;
    visitor.expect_event("handoff_requested").await;
    let row = dee_inbox
        .expect(|m| m["type"] == "row" && m["row"]["id"] == id.as_str() && m["row"]["ownership"]["state"] == "waiting_for_human")
        .await;
    assert_eq!(row["row"]["site"], "acme");

    // Ann's live list never hears of it (everything queued for her socket arrives before the pong)...
    ann_inbox.send(&json!({"type": "ping"})).await;
    let frames = ann_inbox.frames_until(|m| m["type"] == "pong").await;
    assert!(!frames.iter().any(|m| m.to_string().contains(id.as_str())), "{frames:#?}");
    // ...nor does a fresh snapshot of the demo inbox.
    let (_, snapshot) = Ws::inbox(&w, "demo", &ann).await;
    assert!(!snapshot.to_string().contains(id.as_str()), "{snapshot}");

    // HTTP: under Acme's path her session is for another site (403); under her own site's path
    // the conversation does not exist (404) — for export, events and commands alike.
    let c = http();
    for (url, code) in [
        (format!("{base}/api/v1/sites/acme/conversations/{id}/export"), 403),
        (format!("{base}/api/v1/sites/acme/conversations/{id}/events?as=operator"), 403),
        (format!("{base}/api/v1/sites/demo/conversations/{id}/export"), 404),
        (format!("{base}/api/v1/sites/demo/conversations/{id}/events?as=operator"), 404),
        (format!("{base}/api/v1/sites/acme/webhooks"), 403),
    ] {
        let r = c.get(&url).header("cookie", &ann).send().await.unwrap();
        assert_eq!(r.status().as_u16(), code, "{url}: {}", r.text().await.unwrap_or_default());
    }
    for site in ["acme", "demo"] {
        let r = c
            .post(format!("{base}/api/v1/sites/{site}/conversations/{id}/commands?as=operator"))
            .header("cookie", &ann)
            .json(&json!({"type": "take_over", "client_id": "steal"}))
            .send()
            .await
            .unwrap();
        assert!(matches!(r.status().as_u16(), 403 | 404), "take over via {site}: {}", r.status());
    }
    // The visitor's own token does not open the thread under another site's path either.
    let r = c.get(format!("{base}/api/v1/sites/demo/conversations/{id}/events")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // WebSocket: the conversation socket and Acme's inbox socket refuse her.
    assert!(refused(&format!("{ws}/api/v1/sites/acme/conversations/{id}/ws?as=operator"), &ann).await.contains("403"));
    assert!(refused(&format!("{ws}/api/v1/sites/demo/conversations/{id}/ws?as=operator"), &ann).await.contains("404"));
    assert!(refused(&format!("{ws}/api/v1/sites/acme/inbox/ws"), &ann).await.contains("403"));

    // Dee, Acme's operator, takes it over; the log shows no trace of Ann's attempts.
    let mut op = Ws::operator(&w, "acme", &id, &dee, 0).await;
    op.send(&json!({"type": "take_over", "client_id": "t1"})).await;
    let joined = visitor.expect_event("operator_joined").await;
    assert_eq!(joined["kind"]["operator"]["name"], "Dee from Acme Support", "Acme's display name for Dee");
    let log = operator_events(&w, "acme", &id, &dee).await;
    // (Assigned to Dee first: she is Acme's operator online, issue 16's automatic assignment.)
    assert_eq!(kinds(&log), ["started", "visitor_message", "handoff_requested", "assigned", "operator_joined"], "{log:#?}");
    assert_eq!(log[3]["kind"]["operator"]["id"], "dee@example.com", "{log:#?}");
    assert!(!serde_json::to_string(&log).unwrap().contains("ann@example.com"));
    assert!(!w.log().contains("panicked"), "{}", w.log());
}
