//! The Markdown subset bot answers are written in — paragraphs, lists, code blocks, inline
//! code, `**strong**` and links — parsed into a small tree that clients build DOM nodes from
//! (text nodes and a fixed set of tags: never HTML). Which links a visitor may be sent to is
//! decided here: only `http:`, `https:`, `mailto:` and relative URLs survive.
//!
//! Hand-written rather than a Markdown crate: the subset is small, the parser must never
//! produce HTML, and it ships in the visitor's widget, where every KB is downloaded.

/// A block of an answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    Para(Vec<Inline>),
    List {
        ordered: bool,
        items: Vec<Vec<Inline>>,
    },
    /// A fenced code block's text (the fence and its language tag are dropped).
    Code(String),
}

/// A run of text inside a block.
#[derive(Clone, Debug, PartialEq)]
pub enum Inline {
    Text(String),
    Code(String),
    Strong(String),
    /// `href` has passed [`safe_href`].
    Link {
        text: String,
        href: String,
    },
}

/// Parses an answer. Total: any input gives a tree; unknown syntax stays as text.
pub fn parse(src: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut para = String::new();
    let mut list: Option<(bool, Vec<String>)> = None;
    let mut lines = src.lines();
    fn flush(blocks: &mut Vec<Block>, para: &mut String, list: &mut Option<(bool, Vec<String>)>) {
        if !para.trim().is_empty() {
            blocks.push(Block::Para(inlines(para.trim())));
        }
        para.clear();
        if let Some((ordered, items)) = list.take() {
            blocks.push(Block::List { ordered, items: items.iter().map(|i| inlines(i.trim())).collect() });
        }
    }
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if let Some(fence) = t.strip_prefix("```").map(|_| &t[..t.len() - t.trim_start_matches('`').len()]) {
            flush(&mut blocks, &mut para, &mut list);
            let mut code = String::new();
            for l in lines.by_ref() {
                if l.trim_start().starts_with(fence) {
                    break;
                }
                code.push_str(l);
                code.push('\n');
            }
            code.pop();
            blocks.push(Block::Code(code));
        } else if t.is_empty() {
            flush(&mut blocks, &mut para, &mut list);
        } else if let Some((ordered, rest)) = list_item(t) {
            if !para.is_empty() || list.as_ref().is_some_and(|(o, _)| *o != ordered) {
                flush(&mut blocks, &mut para, &mut list);
            }
            list.get_or_insert_with(|| (ordered, Vec::new())).1.push(rest.to_string());
        } else if let Some((_, items)) = list.as_mut().filter(|_| line.starts_with(' ') || line.starts_with('\t')) {
            // An indented line continues the last item.
            if let Some(last) = items.last_mut() {
                last.push(' ');
                last.push_str(t);
            }
        } else {
            if list.is_some() {
                flush(&mut blocks, &mut para, &mut list);
            }
            // A heading reads as a strong line of its own.
            let hashes = t.bytes().take_while(|&b| b == b'#').count();
            if (1..=6).contains(&hashes) && t[hashes..].starts_with(' ') {
                flush(&mut blocks, &mut para, &mut list);
                blocks.push(Block::Para(vec![Inline::Strong(t[hashes..].trim().to_string())]));
                continue;
            }
            if !para.is_empty() {
                para.push(' ');
            }
            para.push_str(t);
        }
    }
    flush(&mut blocks, &mut para, &mut list);
    blocks
}

/// An answer as one line of plain text, for places too small for its blocks (the inbox's list
/// previews, the briefing's "bot tried"): the words without the Markdown, code as written,
/// list items separated by " · ", all whitespace one space.
pub fn plain(src: &str) -> String {
    let inline_text = |items: &[Inline]| -> String {
        items
            .iter()
            .map(|i| match i {
                Inline::Text(s) | Inline::Code(s) | Inline::Strong(s) => s.as_str(),
                Inline::Link { text, .. } => text.as_str(),
            })
            .collect()
    };
    let parts: Vec<String> = parse(src)
        .iter()
        .map(|b| match b {
            Block::Para(items) => inline_text(items),
            Block::List { items, .. } => items.iter().map(|i| inline_text(i)).collect::<Vec<_>>().join(" · "),
            Block::Code(code) => code.clone(),
        })
        .collect();
    parts.join(" ").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `- x`, `* x`, `+ x` → (false, "x"); `1. x`, `2) x` → (true, "x").
fn list_item(t: &str) -> Option<(bool, &str)> {
    for m in ["- ", "* ", "+ "] {
        if let Some(rest) = t.strip_prefix(m) {
            return Some((false, rest));
        }
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        let rest = &t[digits..];
        if let Some(r) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return Some((true, r));
        }
    }
    None
}

/// Inline syntax of one block's text.
pub fn inlines(s: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let parsed = match c {
            '\\' => rest[1..].chars().next().filter(char::is_ascii_punctuation).map(|p| {
                text.push(p);
                (None, 1 + p.len_utf8())
            }),
            '`' => {
                let ticks = rest.len() - rest.trim_start_matches('`').len();
                let fence = &rest[..ticks];
                rest[ticks..].find(fence).map(|end| {
                    let code = rest[ticks..ticks + end].trim();
                    (Some(Inline::Code(code.to_string())), ticks * 2 + end)
                })
            }
            '*' if rest.starts_with("**") => {
                rest[2..].find("**").filter(|&end| end > 0).map(|end| (Some(Inline::Strong(rest[2..2 + end].to_string())), end + 4))
            }
            '[' => link(rest),
            '<' => rest[1..].find('>').and_then(|end| {
                let url = &rest[1..1 + end];
                let auto = url.starts_with("http://") || url.starts_with("https://") || url.starts_with("mailto:");
                (auto && !url.contains(' ')).then(|| (safe_href(url).map(|href| Inline::Link { text: url.to_string(), href }), end + 2))
            }),
            _ => None,
        };
        match parsed {
            Some((inline, used)) => {
                if let Some(i) = inline {
                    if !text.is_empty() {
                        out.push(Inline::Text(std::mem::take(&mut text)));
                    }
                    out.push(i);
                }
                rest = &rest[used..];
            }
            None => {
                text.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if !text.is_empty() {
        out.push(Inline::Text(text));
    }
    out
}

/// `[text](href)` at the start of `s`: the link (or its text alone, when the URL is not safe)
/// and the bytes used.
fn link(s: &str) -> Option<(Option<Inline>, usize)> {
    let close = s.find("](")?;
    let text = &s[1..close];
    if text.contains('[') {
        return None;
    }
    let tail = &s[close + 2..];
    let end = tail.find(')')?;
    // `[x](url "title")`: the title is dropped.
    let target = tail[..end].split(" \"").next().unwrap_or("").trim();
    let inline = match safe_href(target) {
        Some(href) => Inline::Link { text: text.to_string(), href },
        None => Inline::Text(text.to_string()),
    };
    Some((Some(inline), close + 2 + end + 1))
}

/// The link target if a visitor may follow it: `http:`, `https:`, `mailto:` or relative.
/// Browsers ignore tabs and newlines inside URLs (`java\nscript:` is `javascript:`), so those
/// and other control characters are removed before the scheme is checked.
pub fn safe_href(raw: &str) -> Option<String> {
    let href: String = raw.chars().filter(|c| !c.is_whitespace() && !c.is_control()).collect();
    if href.is_empty() {
        return None;
    }
    match href.find([':', '/', '?', '#']) {
        Some(i) if href.as_bytes()[i] == b':' => {
            let scheme = href[..i].to_ascii_lowercase();
            matches!(scheme.as_str(), "http" | "https" | "mailto").then_some(href)
        }
        _ => Some(href),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Inline::*;

    #[test]
    fn plain_text_drops_the_markdown_and_keeps_the_words() {
        let md = "Run `baton build`, then:\n\n- **deploy** it\n- see [the docs](/docs/x)\n\n```toml\n[gizmo]\nport = 8080\n```";
        assert_eq!(plain(md), "Run baton build, then: deploy it · see the docs [gizmo] port = 8080");
        // Cut mid-fence (a preview): the code is still plain text.
        assert_eq!(plain("Use this:\n```sh\nnpx wrangler"), "Use this: npx wrangler");
    }

    fn t(s: &str) -> Inline {
        Text(s.into())
    }

    #[test]
    fn paragraphs_lists_and_code() {
        let md = "First line\ncontinues.\n\n- one\n- two `x`\n  more\n\n1. a\n2) b\n\n```sh\nnpm i\n  indented\n```\nAfter.";
        assert_eq!(
            parse(md),
            vec![
                Block::Para(vec![t("First line continues.")]),
                Block::List { ordered: false, items: vec![vec![t("one")], vec![t("two "), Code("x".into()), t(" more")]] },
                Block::List { ordered: true, items: vec![vec![t("a")], vec![t("b")]] },
                Block::Code("npm i\n  indented".into()),
                Block::Para(vec![t("After.")]),
            ]
        );
        assert_eq!(parse("```\nunclosed"), vec![Block::Code("unclosed".into())]);
        assert_eq!(parse("## Heading\ntext"), vec![Block::Para(vec![Strong("Heading".into())]), Block::Para(vec![t("text")])]);
        assert_eq!(parse(""), vec![]);
    }

    #[test]
    fn inline_syntax() {
        assert_eq!(
            inlines("Run `a < b` then **stop**, see [the FAQ](/docs/faq#x \"FAQ\") or <https://x.test/>."),
            vec![
                t("Run "),
                Code("a < b".into()),
                t(" then "),
                Strong("stop".into()),
                t(", see "),
                Link { text: "the FAQ".into(), href: "/docs/faq#x".into() },
                t(" or "),
                Link { text: "https://x.test/".into(), href: "https://x.test/".into() },
                t("."),
            ]
        );
        assert_eq!(inlines("a `` b ` c `` d"), vec![t("a "), Code("b ` c".into()), t(" d")]);
        assert_eq!(inlines(r"\*\*not strong\*\* and \[x]"), vec![t("**not strong** and [x]")]);
        assert_eq!(inlines("unclosed `tick and **star and [bracket"), vec![t("unclosed `tick and **star and [bracket")]);
        assert_eq!(inlines("2 * 3 = 6 **"), vec![t("2 * 3 = 6 **")]);
    }

    #[test]
    fn html_stays_text() {
        let s = "<img src=x onerror=alert(1)> <script>alert(2)</script>";
        assert_eq!(parse(s), vec![Block::Para(vec![t(s)])]);
    }

    #[test]
    fn only_safe_links_survive() {
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "java\nscript:alert(1)",
            " \tjavascript:x",
            "data:text/html,<b>",
            "vbscript:x",
            "java\u{0}script:x",
        ] {
            assert_eq!(safe_href(bad), None, "{bad:?}");
            let md = format!("[click]({bad})");
            assert!(!format!("{:?}", inlines(&md)).contains("Link"), "{md:?}");
        }
        for good in ["https://x.test/a?b#c", "http://x.test", "mailto:a@b.co", "/docs/faq", "#top", "faq.md", "./a:b", "?q=1"] {
            assert_eq!(safe_href(good).as_deref(), Some(good), "{good:?}");
        }
        assert_eq!(inlines("[x](javascript:alert(1))"), vec![t("x"), t(")")]);
    }

    #[test]
    fn never_panics_on_odd_input() {
        let odd = [
            "[",
            "[]",
            "[](",
            "[a](",
            "**",
            "****",
            "`",
            "<",
            "<>",
            "\\",
            "é`é`é",
            "[é](é)",
            "- ",
            "1.",
            "```",
            "#",
            "# ",
            "\u{1F600}**\u{1F600}**",
        ];
        for s in odd {
            let _ = parse(s);
            let _ = inlines(s);
        }
    }
}
