//! What a visitor notices in the first minutes (issue 14), in real Chromium against the real
//! worker: a page the site does not allow is told so once (and the site owner, in the console,
//! what to add) instead of retrying for ever; every word in the visitor's language — picked
//! from the browser, or `data-lang` — including the site's own strings and the engine's; one
//! email question per handoff; code blocks that scroll by keyboard and copy.

use baton_tests::browser::{eventually, Browser};
use baton_tests::host::{host_page, HostSite};
use baton_tests::*;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::Locator;
use serde_json::{json, Value};

/// Records `console.error` and counts WebSockets opened, before the widget loads.
const SPY: &str = "<script>window.__errors = []; const e = console.error; \
    console.error = function () { window.__errors.push([...arguments].join(' ')); return e.apply(console, arguments); }; \
    window.__sockets = 0; const W = WebSocket; \
    window.WebSocket = function (u, p) { window.__sockets++; return p === undefined ? new W(u) : new W(u, p); }; \
    window.WebSocket.prototype = W.prototype;</script>";

fn tag(w: &Wrangler, attrs: &str) -> String {
    format!(r#"<script src="{}/widget.js" data-site="widget-test" async {attrs}></script>"#, w.base())
}

async fn shadow(b: &Browser, script: &str) -> Value {
    b.js(&format!("const r = document.querySelector('[data-baton]').shadowRoot; {script}"), vec![]).await
}

#[tokio::test]
async fn a_page_the_site_does_not_allow_is_told_once_and_the_owner_what_to_add() {
    let w = Wrangler::start().await;
    let site = HostSite::start().await;
    // other.test: the same test site under a name `allowed_origins` does not list.
    let rules = format!("--host-resolver-rules={}, MAP other.test 127.0.0.1:{}", site.resolver_rule(), site.port);
    let b = Browser::start_with(1024, 900, &[rules]).await;
    site.page("/page.html", &host_page("Elsewhere", SPY, &tag(&w, ""), "<h1>Someone else's page</h1>"));
    // A returning visitor (a saved conversation): the widget would connect at once.
    b.client.goto("http://other.test/page.html").await.unwrap();
    b.js("localStorage.setItem('baton:widget-test', JSON.stringify({conversation_id: '0123456789abcdef0123456789abcdef', token: 't'})); location.reload();", vec![])
        .await;
    let widget = b.open_widget().await;
    eventually("the panel to say the chat is not available here", || async {
        (shadow(&b, "return r.querySelector('.panel').dataset.link;").await == "unavailable").then_some(())
    })
    .await;
    assert_eq!(b.texts(".status").await, ["The chat isn't available on this page."]);
    let state =
        shadow(&b, "return [r.querySelector('textarea').disabled, r.querySelector('.send').disabled, r.querySelector('.human').hidden];")
            .await;
    assert_eq!(state, json!([true, true, true]), "nothing to type into, nobody to ask");
    // The site owner learns which entry is missing, in the console.
    let errors = b.js("return window.__errors;", vec![]).await;
    let said = errors.as_array().unwrap().iter().filter_map(Value::as_str).find(|e| e.starts_with("Baton:")).map(String::from);
    let said = said.unwrap_or_else(|| panic!("no console error: {errors}"));
    assert!(said.contains("http://other.test") && said.contains("allowed_origins"), "{said}");
    // And it stops: back "online", the widget opens no new socket.
    let before = b.js("return window.__sockets;", vec![]).await;
    b.js("window.dispatchEvent(new Event('online'));", vec![]).await;
    assert_eq!(b.js("return window.__sockets;", vec![]).await, before, "a retry after the refusal");
    assert_eq!(shadow(&b, "return r.querySelector('.panel').dataset.link;").await, "unavailable");
    b.screenshot("widget-origin-not-allowed").await;
    let _ = widget;
    b.close().await;
}

/// Presses keys as a person would, on whatever has the focus.
async fn press(b: &Browser, keys: &[Key]) {
    let mut a = KeyActions::new("keyboard".into());
    for k in keys {
        a = a.then(KeyAction::Down { value: char::from(*k) }).then(KeyAction::Up { value: char::from(*k) });
    }
    b.client.perform_actions(a).await.unwrap();
}

#[tokio::test]
async fn every_word_in_the_visitors_language_and_one_email_question() {
    let w = Wrangler::start().await;
    let site = HostSite::start().await;

    // A French browser on the demo page, no data-lang: the widget speaks French by itself.
    // (The demo page is the worker's own origin, 127.0.0.1: a secure context, where the
    // clipboard API exists.)
    let rules = format!("--host-resolver-rules={}", site.resolver_rule());
    let fr = Browser::start_with(1024, 900, &["--lang=fr-FR".into(), "--accept-lang=fr-FR,fr".into()]).await;
    fr.client.goto(&w.base()).await.unwrap();
    assert_eq!(fr.js("return navigator.languages[0];", vec![]).await, "fr-FR", "the browser's language");
    fr.widget().await;
    assert_eq!(shadow(&fr, "return r.querySelector('.launcher').getAttribute('aria-label');").await, "Ouvrir le chat");
    let widget = fr.open_widget().await;
    // The site gives no French greeting: the widget's own, in French.
    eventually("the French greeting", || async { fr.texts(".greeting").await.first().filter(|g| g.starts_with("Bonjour !")).cloned() })
        .await;
    assert_eq!(shadow(&fr, "return r.querySelector('textarea').placeholder;").await, "Posez une question…");

    // What Chromium received for the widget (Resource Timing), compressed on the wire, kept for
    // the size budget's report (scripts/web.mjs). Locally wrangler dev's front-line emulation
    // re-encodes to the first coding a browser lists (gzip for Chromium); Cloudflare's edge
    // passes the worker's brotli on.
    let got = fr
        .js(
            "return Promise.all(performance.getEntriesByType('resource') \
               .filter(e => /\\/(widget\\.js|baton_widget\\.js|baton_widget_bg\\.wasm)$/.test(new URL(e.name).pathname)) \
               .map(e => fetch(e.name).then(r => [new URL(e.name).pathname.split('/').pop(), \
                 { encoded: e.encodedBodySize, decoded: e.decodedBodySize, encoding: r.headers.get('content-encoding') }])))",
            vec![],
        )
        .await;
    let files: serde_json::Map<String, Value> =
        got.as_array().unwrap().iter().map(|p| (p[0].as_str().unwrap().to_string(), p[1].clone())).collect();
    assert_eq!(files.len(), 3, "{got}");
    for (name, f) in &files {
        assert!(f["encoded"].as_u64().unwrap() < f["decoded"].as_u64().unwrap(), "{name} compressed on the wire: {f}");
    }
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("widget-received.json"), serde_json::to_string_pretty(&json!({ "files": files })).unwrap()).unwrap();

    // A code block wider than the panel: it scrolls, by keyboard too, and copies whole.
    fr.grant("clipboard-read").await;
    fr.grant("clipboard-write").await;
    fr.ask(&widget, "How do I embed the widget with a script tag?").await;
    eventually("the command", || async { (fr.texts(".msg.bot pre code").await.len() == 1).then_some(()) }).await;
    let pre = widget.find(Locator::Css(".msg.bot pre")).await.unwrap();
    let fits = shadow(
        &fr,
        "const p = r.querySelector('.msg.bot pre'), a = r.querySelector('.app').getBoundingClientRect(), q = p.getBoundingClientRect(); \
                           return [p.scrollWidth > p.clientWidth, q.right <= a.right, p.getAttribute('aria-label')];",
    )
    .await;
    assert_eq!(fits, json!([true, true, "Code"]), "scrolls inside the panel, labelled");
    shadow(&fr, "r.querySelector('.msg.bot pre').focus();").await;
    press(&fr, &[Key::Right, Key::Right, Key::Right, Key::End]).await;
    eventually("scrolled by the keyboard", || async {
        (shadow(&fr, "return r.querySelector('.msg.bot pre').scrollLeft;").await.as_f64()? > 0.0).then_some(())
    })
    .await;
    let _ = pre;
    widget.find(Locator::Css(".msg.bot .copy")).await.unwrap().click().await.unwrap();
    eventually("copied", || async { (fr.texts(".msg.bot .copy").await == ["Copié"]).then_some(()) }).await;
    let copied =
        fr.client.execute_async("navigator.clipboard.readText().then(arguments[0], e => arguments[0](String(e)));", vec![]).await.unwrap();
    assert!(copied.as_str().unwrap().starts_with("<script src=\"https://baton.example.workers.dev/widget.js\""), "{copied}");
    fr.screenshot("widget-code-block").await;

    // Nobody online: the engine's notice and its email form, in French.
    widget.find(Locator::Css(".human")).await.unwrap().click().await.unwrap();
    eventually("the email form", || async { widget.find(Locator::Css("form[data-action=email]")).await.ok() }).await;
    let notice = fr.texts(".system").await.join(" ");
    assert!(notice.contains("Personne de l'équipe n'est en ligne") && notice.contains("sous un jour ouvré"), "{notice}");
    assert_eq!(fr.texts("form[data-action=email] .form-title").await, ["Où l'équipe doit-elle vous répondre ?"]);
    assert_eq!(fr.texts("form[data-action=email] label").await, ["E-mail *"]);
    assert_eq!(fr.texts(".standing:not([hidden])").await, ["Vous êtes dans la file — l'équipe voit toute la conversation."]);
    fr.close().await;

    // data-lang="de": the site's German greeting, the engine's German words, German notices,
    // and one email question when a form that asks for it comes with the handoff.
    let de = Browser::start_with(1024, 900, &[rules]).await;
    site.page("/de.html", &host_page("Laden", "", &tag(&w, r#"data-lang="de""#), "<h1>Laden</h1>"));
    de.client.goto(&site.url("/de.html")).await.unwrap();
    let widget = de.open_widget().await;
    eventually("the site's German greeting", || async {
        de.texts(".greeting").await.first().filter(|g| *g == "Hallo! Frag mich zum Gizmo.").cloned()
    })
    .await;
    // The header holds its title and the longer German button on one line.
    let header = shadow(&de, "const h = r.querySelector('.header'), t = r.querySelector('.title'); \
                              return [h.getBoundingClientRect().height <= 56, getComputedStyle(t).whiteSpace, r.querySelector('.human').textContent];").await;
    assert_eq!(header, json!([true, "nowrap", "Mit einem Menschen sprechen"]));
    de.ask(&widget, "Wie hoch ist der Mount Everest?").await;
    let answer = eventually("the bot's answer", || async { de.texts(".msg.bot[data-seq] .text").await.first().cloned() }).await;
    assert!(answer.starts_with("Das habe ich in der Doku nicht gefunden"), "{answer}");
    de.ask(&widget, "Ich habe einen Bug gefunden").await;
    eventually("the bug form and the handoff", || async {
        (de.texts(".system").await.iter().any(|t| t.contains("niemand aus dem Team")) && de.texts("form.form").await.len() == 1)
            .then_some(())
    })
    .await;
    let notice = de.texts(".system").await.join(" ");
    assert!(
        notice.contains("innerhalb eines Werktags") && notice.contains("E-Mail-Adresse"),
        "the reply time and the email request: {notice}"
    );
    assert_eq!(shadow(&de, "return r.querySelectorAll('input[type=email]').length;").await, 1, "one email question");
    assert_eq!(de.texts("form[data-action=bug_report] .form-title").await, ["Hilf uns, es nachzustellen"]);
    // A refused field, in German.
    let email = widget.find(Locator::Css("form[data-action=bug_report] input[type=email]")).await.unwrap();
    email.send_keys("keine-adresse").await.unwrap();
    widget.find(Locator::Css("form[data-action=bug_report] button.submit")).await.unwrap().click().await.unwrap();
    let error = eventually("the field error", || async {
        de.texts("form[data-action=bug_report] .field-error").await.into_iter().find(|e| !e.is_empty())
    })
    .await;
    assert_eq!(error, "Gib eine E-Mail-Adresse wie name@example.com ein.");
    email.clear().await.unwrap();
    email.send_keys("kunde@example.com").await.unwrap();
    widget.find(Locator::Css("form[data-action=bug_report] button.submit")).await.unwrap().click().await.unwrap();
    eventually("sent", || async { de.texts(".done:not([hidden])").await.first().filter(|d| *d == "Danke — gesendet.").cloned() }).await;
    de.screenshot("widget-german").await;
    de.assert_accessible("widget-german-form").await;
    assert!(!w.log().contains("panicked"), "{}", w.log());
    de.close().await;
}
