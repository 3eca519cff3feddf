//! `index-builder build --pages DIR`: the docs as HTML pages, for a deployment that is its own
//! docs site (the demo). Each page is written at its URL's path under DIR (`/docs/faq` →
//! `DIR/docs/faq.html`, the folder's index → `DIR/docs/index.html`), which is where the worker
//! looks for pages. Every heading gets exactly the anchor its citations link to (the ids come
//! from `docs::heading_ids`, the same pass that cuts the sections), and every page carries the
//! widget, so a visitor who opens a citation lands on the cited section with the chat at hand.
//!
//! The docs are the site owner's, but they are still rendered defensively: raw HTML is shown
//! as text and links go through `markdown::safe_href`.

use crate::build::page_url;
use crate::docs::{self, Page};
use anyhow::{bail, Context, Result};
use baton_shared::config::SiteConfig;
use baton_shared::markdown::safe_href;
use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Writes every page; returns how many. Fails when `base_url` is not a path on this host (a
/// real docs site serves its own pages) or a heading's anchor would be missing from its page.
pub fn write(docs_dir: &Path, pages: &[Page], config: &SiteConfig, out: &Path) -> Result<usize> {
    if !config.base_url.starts_with('/') {
        bail!(
            "--pages writes the docs as this deployment's own pages, so base_url must be a path like \"/docs\" (it is {:?}); \
             a docs site that serves its own pages needs no --pages",
            config.base_url
        );
    }
    let mut nav: Vec<(String, String)> = pages.iter().map(|p| (page_url(p, config), p.title.clone())).collect();
    nav.sort_by(|a, b| a.0.cmp(&b.0));
    let by_path: BTreeMap<&str, &Page> = pages.iter().map(|p| (p.path.as_str(), p)).collect();
    for page in pages {
        let src = docs::read_text(&docs_dir.join(&page.path)).map_err(|e| anyhow::anyhow!("{}: {e}", page.path))?;
        let (_, _, md) = docs::page_markdown(&page.path, &src).map_err(|e| anyhow::anyhow!("{}: {e}", page.path))?;
        let url = page_url(page, config);
        let body = render_body(&md, &|target| link_target(target, page, &by_path, config));
        // Every anchor a citation of this page can name must be on it.
        for s in &page.sections {
            if !s.anchor.is_empty() && !body.contains(&format!(" id=\"{}\"", escape(&s.anchor))) {
                bail!("{}: the heading “{}” lost its anchor #{} in the page", page.path, s.trail.join(" › "), s.anchor);
            }
        }
        let file = out.join(file_for(&url));
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&file, layout(page, &url, &body, &nav, config)).with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(pages.len())
}

/// The file a URL's path is served from: `/docs/faq` → `docs/faq.html`, `/docs/` →
/// `docs/index.html`, `/docs/faq.html` as it is.
pub fn file_for(url: &str) -> PathBuf {
    let path = url.trim_start_matches('/');
    if path.is_empty() || path.ends_with('/') {
        PathBuf::from(format!("{path}index.html"))
    } else if path.ends_with(".html") {
        PathBuf::from(path)
    } else {
        PathBuf::from(format!("{path}.html"))
    }
}

/// Where a link in the docs goes on the published pages: a link to another doc file
/// (`configuration.md#tags`) becomes that page's URL; anything else stays as written, if safe.
fn link_target(target: &str, page: &Page, by_path: &BTreeMap<&str, &Page>, config: &SiteConfig) -> Option<String> {
    let (path, fragment) = match target.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (target, None),
    };
    let is_doc = [".md", ".mdx", ".markdown", ".html", ".htm"].iter().any(|e| path.ends_with(e));
    let relative = !path.is_empty() && !path.starts_with('/') && !path.contains(':');
    if is_doc && relative {
        let dir = page.path.rfind('/').map(|i| &page.path[..i]).unwrap_or("");
        let joined = if dir.is_empty() { path.to_string() } else { format!("{dir}/{path}") };
        let mut parts: Vec<&str> = Vec::new();
        for seg in joined.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                s => parts.push(s),
            }
        }
        if let Some(p) = by_path.get(parts.join("/").as_str()) {
            let url = page_url(p, config);
            return Some(match fragment {
                Some(f) => format!("{url}#{f}"),
                None => url,
            });
        }
    }
    safe_href(target)
}

/// The page's Markdown as HTML, headings with their citation anchors (the title H1 is the
/// layout's). `link` maps a link's target to an href, or `None` to drop the link (its text
/// stays).
pub fn render_body(md: &str, link: &dyn Fn(&str) -> Option<String>) -> String {
    let opts = Options::ENABLE_TABLES | Options::ENABLE_HEADING_ATTRIBUTES | Options::ENABLE_STRIKETHROUGH;
    let ids = docs::heading_ids(md);
    let mut heading = 0usize;
    let mut skip_title = false;
    let mut dropped_links = 0usize;
    let mut events: Vec<Event> = Vec::new();
    for ev in Parser::new_ext(md, opts) {
        match ev {
            Event::Start(Tag::Heading { level, classes, attrs, .. }) => {
                let id = ids.get(heading).cloned().flatten();
                heading += 1;
                if id.is_none() && level == pulldown_cmark::HeadingLevel::H1 {
                    skip_title = true;
                    continue;
                }
                events.push(Event::Start(Tag::Heading { level, id: id.map(CowStr::from), classes, attrs }));
            }
            Event::End(TagEnd::Heading(level)) => {
                if skip_title {
                    skip_title = false;
                    continue;
                }
                // A link to the section itself, for copying (what a citation opens).
                if let Some(Some(id)) = ids.get(heading - 1) {
                    events.push(Event::Html(
                        format!(" <a class=\"anchor\" href=\"#{}\" aria-label=\"Link to this section\">#</a>", escape(id)).into(),
                    ));
                }
                events.push(Event::End(TagEnd::Heading(level)));
            }
            _ if skip_title => {}
            Event::Start(Tag::Link { link_type, dest_url, title, id }) => match link(&dest_url) {
                Some(href) => events.push(Event::Start(Tag::Link { link_type, dest_url: href.into(), title, id })),
                None => dropped_links += 1,
            },
            Event::End(TagEnd::Link) if dropped_links > 0 => dropped_links -= 1,
            // Raw HTML in the docs is shown, never run.
            Event::Html(t) | Event::InlineHtml(t) => events.push(Event::Text(t)),
            Event::Start(Tag::Image { dest_url, title, id, link_type }) => {
                let safe = safe_href(&dest_url).unwrap_or_default();
                events.push(Event::Start(Tag::Image { link_type, dest_url: safe.into(), title, id }));
            }
            other => events.push(other),
        }
    }
    let mut out = String::new();
    html::push_html(&mut out, events.into_iter());
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:16px/1.6 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;color:#1f2937;background:#fff}\
a{color:#1d4ed8}\
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:6px 10px;z-index:2}\
header{display:flex;gap:16px;align-items:center;padding:12px 24px;border-bottom:1px solid #e5e7eb}\
header .site{font-weight:700;color:#111827;text-decoration:none}\
.layout{display:grid;grid-template-columns:240px minmax(0,1fr);max-width:1100px;margin:0 auto}\
nav{padding:20px 16px;border-right:1px solid #e5e7eb;font-size:14px}\
nav ul{list-style:none;margin:0;padding:0}nav li{margin:2px 0}\
nav a{display:block;padding:4px 8px;border-radius:6px;color:#374151;text-decoration:none}\
nav a:hover{background:#f3f4f6}nav a[aria-current=page]{background:#eff6ff;color:#1e40af;font-weight:600}\
main{padding:24px 32px 120px;min-width:0}\
h1{font-size:32px;line-height:1.2;margin:0 0 16px}h2{font-size:24px;margin-top:40px}h3{font-size:19px;margin-top:28px}\
h2,h3,h4{scroll-margin-top:16px}\
:target{background:#fef9c3;box-shadow:-8px 0 0 #fef9c3,8px 0 0 #fef9c3;border-radius:4px}\
.anchor{margin-left:6px;color:#6b7280;text-decoration:none;font-weight:400}\
code{font:14px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f4f6;border-radius:4px;padding:1px 4px}\
pre{background:#0f172a;color:#f1f5f9;padding:12px 14px;border-radius:8px;overflow-x:auto}pre code{background:none;padding:0;color:inherit}\
table{border-collapse:collapse;display:block;overflow-x:auto}th,td{border:1px solid #e5e7eb;padding:6px 10px;text-align:left;vertical-align:top}\
@media (max-width:760px){.layout{grid-template-columns:1fr}nav{border-right:0;border-bottom:1px solid #e5e7eb}main{padding:20px 16px 120px}}";

fn layout(page: &Page, url: &str, body: &str, nav: &[(String, String)], config: &SiteConfig) -> String {
    let site = escape(&config.name);
    let items: String = nav
        .iter()
        .map(|(u, t)| {
            let current = if u == url { " aria-current=\"page\"" } else { "" };
            format!("<li><a href=\"{}\"{current}>{}</a></li>", escape(u), escape(t))
        })
        .collect();
    let home = format!("{}/", config.base_url.trim_end_matches('/'));
    let description =
        page.description.as_ref().map(|d| format!("<meta name=\"description\" content=\"{}\">", escape(d))).unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} — {site} docs</title>\n{description}<style>{STYLE}</style>\n</head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">Skip to the content</a>\n\
         <header><a class=\"site\" href=\"{home}\">{site} docs</a></header>\n\
         <div class=\"layout\">\n<nav aria-label=\"Docs pages\"><ul>{items}</ul></nav>\n\
         <main id=\"main\">\n<h1>{title}</h1>\n{body}</main>\n</div>\n\
         <script src=\"/widget.js\" data-site=\"{site_id}\" async></script>\n</body>\n</html>\n",
        title = escape(&page.title),
        home = escape(&home),
        site_id = escape(config.site.as_str()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(path: &str, src: &str) -> (Page, String) {
        let page = docs::parse_page(path, src, &baton_shared::config::SiteConfig::default()).unwrap().unwrap();
        let (_, _, md) = docs::page_markdown(path, src).unwrap();
        (page, md)
    }

    #[test]
    fn headings_carry_the_anchors_citations_link_to() {
        let src =
            "# FAQ\n\nIntro.\n\n## How are passwords stored?\n\nHashed.\n\n## Setup {#custom}\n\nx\n\n## Setup\n\ny\n\n## Setup\n\nz\n";
        let (p, md) = page("faq.md", src);
        let html = render_body(&md, &|t| safe_href(t));
        for s in p.sections.iter().filter(|s| !s.anchor.is_empty()) {
            assert!(html.contains(&format!("id=\"{}\"", s.anchor)), "{} in {html}", s.anchor);
        }
        let anchors: Vec<&str> = p.sections.iter().map(|s| s.anchor.as_str()).collect();
        assert_eq!(anchors, ["", "how-are-passwords-stored", "custom", "setup", "setup-1"]);
        assert!(!html.contains("<h1"), "the title is the layout's: {html}");
    }

    #[test]
    fn links_lead_to_pages_and_markup_stays_text() {
        let src = "# A\n\nSee [B](b.md#tags), [out](https://example.com), [bad](javascript:alert(1)) and <b onclick=\"x()\">bold</b>.\n";
        let (p, md) = page("guide/a.md", src);
        let (b, _) = page("guide/b.md", "# B\n\nText.\n");
        let config = SiteConfig::default();
        let by_path: BTreeMap<&str, &Page> = [(b.path.as_str(), &b)].into_iter().collect();
        let html = render_body(&md, &|t| link_target(t, &p, &by_path, &config));
        assert!(html.contains("href=\"/docs/guide/b#tags\""), "{html}");
        assert!(html.contains("href=\"https://example.com\""), "{html}");
        assert!(!html.contains("javascript") || !html.contains("href=\"javascript"), "{html}");
        assert!(html.contains("bad"), "the text of a dropped link stays");
        assert!(html.contains("&lt;b onclick=") && !html.contains("<b "), "{html}");
    }

    #[test]
    fn files_follow_url_paths() {
        assert_eq!(file_for("/docs/"), PathBuf::from("docs/index.html"));
        assert_eq!(file_for("/docs/faq"), PathBuf::from("docs/faq.html"));
        assert_eq!(file_for("/docs/guide/setup.html"), PathBuf::from("docs/guide/setup.html"));
    }
}
