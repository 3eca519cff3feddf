//! Who the visitor is and what they see, end to end in headless Chromium against a real worker:
//! a customer's page (http://shop.test) passes its signed-in user on the script tag and queues
//! the product context before the widget loads; the visitor pastes a screenshot and asks for a
//! person; the operator's briefing shows the verified identity and the context, and both
//! threads show the screenshot; after the resolve the visitor rates the help, which reaches
//! the list and the insights page. Screenshots: target/screenshots/identity-*.png.

use baton_tests::browser::{eventually, Browser};
use baton_tests::host::{host_page, HostSite};
use baton_tests::*;
use fantoccini::Locator;
use serde_json::{json, Value};

const SITE: &str = "widget-test";

/// An 8×8 red PNG (a real image: the thumbnails must decode).
const PNG: &[u8] = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x08\x00\x00\x00\x08\x08\x02\x00\x00\x00\x4b\x6d\x29\xdc\x00\x00\x00\x12\x49\x44\x41\x54\x78\x9c\x63\xf8\xcf\xc0\x80\x15\x61\x17\x1d\xb4\x12\x00\x28\xff\x3f\xc1\x6e\xec\xdf\x61\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

async fn text(b: &Browser, css: &str) -> Option<String> {
    b.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", vec![json!(css)])
        .await
        .as_str()
        .map(String::from)
}

async fn until_text(b: &Browser, css: &str, want: &str) -> String {
    eventually(&format!("{css} to show {want:?}"), || async { text(b, css).await.filter(|t| t.contains(want)) }).await
}

async fn click(b: &Browser, css: &str) {
    b.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap_or_else(|_| panic!("no {css}")).click().await.unwrap();
}

/// Waits for an `<img>` matching `css` (in the widget's shadow root if `widget`) to have
/// decoded: the bytes came back through the worker and are an image.
async fn decoded(b: &Browser, css: &str, widget: bool) {
    let script = "const root = arguments[1] ? document.querySelector('[data-baton]').shadowRoot : document; \
                  const i = root.querySelector(arguments[0]); return !!(i && i.complete && i.naturalWidth === 8);";
    eventually(&format!("{css} to show the screenshot"), || async {
        (b.js(script, vec![json!(css), json!(widget)]).await == json!(true)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_signed_in_visitor_shows_a_screenshot_and_rates_the_help() {
    let w = Wrangler::start().await;
    let shop = HostSite::start().await;
    let visitor = Browser::start_with(1024, 900, &[format!("--host-resolver-rules={}", shop.resolver_rule())]).await;
    let cy = Browser::start_viewport(1280, 800, 1.0, false).await;

    // The shop's backend signs its user (as docs/identity.md shows); the page queues the
    // product context before the widget's script has run.
    let user = [("user_id", "u-7"), ("email", "dana@shop.test"), ("name", "Dana Scully"), ("plan", "pro")];
    let signature = signed_identity(&user, IDENTITY_SECRET)["signature"].as_str().unwrap().to_string();
    let queue = r#"<script>window.Baton = { q: [["setContext", { feature: "checkout", cart: "3 items" }]] };</script>"#;
    let tag = format!(
        r#"<script src="{}/widget.js" data-site="{SITE}" data-user-id="u-7" data-user-email="dana@shop.test" data-user-name="Dana Scully" data-user-attributes='{{"plan":"pro"}}' data-user-signature="{signature}" async></script>"#,
        w.base()
    );
    shop.page("/checkout.html", &host_page("Checkout — Shop", "", &format!("{queue}{tag}"), "<h1>Checkout</h1>"));
    visitor.client.goto(&shop.url("/checkout.html")).await.unwrap();
    let widget = visitor.open_widget().await;

    // She pastes a screenshot into the message box: it is the first thing she sends.
    let paste = "const root = document.querySelector('[data-baton]').shadowRoot; \
                 const file = new File([Uint8Array.from(arguments[0])], 'image.png', { type: 'image/png' }); \
                 const data = new DataTransfer(); data.items.add(file); \
                 root.querySelector('textarea').dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));";
    visitor.js(paste, vec![json!(PNG)]).await;
    decoded(&visitor, ".msg.visitor.file img.thumb", true).await;
    visitor.ask(&widget, "The checkout button does nothing — can I talk to a person?").await;

    // The operator: the row names her (verified), the briefing says who and what, the thread
    // shows the screenshot.
    cy.client.goto(&format!("{}/inbox?site={SITE}", w.base())).await.unwrap();
    let field = cy.client.wait().at_most(WAIT).for_element(Locator::Css("input[name=email]")).await.unwrap();
    field.send_keys("cy@example.com").await.unwrap();
    cy.client.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("cy-password-1").await.unwrap();
    click(&cy, "form.login button").await;
    let row = ".row[data-status=waiting_for_human]";
    until_text(&cy, ".live", "live").await;
    cy.screenshot("identity-inbox-list").await;
    until_text(&cy, &format!("{row} .who"), "Dana Scully ✓").await;
    click(&cy, row).await;
    until_text(&cy, ".briefing .identity .verified", "verified").await;
    let who = text(&cy, ".briefing .identity").await.unwrap();
    assert!(who.contains("Dana Scully") && who.contains("dana@shop.test") && who.contains("plan: pro"), "{who}");
    until_text(&cy, ".briefing .context", "feature: checkout").await;
    decoded(&cy, ".ev.visitor.file img.thumb", false).await;
    cy.screenshot("identity-inbox").await;

    // Resolved: the visitor is asked how it went, answers "good" and a word; the rating shows
    // in the list and the insights.
    click(&cy, ".conversation .take-over").await;
    click(&cy, ".conversation .resolve").await;
    let good = eventually("the rating card", || async {
        widget.find(Locator::Css(".rating:not([data-closed]) .face[data-score='5']")).await.ok()
    })
    .await;
    visitor.screenshot("identity-widget").await;
    good.click().await.unwrap();
    let comment = widget.find(Locator::Css(".rating textarea.comment")).await.unwrap();
    comment.send_keys("Quick fix, thanks").await.unwrap();
    widget.find(Locator::Css(".rating .submit")).await.unwrap().click().await.unwrap();
    eventually("the thanks", || async {
        let v = visitor.texts(".rating[data-rated] .done").await;
        (!v.is_empty()).then_some(())
    })
    .await;
    let pressed = visitor.texts(".rating .face[aria-pressed=true]").await;
    assert_eq!(pressed.len(), 1, "one face pressed: {pressed:?}");
    // The face was a rating at once; the comment then rated the same resolve again (the later
    // one counts): the thread shows both, the last with the comment.
    eventually("the rating with its comment in the thread", || async {
        let last = cy
            .js(
                "const r = [...document.querySelectorAll('.ev.system.rated')]; return r.length ? r[r.length - 1].textContent : null;",
                vec![],
            )
            .await;
        last.as_str().is_some_and(|t| t.contains("Quick fix, thanks")).then_some(())
    })
    .await;
    cy.screenshot("identity-inbox-rated").await;
    click(&cy, ".view-resolved").await;
    until_text(&cy, ".row .rating", "good").await;
    click(&cy, ".nav-insights").await;
    until_text(&cy, ".satisfaction .csat", "CSAT 100%").await;
    until_text(&cy, ".by-operator .group", "Cy").await;
    cy.screenshot("identity-insights").await;

    // What the operator saw is what the log holds.
    let cookie = login(&w, SITE, "cy@example.com", "cy-password-1").await;
    let stored: Value = http()
        .get(format!("{}/api/v1/sites/{SITE}/inbox/rows?view=all", w.base()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = &stored["rows"][0];
    assert_eq!(
        (r["identity"]["user_id"].as_str(), r["rating"].as_u64(), r["attachments"].as_u64()),
        (Some("u-7"), Some(5), Some(1)),
        "{r}"
    );
    visitor.close().await;
    cy.close().await;
}
