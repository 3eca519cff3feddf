//! The handoff classifier's data, training and held-out figures:
//!
//! - `index-builder handoff train`: fits `HandoffClassifier` on the shared labelled datasets
//!   (`../shared/bench/handoff/*.jsonl`) plus Baton's own docs-chat examples, and writes
//!   `model/handoff.classifier`. Deterministic: the same data and seed give the same bytes.
//! - `index-builder bench triage`: the full triage (rules + classifier) on the held-out part of
//!   every shared file — per file and overall — and its native latency.
//! - the site's own examples (`[handoff] examples` in `baton.toml`), checked line by line.
//!
//! Every row goes to one part by a stable hash of its normalised text: 60 % train (weights),
//! 10 % tune (epoch and thresholds), 30 % held out (the figures). The same text lands in the same
//! part in every file, so no held-out text was ever trained on.

use anyhow::{bail, Context, Result};
use baton_shared::config::HandoffConfig;
use baton_shared::engine::embed::Model;
use baton_shared::engine::handoff_classifier::{Class, HandoffClassifier, Thresholds, CLASSES, MAX_SITE_EXAMPLES};
use baton_shared::handoff::{self, Learned, Turns, LEXICAL_FEATURES};
use baton_shared::protocol::HandoffReason;
use rayon::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Train,
    Tune,
    HeldOut,
}

/// The part a text belongs to: a stable hash of its lowercased, whitespace-collapsed form.
pub fn part_of(text: &str) -> Part {
    let norm = text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    match xxhash_rust::xxh3::xxh3_64(norm.as_bytes()) % 100 {
        0..60 => Part::Train,
        60..70 => Part::Tune,
        _ => Part::HeldOut,
    }
}

#[derive(Clone, Debug)]
pub struct Row {
    pub text: String,
    pub class: Class,
    /// The file it came from (its stem: "bitext", "clinc150_lookalikes", …).
    pub file: String,
    /// A hard negative: a `none` that mentions people, agents, calls, errors… (the data's tag),
    /// or any row of the CLINC150 look-alike file.
    pub lookalike: bool,
    pub part: Part,
}

#[derive(serde::Deserialize)]
struct DataLine {
    text: String,
    label: String,
    #[serde(default)]
    lookalike: bool,
}

/// Reads one labelled JSON Lines file (`{"text", "label", "lookalike"?}`); a bad line is an
/// error naming the file and line.
pub fn read_rows(path: &Path, parts: impl Fn(&str) -> Part) -> Result<Vec<Row>> {
    let src = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = path.file_stem().and_then(|s| s.to_str()).unwrap_or("data").to_string();
    let mut rows = Vec::new();
    for (n, line) in src.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), n + 1);
        let l: DataLine = serde_json::from_str(line).with_context(|| format!("{}: expected {{\"text\", \"label\"}}", at()))?;
        let Some(class) = Class::parse(&l.label) else {
            bail!("{}: label {:?} is not one of explicit_request, urgent, frustration, none", at(), l.label);
        };
        let lookalike = class == Class::None && (l.lookalike || file.starts_with("clinc150"));
        rows.push(Row { part: parts(&l.text), text: l.text, class, file: file.clone(), lookalike });
    }
    Ok(rows)
}

/// Every `*.jsonl` directly in `dir` (not `ambiguous/`: its labels are guesses), by name.
pub fn read_dir(dir: &Path) -> Result<Vec<Row>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the data folder {}: pass --data ../shared/bench/handoff", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no *.jsonl files in {}", dir.display());
    }
    let mut rows = Vec::new();
    for f in files {
        rows.extend(read_rows(&f, part_of)?);
    }
    Ok(rows)
}

#[derive(serde::Deserialize)]
struct ExampleLine {
    text: String,
    label: String,
}

/// A site's own examples (`[handoff] examples`): JSON Lines `{"text", "label"}`; a wrong label,
/// an empty text or a line that does not parse is an error naming the file and line.
pub fn load_site_examples(path: &Path) -> Result<Vec<(String, Class)>> {
    let src = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read handoff examples {} (handoff.examples in baton.toml)", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in src.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{}:{}", path.display(), n + 1);
        let l: ExampleLine = serde_json::from_str(line)
            .with_context(|| format!("{at}: expected {{\"text\": \"…\", \"label\": \"explicit_request|urgent|frustration|none\"}}"))?;
        let Some(class) = Class::parse(&l.label).filter(|_| l.label != "explicit_human") else {
            bail!("{at}: label {:?} is not one of explicit_request, urgent, frustration, none", l.label);
        };
        if l.text.trim().is_empty() || l.text.chars().count() > 2000 {
            bail!("{at}: an example needs a text of 1-2000 characters");
        }
        out.push((l.text, class));
    }
    if out.len() > MAX_SITE_EXAMPLES {
        bail!("{}: {} examples, at most {MAX_SITE_EXAMPLES}: keep the ones the classifier gets wrong", path.display(), out.len());
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------------------------

/// splitmix64: a small seeded PRNG, so training is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn symmetric(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

pub struct TrainOptions {
    pub data: PathBuf,
    /// Baton's own docs-chat examples (train and tune only; never reported).
    pub extra: Vec<PathBuf>,
    pub out: PathBuf,
    pub seed: u64,
    pub hidden: usize,
    pub epochs: usize,
    /// Weight of each extra (in-domain) row relative to a shared row of its class.
    pub extra_weight: f32,
    /// Class weights are (N / (K·n_c))^balance: 0 = by frequency, 1 = balanced.
    pub balance: f32,
    /// Per-file weights ("goemotions=0.5").
    pub file_weights: BTreeMap<String, f32>,
    pub l2: f32,
    pub lr: f32,
    /// The explicit-request precision the threshold must keep on tune look-alikes.
    pub min_explicit_precision: f32,
    /// How much public tune macro-F1 the thresholds may give up for docs-chat macro-F1.
    pub public_slack: f32,
}

struct Net {
    n: usize,
    h: usize,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
}

impl Net {
    fn new(n: usize, h: usize, rng: &mut Rng) -> Net {
        let k = CLASSES.len();
        let (rows1, fan1) = if h == 0 { (k, n) } else { (h, n) };
        let s1 = (6.0 / fan1 as f32).sqrt();
        let w1 = (0..rows1 * n).map(|_| rng.symmetric() * s1).collect();
        let s2 = (6.0 / h.max(1) as f32).sqrt() * 0.5;
        let w2 = if h == 0 { Vec::new() } else { (0..k * h).map(|_| rng.symmetric() * s2).collect() };
        Net { n, h, w1, b1: vec![0.0; rows1], w2, b2: if h == 0 { Vec::new() } else { vec![0.0; k] } }
    }

    fn params(&mut self) -> [&mut Vec<f32>; 4] {
        [&mut self.w1, &mut self.b1, &mut self.w2, &mut self.b2]
    }

    fn classifier(&self, model_id: &str, dims: usize, thresholds: Thresholds, provenance: String) -> HandoffClassifier {
        HandoffClassifier {
            model_id: model_id.to_string(),
            dims: dims as u32,
            lexical: LEXICAL_FEATURES.iter().map(|s| s.to_string()).collect(),
            hidden: self.h as u32,
            w1: self.w1.clone(),
            b1: self.b1.clone(),
            w2: self.w2.clone(),
            b2: self.b2.clone(),
            thresholds,
            example_similarity: 0.9,
            rule_floor: 0.0,
            provenance,
            examples: Vec::new(),
        }
    }

    /// Adds the gradient of one row's weighted cross-entropy to `g`; returns its loss.
    fn backprop(&self, x: &[f32], y: usize, weight: f32, g: &mut [Vec<f32>; 4], a: &mut [f32]) -> f32 {
        let (n, h, k) = (self.n, self.h, CLASSES.len());
        let mut z = [0f32; 4];
        if h == 0 {
            for c in 0..k {
                z[c] = self.b1[c] + dot(&self.w1[c * n..(c + 1) * n], x);
            }
        } else {
            for j in 0..h {
                a[j] = (self.b1[j] + dot(&self.w1[j * n..(j + 1) * n], x)).max(0.0);
            }
            for c in 0..k {
                z[c] = self.b2[c] + dot(&self.w2[c * h..(c + 1) * h], &a[..h]);
            }
        }
        let p = baton_shared::engine::handoff_classifier::softmax(z);
        let loss = -weight * p[y].max(1e-7).ln();
        let dz: Vec<f32> = (0..k).map(|c| weight * (p[c] - if c == y { 1.0 } else { 0.0 })).collect();
        if h == 0 {
            for c in 0..k {
                axpy(&mut g[0][c * n..(c + 1) * n], dz[c], x);
                g[1][c] += dz[c];
            }
        } else {
            let mut da = vec![0f32; h];
            for c in 0..k {
                axpy(&mut g[2][c * h..(c + 1) * h], dz[c], &a[..h]);
                g[3][c] += dz[c];
                axpy(&mut da, dz[c], &self.w2[c * h..(c + 1) * h]);
            }
            for j in 0..h {
                if a[j] > 0.0 {
                    axpy(&mut g[0][j * n..(j + 1) * n], da[j], x);
                    g[1][j] += da[j];
                }
            }
        }
        loss
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// Adam, one step over every parameter tensor.
struct Adam {
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    t: i32,
}

impl Adam {
    fn step(&mut self, params: [&mut Vec<f32>; 4], grads: &[Vec<f32>; 4], lr: f32, l2: f32) {
        self.t += 1;
        let (b1, b2) = (0.9f32, 0.999f32);
        let c1 = 1.0 - b1.powi(self.t);
        let c2 = 1.0 - b2.powi(self.t);
        for (i, p) in params.into_iter().enumerate() {
            // Weight decay on weights (tensors 0 and 2), not on biases.
            let decay = if i % 2 == 0 { l2 } else { 0.0 };
            for j in 0..p.len() {
                let g = grads[i][j] + decay * p[j];
                self.m[i][j] = b1 * self.m[i][j] + (1.0 - b1) * g;
                self.v[i][j] = b2 * self.v[i][j] + (1.0 - b2) * g * g;
                p[j] -= lr * (self.m[i][j] / c1) / ((self.v[i][j] / c2).sqrt() + 1e-8);
            }
        }
    }
}

/// Embeds every row (in parallel, order kept) into the classifier's inputs.
fn inputs(model: &Model, rows: &[Row]) -> Vec<Vec<f32>> {
    rows.par_iter().map(|r| HandoffClassifier::inputs(model, &r.text)).collect()
}

pub fn train(opts: &TrainOptions, model: &Model) -> Result<()> {
    let started = Instant::now();
    let mut rows = read_dir(&opts.data)?;
    for f in &opts.extra {
        // Baton's own examples: trained and tuned on, never held out (and never reported). A
        // quarter tunes: the thresholds must suit docs-chat messages, not only the public sets.
        rows.extend(read_rows(f, |t| {
            let norm = t.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
            if xxhash_rust::xxh3::xxh3_64(norm.as_bytes()) % 4 == 0 {
                Part::Tune
            } else {
                Part::Train
            }
        })?);
    }
    let extra_files: Vec<String> = opts.extra.iter().map(|f| f.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string()).collect();
    let train: Vec<&Row> = rows.iter().filter(|r| r.part == Part::Train).collect();
    let tune: Vec<&Row> = rows.iter().filter(|r| r.part == Part::Tune).collect();
    eprintln!(
        "{} rows: {} train, {} tune, {} held out (not read)",
        rows.len(),
        train.len(),
        tune.len(),
        rows.len() - train.len() - tune.len()
    );
    let train_rows: Vec<Row> = train.iter().map(|r| (*r).clone()).collect();
    let tune_rows: Vec<Row> = tune.iter().map(|r| (*r).clone()).collect();
    let xs = inputs(model, &train_rows);
    let tx = inputs(model, &tune_rows);

    // Class weights from the shared training rows, softened by `balance`.
    let mut counts = [0usize; 4];
    for r in &train_rows {
        counts[r.class.index()] += 1;
    }
    let total: usize = counts.iter().sum();
    let class_w: Vec<f32> = counts.iter().map(|&c| ((total as f32) / (4.0 * c.max(1) as f32)).powf(opts.balance)).collect();
    let weights: Vec<f32> = train_rows
        .iter()
        .map(|r| {
            let file = if extra_files.contains(&r.file) { opts.extra_weight } else { 1.0 };
            class_w[r.class.index()] * file * opts.file_weights.get(&r.file).copied().unwrap_or(1.0)
        })
        .collect();
    let mean_w = weights.iter().sum::<f32>() / weights.len() as f32;

    let mut rng = Rng(opts.seed);
    let n = model.dims as usize + LEXICAL_FEATURES.len();
    let mut net = Net::new(n, opts.hidden, &mut rng);
    let zero = |net: &mut Net| net.params().map(|p| vec![0f32; p.len()]);
    let mut adam = Adam { m: zero(&mut net).to_vec(), v: zero(&mut net).to_vec(), t: 0 };
    let mut order: Vec<usize> = (0..train_rows.len()).collect();
    let batch = 64;
    let mut best: Option<(f32, usize, [Vec<f32>; 4])> = None;
    let mut a = vec![0f32; opts.hidden.max(1)];
    for epoch in 0..opts.epochs {
        rng.shuffle(&mut order);
        let lr = opts.lr * (0.5 * (1.0 + (std::f32::consts::PI * epoch as f32 / opts.epochs as f32).cos())).max(0.05);
        let mut loss = 0.0;
        for chunk in order.chunks(batch) {
            let mut g = zero(&mut net);
            for &i in chunk {
                loss += net.backprop(&xs[i], train_rows[i].class.index(), weights[i] / mean_w / chunk.len() as f32, &mut g, &mut a);
            }
            let (l2, lr_now) = (opts.l2, lr);
            adam.step(net.params(), &g, lr_now, l2);
        }
        let c = net.classifier(
            &model.id,
            model.dims as usize,
            Thresholds { explicit_request: 0.5, urgent: 0.5, frustration: 0.5 },
            String::new(),
        );
        let probs: Vec<[f32; 4]> = tx.iter().map(|x| c.network(x)).collect();
        let f1 = macro_f1(&tune_rows, &probs, |p, _| argmax(p));
        eprintln!("epoch {epoch:>2}: loss {:.4}, tune macro-F1 (argmax) {f1:.4}", loss / order.len() as f32 * batch as f32 / batch as f32);
        if best.as_ref().is_none_or(|b| f1 > b.0) {
            best = Some((f1, epoch, [net.w1.clone(), net.b1.clone(), net.w2.clone(), net.b2.clone()]));
        }
    }
    let (f1, epoch, [w1, b1, w2, b2]) = best.context("no epochs")?;
    (net.w1, net.b1, net.w2, net.b2) = (w1, b1, w2, b2);
    eprintln!("best epoch {epoch} (tune macro-F1 {f1:.4})");
    {
        // How well the network fits Baton's own examples (it should, nearly all).
        let c = net.classifier(
            &model.id,
            model.dims as usize,
            Thresholds { explicit_request: 0.5, urgent: 0.5, frustration: 0.5 },
            String::new(),
        );
        let own: Vec<usize> = (0..train_rows.len()).filter(|&i| extra_files.contains(&train_rows[i].file)).collect();
        let right = own.iter().filter(|&&i| argmax(&c.network(&xs[i])) == train_rows[i].class).count();
        eprintln!("docs-chat examples fitted: {right}/{}", own.len());
    }

    // Thresholds on the tune split: the best macro-F1 whose explicit-request precision on the
    // tune look-alikes (and true requests) stays at or above the bar.
    // The decision is the bot's (`handoff::combine`): the precise rules, then the classifier.
    let c =
        net.classifier(&model.id, model.dims as usize, Thresholds { explicit_request: 0.5, urgent: 0.5, frustration: 0.5 }, String::new());
    let probs: Vec<[f32; 4]> = tx.iter().map(|x| c.network(x)).collect();
    let rules: Vec<handoff::RuleVerdicts> = tune_rows.par_iter().map(|r| handoff::rule_verdicts(&r.text)).collect();
    // The choice: the best macro-F1 on the public tune rows, within `public_slack` of which the
    // best on Baton's own (docs-chat) tune rows — the public sets are off-domain in places
    // (banking, Reddit), and the thresholds must suit a docs site's visitors too.
    let own: Vec<bool> = tune_rows.iter().map(|r| extra_files.contains(&r.file)).collect();
    let score = |pred: &dyn Fn(&[f32; 4], usize) -> Class, mine: bool| {
        let idx: Vec<usize> = (0..tune_rows.len()).filter(|&i| own[i] == mine).collect();
        let labels: Vec<Class> = idx.iter().map(|&i| tune_rows[i].class).collect();
        let preds: Vec<Class> = idx.iter().map(|&i| pred(&probs[i], i)).collect();
        Confusion::of(&labels, &preds).macro_f1()
    };
    let grid: Vec<f32> = (6..=19).map(|i| i as f32 * 0.05).collect();
    // Precision first: the classifier alone calls a request only when it is more likely than not.
    let request_grid: Vec<f32> = grid.iter().copied().filter(|&t| t >= 0.5).collect();
    let floors = [0.0f32, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3];
    // (public F1, own F1, thresholds, floor) of every choice that keeps the request precision.
    let mut candidates = Vec::new();
    for &floor in &floors {
        for &te in &request_grid {
            let said = |p: &[f32; 4], i: usize, t: (f32, f32, f32)| handoff::combine(rules[i], p, floor, |q| decide(q, t.0, t.1, t.2));
            let pe = explicit_precision(&tune_rows, &probs, |p, i| said(p, i, (te, 1.1, 1.1)) == Class::ExplicitRequest);
            if pe < opts.min_explicit_precision {
                continue;
            }
            for &tu in &grid {
                for &tf in &grid {
                    let pred = |p: &[f32; 4], i: usize| said(p, i, (te, tu, tf));
                    candidates.push((
                        score(&pred, false),
                        score(&pred, true),
                        Thresholds { explicit_request: te, urgent: tu, frustration: tf },
                        floor,
                    ));
                }
            }
        }
    }
    if candidates.is_empty() {
        bail!("no thresholds reach explicit-request precision {} on the tune look-alikes", opts.min_explicit_precision);
    }
    // The request threshold and the rules' floor from the public rows alone (thousands of
    // look-alikes; Baton's own tune rows are too few to move a precision-first threshold).
    let best_public = candidates.iter().map(|c| c.0).fold(f32::MIN, f32::max);
    let request = candidates
        .iter()
        .filter(|c| c.0 >= best_public - 1e-6)
        .max_by(|a, b| b.3.total_cmp(&a.3).then(a.2.explicit_request.total_cmp(&b.2.explicit_request)))
        .map(|c| (c.2.explicit_request, c.3))
        .expect("the best public choice");
    // Then urgency and frustration: within `public_slack` of the best public macro-F1, the best
    // on Baton's own tune rows.
    let chosen = candidates
        .iter()
        .filter(|c| (c.2.explicit_request, c.3) == request && c.0 >= best_public - opts.public_slack)
        .max_by(|a, b| a.1.total_cmp(&b.1).then(a.0.total_cmp(&b.0)))
        .expect("the best public choice is within the slack");
    let (t, floor) = (chosen.2, chosen.3);
    eprintln!(
        "thresholds: explicit_request {:.2}, urgent {:.2}, frustration {:.2}, rule floor {floor:.2} (tune macro-F1: public {:.4} (best {best_public:.4}), docs-chat {:.4})",
        t.explicit_request, t.urgent, t.frustration, chosen.0, chosen.1
    );
    let files: Vec<String> = {
        let mut f: Vec<String> = rows.iter().map(|r| r.file.clone()).collect();
        f.dedup();
        f
    };
    let provenance = format!(
        "trained by index-builder handoff train on {} (shared files: 60 % train / 10 % tune / 30 % held out by text hash; docs-chat: 75 % train / 25 % tune), seed {}, hidden {}, best epoch {} of {}, balance {}, extra weight {}, l2 {}",
        files.join(", "),
        opts.seed,
        opts.hidden,
        epoch + 1,
        opts.epochs,
        opts.balance,
        opts.extra_weight,
        opts.l2
    );
    let mut classifier = net.classifier(&model.id, model.dims as usize, t, provenance);
    classifier.rule_floor = floor;
    classifier.check().map_err(anyhow::Error::msg)?;
    let bytes = classifier.to_bytes();
    std::fs::write(&opts.out, &bytes).with_context(|| format!("cannot write {}", opts.out.display()))?;
    eprintln!("wrote {} ({:.1} KB) in {:.1} s", opts.out.display(), bytes.len() as f64 / 1024.0, started.elapsed().as_secs_f64());
    Ok(())
}

fn decide(p: &[f32; 4], te: f32, tu: f32, tf: f32) -> Class {
    let t = [te, tu, tf];
    (0..3).filter(|&c| p[c] >= t[c]).max_by(|&a, &b| p[a].total_cmp(&p[b])).map(|c| CLASSES[c]).unwrap_or(Class::None)
}

fn argmax(p: &[f32; 4]) -> Class {
    CLASSES[(0..4).max_by(|&a, &b| p[a].total_cmp(&p[b])).expect("4 classes")]
}

fn macro_f1(rows: &[Row], probs: &[[f32; 4]], f: impl Fn(&[f32; 4], usize) -> Class) -> f32 {
    let preds: Vec<Class> = probs.iter().enumerate().map(|(i, p)| f(p, i)).collect();
    let labels: Vec<Class> = rows.iter().map(|r| r.class).collect();
    Confusion::of(&labels, &preds).macro_f1()
}

/// Precision of explicit-request decisions among true requests and look-alikes.
fn explicit_precision(rows: &[Row], probs: &[[f32; 4]], says: impl Fn(&[f32; 4], usize) -> bool) -> f32 {
    let (mut tp, mut fp) = (0, 0);
    for (i, (r, p)) in rows.iter().zip(probs).enumerate() {
        if (r.lookalike || r.class == Class::ExplicitRequest) && says(p, i) {
            if r.class == Class::ExplicitRequest {
                tp += 1;
            } else {
                fp += 1;
            }
        }
    }
    if tp + fp == 0 {
        1.0
    } else {
        tp as f32 / (tp + fp) as f32
    }
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

/// A 4×4 confusion matrix: `m[label][prediction]`.
#[derive(Clone, Default)]
pub struct Confusion {
    m: [[usize; 4]; 4],
}

impl Confusion {
    fn of(labels: &[Class], preds: &[Class]) -> Confusion {
        let mut c = Confusion::default();
        for (l, p) in labels.iter().zip(preds) {
            c.m[l.index()][p.index()] += 1;
        }
        c
    }

    fn support(&self, c: usize) -> usize {
        self.m[c].iter().sum()
    }

    fn predicted(&self, c: usize) -> usize {
        (0..4).map(|l| self.m[l][c]).sum()
    }

    fn precision(&self, c: usize) -> f32 {
        self.m[c][c] as f32 / self.predicted(c).max(1) as f32
    }

    fn recall(&self, c: usize) -> f32 {
        self.m[c][c] as f32 / self.support(c).max(1) as f32
    }

    fn f1(&self, c: usize) -> f32 {
        let (p, r) = (self.precision(c), self.recall(c));
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// Mean F1 over the classes that occur in the labels.
    fn macro_f1(&self) -> f32 {
        let present: Vec<usize> = (0..4).filter(|&c| self.support(c) > 0).collect();
        present.iter().map(|&c| self.f1(c)).sum::<f32>() / present.len().max(1) as f32
    }

    fn accuracy(&self) -> f32 {
        let n: usize = (0..4).map(|c| self.support(c)).sum();
        (0..4).map(|c| self.m[c][c]).sum::<usize>() as f32 / n.max(1) as f32
    }
}

/// The class a triage decision counts as (a site keyword is not one of the four: the bench
/// runs with none configured).
fn class_of(reason: Option<HandoffReason>) -> Class {
    match reason {
        Some(HandoffReason::ExplicitRequest) => Class::ExplicitRequest,
        Some(HandoffReason::Urgent) => Class::Urgent,
        Some(HandoffReason::Frustration) => Class::Frustration,
        _ => Class::None,
    }
}

pub struct BenchOptions<'a> {
    pub data: &'a Path,
    pub json: Option<&'a Path>,
    /// Measure on the tune part instead (for development: look at its misses, never at the
    /// held-out ones).
    pub tune: bool,
    /// Print up to this many misses per file.
    pub misses: usize,
}

/// `index-builder bench triage`: held-out figures per file and overall, and latency.
pub fn bench(opts: &BenchOptions, model: &Model, classifier: &HandoffClassifier) -> Result<()> {
    let wanted = if opts.tune { Part::Tune } else { Part::HeldOut };
    let rows: Vec<Row> = read_dir(opts.data)?.into_iter().filter(|r| r.part == wanted).collect();
    if opts.tune {
        println!("(TUNE part: for development only; the figures to report are the held-out ones)");
    }
    // The built-in rules and the classifier; no site keywords (they are a site's choice).
    let config = HandoffConfig { keywords: Vec::new(), ..HandoffConfig::default() };
    let learned = Learned { model, classifier };
    let turns = Turns::default();
    // Warm the tokenizer's table (built on first use) before timing.
    let _ = handoff::assess("warm up", &turns, &config, Some(learned));
    let mut micros = Vec::with_capacity(rows.len());
    let mut preds = Vec::with_capacity(rows.len());
    for r in &rows {
        let t = Instant::now();
        let a = handoff::assess(&r.text, &turns, &config, Some(learned));
        micros.push(t.elapsed().as_secs_f64() * 1e6);
        preds.push(class_of(a.handoff.map(|h| h.reason)));
    }
    if std::env::var_os("BATON_BREAKDOWN").is_some() {
        let n = rows.len().min(2000);
        let time = |f: &dyn Fn(&str)| {
            let t = Instant::now();
            for r in &rows[..n] {
                f(&r.text);
            }
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        };
        eprintln!("mean µs: embed {:.1}", time(&|t| drop(model.embed(t))));
        eprintln!("mean µs: lexical {:.1}", time(&|t| drop(std::hint::black_box(handoff::lexical_features(t).to_vec()))));
        eprintln!("mean µs: explicit rules {:.1}", time(&|t| drop(handoff::explicit_request(t, &[]))));
        eprintln!("mean µs: frustration rules {:.1}", time(&|t| drop(handoff::frustration_signals(t, &[]))));
        eprintln!(
            "mean µs: network {:.1}",
            time(&|t| drop(std::hint::black_box(classifier.network(&HandoffClassifier::inputs(model, t)).to_vec())))
        );
        eprintln!("mean µs: assess {:.1}", time(&|t| drop(handoff::assess(t, &turns, &config, Some(learned)))));
    }
    if std::env::var_os("BATON_SLOWEST").is_some() {
        let mut by: Vec<usize> = (0..rows.len()).collect();
        by.sort_by(|&a, &b| micros[b].total_cmp(&micros[a]));
        for &i in by.iter().take(8) {
            eprintln!("slow {:.0} µs {:?}", micros[i], rows[i].text);
        }
    }
    let mut sorted = micros.clone();
    sorted.sort_by(f64::total_cmp);
    let pct = |p: f64| baton_shared::stats::percentile(&sorted, p).unwrap_or(0.0);

    let mut files: Vec<String> = rows.iter().map(|r| r.file.clone()).collect();
    files.dedup();
    let mut sets = Vec::new();
    println!("handoff triage on the held-out 30 % of ../shared/bench/handoff (never trained or tuned on)");
    println!("rules + classifier, no site keywords; macro-F1 over the classes each file has\n");
    let report = |name: &str, idx: &[usize]| -> Value {
        let labels: Vec<Class> = idx.iter().map(|&i| rows[i].class).collect();
        let p: Vec<Class> = idx.iter().map(|&i| preds[i]).collect();
        let c = Confusion::of(&labels, &p);
        // Explicit-request precision among true requests and look-alikes.
        let (mut tp, mut fp, mut lookalikes) = (0, 0, 0);
        for &i in idx {
            let r = &rows[i];
            if r.lookalike {
                lookalikes += 1;
            }
            if (r.lookalike || r.class == Class::ExplicitRequest) && preds[i] == Class::ExplicitRequest {
                if r.class == Class::ExplicitRequest {
                    tp += 1;
                } else {
                    fp += 1;
                }
            }
        }
        let la_precision = if tp + fp == 0 { None } else { Some(tp as f32 / (tp + fp) as f32) };
        println!(
            "{name}: {} messages, macro-F1 {:.3}, accuracy {:.3}, explicit-request precision on look-alikes {} ({fp} false of {lookalikes} look-alikes)",
            idx.len(),
            c.macro_f1(),
            c.accuracy(),
            la_precision.map(|p| format!("{p:.3}")).unwrap_or("n/a".into()),
        );
        println!(
            "  {:>17} | {:>16}{:>16}{:>16}{:>16} | precision recall",
            "label \\ decision", "explicit_request", "urgent", "frustration", "none"
        );
        let mut per_class = serde_json::Map::new();
        for (ci, class) in CLASSES.iter().enumerate() {
            if c.support(ci) == 0 && c.predicted(ci) == 0 {
                continue;
            }
            println!(
                "  {:>17} | {:>16}{:>16}{:>16}{:>16} | {:>9.3} {:>6.3}",
                class.key(),
                c.m[ci][0],
                c.m[ci][1],
                c.m[ci][2],
                c.m[ci][3],
                c.precision(ci),
                c.recall(ci)
            );
            per_class.insert(
                class.key().into(),
                json!({"labelled": c.support(ci), "predicted": c.predicted(ci), "precision": c.precision(ci), "recall": c.recall(ci), "f1": c.f1(ci)}),
            );
        }
        if opts.misses > 0 && name != "overall" {
            for &i in idx.iter().filter(|&&i| preds[i] != rows[i].class).take(opts.misses) {
                println!("  miss [{} → {}] {:?}", rows[i].class.key(), preds[i].key(), rows[i].text);
            }
        }
        println!();
        json!({
            "set": name, "messages": idx.len(), "macro_f1": c.macro_f1(), "accuracy": c.accuracy(),
            "explicit_precision_on_lookalikes": la_precision, "false_explicit_on_lookalikes": fp, "lookalikes": lookalikes,
            "per_class": per_class, "confusion": c.m,
        })
    };
    for f in &files {
        let idx: Vec<usize> = (0..rows.len()).filter(|&i| &rows[i].file == f).collect();
        sets.push(report(f, &idx));
    }
    let all: Vec<usize> = (0..rows.len()).collect();
    let overall = report("overall", &all);
    println!(
        "latency of one triage (rules + embedding + classifier), native, one thread: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs",
        pct(0.5),
        pct(0.9),
        pct(0.99)
    );
    let out = json!({
        "bench": "triage",
        "data": "../shared/bench/handoff/*.jsonl, held-out part (xxh3(text) % 100 >= 70)",
        "decision": "handoff::assess with the shipped classifier and the built-in rules, no site keywords",
        "classifier": classifier.provenance,
        "thresholds": {"explicit_request": classifier.thresholds.explicit_request, "urgent": classifier.thresholds.urgent, "frustration": classifier.thresholds.frustration},
        "overall": overall,
        "sets": sets,
        "latency_us": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99)},
    });
    if let Some(path) = opts.json {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&out)?).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
