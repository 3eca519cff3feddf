//! `index-builder bench synthetic`: load time, query latency, vector search recall and memory on
//! synthetic corpora of any size (10k, 100k chunks), with no data beyond the bundled model.
//! Prints a table and writes JSON; never asserts a time (that is a benchmark's job, not a test's).

use crate::build;
use anyhow::{Context, Result};
use baton_shared::config::SiteConfig;
use baton_shared::engine::vectors::{rerank_depth, Vectors};
use baton_shared::engine::{text, Engine, Params};
use baton_shared::index::{self, Blob, Chunk, Index, IndexBody};
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

/// A question about a chunk: three of its words and one from anywhere.
fn question(c: &Chunk, words: &Words, rng: &mut Rng) -> String {
    let ws: Vec<&str> = c.text.split(|ch: char| !ch.is_alphanumeric()).filter(|w| w.len() > 3).collect();
    let mut q: Vec<String> = (0..3).map(|_| ws[rng.below(ws.len())].to_lowercase()).collect();
    q.push(words.draw(rng).to_string());
    format!("how do I {}?", q.join(" "))
}

/// This thread's CPU time in µs: on a machine shared with other work, wall time includes
/// waiting for a core, CPU time does not (elsewhere than Unix, the wall clock since start).
fn cpu_us() -> f64 {
    #[cfg(unix)]
    {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes one timespec through a valid pointer.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0 {
            return t.tv_sec as f64 * 1e6 + t.tv_nsec as f64 / 1e3;
        }
    }
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e6
}

/// Nearest rank, as every figure (`baton_shared::stats::percentile`); 0 for no samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    baton_shared::stats::percentile(sorted, p).unwrap_or(0.0)
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

/// How many of the true top `k` (exact search) a search found in its own top `k`.
fn recall(truth: &[Vec<(u32, f32)>], got: &[Vec<(u32, f32)>], k: usize) -> f64 {
    let found: usize = truth.iter().zip(got).map(|(t, g)| t.iter().take(k).filter(|x| g.iter().take(k).any(|y| y.0 == x.0)).count()).sum();
    found as f64 / (k * truth.len()).max(1) as f64
}

/// Times a search over every question: (results, p50 µs).
fn timed(questions: &[Vec<f32>], search: impl Fn(&[f32]) -> Vec<(u32, f32)>) -> (Vec<Vec<(u32, f32)>>, f64) {
    let mut us = Vec::with_capacity(questions.len());
    let results = questions
        .iter()
        .map(|q| {
            let t = Instant::now();
            let r = std::hint::black_box(search(q));
            us.push(t.elapsed().as_secs_f64() * 1e6);
            r
        })
        .collect();
    (results, p50(us))
}

/// "10k" for 10000: the site folder's suffix.
fn size_label(n: usize) -> String {
    if n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

pub struct SyntheticOptions<'a> {
    pub sizes: &'a [usize],
    pub queries: usize,
    pub json: Option<&'a Path>,
    /// Also write each corpus as site `bench` into `DIR/site-<size>` (for `bench worker`).
    pub sites_dir: Option<&'a Path>,
}

pub fn synthetic(opts: &SyntheticOptions) -> Result<()> {
    let t = Instant::now();
    let model = Arc::new(crate::model::load(None)?);
    let model_load_ms = t.elapsed().as_secs_f64() * 1e3;
    let words = Words::new(
        model
            .vocab()
            .filter(|w| w.len() >= 3 && w.chars().all(|c| c.is_ascii_lowercase()) && !text::is_stop_word(w))
            .map(str::to_string)
            .collect(),
    );
    let k = Params::default().semantic_candidates;
    println!("model load (bundled, in place): {model_load_ms:.2} ms; the engine asks for the {k} nearest chunks");
    let mut results = Vec::new();
    for &n in opts.sizes {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ n as u64);
        let chunks = corpus(&words, n, &mut rng);
        let mut config = SiteConfig::default();
        config.site = baton_shared::protocol::SiteId::parse("bench").expect("valid literal");
        let t = Instant::now();
        let (body, _) = build::build_body(chunks, config.clone(), &model, crate::model::load_classifier(None)?)?;
        let files = match std::env::var("BATON_BENCH_PART_BYTES").ok().and_then(|v| v.parse().ok()) {
            Some(part_bytes) => Index::to_parts_sized(&body, &model.id, None, part_bytes),
            None => Index::to_parts(&body, &model.id, None),
        };
        let build_s = t.elapsed().as_secs_f64();
        let file_bytes: usize = files.iter().map(Vec::len).sum();
        let questions: Vec<String> = (0..opts.queries).map(|_| question_of(&body, &words, &mut rng)).collect();
        if let Some(dir) = opts.sites_dir {
            let dir = dir.join(format!("site-{}", size_label(n)));
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            build::write_index(&dir.join("index.idx"), &files)?;
            std::fs::write(dir.join("site.json"), serde_json::to_vec_pretty(&config)?)?;
            // Questions for the in-worker benchmark, one per line.
            let mut qrng = Rng(0x5EED);
            let lines: Vec<String> = (0..opts.queries).map(|_| question_of(&body, &words, &mut qrng)).collect();
            std::fs::write(dir.join("questions.txt"), lines.join("\n") + "\n")?;
        }
        // The same embeddings with codes, to compare the two searches at every size.
        let embeddings = build::chunk_embeddings(&(0..n).map(|i| body.chunks[i].clone()).collect::<Vec<_>>(), &model);
        let with_codes = Vectors::build(&embeddings, model.dims as usize, true);
        if let Ok(dir) = std::env::var("BATON_DUMP_EMBEDDINGS") {
            let qs: Vec<Vec<f32>> = questions.iter().map(|q| model.embed(q)).collect();
            let raw = |vs: &[Vec<f32>]| vs.iter().flatten().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
            std::fs::write(format!("{dir}/chunks-{n}.f32"), raw(&embeddings))?;
            std::fs::write(format!("{dir}/questions-{n}.f32"), raw(&qs))?;
        }
        drop((body, embeddings));
        // Load: verify the checksums, decode the small parts, check the tables' sizes.
        let part_files = files.len();
        let (head, parts): (Vec<u8>, Vec<Blob>) = (files[0].clone(), files.into_iter().skip(1).map(Blob::from).collect());
        // Where a load's time goes: the checksums alone, the small parts' decoding alone.
        let t = Instant::now();
        std::hint::black_box(xxhash_rust::xxh3::xxh3_64(&head));
        for p in &parts {
            std::hint::black_box(xxhash_rust::xxh3::xxh3_64(p.as_slice()));
        }
        let checksum_ms = t.elapsed().as_secs_f64() * 1e3;
        let meta = {
            let (_, sections) =
                index::read_sections(Blob::from(files_concat(&head, &parts)), index::INDEX_MAGIC, index::INDEX_FORMAT_VERSION, "index")
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            sections.joined(index::kind::META, "meta").map_err(|e| anyhow::anyhow!("{e}"))?
        };
        let t = Instant::now();
        std::hint::black_box(postcard::from_bytes::<IndexBody>(&meta)?);
        let meta_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let index =
            Index::from_head(Index::read_head(head).map_err(|e| anyhow::anyhow!("{e}"))?, parts).map_err(|e| anyhow::anyhow!("{e}"))?;
        let load_ms = t.elapsed().as_secs_f64() * 1e3;
        let vectors_bytes = index.body.vectors.memory_bytes();
        let codes_in_index = index.body.vectors.has_codes();
        let engine = Engine::new(index, model.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let t = Instant::now();
        std::hint::black_box(engine.respond(&questions[0], 10));
        let first_answer_ms = t.elapsed().as_secs_f64() * 1e3;
        let mut answer_us = Vec::with_capacity(questions.len());
        let mut answer_cpu_us = Vec::with_capacity(questions.len());
        let mut search_us = Vec::with_capacity(questions.len());
        for q in &questions {
            let (t, c) = (Instant::now(), cpu_us());
            std::hint::black_box(engine.respond(q, 10));
            answer_us.push(t.elapsed().as_secs_f64() * 1e6);
            answer_cpu_us.push(cpu_us() - c);
            let t = Instant::now();
            std::hint::black_box(engine.search(q, 10));
            search_us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        answer_us.sort_by(f64::total_cmp);
        // Vector search alone: the index's own (`nearest`), exact, and through codes.
        let qv: Vec<Vec<f32>> = questions.iter().map(|q| model.embed(q)).collect();
        let vectors = &engine.index().body.vectors;
        let (truth, exact_us) = timed(&qv, |q| vectors.exact(q, k));
        let (nearest, nearest_us) = timed(&qv, |q| vectors.nearest(q, k));
        let (coded, codes_us) = timed(&qv, |q| with_codes.prefiltered(q, k, rerank_depth(n, k)).unwrap_or_default());
        let recall_nearest = recall(&truth, &nearest, 10);
        let recall_codes = recall(&truth, &coded, 10);
        let row = serde_json::json!({
            "chunks": n, "queries": questions.len(), "build_s": build_s, "index_bytes": file_bytes, "index_files": part_files,
            "load_ms": load_ms, "load_checksums_ms": checksum_ms, "load_meta_decode_ms": meta_ms, "meta_bytes": meta.len(),
            "first_answer_ms": first_answer_ms, "model_load_ms": model_load_ms,
            "answer_p50_us": percentile(&answer_us, 0.5), "answer_p95_us": percentile(&answer_us, 0.95),
            "answer_cpu_p50_us": p50(answer_cpu_us.clone()),
            "search_p50_us": p50(search_us),
            "vector_search": if codes_in_index { "codes + exact rerank" } else { "exact" },
            "recall_at_10": recall_nearest, "nearest_p50_us": nearest_us, "exact_p50_us": exact_us,
            "codes_recall_at_10": recall_codes, "codes_p50_us": codes_us, "codes_rerank_depth": rerank_depth(n, k),
            "vector_index_bytes": vectors_bytes, "vector_index_bytes_with_codes": with_codes.memory_bytes(),
        });
        println!(
            "{n} chunks: built in {build_s:.1} s · {:.1} MB in {part_files} file(s) · loaded in {load_ms:.1} ms (checksums {checksum_ms:.1} ms, META {:.1} MB decoded in {meta_ms:.1} ms) · first answer {first_answer_ms:.2} ms",
            file_bytes as f64 / 1e6,
            meta.len() as f64 / 1e6,
        );
        println!(
            "  answer p50 {:.0} µs (CPU {:.0} µs) · p95 {:.0} µs · retrieval p50 {:.0} µs",
            percentile(&answer_us, 0.5),
            row["answer_cpu_p50_us"].as_f64().unwrap_or_default(),
            percentile(&answer_us, 0.95),
            row["search_p50_us"].as_f64().unwrap_or_default(),
        );
        println!(
            "  vector search ({}): recall@10 {recall_nearest:.3}, p50 {nearest_us:.0} µs for {k} · exact {exact_us:.0} µs · codes (rerank {}) recall@10 {recall_codes:.3}, {codes_us:.0} µs · {:.1} MB in memory ({:.1} MB with codes)",
            if codes_in_index { "codes + exact rerank" } else { "exact" },
            rerank_depth(n, k),
            vectors_bytes as f64 / 1e6,
            with_codes.memory_bytes() as f64 / 1e6,
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

fn files_concat(head: &[u8], parts: &[Blob]) -> Vec<u8> {
    let mut all = head.to_vec();
    parts.iter().for_each(|p| all.extend_from_slice(p.as_slice()));
    all
}

fn question_of(body: &baton_shared::index::IndexBody, words: &Words, rng: &mut Rng) -> String {
    let c = &body.chunks[rng.below(body.chunks.len())];
    question(c, words, rng)
}
