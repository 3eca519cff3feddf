//! Okapi BM25 over an inverted index. Title and heading words count more than body words:
//! a section titled "Deploying" is about deploying even if the body says it once.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Okapi's term-frequency saturation and length normalisation (tuned on the bench).
pub const K1: f32 = 1.2;
pub const B: f32 = 0.75;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Posting {
    pub doc: u32,
    /// Weighted term frequency.
    pub tf: u16,
}

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

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bm25 {
    /// Sorted terms; `postings[i]` belongs to `terms[i]`.
    terms: Vec<String>,
    postings: Vec<Vec<Posting>>,
    doc_len: Vec<u32>,
    avg_len: f32,
}

/// A document's terms with their weights (e.g. 1 for body, 3 for headings).
pub struct WeightedDoc<'a> {
    pub parts: Vec<(&'a [String], u16)>,
}

impl Bm25 {
    pub fn build(docs: &[WeightedDoc<'_>]) -> Bm25 {
        let mut map: BTreeMap<&str, Vec<Posting>> = BTreeMap::new();
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
                map.entry(t).or_default().push(Posting { doc: d as u32, tf: f.min(u16::MAX as u32) as u16 });
            }
        }
        let avg_len = if docs.is_empty() { 1.0 } else { doc_len.iter().map(|&l| l as f32).sum::<f32>() / docs.len() as f32 };
        let (terms, postings) = map.into_iter().map(|(t, p)| (t.to_string(), p)).unzip();
        Bm25 { terms, postings, doc_len, avg_len: avg_len.max(1.0) }
    }

    pub fn docs(&self) -> usize {
        self.doc_len.len()
    }

    fn term_index(&self, term: &str) -> Option<usize> {
        self.terms.binary_search_by(|t| t.as_str().cmp(term)).ok()
    }

    /// Inverse document frequency (BM25+ style, never negative). 0 for unknown terms.
    pub fn idf(&self, term: &str) -> f32 {
        match self.term_index(term) {
            Some(i) => idf(self.docs(), self.postings[i].len()),
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
    /// weight also replaces its idf in the score (0: the idf). Query
    /// terms are expected unique. A dense accumulator: one pass over the postings, no maps.
    pub fn search_weighted(&self, query: &[String], weights: &[f32], k: usize, k1: f32, b: f32) -> Vec<Match> {
        let n = self.docs();
        let mut score = vec![0f32; n];
        let mut covered = vec![0f32; n];
        let mut touched: Vec<u32> = Vec::new();
        for (qi, term) in query.iter().enumerate() {
            let Some(i) = self.term_index(term) else {
                continue;
            };
            // A term weighs its idf unless the caller weighs it otherwise (a boosted term).
            let w = weights.get(qi).copied().unwrap_or(0.0);
            let idf = if w > 0.0 { w } else { idf(n, self.postings[i].len()) };
            for p in &self.postings[i] {
                let d = p.doc as usize;
                let len = *self.doc_len.get(d).unwrap_or(&0) as f32;
                let tf = p.tf as f32;
                if score[d] == 0.0 && covered[d] == 0.0 {
                    touched.push(p.doc);
                }
                score[d] += idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * len / self.avg_len)) + f32::MIN_POSITIVE;
                covered[d] += w;
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
            for p in &self.postings[i] {
                let g = group_of[p.doc as usize];
                if tf[g as usize] == 0.0 {
                    touched.push(g);
                }
                tf[g as usize] += p.tf as f32;
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
        self.doc_len.get(doc as usize).copied().unwrap_or(0)
    }

    /// Whether a term occurs in the corpus at all.
    pub fn knows(&self, term: &str) -> bool {
        self.term_index(term).is_some()
    }

    /// Checks internal consistency after loading untrusted bytes.
    pub fn check(&self) -> Result<(), String> {
        let n = self.docs() as u32;
        if self.terms.len() != self.postings.len() || self.postings.iter().flatten().any(|p| p.doc >= n) {
            return Err("BM25 tables are inconsistent".into());
        }
        Ok(())
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
    }
}
