//! Accessibility: the whole loop by keyboard only, names and roles for assistive technology,
//! text contrast ≥ 4.5:1 for the default theme and for any `data-color`, and the full-screen
//! panel on a phone-sized viewport. Screenshots: target/screenshots/widget-*.png.

use baton_tests::browser::{eventually, Browser};
use baton_tests::host::{host_page, HostSite};
use baton_tests::*;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use serde_json::{json, Value};

async fn setup(width: u32, height: u32) -> (Wrangler, HostSite, Browser) {
    let w = Wrangler::start().await;
    let site = HostSite::start().await;
    let b = Browser::start_with(width, height, &[format!("--host-resolver-rules={}", site.resolver_rule())]).await;
    (w, site, b)
}

async fn setup_phone() -> (Wrangler, HostSite, Browser) {
    let w = Wrangler::start().await;
    let site = HostSite::start().await;
    let b = Browser::start_phone(390, 844, &[format!("--host-resolver-rules={}", site.resolver_rule())]).await;
    (w, site, b)
}

fn page(w: &Wrangler, attrs: &str) -> String {
    let tag = format!(r#"<script src="{}/widget.js" data-site="widget-test" async {attrs}></script>"#, w.base());
    host_page("Shop", "", &tag, r#"<a href="/">Home</a> <button>Buy</button>"#)
}

/// Presses keys together (a chord), as a keyboard would, on whatever has the focus.
async fn press(b: &Browser, keys: &[Key]) {
    let mut a = KeyActions::new("keyboard".into());
    for k in keys {
        a = a.then(KeyAction::Down { value: char::from(*k) });
    }
    for k in keys.iter().rev() {
        a = a.then(KeyAction::Up { value: char::from(*k) });
    }
    b.client.perform_actions(a).await.unwrap();
}

async fn type_text(b: &Browser, text: &str) {
    let mut a = KeyActions::new("keyboard".into());
    for c in text.chars() {
        a = a.then(KeyAction::Down { value: c }).then(KeyAction::Up { value: c });
    }
    b.client.perform_actions(a).await.unwrap();
}

/// What has the focus inside the widget: "tag.class" (or "page" when it is outside).
async fn focused(b: &Browser) -> String {
    b.js(
        "const h = document.querySelector('[data-baton]'); \
         if (document.activeElement !== h) return 'page'; \
         const e = h.shadowRoot.activeElement; return e ? e.tagName.toLowerCase() + '.' + e.className : 'none';",
        vec![],
    )
    .await
    .as_str()
    .unwrap()
    .to_string()
}

#[tokio::test]
async fn the_whole_loop_works_by_keyboard_alone() {
    let (w, site, b) = setup(1024, 900).await;
    site.page("/shop.html", &page(&w, ""));
    b.client.goto(&site.url("/shop.html")).await.unwrap();
    b.widget().await;

    // Tab from the top of the page reaches the launcher, which has a name and says it's closed.
    let mut tabs = 0;
    while focused(&b).await != "button.launcher" {
        assert!(tabs < 6, "the launcher is not in the tab order (focus: {})", focused(&b).await);
        press(&b, &[Key::Tab]).await;
        tabs += 1;
    }
    let launcher = b.js("const l = document.querySelector('[data-baton]').shadowRoot.querySelector('.launcher'); return [l.getAttribute('aria-label'), l.getAttribute('aria-expanded')]", vec![]).await;
    assert_eq!(launcher, json!(["Open chat", "false"]));

    // Enter opens it and puts the focus in the composer.
    press(&b, &[Key::Enter]).await;
    eventually("the focus in the composer", || async { (focused(&b).await == "textarea.").then_some(()) }).await;
    type_text(&b, "How do I install the gizmo?").await;
    press(&b, &[Key::Enter]).await;
    eventually("the answer", || async { (b.texts(".msg.bot[data-seq]").await.len() == 1).then_some(()) }).await;

    // Shift+Tab walks back from the composer: the attach button, then into the answer: the
    // thumbs, then the source link.
    press(&b, &[Key::Shift, Key::Tab]).await;
    assert_eq!(focused(&b).await, "button.attach");
    press(&b, &[Key::Shift, Key::Tab]).await;
    assert_eq!(focused(&b).await, "button.down");
    press(&b, &[Key::Shift, Key::Tab]).await;
    assert_eq!(focused(&b).await, "button.up");
    press(&b, &[Key::Space]).await;
    eventually("the thumb pressed by Space", || async {
        let v = b
            .js("return document.querySelector('[data-baton]').shadowRoot.querySelector('.up').getAttribute('aria-pressed')", vec![])
            .await;
        (v == json!("true")).then_some(())
    })
    .await;
    press(&b, &[Key::Shift, Key::Tab]).await;
    assert_eq!(focused(&b).await, "a.");

    // Escape closes and gives the focus back to the launcher.
    press(&b, &[Key::Escape]).await;
    assert_eq!(focused(&b).await, "button.launcher");
    let state = b.js("const r = document.querySelector('[data-baton]').shadowRoot; return [r.querySelector('.app').classList.contains('open'), r.querySelector('.launcher').getAttribute('aria-expanded')]", vec![]).await;
    assert_eq!(state, json!([false, "false"]));

    // Space opens it again; Tab from the launcher goes into the panel's header.
    press(&b, &[Key::Space]).await;
    eventually("the focus back in the composer", || async { (focused(&b).await == "textarea.").then_some(()) }).await;
    // Back through the answer (thumbs, source) to the header's buttons.
    let mut steps = 0;
    while focused(&b).await != "button.human" {
        assert!(steps < 8, "Talk to a human is not reachable (focus: {})", focused(&b).await);
        press(&b, &[Key::Shift, Key::Tab]).await;
        steps += 1;
    }
    press(&b, &[Key::Tab]).await;
    assert_eq!(focused(&b).await, "button.close");
    press(&b, &[Key::Enter]).await;
    eventually("closed by its close button", || async { (focused(&b).await == "button.launcher").then_some(()) }).await;
    b.close().await;
}

#[tokio::test]
async fn names_roles_and_labels_for_assistive_technology() {
    let (w, site, b) = setup(1024, 900).await;
    site.page("/shop.html", &page(&w, ""));
    b.client.goto(&site.url("/shop.html")).await.unwrap();
    b.widget().await;
    b.assert_accessible("widget-closed").await;
    let widget = b.open_widget().await;
    b.ask(&widget, "How do I install the gizmo?").await;
    eventually("the answer", || async { (b.texts(".msg.bot[data-seq]").await.len() == 1).then_some(()) }).await;
    b.assert_accessible("widget-answer").await;
    let v = b
        .js(
            "const r = document.querySelector('[data-baton]').shadowRoot; \
             const name = e => (e.getAttribute('aria-label') || e.textContent).trim(); \
             const log = r.querySelector('.log'), dialog = r.querySelector('[role=dialog]'); \
             return { \
               unnamed_buttons: [...r.querySelectorAll('button')].filter(e => !name(e)).map(e => e.outerHTML), \
               log: [log.getAttribute('role'), log.getAttribute('aria-live'), log.getAttribute('aria-label')], \
               dialog: r.getElementById(dialog.getAttribute('aria-labelledby')).textContent, \
               composer: r.querySelector('textarea').getAttribute('aria-label'), \
               thumbs: [...r.querySelectorAll('.feedback button')].map(e => [e.getAttribute('aria-label'), e.getAttribute('aria-pressed')]), \
               speakers: [...r.querySelectorAll('.msg .sr')].map(e => e.textContent) \
             };",
            vec![],
        )
        .await;
    assert_eq!(v["unnamed_buttons"], json!([]));
    assert_eq!(v["log"], json!(["log", "polite", "Conversation"]));
    assert_eq!(v["dialog"], "Gizmo Docs");
    assert_eq!(v["composer"], "Ask a question…");
    assert_eq!(v["thumbs"], json!([["Yes, helpful", "false"], ["No, not helpful", "false"]]));
    assert_eq!(v["speakers"], json!(["You: ", "Assistant: "]));
    b.close().await;
}

/// Every visible text in the widget against its background (WCAG 2 contrast ratio).
async fn contrast_failures(b: &Browser) -> Value {
    b.js(
        "const lum = c => { const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(v => { v /= 255; \
             return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; }; \
         const bg = el => { for (let e = el; e; e = e.parentElement || (e.getRootNode().host)) { \
             const c = getComputedStyle(e).backgroundColor, m = c.match(/[\\d.]+/g); \
             if (m && (m.length < 4 || +m[3] > 0)) return c; } return 'rgb(255, 255, 255)'; }; \
         const r = document.querySelector('[data-baton]').shadowRoot, out = []; \
         for (const el of r.querySelectorAll('.launcher, .title, .human, .close, .standing, .msg, .msg .text, .who, .system, .joined, .copy, .sources a, .feedback span, .send, .submit, label, .state, .status')) { \
             if (!el.getClientRects().length || el.closest('.sr')) continue; \
             const a = lum(getComputedStyle(el).color), c = lum(bg(el)); \
             const ratio = (Math.max(a, c) + 0.05) / (Math.min(a, c) + 0.05); \
             if (ratio < 4.5) out.push([el.className || el.tagName, getComputedStyle(el).color, bg(el), ratio.toFixed(2)]); } \
         return out;",
        vec![],
    )
    .await
}

#[tokio::test]
async fn text_contrast_holds_for_the_default_theme_and_any_colour() {
    let (w, site, b) = setup(1024, 900).await;
    site.page("/default.html", &page(&w, ""));
    b.client.goto(&site.url("/default.html")).await.unwrap();
    let widget = b.open_widget().await;
    b.ask(&widget, "How do I install the gizmo?").await;
    eventually("the answer", || async { (b.texts(".msg.bot[data-seq]").await.len() == 1).then_some(()) }).await;
    widget.find(fantoccini::Locator::Css(".human")).await.unwrap().click().await.unwrap();
    eventually("the handoff notice and form", || async { (b.texts("form label").await.len() == 1).then_some(()) }).await;
    assert_eq!(contrast_failures(&b).await, json!([]), "default theme");
    b.assert_accessible("widget-form").await;

    // The same thread (restored) under other accent colours: white or black text is picked.
    for colour in ["#ffd43b", "#0f766e", "#e11d48", "#7c3aed", "#808080", "#00ff00", "#000000", "#ffffff"] {
        let path = format!("/c{}.html", &colour[1..]);
        site.page(&path, &page(&w, &format!(r#"data-color="{colour}""#)));
        b.client.goto(&site.url(&path)).await.unwrap();
        eventually("the restored thread", || async { (b.texts(".msg.bot[data-seq]").await.len() == 1).then_some(()) }).await;
        assert_eq!(contrast_failures(&b).await, json!([]), "data-color {colour}");
    }
    b.close().await;
}

#[tokio::test]
async fn fills_a_phone_screen() {
    let (w, site, b) = setup_phone().await;
    site.page("/shop.html", &page(&w, ""));
    b.client.goto(&site.url("/shop.html")).await.unwrap();
    let widget = b.open_widget().await;
    b.ask(&widget, "How do I start the gizmo?").await;
    eventually("the answer", || async { (b.texts(".msg.bot[data-seq]").await.len() == 1).then_some(()) }).await;
    let v = b
        .js(
            "const r = document.querySelector('[data-baton]').shadowRoot, p = r.querySelector('.app').getBoundingClientRect(); \
             return [innerWidth < 480, p.x, p.y, p.width === innerWidth, p.height === innerHeight, getComputedStyle(r.querySelector('.launcher')).display];",
            vec![],
        )
        .await;
    assert_eq!(v, json!([true, 0, 0, true, true, "none"]), "full screen, launcher hidden under it");
    // Its close button is a finger's size (WCAG 2.5.5: at least 44 × 44 CSS pixels).
    let close = b
        .js("const c = document.querySelector('[data-baton]').shadowRoot.querySelector('.close').getBoundingClientRect(); return [c.width >= 44, c.height >= 44];", vec![])
        .await;
    assert_eq!(close, json!([true, true]), "the close button's size");
    b.screenshot("widget-mobile").await;
    b.assert_accessible("widget-phone").await;
    // Its own close button (the launcher is covered) gets the visitor out.
    widget.find(fantoccini::Locator::Css(".close")).await.unwrap().click().await.unwrap();
    let launcher =
        b.js("return getComputedStyle(document.querySelector('[data-baton]').shadowRoot.querySelector('.launcher')).display", vec![]).await;
    assert_eq!(launcher, "flex");
    b.close().await;
}
