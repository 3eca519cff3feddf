//! `index-builder bench synthetic`: query latency and HNSW recall on synthetic corpora of any
//! size (10k, 100k chunks), with no data beyond the bundled model. Prints a table and writes
//! JSON; never asserts a time (that is a benchmark's job, not a test's).

use crate::build;
use anyhow::{Context, Result};
use baton_shared::config::SiteConfig;
use baton_shared::engine::embed::Vector;
use baton_shared::engine::{text, Engine};
use baton_shared::index::{Chunk, Index};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// A small deterministic PRNG (xorshift64*): the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Draws words with a Zipf-like distribution (rank r has weight 1 / (r + 10)), like text.
struct Words {
    words: Vec<String>,
    cdf: Vec<f64>,
}

impl Words {
    fn new(words: Vec<String>) -> Words {
        let mut acc = 0.0;
        let cdf = (0..words.len())
            .map(|r| {
                acc += 1.0 / (r as f64 + 10.0);
                acc
            })
            .collect();
        Words { words, cdf }
    }

    fn draw(&self, rng: &mut Rng) -> &str {
        let total = *self.cdf.last().expect("non-empty");
        let x = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
        let i = self.cdf.partition_point(|&c| c < x).min(self.words.len() - 1);
        &self.words[i]
    }
}

fn sentence(words: &Words, rng: &mut Rng, n: usize) -> String {
    let mut s: Vec<&str> = (0..n).map(|_| words.draw(rng)).collect();
    let first = s[0].to_string();
    let cap = first[..1].to_uppercase() + &first[1..];
    s[0] = &cap;
    format!("{}.", s.join(" "))
}

/// `n` chunks of 60–140 words in sentences, 8 sections per page.
fn corpus(words: &Words, n: usize, rng: &mut Rng) -> Vec<Chunk> {
    (0..n)
        .map(|i| {
            let page = i / 8;
            let title = format!("{} {}", words.draw(rng), words.draw(rng));
            let heading = format!("{} {}", words.draw(rng), words.draw(rng));
            let sentences = 4 + rng.below(5);
            let text = (0..sentences)
                .map(|_| {
                    let len = 10 + rng.below(15);
                    sentence(words, rng, len)
                })
                .collect::<Vec<_>>()
                .join(" ");
            Chunk {
                path: format!("page-{page}.md"),
                url: format!("/docs/page-{page}#s{}", i % 8),
                title: title.clone(),
                heading: heading.clone(),
                breadcrumb: format!("{title} › {heading}"),
                text,
            }
        })
        .collect()
}

/// A question about a random chunk: three of its words and one from anywhere.
fn question(chunks: &[Chunk], words: &Words, rng: &mut Rng) -> String {
    let c = &chunks[rng.below(chunks.len())];
    let ws: Vec<&str> = c.text.split(|ch: char| !ch.is_alphanumeric()).filter(|w| w.len() > 3).collect();
    let mut q: Vec<String> = (0..3).map(|_| ws[rng.below(ws.len())].to_lowercase()).collect();
    q.push(words.draw(rng).to_string());
    format!("how do I {}?", q.join(" "))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

pub struct SyntheticOptions<'a> {
    pub sizes: &'a [usize],
    pub queries: usize,
    pub json: Option<&'a Path>,
    /// Also write the first size's index (+ site.json for site `bench`) into this folder.
    pub site_dir: Option<&'a Path>,
}

pub fn synthetic(opts: &SyntheticOptions) -> Result<()> {
    let model = Arc::new(crate::model::load(None)?);
    let words = Words::new(
        model
            .vocab()
            .filter(|w| w.len() >= 3 && w.chars().all(|c| c.is_ascii_lowercase()) && !text::is_stop_word(w))
            .map(str::to_string)
            .collect(),
    );
    let mut results = Vec::new();
    println!(
        "{:>8} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11} {:>11}",
        "chunks", "build s", "MB", "load ms", "p50 µs", "p95 µs", "search µs", "hnsw r@10", "hnsw µs", "exact µs"
    );
    for (si, &n) in opts.sizes.iter().enumerate() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ n as u64);
        let chunks = corpus(&words, n, &mut rng);
        let mut config = SiteConfig::default();
        config.site = baton_shared::protocol::SiteId::parse("bench").expect("valid literal");
        let t = Instant::now();
        let (body, _) = build::build_body(chunks, config.clone(), &model, crate::model::load_classifier(None)?, true)?;
        let bytes = Index::to_bytes(&body, &model.id, None);
        let build_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let index = Index::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        let load_ms = t.elapsed().as_secs_f64() * 1e3;
        if si == 0 {
            if let Some(dir) = opts.site_dir {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
                std::fs::write(dir.join("index.idx"), &bytes)?;
                std::fs::write(dir.join("site.json"), serde_json::to_vec_pretty(&config)?)?;
                // Questions for the in-worker benchmark, one per line.
                let mut qrng = Rng(0x5EED);
                let lines: Vec<String> = (0..opts.queries).map(|_| question(&body.chunks, &words, &mut qrng)).collect();
                std::fs::write(dir.join("questions.txt"), lines.join("\n") + "\n")?;
            }
        }
        let chunks = index.body.chunks.clone();
        let engine = Engine::new(index, model.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let questions: Vec<String> = (0..opts.queries).map(|_| question(&chunks, &words, &mut rng)).collect();
        // Warm up (first-use tables), then time each full answer and each retrieval alone.
        engine.respond(&questions[0], 10);
        let mut answer_us = Vec::with_capacity(questions.len());
        let mut search_us = Vec::with_capacity(questions.len());
        for q in &questions {
            let t = Instant::now();
            std::hint::black_box(engine.respond(q, 10));
            answer_us.push(t.elapsed().as_secs_f64() * 1e6);
            let t = Instant::now();
            std::hint::black_box(engine.search(q, 10));
            search_us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        answer_us.sort_by(f64::total_cmp);
        search_us.sort_by(f64::total_cmp);
        // HNSW recall@10 against exact search over the same quantised vectors.
        let vectors = &engine.index().vectors;
        let (mut found, mut hnsw_us, mut exact_us) = (0usize, Vec::new(), Vec::new());
        for q in &questions {
            let qv = Vector::quantize(&model.embed(q));
            let t = Instant::now();
            let mut search = instant_distance::Search::default();
            let approx: Vec<u32> = engine.index().hnsw.search(&qv, &mut search).take(10).map(|item| *item.value).collect();
            hnsw_us.push(t.elapsed().as_secs_f64() * 1e6);
            let t = Instant::now();
            let mut exact: Vec<(f32, u32)> = vectors.iter().enumerate().map(|(i, v)| (v.cosine(&qv), i as u32)).collect();
            exact.select_nth_unstable_by(9, |a, b| b.0.total_cmp(&a.0));
            exact_us.push(t.elapsed().as_secs_f64() * 1e6);
            found += exact[..10].iter().filter(|(_, i)| approx.contains(i)).count();
        }
        hnsw_us.sort_by(f64::total_cmp);
        exact_us.sort_by(f64::total_cmp);
        let recall = found as f64 / (10 * questions.len()) as f64;
        let row = serde_json::json!({
            "chunks": n, "queries": questions.len(), "build_s": build_s, "index_bytes": bytes.len(), "load_ms": load_ms,
            "answer_p50_us": percentile(&answer_us, 0.5), "answer_p95_us": percentile(&answer_us, 0.95),
            "search_p50_us": percentile(&search_us, 0.5), "hnsw_recall_at_10": recall, "hnsw_p50_us": percentile(&hnsw_us, 0.5), "exact_p50_us": percentile(&exact_us, 0.5),
        });
        println!(
            "{:>8} {:>9.1} {:>8.1} {:>9.1} {:>9.0} {:>9.0} {:>9.0} {:>11.3} {:>11.0} {:>11.0}",
            n,
            build_s,
            bytes.len() as f64 / 1e6,
            load_ms,
            percentile(&answer_us, 0.5),
            percentile(&answer_us, 0.95),
            percentile(&search_us, 0.5),
            recall,
            percentile(&hnsw_us, 0.5),
            percentile(&exact_us, 0.5)
        );
        results.push(row);
    }
    if let Some(path) = opts.json {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(&serde_json::json!({ "synthetic": results }))?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
