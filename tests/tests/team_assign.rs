//! Assignment on real workerd (issue 16), site `team-test` (capacity 5 per operator): twenty
//! handoffs at once with three operators online and one away — each handoff assigned exactly
//! once, none to the away operator, the rest queued until a slot frees; an assignment nobody
//! takes over goes on to the next operator; assigning and unassigning by hand.

use baton_tests::*;
use serde_json::{json, Value};
use std::collections::HashMap;

const SITE: &str = "team-test";
const TEAM: [(&str, &str); 4] = [
    ("ann@example.com", "ann-password-1"),
    ("bob@example.com", "bob-password-1"),
    ("cy@example.com", "cy-password-1"),
    ("dee@example.com", "dee-password-1"),
];

/// A new conversation whose visitor presses "Talk to a human" (over HTTP).
async fn handoff(w: &Wrangler) -> (String, String) {
    let (id, token) = create_conversation(w, SITE).await;
    let r = http()
        .post(format!("{}/api/v1/sites/{SITE}/conversations/{id}/commands", w.base()))
        .bearer_auth(&token)
        .json(&json!({"type": "request_human", "client_id": "h1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    (id, token)
}

async fn rows(w: &Wrangler, cookie: &str, view: &str) -> Vec<Value> {
    let r = http().get(format!("{}/api/v1/sites/{SITE}/inbox/rows?view={view}", w.base())).header("cookie", cookie).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    r.json::<Value>().await.unwrap()["rows"].as_array().unwrap().clone()
}

/// Polls the list (bounded by `WAIT`) until `done` holds for it.
async fn rows_until(w: &Wrangler, cookie: &str, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let r = rows(w, cookie, "all").await;
        if done(&r) {
            return r;
        }
        assert!(std::time::Instant::now() < deadline, "the inbox never showed {what}: {r:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn assignee(row: &Value) -> Option<String> {
    row["assignment"]["operator"]["id"].as_str().map(str::to_string)
}

fn waiting(row: &Value) -> bool {
    row["ownership"]["state"] == "waiting_for_human"
}

async fn assign(w: &Wrangler, cookie: &str, id: &str, to: Option<&str>) -> reqwest::Response {
    http()
        .post(format!("{}/api/v1/sites/{SITE}/conversations/{id}/assign", w.base()))
        .header("cookie", cookie)
        .json(&json!({ "operator": to }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn twenty_handoffs_at_once_three_operators_of_capacity_five_none_to_the_away_one() {
    let w = Wrangler::start().await;
    let mut cookies = Vec::new();
    let mut sockets = Vec::new();
    for (email, password) in TEAM {
        let c = login(&w, SITE, email, password).await;
        sockets.push(Ws::inbox(&w, SITE, &c).await.0);
        cookies.push(c);
    }
    // Dee is away: the others see it before the handoffs come.
    sockets[3].send(&json!({"type": "set_away", "away": true})).await;
    sockets[0].expect(|m| m["type"] == "presence" && m["presence"].as_array().unwrap().iter().any(|p| p["away"] == true)).await;

    let ids: Vec<String> = futures_util::future::join_all((0..20).map(|_| handoff(&w))).await.into_iter().map(|(id, _)| id).collect();
    let ann = &cookies[0];
    let list = rows_until(&w, ann, "15 assignments", |r| r.iter().filter(|x| assignee(x).is_some()).count() == 15).await;
    let mut per: HashMap<String, usize> = HashMap::new();
    for r in &list {
        if let Some(a) = assignee(r) {
            *per.entry(a).or_default() += 1;
        }
    }
    assert_eq!(per.get("ann@example.com"), Some(&5), "{per:?}");
    assert_eq!(per.get("bob@example.com"), Some(&5), "{per:?}");
    assert_eq!(per.get("cy@example.com"), Some(&5), "{per:?}");
    assert!(!per.contains_key("dee@example.com"), "nothing for the away operator: {per:?}");
    let queued: Vec<&Value> = list.iter().filter(|r| waiting(r) && assignee(r).is_none()).collect();
    assert_eq!(queued.len(), 5);

    // Each conversation's log: exactly one assignment for the fifteen, none for the queue.
    let mut assigned_once = 0;
    for id in &ids {
        let log = operator_events(&w, SITE, id, ann).await;
        let n = kinds(&log).iter().filter(|k| *k == "assigned").count();
        assert!(n <= 1, "{id} assigned {n} times: {log:#?}");
        assigned_once += n;
    }
    assert_eq!(assigned_once, 15);

    // "Mine" is what is assigned to me; the visitor sees who will answer (never who assigned).
    let mine = rows(&w, ann, "mine").await;
    assert_eq!(mine.len(), 5);
    assert!(mine.iter().all(|r| assignee(r).as_deref() == Some("ann@example.com")));
    let anns = mine[0]["id"].as_str().unwrap().to_string();
    let log = operator_events(&w, SITE, &anns, ann).await;
    let assigned = log.iter().find(|e| e["kind"]["type"] == "assigned").unwrap();
    assert_eq!(assigned["kind"]["operator"]["name"], "Ann from Support", "the display name from operator_names");

    // Bob takes one over and resolves it: his freed slot takes the longest-waiting of the queue.
    let bobs = list.iter().find(|r| assignee(r).as_deref() == Some("bob@example.com")).unwrap()["id"].as_str().unwrap().to_string();
    let mut op = Ws::operator(&w, SITE, &bobs, &cookies[1], 0).await;
    op.send(&json!({"type": "take_over", "client_id": "t1"})).await;
    op.ack("t1").await;
    op.send(&json!({"type": "resolve", "client_id": "r1"})).await;
    op.ack("r1").await;
    let oldest_queued = queued.iter().min_by_key(|r| r["waiting_since"].as_i64()).unwrap()["id"].clone();
    let after =
        rows_until(&w, ann, "the freed slot filled", |r| r.iter().filter(|x| waiting(x) && assignee(x).is_none()).count() == 4).await;
    let filled = after.iter().find(|r| r["id"] == oldest_queued).unwrap();
    assert_eq!(assignee(filled).as_deref(), Some("bob@example.com"), "{filled:#}");
    assert!(!w.log().contains("panicked"), "{}", w.log());
}

#[tokio::test]
async fn an_unacknowledged_assignment_moves_on_and_operators_assign_by_hand() {
    // Assignments wait 1.5 s to be taken over (instead of the site's 120 s).
    let w = Wrangler::start_with_vars(&[("BATON_ASSIGN_ACK_MS", "1500")]).await;
    let ann = login(&w, SITE, "ann@example.com", "ann-password-1").await;
    let bob = login(&w, SITE, "bob@example.com", "bob-password-1").await;
    let (_ann_inbox, _) = Ws::inbox(&w, SITE, &ann).await;
    let (_bob_inbox, _) = Ws::inbox(&w, SITE, &bob).await;

    // Ann gets it first, lets it lapse; it goes back to the queue and on to Bob.
    let (id, token) = handoff(&w).await;
    rows_until(&w, &ann, "the lapse and Bob's assignment", |r| {
        r.iter().any(|x| x["id"] == id.as_str() && assignee(x).as_deref() == Some("bob@example.com"))
    })
    .await;
    let log = operator_events(&w, SITE, &id, &ann).await;
    let trail: Vec<(String, String)> = log
        .iter()
        .filter(|e| matches!(e["kind"]["type"].as_str(), Some("assigned" | "unassigned")))
        .map(|e| (e["kind"]["type"].as_str().unwrap().to_string(), e["kind"]["operator"]["id"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        trail,
        [
            ("assigned".into(), "ann@example.com".into()),
            ("unassigned".into(), "ann@example.com".into()),
            ("assigned".into(), "bob@example.com".into())
        ]
    );
    // The visitor sees who will answer — both assignments, never the lapse nor who assigned.
    let seen = visitor_events(&w, SITE, &id, &token, 0).await;
    let names: Vec<&str> =
        seen.iter().filter(|e| e["kind"]["type"] == "assigned").map(|e| e["kind"]["operator"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Ann from Support", "Bob"]);
    assert!(!kinds(&seen).contains(&"unassigned".to_string()));

    // By hand: Ann gives it to Cy (offline: a person may be chosen whatever their load).
    let r = assign(&w, &ann, &id, Some("cy@example.com")).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let list = rows_until(&w, &ann, "Cy's assignment", |r| {
        r.iter().any(|x| x["id"] == id.as_str() && assignee(x).as_deref() == Some("cy@example.com"))
    })
    .await;
    let row = list.iter().find(|x| x["id"] == id.as_str()).unwrap();
    assert_eq!(row["assignment"]["by"]["id"], "ann@example.com");
    let cy = login(&w, SITE, "cy@example.com", "cy-password-1").await;
    assert_eq!(rows(&w, &cy, "mine").await.len(), 1, "Cy's Mine shows it");
    // Back to the queue by hand: everyone it was taken from is passed over, so it waits.
    let r = assign(&w, &bob, &id, None).await;
    assert_eq!(r.status(), 200);
    rows_until(&w, &ann, "the conversation back in the queue", |r| {
        r.iter().any(|x| x["id"] == id.as_str() && waiting(x) && assignee(x).is_none())
    })
    .await;

    // Typed refusals: someone who is not on the team, a conversation with the bot, no session.
    let r = assign(&w, &ann, &id, Some("mallory@example.com")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "operator");
    let (bot_id, _) = create_conversation(&w, SITE).await;
    let r = assign(&w, &ann, &bot_id, Some("bob@example.com")).await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "invalid_state");
    let r = http()
        .post(format!("{}/api/v1/sites/{SITE}/conversations/{id}/assign", w.base()))
        .json(&json!({"operator": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(!w.log().contains("panicked"), "{}", w.log());
}
