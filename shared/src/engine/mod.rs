//! The answer engine: question → lexical + semantic candidates → fused ranking → an extractive
//! answer with citations and a calibrated confidence. Plain Rust: the same code runs natively
//! in `index-builder ask` and as wasm in the worker.

pub mod bm25;
pub mod compose;
pub mod embed;
pub mod text;

use crate::index::{Chunk, Index, LoadError};
use crate::protocol::{Answer, Citation};
use embed::{Model, Vector};
use std::sync::Arc;

/// How many candidates each retriever contributes before fusion.
const CANDIDATES: usize = 40;
/// Weight of the lexical score in the fused score (the rest is semantic). Tuned on the bench:
/// BM25 is the stronger signal on docs; embeddings rescue paraphrases.
const BM25_WEIGHT: f32 = 0.7;

/// One retrieved section.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub chunk: u32,
    /// Fused score in [0, 1], relative to the other candidates.
    pub score: f32,
    /// Raw BM25 score.
    pub bm25: f32,
    /// Cosine similarity of question and section embeddings.
    pub cosine: f32,
}

/// A site's index plus the embedding model it was built with.
pub struct Engine {
    index: Index,
    model: Arc<Model>,
}

impl Engine {
    /// Pairs an index with a model; refuses an index built with another model.
    pub fn new(index: Index, model: Arc<Model>) -> Result<Engine, LoadError> {
        if index.header.model_id != model.id {
            return Err(LoadError::ModelMismatch { index: index.header.model_id.clone(), loaded: model.id.clone() });
        }
        if index.body.vectors.iter().any(|v| v.dims() != model.dims as usize) {
            return Err(LoadError::Corrupt("vector dimensions differ from the model's".into()));
        }
        Ok(Engine { index, model })
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    pub fn config(&self) -> &crate::config::SiteConfig {
        &self.index.body.config
    }

    pub fn chunk(&self, i: u32) -> &Chunk {
        &self.index.body.chunks[i as usize]
    }

    /// The best sections for a question, best first.
    pub fn search(&self, question: &str, k: usize) -> Vec<Hit> {
        let body = &self.index.body;
        let terms = text::terms(question);
        let lexical = body.bm25.search(&terms, CANDIDATES);
        let qv = self.model.embed(question);
        let qvec = Vector::quantize(&qv);
        let mut candidates: Vec<u32> = lexical.iter().map(|&(d, _)| d).collect();
        if qv.iter().any(|&x| x != 0.0) {
            let mut search = instant_distance::Search::default();
            for item in body.hnsw.search(&qvec, &mut search).take(CANDIDATES) {
                if !candidates.contains(item.value) {
                    candidates.push(*item.value);
                }
            }
        }
        if candidates.is_empty() {
            return Vec::new();
        }
        let bm25_of = |d: u32| lexical.iter().find(|(x, _)| *x == d).map(|&(_, s)| s).unwrap_or(0.0);
        let scored: Vec<(u32, f32, f32)> = candidates.iter().map(|&d| (d, bm25_of(d), body.vectors[d as usize].cosine_f32(&qv))).collect();
        // Min–max normalise each signal over the candidate union, then mix.
        let norm = |vals: Vec<f32>| {
            let (lo, hi) = vals.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            vals.into_iter().map(move |v| {
                if hi > lo {
                    (v - lo) / (hi - lo)
                } else if hi > 0.0 {
                    1.0
                } else {
                    0.0
                }
            })
        };
        let b: Vec<f32> = norm(scored.iter().map(|s| s.1).collect()).collect();
        let c: Vec<f32> = norm(scored.iter().map(|s| s.2).collect()).collect();
        let mut hits: Vec<Hit> = scored
            .iter()
            .enumerate()
            .map(|(i, &(chunk, bm25, cosine))| Hit { chunk, score: BM25_WEIGHT * b[i] + (1.0 - BM25_WEIGHT) * c[i], bm25, cosine })
            .collect();
        hits.sort_by(|x, y| y.score.total_cmp(&x.score).then(x.chunk.cmp(&y.chunk)));
        hits.truncate(k);
        hits
    }

    /// Answers a question from the docs, or says it does not know.
    pub fn answer(&self, question: &str) -> Answer {
        let hits = self.search(question, 5);
        let threshold = self.config().confidence_threshold;
        let Some(top) = hits.first() else {
            return dont_know();
        };
        let terms = text::terms(question);
        let chunk = self.chunk(top.chunk);
        let coverage = self.coverage(&terms, chunk);
        let confidence = confidence(coverage, top.cosine);
        if confidence < threshold {
            let mut a = dont_know();
            a.confidence = confidence;
            return a;
        }
        let qv = self.model.embed(question);
        let text = compose::extract(&chunk.text, &terms, |s| embed::dot(&self.model.embed(s), &qv), &|t| self.index.body.bm25.idf(t));
        Answer { text, citations: vec![citation(chunk)], confidence, handoff: false }
    }

    /// Share of the question's information (idf-weighted terms) that the section contains.
    fn coverage(&self, terms: &[String], chunk: &Chunk) -> f32 {
        let chunk_terms = text::terms(&format!("{} {}", chunk.breadcrumb, chunk.text));
        let max_idf = self.index.body.bm25.max_idf();
        let (mut have, mut total) = (0.0, 0.0);
        for t in terms {
            // Terms the docs never use still count: a question about something the docs do
            // not mention should not look covered.
            let w = match self.index.body.bm25.idf(t) {
                0.0 => max_idf,
                w => w,
            };
            total += w;
            if chunk_terms.contains(t) {
                have += w;
            }
        }
        if total == 0.0 {
            0.0
        } else {
            have / total
        }
    }
}

/// Maps retrieval evidence to [0, 1]. A logistic curve over lexical coverage and semantic
/// similarity (see the bench for calibration).
pub fn confidence(coverage: f32, cosine: f32) -> f32 {
    let z = 7.0 * coverage + 4.0 * cosine - 6.0;
    1.0 / (1.0 + (-z).exp())
}

pub fn citation(chunk: &Chunk) -> Citation {
    Citation { title: chunk.title.clone(), heading: chunk.heading.clone(), url: chunk.url.clone(), path: chunk.path.clone() }
}

/// The honest answer when the docs don't have it.
pub fn dont_know() -> Answer {
    Answer {
        text: "I couldn't find that in the docs, so I won't guess. A person from the team can help with this one.".into(),
        citations: Vec::new(),
        confidence: 0.0,
        handoff: true,
    }
}
