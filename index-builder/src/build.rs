//! `index-builder build`: docs folder → chunks → BM25 + embeddings → one index file.

use crate::docs::{self, Page, Skip};
use anyhow::{bail, Context, Result};
use baton_shared::config::SiteConfig;
use baton_shared::engine::bm25::{Bm25, WeightedDoc};
use baton_shared::engine::embed::Model;
use baton_shared::engine::handoff_classifier::HandoffClassifier;
use baton_shared::engine::vectors::{Vectors, EXACT_MAX_CHUNKS};
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

/// The bundled handoff classifier with the site's own examples (`[handoff] examples`, a path
/// relative to `baton.toml`) folded in.
pub fn site_classifier(config: &SiteConfig, config_path: Option<&Path>, model: &Model) -> Result<HandoffClassifier> {
    let base = crate::model::load_classifier(None)?;
    if base.model_id != model.id {
        bail!(
            "the bundled handoff classifier was trained on model {:?}, not {:?}: retrain it with `index-builder handoff train --model …`",
            base.model_id,
            model.id
        );
    }
    let file = config.handoff.examples.trim();
    if file.is_empty() {
        return Ok(base);
    }
    let dir = config_path.and_then(Path::parent).unwrap_or(Path::new("."));
    let examples = crate::handoff::load_site_examples(&dir.join(file))?;
    base.with_examples(model, &examples).map_err(anyhow::Error::msg)
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
        let result = docs::read_text(&path).and_then(|src| match docs::parse_page(&rel, &src, config) {
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

/// Turns pages into retrieval chunks: one per section, long ones split with a small overlap,
/// heading-only sections and tiny introductions folded into the next (sub)section.
pub fn chunk_pages(pages: &[Page], config: &SiteConfig) -> Vec<Chunk> {
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

/// Builds the index in memory. Everything runs in parallel and stays deterministic (order-
/// preserving): the same docs give the same bytes. Past `EXACT_MAX_CHUNKS` chunks the vectors
/// also get their 1-bit search codes (see `baton_shared::engine::vectors`).
pub fn build_body(chunks: Vec<Chunk>, config: SiteConfig, model: &Model, handoff: HandoffClassifier) -> Result<(IndexBody, usize)> {
    // Analysis and embeddings in parallel (order-preserving, so still deterministic).
    let body_terms: Vec<Vec<String>> = chunks.par_iter().map(|c| text::terms(&c.text)).collect();
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
    let embeddings = chunk_embeddings(&chunks, model);
    let vectors = Vectors::build(&embeddings, model.dims as usize, chunks.len() > EXACT_MAX_CHUNKS);
    Ok((IndexBody::new(config, chunks, bm25, vectors, handoff), tokens))
}

/// Each chunk's embedding: its breadcrumb and text, in parallel, in chunk order.
pub fn chunk_embeddings(chunks: &[Chunk], model: &Model) -> Vec<Vec<f32>> {
    chunks.par_iter().map(|c| model.embed(&format!("{}\n{}", c.breadcrumb, text::without_link_targets(&c.text)))).collect()
}

pub fn run(opts: &BuildOptions) -> Result<Summary> {
    let started = Instant::now();
    let config_path = opts.config.clone().or_else(|| Some(opts.docs.join("baton.toml")).filter(|p| p.is_file()));
    let mut config = match &config_path {
        Some(p) => load_config(p)?,
        None => SiteConfig::default(),
    };
    if let Some(u) = &opts.base_url {
        config.base_url = u.clone();
    }
    let model = crate::model::load(opts.model.as_deref())?;
    let handoff = site_classifier(&config, config_path.as_deref(), &model)?;
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
        s.set_message(format!("indexing {n_chunks} chunks: BM25 and embeddings"));
        s
    };
    let (body, tokens) = build_body(chunks, config, &model, handoff)?;
    spinner.finish_and_clear();
    let index_files = Index::to_parts(&body, &model.id, docs_commit(&opts.docs));
    write_index(&opts.out, &index_files)?;
    // The config also goes beside the index as plain JSON: the worker serves handoff (origins,
    // forms) from it even when the index itself cannot be loaded.
    let site_json = opts.out.with_file_name("site.json");
    std::fs::write(&site_json, config_json).with_context(|| format!("cannot write {}", site_json.display()))?;
    let bytes = index_files.iter().map(Vec::len).sum();
    Ok(Summary { files, chunks: n_chunks, tokens, skipped, bytes, seconds: started.elapsed().as_secs_f64(), pages_written })
}

/// Writes an index's files: the head at `out`, its parts (if any) beside it as `out.1`, `out.2`,
/// …; part files of an earlier, bigger build are removed. Each file is written to a temporary
/// name and renamed, so a crash never leaves half a file (and a head never loads with parts
/// that are not its own: their checksums are in it).
pub fn write_index(out: &Path, files: &[Vec<u8>]) -> Result<()> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let name = out.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let path_of = |n: usize| if n == 0 { out.to_path_buf() } else { out.with_file_name(index::part_file_name(&name, n)) };
    for (n, bytes) in files.iter().enumerate().rev() {
        let path = path_of(n);
        let tmp = path.with_file_name(format!("{}.tmp", path.file_name().unwrap_or_default().to_string_lossy()));
        std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut n = files.len();
    while path_of(n).is_file() {
        std::fs::remove_file(path_of(n)).with_context(|| format!("cannot remove the stale part {}", path_of(n).display()))?;
        n += 1;
    }
    Ok(())
}

/// Reads an index and its part files (`path.1`, `path.2`, … beside it).
pub fn read_index(path: &Path) -> Result<Index> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read index {}", path.display()))?;
    let head = Index::read_head(bytes).map_err(|e| anyhow::anyhow!("index {}: {e}", path.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let parts = (1..=head.part_count())
        .map(|n| {
            let p = path.with_file_name(index::part_file_name(&name, n));
            std::fs::read(&p)
                .map(index::Blob::from)
                .with_context(|| format!("cannot read {} (part {n} of index {})", p.display(), path.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    Index::from_head(head, parts).map_err(|e| anyhow::anyhow!("index {}: {e}", path.display()))
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
        let page = docs::parse_page("guide/index.md", src, &SiteConfig::default()).unwrap().unwrap();
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
    fn code_fences_are_not_split() {
        let text = "a\n\n```\nx\n\ny\n```\n\nb";
        assert_eq!(blocks(text), vec!["a", "```\nx\n\ny\n```", "b"]);
    }
}
