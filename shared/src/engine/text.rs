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
    "as",
    "at",
    "be",
    "been",
    "but",
    "by",
    "can",
    "change",
    "could",
    "did",
    "do",
    "does",
    "for",
    "from",
    "had",
    "has",
    "have",
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
    "it",
    "its",
    "just",
    "me",
    "my",
    "need",
    "of",
    "on",
    "or",
    "our",
    "please",
    "possible",
    "really",
    "she",
    "should",
    "so",
    "someone",
    "something",
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
    "want",
    "was",
    "way",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
];

pub fn is_stop_word(w: &str) -> bool {
    STOP_WORDS.binary_search(&w).is_ok()
}

/// Splits text into lowercase words: runs of letters and digits; `_` and inner `-`/`.`
/// keep identifiers like `data-site` or `wrangler.toml` as one word *and* their parts.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.')) {
        let raw = raw.trim_matches(|c: char| c == '-' || c == '.' || c == '_');
        if raw.is_empty() {
            continue;
        }
        let lower = raw.to_lowercase();
        if lower.contains(['-', '.', '_']) {
            for part in lower.split(['-', '.', '_']).filter(|p| !p.is_empty()) {
                out.push(part.to_string());
            }
            // The compound itself too, so an exact identifier match scores higher.
            out.push(lower.replace(['-', '.', '_'], ""));
        } else {
            out.push(lower);
        }
    }
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
    STEMMER.with(|s| s.borrow().stem(word).into_owned())
}

/// Which of `wanted` (BM25 terms) occur in `text`. Same answer as looking them up in
/// `terms(text)`, but only words that can stem to a wanted term are stemmed: a Snowball stem
/// keeps its word's first two letters, so other words are skipped (overrides are checked
/// apart). The answer step calls this for every sentence of the best sections.
pub fn contains_terms(text: &str, wanted: &[String]) -> Vec<bool> {
    let mut found = vec![false; wanted.len()];
    let head = |s: &str| s.char_indices().nth(2).map(|(i, _)| i).unwrap_or(s.len());
    for w in words(text) {
        if found.iter().all(|&f| f) {
            break;
        }
        if is_stop_word(&w) {
            continue;
        }
        let w_head = &w[..head(&w)];
        let overridden = STEM_OVERRIDES.binary_search_by(|(o, _)| (*o).cmp(w.as_str())).is_ok();
        if !overridden && !wanted.iter().any(|t| t.starts_with(w_head) || w.starts_with(&t[..head(t)])) {
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
    }

    #[test]
    fn overrides_are_sorted_and_join_word_families() {
        assert!(STEM_OVERRIDES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(terms("embed"), terms("embedding"));
        assert_eq!(terms("embeds"), terms("embedded"));
        assert_eq!(terms("config"), terms("configuration"));
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
    fn terms_stem_and_drop_stop_words() {
        assert_eq!(terms("How do I deploy the Widgets?"), vec!["deploy", "widget"]);
        let t = terms("set data-site in wrangler.toml");
        assert!(t.contains(&"datasit".to_string()) || t.contains(&"datasite".to_string()), "{t:?}");
        assert!(t.contains(&"wrangler".to_string()));
    }
}
