//! Reading a docs folder: Markdown / MDX / HTML files → pages of heading sections.
//!
//! Text is kept in a light Markdown form the engine can quote: paragraphs, `- ` list items,
//! fenced code blocks, tables as "Header: cell; Header: cell" rows.

use baton_shared::config::{SiteConfig, SlugConfig};
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use std::path::Path;

/// One doc file.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Relative to the docs folder, with `/` separators.
    pub path: String,
    pub title: String,
    pub slug: String,
    pub description: Option<String>,
    pub sections: Vec<Section>,
}

/// Text under one heading (the first section may have no heading).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Headings from the page's top section down to this one (excluding the page title H1).
    pub trail: Vec<String>,
    pub level: u8,
    pub anchor: String,
    /// Blocks separated by blank lines.
    pub text: String,
}

/// Why a file was not indexed.
#[derive(Debug, Clone, PartialEq)]
pub enum Skip {
    Draft,
    Empty,
    NotUtf8,
    Unreadable(String),
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::Draft => write!(f, "draft: true in front matter"),
            Skip::Empty => write!(f, "empty file (no text)"),
            Skip::NotUtf8 => write!(f, "not UTF-8 text"),
            Skip::Unreadable(e) => write!(f, "unreadable: {e}"),
        }
    }
}

/// Front matter fields Baton uses.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FrontMatter {
    pub title: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub draft: bool,
}

/// Splits `---` YAML or `+++` TOML front matter from the body. Returns an error naming the
/// line for front matter that does not parse.
pub fn front_matter(src: &str) -> Result<(FrontMatter, &str, usize), String> {
    let (delim, is_toml) = if src.starts_with("---") {
        ("---", false)
    } else if src.starts_with("+++") {
        ("+++", true)
    } else {
        return Ok((FrontMatter::default(), src, 0));
    };
    let first_nl = match src.find('\n') {
        Some(i) if src[..i].trim() == delim => i,
        _ => return Ok((FrontMatter::default(), src, 0)),
    };
    let rest = &src[first_nl + 1..];
    let mut offset = 0;
    let mut end = None;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == delim {
            end = Some((offset, offset + line.len()));
            break;
        }
        offset += line.len();
    }
    let Some((fm_end, body_start)) = end else {
        return Err(format!("line 1: front matter opened with {delim} is never closed"));
    };
    let fm = &rest[..fm_end];
    let body = &rest[body_start..];
    let lines = 2 + fm.lines().count();
    let mut out = FrontMatter::default();
    if is_toml {
        let v: toml::Table = fm.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map(|s| 2 + fm[..s.start].matches('\n').count()).unwrap_or(2);
            format!("line {line}: TOML front matter: {}", e.message())
        })?;
        out.title = v.get("title").and_then(|x| x.as_str()).map(str::to_string);
        out.slug = v.get("slug").and_then(|x| x.as_str()).map(str::to_string);
        out.description = v.get("description").and_then(|x| x.as_str()).map(str::to_string);
        out.draft = v.get("draft").and_then(|x| x.as_bool()).unwrap_or(false);
    } else {
        let docs =
            yaml_rust2::YamlLoader::load_from_str(fm).map_err(|e| format!("line {}: YAML front matter: {e}", 1 + e.marker().line()))?;
        if let Some(doc) = docs.first() {
            let s = |k: &str| doc[k].as_str().map(str::to_string);
            out.title = s("title");
            out.slug = s("slug");
            out.description = s("description");
            out.draft = doc["draft"].as_bool().unwrap_or(false);
        }
    }
    Ok((out, body, lines))
}

/// GitHub-style heading anchor: lowercase, spaces to `-`, punctuation dropped.
pub fn anchor(heading: &str) -> String {
    let mut s = String::new();
    for c in heading.trim().chars() {
        if c.is_alphanumeric() || c == '-' || c == '_' {
            s.extend(c.to_lowercase());
        } else if c == ' ' {
            s.push('-');
        }
    }
    s
}

/// The public path of a doc file: extension dropped, `index`/`README` folded into the folder.
pub fn slug_for(path: &str, cfg: &SlugConfig) -> String {
    let (stem, ext) = match path.rfind('.') {
        Some(i) if !path[i..].contains('/') => (&path[..i], &path[i..]),
        _ => (path, ""),
    };
    let mut slug = stem.to_string();
    if cfg.strip_index {
        for idx in ["index", "README", "readme", "_index"] {
            if slug == idx {
                slug.clear();
            } else if let Some(s) = slug.strip_suffix(&format!("/{idx}")) {
                slug = s.to_string();
            }
        }
    }
    if cfg.keep_extension && !slug.is_empty() {
        slug.push_str(ext);
    }
    slug
}

/// MDX: drop `import`/`export` lines and turn JSX component tags into nothing (their text
/// children stay), outside code fences.
pub fn strip_mdx(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut in_fence = false;
    let mut in_export_block = 0i32;
    for line in src.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if in_fence {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if in_export_block > 0 {
            in_export_block += brace_balance(t);
            out.push('\n');
            continue;
        }
        if t.starts_with("import ") || t.starts_with("export ") {
            in_export_block = brace_balance(t).max(0);
            out.push('\n');
            continue;
        }
        out.push_str(&strip_jsx_tags(line));
        out.push('\n');
    }
    out
}

/// Removes Markdoc / Liquid tags (`{% hint kind="tip" %}`, `{% /hint %}`, also when a tag's
/// attributes run over several lines) outside code fences; the text between them stays.
pub fn strip_template_tags(src: &str) -> String {
    if !src.contains("{%") {
        return src.to_string();
    }
    let mut out = String::with_capacity(src.len());
    let mut in_fence = false;
    let mut in_tag = false;
    for line in src.split_inclusive('\n') {
        let t = line.trim_start();
        if !in_tag && (t.starts_with("```") || t.starts_with("~~~")) {
            in_fence = !in_fence;
        }
        if in_fence || (!in_tag && !line.contains("{%")) {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        loop {
            if in_tag {
                match rest.find("%}") {
                    Some(j) => {
                        rest = &rest[j + 2..];
                        in_tag = false;
                    }
                    None => {
                        rest = "";
                        break;
                    }
                }
            }
            match rest.find("{%") {
                Some(i) => {
                    out.push_str(&rest[..i]);
                    rest = &rest[i + 2..];
                    in_tag = true;
                }
                None => break,
            }
        }
        out.push_str(rest);
        if !out.ends_with('\n') && line.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Removes the fences of admonitions — `:::note`, `:::caution[Deprecated]`, `:::` (Starlight,
/// Docusaurus, VitePress) — and GitHub's `> [!NOTE]` markers outside code fences: the text inside
/// stays as its own paragraphs, without a marker that would open an answer.
pub fn strip_admonitions(src: &str) -> String {
    if !src.contains(":::") && !src.contains("[!") {
        return src.to_string();
    }
    let mut out = String::with_capacity(src.len());
    let mut in_fence = false;
    for line in src.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
        }
        if in_fence {
            out.push_str(line);
        } else if t.starts_with(":::") {
            out.push('\n');
        } else if let Some(rest) = t.strip_prefix('>').map(str::trim_start).and_then(|r| r.strip_prefix("[!")) {
            match rest.find(']') {
                Some(j) if rest[..j].chars().all(|c| c.is_ascii_alphabetic()) => {
                    out.push_str(&line[..line.len() - t.len()]);
                    out.push_str(">");
                    out.push_str(&rest[j + 1..]);
                    if !out.ends_with('\n') && line.ends_with('\n') {
                        out.push('\n');
                    }
                }
                _ => out.push_str(line),
            }
        } else {
            out.push_str(line);
        }
    }
    out
}

fn brace_balance(s: &str) -> i32 {
    s.chars()
        .map(|c| match c {
            '{' | '(' | '[' => 1,
            '}' | ')' | ']' => -1,
            _ => 0,
        })
        .sum()
}

/// Removes `<Component ...>`, `</Component>` and `<Component />` (capitalised JSX) from a line;
/// inside an inline code span (`` `<Image />` ``) the tag is what the text talks about, and stays.
fn strip_jsx_tags(line: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    let mut rest = line;
    while let Some(i) = rest.find(['<', '`']) {
        if rest.as_bytes()[i] == b'`' {
            in_code = !in_code;
            out.push_str(&rest[..=i]);
            rest = &rest[i + 1..];
            continue;
        }
        let after = &rest[i + 1..];
        let is_jsx = !in_code
            && (after.starts_with(|c: char| c.is_ascii_uppercase())
                || (after.starts_with('/') && after[1..].starts_with(|c: char| c.is_ascii_uppercase())));
        if is_jsx {
            if let Some(j) = after.find('>') {
                out.push_str(&rest[..i]);
                rest = &after[j + 1..];
                continue;
            }
        }
        out.push_str(&rest[..=i]);
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Removes all HTML tags (keeps their text) and decodes the common entities.
pub fn strip_html(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&nbsp;", " ")
}

/// A minimal HTML → Markdown pass for `.html` docs: headings, paragraphs, list items, code.
pub fn html_to_markdown(src: &str) -> (Option<String>, String) {
    let lower = src.to_ascii_lowercase();
    let title = lower.find("<title>").and_then(|i| lower[i..].find("</title>").map(|j| strip_html(&src[i + 7..i + j]).trim().to_string()));
    let body_start = lower.find("<body").and_then(|i| lower[i..].find('>').map(|j| i + j + 1)).unwrap_or(0);
    let body_end = lower.rfind("</body>").unwrap_or(src.len());
    let mut body = src[body_start..body_end.max(body_start)].to_string();
    // Drop script and style contents.
    for tag in ["script", "style"] {
        loop {
            let l = body.to_ascii_lowercase();
            let Some(i) = l.find(&format!("<{tag}")) else {
                break;
            };
            let end = l[i..].find(&format!("</{tag}>")).map(|j| i + j + tag.len() + 3).unwrap_or(body.len());
            body.replace_range(i..end, "");
        }
    }
    // A heading's own id is what the site's links (and so citations) point at: keep it as a
    // Markdown heading attribute (`## Install {#install-guide}`).
    let mut md = keep_heading_ids(&body);
    for (open, prefix) in [
        ("<h1", "\n\n# "),
        ("<h2", "\n\n## "),
        ("<h3", "\n\n### "),
        ("<h4", "\n\n#### "),
        ("<li", "\n- "),
        ("<p", "\n\n"),
        ("<pre", "\n\n```\n"),
        ("<tr", "\n- "),
    ] {
        md = replace_open_tag(&md, open, prefix);
    }
    for (close, suffix) in [
        ("</h1>", "\n\n"),
        ("</h2>", "\n\n"),
        ("</h3>", "\n\n"),
        ("</h4>", "\n\n"),
        ("</pre>", "\n```\n\n"),
        ("</p>", "\n\n"),
        ("<br>", "\n"),
        ("</td>", "; "),
        ("</th>", "; "),
    ] {
        md = md.replace(close, suffix).replace(&close.to_uppercase(), suffix);
    }
    (title, strip_html(&md))
}

/// `<h2 class="x" id="setup">Set up</h2>` → `<h2>Set up {#setup}</h2>` (h1-h6).
fn keep_heading_ids(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    loop {
        let l = rest.to_ascii_lowercase();
        let found = (1..=6).filter_map(|n| l.find(&format!("<h{n}")).map(|i| (i, n))).min();
        let Some((i, n)) = found else { break };
        let open_end = l[i..].find('>').map(|j| i + j);
        let close = format!("</h{n}>");
        let next = l.as_bytes().get(i + 3).copied();
        let (Some(open_end), true) = (open_end, matches!(next, Some(b'>' | b' ' | b'\n' | b'\t'))) else {
            out.push_str(&rest[..i + 3]);
            rest = &rest[i + 3..];
            continue;
        };
        let Some(close_at) = l[open_end..].find(&close).map(|j| open_end + j) else { break };
        let attrs = &rest[i + 3..open_end];
        let id = attrs.split_once("id=").and_then(|(before, v)| {
            // `id=`, not `data-id=` or `grid=`.
            (before.is_empty() || before.ends_with(char::is_whitespace)).then_some(())?;
            let q = v.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            v[1..].split(q).next().map(str::to_string)
        });
        out.push_str(&rest[..i]);
        out.push_str(&format!("<h{n}>"));
        out.push_str(&rest[open_end + 1..close_at]);
        if let Some(id) = id.filter(|id| !id.is_empty() && !id.contains(char::is_whitespace)) {
            out.push_str(&format!(" {{#{id}}}"));
        }
        out.push_str(&close);
        rest = &rest[close_at + close.len()..];
    }
    out.push_str(rest);
    out
}

fn replace_open_tag(s: &str, open: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    loop {
        let l = rest.to_ascii_lowercase();
        let Some(i) = l.find(open) else { break };
        let next = l.as_bytes().get(i + open.len()).copied();
        if !matches!(next, Some(b'>') | Some(b' ') | Some(b'\n') | Some(b'\t')) {
            out.push_str(&rest[..i + open.len()]);
            rest = &rest[i + open.len()..];
            continue;
        }
        let Some(j) = l[i..].find('>') else { break };
        out.push_str(&rest[..i]);
        out.push_str(with);
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    out
}

/// A doc file as the Markdown the index reads (front matter split off, MDX and template tags
/// stripped, HTML converted): (front matter, title of an HTML file, Markdown).
pub fn page_markdown(rel_path: &str, src: &str) -> Result<(FrontMatter, Option<String>, String), String> {
    let is_html = rel_path.ends_with(".html") || rel_path.ends_with(".htm");
    let (fm, body, _) = if is_html { (FrontMatter::default(), src, 0) } else { front_matter(src)? };
    let (html_title, md) = if is_html {
        html_to_markdown(body)
    } else if rel_path.ends_with(".mdx") {
        (None, strip_admonitions(&strip_template_tags(&strip_mdx(body))))
    } else {
        (None, strip_admonitions(&strip_template_tags(body)))
    };
    Ok((fm, html_title, md))
}

/// Parses one file's text into a page. `Err` = skipped (with why) or a front-matter error.
/// Links keep their Markdown form with the target made public (see [`LinkTargets`]).
pub fn parse_page(rel_path: &str, src: &str, config: &SiteConfig) -> Result<Result<Page, Skip>, String> {
    let (fm, html_title, md) = page_markdown(rel_path, src)?;
    if fm.draft {
        return Ok(Err(Skip::Draft));
    }
    let slug = match &fm.slug {
        Some(s) => s.trim_matches('/').to_string(),
        None => slug_for(rel_path, &config.slugs),
    };
    let links = LinkTargets { config, path: rel_path, slug: &slug };
    let (h1, mut sections) = markdown_sections(&md, &|dest| links.public(dest));
    sections.retain(|s| !s.text.trim().is_empty() || !s.trail.is_empty());
    if sections.iter().all(|s| s.text.trim().is_empty()) {
        return Ok(Err(Skip::Empty));
    }
    let file_stem = rel_path.rsplit('/').next().unwrap_or(rel_path);
    let file_stem = file_stem.split('.').next().unwrap_or(file_stem);
    let title = fm.title.clone().or(h1).or(html_title).filter(|t| !t.trim().is_empty()).unwrap_or_else(|| humanize(file_stem));
    Ok(Ok(Page { path: rel_path.to_string(), title, slug, description: fm.description, sections }))
}

/// Where a link in a doc page leads once published, so an answer that quotes "see [Embedding
/// the widget](embedding.md)" still links somewhere a visitor can follow: a source path
/// (`embedding.md`, `../guide/setup.mdx#install`) becomes the page's public URL under
/// `base_url` (with its slug rules), `#anchor` the page's own URL plus the anchor, a
/// site-absolute path (`/en/guides/x/`) the base's origin plus it; external URLs stay as written.
pub struct LinkTargets<'a> {
    pub config: &'a SiteConfig,
    /// The linking page's file, relative to the docs folder.
    pub path: &'a str,
    /// The linking page's slug.
    pub slug: &'a str,
}

impl LinkTargets<'_> {
    /// The public URL of a page slug.
    pub fn page_url(&self, slug: &str) -> String {
        let base = self.config.base_url.trim_end_matches('/');
        if slug.is_empty() {
            format!("{base}/")
        } else {
            format!("{base}/{slug}{}", self.config.slugs.suffix)
        }
    }

    pub fn public(&self, dest: &str) -> Option<String> {
        let t = dest.trim();
        if t.is_empty() {
            return None;
        }
        let has_scheme = t
            .split_once(':')
            .is_some_and(|(scheme, _)| !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)));
        if has_scheme || t.starts_with("//") {
            return Some(t.to_string());
        }
        if let Some(fragment) = t.strip_prefix('#') {
            return Some(format!("{}#{fragment}", self.page_url(self.slug)));
        }
        if t.starts_with('/') {
            // Site-absolute: under the base's origin when the base names one.
            let origin = self.config.base_url.split_once("://").map(|(scheme, rest)| {
                let host = rest.split('/').next().unwrap_or("");
                format!("{scheme}://{host}")
            });
            return Some(format!("{}{t}", origin.unwrap_or_default()));
        }
        let (path, fragment) = match t.split_once('#') {
            Some((p, f)) => (p, Some(f)),
            None => (t, None),
        };
        let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).filter(|e| !e.contains('/')).unwrap_or_default();
        let url = if ["md", "mdx", "markdown", "html", "htm"].contains(&ext.as_str()) {
            // A source file: its page's public URL.
            let dir = self.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            let target = crate::report::normalize(&format!("{dir}/{path}"))?;
            self.page_url(&slug_for(&target, &self.config.slugs))
        } else {
            // A published path relative to this page's URL (an asset or another page).
            let page = self.page_url(self.slug);
            let dir = page.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            format!("{dir}/{}", path.trim_start_matches("./"))
        };
        Some(match fragment {
            Some(f) => format!("{url}#{f}"),
            None => url,
        })
    }
}

fn humanize(stem: &str) -> String {
    let s = stem.replace(['-', '_'], " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// Markdown → (first H1 text, sections). The first H1 is the page title, not a section. Links
/// stay `[text](target)` with the target `link` gives (none: only the text stays).
pub fn markdown_sections(md: &str, link: &dyn Fn(&str) -> Option<String>) -> (Option<String>, Vec<Section>) {
    let (h1, sections, _) = sections_and_heading_ids(md, link);
    (h1, sections)
}

/// The anchor each heading of `md` gets, in document order (`None` for the H1 that is the
/// page's title): what citations link to, so the rendered pages (`pages.rs`) give their
/// headings exactly these ids.
pub fn heading_ids(md: &str) -> Vec<Option<String>> {
    sections_and_heading_ids(md, &|_| None).2
}

fn sections_and_heading_ids(md: &str, link: &dyn Fn(&str) -> Option<String>) -> (Option<String>, Vec<Section>, Vec<Option<String>>) {
    let mut ids: Vec<Option<String>> = Vec::new();
    let opts = Options::ENABLE_TABLES | Options::ENABLE_HEADING_ATTRIBUTES | Options::ENABLE_STRIKETHROUGH;
    let mut h1: Option<String> = None;
    let mut sections = vec![Section { trail: vec![], level: 1, anchor: String::new(), text: String::new() }];
    let mut stack: Vec<(u8, String)> = Vec::new();
    let mut used_anchors: Vec<String> = Vec::new();

    let mut heading: Option<(u8, Option<String>, String)> = None;
    let mut block = String::new();
    let mut list_depth: Vec<Option<u64>> = Vec::new();
    let mut in_code = false;
    let mut table_head: Vec<String> = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut cell = String::new();
    let mut in_head = false;
    let mut in_cell = false;
    // Image alt text ("Screenshot of the admin UI") describes a picture the answer can't show.
    let mut in_image = 0i32;
    // The open link: where its `[` went (in the cell or the block) and its public target.
    let mut open_link: Option<(bool, usize, Option<String>)> = None;

    fn push_block(sections: &mut [Section], block: &mut String) {
        let b = block.trim_end();
        if !b.trim().is_empty() {
            let text = &mut sections.last_mut().expect("always one").text;
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(b);
        }
        block.clear();
    }

    for ev in Parser::new_ext(md, opts) {
        match ev {
            Event::Start(Tag::Heading { level, id, .. }) => {
                push_block(&mut sections, &mut block);
                heading = Some((level_num(level), id.map(|i| i.to_string()), String::new()));
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, id, text)) = heading.take() {
                    let text = text.trim().to_string();
                    if level == 1 && h1.is_none() && sections.len() == 1 && sections[0].text.is_empty() {
                        h1 = Some(text);
                        ids.push(None);
                        continue;
                    }
                    while stack.last().is_some_and(|(l, _)| *l >= level) {
                        stack.pop();
                    }
                    stack.push((level, text.clone()));
                    let mut a = id.unwrap_or_else(|| anchor(&text));
                    let base = a.clone();
                    let mut n = 1;
                    while used_anchors.contains(&a) {
                        a = format!("{base}-{n}");
                        n += 1;
                    }
                    used_anchors.push(a.clone());
                    ids.push(Some(a.clone()));
                    sections.push(Section { trail: stack.iter().map(|(_, t)| t.clone()).collect(), level, anchor: a, text: String::new() });
                }
            }
            Event::Start(Tag::Paragraph) => {
                if list_depth.is_empty() {
                    push_block(&mut sections, &mut block);
                }
            }
            Event::End(TagEnd::Paragraph) => {
                if list_depth.is_empty() {
                    push_block(&mut sections, &mut block);
                }
            }
            Event::Start(Tag::List(start)) => {
                if list_depth.is_empty() {
                    push_block(&mut sections, &mut block);
                }
                list_depth.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                list_depth.pop();
                if list_depth.is_empty() {
                    push_block(&mut sections, &mut block);
                }
            }
            Event::Start(Tag::Item) => {
                if !block.is_empty() && !block.ends_with('\n') {
                    block.push('\n');
                }
                let indent = "  ".repeat(list_depth.len().saturating_sub(1));
                let marker = match list_depth.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "- ".to_string(),
                };
                block.push_str(&indent);
                block.push_str(&marker);
            }
            Event::End(TagEnd::Item) => {}
            Event::Start(Tag::CodeBlock(kind)) => {
                push_block(&mut sections, &mut block);
                in_code = true;
                let lang = match kind {
                    CodeBlockKind::Fenced(l) => l.split_whitespace().next().unwrap_or("").to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                block.push_str(&format!("```{lang}\n"));
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                if !block.ends_with('\n') {
                    block.push('\n');
                }
                block.push_str("```");
                push_block(&mut sections, &mut block);
            }
            Event::Start(Tag::Table(_)) => {
                push_block(&mut sections, &mut block);
                table_head.clear();
            }
            Event::End(TagEnd::Table) => push_block(&mut sections, &mut block),
            Event::Start(Tag::TableHead) => {
                in_head = true;
                row.clear();
            }
            Event::End(TagEnd::TableHead) => {
                in_head = false;
                table_head = std::mem::take(&mut row);
            }
            Event::Start(Tag::TableRow) => row.clear(),
            Event::End(TagEnd::TableRow) => {
                let cells: Vec<String> = row
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| !c.trim().is_empty())
                    .map(|(i, c)| match table_head.get(i).filter(|h| !h.trim().is_empty()) {
                        Some(h) => format!("{}: {}", h.trim(), c.trim()),
                        None => c.trim().to_string(),
                    })
                    .collect();
                if !cells.is_empty() {
                    if !block.is_empty() {
                        block.push('\n');
                    }
                    block.push_str("- ");
                    block.push_str(&cells.join("; "));
                }
                row.clear();
            }
            Event::Start(Tag::TableCell) => {
                in_cell = true;
                cell.clear();
            }
            Event::End(TagEnd::TableCell) => {
                in_cell = false;
                row.push(std::mem::take(&mut cell));
                let _ = in_head;
            }
            Event::Start(Tag::Link { dest_url, .. }) if heading.is_none() && in_image == 0 => {
                let target = if in_cell { &mut cell } else { &mut block };
                target.push('[');
                open_link = Some((in_cell, target.len(), link(&dest_url)));
            }
            Event::End(TagEnd::Link) => {
                if let Some((cell_link, start, dest)) = open_link.take() {
                    let target = if cell_link { &mut cell } else { &mut block };
                    let text_len = target.len().saturating_sub(start);
                    match dest {
                        Some(d) if text_len > 0 && target.len() >= start && !target[start..].contains(['[', ']']) => {
                            target.push_str("](");
                            target.push_str(&d);
                            target.push(')');
                        }
                        // No target, no text, or brackets in the text: keep the words only.
                        _ if start >= 1 && target.len() >= start => {
                            target.remove(start - 1);
                        }
                        _ => {}
                    }
                }
            }
            Event::Start(Tag::Image { .. }) => in_image += 1,
            Event::End(TagEnd::Image) => in_image -= 1,
            Event::Text(_) if in_image > 0 => {}
            Event::Text(t) => {
                let target = if let Some(h) = heading.as_mut() {
                    &mut h.2
                } else if in_cell {
                    &mut cell
                } else {
                    &mut block
                };
                target.push_str(&t);
            }
            Event::Code(t) => {
                let target = if let Some(h) = heading.as_mut() {
                    &mut h.2
                } else if in_cell {
                    &mut cell
                } else {
                    &mut block
                };
                target.push('`');
                target.push_str(&t);
                target.push('`');
            }
            Event::Html(t) | Event::InlineHtml(t) => {
                let text = strip_html(&t);
                if let Some(h) = heading.as_mut() {
                    h.2.push_str(&text);
                } else if in_cell {
                    cell.push_str(&text);
                } else if !text.trim().is_empty() {
                    block.push_str(text.trim_end_matches('\n'));
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(h) = heading.as_mut() {
                    h.2.push(' ');
                } else if in_code {
                    block.push('\n');
                } else if in_cell {
                    cell.push(' ');
                } else {
                    block.push(' ');
                }
            }
            Event::Rule => push_block(&mut sections, &mut block),
            _ => {}
        }
    }
    push_block(&mut sections, &mut block);
    (h1, sections, ids)
}

fn level_num(l: HeadingLevel) -> u8 {
    match l {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// Reads a file as UTF-8 text, or says why not.
pub fn read_text(path: &Path) -> Result<String, Skip> {
    let bytes = std::fs::read(path).map_err(|e| Skip::Unreadable(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| Skip::NotUtf8)?;
    if text.trim().is_empty() {
        return Err(Skip::Empty);
    }
    Ok(text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_follow_headings() {
        let md = "# Title\n\nIntro text.\n\n## Install\n\nRun this:\n\n```sh\n./baton demo\n```\n\n### Details\n\n- one\n- two `code`\n\n| Key | Default |\n|---|---|\n| site | demo |\n";
        let (h1, s) = markdown_sections(md, &|d| Some(d.to_string()));
        assert_eq!(h1.as_deref(), Some("Title"));
        assert_eq!(s[0].text, "Intro text.");
        assert_eq!(s[1].trail, vec!["Install"]);
        assert_eq!(s[1].anchor, "install");
        assert_eq!(s[1].text, "Run this:\n\n```sh\n./baton demo\n```");
        assert_eq!(s[2].trail, vec!["Install", "Details"]);
        assert_eq!(s[2].text, "- one\n- two `code`\n\n- Key: site; Default: demo");
    }

    #[test]
    fn front_matter_yaml_and_toml() {
        let (fm, body, _) = front_matter("---\ntitle: Hello\ndraft: true\n---\n# X\n").unwrap();
        assert_eq!(fm.title.as_deref(), Some("Hello"));
        assert!(fm.draft);
        assert_eq!(body, "# X\n");
        let (fm, _, _) = front_matter("+++\ntitle = \"T\"\nslug = \"s\"\n+++\nbody").unwrap();
        assert_eq!(fm.slug.as_deref(), Some("s"));
        let err = front_matter("---\ntitle: [unclosed\n---\n").unwrap_err();
        assert!(err.starts_with("line "), "{err}");
    }

    #[test]
    fn mdx_keeps_text_children() {
        let src = "import { Banner } from '../components'\nexport const meta = {\n  a: 1,\n}\n\n<Banner type=\"info\">\n  Keep this text.\n</Banner>\n\n```js\nimport x from 'y'\n```\n";
        let out = strip_mdx(src);
        assert!(!out.contains("Banner"));
        assert!(out.contains("Keep this text."));
        assert!(out.contains("import x from 'y'"), "code fences stay verbatim");
        assert!(!out.contains("meta"));
    }

    #[test]
    fn markdoc_tags_and_image_alt_text_are_dropped() {
        let src = "{% hint kind=\"tip\" %}\nKeep this.\n{% /hint %}\n\n![Screenshot of the UI](a.png)\n\n```\n{% raw %}\n```\n";
        let (_, s) = markdown_sections(&strip_admonitions(&strip_template_tags(src)), &|_| None);
        assert_eq!(s[0].text, "Keep this.\n\n```\n{% raw %}\n```");
    }

    #[test]
    fn links_keep_their_text_and_a_public_target() {
        let mut config = SiteConfig { base_url: "/docs".into(), ..SiteConfig::default() };
        let src = "# T\n\nSee [Embedding the widget](embedding.md), [options](../guide/setup.mdx#opts), [here](#x), \
                   [Astro](https://astro.build) and [the API](/en/reference/api/).\n\n![alt](a.png) [](empty.md)\n";
        let page = parse_page("start/intro.md", src, &config).unwrap().unwrap();
        assert_eq!(
            page.sections[0].text,
            "See [Embedding the widget](/docs/start/embedding), [options](/docs/guide/setup#opts), [here](/docs/start/intro#x), \
             [Astro](https://astro.build) and [the API](/en/reference/api/)."
        );
        config.base_url = "https://docs.example.com/v2/".into();
        config.slugs.suffix = "/".into();
        let links = LinkTargets { config: &config, path: "a/b.md", slug: "a/b" };
        assert_eq!(links.public("c.md#d").as_deref(), Some("https://docs.example.com/v2/a/c/#d"));
        assert_eq!(links.public("/en/x/").as_deref(), Some("https://docs.example.com/en/x/"));
        assert_eq!(links.public("../../../out.md"), None, "outside the docs");
    }

    #[test]
    fn admonitions_multiline_tags_and_code_in_mdx_text() {
        let src = ":::caution[Deprecated]\nOld option.\n:::\n\n> [!NOTE]\n> Quoted note.\n\n{% hint\n  kind=\"tip\" %}\nKept.\n{% /hint %}\n\n```\n:::kept\n```\n";
        let (_, s) = markdown_sections(&strip_admonitions(&strip_template_tags(src)), &|_| None);
        assert_eq!(s[0].text, "Old option.\n\nQuoted note.\n\nKept.\n\n```\n:::kept\n```");
        assert_eq!(strip_mdx("Add `<Image />` to <Aside>the page</Aside>.\n"), "Add `<Image />` to the page.\n");
    }

    #[test]
    fn html_headings_keep_their_own_ids() {
        let html = "<html><body><h1>Guide</h1><p>Intro.</p><h2 class=\"h\" id=\"set-it-up\">Set <em>up</em></h2><p>Do it.</p><h2 data-id=\"x\">Other</h2><p>More.</p></body></html>";
        let page = parse_page("guide.html", html, &SiteConfig::default()).unwrap().unwrap();
        let anchors: Vec<&str> = page.sections.iter().map(|s| s.anchor.as_str()).collect();
        assert_eq!(anchors, ["", "set-it-up", "other"]);
        assert_eq!(page.sections[1].trail, ["Set up"]);
    }

    #[test]
    fn slugs_and_anchors() {
        let c = SlugConfig::default();
        assert_eq!(slug_for("guide/index.md", &c), "guide");
        assert_eq!(slug_for("quickstart.md", &c), "quickstart");
        assert_eq!(slug_for("README.md", &c), "");
        assert_eq!(anchor("Embedding the widget (v2)!"), "embedding-the-widget-v2");
        // Configurable: keep the extension (static .html sites), keep index pages as such.
        let html = SlugConfig { strip_index: false, keep_extension: true, suffix: String::new() };
        assert_eq!(slug_for("guide/index.html", &html), "guide/index.html");
        assert_eq!(slug_for("guide/setup.md", &html), "guide/setup.md");
        // Custom heading ids win over derived anchors.
        let (_, s) = markdown_sections("# T\n\n## Install it {#setup}\n\nText.\n", &|_| None);
        assert_eq!(s[1].anchor, "setup");
    }
}
