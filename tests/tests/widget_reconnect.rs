//! The network drops and the worker restarts (same state, new port), while the operator keeps
//! talking and the visitor keeps typing. The widget says it is reconnecting, holds what was
//! typed, and once back shows what it missed — each message exactly once — and sends what
//! was held exactly once.

use baton_tests::browser::{eventually, Browser};
use baton_tests::host::{host_page, HostSite, Proxy};
use baton_tests::*;
use fantoccini::Locator;
use serde_json::{json, Value};

const SITE: &str = "widget-test";

#[tokio::test]
async fn reconnects_after_a_restart_and_shows_what_it_missed_exactly_once() {
    let state = tempfile::tempdir().unwrap();
    let mut w1 = Wrangler::start_on(state.path()).await;
    // The browser reaches the worker through a hop the test can cut and point elsewhere.
    let net = Proxy::start(w1.port).await;
    let site = HostSite::start().await;
    let b = Browser::start_with(1024, 900, &[format!("--host-resolver-rules={}", site.resolver_rule())]).await;
    let tag = format!(r#"<script src="{}/widget.js" data-site="{SITE}" async></script>"#, net.base());
    site.page("/docs.html", &host_page("Docs", "", &tag, "<p>Gizmo docs.</p>"));
    b.client.goto(&site.url("/docs.html")).await.unwrap();
    let widget = b.open_widget().await;

    b.ask(&widget, "How do I install the gizmo?").await;
    eventually("the answer", || async { (b.texts(".msg.bot[data-seq]").await.len() == 1).then_some(()) }).await;
    widget.find(Locator::Css(".human")).await.unwrap().click().await.unwrap();
    let stored = b.js("return JSON.parse(localStorage.getItem('baton:widget-test'))", vec![]).await;
    let id = stored["conversation_id"].as_str().unwrap().to_string();
    let cookie = login(&w1, SITE, "cy@example.com", "cy-password-1").await;
    let mut op = Ws::operator(&w1, SITE, &id, &cookie, 0).await;
    op.send(&json!({"type": "take_over", "client_id": "t1"})).await;
    eventually("Cy joined", || async { (b.texts(".joined strong").await == ["Cy joined"]).then_some(()) }).await;

    // The network goes, and the worker with it.
    net.cut();
    op.close().await;
    w1.stop();
    eventually("the reconnecting notice", || async { b.texts(".status").await.first().filter(|s| *s == "Reconnecting…").cloned() }).await;

    // Typed while offline: held, and shown as waiting.
    b.ask(&widget, "Are you still there?").await;
    let pending = eventually("the held message", || async { b.texts(".msg.visitor.pending").await.first().cloned() }).await;
    assert_eq!(pending, "You: Are you still there?Waiting to send");
    b.screenshot("widget-offline").await;

    // The worker is back on the same state (another port); the operator writes twice before
    // the visitor's browser can reach it.
    let w2 = Wrangler::start_on(state.path()).await;
    let mut op = Ws::operator(&w2, SITE, &id, &cookie, 0).await;
    for (i, text) in ["Back in a second.", "Here is the fix: restart the gizmo."].iter().enumerate() {
        op.send(&json!({"type": "message", "client_id": format!("r{i}"), "text": text})).await;
        op.expect(|m| m["type"] == "ack").await;
    }
    net.restore(w2.port);

    // Back: the notice goes, the missed replies show once, the held message is sent once.
    eventually("the missed replies", || async { (b.texts(".msg.operator .text").await.len() == 2).then_some(()) }).await;
    eventually("the notice gone", || async { b.texts(".status").await.first().filter(|s| s.is_empty()).cloned() }).await;
    eventually("the held message stored", || async { b.texts(".msg.visitor.pending").await.is_empty().then_some(()) }).await;
    assert_eq!(b.texts(".msg.operator .text").await, vec!["Back in a second.", "Here is the fix: restart the gizmo."]);
    assert_eq!(
        b.texts(".msg.visitor").await,
        vec!["You: How do I install the gizmo?", "You: Are you still there?"],
        "each visitor message once"
    );
    let log: Vec<Value> = http()
        .get(format!("{}/api/v1/sites/{SITE}/conversations/{id}/export", w2.base()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["events"]
        .as_array()
        .unwrap()
        .clone();
    let held: Vec<&Value> = log.iter().filter(|e| e["kind"]["text"] == "Are you still there?").collect();
    assert_eq!(held.len(), 1, "stored once: {held:?}");
    let seqs: Vec<u64> = b
        .js("return [...document.querySelector('[data-baton]').shadowRoot.querySelectorAll('[data-seq]')].map(e => +e.dataset.seq)", vec![])
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 1, "one bot answer on screen");
    b.screenshot("widget-reconnected").await;
    b.close().await;
}
