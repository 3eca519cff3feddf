//! The static embedding model (potion-base-8M, a Model2Vec distillation of bge-base-en-v1.5):
//! a BERT WordPiece tokenizer and one int8-quantised vector per token. A text's embedding is
//! the normalised mean of its tokens' vectors — no network, microseconds per query.
//!
//! A loaded model is its file's bytes, used where they lie: the vocabulary is one string blob
//! with offsets, the vectors one int8 table with a scale per row, and the token → id lookup a
//! hash table stored in the file (open addressing over xxh3 of the token, at most half full).
//! Loading is a checksum and bounds checks — no 30k-string map built per isolate.

use crate::engine::vectors::quantize;
use crate::index::{f32_bytes, kind, u32_bytes, LoadError, Section, Sections};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// An empty slot of the token hash table.
const EMPTY: u32 = u32::MAX;

/// A token-embedding model, as `index-builder model import` writes it. The plain fields travel
/// as postcard in the file's `META` section; the tables have sections of their own.
#[derive(Clone, Serialize, Deserialize)]
pub struct Model {
    /// e.g. "potion-base-8M@bf8b0566/int8": indexes record it and refuse another model.
    pub id: String,
    pub dims: u32,
    unk_id: u32,
    #[serde(skip)]
    tables: Tables,
}

#[derive(Clone, Default)]
struct Tables {
    /// Tokens in id order, concatenated (UTF-8).
    vocab: Section,
    /// (n + 1) u32: token `i` is `vocab[offsets[i]..offsets[i + 1]]`.
    offsets: Section,
    /// n f32: row `i`'s values are `q × scales[i]`.
    scales: Section,
    /// n × dims int8, row-major.
    rows: Section,
    /// 2^k u32 token ids (`EMPTY` = free): open addressing keyed by `token_hash`.
    slots: Section,
}

fn token_hash(token: &[u8], mask: usize) -> usize {
    (xxhash_rust::xxh3::xxh3_64(token) & mask as u64) as usize
}

impl Model {
    /// Builds a model from tokens (in id order) and an f32 matrix, quantising each row to int8.
    pub fn from_f32(id: String, tokens: &[String], dims: usize, matrix: &[f32], unk: &str) -> Result<Model, String> {
        if matrix.len() != tokens.len() * dims {
            return Err(format!("matrix has {} values, expected {} tokens × {dims}", matrix.len(), tokens.len()));
        }
        let mut vocab = String::new();
        let mut offsets = vec![0u32];
        for t in tokens {
            vocab.push_str(t);
            offsets.push(vocab.len() as u32);
        }
        let unk_id = tokens.iter().position(|t| t == unk).ok_or_else(|| format!("vocabulary has no {unk} token"))? as u32;
        let mut scales = Vec::with_capacity(tokens.len());
        let mut rows = Vec::with_capacity(matrix.len());
        for row in matrix.chunks(dims.max(1)) {
            let (scale, q) = quantize(row);
            scales.push(scale);
            rows.extend_from_slice(&q);
        }
        let capacity = (tokens.len() * 2).next_power_of_two().max(2);
        let mut slots = vec![EMPTY; capacity];
        for (i, t) in tokens.iter().enumerate() {
            let mut at = token_hash(t.as_bytes(), capacity - 1);
            while slots[at] != EMPTY {
                if tokens[slots[at] as usize] == *t {
                    break; // a repeated token keeps its first id
                }
                at = (at + 1) & (capacity - 1);
            }
            if slots[at] == EMPTY {
                slots[at] = i as u32;
            }
        }
        let tables = Tables {
            vocab: Section::owned(vocab.into_bytes()),
            offsets: Section::owned(u32_bytes(offsets)),
            scales: Section::owned(f32_bytes(scales)),
            rows: Section::owned(rows),
            slots: Section::owned(u32_bytes(slots)),
        };
        Ok(Model { id, dims: dims as u32, unk_id, tables })
    }

    /// The sections that store the tables (after `META`).
    pub(crate) fn sections(&self) -> Vec<(u32, &[u8])> {
        let t = &self.tables;
        vec![
            (kind::VOCAB, t.vocab.bytes()),
            (kind::VOCAB_OFFSETS, t.offsets.bytes()),
            (kind::SCALES, t.scales.bytes()),
            (kind::ROWS, t.rows.bytes()),
            (kind::TOKEN_SLOTS, t.slots.bytes()),
        ]
    }

    /// Points the tables at a verified file's sections (then `check`).
    pub(crate) fn attach(&mut self, sections: &Sections) -> Result<(), LoadError> {
        self.tables = Tables {
            vocab: sections.require(kind::VOCAB, "vocabulary")?,
            offsets: sections.require(kind::VOCAB_OFFSETS, "vocabulary offsets")?,
            scales: sections.require(kind::SCALES, "scales")?,
            rows: sections.require(kind::ROWS, "vectors")?,
            slots: sections.require(kind::TOKEN_SLOTS, "token table")?,
        };
        Ok(())
    }

    /// The vocabulary, in id order.
    pub fn vocab(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.vocab_len() as u32).map(|id| std::str::from_utf8(self.token(id)).unwrap_or(""))
    }

    pub fn vocab_len(&self) -> usize {
        (self.tables.offsets.len() / 4).saturating_sub(1)
    }

    fn token(&self, id: u32) -> &[u8] {
        let (from, to) = (self.tables.offsets.u32_at(id as usize) as usize, self.tables.offsets.u32_at(id as usize + 1) as usize);
        self.tables.vocab.bytes().get(from..to).unwrap_or(&[])
    }

    fn lookup(&self, token: &str) -> Option<u32> {
        let slots = &self.tables.slots;
        let capacity = slots.len() / 4;
        if capacity == 0 {
            return None;
        }
        let mut at = token_hash(token.as_bytes(), capacity - 1);
        // At most half full, so an empty slot ends every probe; the bound only guards a forged table.
        for _ in 0..capacity {
            match slots.u32_at(at) {
                EMPTY => return None,
                id if self.token(id) == token.as_bytes() => return Some(id),
                _ => at = (at + 1) & (capacity - 1),
            }
        }
        None
    }

    /// Checks internal consistency after loading untrusted bytes, so lookups can't panic or
    /// loop, and every token is text.
    pub fn check(&self) -> Result<(), String> {
        let t = &self.tables;
        let n = self.vocab_len();
        let dims = self.dims as usize;
        let vocab = std::str::from_utf8(t.vocab.bytes()).map_err(|_| "the vocabulary is not UTF-8".to_string())?;
        let mut prev = 0u32;
        let offsets_ok = t.offsets.len() >= 4
            && t.offsets.len() % 4 == 0
            && t.offsets.u32_at(0) == 0
            && (0..=n).all(|i| {
                let o = t.offsets.u32_at(i);
                let ok = o >= prev && vocab.is_char_boundary(o as usize);
                prev = o;
                ok
            })
            && prev as usize == vocab.len();
        let capacity = t.slots.len() / 4;
        let slots_ok = t.slots.len() % 4 == 0 && capacity.is_power_of_two() && {
            let ids = t.slots.bytes().chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
            let (mut empty, mut in_range) = (0usize, true);
            for id in ids {
                if id == EMPTY {
                    empty += 1;
                } else {
                    in_range &= (id as usize) < n;
                }
            }
            in_range && empty > 0
        };
        let ok = offsets_ok
            && slots_ok
            && (self.unk_id as usize) < n
            && t.scales.len() == n * 4
            && dims > 0
            && n.checked_mul(dims) == Some(t.rows.len());
        if ok {
            Ok(())
        } else {
            Err("model tables are inconsistent".into())
        }
    }

    /// WordPiece token ids of a text, unknown words dropped (as Model2Vec does).
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut scratch = (String::new(), Vec::new());
        each_word(text, |word| self.wordpiece(word, &mut ids, &mut scratch));
        ids
    }

    /// Greedy longest-match-first WordPiece of one word, appended to `out` (nothing for a word
    /// that does not split into known pieces). `scratch` is reused across words.
    fn wordpiece(&self, word: &str, out: &mut Vec<u32>, scratch: &mut (String, Vec<usize>)) {
        if word.len() > 100 && word.chars().count() > 100 {
            return;
        }
        // Most words are one token as they are: one lookup, no allocation.
        if let Some(id) = self.lookup(word) {
            if id != self.unk_id {
                out.push(id);
            }
            return;
        }
        let (buf, bounds) = scratch;
        bounds.clear();
        bounds.extend(word.char_indices().map(|(i, _)| i));
        bounds.push(word.len());
        let chars = bounds.len() - 1;
        let mark = out.len();
        let mut start = 0;
        while start < chars {
            // The whole word was looked up already.
            let mut end = if start == 0 { chars - 1 } else { chars };
            let mut found = None;
            while end > start {
                buf.clear();
                if start > 0 {
                    buf.push_str("##");
                }
                buf.push_str(&word[bounds[start]..bounds[end]]);
                if let Some(id) = self.lookup(buf) {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) if id != self.unk_id => out.push(id),
                Some(_) => {}
                None => {
                    out.truncate(mark); // the whole word is [UNK]: contributes nothing
                    return;
                }
            }
            start = end;
        }
    }

    /// The normalised embedding of a text; all zeros if no token is known.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let dims = self.dims as usize;
        let mut sum = vec![0f32; dims];
        let ids = self.tokenize(text);
        let rows = self.tables.rows.bytes();
        for &id in &ids {
            let Some(row) = rows.get(id as usize * dims..(id as usize + 1) * dims) else { continue };
            add_scaled(&mut sum, row, self.tables.scales.f32_at(id as usize));
        }
        normalize(&mut sum);
        sum
    }
}

/// `sum += scale × row` over an int8 row: the inner loop of every embedding (an answer embeds
/// its candidate sentences). Compiled again for AVX2 and picked at run time, as the vector
/// kernels are (the default x86-64 target widens int8 to f32 four at a time); the arithmetic
/// is the same per element, so the sums are the same to the bit. Wasm builds vectorise it with
/// `simd128` as they are.
fn add_scaled(sum: &mut [f32], row: &[u8], scale: f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { add_scaled_avx2(sum, row, scale) };
    }
    add_scaled_portable(sum, row, scale)
}

#[inline(always)]
fn add_scaled_portable(sum: &mut [f32], row: &[u8], scale: f32) {
    for (s, &q) in sum.iter_mut().zip(row) {
        *s += (q as i8) as f32 * scale;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_scaled_avx2(sum: &mut [f32], row: &[u8], scale: f32) {
    add_scaled_portable(sum, row, scale)
}

pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// BERT's basic tokenizer: clean, split CJK ideographs, lowercase, strip accents, split on
/// whitespace and punctuation (each punctuation mark its own word).
#[cfg(test)]
fn pre_tokenize(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    each_word(text, |w| words.push(w.to_string()));
    words
}

/// Calls `f` with each word of BERT's basic tokenizer, from one reused buffer.
fn each_word(text: &str, mut f: impl FnMut(&str)) {
    let mut word = String::new();
    // ASCII text has nothing to decompose: skipping NFD is the same result, several times faster.
    if text.is_ascii() {
        words_of(text.chars(), &mut word, &mut f)
    } else {
        words_of(text.nfd(), &mut word, &mut f)
    }
}

fn words_of(chars: impl Iterator<Item = char>, word: &mut String, f: &mut impl FnMut(&str)) {
    let flush = |word: &mut String, f: &mut dyn FnMut(&str)| {
        if !word.is_empty() {
            f(word);
            word.clear();
        }
    };
    let mut one = [0u8; 4];
    for c in chars {
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
            continue;
        }
        if c == '\0' || c == '\u{fffd}' || (c.is_control() && !c.is_whitespace()) {
            continue;
        }
        if is_combining_mark(c) {
            continue; // strip accents
        }
        if c.is_whitespace() {
            flush(word, f);
        } else if is_punctuation(c) || is_cjk(c) {
            flush(word, f);
            f(c.encode_utf8(&mut one));
        } else {
            word.extend(c.to_lowercase());
        }
    }
    flush(word, f);
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_ascii() && !c.is_alphanumeric() && !c.is_whitespace())
}

fn is_combining_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F |
        0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tiny model whose vectors make "deploy" and "publish" similar.
    pub fn toy_model() -> Model {
        let tokens: Vec<String> =
            ["[PAD]", "[UNK]", "deploy", "publish", "widget", "##s", "cat", "un", "##related"].iter().map(|s| s.to_string()).collect();
        let dims = 4;
        let m = [
            0., 0., 0., 0., //
            0., 0., 0., 0., //
            1., 0., 0., 0., //
            0.9, 0.1, 0., 0., //
            0., 1., 0., 0., //
            0., 0.1, 0., 0., //
            0., 0., 1., 0., //
            0., 0., 0., 1., //
            0., 0., 0.2, 1., //
        ];
        Model::from_f32("toy".into(), &tokens, dims, &m, "[UNK]").unwrap()
    }

    #[test]
    fn wordpiece_splits_like_bert() {
        let m = toy_model();
        assert!(m.check().is_ok());
        assert_eq!(m.tokenize("Widgets"), vec![4, 5]);
        assert_eq!(m.tokenize("unrelated!"), vec![7, 8]);
        assert_eq!(m.tokenize("zzz"), Vec::<u32>::new());
        assert_eq!(pre_tokenize("Café, naïve"), vec!["cafe", ",", "naive"]);
    }

    /// The plain WordPiece (a `String` per word and per candidate piece) that `tokenize`
    /// must match exactly: indexes built before and questions asked after must agree.
    fn reference_tokenize(m: &Model, text: &str) -> Vec<u32> {
        let vocab: std::collections::HashMap<&str, u32> = m.vocab().enumerate().map(|(i, t)| (t, i as u32)).collect();
        let mut ids = Vec::new();
        for word in pre_tokenize(text) {
            let chars: Vec<(usize, char)> = word.char_indices().collect();
            if chars.len() > 100 {
                continue;
            }
            let (mut pieces, mut start, mut ok) = (Vec::new(), 0, true);
            while start < chars.len() {
                let mut end = chars.len();
                let mut found = None;
                while end > start {
                    let to = if end == chars.len() { word.len() } else { chars[end].0 };
                    let piece = format!("{}{}", if start > 0 { "##" } else { "" }, &word[chars[start].0..to]);
                    if let Some(&id) = vocab.get(piece.as_str()) {
                        found = Some(id);
                        break;
                    }
                    end -= 1;
                }
                match found {
                    Some(id) => pieces.push(id),
                    None => {
                        ok = false;
                        break;
                    }
                }
                start = end;
            }
            if ok {
                ids.extend(pieces.into_iter().filter(|&id| id != m.unk_id));
            }
        }
        ids
    }

    #[test]
    fn tokenize_matches_the_plain_wordpiece() {
        let m = toy_model();
        for text in
            ["Widgets, deploy-cat unrelated!", "UNRELATEDWIDGETS", "catcat uncat", "Café — 中文 deploys\u{0}", "", "   ", &"s".repeat(150)]
        {
            assert_eq!(m.tokenize(text), reference_tokenize(&m, text), "{text:?}");
        }
        // And the real model on real docs (this repository's README), accents and CJK included.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../model/potion-base-8M.int8.model");
        let real = crate::index::model_from_bytes(std::fs::read(path).expect("model/ in the repo")).expect("model");
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
        for text in readme.split("\n\n").chain(["Ünïcode naïveté, 中文字符 and e-mail@ex.com: «quotes»"]) {
            assert_eq!(real.tokenize(text), reference_tokenize(&real, text), "{text:?}");
        }
    }

    #[test]
    fn similar_words_embed_close() {
        let m = toy_model();
        let (a, b, c) = (m.embed("deploy"), m.embed("publish"), m.embed("cat"));
        assert!(dot(&a, &b) > 0.9);
        assert!(dot(&a, &c).abs() < 0.05);
    }

    #[test]
    fn a_model_reads_back_from_its_file_and_embeds_the_same() {
        let m = toy_model();
        let bytes = crate::index::model_to_bytes(&m);
        let loaded = crate::index::model_from_bytes(bytes.clone()).unwrap();
        assert_eq!(loaded.id, "toy");
        assert_eq!(loaded.vocab().collect::<Vec<_>>(), m.vocab().collect::<Vec<_>>());
        for text in ["deploy widgets", "unrelated cat", "zzz"] {
            assert_eq!(loaded.embed(text), m.embed(text));
        }
        assert_eq!(loaded.lookup("##related"), Some(8));
        assert_eq!(loaded.lookup("related"), None);
        // Every token is found through the stored table.
        for (id, t) in m.vocab().enumerate() {
            assert_eq!(loaded.lookup(t), Some(id as u32), "{t}");
        }
    }

    #[test]
    fn forged_model_tables_are_refused() {
        let m = toy_model();
        let forged = |edit: &dyn Fn(&mut Tables)| {
            let mut f = m.clone();
            edit(&mut f.tables);
            f.check()
        };
        assert!(forged(&|_| {}).is_ok());
        assert!(forged(&|t| t.slots = Section::owned(u32_bytes(vec![0; 16]))).is_err(), "a full table would probe forever");
        assert!(forged(&|t| t.slots = Section::owned(u32_bytes([EMPTY, 99, EMPTY, EMPTY]))).is_err(), "an id past the vocabulary");
        assert!(forged(&|t| t.slots = Section::owned(u32_bytes([EMPTY; 3]))).is_err(), "not a power of two");
        assert!(forged(&|t| t.offsets = Section::owned(u32_bytes([0, 5, 3, 40]))).is_err(), "offsets going back");
        assert!(forged(&|t| t.vocab = Section::owned(vec![0xff; t.vocab.len()])).is_err(), "not UTF-8");
        assert!(forged(&|t| t.rows = Section::owned(vec![0; 7])).is_err(), "rows of the wrong size");
        assert!(forged(&|t| t.scales = Section::owned(vec![])).is_err());
    }
}
