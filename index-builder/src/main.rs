//! `index-builder`: Baton's command line for site owners and CI.
//!
//! - `build`   docs folder → one index file
//! - `ask`     questions → answers from an index (JSON Lines on stdin, or one question)
//! - `model import` the upstream embedding model → Baton's compact model file
//! - `operator add` a password hash for an operator account
//! - `identity sign|verify` the signature a site's backend puts on a visitor's identity
//! - `triage`  messages → which handoff trigger fires (JSON Lines), to measure the triggers
//! - `handoff train` the handoff classifier from labelled messages → `model/handoff.classifier`
//! - `diff`    what a docs change does to the index: pages/sections added, removed, changed;
//!             skipped files; text under no heading; broken links (`report.rs`)

mod bench;
mod build;
mod docs;
mod handoff;
mod identity;
mod jsonl;
mod llm;
mod model;
mod operator;
mod pages;
mod report;
mod triage;

use anyhow::{Context, Result};
use baton_shared::engine::Engine;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "index-builder", version, about = "Build and query Baton's answer index")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build an index from a docs folder.
    Build {
        /// Folder of .md / .mdx / .markdown / .html files.
        #[arg(long)]
        docs: PathBuf,
        /// Index file to write (`site.json` goes beside it).
        #[arg(long, required_unless_present = "sites_dir", conflicts_with = "sites_dir")]
        out: Option<PathBuf>,
        /// Or: a folder of sites (the worker's `dist/sites`); writes SITES_DIR/<site>/index.idx,
        /// with <site> from the config's `site` key.
        #[arg(long)]
        sites_dir: Option<PathBuf>,
        /// Public URL of the docs (overrides `base_url` in the config).
        #[arg(long)]
        base_url: Option<String>,
        /// Site config (default: DOCS/baton.toml if present).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Embedding model file (default: the one bundled in this binary).
        #[arg(long)]
        model: Option<PathBuf>,
        /// No progress or warnings on stderr.
        #[arg(long)]
        quiet: bool,
        /// After building, print the docs report (see `diff`) to stdout.
        #[arg(long)]
        report: bool,
        /// With --report: compare with this earlier index file or docs folder.
        #[arg(long, requires = "report")]
        previous: Option<String>,
        /// Also write the docs as HTML pages into this folder, each at its URL's path (base_url
        /// must be a path such as "/docs"), headings anchored as citations link to them and the
        /// widget on every page: for a deployment that is its own docs site, like the demo.
        #[arg(long)]
        pages: Option<PathBuf>,
    },
    /// What the bot will know after a docs change: pages and sections added / removed / changed,
    /// text under no heading, skipped files and broken links. OLD and NEW are docs folders or
    /// index files (OLD may be "none"); a readable summary, or JSON with --json.
    Diff {
        old: String,
        new: PathBuf,
        /// NEW's site config (default: NEW/baton.toml when NEW is a folder).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print JSON instead of the summary.
        #[arg(long)]
        json: bool,
        /// Exit with status 2 when a link between pages is broken (for CI).
        #[arg(long)]
        strict: bool,
    },
    /// Answer questions from an index: JSON Lines {"id","question"} on stdin, or one question.
    Ask {
        #[arg(long)]
        index: PathBuf,
        #[arg(long)]
        model: Option<PathBuf>,
        /// A question to answer in human-readable form (omit to read JSON Lines from stdin,
        /// `{"id", "question", "previous"?: [earlier questions, oldest first]}`).
        question: Option<String>,
        /// The visitor's earlier questions, oldest first (repeat the flag): a follow-up that
        /// does not stand alone is answered in their context, as in a conversation.
        #[arg(long)]
        previous: Vec<String>,
        /// Engine parameter overrides for experiments, e.g. `w_bm25=0.6,k1=1.0` (see
        /// `baton_shared::engine::Params`).
        #[arg(long, hide = true)]
        params: Option<String>,
        /// Add each answer's confidence evidence to the JSON Lines (for calibrating).
        #[arg(long, hide = true)]
        evidence: bool,
        /// Instead of answers, print every candidate section with its ranking features and its
        /// best unit's match (for fitting the ranking offline).
        #[arg(long, hide = true)]
        candidates: bool,
        /// Write the index's chunks (id, path, heading, text) as JSON Lines to this file.
        #[arg(long, hide = true)]
        dump_chunks: Option<PathBuf>,
        /// Rephrase answers with this OpenAI-compatible endpoint (e.g. https://api.openai.com/v1),
        /// as the worker does when BATON_LLM_BASE_URL is set. Off by default.
        #[arg(long)]
        llm_base_url: Option<String>,
        /// The endpoint's API key (default: the BATON_LLM_API_KEY environment variable).
        #[arg(long)]
        llm_api_key: Option<String>,
        /// The model to ask.
        #[arg(long, default_value = "gpt-4o-mini")]
        llm_model: String,
    },
    /// Manage the embedding model.
    #[command(subcommand)]
    Model(ModelCmd),
    /// Manage operator accounts.
    #[command(subcommand)]
    Operator(OperatorCmd),
    /// Sign or check a visitor identity as the site's backend does (docs/identity.md).
    #[command(subcommand)]
    Identity(IdentityCmd),
    /// Web Push for operators' devices.
    #[command(subcommand)]
    Push(PushCmd),
    /// Which handoff trigger fires for single messages: JSON Lines {"id","message"} on stdin →
    /// {"id","trigger","evidence","class","probabilities"} on stdout.
    Triage {
        /// Site config (baton.toml) whose triggers and examples to use (default: the built-in defaults).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Handoff classifier file (default: the one bundled in this binary).
        #[arg(long)]
        classifier: Option<PathBuf>,
        /// Embedding model file (default: the one bundled in this binary).
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// The handoff classifier.
    #[command(subcommand)]
    Handoff(HandoffCmd),
    /// Benchmarks (see docs/benchmarks.md; `./baton bench` runs them all).
    #[command(subcommand, hide = true)]
    Bench(BenchCmd),
}

#[derive(Subcommand)]
enum HandoffCmd {
    /// Train the classifier on labelled JSON Lines ({"text","label"}) and write it (deterministic).
    Train {
        /// Folder of labelled *.jsonl files (the shared datasets: ../shared/bench/handoff).
        #[arg(long)]
        data: PathBuf,
        /// More labelled files to train on (never held out): Baton's docs-chat examples.
        #[arg(long, value_delimiter = ',', default_value = "index-builder/data/handoff-docs-chat.jsonl")]
        extra: Vec<PathBuf>,
        #[arg(long, default_value = "model/handoff.classifier")]
        out: PathBuf,
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, default_value_t = 12)]
        seed: u64,
        /// Hidden units (0: a linear softmax).
        #[arg(long, default_value_t = 32)]
        hidden: usize,
        #[arg(long, default_value_t = 24)]
        epochs: usize,
        /// Weight of an extra (docs-chat) row relative to a shared one of its class.
        #[arg(long, default_value_t = 4.0)]
        extra_weight: f32,
        /// Class weights (N / (K·n_c))^balance.
        #[arg(long, default_value_t = 0.5)]
        balance: f32,
        /// Per-file weights, e.g. goemotions=0.5,bitext=1.
        #[arg(long, default_value = "")]
        file_weights: String,
        #[arg(long, default_value_t = 1e-4)]
        l2: f32,
        #[arg(long, default_value_t = 2e-3)]
        lr: f32,
        /// Explicit-request precision the threshold keeps on the tune look-alikes.
        #[arg(long, default_value_t = 0.98)]
        min_explicit_precision: f32,
        /// Public tune macro-F1 the thresholds may give up for docs-chat macro-F1.
        #[arg(long, default_value_t = 0.01)]
        public_slack: f32,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// The handoff triage on the held-out part of the labelled sets: per file and overall
    /// macro-F1, per-class precision/recall, confusion matrix, look-alikes, latency.
    Triage {
        /// Folder of labelled *.jsonl files (../shared/bench/handoff).
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        classifier: Option<PathBuf>,
        #[arg(long)]
        json: Option<PathBuf>,
        /// Measure on the tune part (development only: the held-out part is what is reported).
        #[arg(long)]
        tune: bool,
        /// Print up to N misses per file.
        #[arg(long, default_value_t = 0)]
        misses: usize,
    },
    /// Load time, query latency, vector search recall@10 and memory on synthetic corpora of the
    /// given sizes.
    Synthetic {
        /// Corpus sizes in chunks.
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        chunks: Vec<usize>,
        #[arg(long, default_value_t = 500)]
        queries: usize,
        /// Write the figures as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Also write each corpus as site `bench` (index.idx, site.json, questions.txt) into
        /// DIR/site-10k, DIR/site-100k, … (what `./baton bench worker` serves).
        #[arg(long)]
        sites_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PushCmd {
    /// Make a VAPID key pair: the private key for the BATON_VAPID_PRIVATE_KEY secret, and the
    /// public key browsers subscribe with (the worker derives it; printed for reference).
    Keys,
}

#[derive(Subcommand)]
enum OperatorCmd {
    /// Hash a password and print the account entry for the BATON_OPERATORS secret.
    Add {
        #[arg(long)]
        site: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// The password (default: read one line from stdin, so it stays out of shell history).
        #[arg(long)]
        password: Option<String>,
        /// Print only the JSON entry (for scripts).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum IdentityCmd {
    /// Print the signed payload, the signature and the script tag's data-user-* attributes.
    Sign {
        /// The identity's fields, e.g. user_id=42 email=ann@example.com name=Ann plan=pro.
        #[arg(required = true)]
        fields: Vec<String>,
        /// The environment variable holding the site's identity secret.
        #[arg(long, default_value = "BATON_IDENTITY_SECRET")]
        secret_env: String,
        /// Print the claim as JSON (`{"user_id", …, "signature"}`: what `Baton.identify` takes).
        #[arg(long)]
        json: bool,
    },
    /// Check a signature as the worker will (exit status 1 if refused).
    Verify {
        fields: Vec<String>,
        #[arg(long)]
        signature: String,
        #[arg(long, default_value = "BATON_IDENTITY_SECRET")]
        secret_env: String,
    },
}

#[derive(Subcommand)]
enum ModelCmd {
    /// Convert upstream potion-base-8M (model.safetensors + tokenizer.json) to Baton's int8 file.
    Import {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the bundled model to DIR under the file name the worker looks for.
    Export {
        #[arg(long)]
        out_dir: PathBuf,
    },
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Build { docs, out, sites_dir, base_url, config, model, quiet, report, previous, pages } => {
            let out = match (out, sites_dir) {
                (Some(out), _) => out,
                (None, Some(dir)) => report::site_index_path(&docs, config.as_deref(), &dir)?,
                (None, None) => anyhow::bail!("pass --out FILE or --sites-dir DIR"),
            };
            let s = build::run(&build::BuildOptions {
                docs: docs.clone(),
                out: out.clone(),
                base_url,
                config: config.clone(),
                model,
                quiet,
                pages: pages.clone(),
            })?;
            eprintln!(
                "built {}: {} files, {} chunks, {} tokens, {} skipped, {:.2} s, {:.1} KB",
                out.display(),
                s.files,
                s.chunks,
                s.tokens,
                s.skipped.len(),
                s.seconds,
                s.bytes as f64 / 1024.0
            );
            for (file, why) in &s.skipped {
                eprintln!("  skipped {file}: {why}");
            }
            if let Some(dir) = &pages {
                eprintln!("  wrote {} pages into {}", s.pages_written, dir.display());
            }
            if report {
                let r = report::diff(previous.as_deref().unwrap_or(report::NOTHING), &docs, config.as_deref())?;
                print!("{}", report::render_text(&r));
            }
            Ok(())
        }
        Cmd::Diff { old, new, config, json, strict } => {
            let r = report::diff(&old, &new, config.as_deref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", report::render_text(&r));
            }
            if strict && !r.broken_links.is_empty() {
                eprintln!("error: {} broken link(s) between pages (see above)", r.broken_links.len());
                std::process::exit(2);
            }
            Ok(())
        }
        Cmd::Ask { index, model, question, previous, params, evidence, candidates, dump_chunks, llm_base_url, llm_api_key, llm_model } => {
            if candidates || dump_chunks.is_some() {
                return explain(index, model, params, dump_chunks);
            }
            let llm = match llm_base_url {
                Some(url) => {
                    let key = llm_api_key
                        .or_else(|| std::env::var("BATON_LLM_API_KEY").ok())
                        .filter(|k| !k.is_empty())
                        .context("--llm-base-url needs an API key: pass --llm-api-key or set BATON_LLM_API_KEY")?;
                    Some(llm::Llm::new(&url, key, llm_model))
                }
                None => None,
            };
            ask(index, model, question, &previous, params, evidence, llm.as_ref())
        }
        Cmd::Model(ModelCmd::Import { from, out }) => model::import(&from, &out),
        Cmd::Model(ModelCmd::Export { out_dir }) => model::export(&out_dir),
        Cmd::Bench(BenchCmd::Synthetic { chunks, queries, json, sites_dir }) => {
            bench::synthetic(&bench::SyntheticOptions { sizes: &chunks, queries, json: json.as_deref(), sites_dir: sites_dir.as_deref() })
        }
        Cmd::Operator(OperatorCmd::Add { site, email, name, password, json }) => operator::add(&site, &email, &name, password, json),
        Cmd::Triage { config, classifier, model } => triage::run(config.as_deref(), classifier.as_deref(), model.as_deref()),
        Cmd::Handoff(HandoffCmd::Train {
            data,
            extra,
            out,
            model,
            seed,
            hidden,
            epochs,
            extra_weight,
            balance,
            file_weights,
            l2,
            lr,
            min_explicit_precision,
            public_slack,
        }) => {
            let m = model::load(model.as_deref())?;
            let mut weights = std::collections::BTreeMap::new();
            for pair in file_weights.split(',').filter(|p| !p.trim().is_empty()) {
                let (k, v) = pair.split_once('=').context("--file-weights: write file=weight")?;
                weights.insert(k.trim().to_string(), v.trim().parse::<f32>().context("--file-weights: a weight is a number")?);
            }
            handoff::train(
                &handoff::TrainOptions {
                    data,
                    extra,
                    out,
                    seed,
                    hidden,
                    epochs,
                    extra_weight,
                    balance,
                    file_weights: weights,
                    l2,
                    lr,
                    min_explicit_precision,
                    public_slack,
                },
                &m,
            )
        }
        Cmd::Bench(BenchCmd::Triage { data, classifier, json, tune, misses }) => {
            let m = model::load(None)?;
            let c = model::load_classifier(classifier.as_deref())?;
            handoff::bench(&handoff::BenchOptions { data: &data, json: json.as_deref(), tune, misses }, &m, &c)
        }
        Cmd::Identity(IdentityCmd::Sign { fields, secret_env, json }) => identity::sign(&fields, &secret_env, json),
        Cmd::Identity(IdentityCmd::Verify { fields, signature, secret_env }) => identity::verify(&fields, &signature, &secret_env),
        Cmd::Push(PushCmd::Keys) => push_keys(),
    }
}

fn load_engine(index: &PathBuf, model: Option<PathBuf>) -> Result<Engine> {
    let idx = build::read_index(index)?;
    let m = model::load(model.as_deref())?;
    Engine::new(idx, Arc::new(m)).map_err(|e| anyhow::anyhow!("index {}: {e}", index.display()))
}

/// The ranking's raw material, for fitting it offline: every candidate of every question.
fn explain(index: PathBuf, model: Option<PathBuf>, params: Option<String>, dump_chunks: Option<PathBuf>) -> Result<()> {
    use baton_shared::engine::{compose, embed};
    let mut engine = load_engine(&index, model)?;
    if let Some(spec) = params {
        let mut p = engine.params().clone();
        p.apply(&spec).map_err(|e| anyhow::anyhow!("--params: {e}"))?;
        engine = engine.with_params(p);
    }
    if let Some(path) = dump_chunks {
        let mut out = String::new();
        for (i, c) in engine.index().body.chunks.iter().enumerate() {
            out.push_str(
                &serde_json::json!({"chunk": i, "path": c.path, "heading": c.heading, "breadcrumb": c.breadcrumb, "text": c.text})
                    .to_string(),
            );
            out.push('\n');
        }
        std::fs::write(&path, out).with_context(|| format!("cannot write {}", path.display()))?;
        return Ok(());
    }
    jsonl::map_stdin(r#"{"id", "question"}"#, |q: Question| {
        let query = engine.query(&q.question);
        let hits = engine.candidates(&query);
        let similarity = |s: &str| embed::dot(&engine.model().embed(s), &query.vector);
        let cands: Vec<serde_json::Value> = hits
            .iter()
            .map(|h| {
                let c = engine.chunk(h.chunk);
                let units = compose::Scored::new(&c.text, &c.breadcrumb, &query, &similarity);
                let pick = units.best(engine.params().w_unit_cosine).unwrap_or_default();
                let f = &h.features;
                serde_json::json!({
                    "chunk": h.chunk, "path": c.path, "heading": c.heading, "score": h.score,
                    "bm25_raw": h.bm25, "cosine_raw": h.cosine,
                    "bm25": f.bm25, "cosine": f.cosine, "coverage": f.coverage, "page_bm25": f.page_bm25,
                    "page_coverage": f.page_coverage, "title": f.title, "heading_cov": f.heading,
                    "semantic_rank": f.semantic_rank, "page_support": f.page_support,
                    "unit": pick.lexical, "unit_cosine": pick.cosine, "unit_index": pick.unit,
                    "crumb_cos": similarity(&c.breadcrumb), "title_cos": similarity(&c.title),
                })
            })
            .collect();
        Ok(serde_json::json!({"id": q.id, "known": query.known, "total": query.total, "terms": query.terms, "candidates": cands}))
    })
}

#[derive(serde::Deserialize)]
struct Question {
    id: serde_json::Value,
    question: String,
    #[serde(default)]
    previous: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
fn ask(
    index: PathBuf,
    model: Option<PathBuf>,
    question: Option<String>,
    previous: &[String],
    params: Option<String>,
    evidence: bool,
    llm: Option<&llm::Llm>,
) -> Result<()> {
    let mut engine = load_engine(&index, model)?;
    if let Some(spec) = params {
        let mut p = engine.params().clone();
        p.apply(&spec).map_err(|e| anyhow::anyhow!("--params: {e}"))?;
        engine = engine.with_params(p);
    }
    if let Some(q) = question {
        let r = engine.respond_in(&q, previous, 3);
        let a = &match llm {
            Some(llm) => llm.rephrase(&engine, &q, &r),
            None => r.answer.clone(),
        };
        let mut out = String::new();
        out.push_str(&format!("{}\n\n", a.text));
        out.push_str(&format!("confidence {:.2}{}\n", a.confidence, if a.handoff { " — would hand off to a human" } else { "" }));
        for c in &a.citations {
            out.push_str(&format!("  from: {} <{}>\n", c.breadcrumb(), c.url));
        }
        if a.handoff {
            out.push_str("\nclosest sections:\n");
            for h in &r.hits {
                let c = engine.chunk(h.chunk);
                out.push_str(&format!("  {:.2}  {} <{}>\n", h.score, c.breadcrumb, c.url));
            }
        }
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = std::io::stdout().write_all(out.as_bytes());
        return Ok(());
    }
    jsonl::map_stdin(r#"{"id", "question"}"#, |q: Question| {
        let t = Instant::now();
        // Enough sections for ten distinct pages (the bench scores pages).
        let r = engine.respond_in(&q.question, &q.previous, 60);
        let micros = t.elapsed().as_micros() as u64;
        let answer = match llm {
            Some(llm) => llm.rephrase(&engine, &q.question, &r),
            None => r.answer.clone(),
        };
        // Sources: the ranking, one entry per file (the bench scores files).
        let mut sources = Vec::new();
        let mut seen = Vec::new();
        for h in &r.hits {
            let c = engine.chunk(h.chunk);
            if seen.contains(&c.path) {
                continue;
            }
            seen.push(c.path.clone());
            sources.push(serde_json::json!({"path": c.path, "url": c.url, "title": c.title, "heading": c.heading, "score": h.score}));
            if sources.len() == 10 {
                break;
            }
        }
        let a = &answer;
        let mut v = serde_json::json!({
            "id": q.id, "answer": a.text, "confidence": a.confidence, "handoff": a.handoff,
            "sources": sources, "micros": micros,
        });
        if evidence {
            let e = &r.evidence;
            v["evidence"] = serde_json::json!({
                "coverage": e.coverage, "cosine": e.cosine, "known": e.known, "unit": e.unit, "unit_cosine": e.unit_cosine,
                "margin": e.margin, "cues": e.cues,
            });
        }
        Ok(v)
    })
}

/// `push keys`: a fresh P-256 key pair for VAPID (RFC 8292), base64url.
fn push_keys() -> anyhow::Result<()> {
    let key = loop {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        // A random 32-byte string is a valid scalar but for ~2^-32 of them: draw again then.
        if let Ok(k) = baton_shared::webpush::VapidKey::from_bytes(&raw) {
            break k;
        }
    };
    println!("BATON_VAPID_PRIVATE_KEY={}", key.private_base64());
    println!("# public key (applicationServerKey): {}", key.public_key());
    println!("# set it with: npx wrangler secret put BATON_VAPID_PRIVATE_KEY (and BATON_VAPID_SUBJECT=mailto:you@example.com)");
    Ok(())
}
