//! The learned half of the handoff decision: a small neural network over the message's static
//! embedding (the mean of its token vectors, `embed::Model`) and a few lexical features
//! (`handoff::lexical_features`: what a mean of token vectors cannot see — who asks, negation,
//! question form, the precise rules' verdict). Four classes: a request for a person, an urgent
//! incident, frustration, none.
//!
//! `index-builder handoff train` fits it on the shared public datasets (and Baton's own
//! docs-chat examples), deterministically from a seed; the weights ship in
//! `model/handoff.classifier` (a checked container like the model's) and are copied into every
//! index at `index-builder build`, together with the site's own examples from `baton.toml`
//! (`[handoff] examples`): the site head, a nearest-example vote that overrides the network
//! where a message is very close to one of the site's labelled messages.
//!
//! A forward pass is one 280×32 and one 32×4 matrix product: a few microseconds.

use super::embed::Model;
use crate::handoff;
use crate::index::{read_container, write_container, LoadError};
use serde::{Deserialize, Serialize};

pub const CLASSIFIER_MAGIC: &[u8; 8] = b"BATONHDC";
/// Bump on every change to `HandoffClassifier` or to `handoff::LEXICAL_FEATURES`' meaning.
pub const CLASSIFIER_FORMAT_VERSION: u32 = 1;
/// The most examples a site may give (each costs a 256-dim dot product per message).
pub const MAX_SITE_EXAMPLES: usize = 500;

/// What a visitor message is about, as far as a person is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Class {
    /// The visitor asks, now, for a person.
    ExplicitRequest,
    /// An incident that should reach a person at once: production down, data loss, a security
    /// breach, payments failing, a deadline today.
    Urgent,
    /// The visitor is fed up — with the bot, the answers, or the situation.
    Frustration,
    None,
}

pub const CLASSES: [Class; 4] = [Class::ExplicitRequest, Class::Urgent, Class::Frustration, Class::None];

impl Class {
    /// The snake_case name used in data files, `baton.toml` examples and `index-builder triage`.
    pub fn key(self) -> &'static str {
        match self {
            Class::ExplicitRequest => "explicit_request",
            Class::Urgent => "urgent",
            Class::Frustration => "frustration",
            Class::None => "none",
        }
    }

    /// Parses a label; `explicit_human` (the shared datasets' name) is the same class.
    pub fn parse(s: &str) -> Option<Class> {
        match s {
            "explicit_request" | "explicit_human" => Some(Class::ExplicitRequest),
            "urgent" => Some(Class::Urgent),
            "frustration" => Some(Class::Frustration),
            "none" => Some(Class::None),
            _ => None,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Probability thresholds: a class is taken when its probability reaches its threshold (the
/// most probable such class wins); below all of them, `None`. Chosen on the tune split, with
/// the request threshold set for precision first.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub explicit_request: f32,
    pub urgent: f32,
    pub frustration: f32,
}

impl Thresholds {
    pub fn of(&self, c: Class) -> f32 {
        match c {
            Class::ExplicitRequest => self.explicit_request,
            Class::Urgent => self.urgent,
            Class::Frustration => self.frustration,
            Class::None => 0.0,
        }
    }
}

/// One of the site's own labelled messages, embedded at build time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiteExample {
    pub text: String,
    pub class: Class,
    pub vector: Vector,
}

/// The network's weights, the decision thresholds and the site's examples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HandoffClassifier {
    /// The embedding model the inputs come from; an index refuses a classifier of another.
    pub model_id: String,
    pub dims: u32,
    /// The lexical features it was trained with, in input order (`handoff::LEXICAL_FEATURES`).
    pub lexical: Vec<String>,
    /// Hidden units (0: a linear softmax over the inputs).
    pub hidden: u32,
    /// `hidden × inputs` (or `classes × inputs` when `hidden` is 0), row-major.
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    /// `classes × hidden`, row-major (empty when `hidden` is 0).
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
    pub thresholds: Thresholds,
    /// A site example at least this similar (cosine) to a message decides for it; halfway
    /// between this and 1.0 it weighs as much as the network.
    pub example_similarity: f32,
    /// The English request rules (`handoff::Request::Clause`) count only when the network gives
    /// a request at least this probability: they veto nothing, but are vetoed on messages that
    /// plainly are something else.
    pub rule_floor: f32,
    /// What it was trained on, with which seed (shown by `index-builder handoff info`).
    pub provenance: String,
    /// The site's own labelled messages (empty in the shipped base).
    pub examples: Vec<SiteExample>,
}

/// What the classifier concluded about one message.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// By `CLASSES` order.
    pub probabilities: [f32; 4],
    pub class: Class,
    /// The site example that weighed in (its index and cosine), if any.
    pub example: Option<(usize, f32)>,
}

impl Prediction {
    pub fn probability(&self, c: Class) -> f32 {
        self.probabilities[c.index()]
    }
}

impl HandoffClassifier {
    /// A classifier with no opinion (every class equally likely, below every threshold): only
    /// the rules decide. For tests and tools that need an index without the shipped weights.
    pub fn uniform(model_id: &str, dims: u32) -> HandoffClassifier {
        let n = dims as usize + handoff::LEXICAL_FEATURES.len();
        HandoffClassifier {
            model_id: model_id.to_string(),
            dims,
            lexical: handoff::LEXICAL_FEATURES.iter().map(|s| s.to_string()).collect(),
            hidden: 0,
            w1: vec![0.0; CLASSES.len() * n],
            b1: vec![0.0; CLASSES.len()],
            w2: Vec::new(),
            b2: Vec::new(),
            thresholds: Thresholds { explicit_request: 0.5, urgent: 0.5, frustration: 0.5 },
            example_similarity: 0.9,
            rule_floor: 0.0,
            provenance: "uniform (no training)".into(),
            examples: Vec::new(),
        }
    }

    pub fn inputs_len(&self) -> usize {
        self.dims as usize + self.lexical.len()
    }

    /// The network's inputs for a message: its embedding (quoted spans removed: a quoted word is
    /// talked about, not used) then the lexical features.
    pub fn inputs(model: &Model, text: &str) -> Vec<f32> {
        let mut x = model.embed(&handoff::strip_quotes(text));
        x.extend_from_slice(&handoff::lexical_features(text));
        x
    }

    /// Checks shapes and values after loading untrusted bytes, so a forward pass can't panic.
    pub fn check(&self) -> Result<(), String> {
        let expected: Vec<&str> = handoff::LEXICAL_FEATURES.to_vec();
        if self.lexical.iter().map(String::as_str).ne(expected.iter().copied()) {
            return Err("handoff classifier: trained with other lexical features (retrain it with this Baton)".into());
        }
        let n = self.inputs_len();
        let h = self.hidden as usize;
        let k = CLASSES.len();
        let shapes_ok = if h == 0 {
            self.w1.len() == k * n && self.b1.len() == k && self.w2.is_empty() && self.b2.is_empty()
        } else {
            self.w1.len() == h * n && self.b1.len() == h && self.w2.len() == k * h && self.b2.len() == k
        };
        if !shapes_ok || self.dims == 0 || h > 4096 {
            return Err("handoff classifier: weight shapes are inconsistent".into());
        }
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        let t = &self.thresholds;
        if !(finite(&self.w1) && finite(&self.b1) && finite(&self.w2) && finite(&self.b2))
            || ![t.explicit_request, t.urgent, t.frustration, self.example_similarity, self.rule_floor]
                .iter()
                .all(|x| (0.0..=1.0).contains(x))
        {
            return Err("handoff classifier: a weight or threshold is out of range".into());
        }
        if self.examples.len() > MAX_SITE_EXAMPLES || self.examples.iter().any(|e| e.vector.dims() != self.dims as usize) {
            return Err("handoff classifier: site examples are malformed".into());
        }
        Ok(())
    }

    /// Class probabilities of the network alone, from `inputs`.
    pub fn network(&self, x: &[f32]) -> [f32; 4] {
        let n = self.inputs_len();
        let mut z = [0f32; 4];
        if self.hidden == 0 {
            for (c, zc) in z.iter_mut().enumerate() {
                *zc = self.b1[c] + dot(&self.w1[c * n..(c + 1) * n], x);
            }
        } else {
            let h = self.hidden as usize;
            let mut a = vec![0f32; h];
            for (j, aj) in a.iter_mut().enumerate() {
                *aj = (self.b1[j] + dot(&self.w1[j * n..(j + 1) * n], x)).max(0.0);
            }
            for (c, zc) in z.iter_mut().enumerate() {
                *zc = self.b2[c] + dot(&self.w2[c * h..(c + 1) * h], &a);
            }
        }
        softmax(z)
    }

    /// The decision for a message: the network, then the site's closest example if one is
    /// close enough, then the thresholds.
    pub fn predict(&self, model: &Model, text: &str) -> Prediction {
        self.predict_inputs(Self::inputs(model, text))
    }

    /// `predict` from the parts `handoff::assess` has already computed: the text without quoted
    /// spans and its lexical features.
    pub fn predict_features(&self, model: &Model, unquoted: &str, lexical: &[f32]) -> Prediction {
        let mut x = model.embed(unquoted);
        x.extend_from_slice(lexical);
        self.predict_inputs(x)
    }

    fn predict_inputs(&self, x: Vec<f32>) -> Prediction {
        let mut p = self.network(&x);
        let mut example = None;
        if !self.examples.is_empty() && x[..self.dims as usize].iter().any(|&v| v != 0.0) {
            let v = &x[..self.dims as usize];
            let best = self
                .examples
                .iter()
                .enumerate()
                .map(|(i, e)| (i, e.vector.cosine_f32(v)))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            if let Some((i, cos)) = best.filter(|&(_, cos)| cos >= self.example_similarity) {
                // At the threshold the example weighs as much as the network; at 1.0 it decides.
                let w = ((cos - self.example_similarity) / (1.0 - self.example_similarity).max(1e-3) * 0.5 + 0.5).clamp(0.5, 1.0);
                let c = self.examples[i].class.index();
                for (k, pk) in p.iter_mut().enumerate() {
                    *pk = (1.0 - w) * *pk + if k == c { w } else { 0.0 };
                }
                example = Some((i, cos));
            }
        }
        Prediction { class: self.decide(&p), probabilities: p, example }
    }

    /// Thresholds → class: the most probable class that reaches its threshold, else `None`.
    pub fn decide(&self, p: &[f32; 4]) -> Class {
        CLASSES[..3]
            .iter()
            .copied()
            .filter(|&c| p[c.index()] >= self.thresholds.of(c))
            .max_by(|a, b| p[a.index()].total_cmp(&p[b.index()]))
            .unwrap_or(Class::None)
    }

    /// The same classifier with a site's examples (texts and classes), embedded with `model`.
    pub fn with_examples(mut self, model: &Model, examples: &[(String, Class)]) -> Result<Self, String> {
        if examples.len() > MAX_SITE_EXAMPLES {
            return Err(format!("{} examples: at most {MAX_SITE_EXAMPLES} are used", examples.len()));
        }
        self.examples = examples
            .iter()
            .map(|(text, class)| SiteExample {
                text: text.clone(),
                class: *class,
                vector: Vector::quantize(&model.embed(&handoff::strip_quotes(text))),
            })
            .collect();
        Ok(self)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        write_container(CLASSIFIER_MAGIC, CLASSIFIER_FORMAT_VERSION, &self.model_id, None, self)
    }

    /// Decodes and checks a classifier file. Never panics, whatever the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<HandoffClassifier, LoadError> {
        let (header, body) = read_container(bytes, CLASSIFIER_MAGIC, CLASSIFIER_FORMAT_VERSION, "handoff classifier")?;
        let c: HandoffClassifier = postcard::from_bytes(body).map_err(|e| LoadError::Corrupt(format!("handoff classifier: {e}")))?;
        if c.model_id != header.model_id {
            return Err(LoadError::Corrupt("handoff classifier: model id disagrees with its header".into()));
        }
        c.check().map_err(LoadError::Corrupt)?;
        Ok(c)
    }
}

/// A site example's embedding, a unit vector quantised to int8 with one scale (a few hundred
/// of them at most: no need for the index's in-place tables).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vector {
    scale: f32,
    #[serde(with = "serde_bytes")]
    q: Vec<u8>,
}

impl Vector {
    pub fn quantize(v: &[f32]) -> Vector {
        let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        Vector { scale, q: v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8 as u8).collect() }
    }

    pub fn dims(&self) -> usize {
        self.q.len()
    }

    /// Cosine similarity with an f32 unit vector.
    pub fn cosine_f32(&self, v: &[f32]) -> f32 {
        self.q.iter().zip(v).map(|(&a, &b)| (a as i8) as f32 * b).sum::<f32>() * self.scale
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Four accumulators: the compiler vectorises this (a plain fold is a serial chain).
    let mut acc = [0f32; 4];
    let (ca, ra) = a.as_chunks::<4>();
    let (cb, rb) = b.as_chunks::<4>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..4 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
}

pub fn softmax(z: [f32; 4]) -> [f32; 4] {
    let m = z.iter().fold(f32::MIN, |m, &v| m.max(v));
    let e = z.map(|v| (v - m).exp());
    let s: f32 = e.iter().sum();
    e.map(|v| v / s)
}
