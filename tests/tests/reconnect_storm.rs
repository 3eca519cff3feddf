//! A reconnect storm: 200 sockets — a visitor and the operator who took it over, on each of 100
//! conversations — drop at the same moment (no close frame, as when a network or a proxy goes
//! away) with frames still in flight, and all reconnect at once, each saying `hello` after the
//! last seq it saw and resending what was not acknowledged, with the same client ids.
//!
//! Then every client's events over both connections are exactly its view of the log — once
//! each, in order, no gaps — and every frame it sent is stored once, as the event its ack names.

use baton_tests::resume::{check_log, Activity, Session};
use baton_tests::*;
use futures_util::future::join_all;
use serde_json::json;
use std::time::Instant;

const SITE: &str = "bench"; // tests/sites/bench: wide visitor limits for one client address
const CONVERSATIONS: usize = 100;

fn message(client_id: String, text: String) -> serde_json::Value {
    json!({"type": "message", "client_id": client_id, "text": text})
}

#[tokio::test]
async fn two_hundred_sockets_drop_and_reconnect_at_once_without_gaps_or_duplicates() {
    let w = Wrangler::start().await;
    let cookie = login(&w, SITE, "ann@example.com", "ann-password-1").await;
    let activity = Activity::new();
    let mut sessions = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..CONVERSATIONS {
        let (id, token) = create_conversation(&w, SITE).await;
        sessions.push(Session::visitor(&format!("visitor {i}"), SITE, &id, &token, &activity));
        sessions.push(Session::operator(&format!("operator {i}"), SITE, &id, &cookie, &activity));
        tokens.push((id, token));
    }
    join_all(sessions.iter_mut().map(|s| s.connect(&w))).await;

    // The operator takes each conversation over; both sides talk; everything acknowledged.
    for (i, s) in sessions.iter_mut().enumerate() {
        if !s.is_visitor() {
            s.send(json!({"type": "take_over", "client_id": format!("take-{i}")})).await;
        }
    }
    for round in 0..3 {
        for (i, s) in sessions.iter_mut().enumerate() {
            s.send(message(format!("m{round}-{i}"), format!("before the storm, {round}"))).await;
        }
    }
    join_all(sessions.iter_mut().map(|s| s.wait_acked())).await;

    // Two more frames from every client, then every socket drops at once: some of these are
    // stored and acknowledged, some stored with the ack lost, some never arrived.
    for round in 3..5 {
        for (i, s) in sessions.iter_mut().enumerate() {
            s.send(message(format!("m{round}-{i}"), format!("in the storm, {round}"))).await;
        }
    }
    let in_flight: usize = sessions
        .iter_mut()
        .map(|s| {
            s.pump();
            s.unacked().len()
        })
        .sum();
    for s in sessions.iter_mut() {
        s.drop_connection();
    }
    let started = Instant::now();
    join_all(sessions.iter_mut().map(|s| s.connect(&w))).await;
    let reconnected_ms = started.elapsed().as_secs_f64() * 1e3;

    // After the storm the conversations go on.
    for (i, s) in sessions.iter_mut().enumerate() {
        s.send(message(format!("after-{i}"), "after the storm".into())).await;
    }
    join_all(sessions.iter_mut().map(|s| s.wait_acked())).await;

    let mut events = 0;
    let mut resent = 0;
    for (i, (id, token)) in tokens.iter().enumerate() {
        let log = operator_events(&w, SITE, id, &cookie).await;
        check_log(&log);
        let visitor_log = visitor_events(&w, SITE, id, token, 0).await;
        for s in &mut sessions[2 * i..2 * i + 2] {
            let view = if s.is_visitor() { &visitor_log } else { &log };
            s.wait_seen(view.last().unwrap()["seq"].as_u64().unwrap()).await;
            s.check(view, &log);
            resent += s.resent;
        }
        events += log.len();
    }
    assert!(in_flight > 0, "the storm hit no frame in flight: nothing was tested");
    assert!(!w.log().contains("panicked"), "the worker panicked:\n{}", w.log());
    eprintln!(
        "reconnect storm: {} sockets, {CONVERSATIONS} conversations, {events} events; {in_flight} frames unacknowledged at the drop, \
         {resent} resent; all reconnected (hello → welcome → resends) in {reconnected_ms:.0} ms",
        sessions.len()
    );
}
