//! The answer engine: question → lexical + semantic candidates → fused ranking → an extractive
//! answer with citations and a calibrated confidence. Plain Rust: the same code runs natively
//! in `index-builder ask` and as wasm in the worker.
//!
//! 1. The question becomes unique BM25 terms, each weighted by its idf (a term the docs never
//!    use weighs half the ceiling idf: information the docs cannot match), and an embedding.
//! 2. BM25 and the HNSW each propose candidates; both signals are min–max normalised over the
//!    union and mixed. The BM25 pass also sums each section's coverage of the question.
//! 3. The best sections' sentences, list items and code blocks are scored against the question;
//!    each section's best unit moves it up or down, the top section's best unit and its
//!    neighbours (up to ~400 characters) are the answer, and that section is cited first.
//! 4. The confidence is a logistic function of how much of the question the best section and
//!    its best unit cover, how close they are in meaning, and how much of the question the docs
//!    know at all — fitted on the answer-quality bench (docs/benchmarks.md) so the default
//!    threshold sends out-of-scope questions to a human.

pub mod bm25;
pub mod compose;
pub mod embed;
pub mod rephrase;
pub mod text;

use crate::index::{Chunk, Index, LoadError};
use crate::protocol::{Answer, Citation};
use embed::{Model, Vector};
use std::sync::Arc;

/// Tunable knobs of retrieval, answer selection and confidence. `Params::default()` holds the
/// values tuned on the bench's even question ids (held-out figures on the odd ones in
/// docs/benchmarks.md); `index-builder ask --params k=v,...` overrides them for experiments.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// BM25 term-frequency saturation.
    pub k1: f32,
    /// BM25 length normalisation.
    pub b: f32,
    /// Candidates from BM25 before fusion.
    pub lexical_candidates: usize,
    /// Candidates from the HNSW before fusion.
    pub semantic_candidates: usize,
    /// Weights of the normalised BM25 score, the normalised cosine and the coverage.
    pub w_bm25: f32,
    pub w_cosine: f32,
    pub w_coverage: f32,
    /// Weight of a question term the docs never use, as a share of the highest idf.
    pub unknown_weight: f32,
    /// How many of the best sections the answer may be drawn from.
    pub answer_sections: usize,
    /// Weight of semantic similarity in a unit's own match.
    pub w_unit_cosine: f32,
    /// Weight of semantic similarity when picking the answer's units within the section.
    pub w_answer_cosine: f32,
    /// A runner-up section's best unit joins the answer when its match is at least this share of
    /// the best unit's (0 = never).
    pub second_ratio: f32,
    /// How much the best unit's match moves its section up the ranking.
    pub w_rerank: f32,
    /// Confidence: logistic coefficients of the evidence and the intercept.
    pub c_coverage: f32,
    pub c_cosine: f32,
    pub c_known: f32,
    pub c_unit: f32,
    pub c_unit_cosine: f32,
    pub c_bias: f32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            k1: bm25::K1,
            b: 0.9,
            lexical_candidates: 60,
            semantic_candidates: 40,
            w_bm25: 0.6,
            w_cosine: 0.4,
            w_coverage: 0.0,
            unknown_weight: 0.5,
            answer_sections: 4,
            w_unit_cosine: 1.0,
            w_answer_cosine: 0.5,
            second_ratio: 0.7,
            w_rerank: 1.0,
            c_coverage: 3.391,
            c_cosine: 7.34,
            c_known: 7.016,
            c_unit: 0.77,
            c_unit_cosine: 2.964,
            c_bias: -12.45,
        }
    }
}

impl Params {
    /// Applies `name=value` overrides, comma separated; names are the field names.
    pub fn apply(&mut self, spec: &str) -> Result<(), String> {
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| format!("{pair:?}: write name=value"))?;
            let f: f32 = v.trim().parse().map_err(|_| format!("{pair:?}: {v:?} is not a number"))?;
            let n = f.max(0.0) as usize;
            match k.trim() {
                "k1" => self.k1 = f,
                "b" => self.b = f,
                "lexical_candidates" => self.lexical_candidates = n,
                "semantic_candidates" => self.semantic_candidates = n,
                "w_bm25" => self.w_bm25 = f,
                "w_cosine" => self.w_cosine = f,
                "w_coverage" => self.w_coverage = f,
                "unknown_weight" => self.unknown_weight = f,
                "answer_sections" => self.answer_sections = n.max(1),
                "w_unit_cosine" => self.w_unit_cosine = f,
                "w_answer_cosine" => self.w_answer_cosine = f,
                "w_rerank" => self.w_rerank = f,
                "second_ratio" => self.second_ratio = f,
                "c_coverage" => self.c_coverage = f,
                "c_cosine" => self.c_cosine = f,
                "c_known" => self.c_known = f,
                "c_unit" => self.c_unit = f,
                "c_unit_cosine" => self.c_unit_cosine = f,
                "c_bias" => self.c_bias = f,
                other => return Err(format!("unknown parameter {other:?}")),
            }
        }
        Ok(())
    }
}

/// One retrieved section.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub chunk: u32,
    /// Fused score, relative to the other candidates (higher is better).
    pub score: f32,
    /// Raw BM25 score.
    pub bm25: f32,
    /// Cosine similarity of question and section embeddings.
    pub cosine: f32,
    /// Share of the question's (idf-weighted) terms the section contains, in [0, 1].
    pub coverage: f32,
}

/// A question, analysed once.
pub struct Query {
    /// Unique BM25 terms, in question order.
    pub terms: Vec<String>,
    /// Each term's weight: its idf, or the ceiling idf for a term the docs never use.
    pub weights: Vec<f32>,
    /// Sum of `weights`.
    pub total: f32,
    /// Share of the question's weight made of terms the docs use somewhere, in [0, 1].
    pub known: f32,
    /// The question's embedding (unit length, or zeros when no token is known).
    pub vector: Vec<f32>,
}

/// Everything the engine concluded about one question: the ranking and the answer.
pub struct Response {
    pub answer: Answer,
    /// The best sections, best first.
    pub hits: Vec<Hit>,
    /// The evidence the confidence was computed from (for the bench and debugging).
    pub evidence: Evidence,
}

/// The inputs of the confidence.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Evidence {
    pub coverage: f32,
    pub cosine: f32,
    pub known: f32,
    /// Share of the question's weight (less the breadcrumb's terms) in the answer's best unit.
    pub unit: f32,
    /// Cosine similarity of the question and the answer's best unit.
    pub unit_cosine: f32,
}

/// A site's index plus the embedding model it was built with.
pub struct Engine {
    index: Index,
    model: Arc<Model>,
    params: Params,
}

impl Engine {
    /// Pairs an index with a model; refuses an index built with another model.
    pub fn new(index: Index, model: Arc<Model>) -> Result<Engine, LoadError> {
        if index.header.model_id != model.id {
            return Err(LoadError::ModelMismatch { index: index.header.model_id.clone(), loaded: model.id.clone() });
        }
        if index.vectors.iter().any(|v| v.dims() != model.dims as usize) {
            return Err(LoadError::Corrupt("vector dimensions differ from the model's".into()));
        }
        Ok(Engine { index, model, params: Params::default() })
    }

    pub fn with_params(mut self, params: Params) -> Engine {
        self.params = params;
        self
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn config(&self) -> &crate::config::SiteConfig {
        &self.index.body.config
    }

    pub fn chunk(&self, i: u32) -> &Chunk {
        &self.index.body.chunks[i as usize]
    }

    /// Analyses a question: weighted unique terms and its embedding.
    pub fn query(&self, question: &str) -> Query {
        let bm25 = &self.index.body.bm25;
        let max_idf = bm25.max_idf();
        let mut terms: Vec<String> = Vec::new();
        for t in text::terms(question) {
            if !terms.contains(&t) {
                terms.push(t);
            }
        }
        let weights: Vec<f32> = terms
            .iter()
            .map(|t| match bm25.idf(t) {
                0.0 if !bm25.knows(t) => max_idf * self.params.unknown_weight,
                w => w,
            })
            .collect();
        let total: f32 = weights.iter().sum();
        let known_weight: f32 = terms.iter().zip(&weights).filter(|(t, _)| bm25.knows(t)).map(|(_, w)| w).sum();
        let known = if total > 0.0 { known_weight / total } else { 0.0 };
        Query { terms, weights, total, known, vector: self.model.embed(question) }
    }

    /// The best sections for a question, best first.
    pub fn search(&self, question: &str, k: usize) -> Vec<Hit> {
        let q = self.query(question);
        let mut hits = self.candidates(&q);
        hits.truncate(k);
        hits
    }

    /// Every fused candidate, best first.
    fn candidates(&self, q: &Query) -> Vec<Hit> {
        let body = &self.index.body;
        let p = &self.params;
        let lexical = body.bm25.search_weighted(&q.terms, &q.weights, p.lexical_candidates, p.k1, p.b);
        let mut candidates: Vec<(u32, f32, f32)> = lexical.iter().map(|m| (m.doc, m.score, m.covered)).collect();
        if q.vector.iter().any(|&x| x != 0.0) && p.semantic_candidates > 0 {
            let qvec = Vector::quantize(&q.vector);
            let mut search = instant_distance::Search::default();
            for item in self.index.hnsw.search(&qvec, &mut search).take(p.semantic_candidates) {
                if !candidates.iter().any(|c| c.0 == *item.value) {
                    candidates.push((*item.value, 0.0, 0.0));
                }
            }
        }
        if candidates.is_empty() {
            return Vec::new();
        }
        let cosines: Vec<f32> = candidates.iter().map(|c| self.index.vectors[c.0 as usize].cosine_f32(&q.vector)).collect();
        let b = min_max(candidates.iter().map(|c| c.1));
        let c = min_max(cosines.iter().copied());
        let total = q.total.max(1e-6);
        let mut hits: Vec<Hit> = candidates
            .iter()
            .enumerate()
            .map(|(i, &(chunk, bm25, covered))| {
                let coverage = (covered / total).clamp(0.0, 1.0);
                Hit {
                    chunk,
                    score: p.w_bm25 * b.apply(bm25) + p.w_cosine * c.apply(cosines[i]) + p.w_coverage * coverage,
                    bm25,
                    cosine: cosines[i],
                    coverage,
                }
            })
            .collect();
        hits.sort_by(|x, y| y.score.total_cmp(&x.score).then(x.chunk.cmp(&y.chunk)));
        hits
    }

    /// Answers a question from the docs, or says it does not know.
    pub fn answer(&self, question: &str) -> Answer {
        self.respond(question, 0).answer
    }

    /// The sections an answer was drawn from (its citations first), for rephrasing.
    pub fn passages(&self, response: &Response, n: usize) -> Vec<&Chunk> {
        response.hits.iter().take(n).map(|h| self.chunk(h.chunk)).collect()
    }

    /// Ranks the sections and answers: the answer plus the best `k` sections.
    pub fn respond(&self, question: &str, k: usize) -> Response {
        let p = &self.params;
        let q = self.query(question);
        let mut hits = self.candidates(&q);
        if hits.is_empty() {
            return Response { answer: dont_know(0.0), hits, evidence: Evidence { known: q.known, ..Evidence::default() } };
        }
        // Score the units of the best sections; the best unit's match moves its section up.
        let n = p.answer_sections.min(hits.len());
        let similarity = |s: &str| embed::dot(&self.model.embed(s), &q.vector);
        let mut scored: Vec<(u32, compose::Scored, compose::Pick)> = Vec::with_capacity(n);
        for hit in hits.iter_mut().take(n) {
            let chunk = self.chunk(hit.chunk);
            let units = compose::Scored::new(&chunk.text, &chunk.breadcrumb, &q, &similarity);
            let pick = units.best(p.w_unit_cosine).unwrap_or_default();
            hit.score += p.w_rerank * pick.score;
            scored.push((hit.chunk, units, pick));
        }
        hits[..n].sort_by(|x, y| y.score.total_cmp(&x.score).then(x.chunk.cmp(&y.chunk)));
        let best = hits[0].clone();
        let runner_up = hits.get(1).filter(|_| n > 1).map(|h| h.chunk);
        let position = scored.iter().position(|s| s.0 == best.chunk).expect("the best hit was scored");
        let (_, units, pick) = scored.swap_remove(position);
        let second = runner_up.and_then(|c| scored.into_iter().find(|s| s.0 == c));
        let evidence =
            Evidence { coverage: best.coverage, cosine: best.cosine, known: q.known, unit: pick.lexical, unit_cosine: pick.cosine };
        let confidence = self.confidence(&evidence);
        hits.truncate(k.max(1));
        if confidence < self.config().confidence_threshold {
            return Response { answer: dont_know(confidence), hits, evidence };
        }
        let chunk = self.chunk(best.chunk);
        let mut text = units.extract(p.w_answer_cosine);
        let mut citations = vec![citation(chunk)];
        // A runner-up section whose best unit matches nearly as well adds that unit (and its
        // citation) when it fits: two sections that both look right beat a coin toss.
        if let Some((chunk2, units2, pick2)) = second {
            let extra = &units2.units[pick2.unit].text;
            if p.second_ratio > 0.0
                && pick2.score >= p.second_ratio * pick.score
                && text.chars().count() + extra.chars().count() + 2 <= compose::ANSWER_CHARS
                && !text.contains(extra.as_str())
            {
                text = format!("{text}\n\n{extra}");
                citations.push(citation(self.chunk(chunk2)));
            }
        }
        let answer = Answer { text, citations, confidence, handoff: false };
        Response { answer, hits, evidence }
    }

    /// Maps the evidence to [0, 1] with the fitted logistic curve.
    pub fn confidence(&self, e: &Evidence) -> f32 {
        let p = &self.params;
        let z = p.c_coverage * e.coverage
            + p.c_cosine * e.cosine
            + p.c_known * e.known
            + p.c_unit * e.unit
            + p.c_unit_cosine * e.unit_cosine
            + p.c_bias;
        1.0 / (1.0 + (-z).exp())
    }
}

/// Min–max normalisation over a candidate set.
#[derive(Clone, Copy)]
struct MinMax {
    lo: f32,
    hi: f32,
}

fn min_max(vals: impl Iterator<Item = f32>) -> MinMax {
    let (lo, hi) = vals.fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    MinMax { lo, hi }
}

impl MinMax {
    fn apply(self, v: f32) -> f32 {
        if self.hi > self.lo {
            (v - self.lo) / (self.hi - self.lo)
        } else if self.hi > 0.0 {
            1.0
        } else {
            0.0
        }
    }
}

pub fn citation(chunk: &Chunk) -> Citation {
    Citation { title: chunk.title.clone(), heading: chunk.heading.clone(), url: chunk.url.clone(), path: chunk.path.clone() }
}

/// The honest answer when the docs don't have it (in English; `conversation` says it in the
/// visitor's language).
pub const DONT_KNOW: &str = crate::i18n::EN.dont_know;

/// The honest answer when the docs don't have it.
pub fn dont_know(confidence: f32) -> Answer {
    Answer { text: DONT_KNOW.into(), citations: Vec::new(), confidence, handoff: true }
}
