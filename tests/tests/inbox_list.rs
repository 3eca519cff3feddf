//! The inbox list and insights on a real worker: four conversations (answered by the bot,
//! a keyword handoff that leaves an email, a person asked for and answered, questions the docs
//! can't answer), then the server-side views, filters and search, and the insights numbers.

use baton_tests::browser::eventually;
use baton_tests::*;
use serde_json::{json, Value};

/// The ids a list query returns, in order.
async fn rows(w: &Wrangler, cookie: &str, query: &str) -> Vec<String> {
    let r = http().get(format!("{}/api/v1/sites/demo/inbox/rows?{query}", w.base())).header("cookie", cookie).send().await.unwrap();
    assert_eq!(r.status(), 200, "{query}: {}", r.text().await.unwrap_or_default());
    let page: Value = r.json().await.unwrap();
    page["rows"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

/// Polls a query until it returns `want` (rows reach the inbox a moment after the event).
async fn rows_become(w: &Wrangler, cookie: &str, query: &str, want: &[&String]) {
    let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    eventually(&format!("rows for {query} to be {want:?}"), || async {
        let got = rows(w, cookie, query).await;
        (got == want).then_some(())
    })
    .await;
}

async fn insights(w: &Wrangler, cookie: &str) -> Value {
    let r = http().get(format!("{}/api/v1/sites/demo/insights?days=1", w.base())).header("cookie", cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_list_filters_and_searches_server_side_and_insights_count_the_session() {
    let w = Wrangler::start().await;
    let ann = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let bob = login(&w, "demo", "bob@example.com", "bob-password-1").await;
    let (mut inbox, _) = Ws::inbox(&w, "demo", &ann).await;

    // A: answered by the bot, and the visitor says it helped.
    let (a, token) = create_conversation(&w, "demo").await;
    let mut va = Ws::visitor(&w, "demo", &a, &token, 0).await;
    va.message("a1", "How are operator passwords stored?").await;
    let answer = va.expect_event("bot_answer").await;
    assert_eq!(answer["kind"]["handoff"], false, "{answer}");
    va.send(&json!({"type": "feedback", "client_id": "a2", "answer_seq": answer["seq"], "helpful": true})).await;
    va.ack("a2").await;

    // B: a keyword hands off; the visitor leaves an email.
    let (b, token) = create_conversation(&w, "demo").await;
    let mut vb = Ws::visitor(&w, "demo", &b, &token, 0).await;
    vb.message("b1", "I need a refund for my last invoice").await;
    assert_eq!(vb.expect_event("handoff_requested").await["kind"]["handoff"]["reason"], "keyword");
    vb.send(&json!({"type": "submit_fields", "client_id": "b2", "action": "email", "values": {"email": "vip@example.com"}})).await;
    vb.ack("b2").await;

    // C: asks for a person; Ann takes over and answers.
    let (c, token) = create_conversation(&w, "demo").await;
    let mut vc = Ws::visitor(&w, "demo", &c, &token, 0).await;
    vc.message("c1", "can I talk to a person please").await;
    let c_handed_off_at = vc.expect_event("handoff_requested").await["at"].as_i64().unwrap();
    let mut op = Ws::operator(&w, "demo", &c, &ann, 0).await;
    op.send(&json!({"type": "take_over", "client_id": "t1"})).await;
    op.ack("t1").await;
    op.message("r1", "Hi, Ann here.").await;
    op.ack("r1").await;
    let c_replied_at = vc.expect_event("operator_message").await["at"].as_i64().unwrap();

    // D: the docs don't know, twice: handed off, and two questions for the docs-gap list.
    let (d, token) = create_conversation(&w, "demo").await;
    let mut vd = Ws::visitor(&w, "demo", &d, &token, 0).await;
    vd.message("d1", "What is the capital of Mongolia?").await;
    assert_eq!(vd.expect_event("bot_answer").await["kind"]["handoff"], true);
    vd.message("d2", "Which city is the capital of Mongolia?").await;
    assert_eq!(vd.expect_event("handoff_requested").await["kind"]["handoff"]["reason"], "repeated_low_confidence");

    // Bob leaves a private note on B: operators can find it.
    let mut bob_b = Ws::operator(&w, "demo", &b, &bob, 0).await;
    bob_b.send(&json!({"type": "note", "client_id": "n1", "text": "Escalate to the finance team"})).await;
    bob_b.ack("n1").await;

    // Views: waiting (oldest first), mine (per operator), all open, by status.
    rows_become(&w, &ann, "view=waiting", &[&b, &d]).await;
    // Mine: what Ann owns (C) and what waits assigned to her — B and D were assigned to her
    // automatically, the only operator online (issue 16) — waiting first.
    rows_become(&w, &ann, "view=mine", &[&b, &d, &c]).await;
    assert!(rows(&w, &bob, "view=mine").await.is_empty());
    rows_become(&w, &ann, "view=open&status=bot", &[&a]).await;
    assert_eq!(rows(&w, &ann, "view=open").await.len(), 4);
    // Tags and search: email, the thread's words (all must occur), a private note.
    rows_become(&w, &ann, "tag=billing", &[&b]).await;
    rows_become(&w, &ann, "q=vip%40example", &[&b]).await;
    rows_become(&w, &ann, "q=Refund+INVOICE", &[&b]).await;
    rows_become(&w, &ann, "q=finance", &[&b]).await;
    rows_become(&w, &ann, "q=mongolia", &[&d]).await;
    assert!(rows(&w, &ann, "q=refund+mongolia").await.is_empty());
    rows_become(&w, &ann, "view=waiting&q=mongolia", &[&d]).await;

    // Resolved moves C out of "mine" into "resolved".
    op.send(&json!({"type": "resolve", "client_id": "r2"})).await;
    op.ack("r2").await;
    rows_become(&w, &ann, "view=resolved", &[&c]).await;
    rows_become(&w, &ann, "view=mine", &[&b, &d]).await;

    // Bad queries are typed 400s.
    for q in ["view=everything", "status=sleeping", "limit=lots"] {
        let r = http().get(format!("{}/api/v1/sites/demo/inbox/rows?{q}", w.base())).header("cookie", &ann).send().await.unwrap();
        assert_eq!(r.status(), 400, "{q}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "invalid_field");
    }

    // The live socket's rows carry neither the insights figures nor the search text.
    let frames =
        inbox.frames_until(|m| m["type"] == "row" && m["row"]["id"] == c.as_str() && m["row"]["ownership"]["state"] == "resolved").await;
    for f in frames.iter().filter(|f| f["type"] == "row") {
        assert!(f["row"].get("stats").is_none() && f["row"].get("search_text").is_none(), "{f}");
    }

    // Insights for today: the four conversations of this session.
    let i = insights(&w, &ann).await;
    assert_eq!(i["conversations"], 4, "{i:#}");
    assert_eq!(i["answered_by_bot"], 1);
    assert_eq!(i["deflection_rate"], 0.25);
    assert_eq!(i["handoffs"], 3);
    let mut reasons: Vec<(String, u64)> = i["handoffs_by_reason"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["reason"].as_str().unwrap().to_string(), r["count"].as_u64().unwrap()))
        .collect();
    reasons.sort();
    assert_eq!(reasons, [("explicit_request".into(), 1), ("keyword".into(), 1), ("repeated_low_confidence".into(), 1)]);
    assert_eq!(i["replies_measured"], 1);
    // The one reply measured (C's): from its handoff to Ann's first message, by the log's clock.
    assert_eq!(i["median_first_reply_ms"].as_i64(), Some(c_replied_at - c_handed_off_at), "{i:#}");
    assert_eq!(i["awaiting_reply"], 2);
    assert_eq!(i["grouping"], "embedding", "the site's model groups the questions");
    assert_eq!(i["unanswered_questions"], 2);
    assert_eq!(i["unanswered"][0]["question"], "What is the capital of Mongolia?");
    assert_eq!(i["unanswered"][0]["count"], 2);
    assert_eq!(i["unanswered"][0]["examples"], json!(["Which city is the capital of Mongolia?"]));
    assert_eq!(i["top_citations"][0]["label"], "FAQ › How are operator passwords stored?");
    assert_eq!((i["helpful"].as_u64(), i["unhelpful"].as_u64(), i["helpful_rate"].as_f64()), (Some(1), Some(0), Some(1.0)));
    assert_eq!(i["per_day"].as_array().unwrap().last().unwrap()["conversations"], 4);

    // The same numbers as a download; bad ranges are refused.
    let r = http().get(format!("{}/api/v1/sites/demo/insights?days=1&download=1", w.base())).header("cookie", &ann).send().await.unwrap();
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    let downloaded: Value = r.json().await.unwrap();
    assert_eq!(downloaded["conversations"], i["conversations"]);
    for days in ["0", "400", "week"] {
        let r = http().get(format!("{}/api/v1/sites/demo/insights?days={days}", w.base())).header("cookie", &ann).send().await.unwrap();
        assert_eq!(r.status(), 400, "days={days}");
    }
    assert!(!w.log().contains("panicked"), "{}", w.log());
}

/// Who is online, live: a second operator appears, sets themself away, and when only away
/// operators are connected a visitor who asks for a person is told nobody is online.
#[tokio::test]
async fn presence_follows_sockets_and_away() {
    let w = Wrangler::start().await;
    let ann = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let bob = login(&w, "demo", "bob@example.com", "bob-password-1").await;
    let (mut ann_inbox, snapshot) = Ws::inbox(&w, "demo", &ann).await;
    assert_eq!(snapshot["presence"], json!([{"operator": {"id": "ann@example.com", "name": "Ann"}, "away": false}]));
    assert_eq!(snapshot["canned_replies"][0]["name"], "thanks", "the site's canned replies come with the snapshot");
    assert_eq!(snapshot["site_name"], "Baton");
    let (mut bob_inbox, _) = Ws::inbox(&w, "demo", &bob).await;
    let both = ann_inbox.expect(|m| m["type"] == "presence" && m["presence"].as_array().unwrap().len() == 2).await;
    assert_eq!(both["presence"][1]["operator"]["name"], "Bob");

    bob_inbox.send(&json!({"type": "set_away", "away": true})).await;
    ann_inbox.expect(|m| m["type"] == "presence" && m["presence"][1]["away"] == true).await;
    ann_inbox.close().await;
    bob_inbox.expect(|m| m["type"] == "presence" && m["presence"].as_array().unwrap().len() == 1).await;

    let (id, token) = create_conversation(&w, "demo").await;
    let mut v = Ws::visitor(&w, "demo", &id, &token, 0).await;
    v.send(&json!({"type": "request_human", "client_id": "h"})).await;
    let handoff = v.expect_event("handoff_requested").await;
    assert_eq!(handoff["kind"]["operators_online"], false, "only an away operator is connected");

    bob_inbox.send(&json!({"type": "set_away", "away": false})).await;
    bob_inbox.expect(|m| m["type"] == "presence" && m["presence"][0]["away"] == false).await;
    bob_inbox.send(&json!({"type": "wave"})).await;
    assert_eq!(bob_inbox.expect(|m| m["type"] == "error").await["code"], "unknown_command");
}

/// A long conversation (long messages, a long briefing, the search text at its bound) still
/// reaches the inbox: rows are not held to the clients' frame limit.
#[tokio::test]
async fn long_conversations_still_reach_the_inbox() {
    let w = Wrangler::start().await;
    let ann = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let (id, token) = create_conversation(&w, "demo").await;
    let mut v = Ws::visitor(&w, "demo", &id, &token, 0).await;
    v.send(&json!({"type": "request_human", "client_id": "h"})).await;
    v.ack("h").await;
    for i in 0..6 {
        // ~4 KB each, in four-byte characters: the row's search text alone is ~16 KB.
        let text = format!("zebra{i} {}", "🦓".repeat(1020));
        v.message(&format!("m{i}"), &text).await;
        v.ack(&format!("m{i}")).await;
    }
    rows_become(&w, &ann, "q=zebra5", &[&id]).await;
    assert!(rows(&w, &ann, "q=zebra0").await.contains(&id), "the beginning is kept too");
    assert!(!w.log().contains("panicked"), "{}", w.log());
}
