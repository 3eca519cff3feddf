//! The whole Baton loop over the real API on workerd: a visitor asks and gets a cited answer,
//! asks for a human, the inbox hears of it live, an operator replies, the visitor hears that
//! live, the bot stays silent — and after a restart on the same state the thread is intact.

use baton_tests::*;
use serde_json::json;

#[tokio::test]
async fn ask_handoff_reply_and_restart() {
    let state = tempfile::tempdir().unwrap();
    let mut w = Wrangler::start_on(state.path()).await;

    // An operator is in the inbox before the visitor arrives.
    let cookie = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let mut inbox = Ws::connect(&format!("{}/api/v1/sites/demo/inbox/ws", w.ws_base()), Some(&cookie)).await.expect("inbox socket");
    let snapshot = inbox.expect(|m| m["type"] == "snapshot").await;
    assert_eq!(snapshot["me"]["name"], "Ann");

    // Visitor asks a docs question: a cited answer comes back.
    let (id, token) = create_conversation(&w, "demo").await;
    let mut visitor = Ws::visitor(&w, "demo", &id, &token, 0).await;
    visitor.send(&json!({"type": "message", "client_id": "q1", "text": "How are operator passwords stored?"})).await;
    let answer = visitor.expect_event("bot_answer").await;
    assert_eq!(answer["kind"]["handoff"], false, "{answer}");
    assert!(answer["kind"]["text"].as_str().unwrap().contains("PBKDF2"), "{answer}");
    let cite = &answer["kind"]["citations"][0];
    assert_eq!(cite["path"], "faq.md");
    assert!(cite["url"].as_str().unwrap().ends_with("#how-are-operator-passwords-stored"), "{cite}");

    // Asks for a person: the thread waits for a human and the inbox shows it at once.
    visitor.send(&json!({"type": "message", "client_id": "q2", "text": "can I talk to a person please"})).await;
    let handoff = visitor.expect_event("handoff_requested").await;
    assert_eq!(handoff["kind"]["handoff"]["reason"], "explicit_request");
    assert_eq!(handoff["kind"]["operators_online"], true);
    let row = inbox
        .expect(|m| m["type"] == "row" && m["row"]["id"] == id.as_str() && m["row"]["ownership"]["state"] == "waiting_for_human")
        .await;
    assert_eq!(row["row"]["handoff"]["reason"], "explicit_request");
    assert_eq!(row["row"]["first_question"], "How are operator passwords stored?");

    // The operator opens it: the whole thread, with the briefing.
    let mut op = Ws::operator(&w, "demo", &id, &cookie, 0).await;
    let mut kinds = Vec::new();
    while kinds.last().map(String::as_str) != Some("handoff_requested") {
        let e = op.expect(|m| m["type"] == "event").await;
        if e["event"]["kind"]["type"] == "handoff_requested" {
            assert!(e["event"]["kind"]["briefing"]["summary"].as_str().unwrap().contains("talk to a person"), "{e}");
        }
        kinds.push(e["event"]["kind"]["type"].as_str().unwrap().to_string());
    }
    assert_eq!(kinds, ["started", "visitor_message", "bot_answer", "visitor_message", "handoff_requested"]);

    // Takes over and replies: the visitor sees both, live.
    op.send(&json!({"type": "take_over", "client_id": "t1"})).await;
    op.send(&json!({"type": "message", "client_id": "r1", "text": "Hi, Ann here. Happy to help!"})).await;
    let joined = visitor.expect_event("operator_joined").await;
    assert_eq!(joined["kind"]["operator"]["name"], "Ann");
    let reply = visitor.expect_event("operator_message").await;
    assert_eq!(reply["kind"]["text"], "Hi, Ann here. Happy to help!");

    // While Ann owns it, a docs question gets no bot answer: the next event is Ann's.
    visitor.send(&json!({"type": "message", "client_id": "q3", "text": "How are operator passwords stored?"})).await;
    let q3 = visitor.expect_event("visitor_message").await;
    assert_eq!(q3["client_id"], "q3");
    let seen_by_op = op.expect_event("visitor_message").await;
    assert_eq!(seen_by_op["seq"], q3["seq"]);
    op.send(&json!({"type": "message", "client_id": "r2", "text": "Only as salted hashes."})).await;
    let next = visitor.expect(|m| m["type"] == "event").await;
    assert_eq!(next["event"]["kind"]["type"], "operator_message", "the bot spoke while a human owned the thread: {next}");
    let last_seq = next["event"]["seq"].as_u64().unwrap();

    // Restart wrangler on the same state directory: the whole thread is still there.
    visitor.close().await;
    op.close().await;
    inbox.close().await;
    w.stop();
    let w = Wrangler::start_on(state.path()).await;
    let r =
        http().get(format!("{}/api/v1/sites/demo/conversations/{id}/events?after=0", w.base())).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page: serde_json::Value = r.json().await.unwrap();
    let events = page["events"].as_array().unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=last_seq).collect::<Vec<_>>(), "every event, in order, once");
    assert_eq!(page["ownership"]["state"], "human");
    // And a reconnecting visitor resumes exactly after what it had seen.
    let mut visitor = Ws::visitor(&w, "demo", &id, &token, last_seq - 1).await;
    let replay = visitor.expect(|m| m["type"] == "event").await;
    assert_eq!(replay["event"]["seq"], last_seq);
    assert_eq!(replay["event"]["kind"]["text"], "Only as salted hashes.");
}
