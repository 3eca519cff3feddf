//! The live conversation and its handoff, over real WebSockets on `wrangler dev` (workerd, real
//! Durable Object storage): the bot answers, hands off on request, the inbox hears of it with
//! the briefing, an operator takes over and the bot goes silent; reconnects replay exactly what
//! was missed; resends are stored once; the log survives a restart; with nobody online the
//! visitor is asked for an email; two operators racing to take over get one winner.

use baton_tests::*;
use serde_json::{json, Value};

fn is_event(m: &Value, kind: &str) -> bool {
    m["type"] == "event" && m["event"]["kind"]["type"] == kind
}

fn is_bot_typing(m: &Value) -> bool {
    m["type"] == "typing" && m["who"]["kind"] == "bot" && m["on"] == true
}

/// Frames up to the pong for a ping sent now: what else the server had queued for this socket.
async fn until_pong(ws: &mut Ws) -> Vec<Value> {
    ws.send(&json!({"type": "ping"})).await;
    let mut frames = ws.frames_until(|m| m["type"] == "pong").await;
    frames.pop();
    frames
}

#[tokio::test]
async fn handoff_reaches_the_inbox_with_a_briefing_and_the_bot_stays_silent() {
    let w = Wrangler::start().await;
    let cookie = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let (mut inbox, _) = Ws::inbox(&w, "demo", &cookie).await;
    let (id, token) = create_conversation(&w, "demo").await;
    let mut visitor = Ws::visitor(&w, "demo", &id, &token, 0).await;

    // The bot shows it is typing, then answers from the docs.
    visitor.message("q1", "How are operator passwords stored?").await;
    let frames = visitor.frames_until(|m| is_event(m, "bot_answer")).await;
    let typing = frames.iter().position(is_bot_typing).expect("the bot showed typing");
    assert!(typing < frames.len() - 1);
    assert_eq!(frames.last().unwrap()["event"]["kind"]["citations"][0]["path"], "faq.md");

    // Asked for a person: the visitor is told the team is coming; no evidence or briefing leaks.
    visitor.message("q2", "I'd like to talk to a person please").await;
    let handoff = visitor.expect_event("handoff_requested").await;
    let kind = &handoff["kind"];
    assert_eq!(kind["handoff"]["reason"], "explicit_request");
    assert_eq!(kind["handoff"]["evidence"], json!([]));
    assert_eq!(kind["briefing"]["summary"], "");
    assert_eq!(kind["operators_online"], true);
    assert_eq!(kind["notice"], "Connecting you with the team — they'll see this whole conversation.");

    // The inbox gets the row at once, with the briefing.
    let row = inbox
        .expect(|m| m["type"] == "row" && m["row"]["id"] == id.as_str() && m["row"]["ownership"]["state"] == "waiting_for_human")
        .await["row"]
        .clone();
    assert_eq!(row["handoff"]["reason"], "explicit_request");
    assert_eq!(row["handoff"]["evidence"], json!(["talk to a person"]));
    assert_eq!(row["unread"], 1, "the question the bot answered is not waiting");
    assert!(row["waiting_since"].is_i64(), "{row}");
    assert_eq!(row["page"]["title"], "Getting started");
    let b = &row["briefing"];
    assert_eq!(b["first_question"], "How are operator passwords stored?");
    assert_eq!(b["latest_question"], "I'd like to talk to a person please");
    assert_eq!(b["bot_attempts"][0]["citations"][0]["path"], "faq.md");
    assert!(b["confidence"].as_f64().unwrap() > 0.0, "{b}");
    assert_eq!(b["handoff"]["reason"], "explicit_request");
    assert!(b["summary"].as_str().unwrap().starts_with("Visitor asked for a person: “I'd like to talk to a person please”"), "{b}");

    // Ann takes over: the visitor sees "Ann joined"; the row shows her as the owner.
    let mut op = Ws::operator(&w, "demo", &id, &cookie, 0).await;
    op.send(&json!({"type": "take_over", "client_id": "t1"})).await;
    op.ack("t1").await;
    let joined = visitor.expect_event("operator_joined").await;
    assert_eq!(joined["kind"]["operator"]["name"], "Ann");
    inbox.expect(|m| m["type"] == "row" && m["row"]["id"] == id.as_str() && m["row"]["owner"]["name"] == "Ann").await;

    // While Ann owns it, a docs question is relayed to her — no bot typing, no bot answer.
    visitor.message("q3", "How are operator passwords stored?").await;
    let relayed = op.expect_event("visitor_message").await;
    assert_eq!(relayed["client_id"], "q3");
    op.message("r1", "Only as salted hashes — I'll show you where.").await;
    let frames = visitor.frames_until(|m| is_event(m, "operator_message")).await;
    assert!(!frames.iter().any(|m| is_bot_typing(m) || is_event(m, "bot_answer")), "the bot spoke over a human: {frames:#?}");
    let log = operator_events(&w, "demo", &id, &cookie).await;
    let after_q3: Vec<String> = kinds(&log).into_iter().skip_while(|k| k != "operator_joined").collect();
    assert_eq!(after_q3, ["operator_joined", "visitor_message", "operator_message"]);
    assert!(!w.log().contains("panicked"), "{}", w.log());
}

#[tokio::test]
async fn reconnects_replay_exactly_resends_are_stored_once_and_the_log_survives_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let mut w = Wrangler::start_on(state.path()).await;
    let cookie = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let (id, token) = create_conversation(&w, "demo").await;
    let mut visitor = Ws::visitor(&w, "demo", &id, &token, 0).await;

    // A resend under the same client id is acknowledged with the same seq, not stored again.
    visitor.send(&json!({"type": "request_human", "client_id": "h1"})).await;
    let first = visitor.ack("h1").await;
    visitor.send(&json!({"type": "request_human", "client_id": "h1"})).await;
    assert_eq!(visitor.ack("h1").await, first);
    visitor.message("dup-1", "my invoice shows the wrong company name").await;
    let dup = visitor.ack("dup-1").await;
    visitor.message("dup-1", "my invoice shows the wrong company name").await;
    assert_eq!(visitor.ack("dup-1").await, dup);
    // An operator's "dup-1" is someone else's id: a separate event.
    let mut op = Ws::operator(&w, "demo", &id, &cookie, 0).await;
    op.send(&json!({"type": "take_over", "client_id": "dup-1"})).await;
    assert!(op.ack("dup-1").await > dup);
    let seen = visitor.expect_event("operator_joined").await["seq"].as_u64().unwrap();
    visitor.close().await;

    // While the visitor is away, Ann writes twice.
    op.message("o1", "Hi! Which company name should it show?").await;
    op.ack("o1").await;
    op.message("o2", "I can fix it from here.").await;
    let last = op.ack("o2").await;

    // Back with the last seq it saw: exactly the missed events, in order, then nothing else.
    let mut back = Ws::visitor_socket(&w, "demo", &id).await;
    back.send(&json!({"type": "hello", "token": token, "after": seen})).await;
    let welcome = back.expect(|m| m["type"] == "welcome").await;
    assert_eq!(welcome["last_seq"], last);
    assert_eq!(welcome["ownership"]["state"], "human");
    let replay = until_pong(&mut back).await;
    let seqs: Vec<u64> = replay.iter().map(|m| m["event"]["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (seen + 1..=last).collect::<Vec<_>>(), "{replay:#?}");
    assert_eq!(replay.last().unwrap()["event"]["kind"]["text"], "I can fix it from here.");

    let log = operator_events(&w, "demo", &id, &cookie).await;
    assert_eq!(log.iter().filter(|e| e["client_id"] == "dup-1").count(), 2, "one visitor event and one operator event");
    assert_eq!(kinds(&log).iter().filter(|k| *k == "handoff_requested").count(), 1);

    // Restart wrangler on the same state: the log is intact, resends are still recognised,
    // replay still starts exactly after the last seen seq.
    back.close().await;
    op.close().await;
    w.stop();
    let w = Wrangler::start_on(state.path()).await;
    let events = operator_events(&w, "demo", &id, &cookie).await;
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "every event, in order, once");
    assert_eq!(events, log, "the same log as before the restart");
    // The visitor's view of it leaves out only what visitors never see (the automatic tag).
    let seen_by_visitor = visitor_events(&w, "demo", &id, &token, 0).await;
    assert_eq!(seen_by_visitor.len(), events.iter().filter(|e| e["kind"]["type"] != "tag_added").count());
    let mut again = Ws::visitor(&w, "demo", &id, &token, last - 2).await;
    let replay = until_pong(&mut again).await;
    assert_eq!(replay.iter().map(|m| m["event"]["seq"].as_u64().unwrap()).collect::<Vec<_>>(), [last - 1, last]);
    again.message("dup-1", "my invoice shows the wrong company name").await;
    assert_eq!(again.ack("dup-1").await, dup);
    assert_eq!(until_pong(&mut again).await, Vec::<Value>::new(), "a resend after a restart is not stored again");
    // And the restarted object carries on numbering where it was.
    again.message("new-1", "thanks, it's Example GmbH").await;
    assert_eq!(again.ack("new-1").await, last + 1);
    assert!(!w.log().contains("panicked"), "{}", w.log());
}

#[tokio::test]
async fn with_nobody_online_the_visitor_leaves_an_email_and_presence_is_checked_at_handoff() {
    let w = Wrangler::start().await;
    let (id, token) = create_conversation(&w, "demo").await;
    let mut visitor = Ws::visitor(&w, "demo", &id, &token, 0).await;

    // Nobody is in the inbox: the visitor is told so, asked for an email, and when to expect a reply.
    visitor.message("c1", "can I talk to a human?").await;
    let handoff = visitor.expect_event("handoff_requested").await;
    let kind = &handoff["kind"];
    assert_eq!(kind["operators_online"], false);
    assert_eq!(kind["form"]["action"], "email");
    assert_eq!(kind["form"]["fields"][0]["type"], "email");
    let notice = kind["notice"].as_str().unwrap();
    assert!(notice.contains("Nobody from the team is online") && notice.contains("within one business day"), "{notice}");

    // The object checks the address: a field-level error, nothing stored; then the real one.
    visitor.send(&json!({"type": "submit_fields", "client_id": "f1", "action": "email", "values": {"email": "me at home"}})).await;
    let err = visitor.expect(|m| m["type"] == "error" && m["client_id"] == "f1").await;
    assert_eq!((err["code"].as_str(), err["field"].as_str()), (Some("invalid_field"), Some("email")), "{err}");
    visitor.send(&json!({"type": "submit_fields", "client_id": "f2", "action": "email", "values": {"email": "visitor@example.com"}})).await;
    let fields = visitor.expect_event("fields_collected").await;
    assert_eq!(fields["kind"]["values"]["email"], "visitor@example.com");

    // The visitor comes back later (same token): the open conversation continues; asking for a
    // person again, in words or with the button, is not a second handoff.
    visitor.close().await;
    let mut back = Ws::visitor(&w, "demo", &id, &token, 0).await;
    back.expect(|m| is_event(m, "fields_collected")).await;
    back.message("c2", "hello? I still need to talk to a human").await;
    back.ack("c2").await;
    back.send(&json!({"type": "request_human", "client_id": "c3"})).await;
    back.ack("c3").await;
    let log = visitor_events(&w, "demo", &id, &token, 0).await;
    assert_eq!(kinds(&log).iter().filter(|k| *k == "handoff_requested").count(), 1, "{:?}", kinds(&log));

    // A second visitor's conversation starts while nobody is online…
    let (id2, token2) = create_conversation(&w, "demo").await;
    let mut second = Ws::visitor(&w, "demo", &id2, &token2, 0).await;
    // …then Ann opens the inbox: the waiting conversation is there with the email.
    let cookie = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let (mut inbox, snapshot) = Ws::inbox(&w, "demo", &cookie).await;
    assert_eq!(snapshot["presence"][0]["operator"]["name"], "Ann");
    // Rows follow the conversation within 100 ms (a busy thread's changes are sent together):
    // the snapshot may predate the last change, in which case the row frame follows.
    let current = |r: &Value| r["id"] == id.as_str() && r["unread"] == 2 && r["visitor_email"] == "visitor@example.com";
    let row = match snapshot["rows"].as_array().unwrap().iter().find(|r| current(r)) {
        Some(r) => r.clone(),
        None => inbox.expect(|m| m["type"] == "row" && current(&m["row"])).await["row"].clone(),
    };
    assert_eq!(row["ownership"]["state"], "waiting_for_human");
    assert_eq!(row["fields"]["email"], "visitor@example.com");
    // The second visitor asks for a person now: presence is asked at that moment, not remembered.
    second.message("c1", "speak to an agent please").await;
    let handoff = second.expect_event("handoff_requested").await;
    assert_eq!(handoff["kind"]["operators_online"], true, "{handoff}");
    assert!(handoff["kind"]["form"].is_null(), "{handoff}");
    assert!(handoff["kind"]["notice"].as_str().unwrap().starts_with("Connecting you with the team"));
    assert!(!w.log().contains("panicked"), "{}", w.log());
}

#[tokio::test]
async fn two_operators_racing_to_take_over_get_one_winner() {
    let w = Wrangler::start().await;
    let ann = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let bob = login(&w, "demo", "bob@example.com", "bob-password-1").await;
    let (id, token) = create_conversation(&w, "demo").await;
    let mut visitor = Ws::visitor(&w, "demo", &id, &token, 0).await;
    visitor.send(&json!({"type": "request_human", "client_id": "h"})).await;
    visitor.expect_event("handoff_requested").await;

    let mut a = Ws::operator(&w, "demo", &id, &ann, 0).await;
    let mut b = Ws::operator(&w, "demo", &id, &bob, 0).await;
    let take = json!({"type": "take_over", "client_id": "take"});
    tokio::join!(a.send(&take), b.send(&take));
    let reply = |m: &Value| (m["type"] == "ack" || m["type"] == "error") && m["client_id"] == "take";
    let (ra, rb) = tokio::join!(a.expect(reply), b.expect(reply));
    let (winner, loser, mut winner_ws, mut loser_ws, loser_reply) = match (ra["type"].as_str(), rb["type"].as_str()) {
        (Some("ack"), Some("error")) => ("Ann", "Bob", a, b, rb),
        (Some("error"), Some("ack")) => ("Bob", "Ann", b, a, ra),
        other => panic!("expected one ack and one error, got {other:?}: {ra} {rb}"),
    };
    assert_eq!(loser_reply["code"], "conflict");
    assert!(loser_reply["message"].as_str().unwrap().contains(winner), "{loser_reply}");
    assert_eq!(visitor.expect_event("operator_joined").await["kind"]["operator"]["name"], winner);

    // The loser cannot reply over the owner either.
    loser_ws.message("r", "I've got this").await;
    let err = loser_ws.expect(|m| m["type"] == "error" && m["client_id"] == "r").await;
    assert_eq!(err["code"], "conflict");

    // The owner leaves: the thread waits again, and the other operator takes it.
    winner_ws.send(&json!({"type": "leave", "client_id": "leave"})).await;
    winner_ws.ack("leave").await;
    loser_ws.send(&json!({"type": "take_over", "client_id": "take-2"})).await;
    loser_ws.ack("take-2").await;
    let frames = visitor.frames_until(|m| is_event(m, "operator_joined")).await;
    assert!(frames.iter().any(|m| is_event(m, "operator_left")), "{frames:#?}");
    assert_eq!(frames.last().unwrap()["event"]["kind"]["operator"]["name"], loser);
    let log = visitor_events(&w, "demo", &id, &token, 0).await;
    assert_eq!(kinds(&log).iter().filter(|k| *k == "operator_joined").count(), 2, "{:?}", kinds(&log));
    assert!(!w.log().contains("panicked"), "{}", w.log());
}

#[tokio::test]
async fn a_custom_action_form_is_validated_in_the_object_and_shown_to_operators() {
    let w = Wrangler::start().await;
    let cookie = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let (mut inbox, _) = Ws::inbox(&w, "demo", &cookie).await;
    let (id, token) = create_conversation(&w, "demo").await;
    let mut visitor = Ws::visitor(&w, "demo", &id, &token, 0).await;

    // "bug" is a trigger keyword and the keyword of the site's bug-report action (docs/baton.toml):
    // the form is asked for once, and the handoff does not repeat it.
    visitor.message("b1", "I think I found a bug in the citation links").await;
    let frames = visitor.frames_until(|m| is_event(m, "handoff_requested")).await;
    let forms: Vec<&Value> = frames.iter().filter(|m| is_event(m, "form_requested")).collect();
    assert_eq!(forms.len(), 1, "{frames:#?}");
    assert_eq!(forms[0]["event"]["kind"]["form"]["action"], "bug_report");
    let handoff = &frames.last().unwrap()["event"]["kind"];
    assert_eq!(handoff["handoff"]["reason"], "keyword");
    assert!(handoff["form"].is_null(), "{handoff}");

    let submit =
        |client_id: &str, values: Value| json!({"type": "submit_fields", "client_id": client_id, "action": "bug_report", "values": values});
    for (cid, values, field) in [
        ("s1", json!({"version": "1.2.3"}), "email"),
        ("s2", json!({"email": "dev@example.com", "version": "latest"}), "version"),
        ("s3", json!({"email": "dev@example.com", "version": "1.2.3", "browser": "Netscape"}), "browser"),
        ("s4", json!({"email": "dev@example.com", "shoe_size": "9"}), "shoe_size"),
    ] {
        visitor.send(&submit(cid, values)).await;
        let err = visitor.expect(|m| m["type"] == "error" && m["client_id"] == cid).await;
        assert_eq!((err["code"].as_str(), err["field"].as_str()), (Some("invalid_field"), Some(field)), "{err}");
    }
    visitor.send(&submit("s5", json!({"email": "dev@example.com", "version": "1.2.3", "browser": "Firefox"}))).await;
    let collected = visitor.expect_event("fields_collected").await;
    assert_eq!(collected["kind"]["values"], json!({"browser": "Firefox", "email": "dev@example.com", "version": "1.2.3"}));

    // Operators see the fields in the row and the log, with the automatic tag.
    let row = inbox.expect(|m| m["type"] == "row" && m["row"]["id"] == id.as_str() && m["row"]["fields"]["version"] == "1.2.3").await;
    assert_eq!(row["row"]["visitor_email"], "dev@example.com");
    assert!(row["row"]["tags"].as_array().unwrap().contains(&json!("technical")), "{row}");
    let log = operator_events(&w, "demo", &id, &cookie).await;
    assert_eq!(kinds(&log).iter().filter(|k| *k == "fields_collected").count(), 1, "refused submissions store nothing");
    assert!(!w.log().contains("panicked"), "{}", w.log());
}

#[tokio::test]
async fn unknown_questions_twice_in_a_row_hand_off_on_low_confidence() {
    let w = Wrangler::start().await;
    let (id, token) = create_conversation(&w, "demo").await;
    let mut visitor = Ws::visitor(&w, "demo", &id, &token, 0).await;
    visitor.message("u1", "What is the capital of Peru?").await;
    let first = visitor.expect_event("bot_answer").await;
    assert_eq!(first["kind"]["handoff"], true, "the docs don't know: {first}");
    let log = until_pong(&mut visitor).await;
    assert!(!log.iter().any(|m| is_event(m, "handoff_requested")), "one unknown question is not yet a handoff: {log:#?}");
    visitor.message("u2", "How tall is Mount Kilimanjaro?").await;
    let frames = visitor.frames_until(|m| is_event(m, "handoff_requested")).await;
    assert!(frames.iter().any(|m| is_event(m, "bot_answer")), "the bot says it doesn't know first: {frames:#?}");
    assert_eq!(frames.last().unwrap()["event"]["kind"]["handoff"]["reason"], "repeated_low_confidence");
    assert!(!w.log().contains("panicked"), "{}", w.log());
}

/// workerd hibernates an idle object with hibernatable sockets (after ~10 s locally): its
/// in-memory state is gone, the sockets stay open. Nothing the worker exposes says whether it
/// did, and waiting for it made this test depend on workerd's timing, so it does not wait: what
/// it checks holds whether or not the object hibernated in between, because who is on a socket
/// is read from the socket's own attachment on every frame (`socket_info`; the object keeps no
/// map of its sockets), and the ownership, the resend check and the numbering come from
/// storage. A cold object rebuilt from storage is what the restart test above checks.
#[tokio::test]
async fn sockets_keep_their_identity_whether_or_not_the_object_hibernated() {
    let w = Wrangler::start().await;
    let cookie = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let (id, token) = create_conversation(&w, "demo").await;
    let mut visitor = Ws::visitor(&w, "demo", &id, &token, 0).await;
    let mut op = Ws::operator(&w, "demo", &id, &cookie, 0).await;
    op.send(&json!({"type": "take_over", "client_id": "t"})).await;
    op.ack("t").await;
    visitor.expect_event("operator_joined").await;

    op.message("o1", "Still there?").await;
    let reply = visitor.expect_event("operator_message").await;
    assert_eq!(reply["kind"]["operator"]["name"], "Ann", "the operator socket is still Ann's");
    visitor.message("v1", "Yes! And how are operator passwords stored?").await;
    let relayed = op.expect_event("visitor_message").await;
    assert_eq!(relayed["client_id"], "v1");
    // Still a visitor socket (operators only may resolve), still owned by Ann (no bot answer).
    visitor.send(&json!({"type": "resolve", "client_id": "r"})).await;
    let refused = visitor.expect(|m| m["type"] == "error" && m["client_id"] == "r").await;
    assert_eq!(refused["code"], "forbidden");
    let frames = until_pong(&mut visitor).await;
    assert!(!frames.iter().any(|m| is_bot_typing(m) || is_event(m, "bot_answer")), "{frames:#?}");
    // The resend check and the numbering carry on from storage.
    visitor.message("v1", "Yes! And how are operator passwords stored?").await;
    let seq = relayed["seq"].as_u64().unwrap();
    assert_eq!(visitor.ack("v1").await, seq);
    // And a second tab resuming after the operator's message gets exactly what followed it.
    let mut tab = Ws::visitor(&w, "demo", &id, &token, reply["seq"].as_u64().unwrap()).await;
    let replay = until_pong(&mut tab).await;
    assert_eq!(replay.iter().map(|m| m["event"]["seq"].as_u64().unwrap()).collect::<Vec<_>>(), [seq], "{replay:#?}");
    assert!(!w.log().contains("panicked"), "{}", w.log());
}
