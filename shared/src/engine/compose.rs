//! Extractive answers: the best one to three sentences, list items or code blocks of a section,
//! in their original order, kept under ~400 characters where possible.

/// Soft limit on answer length, in characters.
pub const ANSWER_CHARS: usize = 400;

/// A piece of a section that can stand alone in an answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    pub text: String,
    /// Blank line before this unit (new paragraph / block) rather than a sentence continuation.
    pub block_start: bool,
    pub is_code: bool,
}

/// Splits section text (blank-line separated blocks) into units: sentences of prose, single
/// list items, whole code blocks.
pub fn units(text: &str) -> Vec<Unit> {
    let mut out = Vec::new();
    let mut in_code = false;
    let mut code = String::new();
    let mut para = String::new();
    let flush_para = |para: &mut String, out: &mut Vec<Unit>| {
        if !para.trim().is_empty() {
            for (i, s) in sentences(para.trim()).into_iter().enumerate() {
                out.push(Unit { text: s, block_start: i == 0, is_code: false });
            }
        }
        para.clear();
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            if in_code {
                code.push_str(line);
                out.push(Unit { text: std::mem::take(&mut code), block_start: true, is_code: true });
                in_code = false;
            } else {
                flush_para(&mut para, &mut out);
                in_code = true;
                code.push_str(line);
                code.push('\n');
            }
            continue;
        }
        if in_code {
            code.push_str(line);
            code.push('\n');
            continue;
        }
        if trimmed.is_empty() {
            flush_para(&mut para, &mut out);
        } else if trimmed.starts_with("- ") || trimmed.starts_with("* ") || is_numbered(trimmed) {
            flush_para(&mut para, &mut out);
            out.push(Unit { text: trimmed.to_string(), block_start: true, is_code: false });
        } else {
            if !para.is_empty() {
                para.push(' ');
            }
            para.push_str(trimmed);
        }
    }
    if in_code && !code.is_empty() {
        code.push_str("```");
        out.push(Unit { text: code, block_start: true, is_code: true });
    }
    flush_para(&mut para, &mut out);
    out
}

fn is_numbered(s: &str) -> bool {
    let digits = s.bytes().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && s[digits..].starts_with(". ")
}

/// Splits prose into sentences at `.`, `!`, `?` followed by a space and an uppercase letter,
/// digit or quote — not inside "e.g. this" nor "v1.2".
pub fn sentences(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = p.char_indices().collect();
    for i in 0..chars.len() {
        let (pos, c) = chars[i];
        if !matches!(c, '.' | '!' | '?') {
            continue;
        }
        let next = chars.get(i + 1).map(|x| x.1);
        let after = chars.get(i + 2).map(|x| x.1);
        if next == Some(' ') && after.is_some_and(|a| a.is_uppercase() || a.is_ascii_digit() || a == '"' || a == '`' || a == '(') {
            let prev_word: String = p[start..pos].rsplit(' ').next().unwrap_or("").to_lowercase();
            if matches!(prev_word.as_str(), "e.g" | "i.e" | "etc" | "vs" | "mr" | "dr" | "st") {
                continue;
            }
            out.push(p[start..=pos].trim().to_string());
            start = pos + c.len_utf8();
        }
    }
    if start < p.len() && !p[start..].trim().is_empty() {
        out.push(p[start..].trim().to_string());
    }
    out
}

/// Whether `next` is what `unit` announces: "…as follows:" then a list, or "In the example
/// below, …" then code.
fn introduces(unit: &Unit, next: &Unit) -> bool {
    let t = unit.text.trim_end();
    if t.ends_with(':') {
        return true;
    }
    let lower = t.to_lowercase();
    next.is_code && ["example", "below", "following", "like this", "like so"].iter().any(|w| lower.contains(w))
}

/// A section's units, each scored against a question: lexical coverage of the question's
/// weighted terms and semantic similarity.
pub struct Scored {
    pub units: Vec<Unit>,
    pub lexical: Vec<f32>,
    pub cosine: Vec<f32>,
}

/// The unit of a section that best matches a question, and how well.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pick {
    pub unit: usize,
    /// `lexical + w_cosine × cosine`.
    pub score: f32,
    pub lexical: f32,
    pub cosine: f32,
}

impl Scored {
    /// Scores each unit of a section. A question term the section's breadcrumb has (the page
    /// title, the heading) counts as matched in every unit: the heading speaks for all of its
    /// sentences, and a sentence that happens to repeat the title is no better an answer.
    pub fn new(section: &str, context: &str, q: &super::Query, similarity: &dyn Fn(&str) -> f32) -> Scored {
        let units = units(section);
        let in_context = super::text::contains_terms(context, &q.terms);
        let total = q.total.max(1e-6);
        let lexical = units
            .iter()
            .map(|u| {
                let in_unit = super::text::contains_terms(&u.text, &q.terms);
                (0..q.terms.len()).filter(|&i| in_context[i] || in_unit[i]).map(|i| q.weights[i]).sum::<f32>() / total
            })
            .collect();
        let cosine = units.iter().map(|u| similarity(&u.text)).collect();
        Scored { units, lexical, cosine }
    }

    fn scores(&self, w_cosine: f32) -> Vec<f32> {
        self.lexical.iter().zip(&self.cosine).map(|(l, c)| l + w_cosine * c).collect()
    }

    /// The best-matching unit, if the section has any text.
    pub fn best(&self, w_cosine: f32) -> Option<Pick> {
        let scores = self.scores(w_cosine);
        let unit = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(b.cmp(&a)))?;
        Some(Pick { unit, score: scores[unit], lexical: self.lexical[unit], cosine: self.cosine[unit] })
    }

    /// The answer: the best unit plus its better-scoring neighbours while they fit in
    /// `ANSWER_CHARS`, in their original order.
    pub fn extract(&self, w_cosine: f32) -> String {
        let Some(Pick { unit: best, .. }) = self.best(w_cosine) else {
            return String::new();
        };
        let scores = self.scores(w_cosine);
        let units = &self.units;
        let mut chosen = vec![best];
        let mut len = units[best].text.chars().count();
        let (mut lo, mut hi) = (best, best);
        while chosen.len() < 3 {
            let left = lo.checked_sub(1);
            let right = (hi + 1 < units.len()).then_some(hi + 1);
            let pick = match (left, right) {
                (Some(l), Some(r)) => {
                    // The sentence that announces the best unit comes first of all.
                    if introduces(&units[l], &units[best]) && l + 1 == best {
                        l
                    } else if scores[r] >= scores[l] * 1.2 || introduces(&units[best], &units[r]) {
                        r
                    } else {
                        l
                    }
                }
                (Some(l), None) => l,
                (None, Some(r)) => r,
                (None, None) => break,
            };
            let add = units[pick].text.chars().count();
            // A list or code block introduced by the best sentence is part of the answer.
            let continues = pick == hi && pick > best && introduces(&units[best], &units[pick]);
            if len + add > ANSWER_CHARS && !(continues && chosen.len() == 1) {
                break;
            }
            chosen.push(pick);
            len += add;
            lo = lo.min(pick);
            hi = hi.max(pick);
        }
        chosen.sort_unstable();
        let mut out = String::new();
        for (n, &i) in chosen.iter().enumerate() {
            if n > 0 {
                out.push_str(if units[i].block_start || units[chosen[n - 1]].is_code { "\n\n" } else { " " });
            }
            out.push_str(&units[i].text);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sentences_lists_and_code() {
        let text = "Baton answers questions. It cites sections, e.g. Quickstart.\n\n- one item\n- two item\n\n```sh\n./baton demo\n```";
        let u = units(text);
        let texts: Vec<&str> = u.iter().map(|u| u.text.as_str()).collect();
        assert_eq!(
            texts,
            vec!["Baton answers questions.", "It cites sections, e.g. Quickstart.", "- one item", "- two item", "```sh\n./baton demo\n```"]
        );
        assert!(u[4].is_code);
    }

    #[test]
    fn extracts_the_matching_sentence() {
        let text = "Baton is a support chat. To start the demo, run the demo command. Operators use the inbox page.";
        let terms = crate::engine::text::terms("how do I start the demo");
        let weights = vec![1.0; terms.len()];
        let q = super::super::Query { total: weights.len() as f32, terms, weights, known: 1.0, vector: vec![] };
        let scored = Scored::new(text, "", &q, &|_| 0.0);
        assert_eq!(scored.best(0.0).map(|p| p.unit), Some(1));
        let a = scored.extract(0.0);
        assert!(a.contains("To start the demo"), "{a}");
        assert!(a.len() <= ANSWER_CHARS);
    }

    #[test]
    fn long_answers_keep_the_best_unit_and_stay_short() {
        let filler = "This sentence is about something else entirely and goes on for a while. ".repeat(8);
        let text = format!("{filler}To start the demo, run the demo command. {filler}");
        let terms = crate::engine::text::terms("how do I start the demo");
        let weights = vec![1.0; terms.len()];
        let q = super::super::Query { total: weights.len() as f32, terms, weights, known: 1.0, vector: vec![] };
        let a = Scored::new(&text, "", &q, &|_| 0.0).extract(0.0);
        assert!(a.contains("To start the demo"), "{a}");
        assert!(a.chars().count() <= ANSWER_CHARS, "{} chars", a.chars().count());
    }
}
