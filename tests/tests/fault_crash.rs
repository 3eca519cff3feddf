//! A crash in the middle of a conversation. Four clients are on one conversation — the
//! visitor, the visitor's second tab, Ann (who takes it over) and Bob (private notes, tags) —
//! and `wrangler dev` is killed (SIGKILL to its process group: workerd gets no warning) while
//! frames from the visitor and both operators are in flight, three times: while the bot answers
//! (a frame stores two events), while Ann takes over and replies, and right after a burst from
//! everyone. Each time the worker restarts on the same state, every client reconnects with
//! `hello {after: last seq it saw}` and resends what was not acknowledged, with the same client
//! ids.
//!
//! Then, for every client: the events it received over all its connections are exactly its view
//! of the log — once each, in order, no gaps, byte for byte; every frame it sent is stored
//! exactly once, as the event its ack names, in the order sent. The log: seqs 1, 2, 3…, no
//! client id twice, and no frame half-stored (every bot-answered question is followed by its
//! answer).

use baton_tests::resume::{check_log, Activity, Session};
use baton_tests::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Instant;

const SITE: &str = "demo";

struct Crash {
    /// Frames sent and not acknowledged when the worker died.
    unacked: usize,
    /// Acknowledged ones.
    acked: usize,
}

/// Waits for `acks` acks in all, kills the worker at once (frames still in flight), takes in what
/// each client received before its socket died, restarts on the same state and reconnects every
/// client (hello after its last seq, then its unacknowledged frames again).
async fn crash_and_resume(
    w: &mut Wrangler,
    state: &Path,
    sessions: &mut [&mut Session],
    activity: &Activity,
    acks: usize,
) -> (Wrangler, Crash) {
    activity.wait_acks(acks).await;
    w.kill();
    let mut crash = Crash { unacked: 0, acked: 0 };
    for s in sessions.iter_mut() {
        s.drain().await;
        crash.unacked += s.unacked().len();
        crash.acked += s.acks.len();
    }
    let w = Wrangler::start_on(state).await;
    for s in sessions.iter_mut() {
        s.connect(&w).await;
    }
    (w, crash)
}

fn message(client_id: &str, text: &str) -> Value {
    json!({"type": "message", "client_id": client_id, "text": text})
}

#[tokio::test]
async fn a_crash_mid_conversation_loses_nothing_and_stores_nothing_twice() {
    let started = Instant::now();
    let state = tempfile::tempdir().unwrap();
    let mut w = Wrangler::start_on(state.path()).await;
    let ann_cookie = login(&w, SITE, "ann@example.com", "ann-password-1").await;
    let bob_cookie = login(&w, SITE, "bob@example.com", "bob-password-1").await;
    let (id, token) = create_conversation(&w, SITE).await;
    let activity = Activity::new();
    let mut visitor = Session::visitor("visitor", SITE, &id, &token, &activity);
    let mut tab = Session::visitor("visitor's second tab", SITE, &id, &token, &activity);
    let mut ann = Session::operator("ann", SITE, &id, &ann_cookie, &activity);
    let mut bob = Session::operator("bob", SITE, &id, &bob_cookie, &activity);
    for s in [&mut visitor, &mut tab, &mut ann, &mut bob] {
        s.connect(&w).await;
    }
    let mut crashes = Vec::new();

    // 1. The bot answers: each question stores the question and its answer together. Four in
    //    flight; the worker dies once the first is acknowledged.
    let questions = [
        "How are operator passwords stored?",
        "How do I embed the widget?",
        "Which options does the script tag take?",
        "How do webhooks get signed?",
    ];
    for (i, q) in questions.iter().enumerate() {
        visitor.send(message(&format!("v-q{i}"), q)).await;
    }
    let (w2, c) = crash_and_resume(&mut w, state.path(), &mut [&mut visitor, &mut tab, &mut ann, &mut bob], &activity, 1).await;
    w = w2;
    crashes.push(c);
    visitor.wait_acked().await;

    // 2. A handoff; then Ann takes over and replies, the visitor keeps writing and Bob notes and
    //    tags, all at once. The worker dies after four more acks.
    visitor.send(message("v-human", "can I talk to a person please")).await;
    visitor.wait_acked().await;
    let before = activity.acks();
    ann.send(json!({"type": "take_over", "client_id": "a-take"})).await;
    for i in 0..8 {
        visitor.send(message(&format!("v-{i}"), &format!("my order number is 10{i}"))).await;
        if i < 6 {
            ann.send(message(&format!("a-{i}"), &format!("Looking at order 10{i} now."))).await;
        }
        if i < 4 {
            bob.send(json!({"type": "note", "client_id": format!("b-note-{i}"), "text": format!("order 10{i} shipped late")})).await;
        }
    }
    bob.send(json!({"type": "add_tag", "client_id": "b-tag-vip", "tag": "vip"})).await;
    bob.send(json!({"type": "add_tag", "client_id": "b-tag-billing", "tag": "billing"})).await;
    let (w2, c) = crash_and_resume(&mut w, state.path(), &mut [&mut visitor, &mut tab, &mut ann, &mut bob], &activity, before + 4).await;
    w = w2;
    crashes.push(c);

    // 3. Everyone again, resends included; the worker dies at the first ack.
    let before = activity.acks();
    for i in 8..14 {
        visitor.send(message(&format!("v-{i}"), &format!("and one more thing, {i}"))).await;
        ann.send(message(&format!("a-{i}"), &format!("Noted, {i}."))).await;
        bob.send(json!({"type": "note", "client_id": format!("b-note-{i}"), "text": format!("follow up {i}")})).await;
    }
    bob.send(json!({"type": "remove_tag", "client_id": "b-untag-vip", "tag": "vip"})).await;
    let (w2, c) = crash_and_resume(&mut w, state.path(), &mut [&mut visitor, &mut tab, &mut ann, &mut bob], &activity, before + 1).await;
    w = w2;
    crashes.push(c);

    // After the last restart the conversation goes on.
    visitor.send(message("v-last", "thanks, that was all")).await;
    ann.send(message("a-last", "You're welcome!")).await;
    bob.send(json!({"type": "note", "client_id": "b-last", "text": "done"})).await;
    for s in [&mut visitor, &mut ann, &mut bob] {
        s.wait_acked().await;
    }

    let log = operator_events(&w, SITE, &id, &ann_cookie).await;
    check_log(&log);
    let visitor_log = visitor_events(&w, SITE, &id, &token, 0).await;
    for s in [&mut visitor, &mut tab, &mut ann, &mut bob] {
        let view = if s.is_visitor() { &visitor_log } else { &log };
        s.wait_seen(view.last().unwrap()["seq"].as_u64().unwrap()).await;
        s.check(view, &log);
    }

    // Nothing half-stored: every question the bot took is followed by its answer, and the
    // request for a person by its handoff.
    let kinds = kinds(&log);
    let first_handoff = kinds.iter().position(|k| k == "handoff_requested").expect("the handoff");
    assert_eq!(log[first_handoff - 1]["client_id"], "v-human", "the handoff follows the request: {:#?}", &log[..=first_handoff]);
    for (i, e) in log[..first_handoff - 1].iter().enumerate() {
        if e["kind"]["type"] == "visitor_message" {
            let next = &log[i + 1];
            assert_eq!(next["kind"]["type"], "bot_answer", "a question stored without its answer: {e}");
            assert_eq!(next["kind"]["question_seq"], e["seq"], "{next}");
        }
    }
    assert_eq!(log.iter().filter(|e| e["kind"]["type"] == "bot_answer").count(), questions.len());
    assert_eq!(log.iter().filter(|e| e["kind"]["type"] == "operator_joined").count(), 1, "Ann joined once");
    let page: Value = http()
        .get(format!("{}/api/v1/sites/{SITE}/conversations/{id}/events?after=0", w.base()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["ownership"]["state"], "human");
    assert_eq!(page["ownership"]["operator"]["name"], "Ann", "{page}");

    // The crashes happened with frames in flight: each left some acknowledged, some not.
    for (i, c) in crashes.iter().enumerate() {
        assert!(c.unacked > 0, "crash {}: every frame was acknowledged before it, nothing was resent", i + 1);
    }
    let resent: usize = [&visitor, &tab, &ann, &bob].iter().map(|s| s.resent).sum();
    let already: usize = [&visitor, &tab, &ann, &bob].iter().map(|s| s.resent_already_stored).sum();
    assert!(!w.log().contains("panicked"), "the worker panicked:\n{}", w.log());
    eprintln!(
        "fault test: {} events, 3 crashes (unacknowledged at each: {:?}; acknowledged: {:?}), {resent} frames resent \
         ({already} of them had been stored before the crash), {:.1} s",
        log.len(),
        crashes.iter().map(|c| c.unacked).collect::<Vec<_>>(),
        crashes.iter().map(|c| c.acked).collect::<Vec<_>>(),
        started.elapsed().as_secs_f64()
    );
}
