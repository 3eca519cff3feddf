//! Notification benchmark (`./baton bench notify`): how fast a handoff reaches an operator's
//! device as a Web Push, and how assignment copes with a burst. Real worker on loopback
//! (`wrangler dev`, Durable Object storage on a tmpfs when there is one), real cryptography: the
//! loopback push service checks each VAPID JWT and decrypts each message with the device's key
//! (tests/src/push_service.rs). Prints figures and writes `target/bench/notify.json`; asserts
//! nothing about time.
//!
//! 1. Handoff → push: one visitor at a time presses "Talk to a human"; Ann is online with
//!    "every new handoff" on one device. Latency from sending the frame to the push service
//!    having decrypted (a) the "waiting" push and (b) the "assigned to you" push (Ann is
//!    assigned each one; it is resolved afterwards, so her capacity never fills).
//! 2. Burst: 20 handoffs at once, Ann, Bob and Cy online with capacity 5 each, Dee away. Time
//!    until the fifteenth assignment shows in the list; who got how many; each conversation's
//!    log checked for exactly one assignment; none for Dee.
//!
//! Options: `--handoffs N` (default 40).

use baton_tests::push_service::{vapid_keys, PushService};
use baton_tests::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Instant;

const SITE: &str = "team-test";

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn stats(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    json!({"n": v.len(), "p50_ms": percentile(&v, 0.5), "p95_ms": percentile(&v, 0.95), "max_ms": v.last().copied().unwrap_or(0.0)})
}

async fn rows(w: &Wrangler, cookie: &str) -> Vec<Value> {
    let r = http().get(format!("{}/api/v1/sites/{SITE}/inbox/rows?view=all", w.base())).header("cookie", cookie).send().await.unwrap();
    r.json::<Value>().await.unwrap()["rows"].as_array().unwrap().clone()
}

async fn handoff_latency(n: usize) -> Value {
    let service = PushService::start().await;
    let (private, _) = vapid_keys();
    let tmp = std::path::Path::new("/dev/shm");
    let vars = [("BATON_VAPID_PRIVATE_KEY", private.as_str()), ("BATON_VAPID_SUBJECT", "mailto:bench@team.test")];
    let w = if tmp.is_dir() { Wrangler::start_in(tmp, &vars).await } else { Wrangler::start_with_vars(&vars).await };
    let ann = login(&w, SITE, "ann@example.com", "ann-password-1").await;
    let device = service.device("/push/ann");
    let r = http()
        .post(format!("{}/api/v1/sites/{SITE}/push/subscriptions", w.base()))
        .header("cookie", &ann)
        .json(&device.subscription(&service))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http()
        .put(format!("{}/api/v1/sites/{SITE}/notifications", w.base()))
        .header("cookie", &ann)
        .json(&json!({"handoffs": "all", "channel": "push"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_inbox, _) = Ws::inbox(&w, SITE, &ann).await;
    let (mut waiting, mut assigned) = (Vec::new(), Vec::new());
    let warmup = 3;
    for i in 0..n + warmup {
        let (id, token) = create_conversation(&w, SITE).await;
        let mut visitor = Ws::visitor(&w, SITE, &id, &token, 0).await;
        let before = service.received().len();
        let t0 = Instant::now();
        visitor.send(&json!({"type": "request_human", "client_id": "h"})).await;
        let got = service
            .wait_until("both pushes of the handoff", |p| {
                let mine: Vec<_> = p[before..].iter().filter(|x| x.headers.get("topic").map(String::as_str) == Some(id.as_str())).collect();
                mine.iter().any(|x| x.message.as_ref().is_ok_and(|m| m["reason"] == "waiting"))
                    && mine.iter().any(|x| x.message.as_ref().is_ok_and(|m| m["reason"] == "assigned"))
            })
            .await;
        let at = |reason: &str| {
            got[before..]
                .iter()
                .find(|x| x.message.as_ref().is_ok_and(|m| m["reason"] == reason && m["conversation_id"] == id.as_str()))
                .unwrap()
                .at
        };
        assert!(got[before..].iter().all(|p| p.vapid.is_ok() && p.message.is_ok()), "every push authenticated and decrypted");
        if i >= warmup {
            waiting.push(ms(at("waiting") - t0));
            assigned.push(ms(at("assigned") - t0));
        }
        // Resolved, so Ann's capacity never fills.
        let r = http()
            .post(format!("{}/api/v1/sites/{SITE}/conversations/{id}/commands?as=operator", w.base()))
            .header("cookie", &ann)
            .json(&json!({"type": "resolve", "client_id": "r"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        visitor.close().await;
    }
    let (waiting, assigned) = (stats(waiting), stats(assigned));
    println!("handoff → push received and decrypted ({n} handoffs, one at a time):");
    println!("  'waiting' push (every-handoff subscribers)  p50 {} ms  p95 {} ms", waiting["p50_ms"], waiting["p95_ms"]);
    println!("  'assigned to you' push (the assignee)       p50 {} ms  p95 {} ms", assigned["p50_ms"], assigned["p95_ms"]);
    json!({"waiting_push": waiting, "assigned_push": assigned, "storage": if tmp.is_dir() { "tmpfs" } else { "disk" }})
}

async fn burst() -> Value {
    let tmp = std::path::Path::new("/dev/shm");
    let w = if tmp.is_dir() { Wrangler::start_in(tmp, &[]).await } else { Wrangler::start().await };
    let team = [
        ("ann@example.com", "ann-password-1"),
        ("bob@example.com", "bob-password-1"),
        ("cy@example.com", "cy-password-1"),
        ("dee@example.com", "dee-password-1"),
    ];
    let mut cookies = Vec::new();
    let mut sockets = Vec::new();
    for (email, password) in team {
        let c = login(&w, SITE, email, password).await;
        sockets.push(Ws::inbox(&w, SITE, &c).await.0);
        cookies.push(c);
    }
    sockets[3].send(&json!({"type": "set_away", "away": true})).await;
    sockets[0].expect(|m| m["type"] == "presence" && m["presence"].as_array().unwrap().iter().any(|p| p["away"] == true)).await;
    let mut conversations = Vec::new();
    for _ in 0..20 {
        conversations.push(create_conversation(&w, SITE).await);
    }
    let t0 = Instant::now();
    futures_util::future::join_all(conversations.iter().map(|(id, token)| {
        let url = format!("{}/api/v1/sites/{SITE}/conversations/{id}/commands", w.base());
        async move {
            let r = http().post(url).bearer_auth(token).json(&json!({"type": "request_human", "client_id": "h"})).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
    }))
    .await;
    let sent = t0.elapsed();
    let list = loop {
        let r = rows(&w, &cookies[0]).await;
        if r.iter().filter(|x| x["assignment"]["operator"].is_object()).count() >= 15 {
            break r;
        }
        assert!(t0.elapsed() < WAIT, "15 assignments never showed: {r:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    let all_assigned = t0.elapsed();
    let mut per: HashMap<String, usize> = HashMap::new();
    for r in &list {
        if let Some(a) = r["assignment"]["operator"]["id"].as_str() {
            *per.entry(a.to_string()).or_default() += 1;
        }
    }
    let mut events_per_conversation = Vec::new();
    for (id, _) in &conversations {
        let log = operator_events(&w, SITE, id, &cookies[0]).await;
        events_per_conversation.push(kinds(&log).iter().filter(|k| *k == "assigned").count());
    }
    let queued = list.iter().filter(|r| r["ownership"]["state"] == "waiting_for_human" && r["assignment"]["operator"].is_null()).count();
    let once = events_per_conversation.iter().filter(|n| **n == 1).count();
    let twice = events_per_conversation.iter().filter(|n| **n > 1).count();
    println!("\nassignment: 20 handoffs at once, 3 operators online with capacity 5, 1 away:");
    println!("  all 20 handoffs sent in {} ms; 15 assigned {} ms after the first was sent", ms(sent), ms(all_assigned));
    println!("  per operator: {per:?}; queued: {queued}; assigned exactly once: {once}; more than once: {twice}");
    json!({
        "handoffs": 20, "operators_online": 3, "capacity": 5, "away": 1,
        "sent_ms": ms(sent), "fifteen_assigned_ms": ms(all_assigned),
        "per_operator": per, "queued": queued, "assigned_exactly_once": once, "assigned_more_than_once": twice,
        "assigned_to_away": per.get("dee@example.com").copied().unwrap_or(0),
    })
}

#[tokio::main]
async fn main() {
    let n = arg("--handoffs").and_then(|v| v.parse().ok()).unwrap_or(40);
    let latency = handoff_latency(n).await;
    let burst = burst().await;
    let report = json!({
        "bench": "notify",
        "what": "handoff → Web Push received and decrypted on a loopback push service (VAPID checked); a burst of 20 handoffs assigned to 3 operators of capacity 5",
        "handoff_to_push": latency,
        "assignment_burst": burst,
    });
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    std::fs::write(dir.join("notify.json"), serde_json::to_string_pretty(&report).unwrap()).expect("write notify.json");
    println!("\nwrote {}", dir.join("notify.json").display());
}
