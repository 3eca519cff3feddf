//! A walk through the demo as a visitor and as an operator (issue 14's "first five minutes"),
//! saving a screenshot at each point: `target/screenshots/<prefix>-NN-<what>.png`. Not a test
//! (the browser tests assert each point); it makes before/after pictures comparable:
//!
//!   ./baton build && cargo run -p baton-tests --bin ux_tour -- after
//!
//! (`BATON_ROOT=DIR` points it at another build, e.g. an older one, for "before".)

use baton_tests::browser::{within, Browser};
use baton_tests::host::{host_page, HostSite};
use baton_tests::*;
use fantoccini::Locator;
use serde_json::json;
use std::time::Duration;

/// Waits for a state like the tests do, but a tour goes on when it never comes (an older build,
/// "before", may not have it): the screenshot then shows what there is instead.
async fn settle<F, Fut>(what: &str, f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<()>>,
{
    if within(Duration::from_secs(15), f).await.is_none() {
        eprintln!("  (never saw: {what})");
    }
}

async fn shot(b: &Browser, prefix: &str, name: &str) {
    b.screenshot(&format!("{prefix}-{name}")).await;
    eprintln!("  {prefix}-{name}.png");
}

async fn widget_text(b: &Browser) -> String {
    b.js("const r = document.querySelector('[data-baton]'); return r ? r.shadowRoot.textContent : '';", vec![])
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn bot_answers(b: &Browser) -> usize {
    b.texts(".msg.bot[data-seq]").await.len()
}

/// Waits (bounded) until the widget's text contains `want`.
async fn until(b: &Browser, want: &str) {
    settle(want, || async { widget_text(b).await.contains(want).then_some(()) }).await;
}

#[tokio::main]
async fn main() {
    let prefix = std::env::args().nth(1).unwrap_or_else(|| "after".into());
    let w = Wrangler::start().await;
    let site = HostSite::start().await;
    let rules = format!("--host-resolver-rules={}", site.resolver_rule());
    eprintln!("screenshots:");

    // 0: the questions the demo page suggests (web/demo.html), asked as a stranger would.
    let v = Browser::start_with(1024, 900, std::slice::from_ref(&rules)).await;
    v.client.goto(&w.base()).await.unwrap();
    let widget = v.open_widget().await;
    let suggested = ["How do I embed the widget?", "What happens when I ask for a human?", "How are operator passwords stored?"];
    for (i, q) in suggested.iter().enumerate() {
        v.ask(&widget, q).await;
        settle("an answer", || async { (bot_answers(&v).await == i + 1).then_some(()) }).await;
        shot(&v, &prefix, &format!("00-suggested-{}", i + 1)).await;
    }
    v.js("localStorage.clear();", vec![]).await;

    // 1, 8: an answer with a citation and a code block, then the citation opened.
    v.client.goto(&w.base()).await.unwrap();
    v.js("localStorage.clear(); location.reload();", vec![]).await;
    let widget = v.open_widget().await;
    v.ask(&widget, "How do I embed the widget with a script tag?").await;
    settle("an answer", || async { (bot_answers(&v).await == 1).then_some(()) }).await;
    shot(&v, &prefix, "08-code-in-the-panel").await;
    v.ask(&widget, "How are operator passwords stored?").await;
    settle("an answer", || async { (bot_answers(&v).await == 2).then_some(()) }).await;
    shot(&v, &prefix, "01-answer-with-citation").await;
    let href = v
        .js("const a = [...document.querySelector('[data-baton]').shadowRoot.querySelectorAll('.sources a')].pop(); return a ? a.href : null;", vec![])
        .await;
    if let Some(href) = href.as_str() {
        v.client.goto(href).await.unwrap();
        shot(&v, &prefix, "01-citation-opened").await;
    }

    // 3, 4: nobody online; a bug report (a form that asks for an email) and a handoff.
    v.client.goto(&w.base()).await.unwrap();
    v.js("localStorage.clear(); location.reload();", vec![]).await;
    let widget = v.open_widget().await;
    v.ask(&widget, "The widget crashes on my page, I think it's a bug").await;
    settle("the handoff", || async { (v.texts("form.form").await.len() >= 1).then_some(()) }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    shot(&v, &prefix, "03-offline-forms").await;
    // "Talk to a human" again while waiting.
    if let Ok(b) = widget.find(Locator::Css(".human")).await {
        let _ = b.click().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    shot(&v, &prefix, "04-waiting-for-a-person").await;
    // An operator takes over and replies.
    let ann = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let (mut inbox, snapshot) = Ws::inbox(&w, "demo", &ann).await;
    let id = snapshot["rows"][0]["id"].as_str().unwrap().to_string();
    let mut op = Ws::operator(&w, "demo", &id, &ann, 1 << 40).await;
    op.send(&json!({"type": "take_over", "client_id": "t"})).await;
    op.ack("t").await;
    op.send(&json!({"type": "message", "client_id": "m", "text": "Hi, Ann here — which browser are you on?"})).await;
    op.ack("m").await;
    until(&v, "which browser").await;
    shot(&v, &prefix, "04-a-person-joined").await;
    let _ = inbox.next().await;

    // 5, 6, 9: the operator's inbox at 1280×800.
    let o = Browser::start_viewport(1280, 800, 1.0, false).await;
    o.client.goto(&format!("{}/inbox", w.base())).await.unwrap();
    let email = o.client.wait().at_most(WAIT).for_element(Locator::Css("input[name=email]")).await.unwrap();
    email.send_keys("ann@example.com").await.unwrap();
    o.client.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("wrong").await.unwrap();
    o.client.find(Locator::Css("form.login button")).await.unwrap().click().await.unwrap();
    o.client.wait().at_most(WAIT).for_element(Locator::Css(".login-error")).await.unwrap();
    shot(&o, &prefix, "09-sign-in-refused").await;
    let focus = o.js("const e = document.activeElement; return e.tagName + (e.name ? '[' + e.name + ']' : '');", vec![]).await;
    eprintln!("  focus after a refused sign-in: {focus}");
    let pw = o.client.find(Locator::Css("input[name=password]")).await.unwrap();
    pw.clear().await.unwrap();
    pw.send_keys("ann-password-1").await.unwrap();
    o.client.find(Locator::Css("form.login button")).await.unwrap().click().await.unwrap();
    o.client.wait().at_most(WAIT).for_element(Locator::Css(".top .me")).await.unwrap();
    o.client.wait().at_most(WAIT).for_element(Locator::Css(".view-open")).await.unwrap().click().await.unwrap();
    o.client.wait().at_most(WAIT).for_element(Locator::Css(".list .row")).await.unwrap();
    shot(&o, &prefix, "06-list").await;
    o.client.find(Locator::Css(".list .row")).await.unwrap().click().await.unwrap();
    o.client.wait().at_most(WAIT).for_element(Locator::Css(".events .ev")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    shot(&o, &prefix, "05-briefing-at-1280x800").await;
    o.client.find(Locator::Css(".nav-insights")).await.unwrap().click().await.unwrap();
    o.client.wait().at_most(WAIT).for_element(Locator::Css(".kpis")).await.unwrap();
    o.client.find(Locator::Css(".nav-insights")).await.unwrap().click().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    shot(&o, &prefix, "06-insights").await;
    o.client.refresh().await.unwrap();
    o.client.wait().at_most(WAIT).for_element(Locator::Css(".top .me")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    shot(&o, &prefix, "06-insights-after-reload").await;

    // 7: a German visitor on the widget test site, nobody online.
    let g = Browser::start_with(1024, 900, std::slice::from_ref(&rules)).await;
    let tag = format!(r#"<script src="{}/widget.js" data-site="widget-test" data-lang="de" async></script>"#, w.base());
    site.page("/de.html", &host_page("Laden", "", &tag, "<h1>Laden</h1>"));
    g.client.goto(&site.url("/de.html")).await.unwrap();
    let gw = g.open_widget().await;
    g.ask(&gw, "Wie hoch ist der Mount Everest?").await;
    settle("an answer", || async { (bot_answers(&g).await == 1).then_some(()) }).await;
    gw.find(Locator::Css(".human")).await.unwrap().click().await.unwrap();
    settle("the handoff form", || async { (g.texts("form.form").await.len() >= 1).then_some(()) }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    shot(&g, &prefix, "07-german-visitor").await;

    // 2: a page whose origin the site does not allow (shop.test embedding site "demo").
    let tag = format!(r#"<script src="{}/widget.js" data-site="demo" async></script>"#, w.base());
    site.page("/not-allowed.html", &host_page("Elsewhere", "", &tag, "<h1>Someone else's page</h1>"));
    let x = Browser::start_with(1024, 900, std::slice::from_ref(&rules)).await;
    x.client.goto(&site.url("/not-allowed.html")).await.unwrap();
    let xw = x.open_widget().await;
    // (Typing only where the composer takes it: the fixed widget disables it on such a page.)
    let enabled = x.js("return !document.querySelector('[data-baton]').shadowRoot.querySelector('textarea').disabled;", vec![]).await;
    if enabled == json!(true) {
        x.ask(&xw, "hello?").await;
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    shot(&x, &prefix, "02-origin-not-allowed").await;

    // 9: the widget on a phone.
    let p = Browser::start_phone(390, 844, std::slice::from_ref(&rules)).await;
    p.client.goto(&w.base()).await.unwrap();
    p.open_widget().await;
    shot(&p, &prefix, "09-phone").await;
    let close = p
        .js("const c = document.querySelector('[data-baton]').shadowRoot.querySelector('.close').getBoundingClientRect(); return [c.width, c.height];", vec![])
        .await;
    eprintln!("  phone close button: {close}");

    for b in [v, o, g, x, p] {
        b.close().await;
    }
}
