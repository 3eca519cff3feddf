//! The panel in use on a customer's page (http://shop.test, the `widget-test` docs site):
//! cited answers in Markdown, feedback, markup that must stay text, continuity across reloads
//! and pages (and where the visitor is), inline forms with field errors, the operator joining
//! and typing. Screenshots: target/screenshots/widget-*.png.

use baton_tests::browser::{eventually, Browser};
use baton_tests::host::{host_page, HostSite};
use baton_tests::*;
use fantoccini::elements::ShadowRoot;
use fantoccini::Locator;
use serde_json::{json, Value};

const SITE: &str = "widget-test";

async fn setup() -> (Wrangler, HostSite, Browser) {
    let w = Wrangler::start().await;
    let site = HostSite::start().await;
    let b = Browser::start_with(1024, 900, &[format!("--host-resolver-rules={}", site.resolver_rule())]).await;
    (w, site, b)
}

/// A page of the shop with the widget tag (async, default options).
fn page(w: &Wrangler, title: &str, body: &str) -> String {
    let tag = format!(r#"<script src="{}/widget.js" data-site="{SITE}" async></script>"#, w.base());
    host_page(title, "", &tag, body)
}

/// The visitor's conversation id and token, from the widget's storage.
async fn conversation(b: &Browser) -> (String, String) {
    let v = eventually("a stored conversation", || async {
        let v = b.js("return JSON.parse(localStorage.getItem('baton:widget-test') || 'null')", vec![]).await;
        (!v.is_null()).then_some(v)
    })
    .await;
    (v["conversation_id"].as_str().unwrap().to_string(), v["token"].as_str().unwrap().to_string())
}

/// The whole log as operators see it.
async fn export(w: &Wrangler, id: &str, cookie: &str) -> Vec<Value> {
    let r = http()
        .get(format!("{}/api/v1/sites/{SITE}/conversations/{id}/export", w.base()))
        .header("cookie", cookie)
        .send()
        .await
        .expect("export");
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["events"].as_array().unwrap().clone()
}

async fn wait_texts(b: &Browser, css: &str, n: usize) -> Vec<String> {
    eventually(&format!("{n} × {css}"), || async {
        let t = b.texts(css).await;
        (t.len() >= n).then_some(t)
    })
    .await
}

async fn attr(w: &ShadowRoot, css: &str, name: &str) -> Option<String> {
    w.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("no {css}")).attr(name).await.unwrap()
}

#[tokio::test]
async fn answers_in_markdown_with_sources_and_remembers_feedback_across_a_reload() {
    let (w, site, b) = setup().await;
    site.page("/docs.html", &page(&w, "Docs", "<p>Gizmo docs.</p>"));
    b.client.goto(&site.url("/docs.html")).await.unwrap();
    let widget = b.open_widget().await;

    b.ask(&widget, "Where is the gizmo configuration file?").await;
    let code = wait_texts(&b, ".msg.bot pre code", 1).await;
    assert_eq!(code, vec!["[gizmo]\nport = 8080"]);
    // Code blocks: a labelled region the keyboard can reach, and a copy button.
    let pre = b
        .js(
            "const p = document.querySelector('[data-baton]').shadowRoot.querySelector('.msg.bot pre'); \
                    return [p.getAttribute('tabindex'), p.getAttribute('role'), p.getAttribute('aria-label')];",
            vec![],
        )
        .await;
    assert_eq!(pre, json!(["0", "region", "Code"]));
    // No copy button on a page without the clipboard API (http): a button that can't work is
    // not offered (widget_ux.rs copies on a secure page).
    assert_eq!(b.texts(".msg.bot .code .copy").await, Vec::<String>::new());
    assert_eq!(b.texts(".msg.bot .sources a").await, vec!["From: Gizmo Guide › Gizmo configuration file"]);
    assert_eq!(attr(&widget, ".sources a", "href").await.as_deref(), Some("https://docs.gizmo.test/gizmo#gizmo-configuration-file"));
    assert_eq!(attr(&widget, ".sources a", "target").await.as_deref(), Some("_blank"));
    assert_eq!(attr(&widget, ".sources a", "rel").await.as_deref(), Some("noopener noreferrer"));

    b.ask(&widget, "How do I start the gizmo?").await;
    let items = wait_texts(&b, ".msg.bot ul li", 2).await;
    assert_eq!(items, vec!["Plug the gizmo in.", "Run gizmo start and wait for the green light."]);
    assert_eq!(b.texts(".msg.bot li code").await, vec!["gizmo start"]);

    // Thumbs up on the first answer: pressed, and stored (it survives a reload).
    let up = widget.find(Locator::Css(".msg.bot[data-seq] .up")).await.unwrap();
    assert_eq!(up.attr("aria-label").await.unwrap().as_deref(), Some("Yes, helpful"));
    up.click().await.unwrap();
    eventually("the thumb pressed", || async { (attr(&widget, ".up", "aria-pressed").await.as_deref() == Some("true")).then_some(()) })
        .await;
    let (id, token) = conversation(&b).await;
    eventually("the feedback stored", || async {
        let page: Value = http()
            .get(format!("{}/api/v1/sites/{SITE}/conversations/{id}/events", w.base()))
            .bearer_auth(&token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        page["events"].as_array()?.iter().any(|e| e["kind"]["type"] == "feedback" && e["kind"]["helpful"] == true).then_some(())
    })
    .await;
    b.screenshot("widget-answers").await;

    // Reload: open again by itself, the same thread once, the thumb still pressed.
    b.client.refresh().await.unwrap();
    let widget = b.widget().await;
    eventually("the restored thread", || async { (b.texts(".msg.bot[data-seq]").await.len() == 2).then_some(()) }).await;
    assert_eq!(b.texts(".msg.visitor").await, vec!["You: Where is the gizmo configuration file?", "You: How do I start the gizmo?"]);
    assert!(widget.find(Locator::Css(".app.open")).await.is_ok(), "the panel stays open across the reload");
    eventually("the thumb still pressed", || async {
        (attr(&widget, ".up", "aria-pressed").await.as_deref() == Some("true")).then_some(())
    })
    .await;

    // Too long to send: a calm notice, and the words stay in the composer to shorten.
    let long = "gizmo ".repeat(800);
    b.js(
        "const t = document.querySelector('[data-baton]').shadowRoot.querySelector('textarea');          t.value = arguments[0]; t.dispatchEvent(new Event('input', {bubbles: true}));",
        vec![json!(long)],
    )
    .await;
    widget.find(Locator::Css(".send")).await.unwrap().click().await.unwrap();
    eventually("the too-long notice", || async {
        b.texts(".status").await.first().filter(|s| *s == "That message is too long. Please shorten it.").cloned()
    })
    .await;
    let kept = b.js("return document.querySelector('[data-baton]').shadowRoot.querySelector('textarea').value", vec![]).await;
    assert_eq!(kept, json!(long));
    assert_eq!(b.texts(".msg.visitor").await.len(), 2, "nothing sent");
    b.close().await;
}

#[tokio::test]
async fn markup_from_the_bot_the_operator_and_the_visitor_stays_text() {
    let (w, site, b) = setup().await;
    site.page("/docs.html", &page(&w, "Docs", "<p>Gizmo docs.</p>"));
    b.client.goto(&site.url("/docs.html")).await.unwrap();
    let widget = b.open_widget().await;

    // The docs hold markup in code spans and blocks: the bot quotes it; it must show as text.
    b.ask(&widget, "What does the warranty sticker read?").await;
    let code = wait_texts(&b, ".msg.bot code", 2).await;
    assert_eq!(code, vec![r#"<img src=x onerror="window.__xss=1">"#, "<script>window.__xss=2</script>"]);
    // A javascript: link and an inline handler in the docs never become a link or an element.
    b.ask(&widget, "What is the hotline phone number?").await;
    wait_texts(&b, ".msg.bot[data-seq]", 2).await;

    let visitor_markup = r#"<img src=x onerror="window.__xss=5"><script>window.__xss=6</script>"#;
    b.ask(&widget, visitor_markup).await;
    wait_texts(&b, ".msg.visitor:not(.pending)", 3).await;

    // The operator joins and replies with markup too.
    widget.find(Locator::Css(".human")).await.unwrap().click().await.unwrap();
    let (id, _) = conversation(&b).await;
    let cookie = login(&w, SITE, "cy@example.com", "cy-password-1").await;
    let mut op = Ws::operator(&w, SITE, &id, &cookie, 0).await;
    op.send(&json!({"type": "take_over", "client_id": "t1"})).await;
    let operator_markup = r#"<img src=x onerror="window.__xss=7"> <a href="javascript:window.__xss=8">click</a>"#;
    op.send(&json!({"type": "message", "client_id": "m1", "text": operator_markup})).await;
    let reply = wait_texts(&b, ".msg.operator .text", 1).await;
    assert_eq!(reply, vec![operator_markup]);
    assert_eq!(b.texts(".msg.visitor").await.last().map(String::as_str), Some(&*format!("You: {visitor_markup}")));

    let found = b
        .js(
            "const r = document.querySelector('[data-baton]').shadowRoot; \
             return [r.querySelectorAll('img, script, iframe, b, [onerror], [onmouseover]').length, \
                     [...r.querySelectorAll('a')].map(a => a.getAttribute('href')).filter(h => !/^https?:/.test(h)), \
                     typeof window.__xss];",
            vec![],
        )
        .await;
    assert_eq!(found, json!([0, [], "undefined"]));
    b.screenshot("widget-markup-as-text").await;
    b.close().await;
}

#[tokio::test]
async fn follows_the_visitor_across_pages_and_tells_the_operator_where_they_are() {
    let (w, site, b) = setup().await;
    site.page("/pricing.html", &page(&w, "Pricing", "<p>Prices.</p><a href=\"/checkout.html\">Checkout</a>"));
    site.page("/checkout.html", &page(&w, "Checkout", "<p>Pay here.</p>"));
    b.client.goto(&site.url("/pricing.html")).await.unwrap();
    let widget = b.open_widget().await;
    b.ask(&widget, "How do I install the gizmo?").await;
    wait_texts(&b, ".msg.bot[data-seq]", 1).await;
    let (id, _) = conversation(&b).await;

    // Another page of the site: same thread, still open.
    b.client.find(Locator::Css("a[href='/checkout.html']")).await.unwrap().click().await.unwrap();
    eventually("the checkout page", || async { (b.client.title().await.ok()? == "Checkout").then_some(()) }).await;
    let widget = b.widget().await;
    eventually("the thread on the next page", || async { (b.texts(".msg.bot[data-seq]").await.len() == 1).then_some(()) }).await;
    assert_eq!(b.texts(".msg.visitor").await, vec!["You: How do I install the gizmo?"]);
    assert!(widget.find(Locator::Css(".app.open")).await.is_ok());

    // A single-page app navigates and retitles without a reload.
    b.js("history.pushState({}, '', '/cart'); document.title = 'Cart (SPA)';", vec![]).await;

    let cookie = login(&w, SITE, "cy@example.com", "cy-password-1").await;
    let pages = eventually("the page changes in the log", || async {
        let pages: Vec<(String, String)> = export(&w, &id, &cookie)
            .await
            .iter()
            .filter(|e| e["kind"]["type"] == "page_changed")
            .map(|e| (e["kind"]["page"]["url"].as_str().unwrap().into(), e["kind"]["page"]["title"].as_str().unwrap().into()))
            .collect();
        (pages.len() >= 2).then_some(pages)
    })
    .await;
    assert_eq!(
        pages,
        vec![
            ("http://shop.test/checkout.html".to_string(), "Checkout".to_string()),
            ("http://shop.test/cart".to_string(), "Cart (SPA)".to_string())
        ]
    );
    let first = export(&w, &id, &cookie).await;
    assert_eq!(first[0]["kind"]["page"]["url"], "http://shop.test/pricing.html", "the conversation began on the pricing page");
    b.close().await;
}

#[tokio::test]
async fn inline_forms_show_field_errors_and_nobody_online_asks_for_an_email() {
    let (w, site, b) = setup().await;
    site.page("/docs.html", &page(&w, "Docs", "<p>Gizmo docs.</p>"));
    b.client.goto(&site.url("/docs.html")).await.unwrap();
    let widget = b.open_widget().await;

    // A custom action: the "order status" keyword asks for the order number.
    b.ask(&widget, "What's my order status?").await;
    let form = eventually("the order form", || async { widget.find(Locator::Css("form.form[data-action=order]")).await.ok() }).await;
    assert_eq!(b.texts("form[data-action=order] label").await, vec!["Order number *", "Plan"]);
    assert_eq!(b.texts("form[data-action=order] option").await, vec!["Free", "Pro"]);
    form.find(Locator::Css("button.submit")).await.unwrap().click().await.unwrap();
    let error = eventually("the field error", || async {
        let t = b.texts("form[data-action=order] .field-error").await;
        t.into_iter().find(|e| !e.is_empty())
    })
    .await;
    assert!(error.contains("Order number"), "{error}");
    let order = form.find(Locator::Css("input[name=order]")).await.unwrap();
    assert_eq!(order.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    let described = order.attr("aria-describedby").await.unwrap().unwrap();
    assert_eq!(attr(&widget, &format!("#{described}"), "class").await.as_deref(), Some("field-error"));
    order.send_keys("AB123456").await.unwrap();
    form.find(Locator::Css("button.submit")).await.unwrap().click().await.unwrap();
    eventually("the form sent", || async { b.texts(".done:not([hidden])").await.first().cloned() }).await;
    assert!(widget.find(Locator::Css("form[data-action=order][hidden]")).await.is_ok());

    // Nobody is online: asking for a human says so and asks where to reply.
    widget.find(Locator::Css(".human")).await.unwrap().click().await.unwrap();
    let email =
        eventually("the email form", || async { widget.find(Locator::Css("form[data-action=email] input[type=email]")).await.ok() }).await;
    assert!(b.texts(".system").await.iter().any(|t| t.contains("Nobody from the team is online")), "{:?}", b.texts(".system").await);
    email.send_keys("not-an-email").await.unwrap();
    widget.find(Locator::Css("form[data-action=email] button.submit")).await.unwrap().click().await.unwrap();
    eventually("the email error", || async { b.texts("form[data-action=email] .field-error").await.into_iter().find(|e| !e.is_empty()) })
        .await;
    b.screenshot("widget-form-errors").await;
    email.clear().await.unwrap();
    email.send_keys("visitor@example.com").await.unwrap();
    widget.find(Locator::Css("form[data-action=email] button.submit")).await.unwrap().click().await.unwrap();
    eventually("the email sent", || async { (b.texts(".done:not([hidden])").await.len() == 2).then_some(()) }).await;
    let (id, _) = conversation(&b).await;
    let cookie = login(&w, SITE, "cy@example.com", "cy-password-1").await;
    let collected: Vec<Value> = export(&w, &id, &cookie)
        .await
        .into_iter()
        .filter(|e| e["kind"]["type"] == "fields_collected")
        .map(|e| e["kind"]["values"].clone())
        .collect();
    assert_eq!(collected, vec![json!({"order": "AB123456", "plan": "Free"}), json!({"email": "visitor@example.com"})]);
    b.close().await;
}

#[tokio::test]
async fn shows_the_operator_joining_and_typing_and_tells_them_when_the_visitor_types() {
    let (w, site, b) = setup().await;
    site.page("/docs.html", &page(&w, "Docs", "<p>Gizmo docs.</p>"));
    b.client.goto(&site.url("/docs.html")).await.unwrap();
    let widget = b.open_widget().await;
    // "Talk to a human" works as the very first thing a visitor does.
    widget.find(Locator::Css(".human")).await.unwrap().click().await.unwrap();
    wait_texts(&b, ".system", 1).await;
    // Asked: the button gives way to where things stand (pressing again could change nothing).
    let standing = wait_texts(&b, ".standing:not([hidden])", 1).await;
    assert_eq!(standing, ["You're in line — the team sees this whole conversation."]);
    assert!(attr(&widget, ".human", "hidden").await.is_some(), "no \"Talk to a human\" while waiting for one");
    let (id, _) = conversation(&b).await;
    let cookie = login(&w, SITE, "cy@example.com", "cy-password-1").await;
    let mut op = Ws::operator(&w, SITE, &id, &cookie, 0).await;
    op.send(&json!({"type": "take_over", "client_id": "t1"})).await;
    // A person joined: an event the visitor notices (their initial, their name), and the
    // header says who is with them.
    let joined = wait_texts(&b, ".joined strong", 1).await;
    assert_eq!(joined, vec!["Cy joined"]);
    assert_eq!(b.texts(".joined .avatar").await, ["C"]);
    eventually("who is with the visitor", || async {
        b.texts(".standing:not([hidden])").await.first().filter(|t| t.ends_with("Cy is with you")).cloned()
    })
    .await;

    op.send(&json!({"type": "typing", "on": true})).await;
    eventually("the operator typing", || async { b.texts(".typing").await.first().filter(|t| *t == "Cy is typing…").cloned() }).await;
    b.screenshot("widget-operator-typing").await;

    // The visitor types: the operator is told.
    widget.find(Locator::Css("textarea")).await.unwrap().send_keys("I have a ques").await.unwrap();
    op.expect(|m| m["type"] == "typing" && m["who"]["kind"] == "visitor" && m["on"] == true).await;

    op.send(&json!({"type": "message", "client_id": "m1", "text": "Hi, Cy here."})).await;
    assert_eq!(wait_texts(&b, ".msg.operator .text", 1).await, vec!["Hi, Cy here."]);
    // An operator's message does not look like the bot's: named, with an avatar, its own colour.
    assert_eq!(b.texts(".msg.operator .who").await, ["CCy"]);
    let colours = b
        .js(
            "const r = document.querySelector('[data-baton]').shadowRoot, c = s => getComputedStyle(r.querySelector(s)).backgroundColor; \
             return [c('.msg.operator'), c('.msg.bot')];",
            vec![],
        )
        .await;
    assert_ne!(colours[0], colours[1], "{colours}");
    b.assert_accessible("widget-operator").await;
    eventually("the typing line cleared", || async { b.texts(".typing").await.first().filter(|t| t.is_empty()).cloned() }).await;
    b.close().await;
}
