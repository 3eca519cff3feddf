//! The static embedding model (potion-base-8M, a Model2Vec distillation of bge-base-en-v1.5):
//! a BERT WordPiece tokenizer and one int8-quantised vector per token. A text's embedding is
//! the normalised mean of its tokens' vectors — no network, microseconds per query.
//!
//! The vocabulary is stored as one string blob with offsets plus a sorted permutation, so
//! loading it in the worker is a memcpy, not 30k hash-map inserts.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// A token-embedding model, as `index-builder model import` writes it.
#[derive(Clone, Serialize, Deserialize)]
pub struct Model {
    /// e.g. "potion-base-8M@bf8b0566/int8": indexes record it and refuse another model.
    pub id: String,
    pub dims: u32,
    /// Tokens in id order, concatenated.
    vocab_blob: String,
    /// `offsets[i]..offsets[i+1]` is token `i` in `vocab_blob`.
    offsets: Vec<u32>,
    /// Token ids sorted by token text, for binary search.
    sorted: Vec<u32>,
    unk_id: u32,
    /// One scale per token row: value = q * scale.
    scales: Vec<f32>,
    /// Row-major int8 matrix (stored as bytes), `dims` per token.
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
    /// Token → id, built on first use (a few ms): WordPiece probes many substrings per word,
    /// and a hash lookup is several times cheaper than a binary search over 30k strings.
    #[serde(skip)]
    table: std::sync::OnceLock<std::collections::HashMap<Box<str>, u32, xxhash_rust::xxh3::Xxh3DefaultBuilder>>,
}

impl Model {
    /// Builds a model from tokens (in id order) and an f32 matrix, quantising each row to int8.
    pub fn from_f32(id: String, tokens: &[String], dims: usize, matrix: &[f32], unk: &str) -> Result<Model, String> {
        if matrix.len() != tokens.len() * dims {
            return Err(format!("matrix has {} values, expected {} tokens × {dims}", matrix.len(), tokens.len()));
        }
        let mut vocab_blob = String::new();
        let mut offsets = vec![0u32];
        for t in tokens {
            vocab_blob.push_str(t);
            offsets.push(vocab_blob.len() as u32);
        }
        let mut sorted: Vec<u32> = (0..tokens.len() as u32).collect();
        sorted.sort_by(|&a, &b| tokens[a as usize].cmp(&tokens[b as usize]));
        let unk_id = tokens.iter().position(|t| t == unk).ok_or_else(|| format!("vocabulary has no {unk} token"))? as u32;
        let mut scales = Vec::with_capacity(tokens.len());
        let mut data = Vec::with_capacity(matrix.len());
        for row in matrix.chunks(dims) {
            let q = Vector::quantize_row(row);
            scales.push(q.0);
            data.extend(q.1.iter().map(|&v| v as u8));
        }
        Ok(Model { id, dims: dims as u32, vocab_blob, offsets, sorted, unk_id, scales, data, table: Default::default() })
    }

    /// The vocabulary, in id order.
    pub fn vocab(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.vocab_len() as u32).map(|id| self.token(id))
    }

    pub fn vocab_len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn token(&self, id: u32) -> &str {
        &self.vocab_blob[self.offsets[id as usize] as usize..self.offsets[id as usize + 1] as usize]
    }

    fn lookup(&self, token: &str) -> Option<u32> {
        let table = self.table.get_or_init(|| (0..self.vocab_len() as u32).map(|id| (Box::from(self.token(id)), id)).collect());
        table.get(token).copied()
    }

    /// Checks internal consistency after loading untrusted bytes, so lookups can't panic.
    pub fn check(&self) -> Result<(), String> {
        let n = self.vocab_len();
        let ok = !self.offsets.is_empty()
            && self.offsets.windows(2).all(|w| w[0] <= w[1])
            && *self.offsets.last().unwrap() as usize == self.vocab_blob.len()
            && self.offsets.iter().all(|&o| self.vocab_blob.is_char_boundary(o as usize))
            && self.sorted.len() == n
            && self.sorted.iter().all(|&i| (i as usize) < n)
            && (self.unk_id as usize) < n
            && self.scales.len() == n
            && self.dims > 0
            && self.data.len() == n * self.dims as usize;
        if ok {
            Ok(())
        } else {
            Err("model tables are inconsistent".into())
        }
    }

    /// WordPiece token ids of a text, unknown words dropped (as Model2Vec does).
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        for word in pre_tokenize(text) {
            self.wordpiece(&word, &mut ids);
        }
        ids
    }

    fn wordpiece(&self, word: &str, out: &mut Vec<u32>) {
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        if chars.len() > 100 {
            return;
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        let mut buf = String::new();
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while end > start {
                let from = chars[start].0;
                let to = if end == chars.len() { word.len() } else { chars[end].0 };
                buf.clear();
                if start > 0 {
                    buf.push_str("##");
                }
                buf.push_str(&word[from..to]);
                if let Some(id) = self.lookup(&buf) {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => pieces.push(id),
                None => return, // the whole word is [UNK]: contributes nothing
            }
            start = end;
        }
        out.extend(pieces.into_iter().filter(|&id| id != self.unk_id));
    }

    /// The normalised embedding of a text; all zeros if no token is known.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let dims = self.dims as usize;
        let mut sum = vec![0f32; dims];
        let ids = self.tokenize(text);
        for &id in &ids {
            let row = &self.data[id as usize * dims..(id as usize + 1) * dims];
            let scale = self.scales[id as usize];
            for (s, &q) in sum.iter_mut().zip(row) {
                *s += (q as i8) as f32 * scale;
            }
        }
        normalize(&mut sum);
        sum
    }
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
fn pre_tokenize(text: &str) -> Vec<String> {
    // ASCII text has nothing to decompose: skipping NFD is the same result, several times faster.
    if text.is_ascii() {
        pre_tokenize_chars(text.chars())
    } else {
        pre_tokenize_chars(text.nfd())
    }
}

fn pre_tokenize_chars(chars: impl Iterator<Item = char>) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, words: &mut Vec<String>| {
        if !cur.is_empty() {
            words.push(std::mem::take(cur));
        }
    };
    for c in chars {
        if c == '\0' || c == '\u{fffd}' || (c.is_control() && !c.is_whitespace()) {
            continue;
        }
        if is_combining_mark(c) {
            continue; // strip accents
        }
        if c.is_whitespace() {
            flush(&mut cur, &mut words);
        } else if is_punctuation(c) || is_cjk(c) {
            flush(&mut cur, &mut words);
            words.push(c.to_string());
        } else {
            cur.extend(c.to_lowercase());
        }
    }
    flush(&mut cur, &mut words);
    words
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

/// A unit vector quantised to int8 with one scale: what the HNSW stores per chunk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vector {
    scale: f32,
    #[serde(with = "serde_bytes")]
    q: Vec<u8>,
}

impl Vector {
    fn quantize_row(row: &[f32]) -> (f32, Vec<i8>) {
        let max = row.iter().fold(0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        (scale, row.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect())
    }

    pub fn quantize(v: &[f32]) -> Vector {
        let (scale, q) = Self::quantize_row(v);
        Vector { scale, q: q.into_iter().map(|x| x as u8).collect() }
    }

    pub fn dims(&self) -> usize {
        self.q.len()
    }

    /// Cosine similarity with another quantised unit vector.
    pub fn cosine(&self, other: &Vector) -> f32 {
        let d: i32 = self.q.iter().zip(&other.q).map(|(&a, &b)| (a as i8) as i32 * (b as i8) as i32).sum();
        d as f32 * self.scale * other.scale
    }

    /// Cosine similarity with an f32 unit vector.
    pub fn cosine_f32(&self, v: &[f32]) -> f32 {
        self.q.iter().zip(v).map(|(&a, &b)| (a as i8) as f32 * b).sum::<f32>() * self.scale
    }
}

impl instant_distance::Point for Vector {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - self.cosine(other)
    }
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

    #[test]
    fn similar_words_embed_close() {
        let m = toy_model();
        let a = Vector::quantize(&m.embed("deploy"));
        let b = Vector::quantize(&m.embed("publish"));
        let c = Vector::quantize(&m.embed("cat"));
        assert!(a.cosine(&b) > 0.9);
        assert!(a.cosine(&c).abs() < 0.05);
    }
}
