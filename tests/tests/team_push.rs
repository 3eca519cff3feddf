//! Web Push to operators on real workerd (issue 16): devices registered like a browser does,
//! pushes received by a push service on loopback that checks the VAPID JWT and decrypts the
//! `aes128gcm` body with the device's own private key (tests/src/push_service.rs) — real
//! cryptography on both sides. An expired subscription (410) is forgotten.

use baton_tests::push_service::{vapid_keys, PushService};
use baton_tests::*;
use serde_json::{json, Value};

const SITE: &str = "team-test";

async fn settings(w: &Wrangler, cookie: &str) -> Value {
    let r = http().get(format!("{}/api/v1/sites/{SITE}/notifications", w.base())).header("cookie", cookie).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    r.json().await.unwrap()
}

async fn subscribe(w: &Wrangler, cookie: &str, subscription: &Value) {
    let r = http()
        .post(format!("{}/api/v1/sites/{SITE}/push/subscriptions", w.base()))
        .header("cookie", cookie)
        .json(subscription)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

#[tokio::test]
async fn handoffs_are_pushed_encrypted_and_signed_to_the_assignee_and_to_whoever_wants_all() {
    let service = PushService::start().await;
    let (private, public) = vapid_keys();
    let w = Wrangler::start_with_vars(&[("BATON_VAPID_PRIVATE_KEY", &private), ("BATON_VAPID_SUBJECT", "mailto:ops@team.test")]).await;
    let ann = login(&w, SITE, "ann@example.com", "ann-password-1").await;
    let bob = login(&w, SITE, "bob@example.com", "bob-password-1").await;

    // The browser asks for the key to subscribe with; Ann turns notifications on for her laptop
    // and an old phone whose subscription has expired at the push service.
    assert_eq!(settings(&w, &ann).await["vapid_public_key"], public.as_str());
    let laptop = service.device("/push/ann-laptop");
    let phone = service.device("/push/ann-phone");
    service.answer_next("/push/ann-phone", &[410]);
    subscribe(&w, &ann, &laptop.subscription(&service)).await;
    subscribe(&w, &ann, &phone.subscription(&service)).await;
    // Bob wants every handoff, on his desktop.
    let desktop = service.device("/push/bob-desktop");
    subscribe(&w, &bob, &desktop.subscription(&service)).await;
    let r = http()
        .put(format!("{}/api/v1/sites/{SITE}/notifications", w.base()))
        .header("cookie", &bob)
        .json(&json!({"handoffs": "all", "channel": "push"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["prefs"], json!({"handoffs": "all", "channel": "push"}));

    // Ann is online (so she is assigned); Bob is not — his desktop still hears of the handoff.
    let (_inbox, _) = Ws::inbox(&w, SITE, &ann).await;
    let (id, token) = create_conversation(&w, SITE).await;
    let mut visitor = Ws::visitor(&w, SITE, &id, &token, 0).await;
    visitor.message("m1", "Can I talk to a person about a refund for order 1234?").await;
    visitor.expect_event("handoff_requested").await;

    let got = service
        .wait_until("the pushes to Ann's laptop and Bob's desktop", |p| {
            p.iter().any(|x| x.path == "/push/ann-laptop")
                && p.iter().any(|x| x.path == "/push/bob-desktop")
                && p.iter().any(|x| x.path == "/push/ann-phone")
        })
        .await;
    for p in &got {
        assert_eq!(p.vapid.as_deref(), Ok("mailto:ops@team.test"), "{p:#?}");
        assert!(p.message.is_ok(), "{p:#?}");
        assert_eq!(p.headers.get("content-encoding").map(String::as_str), Some("aes128gcm"));
        assert_eq!(p.headers.get("topic").map(String::as_str), Some(id.as_str()), "one notification per conversation");
    }
    let laptop_msg = got.iter().find(|x| x.path == "/push/ann-laptop").unwrap().message.clone().unwrap();
    assert_eq!(laptop_msg["title"], "Assigned to you: A visitor");
    assert_eq!(laptop_msg["reason"], "assigned");
    assert!(laptop_msg["body"].as_str().unwrap().contains("“Can I talk to a person about a refund"), "{laptop_msg}");
    assert_eq!(laptop_msg["url"], format!("{}/inbox?site={SITE}&conversation={id}", w.base()));
    let desk = got.iter().find(|x| x.path == "/push/bob-desktop").unwrap().message.clone().unwrap();
    assert_eq!(desk["title"], "Waiting for a human: A visitor");
    assert_eq!(desk["reason"], "waiting");

    // The phone's subscription was gone (410): the device is forgotten, the laptop stays.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let s = settings(&w, &ann).await;
        let devices = s["devices"].as_array().unwrap().len();
        if devices == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the expired device was not forgotten: {s:#}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Bad subscriptions get typed errors.
    let r = http()
        .post(format!("{}/api/v1/sites/{SITE}/push/subscriptions", w.base()))
        .header("cookie", &ann)
        .json(&json!({"endpoint": "http://push.example.com/x", "keys": {"p256dh": "x", "auth": "y"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "endpoint");
    let r = http().get(format!("{}/api/v1/sites/{SITE}/notifications", w.base())).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // The service worker that shows them is served for the inbox's scope.
    let r = http().get(format!("{}/inbox/sw.js", w.base())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(r.text().await.unwrap().contains("showNotification"));
    assert!(!w.log().contains("panicked"), "{}", w.log());
}
