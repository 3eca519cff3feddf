//! Text analysis for lexical (BM25) matching: lowercase words, English stop words dropped,
//! Snowball-stemmed, so "deploying" finds "deploy".

use rust_stemmers::{Algorithm, Stemmer};
use std::cell::RefCell;

thread_local! {
    // Built once per thread; the stemmer holds only static tables.
    static STEMMER: RefCell<Stemmer> = RefCell::new(Stemmer::create(Algorithm::English));
}

/// Words too common to say anything about which section answers a question — including the
/// filler of chat questions ("hi, I just want to change…"), which a small docs site may never
/// use and which would otherwise count as information the docs lack.
const STOP_WORDS: &[&str] = &[
    "a",
    "able",
    "about",
    "actually",
    "am",
    "an",
    "and",
    "any",
    "anyone",
    "anything",
    "are",
    "aren",
    "as",
    "at",
    "be",
    "been",
    "but",
    "by",
    "can",
    "change",
    "could",
    "couldn",
    "d",
    "did",
    "didn",
    "do",
    "does",
    "doesn",
    "don",
    "for",
    "from",
    "had",
    "hadn",
    "happen",
    "happened",
    "happening",
    "happens",
    "has",
    "hasn",
    "have",
    "haven",
    "he",
    "hello",
    "her",
    "hey",
    "hi",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "isn",
    "it",
    "its",
    "just",
    "ll",
    "m",
    "me",
    "my",
    "need",
    "of",
    "on",
    "or",
    "our",
    "please",
    "possible",
    "re",
    "really",
    "s",
    "she",
    "should",
    "shouldn",
    "so",
    "someone",
    "something",
    "t",
    "than",
    "thank",
    "thanks",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "to",
    "ve",
    "want",
    "was",
    "wasn",
    "way",
    "we",
    "were",
    "weren",
    "what",
    "when",
    "where",
    "which",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "won",
    "would",
    "wouldn",
    "you",
    "your",
];

pub fn is_stop_word(w: &str) -> bool {
    STOP_WORDS.binary_search(&w).is_ok()
}

/// Section text as a reader sees it: a Markdown link `[text](target)` is its text. The docs keep
/// their links so answers can quote them, but a URL's words say nothing about the section.
pub fn without_link_targets(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("](") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        out.push_str(&rest[..i]);
        // Skip the target up to its closing parenthesis (targets may hold balanced pairs).
        let mut depth = 0usize;
        let mut end = None;
        for (j, c) in rest[i + 2..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = Some(i + 2 + j + 1);
                    break;
                }
                ')' => depth -= 1,
                ' ' | '\n' => break,
                _ => {}
            }
        }
        match end {
            Some(e) => rest = &rest[e..],
            None => {
                out.push_str("](");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    // The brackets that opened the links.
    std::borrow::Cow::Owned(out.replace('[', ""))
}

/// Splits text into lowercase words: runs of letters and digits; `_`, inner `-`/`.` and
/// camelCase keep identifiers like `data-site`, `wrangler.toml` or `getStaticPaths` as one word
/// *and* their parts ("get", "static", "paths"), so prose about "static paths" meets the API.
/// Link targets are not words of the text (see [`without_link_targets`]).
pub fn words(text: &str) -> Vec<String> {
    let text = without_link_targets(text);
    let mut out = Vec::new();
    for raw in text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.')) {
        let raw = raw.trim_matches(|c: char| c == '-' || c == '.' || c == '_');
        if raw.is_empty() {
            continue;
        }
        let camel = has_camel_case(raw);
        if !camel && !raw.contains(['-', '.', '_']) {
            out.push(raw.to_lowercase());
            continue;
        }
        for part in raw.split(['-', '.', '_']).filter(|p| !p.is_empty()) {
            if has_camel_case(part) {
                out.extend(camel_pieces(part).into_iter().map(str::to_lowercase));
            }
            out.push(part.to_lowercase());
        }
        // The compound itself too, so an exact identifier match scores higher.
        if raw.contains(['-', '.', '_']) {
            out.push(raw.to_lowercase().replace(['-', '.', '_'], ""));
        }
    }
    out
}

fn has_camel_case(s: &str) -> bool {
    s.as_bytes().windows(2).any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

/// "getStaticPaths" → "get", "Static", "Paths"; "parseHTMLString" → "parse", "HTMLString".
fn camel_pieces(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..b.len() {
        if b[i - 1].is_ascii_lowercase() && b[i].is_ascii_uppercase() {
            out.push(&s[start..i]);
            start = i;
        }
    }
    out.push(&s[start..]);
    out
}

/// Words whose Snowball stem would miss their family, short forms docs use for a longer word,
/// and British spellings: "embed" stems to "emb" but "embedding" to "embed"; "config" never
/// meets "configuration"; "colour" never meets "color". Sorted by word, for binary search.
const STEM_OVERRIDES: &[(&str, &str)] = &[
    ("auth", "authent"),
    ("behaviour", "behavior"),
    ("colour", "color"),
    ("colours", "color"),
    ("config", "configur"),
    ("configs", "configur"),
    ("customise", "custom"),
    ("customised", "custom"),
    ("db", "databas"),
    ("doc", "document"),
    ("docs", "document"),
    ("embed", "embed"),
    ("embeds", "embed"),
    ("env", "environ"),
    ("repo", "repositori"),
    ("repos", "repositori"),
];

/// The BM25 term of one lowercase word.
pub fn stem(word: &str) -> String {
    if let Ok(i) = STEM_OVERRIDES.binary_search_by(|(w, _)| (*w).cmp(word)) {
        return STEM_OVERRIDES[i].1.to_string();
    }
    let mut stem = STEMMER.with(|s| s.borrow().stem(word).into_owned());
    // Snowball cuts "-ification" one letter shorter than the verb: "notification" → "notif" but
    // "notify"/"notified" → "notifi" (verify, identify, modify, specify, classify alike), so a
    // question about being notified would never meet "Push notifications".
    if stem.ends_with("if") && (word.ends_with("ification") || word.ends_with("ifications")) {
        stem.push('i');
    }
    stem
}

/// Which of `wanted` (BM25 terms) occur in `text`. Same answer as looking them up in
/// `terms(text)`, but only words that can stem to a wanted term are stemmed: a Snowball stem
/// keeps its word's first two letters, so other words are skipped (overrides are checked
/// apart). The answer step calls this for every sentence of the best sections.
pub fn contains_terms(text: &str, wanted: &[String]) -> Vec<bool> {
    let mut found = vec![false; wanted.len()];
    if wanted.is_empty() {
        return found;
    }
    let head = |s: &str| s.char_indices().nth(2).map_or(s.len(), |(i, _)| i);
    let heads: Vec<&str> = wanted.iter().map(|t| &t[..head(t)]).collect();
    for w in words(text) {
        if found.iter().all(|&f| f) {
            break;
        }
        // Cheapest test first (most words of a sentence fail it): only a word that shares its
        // first letters with a wanted term, or has an override, can stem to one. The stop-word
        // lookup, a binary search, is left for the few that pass.
        let w_head = &w[..head(&w)];
        let may_match = wanted.iter().zip(&heads).any(|(t, h)| t.starts_with(w_head) || w.starts_with(h));
        if !may_match && !STEM_OVERRIDES.iter().any(|(o, _)| o.len() == w.len() && *o == w) {
            continue;
        }
        if is_stop_word(&w) {
            continue;
        }
        let t = stem(&w);
        for (i, want) in wanted.iter().enumerate() {
            if *want == t {
                found[i] = true;
            }
        }
    }
    found
}

/// The terms of a text's code-like tokens: identifiers written in camelCase or snake_case,
/// dotted paths, calls, flags and anything in backticks (`Astro.url`, `getStaticPaths()`,
/// `--no-db-push`). In a question they name the exact API the visitor is asking about.
pub fn code_terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, piece) in text.split('`').enumerate() {
        let in_backticks = i % 2 == 1;
        for token in piece.split(|c: char| c.is_whitespace() || "\"'<>{}[],;:!?".contains(c)) {
            let flag = token.starts_with("--");
            let raw = token.trim_matches(|c: char| !c.is_alphanumeric());
            if raw.len() < 3 {
                continue;
            }
            let camel = raw.as_bytes().windows(2).any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
            let joined = raw.contains(['.', '_', '(']) && raw.chars().any(|c| c.is_alphabetic());
            if in_backticks || camel || joined || flag {
                out.extend(terms(raw));
            }
        }
    }
    out
}

/// The terms BM25 indexes and queries with.
pub fn terms(text: &str) -> Vec<String> {
    words(text).into_iter().filter(|w| !is_stop_word(w)).map(|w| stem(&w)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        let mut s = STOP_WORDS.to_vec();
        s.sort();
        assert_eq!(s, STOP_WORDS);
        // A question's frame is not what it asks about: "what happens when I ask for a human?"
        // is about asking for a human (a section that merely says "happens" must not win).
        assert_eq!(terms("What happens when I ask for a human?"), ["ask", "human"]);
    }

    #[test]
    fn overrides_are_sorted_and_join_word_families() {
        assert!(STEM_OVERRIDES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(terms("embed"), terms("embedding"));
        assert_eq!(terms("embeds"), terms("embedded"));
        assert_eq!(terms("config"), terms("configuration"));
        assert_eq!(terms("notified"), terms("notifications"));
        assert_eq!(terms("verify"), terms("verification"));
        assert_eq!(terms("identifies"), terms("identification"));
        assert_eq!(terms("colour"), terms("colors"));
    }

    #[test]
    fn contains_terms_agrees_with_terms() {
        let texts = [
            "Deploying the widgets happily: embeds, configs and colours in the DB.",
            "Operators' passwords are stored as PBKDF2 hashes; data-site goes in wrangler.toml.",
            "Naïve café owners can't stop crying",
        ];
        let wanted: Vec<String> =
            ["deploy", "widget", "happili", "embed", "configur", "color", "databas", "password", "datasit", "wrangler", "cri", "naiv", "x"]
                .iter()
                .map(|s| s.to_string())
                .chain(terms("naïve café crying"))
                .collect();
        for text in texts {
            let all = terms(text);
            let expected: Vec<bool> = wanted.iter().map(|t| all.contains(t)).collect();
            assert_eq!(contains_terms(text, &wanted), expected, "{text}: {all:?}");
        }
    }

    #[test]
    fn identifiers_are_words_and_parts() {
        assert_eq!(words("getStaticPaths"), vec!["get", "static", "paths", "getstaticpaths"]);
        assert_eq!(words("Astro.url.searchParams"), vec!["astro", "url", "search", "params", "searchparams", "astrourlsearchparams"]);
        assert_eq!(words("data-site Hello"), vec!["data", "site", "datasite", "hello"]);
    }

    #[test]
    fn link_targets_are_not_words() {
        assert_eq!(without_link_targets("see [Embedding the widget](/docs/embedding#options)."), "see Embedding the widget.");
        assert_eq!(without_link_targets("[a](x(1)) and [b](y) (c)"), "a and b (c)");
        assert_eq!(without_link_targets("no links (here)"), "no links (here)");
        assert_eq!(terms("see [the guide](/docs/deployment)"), terms("see the guide"));
    }

    #[test]
    fn terms_stem_and_drop_stop_words() {
        assert_eq!(terms("How do I deploy the Widgets?"), vec!["deploy", "widget"]);
        let t = terms("set data-site in wrangler.toml");
        assert!(t.contains(&"datasit".to_string()) || t.contains(&"datasite".to_string()), "{t:?}");
        assert!(t.contains(&"wrangler".to_string()));
    }
}
