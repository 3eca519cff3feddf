//! In-worker answer latency and cold load, measured from outside: in production Workers the clock
//! does not advance during CPU work, so the worker cannot time its answers. The real worker runs
//! under `wrangler dev` (workerd, wasm) with benchmark sites; each figure is an HTTP round trip
//! on loopback, and a trivial route (`/healthz`) and an ask refused at once (an empty question:
//! the same POST, body and routing, `400` before any limiter or the engine), each timed just
//! before the question, give the round trip's own cost.
//!
//! usage: bench-worker --sites DIR[,DIR…] [--queries N] [--cold-runs N] [--json FILE]
//!   each DIR holds index.idx, site.json (site `bench`) and questions.txt, as written by
//!   `index-builder bench synthetic --chunks 10000,100000 --sites-dir target/bench`
//!   (DIR = target/bench/site-10k, …; `./baton bench worker`).
//!
//! Cold load: for each of `--cold-runs` fresh `wrangler dev` processes (a new isolate each), the
//! first question to the first site loads the model and its index; the first question to each
//! other site (and to a second copy of the first) loads an index alone. Each is reported minus
//! a warm question's round trip, with the loader's own breakdown (`Server-Timing`, which the
//! worker sends when `BATON_LOAD_TIMING` is set: the index header, the index and model fetched
//! together, opening the model, opening the index).
//!
//! Prints a table and writes JSON; asserts nothing about time.

use baton_tests::{arg, http, percentile, root, wrangler_config_with_assets, Options, Wrangler};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// "site-10k" → "10k": the site's label.
fn label(dir: &Path) -> String {
    let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    name.strip_prefix("site-").unwrap_or(&name).to_string()
}

/// A wrangler config beside `dir/dist`, serving only the model and the benchmark sites: for
/// each DIR, `bench-<label>` and a second copy `bench2-<label>` (its cold load is the index
/// alone, the model being loaded by then).
fn stage(dir: &Path, site_dirs: &[PathBuf]) -> PathBuf {
    let root = root();
    let dist = dir.join("dist");
    let model_src = root.join("dist/model");
    std::fs::create_dir_all(dist.join("model")).unwrap();
    for entry in std::fs::read_dir(&model_src).expect("dist/model: run ./baton build first") {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dist.join("model").join(entry.file_name())).unwrap();
    }
    for site_dir in site_dirs {
        for prefix in ["bench", "bench2"] {
            let site = format!("{prefix}-{}", label(site_dir));
            let d = dist.join("sites").join(&site);
            std::fs::create_dir_all(&d).unwrap();
            for entry in std::fs::read_dir(site_dir).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().to_string_lossy().to_string();
                // The index and its parts; hard links, not copies (a 100k index is large).
                if name.starts_with("index.idx") && std::fs::hard_link(entry.path(), d.join(&name)).is_err() {
                    std::fs::copy(entry.path(), d.join(&name)).unwrap();
                }
            }
            let mut config: serde_json::Value =
                serde_json::from_slice(&std::fs::read(site_dir.join("site.json")).expect("site.json in the site folder")).unwrap();
            config["site"] = site.into();
            // One client asks every question: no `/ask` limit may get in the way of the figures.
            let wide = serde_json::json!({"burst": 1_000_000, "per_minute": 60_000});
            config["limits"]["ask_per_ip"] = wide.clone();
            config["limits"]["ask_per_site"] = wide;
            std::fs::write(d.join("site.json"), serde_json::to_vec(&config).unwrap()).unwrap();
        }
    }
    wrangler_config_with_assets(dir, &dist)
}

/// One `POST …/ask`: its round trip (ms), status and the loader's `Server-Timing`, if any.
async fn post_ask(base: &str, site: &str, question: &str) -> (f64, u16, Option<String>) {
    let t = Instant::now();
    let r = http()
        .post(format!("{base}/api/v1/sites/{site}/ask"))
        .json(&serde_json::json!({ "question": question }))
        .send()
        .await
        .expect("ask");
    let status = r.status().as_u16();
    let timing = r.headers().get("server-timing").and_then(|v| v.to_str().ok()).map(str::to_string);
    r.bytes().await.unwrap();
    (t.elapsed().as_secs_f64() * 1e3, status, timing)
}

/// One ask: its round trip (ms) and the loader's `Server-Timing`, if it loaded something.
async fn timed_ask(base: &str, site: &str, question: &str) -> (f64, Option<String>) {
    let (ms, status, timing) = post_ask(base, site, question).await;
    assert_eq!(status, 200, "ask answered {status}");
    (ms, timing)
}

/// The same route with a question refused at once (`400`, before any limiter or the engine): a
/// round trip with the ask's own shape — a POST with a JSON body through the same routing and
/// site config — minus the answer.
async fn timed_refused_ask(base: &str, site: &str) -> f64 {
    let (ms, status, _) = post_ask(base, site, " ").await;
    assert_eq!(status, 400, "an empty question is refused");
    ms
}

async fn timed_get(url: &str) -> f64 {
    let t = Instant::now();
    let r = http().get(url).send().await.expect("get");
    r.bytes().await.unwrap();
    t.elapsed().as_secs_f64() * 1e3
}

/// `a;dur=1.5, b;dur=2` → {a: 1.5, b: 2}.
fn phases(timing: &Option<String>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for part in timing.as_deref().unwrap_or("").split(',') {
        if let Some((name, dur)) = part.trim().split_once(";dur=") {
            *out.entry(name.to_string()).or_insert(0.0) += dur.parse::<f64>().unwrap_or(0.0);
        }
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        percentile(&v, 0.5)
    }
}

fn questions(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("questions.txt"))
        .expect("questions.txt in the site folder")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// A warm question's round trip on `site`: the p50 of a few.
async fn warm_rtt(base: &str, site: &str, qs: &[String]) -> f64 {
    let mut v = Vec::new();
    for q in qs.iter().cycle().take(15) {
        v.push(timed_ask(base, site, q).await.0);
    }
    median(v)
}

#[tokio::main]
async fn main() {
    let sites: Vec<PathBuf> = arg("--sites")
        .or_else(|| arg("--site-dir"))
        .expect("--sites DIR[,DIR…] (see the usage at the top of this file)")
        .split(',')
        .map(PathBuf::from)
        .collect();
    let queries: usize = arg("--queries").and_then(|q| q.parse().ok()).unwrap_or(200);
    let cold_runs: usize = arg("--cold-runs").and_then(|q| q.parse().ok()).unwrap_or(3);
    let json_out = arg("--json").map(PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let config = stage(tmp.path(), &sites);
    let options = || Options { config: Some(config.clone()), vars: vec![("BATON_LOAD_TIMING".into(), "1".into())] };

    // Cold loads, each run in a fresh wrangler dev (a new isolate).
    let mut cold: BTreeMap<String, Vec<(f64, BTreeMap<String, f64>)>> = BTreeMap::new();
    let mut first_request = Vec::new();
    for _ in 0..cold_runs {
        let w = Wrangler::start_with_options(&options()).await;
        let base = w.base();
        // The first request compiles the worker's wasm.
        first_request.push(timed_get(&format!("{base}/healthz")).await);
        let mut asked = Vec::new();
        for (i, dir) in sites.iter().enumerate() {
            let qs = questions(dir);
            for prefix in ["bench", "bench2"] {
                let site = format!("{prefix}-{}", label(dir));
                let (ms, timing) = timed_ask(&base, &site, &qs[0]).await;
                let what =
                    if i == 0 && prefix == "bench" { format!("{} model + index", label(dir)) } else { format!("{} index", label(dir)) };
                asked.push((what, site, ms, timing));
            }
        }
        for (what, site, ms, timing) in asked {
            let dir = sites.iter().find(|d| site.ends_with(&label(d))).expect("a staged site");
            let warm = warm_rtt(&base, &site, &questions(dir)).await;
            cold.entry(what).or_default().push((ms - warm, phases(&timing)));
        }
        drop(w);
    }

    // Warm answers: each question right after a /healthz round trip; the difference of the pair
    // is the answer's own time, with the machine's load at that moment mostly cancelled out.
    let w = Wrangler::start_with_options(&options()).await;
    let base = w.base();
    timed_get(&format!("{base}/healthz")).await;
    let mut results = serde_json::Map::new();
    println!("in-worker figures (wrangler dev, workerd; round trips on loopback minus /healthz):");
    for dir in &sites {
        let site = format!("bench-{}", label(dir));
        let qs = questions(dir);
        timed_ask(&base, &site, &qs[0]).await; // load
        let (mut healthz, mut asks, mut answer) = (Vec::new(), Vec::new(), Vec::new());
        let (mut floors, mut beyond_floor) = (Vec::new(), Vec::new());
        for q in qs.iter().cycle().take(queries) {
            let h = timed_get(&format!("{base}/healthz")).await;
            let f = timed_refused_ask(&base, &site).await;
            let (a, _) = timed_ask(&base, &site, q).await;
            healthz.push(h);
            floors.push(f);
            asks.push(a);
            answer.push(a - h);
            beyond_floor.push(a - f);
        }
        for v in [&mut healthz, &mut asks, &mut answer, &mut floors, &mut beyond_floor] {
            v.sort_by(f64::total_cmp);
        }
        let index_bytes: u64 = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("index.idx"))
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum();
        let (answer_p50, answer_p95) = (percentile(&answer, 0.5), percentile(&answer, 0.95));
        println!("  {} chunks: index {:.1} MB", label(dir), index_bytes as f64 / 1e6);
        println!(
            "    answer p50 / p95        {answer_p50:.2} / {answer_p95:.2} ms  (ask round trip {:.2} / {:.2} ms, /healthz {:.2} ms)",
            percentile(&asks, 0.5),
            percentile(&asks, 0.95),
            percentile(&healthz, 0.5)
        );
        println!(
            "    beyond a refused ask    {:.2} / {:.2} ms  (the same POST refused at once: {:.2} ms — the answer itself, HTTP and JSON subtracted)",
            percentile(&beyond_floor, 0.5),
            percentile(&beyond_floor, 0.95),
            percentile(&floors, 0.5)
        );
        results.insert(
            label(dir),
            serde_json::json!({
                "index_bytes": index_bytes, "queries": asks.len(),
                "healthz_p50_ms": percentile(&healthz, 0.5), "ask_rtt_p50_ms": percentile(&asks, 0.5), "ask_rtt_p95_ms": percentile(&asks, 0.95),
                "answer_in_worker_p50_ms": answer_p50, "answer_in_worker_p95_ms": answer_p95,
                "refused_ask_p50_ms": percentile(&floors, 0.5),
                "answer_beyond_refused_ask_p50_ms": percentile(&beyond_floor, 0.5),
                "answer_beyond_refused_ask_p95_ms": percentile(&beyond_floor, 0.95),
            }),
        );
    }
    drop(w);

    println!("  cold load ({cold_runs} new isolates; median, then each run; the loader's phases, medians):");
    let mut cold_json = serde_json::Map::new();
    for (what, runs) in &cold {
        let totals: Vec<f64> = runs.iter().map(|r| r.0).collect();
        let names: Vec<String> =
            runs.iter().flat_map(|r| r.1.keys().cloned()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        let breakdown: BTreeMap<String, f64> =
            names.iter().map(|n| (n.clone(), median(runs.iter().map(|r| r.1.get(n).copied().unwrap_or(0.0)).collect()))).collect();
        println!(
            "    {what:<22} {:>6.0} ms  ({})",
            median(totals.clone()),
            totals.iter().map(|t| format!("{t:.0}")).collect::<Vec<_>>().join(", ")
        );
        println!("      {}", breakdown.iter().map(|(n, d)| format!("{n} {d:.0}")).collect::<Vec<_>>().join(" · "));
        cold_json.insert(
            what.clone(),
            serde_json::json!({ "median_ms": median(totals.clone()), "runs_ms": totals, "phases_median_ms": breakdown }),
        );
    }
    println!("  first request (wasm compile) {:.0} ms", median(first_request.clone()));
    let result = serde_json::json!({ "sites": results, "cold": cold_json, "first_request_ms": median(first_request) });
    if let Some(path) = json_out {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&result).unwrap()).unwrap();
        println!("wrote {}", path.display());
    }
}
