//! In-worker answer latency and index cold load, measured from outside: inside Workers the
//! clock does not advance during CPU work, so the worker cannot time itself. The real worker
//! runs under `wrangler dev` (workerd, wasm) with a benchmark site; each figure is an HTTP
//! round trip on loopback, and a trivial route (`/healthz`), timed just before each question,
//! gives the round trip's own cost.
//!
//! usage: bench-worker --site-dir DIR [--queries N] [--json FILE]
//!   DIR holds index.idx, site.json (site `bench`) and questions.txt, as written by
//!   `index-builder bench synthetic --chunks 10000 --site-dir DIR` (`./baton bench worker`).
//!
//! Prints a table and writes JSON; asserts nothing about time.

use baton_tests::{arg, http, percentile, root, wrangler_config_with_assets, Options, Wrangler};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A wrangler config beside `dir/dist`, serving only the model and the benchmark sites.
fn stage(dir: &Path, site_dir: &Path) -> PathBuf {
    let root = root();
    let dist = dir.join("dist");
    let model_src = root.join("dist/model");
    std::fs::create_dir_all(dist.join("model")).unwrap();
    for entry in std::fs::read_dir(&model_src).expect("dist/model: run ./baton build first") {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dist.join("model").join(entry.file_name())).unwrap();
    }
    // Two sites with the same index: the first question to `bench` loads the model and the
    // index, the first to `bench2` only the index.
    for site in ["bench", "bench2"] {
        let d = dist.join("sites").join(site);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(site_dir.join("index.idx"), d.join("index.idx")).expect("index.idx in --site-dir");
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(site_dir.join("site.json")).expect("site.json in --site-dir")).unwrap();
        config["site"] = site.into();
        // One client asks every question: no `/ask` limit may get in the way of the figures.
        let wide = serde_json::json!({"burst": 1_000_000, "per_minute": 60_000});
        config["limits"]["ask_per_ip"] = wide.clone();
        config["limits"]["ask_per_site"] = wide;
        std::fs::write(d.join("site.json"), serde_json::to_vec(&config).unwrap()).unwrap();
    }
    wrangler_config_with_assets(dir, &dist)
}

async fn timed_ask(base: &str, site: &str, question: &str) -> f64 {
    let t = Instant::now();
    let r = http()
        .post(format!("{base}/api/v1/sites/{site}/ask"))
        .json(&serde_json::json!({ "question": question }))
        .send()
        .await
        .expect("ask");
    assert!(r.status().is_success(), "ask answered {}", r.status());
    r.bytes().await.unwrap();
    t.elapsed().as_secs_f64() * 1e3
}

async fn timed_get(url: &str) -> f64 {
    let t = Instant::now();
    let r = http().get(url).send().await.expect("get");
    r.bytes().await.unwrap();
    t.elapsed().as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let site_dir = PathBuf::from(arg("--site-dir").expect("--site-dir DIR (see the usage at the top of this file)"));
    let queries: usize = arg("--queries").and_then(|q| q.parse().ok()).unwrap_or(200);
    let json_out = arg("--json").map(PathBuf::from);
    let questions: Vec<String> = std::fs::read_to_string(site_dir.join("questions.txt"))
        .expect("questions.txt in --site-dir")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let config = stage(tmp.path(), &site_dir);
    let w = Wrangler::start_with_options(&Options { config: Some(config), ..Options::default() }).await;
    let base = w.base();
    // The first request compiles the worker's wasm; then the trivial route's round trip.
    let first_healthz = timed_get(&format!("{base}/healthz")).await;
    let mut healthz: Vec<f64> = Vec::new();
    for _ in 0..50 {
        healthz.push(timed_get(&format!("{base}/healthz")).await);
    }
    let cold_model_and_index = timed_ask(&base, "bench", &questions[0]).await;
    let cold_index = timed_ask(&base, "bench2", &questions[0]).await;
    // Each question right after a /healthz round trip: the difference of the pair is the
    // answer's own time, with the machine's load at that moment mostly cancelled out.
    let (mut asks, mut answer): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for q in questions.iter().cycle().take(queries) {
        let h = timed_get(&format!("{base}/healthz")).await;
        let a = timed_ask(&base, "bench", q).await;
        healthz.push(h);
        asks.push(a);
        answer.push(a - h);
    }
    for v in [&mut healthz, &mut asks, &mut answer] {
        v.sort_by(f64::total_cmp);
    }
    let healthz_p50 = percentile(&healthz, 0.5);
    let ask_p50 = percentile(&asks, 0.5);
    let ask_p95 = percentile(&asks, 0.95);
    let answer_p50 = percentile(&answer, 0.5);
    let answer_p95 = percentile(&answer, 0.95);
    let index_bytes = std::fs::metadata(site_dir.join("index.idx")).map(|m| m.len()).unwrap_or(0);
    let result = serde_json::json!({
        "index_bytes": index_bytes,
        "queries": asks.len(),
        "first_request_ms": first_healthz,
        "healthz_p50_ms": healthz_p50,
        "ask_rtt_p50_ms": ask_p50,
        "ask_rtt_p95_ms": ask_p95,
        "answer_in_worker_p50_ms": answer_p50,
        "answer_in_worker_p95_ms": answer_p95,
        "cold_index_load_ms": cold_index - ask_p50,
        "cold_model_and_index_load_ms": cold_model_and_index - ask_p50,
    });
    println!("in-worker figures (wrangler dev, workerd; round trips on loopback minus /healthz):");
    println!("  index                     {:.1} MB", index_bytes as f64 / 1e6);
    println!(
        "  answer p50 / p95          {:.2} / {:.2} ms  (ask round trip {ask_p50:.2} / {ask_p95:.2} ms, /healthz {healthz_p50:.2} ms)",
        ask_p50 - healthz_p50,
        ask_p95 - healthz_p50
    );
    println!("  cold load: index          {:.0} ms", cold_index - ask_p50);
    println!("  cold load: model + index  {:.0} ms", cold_model_and_index - ask_p50);
    println!("  first request (wasm compile) {first_healthz:.0} ms");
    if let Some(path) = json_out {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&result).unwrap()).unwrap();
        println!("wrote {}", path.display());
    }
    drop(w);
}
