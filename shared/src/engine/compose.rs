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

/// Whether `next` is what `unit` announces: "…as follows:" then a list or code, or "In the
/// example below, …" then code.
fn introduces(unit: &Unit, next: &Unit) -> bool {
    if unit.is_code || !next.block_start {
        return false;
    }
    let t = unit.text.trim_end();
    if t.ends_with(':') {
        return true;
    }
    let lower = t.to_lowercase();
    next.is_code && ["example", "below", "following", "like this", "like so"].iter().any(|w| lower.contains(w))
}

fn is_list_item(unit: &Unit) -> bool {
    let t = unit.text.as_str();
    !unit.is_code && (t.starts_with("- ") || t.starts_with("* ") || is_numbered(t))
}

/// Openings that make a sentence lean on the one before it: "It asks for the password…",
/// "This option…", "However, …", "For example, …". An answer never starts with one.
const LEANS_BACK: &[&str] = &[
    "additionally",
    "also",
    "alternatively",
    "but",
    "furthermore",
    "hence",
    "however",
    "it",
    "it's",
    "its",
    "likewise",
    "moreover",
    "otherwise",
    "similarly",
    "so",
    "such",
    "that",
    "then",
    "therefore",
    "these",
    "they",
    "this",
    "those",
    "thus",
];
const LEANS_BACK_PHRASES: &[&str] = &["as a result", "for example", "for instance", "in that case", "in this case", "in addition"];

/// Whether a prose unit needs the sentence before it to make sense.
pub fn leans_back(unit: &Unit) -> bool {
    if unit.is_code || is_list_item(unit) {
        return false;
    }
    let lower = unit.text.trim_start_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
    let first: String = lower.chars().take_while(|c| c.is_alphanumeric() || *c == '\'').collect();
    LEANS_BACK.binary_search(&first.as_str()).is_ok() || LEANS_BACK_PHRASES.iter().any(|p| lower.starts_with(p))
}

/// Characters a unit shows a reader (a link counts by its text).
fn shown_len(unit: &Unit) -> usize {
    super::text::without_link_targets(&unit.text).chars().count()
}

/// What a question term found in a code block counts, against 1 in prose.
const CODE_MATCH: f32 = 0.5;

/// The most an answer's lead (what the best unit leans on or is announced by) may add.
const LEAD_CHARS: usize = 500;

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
                // In code, a question's word is often part of a path or a name ("product-docs"
                // for "production"): it counts half of what it counts in prose.
                let own = if u.is_code { CODE_MATCH } else { 1.0 };
                (0..q.terms.len())
                    .map(|i| {
                        if in_context[i] {
                            q.weights[i]
                        } else if in_unit[i] {
                            own * q.weights[i]
                        } else {
                            0.0
                        }
                    })
                    .sum::<f32>()
                    / total
            })
            .collect();
        let cosine = units.iter().map(|u| similarity(&super::text::without_link_targets(&u.text))).collect();
        Scored { units, lexical, cosine }
    }

    /// A heading that means what the question means (an FAQ entry's question, "Can visitors
    /// read other conversations?") speaks for every unit under it, in meaning as it already
    /// does in words: no unit is less similar to the question than `heading` is.
    pub fn lift_cosine(&mut self, heading: f32) {
        for c in &mut self.cosine {
            *c = c.max(heading);
        }
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

    /// The answer: the best unit, led by what it needs to be read alone, followed by what it
    /// announces and the section's next units while they fit in `budget` characters.
    pub fn extract(&self, w_cosine: f32) -> String {
        match self.best(w_cosine) {
            Some(pick) => self.join(&self.span(pick.unit, w_cosine, ANSWER_CHARS)),
            None => String::new(),
        }
    }

    /// The units of an answer built on unit `best`, in document order:
    /// 1. the lead: the sentence it leans on ("It asks for…" needs the one that says what "it"
    ///    is), the one that announces it (a code block or list is never shown bare), and units
    ///    just before it that match the question nearly as well (the answer starts where the
    ///    run of matching units starts) — at most `LEAD_CHARS` more;
    /// 2. what it announces ("…like this:" then the code block, whole, or the list);
    /// 3. the section's next units while they fit in `budget` characters (counted from the best
    ///    unit), never ending on a unit that announces something left out.
    pub fn span(&self, best: usize, w_cosine: f32, budget: usize) -> Vec<usize> {
        let u = &self.units;
        if best >= u.len() {
            return Vec::new();
        }
        let scores = self.scores(w_cosine);
        // 1. The lead.
        let mut lo = best;
        let mut lead = 0;
        while lo > 0 {
            let (prev, cur) = (&u[lo - 1], &u[lo]);
            let needed = (cur.is_code && !prev.is_code)
                || leans_back(cur)
                || (is_list_item(cur) && lo == best && introduces(prev, cur))
                || (introduces(prev, cur) && !is_list_item(cur))
                || (scores[lo - 1] >= 0.8 * scores[best] && !(is_list_item(prev) && !is_list_item(cur)));
            if !needed || lead + shown_len(prev) > LEAD_CHARS {
                break;
            }
            lo -= 1;
            lead += shown_len(prev);
        }
        // A code block that would open the answer without what announces it stays out.
        while lo < best && u[lo].is_code {
            lo += 1;
        }
        let mut chosen: Vec<usize> = (lo..=best).collect();
        // 2. What the best unit announces: the code block whole, the list while it fits.
        let mut total = shown_len(&u[best]);
        let mut hi = best;
        if hi + 1 < u.len() && introduces(&u[hi], &u[hi + 1]) {
            hi += 1;
            total += shown_len(&u[hi]);
            chosen.push(hi);
            while is_list_item(&u[hi]) && hi + 1 < u.len() && is_list_item(&u[hi + 1]) && total + shown_len(&u[hi + 1]) <= budget {
                hi += 1;
                total += shown_len(&u[hi]);
                chosen.push(hi);
            }
        }
        // 3. The section's next units while they fit.
        while chosen.len() < 6 && hi + 1 < u.len() {
            let next = hi + 1;
            let add = shown_len(&u[next]);
            if total + add > budget {
                break;
            }
            // A unit that announces the one after it comes with it, or not at all.
            if next + 1 < u.len() && introduces(&u[next], &u[next + 1]) {
                let with = add + shown_len(&u[next + 1]);
                if total + with > budget {
                    break;
                }
                chosen.extend([next, next + 1]);
                total += with;
                hi = next + 1;
                continue;
            }
            chosen.push(next);
            total += add;
            hi = next;
        }
        chosen
    }

    /// Joins units as the section wrote them: a space within a paragraph, a blank line between
    /// blocks.
    pub fn join(&self, chosen: &[usize]) -> String {
        let units = &self.units;
        let mut out = String::new();
        for (n, &i) in chosen.iter().enumerate() {
            if n > 0 {
                let prev = chosen[n - 1];
                let adjacent = prev + 1 == i;
                out.push_str(if units[i].block_start || units[prev].is_code || units[i].is_code || !adjacent { "\n\n" } else { " " });
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

    /// A question with every term weighing 1 (no index needed).
    fn query(question: &str) -> crate::engine::Query {
        let terms = crate::engine::text::terms(question);
        let weights = vec![1.0; terms.len()];
        crate::engine::Query {
            total: weights.len() as f32,
            terms,
            weights,
            known: 1.0,
            vector: vec![],
            follow_up: false,
            cues: Default::default(),
        }
    }

    fn answer(section: &str, question: &str) -> String {
        Scored::new(section, "", &query(question), &|_| 0.0).extract(0.0)
    }

    #[test]
    fn extracts_the_matching_sentence() {
        let text = "Baton is a support chat. To start the demo, run the demo command. Operators use the inbox page.";
        let scored = Scored::new(text, "", &query("how do I start the demo"), &|_| 0.0);
        assert_eq!(scored.best(0.0).map(|p| p.unit), Some(1));
        let a = scored.extract(0.0);
        assert!(a.starts_with("To start the demo"), "the answer leads with the sentence that answers: {a}");
        assert!(a.len() <= ANSWER_CHARS);
    }

    #[test]
    fn long_answers_keep_the_best_unit_and_stay_short() {
        let filler = "This sentence is about something else entirely and goes on for a while. ".repeat(8);
        let text = format!("{filler}To start the demo, run the demo command. {filler}");
        let a = answer(&text, "how do I start the demo");
        assert!(a.starts_with("To start the demo"), "{a}");
        assert!(a.chars().count() <= ANSWER_CHARS, "{} chars", a.chars().count());
    }

    #[test]
    fn a_dangling_pronoun_brings_the_sentence_it_leans_on() {
        let text = "Operators sign in at the inbox. The operator command creates an account. It asks for the password and stores a hash.";
        let a = answer(text, "does it ask for a password");
        assert!(a.starts_with("The operator command creates an account. It asks for the password"), "{a}");
        assert!(leans_back(&Unit { text: "However, the token…".into(), block_start: false, is_code: false }));
        assert!(leans_back(&Unit { text: "For example, set it.".into(), block_start: false, is_code: false }));
        assert!(!leans_back(&Unit { text: "Items are sorted.".into(), block_start: false, is_code: false }));
        assert!(!leans_back(&Unit { text: "- It is a list item".into(), block_start: true, is_code: false }));
        assert!(LEANS_BACK.windows(2).all(|w| w[0] < w[1]), "sorted for binary search");
    }

    #[test]
    fn code_blocks_come_whole_and_never_bare() {
        let code = format!("```sh\n{}```", "npx wrangler deploy --domain support.example.com\n".repeat(12));
        let text = format!("Unrelated opening words here.\n\nTo serve Baton from your own hostname, deploy with:\n\n{code}\n\nCloudflare creates the certificate.");
        // The code matches best, but it comes with the sentence that announces it, whole.
        let a = answer(&text, "wrangler deploy domain support example");
        assert!(a.starts_with("To serve Baton from your own hostname, deploy with:"), "{a}");
        assert!(a.contains(&code), "the code block is whole: {a}");
        // The announcing sentence brings its code block even past the length budget.
        let a = answer(&text, "how do I serve Baton from my own hostname");
        assert!(a.starts_with("To serve Baton") && a.contains(&code), "{a}");
    }

    #[test]
    fn a_sentence_announcing_left_out_code_is_not_the_last_word() {
        let code = format!("```js\n{}```", "const x = 1;\n".repeat(60));
        let text = format!("Filters match strings with contains. Filters also work on numbers. Use it like this:\n\n{code}");
        let a = answer(&text, "how do filters match strings");
        assert!(a.starts_with("Filters match strings with contains."), "{a}");
        assert!(!a.trim_end().ends_with(':'), "no dangling announcement: {a}");
    }
}
