//! `index-builder build`: docs folder → chunks → BM25 + embeddings + HNSW → one index file.

use crate::docs::{self, Page, Skip};
use anyhow::{bail, Context, Result};
use baton_shared::config::SiteConfig;
use baton_shared::engine::bm25::{Bm25, WeightedDoc};
use baton_shared::engine::embed::{Model, Vector};
use baton_shared::engine::{compose, text};
use baton_shared::index::{self, Chunk, Index, IndexBody};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Sections longer than this (characters) are split on block boundaries.
const MAX_CHUNK_CHARS: usize = 1500;
/// The most a split part repeats of the part before it.
const OVERLAP_CHARS: usize = 300;
/// Sections shorter than this (characters) join the next section when it is their subsection.
const TINY_SECTION_CHARS: usize = 120;
/// Weight of title/heading words relative to body words in BM25.
const HEADING_WEIGHT: u16 = 3;
/// Fixed HNSW seed: the same docs give the same bytes.
const HNSW_SEED: u64 = 0xBA70_0001;
/// HNSW beam widths. Search: the engine takes 40 semantic candidates, and a beam of 40 keeps the
/// query well under 3 ms in wasm at 10k chunks (64: 3–4 ms; each step is a scalar int8 dot
/// product there) at some recall@10 against exact search (0.67 vs 0.75 on the synthetic 10k
/// corpus; BM25 candidates make up for misses). Construction: 64 builds a 10k-chunk graph in
/// seconds. Figures in docs/benchmarks.md.
const HNSW_EF_SEARCH: usize = 40;
const HNSW_EF_CONSTRUCTION: usize = 64;

pub struct BuildOptions {
    pub docs: PathBuf,
    pub out: PathBuf,
    pub base_url: Option<String>,
    pub config: Option<PathBuf>,
    pub model: Option<PathBuf>,
    pub quiet: bool,
    /// Also write the docs as HTML pages into this folder, at their URLs' paths (`pages.rs`).
    pub pages: Option<PathBuf>,
}

pub struct Summary {
    pub files: usize,
    pub chunks: usize,
    pub tokens: usize,
    pub skipped: Vec<(String, String)>,
    pub bytes: usize,
    pub seconds: f64,
    /// HTML pages written (`--pages`).
    pub pages_written: usize,
}

/// Loads and checks a site config; errors name the file, the line and the key.
pub fn load_config(path: &Path) -> Result<SiteConfig> {
    let src = std::fs::read_to_string(path).with_context(|| format!("cannot read config {}", path.display()))?;
    let cfg: SiteConfig = toml::from_str(&src).map_err(|mut e| {
        let line = e.span().map(|s| 1 + src[..s.start].matches('\n').count()).unwrap_or(0);
        // Without the input, toml's message ends with the key path ("in `handoff.frustration`").
        e.set_input(None);
        anyhow::anyhow!("{}:{line}: {}", path.display(), e.to_string().trim().replace('\n', " "))
    })?;
    cfg.validate().map_err(|e| anyhow::anyhow!("{}: key `{}`: {}", path.display(), e.field.unwrap_or_default(), e.message))?;
    Ok(cfg)
}

/// The docs' commit, if they live in a git repository.
fn docs_commit(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git").arg("-C").arg(dir).args(["rev-parse", "HEAD"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| s.len() >= 7)
}

pub fn collect_pages(dir: &Path, config: &SiteConfig, quiet: bool) -> Result<(Vec<Page>, Vec<(String, String)>)> {
    if !dir.is_dir() {
        bail!("docs folder {} does not exist (or is not a folder): pass --docs DIR with your Markdown files", dir.display());
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name().follow_links(true) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                files.push(Err((e.path().map(|p| p.display().to_string()).unwrap_or_default(), e.to_string())));
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let p = entry.path();
        let rel = p.strip_prefix(dir).unwrap_or(p).to_string_lossy().replace('\\', "/");
        if rel.split('/').any(|seg| seg.starts_with('.') || seg == "node_modules") {
            continue;
        }
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        if matches!(ext.as_str(), "md" | "mdx" | "markdown" | "html" | "htm") {
            files.push(Ok((p.to_path_buf(), rel)));
        }
    }
    let bar = progress(files.len() as u64, quiet);
    let mut pages = Vec::new();
    let mut skipped = Vec::new();
    for f in files {
        bar.inc(1);
        let (path, rel) = match f {
            Ok(x) => x,
            Err((p, e)) => {
                warn(&bar, quiet, &format!("skipped {p}: {e}"));
                skipped.push((p, e));
                continue;
            }
        };
        let result = docs::read_text(&path).and_then(|src| match docs::parse_page(&rel, &src, &config.slugs) {
            Ok(r) => r,
            Err(e) => Err(Skip::Unreadable(e)),
        });
        match result {
            Ok(page) => pages.push(page),
            Err(why) => {
                warn(&bar, quiet, &format!("skipped {}: {why}", path.display()));
                skipped.push((rel, why.to_string()));
            }
        }
    }
    bar.finish_and_clear();
    Ok((pages, skipped))
}

fn progress(n: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet || n < 200 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(n);
    bar.set_style(indicatif::ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len}").expect("valid template"));
    bar.set_message("reading");
    bar
}

fn warn(bar: &indicatif::ProgressBar, quiet: bool, msg: &str) {
    if !quiet {
        bar.suspend(|| eprintln!("warning: {msg}"));
    }
}

/// Where a page is published: `base_url`, then its slug (from the file's path by `[slugs]`, or
/// the front matter's `slug`), then `slugs.suffix`; the folder's index page is `base_url/`.
pub fn page_url(page: &Page, config: &SiteConfig) -> String {
    let base = config.base_url.trim_end_matches('/');
    if page.slug.is_empty() {
        format!("{base}/")
    } else {
        format!("{base}/{}{}", page.slug, config.slugs.suffix)
    }
}

/// The links in a section's text (`[text](target)` as `docs.rs` keeps them) with public
/// targets: another doc file (`deployment.md#secrets`) becomes its page's URL, `#anchor` this
/// page's; web, mail and site-absolute links stay. Any other target (an image, a file, a page
/// not in the docs) is dropped and its text kept: an answer never links somewhere that isn't.
pub fn resolve_links(text: &str, page: &Page, by_path: &std::collections::BTreeMap<&str, &Page>, config: &SiteConfig) -> String {
    let resolve = |target: &str| -> Option<String> {
        let (path, fragment) = match target.split_once('#') {
            Some((p, f)) => (p, Some(f)),
            None => (target, None),
        };
        let lower = path.to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:") || path.starts_with('/') {
            return baton_shared::markdown::safe_href(target);
        }
        let with_fragment = |url: String| match fragment.filter(|f| !f.is_empty()) {
            Some(f) => format!("{url}#{f}"),
            None => url,
        };
        if path.is_empty() {
            return fragment.map(|_| with_fragment(page_url(page, config)));
        }
        if path.contains(':') {
            return None;
        }
        let dir = page.path.rfind('/').map(|i| &page.path[..i]).unwrap_or("");
        let mut parts: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
        let path = path.replace("%20", " ");
        for seg in path.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    parts.pop()?;
                }
                s => parts.push(s),
            }
        }
        let joined = parts.join("/");
        let found = by_path
            .get(joined.as_str())
            .or_else(|| ["md", "mdx", "markdown", "html"].iter().find_map(|e| by_path.get(format!("{joined}.{e}").as_str())))
            .or_else(|| by_path.get(format!("{joined}/index.md").as_str()));
        found.map(|p| with_fragment(page_url(p, config)))
    };
    // Scan outside code: fenced blocks and `code spans` keep their brackets as written.
    let mut out = String::with_capacity(text.len());
    let mut in_fence = false;
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if in_fence || line.trim_start().starts_with("```") {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        let mut in_code = false;
        while let Some(i) = rest.find(['`', '[']) {
            out.push_str(&rest[..i]);
            let c = rest.as_bytes()[i];
            rest = &rest[i..];
            if c == b'`' {
                in_code = !in_code;
                out.push('`');
                rest = &rest[1..];
                continue;
            }
            let link = (!in_code)
                .then(|| {
                    let close = rest.find("](")?;
                    let end = rest[close..].find(')')? + close;
                    (!rest[1..close].contains('[')).then_some((close, end))
                })
                .flatten();
            match link {
                Some((close, end)) => {
                    let label = &rest[1..close];
                    match resolve(&rest[close + 2..end]) {
                        Some(href) => out.push_str(&format!("[{label}]({href})")),
                        None => out.push_str(label),
                    }
                    rest = &rest[end + 1..];
                }
                None => {
                    out.push('[');
                    rest = &rest[1..];
                }
            }
        }
        out.push_str(rest);
    }
    out
}

/// The words of a chunk's text for retrieval: link targets are addresses, not what the
/// section says.
fn searchable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        out.push_str(&rest[..i]);
        match rest[i..].find(')') {
            Some(j) if !rest[i + 2..i + j].contains(char::is_whitespace) => rest = &rest[i + j + 1..],
            _ => {
                out.push_str("](");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out.replace('[', "")
}

/// Turns pages into retrieval chunks: one per section, long ones split with a small overlap,
/// heading-only sections and tiny introductions folded into the next (sub)section.
pub fn chunk_pages(pages: &[Page], config: &SiteConfig) -> Vec<Chunk> {
    let by_path: std::collections::BTreeMap<&str, &Page> = pages.iter().map(|p| (p.path.as_str(), p)).collect();
    let mut chunks = Vec::new();
    for page in pages {
        let page_url = page_url(page, config);
        let mut carry: Option<String> = None;
        let mut carried_text: Option<String> = None;
        for (i, s) in page.sections.iter().enumerate() {
            let body = s.text.trim();
            if body.is_empty() {
                // A heading with no text of its own: its title prefixes the next section.
                carry = Some(s.trail.last().cloned().unwrap_or_default());
                continue;
            }
            // A tiny section introducing its first subsection ("## Install\nPick one:") is
            // not worth a chunk of its own: its text leads the subsection's chunk.
            let next_is_child = page.sections.get(i + 1).is_some_and(|n| n.trail.len() > s.trail.len() && n.trail.starts_with(&s.trail));
            if body.len() < TINY_SECTION_CHARS && next_is_child && !s.trail.is_empty() {
                carried_text = Some(match carried_text.take() {
                    Some(t) => format!("{t}\n\n{body}"),
                    None => body.to_string(),
                });
                continue;
            }
            let heading = s.trail.last().cloned().unwrap_or_default();
            let mut crumbs = vec![page.title.clone()];
            crumbs.extend(s.trail.iter().cloned());
            let breadcrumb = crumbs.join(" › ");
            let url = if s.anchor.is_empty() { page_url.clone() } else { format!("{page_url}#{}", s.anchor) };
            let mut text = body.to_string();
            if let Some(t) = carried_text.take() {
                text = format!("{t}\n\n{text}");
            }
            if let Some(c) = carry.take() {
                if !c.is_empty() && !s.trail.contains(&c) {
                    text = format!("{c}\n\n{text}");
                }
            }
            if s.anchor.is_empty() {
                if let Some(d) = &page.description {
                    if !text.contains(d.as_str()) {
                        text = format!("{d}\n\n{text}");
                    }
                }
            }
            let text = resolve_links(&text, page, &by_path, config);
            for part in split_long(&text) {
                chunks.push(Chunk {
                    path: page.path.clone(),
                    url: url.clone(),
                    title: page.title.clone(),
                    heading: heading.clone(),
                    breadcrumb: breadcrumb.clone(),
                    text: part,
                });
            }
        }
    }
    chunks
}

/// Splits text into parts of at most `MAX_CHUNK_CHARS` (a single code block may exceed it):
/// on blank-line block boundaries, and inside an over-long paragraph on sentence boundaries.
/// Each part after the first starts with the previous part's tail (its last block or last
/// sentence, up to `OVERLAP_CHARS`), so a sentence that leans on the one before stays readable.
fn split_long(text: &str) -> Vec<String> {
    if text.len() <= MAX_CHUNK_CHARS {
        return vec![text.to_string()];
    }
    let mut pieces: Vec<(String, bool)> = Vec::new(); // (text, starts a block)
    for b in blocks(text) {
        if b.len() > MAX_CHUNK_CHARS && !b.starts_with("```") {
            for (i, s) in compose::sentences(b).into_iter().enumerate() {
                pieces.push((s, i == 0));
            }
        } else {
            pieces.push((b.to_string(), true));
        }
    }
    let join = |ps: &[(String, bool)]| {
        let mut out = String::new();
        for (i, (p, block)) in ps.iter().enumerate() {
            if i > 0 {
                out.push_str(if *block { "\n\n" } else { " " });
            }
            out.push_str(p);
        }
        out
    };
    let mut parts = Vec::new();
    let mut cur: Vec<(String, bool)> = Vec::new();
    let mut len = 0;
    for piece in pieces {
        if len + piece.0.len() > MAX_CHUNK_CHARS && !cur.is_empty() {
            parts.push(join(&cur));
            let (last, _) = cur.pop().expect("non-empty");
            cur.clear();
            len = 0;
            let tail = if last.len() <= OVERLAP_CHARS {
                Some(last)
            } else {
                compose::sentences(&last).pop().filter(|s| s.len() <= OVERLAP_CHARS && !last.starts_with("```"))
            };
            if let Some(t) = tail {
                len = t.len() + 2;
                cur.push((t, true));
            }
        }
        len += piece.0.len() + 2;
        cur.push(piece);
    }
    if !cur.is_empty() {
        parts.push(join(&cur));
    }
    parts
}

/// Blank-line separated blocks, never splitting inside a code fence.
fn blocks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_code = false;
    let mut pos = 0;
    let bytes = text.as_bytes();
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with("```") {
            in_code = !in_code;
        }
        let next = pos + line.len();
        if !in_code && t.is_empty() {
            let block = text[start..pos].trim();
            if !block.is_empty() {
                out.push(block);
            }
            start = next;
        }
        pos = next;
    }
    let _ = bytes;
    let block = text[start..].trim();
    if !block.is_empty() {
        out.push(block);
    }
    out
}

/// Builds the index in memory. The HNSW is built on one thread unless `parallel`: with
/// several, instant-distance inserts concurrently and the graph (so the file) varies from run
/// to run — fine for a benchmark, not for a site's index.
pub fn build_body(chunks: Vec<Chunk>, config: SiteConfig, model: &Model, parallel: bool) -> Result<(IndexBody, usize)> {
    // Analysis and embeddings in parallel (order-preserving, so still deterministic).
    let body_terms: Vec<Vec<String>> = chunks.par_iter().map(|c| text::terms(&searchable(&c.text))).collect();
    // The page title weighs like a heading only in the page's introduction: a question that
    // names the page ("how do I embed the widget?") wants its opening, not whichever subsection
    // is shortest. Subsections keep the title at body weight and their own trail at heading weight.
    let title_terms: Vec<Vec<String>> = chunks.par_iter().map(|c| text::terms(&c.title)).collect();
    let head_terms: Vec<Vec<String>> = chunks
        .par_iter()
        .map(|c| {
            let trail = c.breadcrumb.strip_prefix(c.title.as_str()).unwrap_or(&c.breadcrumb);
            if c.heading.is_empty() {
                text::terms(&c.breadcrumb)
            } else {
                text::terms(trail)
            }
        })
        .collect();
    let tokens = body_terms.iter().map(Vec::len).sum::<usize>();
    let docs: Vec<WeightedDoc> = (0..chunks.len())
        .map(|i| {
            let title_weight = if chunks[i].heading.is_empty() { 0 } else { 1 };
            WeightedDoc {
                parts: vec![
                    (body_terms[i].as_slice(), 1),
                    (head_terms[i].as_slice(), HEADING_WEIGHT),
                    (title_terms[i].as_slice(), title_weight),
                ],
            }
        })
        .collect();
    let bm25 = Bm25::build(&docs);
    let vectors: Vec<Vector> =
        chunks.par_iter().map(|c| Vector::quantize(&model.embed(&format!("{}\n{}", c.breadcrumb, searchable(&c.text))))).collect();
    let values: Vec<u32> = (0..chunks.len() as u32).collect();
    let pool =
        rayon::ThreadPoolBuilder::new().num_threads(if parallel { 0 } else { 1 }).build().context("cannot start the HNSW builder")?;
    let hnsw = pool.install(|| {
        instant_distance::Builder::default()
            .seed(HNSW_SEED)
            .ef_search(HNSW_EF_SEARCH)
            .ef_construction(HNSW_EF_CONSTRUCTION)
            .build(vectors, values)
    });
    Ok((IndexBody { config, chunks, bm25, hnsw: index::hnsw_bytes(&hnsw) }, tokens))
}

pub fn run(opts: &BuildOptions) -> Result<Summary> {
    let started = Instant::now();
    let mut config = match &opts.config {
        Some(p) => load_config(p)?,
        None => {
            let default = opts.docs.join("baton.toml");
            if default.is_file() {
                load_config(&default)?
            } else {
                SiteConfig::default()
            }
        }
    };
    if let Some(u) = &opts.base_url {
        config.base_url = u.clone();
    }
    let model = crate::model::load(opts.model.as_deref())?;
    let (pages, skipped) = collect_pages(&opts.docs, &config, opts.quiet)?;
    if pages.is_empty() {
        bail!(
            "no documents to index in {}: add .md, .mdx, .markdown or .html files (skipped {} file(s))",
            opts.docs.display(),
            skipped.len()
        );
    }
    let files = pages.len();
    let chunks = chunk_pages(&pages, &config);
    let pages_written = match &opts.pages {
        Some(out) => crate::pages::write(&opts.docs, &pages, &config, out)?,
        None => 0,
    };
    let n_chunks = chunks.len();
    let config_json = serde_json::to_vec_pretty(&config)?;
    // Big corpora take seconds in the embedding and graph steps: say what is happening.
    let spinner = if opts.quiet || n_chunks < 1000 {
        indicatif::ProgressBar::hidden()
    } else {
        let s = indicatif::ProgressBar::new_spinner();
        s.enable_steady_tick(std::time::Duration::from_millis(120));
        s.set_message(format!("indexing {n_chunks} chunks: BM25, embeddings, HNSW graph"));
        s
    };
    let (body, tokens) = build_body(chunks, config, &model, false)?;
    spinner.finish_and_clear();
    let bytes = Index::to_bytes(&body, &model.id, docs_commit(&opts.docs));
    if let Some(parent) = opts.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // Write to a temporary file and rename, so a crash never leaves half an index.
    let tmp = opts.out.with_extension("idx.tmp");
    std::fs::write(&tmp, &bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &opts.out).with_context(|| format!("cannot write {}", opts.out.display()))?;
    // The config also goes beside the index as plain JSON: the worker serves handoff (origins,
    // forms) from it even when the index itself cannot be loaded.
    let site_json = opts.out.with_file_name("site.json");
    std::fs::write(&site_json, config_json).with_context(|| format!("cannot write {}", site_json.display()))?;
    Ok(Summary { files, chunks: n_chunks, tokens, skipped, bytes: bytes.len(), seconds: started.elapsed().as_secs_f64(), pages_written })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_sections_split_on_blocks_with_overlap() {
        let para = "Some words make a sentence. ".repeat(16);
        let text = (0..8).map(|i| format!("Block {i}. {para}")).collect::<Vec<_>>().join("\n\n");
        let parts = split_long(&text);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| p.len() <= MAX_CHUNK_CHARS), "{:?}", parts.iter().map(|p| p.len()).collect::<Vec<_>>());
        let last_sentence_of_first = compose::sentences(parts[0].rsplit("\n\n").next().unwrap()).pop().unwrap();
        assert!(parts[1].starts_with(&last_sentence_of_first), "overlap");
        // One over-long paragraph splits on sentences.
        let para = "This is one sentence of a long paragraph. ".repeat(80);
        let parts = split_long(para.trim());
        assert!(parts.len() > 1 && parts.iter().all(|p| p.len() <= MAX_CHUNK_CHARS && p.ends_with('.')), "{parts:?}");
    }

    #[test]
    fn chunks_carry_breadcrumbs_and_urls_and_fold_tiny_intros() {
        let src = "# Guide\n\nWelcome to the guide, which explains everything in detail for new readers of it.\n\n## Install\n\nPick one:\n\n### Linux\n\nRun the package manager.\n\n## Empty\n\n### Child\n\nChild text.\n";
        let page = docs::parse_page("guide/index.md", src, &Default::default()).unwrap().unwrap();
        let mut config = SiteConfig { base_url: "https://example.com/docs/".into(), ..SiteConfig::default() };
        config.slugs.suffix = "/".into();
        let chunks = chunk_pages(&[page], &config);
        let crumbs: Vec<&str> = chunks.iter().map(|c| c.breadcrumb.as_str()).collect();
        assert_eq!(crumbs, ["Guide", "Guide › Install › Linux", "Guide › Empty › Child"]);
        assert_eq!(chunks[0].url, "https://example.com/docs/guide/");
        assert_eq!(chunks[1].url, "https://example.com/docs/guide/#linux");
        assert_eq!(chunks[1].text, "Pick one:\n\nRun the package manager.", "the tiny intro leads its subsection");
        assert_eq!(chunks[1].heading, "Linux");
        assert!(chunks.iter().all(|c| c.path == "guide/index.md" && c.title == "Guide"));
    }

    #[test]
    fn cross_references_keep_their_links_with_public_urls() {
        let page = |path: &str, src: &str| docs::parse_page(path, src, &Default::default()).unwrap().unwrap();
        let a = page("guide/a.md", "# A\n\n## Setup\n\nSee [deploying](../deploy.md#secrets), [the web](https://example.com), [below](#more), [a picture](shot.png) and `[not](a link)`.\n\n## More\n\nMore text here.\n");
        let d = page("deploy.md", "# Deploy\n\n## Secrets\n\nSet them.\n");
        let config = SiteConfig::default();
        let chunks = chunk_pages(&[a, d], &config);
        assert_eq!(
            chunks[0].text,
            "See [deploying](/docs/deploy#secrets), [the web](https://example.com), [below](/docs/guide/a#more), a picture and `[not](a link)`."
        );
        assert_eq!(searchable(&chunks[0].text), "See deploying, the web, below, a picture and `not](a link)`.");
    }

    #[test]
    fn code_fences_are_not_split() {
        let text = "a\n\n```\nx\n\ny\n```\n\nb";
        assert_eq!(blocks(text), vec!["a", "```\nx\n\ny\n```", "b"]);
    }
}
