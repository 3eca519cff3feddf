//! Relay benchmark (`./baton bench relay`): how fast a visitor's message reaches an operator's
//! socket through a real `Conversation` object on loopback workerd (`wrangler dev`), storing
//! every event before relaying it. Prints figures and writes `target/bench/relay.json`; asserts
//! nothing about time.
//!
//! 1. Two sockets: a visitor and the operator who took the conversation over (so the bot is
//!    silent and every visitor message is relayed to operators). One message at a time: the
//!    latency from sending it to the operator's socket receiving its event.
//! 2. A room of 50 sockets on the same conversation (the visitor, the measuring operator and 48
//!    more visitor tabs and operator sockets, all receiving every event): the same latency.
//! 3. Throughput: the visitor keeps `WINDOW` messages in flight; events stored, acknowledged and
//!    delivered per second by one object.
//!
//! Each runs twice: with the Durable Object storage on disk and on a tmpfs (see `main`).
//!
//! Environment: `BATON_RELAY_N` (messages per latency run, default 2000), `BATON_RELAY_EVENTS`
//! (messages in the throughput run, default 5000), `BATON_RELAY_STORAGE` (`disk` or `tmpfs`).

use baton_tests::*;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const WARMUP: usize = 200;
const ROOM: usize = 50;
const WINDOW: usize = 32;

type Sink = SplitSink<Stream, Message>;
type Source = SplitStream<Stream>;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn send_message(sink: &mut Sink, client_id: &str) {
    let frame = json!({"type": "message", "client_id": client_id, "text": format!("relay probe {client_id}: how do I rotate my API key?")});
    sink.send(Message::Text(frame.to_string().into())).await.expect("send");
}

/// The next JSON frame, or a panic if the socket closes or stalls.
async fn next_frame(source: &mut Source) -> Value {
    loop {
        match tokio::time::timeout(WAIT, source.next()).await.expect("no frame within the wait") {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).expect("JSON frame"),
            Some(Ok(Message::Close(c))) => panic!("socket closed: {c:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error: {e}"),
            None => panic!("socket ended"),
        }
    }
}

/// Reads and drops every frame (a room member, or the visitor's echoes), so no socket backs up.
fn drain(mut source: Source) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut frames = 0;
        while let Some(Ok(m)) = source.next().await {
            if m.is_text() {
                frames += 1;
            }
        }
        frames
    })
}

#[derive(serde::Serialize)]
struct Latency {
    sockets: usize,
    messages: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    mean_ms: f64,
    /// workerd CPU per message in this run (one at a time, so it includes every wake-up).
    workerd_cpu_us: f64,
}

impl Latency {
    /// The figures of one run's samples (sorted here).
    fn of(mut samples: Vec<Duration>, sockets: usize, workerd_cpu_us: f64) -> Latency {
        samples.sort();
        let n = samples.len();
        let ms = |p: f64| percentile(&samples, p).as_secs_f64() * 1000.0;
        Latency {
            workerd_cpu_us,
            sockets,
            messages: n,
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
            max_ms: ms(1.0),
            mean_ms: samples.iter().map(Duration::as_secs_f64).sum::<f64>() / n as f64 * 1000.0,
        }
    }
}

/// Sends `n` visitor messages one at a time; times each until the operator's socket has it.
async fn relay_latency(visitor: &mut Sink, operator: &mut Source, prefix: &str, n: usize, sockets: usize, group: i32) -> Latency {
    let mut samples = Vec::with_capacity(n);
    let mut cpu0 = 0;
    for i in 0..WARMUP + n {
        let client_id = format!("{prefix}{i}");
        let t0 = Instant::now();
        send_message(visitor, &client_id).await;
        loop {
            let f = next_frame(operator).await;
            if f["type"] == "event" && f["event"]["client_id"] == client_id.as_str() {
                assert_eq!(f["event"]["kind"]["type"], "visitor_message", "{f}");
                break;
            }
        }
        if i + 1 == WARMUP {
            cpu0 = workerd_cpu_ticks(group);
        }
        if i >= WARMUP {
            samples.push(t0.elapsed());
        }
    }
    let workerd_cpu_us = (workerd_cpu_ticks(group) - cpu0) as f64 / clock_ticks_per_second() * 1e6 / n as f64;
    Latency::of(samples, sockets, workerd_cpu_us)
}

/// The transport floor: a ping through the object and back on the same socket (no storage, no
/// JSON beyond the frame), so relay figures can be read against what this machine does anyway.
async fn ping_latency(visitor: &mut Sink, visitor_in: &mut mpsc::UnboundedReceiver<Value>, n: usize) -> Latency {
    let mut samples = Vec::with_capacity(n);
    for i in 0..WARMUP + n {
        let t0 = Instant::now();
        visitor.send(Message::Text(json!({"type": "ping"}).to_string().into())).await.expect("send");
        loop {
            let f = tokio::time::timeout(WAIT, visitor_in.recv()).await.expect("pong within the wait").expect("visitor reader");
            if f["type"] == "pong" {
                break;
            }
        }
        if i >= WARMUP {
            samples.push(t0.elapsed());
        }
    }
    Latency::of(samples, 1, 0.0)
}

#[derive(serde::Serialize)]
struct Throughput {
    events: usize,
    window: usize,
    seconds: f64,
    events_per_second: f64,
    delivered_to_operator: usize,
    /// CPU time the workerd processes spent per event (user + system): what one event costs the
    /// runtime, steadier than wall-clock figures on a shared machine.
    workerd_cpu_us_per_event: f64,
}

/// CPU time (user + system, in clock ticks) of the workerd processes in a process group.
fn workerd_cpu_ticks(group: i32) -> u64 {
    let mut ticks = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp ... utime(14) stime(15): fields after the ')' start at 3.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        if !head.ends_with("workerd") {
            continue;
        }
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.get(2).and_then(|g| g.parse::<i32>().ok()) != Some(group) {
            continue;
        }
        ticks += f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0) + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    }
    ticks
}

fn clock_ticks_per_second() -> f64 {
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// The visitor keeps `WINDOW` messages in flight (each ack frees a slot): events per second
/// one object stores, acknowledges and relays.
async fn throughput(mut visitor: Sink, mut visitor_in: Source, mut operator: Source, events: usize, group: i32) -> Throughput {
    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<()>();
    let acks = tokio::spawn(async move {
        let mut n = 0;
        while n < events {
            let f = next_frame(&mut visitor_in).await;
            if f["type"] == "ack" {
                n += 1;
                let _ = ack_tx.send(());
            } else if f["type"] == "error" {
                panic!("the object refused a message: {f}");
            }
        }
    });
    let delivered = tokio::spawn(async move {
        let mut n = 0;
        while n < events {
            let f = next_frame(&mut operator).await;
            if f["type"] == "event" && f["event"]["kind"]["type"] == "visitor_message" {
                n += 1;
            }
        }
        n
    });
    let cpu0 = workerd_cpu_ticks(group);
    let t0 = Instant::now();
    let mut sent = 0;
    let mut acked = 0;
    while acked < events {
        while sent < events && sent - acked < WINDOW {
            send_message(&mut visitor, &format!("t{sent}")).await;
            sent += 1;
        }
        tokio::time::timeout(WAIT, ack_rx.recv()).await.expect("ack within the wait").expect("ack channel");
        acked += 1;
    }
    let seconds = t0.elapsed().as_secs_f64();
    acks.await.expect("ack reader");
    let delivered = delivered.await.expect("operator reader");
    let cpu = (workerd_cpu_ticks(group) - cpu0) as f64 / clock_ticks_per_second();
    Throughput {
        events,
        window: WINDOW,
        seconds,
        events_per_second: events as f64 / seconds,
        delivered_to_operator: delivered,
        workerd_cpu_us_per_event: cpu * 1e6 / events as f64,
    }
}

fn print_latency(name: &str, l: &Latency, target_p50: Option<f64>, target_p99: Option<f64>) {
    let target = match (target_p50, target_p99) {
        (Some(p50), Some(p99)) => format!("   target p50 ≤ {p50} ms, p99 ≤ {p99} ms"),
        (Some(p50), None) => format!("   target p50 ≤ {p50} ms"),
        _ => String::new(),
    };
    println!(
        "{name:<28} sockets {:>3}  n {:>5}  p50 {:>6.3} ms  p90 {:>6.3} ms  p99 {:>6.3} ms  max {:>7.3} ms  workerd CPU {:>5.0} µs{target}",
        l.sockets, l.messages, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms, l.workerd_cpu_us,
    );
}

/// One full run on one `wrangler dev`: floor, two sockets, a room of 50, throughput.
async fn suite(w: &Wrangler, n: usize, events: usize) -> Value {
    let cookie = login(w, "bench", "ann@example.com", "ann-password-1").await;
    let (id, token) = create_conversation(w, "bench").await;

    // The operator takes the thread over: from now on visitor messages are stored and relayed.
    let mut op = Ws::operator(w, "bench", &id, &cookie, 0).await;
    op.send(&json!({"type": "take_over", "client_id": "bench-take-over"})).await;
    op.expect_event("operator_joined").await;
    let (_op_sink, mut op_in) = op.into_stream().split();
    let visitor = Ws::visitor(w, "bench", &id, &token, 1 << 50).await;
    let (mut v_sink, v_in) = visitor.into_stream().split();
    let (v_tx, mut v_rx) = mpsc::unbounded_channel::<Value>();
    let visitor_reader = tokio::spawn(async move {
        let mut v_in = v_in;
        while let Some(Ok(m)) = v_in.next().await {
            if let Message::Text(t) = m {
                if let Ok(v) = serde_json::from_str::<Value>(&t) {
                    if v["type"] == "error" {
                        eprintln!("visitor got an error frame: {v}");
                    }
                    let _ = v_tx.send(v);
                }
            }
        }
    });

    let group = w.process_group().expect("running");
    let cpu0 = workerd_cpu_ticks(group);
    let mut floor = ping_latency(&mut v_sink, &mut v_rx, n).await;
    floor.workerd_cpu_us = (workerd_cpu_ticks(group) - cpu0) as f64 / clock_ticks_per_second() * 1e6 / (n + WARMUP) as f64;
    print_latency("floor: visitor ping → pong", &floor, None, None);

    let pair = relay_latency(&mut v_sink, &mut op_in, "p", n, 2, group).await;
    print_latency("1 visitor + 1 operator", &pair, Some(1.5), Some(4.0));

    // A room of 50: more visitor tabs and operator sockets on the same conversation.
    let mut room = Vec::new();
    for i in 0..ROOM - 2 {
        let ws = if i % 2 == 0 {
            Ws::visitor(w, "bench", &id, &token, 1 << 50).await
        } else {
            Ws::operator(w, "bench", &id, &cookie, 1 << 50).await
        };
        let (sink, source) = ws.into_stream().split();
        room.push((sink, drain(source)));
    }
    let big = relay_latency(&mut v_sink, &mut op_in, "r", n, ROOM, group).await;
    print_latency(&format!("room of {ROOM} sockets"), &big, Some(3.0), None);
    for (mut sink, task) in room {
        let _ = sink.close().await;
        task.abort();
    }

    // Throughput with the two sockets: stop the echo reader and count acks instead.
    visitor_reader.abort();
    let (v_sink2, v_in2) = Ws::visitor(w, "bench", &id, &token, 1 << 50).await.into_stream().split();
    let _ = v_sink.close().await;
    let t = throughput(v_sink2, v_in2, op_in, events, group).await;
    println!(
        "{:<28} {} events, {} in flight: {:.0} events/s stored + acknowledged + relayed ({} delivered); workerd CPU {:.0} µs per event",
        "one Conversation object", t.events, t.window, t.events_per_second, t.delivered_to_operator, t.workerd_cpu_us_per_event
    );
    assert!(!w.log().contains("panicked"), "the worker panicked:\n{}", w.log());
    json!({"floor_ping": floor, "two_sockets": pair, "room": big, "throughput": t})
}

#[tokio::main]
async fn main() {
    let n = env_usize("BATON_RELAY_N", 2000);
    let events = env_usize("BATON_RELAY_EVENTS", 5000);
    // Where Durable Object storage lives decides much of the latency: local SQLite commits wait
    // on the disk (fsync), which says more about this machine's disk than about Baton. So the
    // suite runs twice: state on disk (a temp dir, like the tests) and on a tmpfs (/dev/shm),
    // where the commit costs CPU only. BATON_RELAY_STORAGE=disk|tmpfs picks one.
    let which = std::env::var("BATON_RELAY_STORAGE").unwrap_or_default();
    let mut runs = serde_json::Map::new();
    for (name, parent) in [("disk", std::env::temp_dir()), ("tmpfs", std::path::PathBuf::from("/dev/shm"))] {
        if (!which.is_empty() && which != name) || !parent.is_dir() {
            continue;
        }
        println!(
            "\nrelay, state on {name} ({}): visitor message → operator socket, loopback wrangler dev, stored before relayed",
            parent.display()
        );
        let w = Wrangler::start_in(&parent, &[]).await;
        runs.insert(name.to_string(), suite(&w, n, events).await);
    }
    let report = json!({
        "bench": "relay",
        "what": "visitor message → operator socket through one Conversation Durable Object, stored before relayed, loopback wrangler dev",
        "runs": runs,
        "targets": {"two_sockets_p50_ms": 1.5, "two_sockets_p99_ms": 4.0, "room_p50_ms": 3.0},
        "anchors": {
            "js_edge_chat_broadcast_before_store": {"two_sockets_p50_ms": 0.63, "two_sockets_p99_ms": 1.36, "room_p50_ms": 1.52},
            "minimal_rust_object_store_first": {"two_sockets_p50_ms": 1.68, "two_sockets_p99_ms": 3.20}
        }
    });
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    std::fs::write(dir.join("relay.json"), serde_json::to_string_pretty(&report).unwrap()).expect("write relay.json");
    println!("\nwrote {}", dir.join("relay.json").display());
}
