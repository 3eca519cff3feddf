//! The answer engine: question → lexical + semantic candidates → fused ranking → an extractive
//! answer with citations and a calibrated confidence. Plain Rust: the same code runs natively
//! in `index-builder ask` and as wasm in the worker.
//!
//! 1. The question becomes unique BM25 terms, each weighted by its idf (a term the docs never
//!    use weighs half the ceiling idf: information the docs cannot match), and an embedding. A
//!    follow-up that does not stand alone ("and for arrays?") borrows the previous question's
//!    terms and meaning at a lower weight (`scope::is_follow_up`).
//! 2. BM25 and the nearest embeddings each propose candidate sections. Each candidate gets
//!    [`Features`]: its own BM25 and cosine (normalised over the candidates), its coverage of the
//!    question, and its page's evidence — the page scored as one document, the question's words
//!    in the page title and in the section's headings, how many candidates the page has — and
//!    [`Params::fuse`] mixes them linearly.
//! 3. The best sections' sentences, list items and code blocks are scored against the question;
//!    each section's best unit moves it up or down. The top section's best unit, with what it
//!    leans on and what it announces (`compose::Scored::span`), is the answer; that section is
//!    cited. A runner-up section that matches nearly as well is added under its own name.
//! 4. The confidence is a logistic function of how much of the question the best section and
//!    its best unit cover, how close they are in meaning, how much of the question the docs know
//!    at all, how far the best page leads the next, and cues that the docs cannot answer (a crash
//!    report, a release date, a business request: `scope::cues`) — fitted on the bench's tune
//!    halves (docs/benchmarks.md), so the default threshold hands such questions to a person.

pub mod bm25;
pub mod compose;
pub mod embed;
pub mod handoff_classifier;
pub mod rephrase;
pub mod scope;
pub mod text;
pub mod vectors;

use crate::index::{Chunk, Index, LoadError};
use crate::protocol::{Answer, Citation};
use embed::Model;
use std::sync::Arc;

/// Tunable knobs of retrieval, answer selection and confidence. `Params::default()` holds the
/// values fitted on the bench's tune halves (question ids ending in an odd hex digit; held-out
/// figures on the others in docs/benchmarks.md); `index-builder ask --params k=v,...` overrides
/// them for experiments.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// BM25 term-frequency saturation.
    pub k1: f32,
    /// BM25 length normalisation.
    pub b: f32,
    /// Candidates from BM25 before fusion.
    pub lexical_candidates: usize,
    /// Candidates from the nearest embeddings before fusion.
    pub semantic_candidates: usize,
    /// Fusion weights of each [`Features`] field (see [`Params::fuse`]).
    pub w_bm25: f32,
    pub w_cosine: f32,
    pub w_coverage: f32,
    pub w_bm25_coverage: f32,
    pub w_page_bm25: f32,
    pub w_page_coverage: f32,
    pub w_title: f32,
    pub w_heading: f32,
    pub w_semantic_rank: f32,
    pub w_page_support: f32,
    pub w_intro: f32,
    /// Weight of a question term the docs never use, as a share of the highest idf.
    pub unknown_weight: f32,
    /// A question term written as code (an identifier, a dotted path, a flag) weighs this much
    /// more: it names the exact API asked about.
    pub code_boost: f32,
    /// A follow-up's borrowed terms and meaning weigh this much of its own.
    pub follow_up_weight: f32,
    /// How many of the best sections have their units scored (the unit rerank).
    pub answer_sections: usize,
    /// Weight of semantic similarity in a unit's own match.
    pub w_unit_cosine: f32,
    /// Weight of semantic similarity when picking the answer's units within the section.
    pub w_answer_cosine: f32,
    /// A runner-up section's best unit joins the answer (under its own name) when its match is
    /// at least this share of the best unit's (0 = never).
    pub second_ratio: f32,
    /// How much the best unit's match moves its section up the ranking.
    pub w_rerank: f32,
    /// Confidence: logistic coefficients of the [`Evidence`] and the intercept.
    pub c_coverage: f32,
    pub c_cosine: f32,
    pub c_known: f32,
    pub c_unit: f32,
    pub c_unit_cosine: f32,
    pub c_margin: f32,
    pub c_cues: f32,
    pub c_bias: f32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            k1: bm25::K1,
            b: 0.9,
            lexical_candidates: 60,
            semantic_candidates: 40,
            w_bm25: 0.35,
            w_cosine: 1.2,
            w_coverage: 0.6,
            w_bm25_coverage: 0.2,
            w_page_bm25: 0.6,
            w_page_coverage: 0.3,
            w_title: 0.6,
            w_heading: 0.5,
            w_semantic_rank: 0.4,
            w_page_support: 0.2,
            w_intro: 1.0,
            unknown_weight: 0.5,
            code_boost: 1.0,
            follow_up_weight: 0.4,
            answer_sections: 4,
            w_unit_cosine: 1.0,
            w_answer_cosine: 0.5,
            second_ratio: 0.7,
            w_rerank: 2.2,
            c_coverage: 0.920,
            c_cosine: 3.117,
            c_known: 3.050,
            c_unit: 3.645,
            c_unit_cosine: 2.317,
            c_margin: 0.301,
            c_cues: -3.268,
            c_bias: -6.525,
        }
    }
}

impl Params {
    /// A candidate's score from its features: the fusion of lexical, semantic and page evidence.
    pub fn fuse(&self, f: &Features) -> f32 {
        self.w_bm25 * f.bm25
            + self.w_cosine * f.cosine
            + self.w_coverage * f.coverage
            + self.w_bm25_coverage * f.bm25 * f.coverage
            + self.w_page_bm25 * f.page_bm25
            + self.w_page_coverage * f.page_coverage
            + self.w_title * f.title
            + self.w_heading * f.heading
            + self.w_semantic_rank * f.semantic_rank
            + self.w_page_support * f.page_support
            + self.w_intro * f.intro
    }

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
                "w_bm25_coverage" => self.w_bm25_coverage = f,
                "w_page_bm25" => self.w_page_bm25 = f,
                "w_page_coverage" => self.w_page_coverage = f,
                "w_title" => self.w_title = f,
                "w_heading" => self.w_heading = f,
                "w_semantic_rank" => self.w_semantic_rank = f,
                "w_page_support" => self.w_page_support = f,
                "w_intro" => self.w_intro = f,
                "unknown_weight" => self.unknown_weight = f,
                "code_boost" => self.code_boost = f,
                "follow_up_weight" => self.follow_up_weight = f,
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
                "c_margin" => self.c_margin = f,
                "c_cues" => self.c_cues = f,
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
    /// The ranking's evidence.
    pub features: Features,
}

/// What the ranking knows about one candidate section, each in [0, 1].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Features {
    /// The section's BM25 score, min–max normalised over the candidates.
    pub bm25: f32,
    /// The section's cosine, min–max normalised over the candidates.
    pub cosine: f32,
    /// Share of the question's weight the section contains (body or headings).
    pub coverage: f32,
    /// The section's page scored as one document (BM25 over whole pages), over the best page's.
    pub page_bm25: f32,
    /// Share of the question's weight found anywhere on the section's page.
    pub page_coverage: f32,
    /// Share of the question's weight in the page title.
    pub title: f32,
    /// Share of the question's weight in the section's own headings (the breadcrumb after the
    /// title).
    pub heading: f32,
    /// The section's rank by cosine among the candidates, as `6 / (6 + rank)`: a rank is robust
    /// where a raw cosine's scale is not.
    pub semantic_rank: f32,
    /// How many candidates come from the section's page, over the most any page has: a page
    /// many of whose sections match is about the question.
    pub page_support: f32,
    /// `title` when the section is the page's opening (no heading of its own), else 0: a
    /// question that names a page ("How do I embed the widget?" → "Embedding the widget")
    /// wants the page's opening, not whichever of its subsections shares the most words.
    pub intro: f32,
}

/// Which page each chunk belongs to: `chunk_pages` writes a page's chunks one after another,
/// so a page is a run of chunks with the same path.
struct Pages {
    of_chunk: Vec<u32>,
    /// Each page's BM25 length (its chunks' summed).
    len: Vec<f32>,
}

impl Pages {
    /// From the index's page table (each page's first chunk) and BM25's section lengths.
    fn new(page_starts: &[u32], chunks: usize, bm25: &bm25::Bm25) -> Pages {
        let mut of_chunk = Vec::with_capacity(chunks);
        let mut len: Vec<f32> = vec![0.0; page_starts.len().max(1)];
        let mut page = 0usize;
        for i in 0..chunks {
            while page + 1 < page_starts.len() && page_starts[page + 1] as usize <= i {
                page += 1;
            }
            of_chunk.push(page as u32);
            len[page] += bm25.doc_len(i as u32) as f32;
        }
        Pages { of_chunk, len }
    }
}

/// A question, analysed once.
pub struct Query {
    /// Unique BM25 terms, in question order.
    pub terms: Vec<String>,
    /// Each term's weight: its idf, or the ceiling idf for a term the docs never use (a
    /// follow-up's borrowed terms weigh less).
    pub weights: Vec<f32>,
    /// Sum of `weights`.
    pub total: f32,
    /// Share of the question's weight made of terms the docs use somewhere, in [0, 1].
    pub known: f32,
    /// The question's embedding (unit length, or zeros when no token is known).
    pub vector: Vec<f32>,
    /// The question did not stand alone: the previous question's terms and meaning joined it.
    pub follow_up: bool,
    /// Surface cues that the docs cannot answer it.
    pub cues: scope::Cues,
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
    /// The best section's coverage of the question.
    pub coverage: f32,
    /// The best section's cosine.
    pub cosine: f32,
    pub known: f32,
    /// Share of the question's weight in the answer's best unit (or its breadcrumb).
    pub unit: f32,
    /// Cosine similarity of the question and the answer's best unit.
    pub unit_cosine: f32,
    /// How far the best section's final score leads the best section of another page.
    pub margin: f32,
    /// How many of `scope::Cues` fired.
    pub cues: f32,
}

/// A site's index plus the embedding model it was built with.
pub struct Engine {
    index: Index,
    model: Arc<Model>,
    params: Params,
    pages: Pages,
}

impl Engine {
    /// Pairs an index with a model; refuses an index built with another model.
    pub fn new(index: Index, model: Arc<Model>) -> Result<Engine, LoadError> {
        if index.header.model_id != model.id {
            return Err(LoadError::ModelMismatch { index: index.header.model_id.clone(), loaded: model.id.clone() });
        }
        if index.body.vectors.dims() != model.dims as usize && !index.body.vectors.is_empty() {
            return Err(LoadError::Corrupt("vector dimensions differ from the model's".into()));
        }
        let classifier = &index.body.handoff;
        if classifier.model_id != model.id || classifier.dims != model.dims {
            return Err(LoadError::Corrupt(format!("the handoff classifier was trained on model {:?}", classifier.model_id)));
        }
        let pages = Pages::new(&index.body.page_starts, index.body.chunks.len(), &index.body.bm25);
        Ok(Engine { index, model, params: Params::default(), pages })
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

    /// The site's handoff classifier with the model it reads (`handoff::triage`'s learned half).
    pub fn learned(&self) -> crate::handoff::Learned<'_> {
        crate::handoff::Learned { model: &self.model, classifier: &self.index.body.handoff }
    }

    pub fn chunk(&self, i: u32) -> &Chunk {
        &self.index.body.chunks[i as usize]
    }

    /// Analyses a question that stands alone: weighted unique terms and its embedding.
    pub fn query(&self, question: &str) -> Query {
        self.query_in(question, &[])
    }

    /// Analyses a question asked after `previous` (the visitor's earlier questions, oldest
    /// first). A follow-up that does not stand alone ("and for arrays?") takes the last
    /// question's terms and meaning at `follow_up_weight`; a question that does is analysed
    /// alone.
    pub fn query_in(&self, question: &str, previous: &[String]) -> Query {
        let bm25 = &self.index.body.bm25;
        let p = &self.params;
        let max_idf = bm25.max_idf();
        let weigh = |t: &str, code: &[String]| {
            let w = match bm25.idf(t) {
                0.0 if !bm25.knows(t) => max_idf * p.unknown_weight,
                w => w,
            };
            if code.iter().any(|c| c == t) {
                w * p.code_boost
            } else {
                w
            }
        };
        let mut terms: Vec<String> = Vec::new();
        for t in text::terms(question) {
            if !terms.contains(&t) {
                terms.push(t);
            }
        }
        let code = text::code_terms(question);
        let mut weights: Vec<f32> = terms.iter().map(|t| weigh(t, &code)).collect();
        let mut vector = self.model.embed(question);
        let context = previous.iter().rev().find(|q| !q.trim().is_empty());
        let follow_up = context.is_some() && p.follow_up_weight > 0.0 && scope::is_follow_up(question, terms.len());
        if let (true, Some(before)) = (follow_up, context) {
            let code = text::code_terms(before);
            for t in text::terms(before) {
                if !terms.contains(&t) {
                    weights.push(weigh(&t, &code) * p.follow_up_weight);
                    terms.push(t);
                }
            }
            let v = self.model.embed(before);
            for (x, y) in vector.iter_mut().zip(&v) {
                *x += p.follow_up_weight * y;
            }
            embed::normalize(&mut vector);
        }
        let total: f32 = weights.iter().sum();
        let known_weight: f32 = terms.iter().zip(&weights).filter(|(t, _)| bm25.knows(t)).map(|(_, w)| w).sum();
        let known = if total > 0.0 { known_weight / total } else { 0.0 };
        Query { terms, weights, total, known, vector, follow_up, cues: scope::cues(question) }
    }

    /// The best sections for a question, best first.
    pub fn search(&self, question: &str, k: usize) -> Vec<Hit> {
        let q = self.query(question);
        let mut hits = self.candidates(&q);
        hits.truncate(k);
        hits
    }

    /// Every fused candidate, best first.
    pub fn candidates(&self, q: &Query) -> Vec<Hit> {
        let body = &self.index.body;
        let p = &self.params;
        let lexical = body.bm25.search_weighted(&q.terms, &q.weights, p.lexical_candidates, p.k1, p.b);
        let mut candidates: Vec<(u32, f32, f32)> = lexical.iter().map(|m| (m.doc, m.score, m.covered)).collect();
        if q.vector.iter().any(|&x| x != 0.0) && p.semantic_candidates > 0 {
            for (chunk, _) in self.index.nearest(&q.vector, p.semantic_candidates) {
                if !candidates.iter().any(|c| c.0 == chunk) {
                    candidates.push((chunk, 0.0, 0.0));
                }
            }
        }
        if candidates.is_empty() {
            return Vec::new();
        }
        let cosines: Vec<f32> = candidates.iter().map(|c| self.index.cosine(c.0, &q.vector)).collect();
        let features = self.features(q, &candidates, &cosines);
        let mut hits: Vec<Hit> = candidates
            .iter()
            .zip(features)
            .enumerate()
            .map(|(i, (&(chunk, bm25, _), features))| Hit {
                chunk,
                score: p.fuse(&features),
                bm25,
                cosine: cosines[i],
                coverage: features.coverage,
                features,
            })
            .collect();
        hits.sort_by(|x, y| y.score.total_cmp(&x.score).then(x.chunk.cmp(&y.chunk)));
        hits
    }

    /// The ranking's evidence for each candidate `(chunk, bm25, covered weight)` with its cosine.
    fn features(&self, q: &Query, candidates: &[(u32, f32, f32)], cosines: &[f32]) -> Vec<Features> {
        let p = &self.params;
        let pages = self.index.body.bm25.search_groups(&q.terms, &q.weights, &self.pages.of_chunk, &self.pages.len, p.k1, p.b);
        let best_page = pages.score.iter().fold(0f32, |m, &s| m.max(s));
        let b = min_max(candidates.iter().map(|c| c.1));
        let c = min_max(cosines.iter().copied());
        let total = q.total.max(1e-6);
        let share = |found: Vec<bool>| found.iter().zip(&q.weights).filter(|(f, _)| **f).map(|(_, w)| w).sum::<f32>() / total;
        let mut by_cosine: Vec<usize> = (0..candidates.len()).collect();
        by_cosine.sort_by(|&x, &y| cosines[y].total_cmp(&cosines[x]).then(x.cmp(&y)));
        let mut semantic_rank = vec![0f32; candidates.len()];
        for (rank, &i) in by_cosine.iter().enumerate() {
            semantic_rank[i] = 6.0 / (6.0 + rank as f32);
        }
        let page_of = |chunk: u32| self.pages.of_chunk[chunk as usize];
        let mut support: Vec<(u32, f32)> = Vec::new();
        for &(chunk, _, _) in candidates {
            match support.iter_mut().find(|s| s.0 == page_of(chunk)) {
                Some(s) => s.1 += 1.0,
                None => support.push((page_of(chunk), 1.0)),
            }
        }
        let most = support.iter().fold(1f32, |m, s| m.max(s.1));
        candidates
            .iter()
            .enumerate()
            .map(|(i, &(chunk, bm25, covered))| {
                let page = page_of(chunk);
                let ch = self.chunk(chunk);
                let trail = ch.breadcrumb.strip_prefix(ch.title.as_str()).unwrap_or("");
                let title = share(text::contains_terms(&ch.title, &q.terms));
                Features {
                    bm25: b.apply(bm25),
                    cosine: c.apply(cosines[i]),
                    coverage: (covered / total).clamp(0.0, 1.0),
                    page_bm25: if best_page > 0.0 { pages.score[page as usize] / best_page } else { 0.0 },
                    page_coverage: (pages.covered[page as usize] / total).clamp(0.0, 1.0),
                    title,
                    heading: share(text::contains_terms(trail, &q.terms)),
                    semantic_rank: semantic_rank[i],
                    page_support: support.iter().find(|s| s.0 == page).map_or(0.0, |s| s.1) / most,
                    intro: if ch.heading.is_empty() { title } else { 0.0 },
                }
            })
            .collect()
    }

    /// Answers a question from the docs, or says it does not know.
    pub fn answer(&self, question: &str) -> Answer {
        self.respond(question, 0).answer
    }

    /// Answers a question asked after `previous` (the visitor's earlier questions, oldest first).
    pub fn answer_in(&self, question: &str, previous: &[String]) -> Answer {
        self.respond_in(question, previous, 0).answer
    }

    /// The sections an answer was drawn from (its citations first), for rephrasing.
    pub fn passages(&self, response: &Response, n: usize) -> Vec<&Chunk> {
        response.hits.iter().take(n).map(|h| self.chunk(h.chunk)).collect()
    }

    /// Ranks the sections and answers: the answer plus the best `k` sections.
    pub fn respond(&self, question: &str, k: usize) -> Response {
        self.respond_in(question, &[], k)
    }

    /// [`Engine::respond`] for a question asked after `previous` (oldest first).
    pub fn respond_in(&self, question: &str, previous: &[String], k: usize) -> Response {
        let p = &self.params;
        let q = self.query_in(question, previous);
        let mut hits = self.candidates(&q);
        let cues = q.cues.count() as f32;
        if hits.is_empty() {
            let evidence = Evidence { known: q.known, cues, ..Evidence::default() };
            return Response { answer: dont_know(self.confidence(&evidence)), hits, evidence };
        }
        // Score the units of the best sections; the best unit's match moves its section up.
        let n = p.answer_sections.min(hits.len());
        let similarity = |s: &str| embed::dot(&self.model.embed(s), &q.vector);
        let mut scored: Vec<(u32, compose::Scored, compose::Pick)> = Vec::with_capacity(n);
        for hit in hits.iter_mut().take(n) {
            let chunk = self.chunk(hit.chunk);
            let mut units = compose::Scored::new(&chunk.text, &chunk.breadcrumb, &q, &similarity);
            if !chunk.heading.is_empty() {
                units.lift_cosine(similarity(&text::without_link_targets(&chunk.heading)));
            }
            let pick = units.best(p.w_unit_cosine).unwrap_or_default();
            hit.score += p.w_rerank * pick.score;
            scored.push((hit.chunk, units, pick));
        }
        hits[..n].sort_by(|x, y| y.score.total_cmp(&x.score).then(x.chunk.cmp(&y.chunk)));
        let best = hits[0].clone();
        let page_of = |chunk: u32| self.pages.of_chunk[chunk as usize];
        let margin = hits.iter().find(|h| page_of(h.chunk) != page_of(best.chunk)).map_or(best.score, |h| best.score - h.score);
        let runner_up = hits.get(1).filter(|_| n > 1).map(|h| h.chunk);
        let position = scored.iter().position(|s| s.0 == best.chunk).expect("the best hit was scored");
        let (_, units, pick) = scored.swap_remove(position);
        let second = runner_up.and_then(|c| scored.into_iter().find(|s| s.0 == c));
        let evidence = Evidence {
            coverage: best.coverage,
            cosine: best.cosine,
            known: q.known,
            unit: pick.lexical,
            unit_cosine: pick.cosine,
            margin,
            cues,
        };
        let confidence = self.confidence(&evidence);
        hits.truncate(k.max(1));
        if confidence < self.config().confidence_threshold {
            return Response { answer: dont_know(confidence), hits, evidence };
        }
        let chunk = self.chunk(best.chunk);
        let mut text = units.join(&units.span(pick.unit, p.w_answer_cosine, compose::ANSWER_CHARS));
        let mut citations = vec![citation(chunk)];
        // A runner-up section whose best unit matches nearly as well joins the answer under its
        // own name (and citation) when it fits: two sections that both look right beat a coin
        // toss, but a reader must see where one passage ends and the other begins.
        if let Some((chunk2, units2, pick2)) = second {
            let room = compose::ANSWER_CHARS.saturating_sub(text::without_link_targets(&text).chars().count());
            let extra = units2.join(&units2.span(pick2.unit, p.w_answer_cosine, room));
            let fits = text::without_link_targets(&extra).chars().count() <= room;
            if p.second_ratio > 0.0
                && !extra.is_empty()
                && pick2.score >= p.second_ratio * pick.score
                && fits
                && !extra.is_empty()
                && !text.contains(extra.as_str())
            {
                let other = self.chunk(chunk2);
                text = format!("{text}\n\nFrom **{}**:\n\n{extra}", other.breadcrumb);
                citations.push(citation(other));
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
            + p.c_margin * e.margin
            + p.c_cues * e.cues
            + p.c_bias;
        // The curve was fitted on a few hundred questions: it cannot vouch for certainty, and
        // a wrong section must never read as 1.00.
        (1.0 / (1.0 + (-z).exp())).min(MAX_CONFIDENCE)
    }
}

/// The highest confidence the engine states (see [`Engine::confidence`]).
pub const MAX_CONFIDENCE: f32 = 0.99;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SiteConfig;
    use crate::index::IndexBody;
    use bm25::{Bm25, WeightedDoc};

    /// An engine over `(path, title, heading, text)` sections (a page's sections adjacent, as
    /// `index-builder` writes them), with the toy model: most words embed to nothing, so these
    /// tests exercise the lexical and page evidence and the rules, not the model.
    fn engine_over(sections: &[(&str, &str, &str, &str)]) -> Engine {
        let model = embed::tests::toy_model();
        let chunks: Vec<Chunk> = sections
            .iter()
            .map(|&(path, title, heading, text)| Chunk {
                path: path.into(),
                url: format!("/docs/{path}#{}", heading.to_lowercase().replace(' ', "-")),
                title: title.into(),
                heading: heading.into(),
                breadcrumb: if heading.is_empty() { title.into() } else { format!("{title} › {heading}") },
                text: text.into(),
            })
            .collect();
        let body: Vec<Vec<String>> = chunks.iter().map(|c| text::terms(&c.text)).collect();
        let heads: Vec<Vec<String>> = chunks.iter().map(|c| text::terms(&c.breadcrumb)).collect();
        let docs: Vec<WeightedDoc> =
            (0..chunks.len()).map(|i| WeightedDoc { parts: vec![(body[i].as_slice(), 1), (heads[i].as_slice(), 3)] }).collect();
        let bm25 = Bm25::build(&docs);
        let embeddings: Vec<Vec<f32>> = chunks.iter().map(|c| model.embed(&format!("{}\n{}", c.breadcrumb, c.text))).collect();
        let vectors = vectors::Vectors::build(&embeddings, model.dims as usize, false);
        let handoff = handoff_classifier::HandoffClassifier::uniform(&model.id, model.dims);
        let body = IndexBody::new(SiteConfig::default(), chunks, bm25, vectors, handoff);
        let index = Index::from_bytes(Index::to_bytes(&body, "toy", None)).expect("a built index loads");
        Engine::new(index, Arc::new(model)).expect("same model")
    }

    fn docs() -> Engine {
        engine_over(&[
            ("embedding.md", "Embedding the widget", "", "Add one script tag to every page of your site:\n\n```html\n<script src=\"/widget.js\" data-site=\"docs\"></script>\n```"),
            ("embedding.md", "Embedding the widget", "Options", "- `data-color`: the accent colour.\n- `data-lang`: the language, `en` or `de`."),
            ("troubleshooting.md", "Troubleshooting", "The script fails", "Check the worker address in the tag and your policy (see [Embedding the widget](/docs/embedding)). The widget shows once the tag loads."),
            ("operators.md", "Operator guide", "Accounts", "Create an account with the operator command.\n\n```sh\nindex-builder operator add --site docs\n```\n\nIt asks for the password and stores only a salted hash."),
            ("operators.md", "Operator guide", "Taking over", "Press take over to answer the visitor yourself. Hand the thread back to the bot when you are done."),
            ("arrays.md", "Filters", "Strings", "String fields filter with `contains` and `startsWith`."),
            ("arrays.md", "Filters", "Arrays", "Array fields filter with `some`, `every` and `none`."),
        ])
    }

    fn cited(a: &Answer) -> Vec<String> {
        a.citations.iter().map(|c| format!("{}#{}", c.path, c.heading)).collect()
    }

    #[test]
    fn min_max_normalises_over_the_candidates() {
        let m = min_max([2.0, 4.0, 6.0].into_iter());
        assert_eq!((m.apply(2.0), m.apply(4.0), m.apply(6.0)), (0.0, 0.5, 1.0));
        // One value: full marks if it is evidence at all, none if it is zero.
        assert_eq!(min_max([3.0].into_iter()).apply(3.0), 1.0);
        assert_eq!(min_max([0.0, 0.0].into_iter()).apply(0.0), 0.0);
    }

    #[test]
    fn fusion_is_the_weighted_sum_of_the_features() {
        let f = Features { bm25: 1.0, title: 1.0, intro: 0.5, ..Features::default() };
        let p = Params { w_bm25: 2.0, w_title: 3.0, w_intro: 4.0, ..Params::default() };
        assert!((p.fuse(&f) - (2.0 + 3.0 + 2.0 + p.w_bm25_coverage * 0.0)).abs() < 1e-6);
        // Only the weights of features present count.
        assert_eq!(Params::default().fuse(&Features::default()), 0.0);
    }

    #[test]
    fn a_question_naming_a_page_lands_on_its_opening() {
        let e = docs();
        let r = e.respond("How do I embed the widget?", 3);
        assert_eq!(cited(&r.answer)[0], "embedding.md#", "{:?}", r.answer);
        let first = &r.hits[0].features;
        assert_eq!((first.title, first.intro), (1.0, 1.0), "the title names the question: {first:?}");
        // The troubleshooting section that only links to the page is not the answer.
        assert!(r.hits.iter().position(|h| e.chunk(h.chunk).path == "troubleshooting.md").is_none_or(|i| i > 0));
    }

    #[test]
    fn the_best_unit_reranks_sections_and_leads_the_answer() {
        let e = docs();
        let a = e.answer("How do I hand the thread back to the bot?");
        assert_eq!(cited(&a)[0], "operators.md#Taking over");
        assert!(a.text.starts_with("Press take over") || a.text.starts_with("Hand the thread back"), "{}", a.text);
        assert!(a.text.contains("Hand the thread back to the bot"), "{}", a.text);
    }

    #[test]
    fn an_answer_never_opens_with_a_dangling_pronoun_or_a_bare_code_block() {
        let e = docs();
        let a = e.answer("Does the operator command ask for the password?");
        assert_eq!(cited(&a)[0], "operators.md#Accounts");
        assert!(a.text.starts_with("Create an account with the operator command."), "{}", a.text);
        assert!(a.text.contains("```sh\nindex-builder operator add --site docs\n```"), "the code block stays whole: {}", a.text);
        assert!(a.text.contains("It asks for the password"), "{}", a.text);
    }

    #[test]
    fn confidence_is_calibrated_capped_and_lowered_by_cues() {
        let e = docs();
        let strong = Evidence { coverage: 1.0, cosine: 1.0, known: 1.0, unit: 1.0, unit_cosine: 1.0, margin: 3.0, cues: 0.0 };
        let weak = Evidence { coverage: 0.2, cosine: 0.2, known: 0.5, unit: 0.1, unit_cosine: 0.2, margin: 0.0, cues: 0.0 };
        assert_eq!(e.confidence(&strong), MAX_CONFIDENCE, "certainty is never claimed");
        assert!(e.confidence(&weak) < 0.5);
        let mut more = weak;
        more.unit = 0.9;
        assert!(e.confidence(&more) > e.confidence(&weak), "more evidence, more confidence");
        let cued = Evidence { cues: 1.0, ..strong };
        assert!(e.confidence(&cued) < e.confidence(&strong));
        // Below the site's threshold: the honest "I don't know", and a person.
        let a = e.answer("When will the new version be released? Any update on the release date?");
        assert!(a.handoff && a.citations.is_empty(), "{a:?}");
    }

    #[test]
    fn a_follow_up_is_answered_with_the_question_it_follows() {
        let e = docs();
        let first = "How do I filter string fields?".to_string();
        let alone = e.query("and for arrays?");
        assert!(!alone.follow_up);
        let q = e.query_in("and for arrays?", std::slice::from_ref(&first));
        assert!(q.follow_up && q.terms.contains(&"filter".to_string()), "{:?}", q.terms);
        let own = q.terms.iter().position(|t| t == "array").unwrap();
        let borrowed = q.terms.iter().position(|t| t == "filter").unwrap();
        assert!(q.weights[borrowed] < q.weights[own], "the borrowed terms weigh less");
        let a = e.answer_in("and for arrays?", &[first]);
        assert_eq!(cited(&a)[0], "arrays.md#Arrays", "{a:?}");
        // A question that stands alone is answered alone.
        let q = e.query_in("How do I take over a conversation?", &["How do I filter string fields?".into()]);
        assert!(!q.follow_up && !q.terms.contains(&"filter".to_string()));
    }

    #[test]
    fn a_runner_up_passage_is_named_not_spliced() {
        let e = engine_over(&[
            ("a.md", "Passwords", "", "Operator passwords are stored as salted hashes."),
            ("b.md", "Accounts", "", "Each operator password is hashed with a salt before it is stored."),
        ]);
        let a = e.answer("How are operator passwords stored?");
        assert_eq!(a.citations.len(), 2, "both sections match: {a:?}");
        let name = format!("From **{}**:", a.citations[1].breadcrumb());
        assert!(a.text.contains(&name), "the second passage says where it comes from: {}", a.text);
    }
}
