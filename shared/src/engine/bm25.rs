//! Okapi BM25 over an inverted index. Title and heading words count more than body words:
//! a section titled "Deploying" is about deploying even if the body says it once. The index is
//! flat tables (terms, offsets, postings) that a loaded index file reads in place.

use crate::index::{kind, u32_bytes, LoadError, Pieces, Section, Sections};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Okapi's term-frequency saturation and length normalisation (tuned on the bench).
pub const K1: f32 = 1.2;
pub const B: f32 = 0.75;

/// One document a query matched.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Match {
    pub doc: u32,
    pub score: f32,
    /// Sum of the weights of the query terms the document contains.
    pub covered: f32,
}

/// Per-group results of [`Bm25::search_groups`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupScores {
    pub score: Vec<f32>,
    pub covered: Vec<f32>,
}

/// The inverted index, as flat tables read where they lie in the index file (decoding 30k
/// terms and their posting lists into vectors was most of an index's load time).
#[derive(Clone, Default)]
pub struct Bm25 {
    /// Sorted terms, concatenated.
    terms: Pieces,
    /// (T + 1) u32: term `i` is `terms[term_offsets[i]..term_offsets[i + 1]]`.
    term_offsets: Pieces,
    /// (T + 1) u32: term `i`'s postings are bytes `posting_offsets[i]..posting_offsets[i + 1]`
    /// of `postings`.
    posting_offsets: Pieces,
    /// T u32: how many documents contain term `i` (its idf without reading its postings).
    df: Pieces,
    /// Each term's postings, documents ascending: (document − previous document, weighted term
    /// frequency) as LEB128 varints — two bytes a posting for most, read only for the question's
    /// terms.
    postings: Pieces,
    /// N u32: each document's weighted length.
    doc_len: Pieces,
    avg_len: f32,
}

/// The `BM25_LAYOUT` section: the tables' sizes.
#[derive(Serialize, Deserialize)]
struct Layout {
    terms: u32,
    docs: u32,
    avg_len: f32,
}

fn push_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads one LEB128 u32 at `*at`; `None` at the end or on a malformed one.
fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u32> {
    let mut v = 0u32;
    for shift in (0..35).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= ((b & 0x7f) as u32).checked_shl(shift)?;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// A document's terms with their weights (e.g. 1 for body, 3 for headings).
pub struct WeightedDoc<'a> {
    pub parts: Vec<(&'a [String], u16)>,
}

fn u32s(p: &Pieces, from: usize, to: usize) -> Cow<'_, [u8]> {
    p.range(from * 4, to * 4).unwrap_or(Cow::Borrowed(&[]))
}

fn u32_of(p: &Pieces, i: usize) -> u32 {
    crate::index::u32_at(&u32s(p, i, i + 1), 0)
}

fn owned(bytes: Vec<u8>) -> Pieces {
    Pieces::new(vec![Section::owned(bytes)])
}

impl Bm25 {
    pub fn build(docs: &[WeightedDoc<'_>]) -> Bm25 {
        let mut map: BTreeMap<&str, Vec<(u32, u16)>> = BTreeMap::new();
        let mut doc_len = Vec::with_capacity(docs.len());
        for (d, doc) in docs.iter().enumerate() {
            let mut tf: BTreeMap<&str, u32> = BTreeMap::new();
            let mut len = 0u32;
            for (terms, w) in &doc.parts {
                for t in terms.iter() {
                    *tf.entry(t.as_str()).or_default() += *w as u32;
                    len += *w as u32;
                }
            }
            doc_len.push(len);
            for (t, f) in tf {
                map.entry(t).or_default().push((d as u32, f.min(u16::MAX as u32) as u16));
            }
        }
        let avg_len = if docs.is_empty() { 1.0 } else { doc_len.iter().map(|&l| l as f32).sum::<f32>() / docs.len() as f32 };
        let (mut terms, mut term_offsets, mut posting_offsets) = (Vec::new(), vec![0u32], vec![0u32]);
        let (mut postings, mut df) = (Vec::new(), Vec::new());
        for (t, list) in map {
            terms.extend_from_slice(t.as_bytes());
            term_offsets.push(terms.len() as u32);
            df.push(list.len() as u32);
            let mut prev = 0;
            for (d, f) in list {
                push_varint(&mut postings, d - prev);
                push_varint(&mut postings, f as u32);
                prev = d;
            }
            posting_offsets.push(postings.len() as u32);
        }
        Bm25 {
            terms: owned(terms),
            term_offsets: owned(u32_bytes(term_offsets)),
            posting_offsets: owned(u32_bytes(posting_offsets)),
            df: owned(u32_bytes(df)),
            postings: owned(postings),
            doc_len: owned(u32_bytes(doc_len)),
            avg_len: avg_len.max(1.0),
        }
    }

    /// The sections that store it: (kind, bytes, the unit a piece may be cut at).
    pub(crate) fn encode(&self) -> Vec<(u32, Vec<u8>, usize)> {
        let all = |p: &Pieces| p.iter().flatten().copied().collect::<Vec<u8>>();
        let layout = Layout { terms: self.term_count() as u32, docs: self.docs() as u32, avg_len: self.avg_len };
        vec![
            (kind::BM25_LAYOUT, postcard::to_allocvec(&layout).expect("postcard serialisation of in-memory data cannot fail"), 0),
            (kind::BM25_TERMS, all(&self.terms), 1),
            (kind::BM25_TERM_OFFSETS, all(&self.term_offsets), 4),
            (kind::BM25_POSTING_OFFSETS, all(&self.posting_offsets), 4),
            (kind::BM25_DF, all(&self.df), 4),
            (kind::BM25_POSTINGS, all(&self.postings), 1),
            (kind::BM25_DOC_LEN, all(&self.doc_len), 4),
        ]
    }

    /// Opens the tables of a verified file (then `check`).
    pub(crate) fn load(sections: &Sections) -> Result<Bm25, LoadError> {
        let layout: Layout = postcard::from_bytes(sections.require(kind::BM25_LAYOUT, "BM25 layout")?.bytes())
            .map_err(|e| LoadError::Corrupt(format!("BM25 layout: {e}")))?;
        let pieces = |k: u32| Pieces::new(sections.pieces(k));
        let bm25 = Bm25 {
            terms: pieces(kind::BM25_TERMS),
            term_offsets: pieces(kind::BM25_TERM_OFFSETS),
            posting_offsets: pieces(kind::BM25_POSTING_OFFSETS),
            df: pieces(kind::BM25_DF),
            postings: pieces(kind::BM25_POSTINGS),
            doc_len: pieces(kind::BM25_DOC_LEN),
            avg_len: layout.avg_len,
        };
        let sizes = bm25.term_count() == layout.terms as usize
            && bm25.df.len() == layout.terms as usize * 4
            && bm25.docs() == layout.docs as usize
            && layout.avg_len.is_finite()
            && layout.avg_len >= 1.0;
        if !sizes {
            return Err(LoadError::Corrupt("BM25 tables' sizes disagree".into()));
        }
        Ok(bm25)
    }

    pub fn docs(&self) -> usize {
        self.doc_len.len() / 4
    }

    fn term_count(&self) -> usize {
        (self.term_offsets.len() / 4).saturating_sub(1)
    }

    fn term_index(&self, term: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.term_count());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let (from, to) = (u32_of(&self.term_offsets, mid) as usize, u32_of(&self.term_offsets, mid + 1) as usize);
            let t = self.terms.range(from, to).unwrap_or(Cow::Borrowed(&[]));
            match t.as_ref().cmp(term.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Term `i`'s postings, as (document, weighted term frequency).
    fn postings(&self, i: usize) -> impl Iterator<Item = (u32, u32)> + '_ {
        let (from, to) = (u32_of(&self.posting_offsets, i) as usize, u32_of(&self.posting_offsets, i + 1) as usize);
        let bytes = self.postings.range(from, to).unwrap_or(Cow::Borrowed(&[]));
        let (mut at, mut doc) = (0, 0u32);
        std::iter::from_fn(move || {
            let delta = read_varint(&bytes, &mut at)?;
            let tf = read_varint(&bytes, &mut at)?;
            doc = doc.checked_add(delta)?;
            Some((doc, tf))
        })
    }

    /// Inverse document frequency (BM25+ style, never negative). 0 for unknown terms.
    pub fn idf(&self, term: &str) -> f32 {
        match self.term_index(term) {
            Some(i) => idf(self.docs(), u32_of(&self.df, i) as usize),
            None => 0.0,
        }
    }

    /// The idf a term would have if it occurred in no document (the ceiling).
    pub fn max_idf(&self) -> f32 {
        idf(self.docs(), 0)
    }

    /// Scores every document containing a query term; returns (doc, score) best first.
    pub fn search(&self, query: &[String], k: usize) -> Vec<(u32, f32)> {
        let mut unique: Vec<String> = Vec::new();
        for t in query {
            if !unique.contains(t) {
                unique.push(t.clone());
            }
        }
        let weights = vec![0.0; unique.len()];
        self.search_weighted(&unique, &weights, k, K1, B).into_iter().map(|m| (m.doc, m.score)).collect()
    }

    /// Scores every document containing a query term, best first, and sums per document the
    /// `weights` of the query terms it contains (how much of the question it covers). A term's
    /// weight also replaces its idf in the score (0: the idf). Query terms are expected unique. A dense accumulator: one pass over the postings, no maps.
    pub fn search_weighted(&self, query: &[String], weights: &[f32], k: usize, k1: f32, b: f32) -> Vec<Match> {
        let n = self.docs();
        let doc_len = u32s(&self.doc_len, 0, n);
        let mut score = vec![0f32; n];
        let mut covered = vec![0f32; n];
        let mut touched: Vec<u32> = Vec::new();
        for (qi, term) in query.iter().enumerate() {
            let Some(i) = self.term_index(term) else {
                continue;
            };
            // A term weighs its idf unless the caller weighs it otherwise (a boosted term).
            let w = weights.get(qi).copied().unwrap_or(0.0);
            let idf = if w > 0.0 { w } else { idf(n, u32_of(&self.df, i) as usize) };
            for (d, tf) in self.postings(i) {
                let d = d as usize;
                // Documents past the table can only come from a forged file: skipped.
                let (Some(s), Some(c)) = (score.get(d).copied(), covered.get(d).copied()) else { continue };
                let len = crate::index::u32_at(&doc_len, d) as f32;
                let tf = tf as f32;
                if s == 0.0 && c == 0.0 {
                    touched.push(d as u32);
                }
                score[d] = s + idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * len / self.avg_len)) + f32::MIN_POSITIVE;
                covered[d] = c + w;
            }
        }
        let mut out: Vec<Match> =
            touched.into_iter().map(|d| Match { doc: d, score: score[d as usize], covered: covered[d as usize] }).collect();
        let by_score = |a: &Match, b: &Match| b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc));
        if out.len() > k && k > 0 {
            out.select_nth_unstable_by(k - 1, by_score);
            out.truncate(k);
        }
        out.sort_by(by_score);
        out.truncate(k);
        out
    }

    /// Whether a term occurs in the corpus at all.
    /// Scores groups of documents as if each group were one document (a page made of its
    /// sections): term frequencies and lengths summed over the group, idf counted in groups.
    /// `group_of[doc]` is the doc's group (docs of a group need not be adjacent), `group_len`
    /// each group's length. Returns each group's score and the summed `weights` of the query
    /// terms it contains anywhere — dense, one entry per group. One pass over the postings.
    pub fn search_groups(&self, query: &[String], weights: &[f32], group_of: &[u32], group_len: &[f32], k1: f32, b: f32) -> GroupScores {
        let groups = group_len.len();
        let mut out = GroupScores { score: vec![0.0; groups], covered: vec![0.0; groups] };
        if groups == 0 || group_of.len() != self.docs() {
            return out;
        }
        let avg = (group_len.iter().sum::<f32>() / groups as f32).max(1.0);
        let mut tf = vec![0f32; groups];
        let mut touched: Vec<u32> = Vec::new();
        for (qi, term) in query.iter().enumerate() {
            let Some(i) = self.term_index(term) else {
                continue;
            };
            for (d, f) in self.postings(i) {
                // Documents past the table can only come from a forged file: skipped.
                let Some(&g) = group_of.get(d as usize) else { continue };
                let Some(slot) = tf.get_mut(g as usize) else { continue };
                if *slot == 0.0 {
                    touched.push(g);
                }
                *slot += f as f32;
            }
            let idf = idf(groups, touched.len());
            let w = weights.get(qi).copied().unwrap_or(0.0);
            for &g in &touched {
                let g = g as usize;
                let f = tf[g];
                out.score[g] += idf * f * (k1 + 1.0) / (f + k1 * (1.0 - b + b * group_len[g] / avg));
                out.covered[g] += w;
                tf[g] = 0.0;
            }
            touched.clear();
        }
        out
    }

    /// A document's length (its weighted term count).
    pub fn doc_len(&self, doc: u32) -> u32 {
        u32_of(&self.doc_len, doc as usize)
    }

    pub fn knows(&self, term: &str) -> bool {
        self.term_index(term).is_some()
    }

    /// Checks internal consistency after loading untrusted bytes: every offset table rises
    /// and ends at its table's size (postings' documents are checked as they are read).
    pub fn check(&self) -> Result<(), String> {
        let rising = |p: &Pieces, end: usize| {
            let all = u32s(p, 0, p.len() / 4);
            let mut prev = 0u32;
            p.len() >= 4
                && p.len() % 4 == 0
                && crate::index::u32_at(&all, 0) == 0
                && all.chunks_exact(4).all(|b| {
                    let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    let ok = v >= prev;
                    prev = v;
                    ok
                })
                && prev as usize == end
        };
        let ok = rising(&self.term_offsets, self.terms.len())
            && rising(&self.posting_offsets, self.postings.len())
            && self.posting_offsets.len() == self.term_offsets.len()
            && self.df.len() + 4 == self.term_offsets.len()
            && self.doc_len.len() % 4 == 0;
        if ok {
            Ok(())
        } else {
            Err("BM25 tables are inconsistent".into())
        }
    }
}

fn idf(n: usize, df: usize) -> f32 {
    ((n as f32 - df as f32 + 0.5) / (df as f32 + 0.5) + 1.0).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn ranks_the_document_with_the_rare_term_first() {
        let a = s(&["deploy", "worker", "cloudflar"]);
        let b = s(&["widget", "script", "tag"]);
        let h = s(&["widget"]);
        let idx = Bm25::build(&[WeightedDoc { parts: vec![(&a, 1)] }, WeightedDoc { parts: vec![(&b, 1), (&h, 3)] }]);
        let r = idx.search(&s(&["widget", "tag"]), 10);
        assert_eq!(r[0].0, 1);
        assert_eq!(r.len(), 1);
        assert!(idx.idf("widget") > 0.0);
        assert_eq!(idx.idf("nothing"), 0.0);
        assert!(idx.check().is_ok());
        assert!(idx.knows("tag") && idx.knows("cloudflar") && !idx.knows("cloud"));
    }

    #[test]
    fn varints_round_trip() {
        let mut b = Vec::new();
        for v in [0, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            push_varint(&mut b, v);
        }
        let mut at = 0;
        let back: Vec<u32> = std::iter::from_fn(|| read_varint(&b, &mut at)).collect();
        assert_eq!(back, [0, 1, 127, 128, 300, 16_383, 16_384, u32::MAX]);
        assert_eq!(read_varint(&[0x80, 0x80], &mut 0), None, "cut short");
        assert_eq!(read_varint(&[0xff; 6], &mut 0), None, "too long for a u32");
    }

    #[test]
    fn reads_back_from_its_sections_and_refuses_bad_tables() {
        let a = s(&["deploy", "worker", "cloudflar"]);
        let b = s(&["widget", "script", "tag", "deploy"]);
        let idx = Bm25::build(&[WeightedDoc { parts: vec![(&a, 1)] }, WeightedDoc { parts: vec![(&b, 2)] }]);
        let encoded = idx.encode();
        let sections: Vec<crate::index::SectionOut> = encoded.iter().map(|(k, b, c)| crate::index::SectionOut::new(*k, b, *c)).collect();
        let file = crate::index::write_sections(crate::index::INDEX_MAGIC, 99, "m", None, &sections);
        let (_, read) = crate::index::read_sections(crate::index::Blob::from(file), crate::index::INDEX_MAGIC, 99, "index").unwrap();
        let loaded = Bm25::load(&read).unwrap();
        assert!(loaded.check().is_ok());
        let q = s(&["deploy", "tag"]);
        assert_eq!(loaded.search(&q, 10), idx.search(&q, 10));
        assert_eq!(loaded.idf("deploy"), idx.idf("deploy"));
        // Offsets that go back, or end short of their table, are refused.
        let mut bad = idx.clone();
        bad.posting_offsets = owned(u32_bytes([0, 3, 2, 4, 5, 6, 7, 7]));
        assert!(bad.check().is_err());
        let mut bad = idx.clone();
        bad.term_offsets = owned(u32_bytes([0, 1]));
        assert!(bad.check().is_err());
        // A posting naming a document that does not exist is skipped, not a panic; so is a
        // varint that never ends.
        let mut forged = idx.clone();
        forged.postings = owned(vec![9; idx.postings.len()]);
        assert!(forged.search(&q, 10).is_empty());
        forged.postings = owned(vec![0xff; idx.postings.len()]);
        assert!(forged.search(&q, 10).is_empty());
    }
}
