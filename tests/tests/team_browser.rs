//! Issue 16 in real headless Chromium against a real worker (site `team-test`): a handoff is
//! assigned to the operator who is online — her "Mine" shows it, she is alerted, and the
//! visitor's widget says who will answer; she reassigns it by hand; she chooses which handoffs
//! reach her and the inbox's service worker shows a pushed notification; her reply reaches the
//! visitor who left by email, and the email's link opens that conversation in the widget.
//! Screenshots: target/screenshots/team-inbox.png, team-resume.png.

use baton_tests::browser::{eventually, within, Browser};
use baton_tests::*;
use fantoccini::Locator;
use serde_json::{json, Value};

const SITE: &str = "team-test";

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

async fn widget_text(b: &Browser) -> String {
    b.js("const r = document.querySelector('[data-baton]'); return r && r.shadowRoot ? r.shadowRoot.textContent : '';", vec![])
        .await
        .as_str()
        .unwrap_or_default()
        .into()
}

/// The text file of the last message `wrangler dev` logged for the send_email binding.
fn last_email(w: &Wrangler) -> Option<String> {
    let log = w.log();
    let block = log.rsplit("send_email binding called with MessageBuilder:").next().filter(|_| log.contains("send_email binding"))?;
    let path = block.lines().find_map(|l| l.trim().strip_prefix("Text: "))?;
    std::fs::read_to_string(path.trim()).ok().filter(|t| !t.is_empty())
}

#[tokio::test]
async fn assigned_alerted_reassigned_pushed_and_answered_by_email_in_the_browser() {
    let (vapid, _) = baton_tests::push_service::vapid_keys();
    let w = Wrangler::start_with_vars(&[("BATON_EMAIL_QUIET_MS", "300"), ("BATON_VAPID_PRIVATE_KEY", &vapid)]).await;
    let ann = Browser::start_viewport(1280, 800, 1.0, false).await;
    // Desktop notifications are allowed for the inbox (granted, then the page loads afresh).
    ann.client.goto(&format!("{}/inbox?site={SITE}", w.base())).await.unwrap();
    ann.grant("notifications").await;
    ann.client.goto(&format!("{}/inbox?site={SITE}", w.base())).await.unwrap();
    let field = ann.client.wait().at_most(WAIT).for_element(Locator::Css("input[name=email]")).await.unwrap();
    field.send_keys("ann@example.com").await.unwrap();
    ann.client.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("ann-password-1").await.unwrap();
    click(&ann, "form.login button").await;
    until_text(&ann, ".live", "live").await;

    // A visitor leaves an email and asks for a person, then leaves: Ann is online, so it is hers.
    let (id, token) = create_conversation(&w, SITE).await;
    let command = |body: Value| {
        let url = format!("{}/api/v1/sites/{SITE}/conversations/{id}/commands", w.base());
        let token = token.clone();
        async move {
            let r = http().post(url).bearer_auth(token).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        }
    };
    command(json!({"type": "submit_fields", "client_id": "f", "action": "email", "values": {"email": "vis@example.org"}})).await;
    command(json!({"type": "message", "client_id": "m", "text": "I need a person about my refund"})).await;
    until_text(&ann, ".view-mine .count", "1").await;
    until_text(&ann, ".row .assignee", "Ann from Support").await;
    // One alert for this wait: the handoff's chime and notification, which "Assigned to you"
    // then replaces quietly (the same tag) — never two chimes for one conversation.
    eventually("the alert for the handoff assigned to her", || async {
        let n = ann.js("const e = document.querySelector('.inbox'); return [e.dataset.alerts, e.dataset.notified];", vec![]).await;
        (n == json!(["1", "1"])).then_some(())
    })
    .await;

    // She opens it: assigned to her; she gives it to Bob, and the thread and the row say so.
    click(&ann, &format!(".row[data-id='{id}']")).await;
    until_text(&ann, ".assign-bar .assignee", "Assigned to Ann from Support").await;
    ann.js("const s = document.querySelector('select.assign'); s.value = 'bob@example.com'; s.dispatchEvent(new Event('change'));", vec![])
        .await;
    until_text(&ann, ".assign-bar .assignee", "Assigned to Bob by Ann from Support").await;
    eventually("the reassignment in the thread", || async {
        let t = ann.js("return [...document.querySelectorAll('.ev.assigned')].map(e => e.textContent).join('|');", vec![]).await;
        t.as_str().filter(|t| t.contains("Ann from Support assigned it to Bob")).map(|_| ())
    })
    .await;
    until_text(&ann, ".row .assignee", "→ Bob").await;
    ann.screenshot("team-inbox").await;

    // Notifications: every new handoff, by push — kept across a reload.
    click(&ann, ".notifications-button").await;
    click(&ann, ".notifications-panel input[value=all]").await;
    eventually("the choice saved", || async {
        let r =
            ann.js("return fetch('/api/v1/sites/team-test/notifications').then(r => r.json()).then(s => s.prefs.handoffs);", vec![]).await;
        (r == "all").then_some(())
    })
    .await;
    // The inbox's service worker shows a pushed message and links to the thread.
    let registered = ann
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             navigator.serviceWorker.register('/inbox/sw.js', {scope: '/inbox/'})
               .then(() => navigator.serviceWorker.getRegistration('/inbox/'))
               .then(r => new Promise(ok => { const w = r.installing || r.waiting || r.active;
                 if (w.state === 'activated') ok(r); else w.addEventListener('statechange', () => w.state === 'activated' && ok(r)); }))
               .then(r => done(r.scope), e => done('error: ' + e.message));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(registered, format!("{}/inbox/", w.base()));
    let message = json!({"title": "Assigned to you: vis@example.org", "body": "Trigger keyword", "url": format!("/inbox?site={SITE}&conversation={id}"), "tag": id, "conversation_id": id, "reason": "assigned"});
    let mut shown = Value::Null;
    // CDP names registrations by id; a fresh profile has just this one.
    ann.cdp("ServiceWorker.enable", json!({})).await.expect("the ServiceWorker domain");
    // A push delivered while the worker is still starting can be dropped: deliver again (to
    // each registration id CDP may have given it) until one is shown.
    'deliver: for _round in 0..4 {
        for registration in ["0", "1", "2"] {
            let delivered = ann
                .cdp(
                    "ServiceWorker.deliverPushMessage",
                    json!({"origin": w.base(), "registrationId": registration, "data": message.to_string()}),
                )
                .await;
            if let Err(e) = delivered {
                eprintln!("deliverPushMessage {registration}: {e}");
                continue;
            }
            let got = within(std::time::Duration::from_secs(3), || async {
                let n = ann
                    .client
                    .execute_async(
                        "const done = arguments[arguments.length - 1];
                         navigator.serviceWorker.getRegistration('/inbox/').then(r => r.getNotifications())
                           .then(ns => done(ns.map(n => ({title: n.title, body: n.body, tag: n.tag, url: n.data && n.data.url}))));",
                        vec![],
                    )
                    .await
                    .unwrap();
                n.as_array().filter(|a| !a.is_empty()).map(|_| n.clone())
            })
            .await;
            if let Some(n) = got {
                shown = n;
                break 'deliver;
            }
        }
    }
    assert!(shown.as_array().is_some_and(|a| !a.is_empty()), "the service worker showed no pushed notification");
    assert_eq!(shown[0]["title"], "Assigned to you: vis@example.org", "{shown}");
    assert_eq!(shown[0]["tag"], id.as_str());
    assert_eq!(shown[0]["url"], format!("/inbox?site={SITE}&conversation={id}"));

    // Ann replies; the visitor is away: one email, whose link opens the conversation again.
    let cookie = login(&w, SITE, "ann@example.com", "ann-password-1").await;
    let mut op = Ws::operator(&w, SITE, &id, &cookie, 0).await;
    op.message("r1", "Your refund is on its way.").await;
    op.ack("r1").await;
    let email = eventually("the reply by email", || async { last_email(&w) }).await;
    assert!(email.contains("Your refund is on its way."), "{email}");
    let link = email.lines().find_map(|l| l.strip_prefix("Continue the conversation: ")).unwrap().to_string();

    let visitor = Browser::start(1024, 768).await;
    visitor.client.goto(&link).await.unwrap();
    let shown = eventually("the conversation in the widget", || async {
        let t = widget_text(&visitor).await;
        t.contains("Your refund is on its way.").then_some(t)
    })
    .await;
    assert!(shown.contains("I need a person about my refund"), "{shown}");
    assert!(shown.contains("Ann from Support will be with you shortly.") && shown.contains("Bob will be with you shortly."), "{shown}");
    assert!(!shown.contains("assigned it to"), "who assigned it stays with the team: {shown}");
    assert!(!visitor.client.current_url().await.unwrap().as_str().contains("s="), "the signature leaves the address bar");
    visitor.screenshot("team-resume").await;
    assert!(!w.log().contains("panicked"), "{}", w.log());
}
