//! Load benchmark (`./baton bench load`): N conversations × M messages on one `wrangler dev`
//! (loopback, the `bench` site of tests/sites), each with a visitor socket and the socket of
//! the operator who took it over. The two sides take turns, like people chatting: each message
//! is sent once the previous one reached the other side, so the latency measured is delivery
//! (send → the other side's socket has the event), not queueing in the client.
//!
//! Prints and writes `target/bench/load.json`: sent / acknowledged / delivered / lost /
//! duplicated / out-of-order, delivery latency p50/p90/p99, throughput, and the resident memory
//! of the workerd processes (sampled while the load runs). No assertion: the target is
//! 0 lost, 0 duplicated, 0 out of order, and the figures say whether it was met.
//!
//! Options: `--conversations N` (1000), `--messages M` (20), `--concurrency C` (conversations
//! in flight at once, 200), `--json FILE`.

use baton_tests::*;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

const SITE: &str = "bench";

/// What one conversation saw.
#[derive(Default)]
struct Tally {
    sent: u64,
    acked: u64,
    delivered: u64,
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
    errors: Vec<String>,
    latencies_ms: Vec<f64>,
}

/// One side's socket: its sink, its frames, the seqs of the events it received.
struct Side {
    sink: SplitSink<Stream, Message>,
    source: SplitStream<Stream>,
    seen: Vec<u64>,
}

impl Side {
    fn new(ws: Ws) -> Side {
        let (sink, source) = ws.into_stream().split();
        Side { sink, source, seen: Vec::new() }
    }

    async fn send(&mut self, v: &Value) {
        self.sink.send(Message::Text(v.to_string().into())).await.expect("send");
    }

    /// Next JSON frame (bounded by WAIT).
    async fn frame(&mut self) -> Option<Value> {
        loop {
            match tokio::time::timeout(WAIT, self.source.next()).await.ok()?? {
                Ok(Message::Text(t)) => return serde_json::from_str(&t).ok(),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Reads until `pred`, recording event seqs; `None` if the socket ended or nothing came.
    async fn until(&mut self, pred: impl Fn(&Value) -> bool, tally: &mut Tally) -> Option<Value> {
        loop {
            let f = self.frame().await?;
            if f["type"] == "event" {
                self.seen.push(f["event"]["seq"].as_u64().unwrap_or(0));
            }
            if f["type"] == "error" {
                tally.errors.push(f.to_string());
            }
            if pred(&f) {
                return Some(f);
            }
        }
    }
}

/// Counts duplicates and order breaks in the seqs a socket received.
fn order_faults(seen: &[u64]) -> (u64, u64) {
    let mut set = HashSet::new();
    let dup = seen.iter().filter(|s| !set.insert(**s)).count() as u64;
    let ooo = seen.windows(2).filter(|w| w[1] < w[0]).count() as u64;
    (dup, ooo)
}

async fn conversation(w: Arc<Wrangler>, cookie: Arc<String>, n: usize, m: usize) -> Tally {
    let mut t = Tally::default();
    let (id, token) = create_conversation(&w, SITE).await;
    let mut visitor = Side::new(Ws::visitor(&w, SITE, &id, &token, 0).await);
    let mut operator = Side::new(Ws::operator(&w, SITE, &id, &cookie, 0).await);
    operator.send(&json!({"type": "take_over", "client_id": "take"})).await;
    if operator.until(|f| f["type"] == "ack" && f["client_id"] == "take", &mut t).await.is_none() {
        t.errors.push(format!("conversation {n}: take-over not acknowledged"));
        return t;
    }
    visitor.until(|f| f["type"] == "event" && f["event"]["kind"]["type"] == "operator_joined", &mut t).await;
    for i in 0..m {
        let client_id = format!("m{i}");
        let from_visitor = i % 2 == 0;
        let (from, to) = if from_visitor { (&mut visitor, &mut operator) } else { (&mut operator, &mut visitor) };
        let started = Instant::now();
        from.send(&json!({"type": "message", "client_id": client_id, "text": format!("message {i} of conversation {n}")})).await;
        t.sent += 1;
        // The other side gets the event; the sender its echo and its ack (in either order).
        let cid = client_id.clone();
        match to.until(move |f| f["type"] == "event" && f["event"]["client_id"] == cid.as_str(), &mut t).await {
            Some(_) => {
                t.delivered += 1;
                t.latencies_ms.push(started.elapsed().as_secs_f64() * 1e3);
            }
            None => t.errors.push(format!("conversation {n}: {client_id} never reached the other side")),
        }
        let cid = client_id.clone();
        if from.until(move |f| f["type"] == "ack" && f["client_id"] == cid.as_str(), &mut t).await.is_some() {
            t.acked += 1;
        }
    }
    // Whatever is still on the wire (echoes), up to a final pong, then compare with the log.
    for side in [&mut visitor, &mut operator] {
        side.send(&json!({"type": "ping"})).await;
        side.until(|f| f["type"] == "pong", &mut t).await;
    }
    let log: Vec<u64> = operator_events(&w, SITE, &id, &cookie).await.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let visitor_log: Vec<u64> = visitor_events(&w, SITE, &id, &token, 0).await.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    // Lost: never stored (no ack), or stored and never received by a socket that should have.
    t.lost += t.sent - t.acked;
    for (side, want) in [(&visitor, &visitor_log), (&operator, &log)] {
        let (dup, ooo) = order_faults(&side.seen);
        t.duplicated += dup;
        t.out_of_order += ooo;
        let got: HashSet<u64> = side.seen.iter().copied().collect();
        t.lost += want.iter().filter(|s| !got.contains(s)).count() as u64;
    }
    t
}

/// Resident memory (kB) of the workerd processes under wrangler's process group.
fn workerd_rss_kb(group: i32) -> u64 {
    let mut total = 0;
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    for entry in dir.flatten() {
        let path = entry.path();
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else { continue };
        // pid (comm) state ppid pgrp …
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else { continue };
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) != Some(group) || !stat.contains("(workerd)") {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        total +=
            status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()).unwrap_or(0);
    }
    total
}

#[tokio::main]
async fn main() {
    let n: usize = arg("--conversations").and_then(|v| v.parse().ok()).unwrap_or(1000);
    let m: usize = arg("--messages").and_then(|v| v.parse().ok()).unwrap_or(20);
    let concurrency: usize = arg("--concurrency").and_then(|v| v.parse().ok()).unwrap_or(200);
    let json_out = arg("--json").unwrap_or_else(|| root().join("target/bench/load.json").display().to_string());
    let w = Arc::new(Wrangler::start().await);
    let group = w.process_group().unwrap_or(0);
    let rss_idle = workerd_rss_kb(group);
    let cookie = Arc::new(login(&w, SITE, "ann@example.com", "ann-password-1").await);
    eprintln!("load: {n} conversations × {m} messages, {concurrency} at once, on {}", w.base());

    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(concurrency));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (w, cookie, gate) = (w.clone(), cookie.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            conversation(w, cookie, i, m).await
        }));
    }
    // Memory while the load runs: sampled every 250 ms until the tasks are done.
    let sampler = {
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let d = done.clone();
        let h = tokio::spawn(async move {
            let mut peak = 0;
            while !d.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(workerd_rss_kb(group));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            peak
        });
        (done, h)
    };
    let mut all = Tally::default();
    let mut panicked = 0;
    for t in tasks {
        match t.await {
            Ok(t) => {
                all.sent += t.sent;
                all.acked += t.acked;
                all.delivered += t.delivered;
                all.lost += t.lost;
                all.duplicated += t.duplicated;
                all.out_of_order += t.out_of_order;
                all.errors.extend(t.errors);
                all.latencies_ms.extend(t.latencies_ms);
            }
            Err(_) => panicked += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    sampler.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let rss_peak = sampler.1.await.unwrap_or(0);
    let rss_after = workerd_rss_kb(group);
    all.latencies_ms.sort_by(f64::total_cmp);
    if all.latencies_ms.is_empty() {
        all.latencies_ms.push(0.0); // nothing delivered: the figures below say so
    }
    let lat = &all.latencies_ms;
    let result = json!({
        "conversations": n,
        "messages_per_conversation": m,
        "concurrency": concurrency,
        "sent": all.sent,
        "acknowledged": all.acked,
        "delivered": all.delivered,
        "lost": all.lost,
        "duplicated": all.duplicated,
        "out_of_order": all.out_of_order,
        "error_frames": all.errors.len(),
        "failed_conversations": panicked,
        "latency_ms": { "p50": percentile(lat, 0.5), "p90": percentile(lat, 0.9), "p99": percentile(lat, 0.99), "max": lat.last().copied().unwrap_or(0.0) },
        "messages_per_second": all.delivered as f64 / elapsed,
        "seconds": elapsed,
        "workerd_rss_mb": { "idle": rss_idle as f64 / 1024.0, "peak": rss_peak as f64 / 1024.0, "after": rss_after as f64 / 1024.0 },
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    if !all.errors.is_empty() {
        eprintln!("first error frames: {:#?}", &all.errors[..all.errors.len().min(5)]);
    }
    let ok = all.lost == 0 && all.duplicated == 0 && all.out_of_order == 0 && panicked == 0 && all.acked == all.sent;
    eprintln!(
        "load: {} sent, {} acknowledged, {} delivered, {} lost, {} duplicated, {} out of order; delivery p50 {:.1} ms, p99 {:.1} ms; \
         {:.0} messages/s; workerd RSS peak {:.0} MB — target (0 lost / duplicated / out of order) {}",
        all.sent,
        all.acked,
        all.delivered,
        all.lost,
        all.duplicated,
        all.out_of_order,
        percentile(lat, 0.5),
        percentile(lat, 0.99),
        all.delivered as f64 / elapsed,
        rss_peak as f64 / 1024.0,
        if ok { "met" } else { "MISSED" }
    );
    if let Some(dir) = std::path::Path::new(&json_out).parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&json_out, serde_json::to_string_pretty(&result).unwrap()).unwrap();
}
