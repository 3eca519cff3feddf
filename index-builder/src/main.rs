//! `index-builder`: Baton's command line for site owners and CI.
//!
//! - `build`   docs folder → one index file
//! - `ask`     questions → answers from an index (JSON Lines on stdin, or one question)
//! - `model import` the upstream embedding model → Baton's compact model file
//! - `operator add` a password hash for an operator account
//! - `triage`  messages → which handoff trigger fires (JSON Lines), to measure the triggers
//! - `diff`    what a docs change does to the index: pages/sections added, removed, changed;
//!             skipped files; text under no heading; broken links (`report.rs`)

mod bench;
mod build;
mod docs;
mod jsonl;
mod llm;
mod model;
mod operator;
mod report;
mod triage;

use anyhow::{Context, Result};
use baton_shared::engine::Engine;
use baton_shared::index::Index;
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
        /// A question to answer in human-readable form (omit to read JSON Lines from stdin).
        question: Option<String>,
        /// Engine parameter overrides for experiments, e.g. `w_bm25=0.6,k1=1.0` (see
        /// `baton_shared::engine::Params`).
        #[arg(long, hide = true)]
        params: Option<String>,
        /// Add each answer's confidence evidence to the JSON Lines (for calibrating).
        #[arg(long, hide = true)]
        evidence: bool,
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
    /// Web Push for operators' devices.
    #[command(subcommand)]
    Push(PushCmd),
    /// Which handoff trigger fires for single messages: JSON Lines {"id","message"} on stdin →
    /// {"id","trigger","evidence"} on stdout.
    Triage {
        /// Site config (baton.toml) whose triggers to use (default: the built-in defaults).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Benchmarks (see docs/benchmarks.md; `./baton bench` runs them all).
    #[command(subcommand, hide = true)]
    Bench(BenchCmd),
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Query latency and HNSW recall@10 on synthetic corpora of the given sizes.
    Synthetic {
        /// Corpus sizes in chunks.
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        chunks: Vec<usize>,
        #[arg(long, default_value_t = 500)]
        queries: usize,
        /// Write the figures as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Also write the first corpus as site `bench` (index.idx + site.json) into this folder.
        #[arg(long)]
        site_dir: Option<PathBuf>,
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
        Cmd::Build { docs, out, sites_dir, base_url, config, model, quiet, report, previous } => {
            let out = match (out, sites_dir) {
                (Some(out), _) => out,
                (None, Some(dir)) => report::site_index_path(&docs, config.as_deref(), &dir)?,
                (None, None) => anyhow::bail!("pass --out FILE or --sites-dir DIR"),
            };
            let s =
                build::run(&build::BuildOptions { docs: docs.clone(), out: out.clone(), base_url, config: config.clone(), model, quiet })?;
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
        Cmd::Ask { index, model, question, params, evidence, llm_base_url, llm_api_key, llm_model } => {
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
            ask(index, model, question, params, evidence, llm.as_ref())
        }
        Cmd::Model(ModelCmd::Import { from, out }) => model::import(&from, &out),
        Cmd::Model(ModelCmd::Export { out_dir }) => model::export(&out_dir),
        Cmd::Bench(BenchCmd::Synthetic { chunks, queries, json, site_dir }) => {
            bench::synthetic(&bench::SyntheticOptions { sizes: &chunks, queries, json: json.as_deref(), site_dir: site_dir.as_deref() })
        }
        Cmd::Operator(OperatorCmd::Add { site, email, name, password, json }) => operator::add(&site, &email, &name, password, json),
        Cmd::Triage { config } => triage::run(config.as_deref()),
        Cmd::Push(PushCmd::Keys) => push_keys(),
    }
}

fn load_engine(index: &PathBuf, model: Option<PathBuf>) -> Result<Engine> {
    let bytes = std::fs::read(index).with_context(|| format!("cannot read index {}", index.display()))?;
    let idx = Index::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("index {}: {e}", index.display()))?;
    let m = model::load(model.as_deref())?;
    Engine::new(idx, Arc::new(m)).map_err(|e| anyhow::anyhow!("index {}: {e}", index.display()))
}

#[derive(serde::Deserialize)]
struct Question {
    id: serde_json::Value,
    question: String,
}

fn ask(
    index: PathBuf,
    model: Option<PathBuf>,
    question: Option<String>,
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
        let r = engine.respond(&q, 3);
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
        let r = engine.respond(&q.question, 10);
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
        }
        let a = &answer;
        let mut v = serde_json::json!({
            "id": q.id, "answer": a.text, "confidence": a.confidence, "handoff": a.handoff,
            "sources": sources, "micros": micros,
        });
        if evidence {
            let e = &r.evidence;
            v["evidence"] = serde_json::json!({"coverage": e.coverage, "cosine": e.cosine, "known": e.known, "unit": e.unit, "unit_cosine": e.unit_cosine});
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
