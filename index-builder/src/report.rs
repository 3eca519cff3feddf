//! `index-builder diff OLD NEW` (and `build --report`): what the bot will know after a docs
//! change — pages and sections added, removed and changed, sections without a heading, files
//! skipped and why, and broken links between the docs — as a readable summary or JSON, so a
//! docs pull request shows its effect before it is merged.
//!
//! OLD and NEW are each a docs folder or a built index file. A folder is read exactly as
//! `build` reads it (`build::collect_pages` + `build::chunk_pages`, no embeddings, so it is
//! fast); only a folder can tell skipped files and links, so NEW is usually a folder. Sections
//! are compared by page and anchor, on the text the index holds.

use crate::build;
use crate::docs::{self, Page};
use anyhow::{bail, Result};
use baton_shared::config::SiteConfig;
use baton_shared::index::Chunk;
use pulldown_cmark::{Event, Options, Parser, Tag};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `--out` for `build --sites-dir DIR`: DIR/<site>/index.idx, the site id read from the config.
pub fn site_index_path(docs: &Path, config: Option<&Path>, sites_dir: &Path) -> Result<PathBuf> {
    let path = config.map(Path::to_path_buf).unwrap_or_else(|| docs.join("baton.toml"));
    if !path.is_file() {
        bail!("--sites-dir needs the site id: add {} with site = \"your-site\" (or pass --config FILE, or --out FILE)", path.display());
    }
    let config = build::load_config(&path)?;
    Ok(sites_dir.join(config.site.as_str()).join("index.idx"))
}

/// One side of a comparison: the pages the bot would know, and (for a docs folder) what was
/// left out and which links lead nowhere.
struct Snapshot {
    label: String,
    pages: BTreeMap<String, PageSummary>,
    skipped: Vec<Skipped>,
    broken_links: Vec<BrokenLink>,
    unheaded: Vec<Unheaded>,
    unresolved: Vec<UnresolvedCitation>,
    chunks: usize,
}

struct PageSummary {
    title: String,
    url: String,
    /// By anchor ("" = the text before the first heading), in page order.
    sections: Vec<(String, SectionSummary)>,
}

struct SectionSummary {
    heading: String,
    url: String,
    text: String,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct PageRef {
    pub path: String,
    pub title: String,
    pub url: String,
    pub sections: usize,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct SectionRef {
    /// "Page › Section".
    pub heading: String,
    pub url: String,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct PageChange {
    pub path: String,
    pub title: String,
    pub url: String,
    /// The old title, when it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_title: Option<String>,
    pub sections_added: Vec<SectionRef>,
    pub sections_removed: Vec<SectionRef>,
    pub sections_changed: Vec<SectionRef>,
}

/// Text the index keeps under no heading: cited as the page itself.
#[derive(Debug, Serialize, PartialEq)]
pub struct Unheaded {
    pub path: String,
    pub url: String,
    /// The page has no headings at all (one long citation: consider splitting it).
    pub whole_page: bool,
    pub chars: usize,
    pub preview: String,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct BrokenLink {
    /// The file with the link, relative to the docs folder.
    pub path: String,
    pub line: usize,
    pub target: String,
    pub problem: String,
}

/// A citation URL that would not open the cited section on the site.
#[derive(Debug, Serialize, PartialEq)]
pub struct UnresolvedCitation {
    /// The doc file (or `baton.toml` for the config).
    pub path: String,
    pub url: String,
    pub problem: String,
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Counts {
    pub pages: usize,
    pub sections: usize,
    pub chunks: usize,
    pub pages_added: usize,
    pub pages_removed: usize,
    pub pages_changed: usize,
    pub sections_added: usize,
    pub sections_removed: usize,
    pub sections_changed: usize,
    pub sections_without_heading: usize,
    pub skipped: usize,
    pub broken_links: usize,
    pub unresolved_citations: usize,
}

/// The report, as `--json` prints it.
#[derive(Debug, Serialize, PartialEq)]
pub struct Report {
    /// What was compared ("none" when there is nothing before).
    pub old: String,
    pub new: String,
    pub counts: Counts,
    pub pages_added: Vec<PageRef>,
    pub pages_removed: Vec<PageRef>,
    pub pages_changed: Vec<PageChange>,
    pub sections_without_heading: Vec<Unheaded>,
    pub skipped: Vec<Skipped>,
    pub broken_links: Vec<BrokenLink>,
    pub unresolved_citations: Vec<UnresolvedCitation>,
}

/// `OLD` may be "none": everything in NEW is then new.
pub const NOTHING: &str = "none";

/// Compares OLD with NEW (each a docs folder, an index file, or "none" for OLD).
/// `config` overrides NEW's `baton.toml` (URLs and slugs come from it).
pub fn diff(old: &str, new: &Path, config: Option<&Path>) -> Result<Report> {
    let old = if old == NOTHING { empty() } else { load(Path::new(old), None)? };
    let new = load(new, config)?;
    Ok(compare(old, new))
}

fn empty() -> Snapshot {
    Snapshot {
        label: NOTHING.into(),
        pages: BTreeMap::new(),
        skipped: vec![],
        broken_links: vec![],
        unheaded: vec![],
        unresolved: vec![],
        chunks: 0,
    }
}

fn load(path: &Path, config: Option<&Path>) -> Result<Snapshot> {
    if path.is_dir() {
        return from_docs(path, config);
    }
    if !path.is_file() {
        bail!("{} is neither a docs folder nor an index file", path.display());
    }
    let index = build::read_index(path)
        .map_err(|e| anyhow::anyhow!("{e:#} (or compare the docs folders themselves: `index-builder diff OLD_DOCS NEW_DOCS`)"))?;
    let chunks: Vec<Chunk> = index.body.chunks.iter().cloned().collect();
    Ok(from_chunks(path.display().to_string(), &chunks, vec![], vec![]))
}

fn from_docs(dir: &Path, config: Option<&Path>) -> Result<Snapshot> {
    let config_path = config.map(Path::to_path_buf).unwrap_or_else(|| dir.join("baton.toml"));
    let config = if config_path.is_file() { build::load_config(&config_path)? } else { SiteConfig::default() };
    let (pages, skipped) = build::collect_pages(dir, &config, true)?;
    let chunks = build::chunk_pages(&pages, &config);
    let skipped: Vec<Skipped> = skipped.into_iter().map(|(path, reason)| Skipped { path, reason }).collect();
    let links = broken_links(dir, &pages, &skipped, &config);
    let mut snapshot = from_chunks(dir.display().to_string(), &chunks, skipped, links);
    snapshot.unresolved = unresolved_citations(&pages, &config);
    Ok(snapshot)
}

/// Citations that would not open their section: two pages published at one URL, a heading
/// with nothing to make an anchor of, a URL with characters a link must escape, a relative
/// `base_url`. (On the demo's own pages, `pages.rs` also checks every anchor is on its page.)
fn unresolved_citations(pages: &[Page], config: &SiteConfig) -> Vec<UnresolvedCitation> {
    let mut out = Vec::new();
    let base = &config.base_url;
    if !base.is_empty() && !base.starts_with('/') && !base.starts_with("https://") && !base.starts_with("http://") {
        out.push(UnresolvedCitation {
            path: "baton.toml".into(),
            url: base.clone(),
            problem: format!(
                "base_url {base:?} is relative: each citation would resolve against whatever page the widget is on; \
                 write the docs' address (https://docs.example.com) or an absolute path (/docs)"
            ),
        });
    }
    let mut by_url: BTreeMap<String, Vec<&Page>> = BTreeMap::new();
    for p in pages {
        by_url.entry(build::page_url(p, config)).or_default().push(p);
    }
    for (url, same) in &by_url {
        if same.len() > 1 {
            let paths: Vec<&str> = same.iter().map(|p| p.path.as_str()).collect();
            for p in same {
                out.push(UnresolvedCitation {
                    path: p.path.clone(),
                    url: url.clone(),
                    problem: format!(
                        "{} are all published at this URL: a citation may open the wrong one (set `slug` in the front matter)",
                        paths.join(" and ")
                    ),
                });
            }
        }
        let path_part = url.split_once("://").map(|(_, r)| r.find('/').map(|i| &r[i..]).unwrap_or("")).unwrap_or(url);
        if let Some(c) = path_part.chars().find(|c| !(c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:@".contains(*c))) {
            out.push(UnresolvedCitation {
                path: same[0].path.clone(),
                url: url.clone(),
                problem: format!("the URL has {c:?}, which a link must escape: rename the file or set `slug` in the front matter"),
            });
        }
        for p in same {
            for s in p.sections.iter().filter(|s| !s.trail.is_empty() && s.anchor.is_empty()) {
                out.push(UnresolvedCitation {
                    path: p.path.clone(),
                    url: url.clone(),
                    problem: format!(
                        "the heading “{}” has no letters or digits to make an anchor of: its citations open the top of the page \
                         (give it one: `## … {{#name}}`)",
                        s.trail.last().map(String::as_str).unwrap_or("")
                    ),
                });
            }
        }
    }
    out
}

fn from_chunks(label: String, chunks: &[Chunk], skipped: Vec<Skipped>, broken_links: Vec<BrokenLink>) -> Snapshot {
    let mut pages: BTreeMap<String, PageSummary> = BTreeMap::new();
    for c in chunks {
        let (page_url, anchor) = match c.url.split_once('#') {
            Some((u, a)) => (u.to_string(), a.to_string()),
            None => (c.url.clone(), String::new()),
        };
        let page = pages.entry(c.path.clone()).or_insert_with(|| PageSummary { title: c.title.clone(), url: page_url, sections: vec![] });
        match page.sections.iter_mut().find(|(a, _)| *a == anchor) {
            // A long section is split into several chunks: one section, its parts in order.
            Some((_, s)) => {
                s.text.push_str("\n\n");
                s.text.push_str(&c.text);
            }
            None => {
                page.sections.push((anchor, SectionSummary { heading: c.breadcrumb.clone(), url: c.url.clone(), text: c.text.clone() }))
            }
        }
    }
    let unheaded = pages
        .iter()
        .flat_map(|(path, p)| {
            let whole_page = p.sections.iter().all(|(a, _)| a.is_empty());
            p.sections.iter().filter(|(a, _)| a.is_empty()).map(move |(_, s)| Unheaded {
                path: path.clone(),
                url: s.url.clone(),
                whole_page,
                chars: s.text.chars().count(),
                preview: preview(&s.text),
            })
        })
        .collect();
    Snapshot { label, pages, skipped, broken_links, unheaded, unresolved: vec![], chunks: chunks.len() }
}

fn preview(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

fn page_ref(path: &str, p: &PageSummary) -> PageRef {
    PageRef { path: path.to_string(), title: p.title.clone(), url: p.url.clone(), sections: p.sections.len() }
}

fn section_ref(s: &SectionSummary) -> SectionRef {
    SectionRef { heading: s.heading.clone(), url: s.url.clone() }
}

fn compare(old: Snapshot, new: Snapshot) -> Report {
    let mut r = Report {
        old: old.label.clone(),
        new: new.label.clone(),
        counts: Counts::default(),
        pages_added: vec![],
        pages_removed: vec![],
        pages_changed: vec![],
        sections_without_heading: new.unheaded,
        skipped: new.skipped,
        broken_links: new.broken_links,
        unresolved_citations: new.unresolved,
    };
    for (path, p) in &new.pages {
        let Some(before) = old.pages.get(path) else {
            r.pages_added.push(page_ref(path, p));
            continue;
        };
        let find = |list: &[(String, SectionSummary)], a: &str| list.iter().position(|(x, _)| x == a);
        let added: Vec<SectionRef> =
            p.sections.iter().filter(|(a, _)| find(&before.sections, a).is_none()).map(|(_, s)| section_ref(s)).collect();
        let removed: Vec<SectionRef> =
            before.sections.iter().filter(|(a, _)| find(&p.sections, a).is_none()).map(|(_, s)| section_ref(s)).collect();
        let changed: Vec<SectionRef> = p
            .sections
            .iter()
            .filter(|(a, s)| find(&before.sections, a).is_some_and(|i| before.sections[i].1.text != s.text))
            .map(|(_, s)| section_ref(s))
            .collect();
        let old_title = (before.title != p.title).then(|| before.title.clone());
        if !added.is_empty() || !removed.is_empty() || !changed.is_empty() || old_title.is_some() {
            r.pages_changed.push(PageChange {
                path: path.clone(),
                title: p.title.clone(),
                url: p.url.clone(),
                old_title,
                sections_added: added,
                sections_removed: removed,
                sections_changed: changed,
            });
        }
    }
    for (path, p) in &old.pages {
        if !new.pages.contains_key(path) {
            r.pages_removed.push(page_ref(path, p));
        }
    }
    let c = &mut r.counts;
    c.pages = new.pages.len();
    c.sections = new.pages.values().map(|p| p.sections.len()).sum();
    c.chunks = new.chunks;
    c.pages_added = r.pages_added.len();
    c.pages_removed = r.pages_removed.len();
    c.pages_changed = r.pages_changed.len();
    c.sections_added =
        r.pages_added.iter().map(|p| p.sections).sum::<usize>() + r.pages_changed.iter().map(|p| p.sections_added.len()).sum::<usize>();
    c.sections_removed =
        r.pages_removed.iter().map(|p| p.sections).sum::<usize>() + r.pages_changed.iter().map(|p| p.sections_removed.len()).sum::<usize>();
    c.sections_changed = r.pages_changed.iter().map(|p| p.sections_changed.len()).sum();
    c.sections_without_heading = r.sections_without_heading.len();
    c.skipped = r.skipped.len();
    c.broken_links = r.broken_links.len();
    c.unresolved_citations = r.unresolved_citations.len();
    r
}

// ---- links ----

/// A link in a doc file: its 1-based line and its target as written.
fn links_in(path: &str, src: &str) -> Vec<(usize, String)> {
    if path.ends_with(".html") || path.ends_with(".htm") {
        return html_links(src);
    }
    let (body, offset) = match docs::front_matter(src) {
        Ok((_, body, lines)) => (body, lines),
        Err(_) => (src, 0),
    };
    // MDX: JSX and import lines become blank lines, so line numbers stay right.
    let body = if path.ends_with(".mdx") { docs::strip_mdx(body) } else { body.to_string() };
    let line_starts: Vec<usize> = std::iter::once(0).chain(body.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let line_of = |pos: usize| line_starts.partition_point(|&s| s <= pos) + offset;
    let mut out = Vec::new();
    for (ev, range) in Parser::new_ext(&body, Options::ENABLE_TABLES | Options::ENABLE_HEADING_ATTRIBUTES).into_offset_iter() {
        if let Event::Start(Tag::Link { dest_url, .. }) = ev {
            out.push((line_of(range.start), dest_url.to_string()));
        }
    }
    out
}

/// `href="…"` in an HTML file.
fn html_links(src: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in src.lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find("href=") {
            rest = &rest[i + 5..];
            let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else { continue };
            let Some(end) = rest[1..].find(q) else { break };
            out.push((n + 1, rest[1..1 + end].to_string()));
            rest = &rest[1 + end..];
        }
    }
    out
}

/// Normalises `a/./b/../c` (relative to the docs folder); `None` if it climbs out of it.
pub(crate) fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

fn parent(path: &str) -> &str {
    path.rfind('/').map(|i| &path[..i]).unwrap_or("")
}

fn join(dir: &str, rel: &str) -> Option<String> {
    if dir.is_empty() {
        normalize(rel)
    } else {
        normalize(&format!("{dir}/{rel}"))
    }
}

const DOC_EXTENSIONS: &[&str] = &["md", "mdx", "markdown", "html", "htm"];

/// Links from one doc page to another (or to a heading) that lead nowhere: no such page, a
/// page that is not indexed (draft, empty, unreadable), or no such heading on the page.
/// External links, assets and links outside the docs are not checked.
fn broken_links(dir: &Path, pages: &[Page], skipped: &[Skipped], config: &SiteConfig) -> Vec<BrokenLink> {
    let by_path: BTreeMap<&str, &Page> = pages.iter().map(|p| (p.path.as_str(), p)).collect();
    let by_slug: BTreeMap<&str, &Page> = pages.iter().map(|p| (p.slug.as_str(), p)).collect();
    let skipped_paths: BTreeMap<&str, &str> = skipped.iter().map(|s| (s.path.as_str(), s.reason.as_str())).collect();
    // Links written as published URLs: "/docs/guide" when base_url is "/docs" (or ends in it).
    let base_path = match config.base_url.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| rest[i..].to_string()).unwrap_or_default(),
        None => config.base_url.clone(),
    };
    let base_path = base_path.trim_end_matches('/').to_string();
    let mut out = Vec::new();
    for page in pages {
        let Ok(src) = docs::read_text(&dir.join(&page.path)) else { continue };
        let anchors_of = |p: &Page| -> BTreeSet<String> { p.sections.iter().map(|s| s.anchor.clone()).collect() };
        for (line, target) in links_in(&page.path, &src) {
            let t = target.trim();
            let is_external = t.starts_with("//")
                || t.split_once(':').is_some_and(|(scheme, _)| {
                    !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)) && !scheme.contains('/')
                });
            if t.is_empty() || is_external {
                continue;
            }
            let (path_part, fragment) = match t.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (t, None),
            };
            let path_part = path_part.split('?').next().unwrap_or("").replace("%20", " ");
            let broken = |problem: String| BrokenLink { path: page.path.clone(), line, target: target.clone(), problem };
            // Which page the link means.
            let target_page: Option<&Page> = if path_part.is_empty() {
                Some(page)
            } else {
                let ext = Path::new(&path_part).extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
                if !ext.is_empty() && !DOC_EXTENSIONS.contains(&ext.as_str()) {
                    continue; // an image, a PDF, a download: not a page
                }
                let candidates: Vec<String> = if let Some(abs) = path_part.strip_prefix('/') {
                    // A published URL: only those under the docs' base path are ours.
                    let abs = format!("/{abs}");
                    match abs.strip_prefix(&base_path).filter(|r| base_path.is_empty() || r.is_empty() || r.starts_with('/')) {
                        Some(r) => vec![r.trim_matches('/').to_string()],
                        None => continue,
                    }
                } else {
                    // Relative to the file (source links), or to the page's URL (published links).
                    [parent(&page.path), parent(&page.slug)]
                        .iter()
                        .filter_map(|d| join(d, &path_part))
                        .chain(join(&page.slug, &path_part))
                        .collect()
                };
                let found = candidates.iter().find_map(|c| {
                    let c = c.trim_end_matches('/');
                    by_path
                        .get(c)
                        .or_else(|| by_slug.get(c))
                        .or_else(|| DOC_EXTENSIONS.iter().find_map(|e| by_path.get(format!("{c}.{e}").as_str())))
                        .or_else(|| ["index.md", "README.md", "index.mdx"].iter().find_map(|i| by_path.get(format!("{c}/{i}").as_str())))
                        .copied()
                });
                match found {
                    Some(p) => Some(p),
                    None => {
                        let skipped_why = candidates.iter().find_map(|c| {
                            skipped_paths
                                .get(c.as_str())
                                .or_else(|| DOC_EXTENSIONS.iter().find_map(|e| skipped_paths.get(format!("{c}.{e}").as_str())))
                        });
                        out.push(broken(match skipped_why {
                            Some(why) => format!("the page is not indexed ({why})"),
                            None => "no such page in the docs".into(),
                        }));
                        None
                    }
                }
            };
            let (Some(target_page), Some(fragment)) = (target_page, fragment) else { continue };
            if fragment.is_empty() || anchors_of(target_page).contains(fragment) {
                continue;
            }
            // Explicit HTML anchors (`<a id="…">`, `<a name="…">`) count too.
            let raw = docs::read_text(&dir.join(&target_page.path)).unwrap_or_default();
            if raw.contains(&format!("id=\"{fragment}\"")) || raw.contains(&format!("name=\"{fragment}\"")) {
                continue;
            }
            out.push(broken(format!("no heading #{fragment} on {}", target_page.path)));
        }
    }
    out
}

// ---- output ----

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The readable summary.
pub fn render_text(r: &Report) -> String {
    let c = &r.counts;
    let mut s = String::new();
    let _ = writeln!(s, "Docs report: {} → {}", r.old, r.new);
    let _ = writeln!(s, "The bot will know {} pages, {} sections ({} chunks).", c.pages, c.sections, c.chunks);
    let _ = writeln!(
        s,
        "Pages: {} added, {} removed, {} changed. Sections: {} added, {} removed, {} changed.",
        c.pages_added, c.pages_removed, c.pages_changed, c.sections_added, c.sections_removed, c.sections_changed
    );
    if !r.pages_added.is_empty() {
        let _ = writeln!(s, "\nPages added:");
        for p in &r.pages_added {
            let _ = writeln!(s, "  + {}  “{}” ({}) {}", p.path, p.title, plural(p.sections, "section"), p.url);
        }
    }
    if !r.pages_removed.is_empty() {
        let _ = writeln!(s, "\nPages removed:");
        for p in &r.pages_removed {
            let _ = writeln!(s, "  - {}  “{}”", p.path, p.title);
        }
    }
    if !r.pages_changed.is_empty() {
        let _ = writeln!(s, "\nPages changed:");
        for p in &r.pages_changed {
            let _ = writeln!(s, "  ~ {}  “{}”", p.path, p.title);
            if let Some(t) = &p.old_title {
                let _ = writeln!(s, "      title was “{t}”");
            }
            for (mark, list) in [("+", &p.sections_added), ("-", &p.sections_removed), ("~", &p.sections_changed)] {
                for x in list {
                    let _ = writeln!(s, "      {mark} {}", x.heading);
                }
            }
        }
    }
    if !r.sections_without_heading.is_empty() {
        let _ = writeln!(s, "\nText under no heading (cited as the whole page):");
        for u in &r.sections_without_heading {
            let note = if u.whole_page { "  ← the page has no headings: add some so answers can cite a section" } else { "" };
            let _ = writeln!(s, "  {}: {} characters, “{}”{note}", u.path, u.chars, u.preview);
        }
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(s, "\nSkipped files (the bot will not know them):");
        for k in &r.skipped {
            let _ = writeln!(s, "  {}: {}", k.path, k.reason);
        }
    }
    if r.broken_links.is_empty() {
        let _ = writeln!(s, "\nNo broken links between pages.");
    } else {
        let _ = writeln!(s, "\nBroken links:");
        for b in &r.broken_links {
            let _ = writeln!(s, "  {}:{}: {} — {}", b.path, b.line, b.target, b.problem);
        }
    }
    if r.unresolved_citations.is_empty() {
        let _ = writeln!(s, "Every citation opens its section.");
    } else {
        let _ = writeln!(s, "\nCitations that would not open their section:");
        for u in &r.unresolved_citations {
            let _ = writeln!(s, "  {}: {} — {}", u.path, u.url, u.problem);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_lines_count_front_matter_and_skip_code() {
        let src = "---\ntitle: T\n---\n# T\n\nSee [a](a.md).\n\n```md\n[not](a link.md)\n```\n\nAnd [b](b.md#x).\n";
        assert_eq!(links_in("p.md", src), vec![(6, "a.md".to_string()), (12, "b.md#x".to_string())]);
        assert_eq!(html_links("<p>\n<a href=\"x.html#y\">x</a> <a href='z'>z</a>"), vec![(2, "x.html#y".into()), (2, "z".into())]);
    }

    #[test]
    fn paths_normalise_inside_the_docs_only() {
        assert_eq!(join("guide", "../index.md").as_deref(), Some("index.md"));
        assert_eq!(join("", "./a/b.md").as_deref(), Some("a/b.md"));
        assert_eq!(join("", "../outside.md"), None);
    }
}
