//! The operator inbox in real headless Chromium against a real worker: an operator signs in, a
//! visitor in a second browser asks for a person, and the operator works the handoff from the
//! list to resolved — with the keyboard where the daily loop has a shortcut — while a colleague
//! acts on the same conversations over the API. Then the insights page shows that session.
//! A second test lays the inbox out on a tablet. Screenshots: target/screenshots/inbox-*.png
//! (list, briefing, conversation, insights at 1280×800; tablet-list, tablet-conversation).

use baton_tests::browser::{eventually, Browser};
use baton_tests::*;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::Locator;
use serde_json::{json, Value};

/// `ratio(el)`: the WCAG contrast of an element's text against its (first opaque) background.
const CONTRAST: &str = "const lum = c => { const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(v => { v /= 255; \
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; }; \
    const bg = el => { for (let e = el; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor, m = c.match(/[\\d.]+/g); \
      if (m && (m.length < 4 || +m[3] > 0)) return c; } return 'rgb(255, 255, 255)'; }; \
    const ratio = el => { const a = lum(getComputedStyle(el).color), b = lum(bg(el)); return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); };";

/// Text of the first element matching `css` in the page (not the widget), if any.
async fn text(b: &Browser, css: &str) -> Option<String> {
    b.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", vec![json!(css)])
        .await
        .as_str()
        .map(String::from)
}

async fn texts(b: &Browser, css: &str) -> Vec<String> {
    let v = b.js("return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);", vec![json!(css)]).await;
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap_or_default().to_string()).collect()
}

async fn count(b: &Browser, css: &str) -> usize {
    b.js("return document.querySelectorAll(arguments[0]).length;", vec![json!(css)]).await.as_u64().unwrap() as usize
}

/// Waits until the element's text contains `want`; returns the text.
async fn until_text(b: &Browser, css: &str, want: &str) -> String {
    eventually(&format!("{css} to show {want:?}"), || async { text(b, css).await.filter(|t| t.contains(want)) }).await
}

async fn click(b: &Browser, css: &str) {
    b.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap_or_else(|_| panic!("no {css}")).click().await.unwrap();
}

/// Presses keys as a person would, on whatever has the focus.
async fn press(b: &Browser, keys: &str) {
    let mut actions = KeyActions::new("keyboard".into());
    for k in keys.chars() {
        actions = actions.then(KeyAction::Down { value: k }).then(KeyAction::Up { value: k });
    }
    b.client.perform_actions(actions).await.expect("key presses");
}

/// Presses a shortcut with nothing focused (as after Escape, or a click on the page).
async fn shortcut(b: &Browser, key: char) {
    b.js("document.activeElement && document.activeElement.blur();", vec![]).await;
    press(b, &key.to_string()).await;
}

async fn sign_in(b: &Browser, w: &Wrangler, email: &str, password: &str) {
    b.client.goto(&format!("{}/inbox", w.base())).await.unwrap();
    let field = b.client.wait().at_most(WAIT).for_element(Locator::Css("input[name=email]")).await.unwrap();
    field.send_keys(email).await.unwrap();
    b.client.find(Locator::Css("input[name=password]")).await.unwrap().send_keys(password).await.unwrap();
    click(b, "form.login button").await;
    b.client.wait().at_most(WAIT).for_element(Locator::Css(".top .me")).await.unwrap();
}

/// The widget's whole text in the visitor's browser.
async fn widget_text(visitor: &Browser) -> String {
    visitor
        .js("const r = document.querySelector('[data-baton]'); return r ? r.shadowRoot.textContent : '';", vec![])
        .await
        .as_str()
        .unwrap()
        .into()
}

#[tokio::test]
async fn an_operator_works_a_handoff_from_the_list_to_resolved_and_reads_insights() {
    let w = Wrangler::start().await;
    let ann = Browser::start_viewport(1280, 800, 1.0, false).await;
    let visitor = Browser::start(1024, 768).await;

    // The sign-in page passes axe; a refused sign-in says why and leaves the focus on the
    // password, not on the page's body.
    ann.client.goto(&format!("{}/inbox", w.base())).await.unwrap();
    let email = ann.client.wait().at_most(WAIT).for_element(Locator::Css("input[name=email]")).await.unwrap();
    ann.assert_accessible("inbox-sign-in").await;
    email.send_keys("ann@example.com").await.unwrap();
    ann.client.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("not-her-password").await.unwrap();
    click(&ann, "form.login button").await;
    until_text(&ann, ".login-error", "wrong email or password").await;
    let focus = ann.js("return document.activeElement.getAttribute('name');", vec![]).await;
    assert_eq!(focus, "password", "the focus after a refused sign-in");
    ann.assert_accessible("inbox-sign-in-refused").await;

    // Ann signs in; desktop notifications are allowed for the inbox.
    ann.grant("notifications").await;
    sign_in(&ann, &w, "ann@example.com", "ann-password-1").await;
    assert_eq!(text(&ann, ".top .me").await.as_deref(), Some("Ann"));
    until_text(&ann, ".presence", "Ann").await;
    assert_eq!(ann.client.title().await.unwrap(), "Baton inbox");

    // The visitor gets a cited answer, finds it helpful, then asks for a person.
    visitor.client.goto(&format!("{}/", w.base())).await.unwrap();
    let widget = visitor.open_widget().await;
    visitor.ask(&widget, "How are operator passwords stored?").await;
    eventually("a cited answer", || async { widget.find(Locator::Css(".msg.bot .sources a")).await.ok() }).await;
    widget.find(Locator::Css(".msg.bot .feedback button.up")).await.unwrap().click().await.unwrap();
    visitor.ask(&widget, "I was charged twice — can I talk to a person?").await;

    // The row appears at once, waiting, with the reason; a chime and a notification; the tab
    // title counts it; the waiting time ticks.
    let row = ".row[data-status=waiting_for_human]";
    until_text(&ann, &format!("{row} .reason"), "Visitor asked for a person").await;
    assert!(text(&ann, &format!("{row} .preview")).await.unwrap().contains("I was charged twice"), "what the visitor said last");
    assert_eq!(texts(&ann, &format!("{row} .tags .tag")).await, ["billing"]);
    eventually("the tab title to count it", || async { (ann.client.title().await.ok()? == "(1) waiting · Baton inbox").then_some(()) })
        .await;
    eventually("a chime and a desktop notification", || async {
        let alerts = ann.js("const e = document.querySelector('.inbox'); return [e.dataset.alerts, e.dataset.notified];", vec![]).await;
        (alerts == json!(["1", "1"])).then_some(())
    })
    .await;
    let first = text(&ann, &format!("{row} .waiting")).await.unwrap();
    eventually("the waiting time to tick", || async { text(&ann, &format!("{row} .waiting")).await.filter(|t| *t != first) }).await;
    // Unread counts what still waits for an answer: the question the bot answered does not.
    assert_eq!(text(&ann, &format!("{row} .unread")).await.as_deref(), Some("1"));
    // Each row is reached by Tab: a link to the conversation, named by the visitor.
    let link = ann
        .js(
            &format!("const a = document.querySelector('{row} a.who'); return [a.getAttribute('href'), a.getAttribute('aria-current')];"),
            vec![],
        )
        .await;
    assert!(link[0].as_str().unwrap().contains("&c="), "{link}");
    assert_eq!(link[1], Value::Null, "not the open one yet");
    ann.screenshot("inbox-list").await;
    ann.assert_accessible("inbox-list").await;

    // Opened with `n` (the one waiting longest): the briefing says what the visitor wants, what
    // the bot tried and cited, why a person is needed and where the visitor is; the thread is
    // complete, in order.
    shortcut(&ann, 'n').await;
    until_text(&ann, ".briefing .why .reason", "Visitor asked for a person").await;
    assert!(text(&ann, ".briefing .why").await.unwrap().contains("talk to a person"), "the evidence");
    // What the visitor wants is what they asked at the handoff; their first question is context.
    let wants = text(&ann, ".briefing .wants").await.unwrap();
    assert!(wants.starts_with("I was charged twice"), "{wants}");
    assert_eq!(text(&ann, ".briefing .wants .first").await.as_deref(), Some("First asked: How are operator passwords stored?"));
    assert_eq!(text(&ann, ".briefing .tried a.cite").await.as_deref(), Some("FAQ › How are operator passwords stored?"));
    // The bot's Markdown is read as words, in the briefing and in the list.
    let tried = text(&ann, ".briefing .tried .a").await.unwrap();
    assert!(!tried.is_empty() && !tried.contains('`') && !tried.contains("**"), "{tried}");
    assert!(texts(&ann, ".row .preview").await.iter().all(|p| !p.contains('`')));
    // The briefing is open while the visitor waits, and the thread still starts on the first
    // screen at 1280×800.
    let fold = ann
        .js("const b = document.querySelector('.briefing'), e = document.querySelector('.events .ev'), s = document.querySelector('.scroll'); \
             return [b.open, e.getBoundingClientRect().top < s.getBoundingClientRect().bottom - 40, innerHeight];", vec![])
        .await;
    assert_eq!(fold, json!([true, true, 800]), "the first event of the thread above the fold");
    let current = ann.js(&format!("return document.querySelector('{row} a.who').getAttribute('aria-current');"), vec![]).await;
    assert_eq!(current, "true", "the open row is marked current");
    until_text(&ann, ".events", "I was charged twice").await;
    let kinds = ann.js("return [...document.querySelectorAll('.events .ev')].map(e => e.className);", vec![]).await;
    let kinds: Vec<&str> = kinds.as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    let first_bot = kinds.iter().position(|k| k.contains("bot")).unwrap();
    let handoff = kinds.iter().position(|k| k.contains("handoff")).unwrap();
    assert!(kinds[0].contains("system") && kinds[1].contains("visitor") && first_bot == 2 && handoff > first_bot, "{kinds:?}");
    let cite = ann.client.find(Locator::Css(".ev.bot .sources a")).await.unwrap();
    assert_eq!(cite.text().await.unwrap(), "FAQ › How are operator passwords stored?");
    assert!(cite.attr("href").await.unwrap().unwrap().contains("/docs/faq#"));
    assert!(text(&ann, ".ev.bot .confidence").await.unwrap().starts_with("confidence 0."));
    assert!(text(&ann, ".ev.system.feedback").await.unwrap().contains("helpful"));
    // The visitor's page, live.
    visitor.js("history.pushState({}, '', '/pricing'); document.title = 'Pricing plans';", vec![]).await;
    until_text(&ann, ".briefing .page-now", "Pricing plans").await;
    let terms = texts(&ann, ".briefing dt").await;
    assert_eq!(terms[terms.len() - 2..], ["Page at handoff", "Page now"]);
    assert!(!text(&ann, ".briefing .page-then").await.unwrap().contains("Pricing plans"), "the page at the handoff stays");
    ann.screenshot("inbox-briefing").await;

    // Take over with the keyboard: the visitor sees "Ann joined".
    shortcut(&ann, 't').await;
    eventually("'Ann joined' in the widget", || async {
        (widget.find(Locator::Css(".joined strong")).await.ok()?.text().await.ok()? == "Ann joined").then_some(())
    })
    .await;
    until_text(&ann, ".conv-title .state", "With Ann").await;

    // Reply: the visitor sees Ann typing, then the message (Shift+Enter made a line break).
    shortcut(&ann, 'r').await;
    press(&ann, "Hi! Ann here").await;
    eventually("Ann typing, in the widget", || async { visitor.texts(".typing").await.concat().contains("Ann is typing").then_some(()) })
        .await;
    let area = ann.client.find(Locator::Css(".composer textarea")).await.unwrap();
    area.send_keys(&format!("{}{}{}", Key::Shift, Key::Enter, Key::Null)).await.unwrap();
    area.send_keys("<b onmouseover=\"window.__xss=3\">refunds take 5 days</b>").await.unwrap();
    area.send_keys(&Key::Enter.to_string()).await.unwrap();
    let reply = eventually("the reply in the widget", || async {
        let t = visitor.texts(".msg.operator").await.concat();
        t.contains("refunds take 5 days").then_some(t)
    })
    .await;
    assert!(reply.contains("Hi! Ann here\n<b onmouseover=\"window.__xss=3\">refunds take 5 days</b>"), "{reply:?}");
    eventually("typing to stop", || async { (!visitor.texts(".typing").await.concat().contains("Ann is typing")).then_some(()) }).await;

    // A private note: shown to the team, visually apart, never to the visitor.
    press(&ann, &Key::Escape.to_string()).await;
    shortcut(&ann, 'p').await;
    press(&ann, "Finance approved the refund").await;
    press(&ann, &Key::Enter.to_string()).await;
    until_text(&ann, ".ev.note", "Finance approved the refund").await;
    assert!(text(&ann, ".ev.note .only-team").await.is_some());
    // A canned reply, inserted with "/": the visitor gets it — and still not the note.
    press(&ann, &Key::Escape.to_string()).await;
    shortcut(&ann, 'r').await;
    press(&ann, "/th").await;
    until_text(&ann, ".canned .canned-item", "/thanks").await;
    press(&ann, &Key::Enter.to_string()).await;
    let value = ann.js("return document.querySelector('.composer textarea').value;", vec![]).await;
    assert_eq!(value, "Thanks for reaching out! Let me look into this for you.");
    press(&ann, &Key::Enter.to_string()).await;
    eventually("the canned reply in the widget", || async {
        visitor.texts(".msg.operator").await.concat().contains("Thanks for reaching out").then_some(())
    })
    .await;
    assert!(!widget_text(&visitor).await.contains("Finance approved"), "the visitor saw a private note");

    // A colleague on the same conversation: Bob's note shows up for Ann at once.
    let bob = login(&w, "demo", "bob@example.com", "bob-password-1").await;
    let conv1 = ann.js("return document.querySelector('.conversation').dataset.id;", vec![]).await.as_str().unwrap().to_string();
    let mut bob_ws = Ws::operator(&w, "demo", &conv1, &bob, 0).await;
    bob_ws.send(&json!({"type": "note", "client_id": "b1", "text": "Bob here: I checked the charge"})).await;
    until_text(&ann, ".events", "Bob here: I checked the charge").await;
    ann.screenshot("inbox-conversation").await;
    ann.assert_accessible("inbox-thread").await;

    // Tags: add one, and the list filters by it.
    let tag = ann.client.find(Locator::Css(".add-tag")).await.unwrap();
    tag.send_keys("vip").await.unwrap();
    tag.send_keys(&Key::Enter.to_string()).await.unwrap();
    until_text(&ann, ".tag-bar .tags", "vip").await;
    // A second conversation, with markup everywhere a visitor can put it.
    let (conv2, token) = create_conversation(&w, "demo").await;
    let mut v2 = Ws::visitor(&w, "demo", &conv2, &token, 0).await;
    v2.send(&json!({"type": "page", "page": {"url": "javascript:window.__xss=4", "title": "<script>window.__xss=2</script>Pricing"}}))
        .await;
    v2.send(
        &json!({"type": "message", "client_id": "x1", "text": "What is the capital of Mongolia? <img src=x onerror=\"window.__xss=1\">"}),
    )
    .await;
    v2.expect_event("bot_answer").await;
    click(&ann, ".view-open").await;
    eventually("both conversations under All open", || async { (count(&ann, ".list .row").await == 2).then_some(()) }).await;
    ann.client.find(Locator::Css(".tag-filter")).await.unwrap().select_by_value("vip").await.unwrap();
    eventually("the tag filter", || async {
        let ids = ann.js("return [...document.querySelectorAll('.list .row')].map(r => r.dataset.id);", vec![]).await;
        (ids == json!([conv1])).then_some(())
    })
    .await;
    ann.client.find(Locator::Css(".tag-filter")).await.unwrap().select_by_value("").await.unwrap();
    ann.client.find(Locator::Css(".status-filter")).await.unwrap().select_by_value("bot").await.unwrap();
    eventually("the status filter", || async {
        let ids = ann.js("return [...document.querySelectorAll('.list .row')].map(r => r.dataset.id);", vec![]).await;
        (ids == json!([conv2])).then_some(())
    })
    .await;
    ann.client.find(Locator::Css(".status-filter")).await.unwrap().select_by_value("").await.unwrap();
    // Search, answered by the server from the thread's text.
    let search = ann.client.find(Locator::Css(".filters .search")).await.unwrap();
    search.send_keys("charged twice").await.unwrap();
    search.send_keys(&Key::Enter.to_string()).await.unwrap();
    until_text(&ann, ".search-note", "1 found").await;
    let ids = ann.js("return [...document.querySelectorAll('.list .row')].map(r => r.dataset.id);", vec![]).await;
    assert_eq!(ids, json!([conv1]));
    click(&ann, ".clear-search").await;

    // The markup is shown as text: nothing ran, no element was made from it, no unsafe link.
    let row2 = format!(".row[data-id='{conv2}']");
    until_text(&ann, &format!("{row2} .page"), "<script>window.__xss=2</script>Pricing").await;
    click(&ann, &row2).await;
    until_text(&ann, ".ev.visitor .text", "<img src=x onerror=\"window.__xss=1\">").await;
    until_text(&ann, ".briefing .page", "<script>window.__xss=2</script>Pricing").await;
    // A colleague's private note with markup, live in Ann's open thread: text too.
    let mut bob_note = Ws::operator(&w, "demo", &conv2, &bob, 1 << 40).await;
    bob_note.send(&json!({"type": "note", "client_id": "n-x", "text": "see <img src=x onerror=\"window.__xss=9\"> <a href=\"javascript:window.__xss=10\">log</a>"})).await;
    bob_note.ack("n-x").await;
    until_text(&ann, ".ev.note .text", "<img src=x onerror=\"window.__xss=9\">").await;
    assert_eq!(count(&ann, ".inbox img, .briefing .page a, .row .page a[href^='javascript'], .ev.note a").await, 0);
    assert_eq!(ann.js("return typeof window.__xss;", vec![]).await, "undefined");

    // A take-over race: Bob got there first; Ann is told.
    let mut bob2 = Ws::operator(&w, "demo", &conv2, &bob, 0).await;
    bob2.send(&json!({"type": "take_over", "client_id": "t2"})).await;
    bob2.expect(|m| m["type"] == "ack" && m["client_id"] == "t2").await;
    until_text(&ann, ".conv-title .state", "With Bob").await;
    shortcut(&ann, 't').await;
    let toast = until_text(&ann, ".toast[data-code=conflict]", "Bob already owns this conversation").await;
    assert!(toast.contains("ask them to leave it or hand it back"), "{toast}");

    // Resolve the first one with the keyboard: it leaves Waiting and shows under Resolved.
    click(&ann, &format!(".row[data-id='{conv1}']")).await;
    until_text(&ann, ".conversation", "Bob here").await;
    shortcut(&ann, 'e').await;
    until_text(&ann, ".conv-title .state", "Resolved").await;
    click(&ann, ".view-waiting").await;
    until_text(&ann, ".list", "Nobody is waiting for a human.").await;
    eventually("the title to drop the count", || async { (ann.client.title().await.ok()? == "Baton inbox").then_some(()) }).await;
    click(&ann, ".view-resolved").await;
    eventually("the row under Resolved", || async {
        let ids = ann.js("return [...document.querySelectorAll('.list .row')].map(r => r.dataset.id);", vec![]).await;
        (ids == json!([conv1])).then_some(())
    })
    .await;
    click(&ann, &format!(".row[data-id='{conv1}']")).await;
    // Reopened, then given back to the bot.
    click(&ann, ".conversation .reopen").await;
    until_text(&ann, ".conv-title .state", "With Ann").await;
    click(&ann, ".conversation .hand-back").await;
    until_text(&ann, ".conv-title .state", "With the bot").await;
    until_text(&ann, ".events", "Ann handed the conversation back to the bot").await;
    let fits =
        ann.js("return document.documentElement.scrollWidth <= innerWidth && innerWidth === 1280 && innerHeight === 800;", vec![]).await;
    assert_eq!(fits, true, "the inbox fits 1280×800 without sideways scrolling");

    // Insights: the counts of this session, the same as the JSON export.
    click(&ann, ".nav-insights").await;
    until_text(&ann, ".kpi-conversations .value", "2").await;
    let api: Value = http()
        .get(format!("{}/api/v1/sites/demo/insights?days=30", w.base()))
        .header("cookie", &bob)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((api["conversations"].as_u64(), api["handoffs"].as_u64(), api["answered_by_bot"].as_u64()), (Some(2), Some(1), Some(0)));
    assert_eq!(text(&ann, ".kpi-handoffs .value").await.as_deref(), Some("1"));
    assert_eq!(text(&ann, ".kpi-deflection .value").await.as_deref(), Some("0%"));
    assert_eq!(text(&ann, ".kpi-feedback .value").await.as_deref(), Some("100%"));
    assert!(text(&ann, ".kpi-reply .note").await.unwrap().contains("over 1 handoffs"));
    assert_eq!(texts(&ann, ".chart-reasons g.reason .label").await, ["Visitor asked for a person"]);
    assert!(texts(&ann, ".unanswered .gap .question").await[0].contains("capital of Mongolia"));
    assert!(texts(&ann, ".citations .cited").await[0].contains("FAQ › How are operator passwords stored?"));
    assert_eq!(count(&ann, ".chart-days svg g.day").await, 30);
    // Counts in tables are plain figures, not the header's badges.
    assert_eq!(count(&ann, ".insights .count").await, 0);
    assert!(count(&ann, ".citations .cited .tally").await >= 1);
    // The most cited section opens on the demo's docs page, at its heading.
    let cited = ann.js("return document.querySelector('.citations .cited a').getAttribute('href');", vec![]).await;
    let cited = cited.as_str().unwrap();
    let (page, anchor) = cited.split_once('#').unwrap();
    let r = http().get(format!("{}{page}", w.base())).send().await.unwrap();
    assert_eq!(r.status(), 200, "{cited}");
    assert!(r.text().await.unwrap().contains(&format!("id=\"{anchor}\"")), "{cited}: the heading is on the page");
    // The active tab keeps its contrast under the pointer.
    let tab = ann.client.find(Locator::Css(".nav-insights")).await.unwrap();
    ann.client
        .perform_actions(fantoccini::actions::MouseActions::new("mouse".into()).then(fantoccini::actions::PointerAction::MoveToElement {
            element: tab,
            duration: None,
            x: 0.0,
            y: 0.0,
        }))
        .await
        .unwrap();
    let hovered = ann
        .js(&format!("{CONTRAST} const t = document.querySelector('.nav-insights'); return t.matches(':hover') ? ratio(t) : -1;"), vec![])
        .await;
    assert!(hovered.as_f64().unwrap() >= 4.5, "the hovered active tab: {hovered}:1");
    // The view is in the URL: a reload comes back to it, range included.
    click(&ann, ".range button:first-child").await;
    until_text(&ann, ".kpi-conversations .note", "last 7 days").await;
    ann.client.refresh().await.unwrap();
    until_text(&ann, ".kpi-conversations .note", "last 7 days").await;
    assert_eq!(text(&ann, ".range button.active").await.as_deref(), Some("7 days"));
    ann.screenshot("inbox-insights").await;
    ann.assert_accessible("inbox-insights").await;

    // Signing out ends it.
    click(&ann, ".sign-out").await;
    ann.client.wait().at_most(WAIT).for_element(Locator::Css("form.login")).await.unwrap();
    assert!(!w.log().contains("panicked"), "{}", w.log());
    visitor.close().await;
    ann.close().await;
}

#[tokio::test]
async fn the_inbox_works_on_a_tablet() {
    let w = Wrangler::start().await;
    // A conversation waiting for a person.
    let (id, token) = create_conversation(&w, "demo").await;
    let mut v = Ws::visitor(&w, "demo", &id, &token, 0).await;
    v.send(&json!({"type": "message", "client_id": "m1", "text": "How are operator passwords stored?"})).await;
    v.expect_event("bot_answer").await;
    v.send(&json!({"type": "request_human", "client_id": "h1"})).await;
    v.expect_event("handoff_requested").await;

    let tablet = Browser::start_viewport(820, 1180, 2.0, true).await;
    sign_in(&tablet, &w, "bob@example.com", "bob-password-1").await;
    let row = ".row[data-status=waiting_for_human]";
    until_text(&tablet, &format!("{row} .reason"), "pressed").await;
    let no_sideways = "return document.documentElement.scrollWidth <= innerWidth;";
    assert_eq!(tablet.js(no_sideways, vec![]).await, true);
    tablet.screenshot("inbox-tablet-list").await;

    // One column at a time: the conversation replaces the list, with a way back.
    click(&tablet, row).await;
    until_text(&tablet, ".briefing .why .reason", "pressed").await;
    assert_eq!(tablet.js("return getComputedStyle(document.querySelector('.list-pane')).display;", vec![]).await, "none");
    click(&tablet, ".conversation .take-over").await;
    until_text(&tablet, ".conv-title .state", "With Bob").await;
    let area = tablet.client.find(Locator::Css(".composer textarea")).await.unwrap();
    area.send_keys("On it!").await.unwrap();
    click(&tablet, ".composer .send").await;
    v.expect_event("operator_message").await;
    assert_eq!(tablet.js(no_sideways, vec![]).await, true);
    tablet.screenshot("inbox-tablet-conversation").await;
    click(&tablet, ".conversation .back").await;
    until_text(&tablet, ".list", "Nobody is waiting for a human.").await;
    click(&tablet, ".view-mine").await;
    until_text(&tablet, ".row[data-status=human] .owner", "Bob").await;
    assert!(!w.log().contains("panicked"), "{}", w.log());
    tablet.close().await;
}
