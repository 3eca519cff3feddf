//! Insights: what the bot and the team did, from the event logs.
//!
//! Where the numbers come from: each `Conversation` object folds its own log into a small
//! [`ConversationStats`] (one more field of its state, updated with every event it stores) and
//! sends it with its inbox row; the site's `Inbox` object keeps it beside the row and, when
//! asked, aggregates the rows of a time range with [`compute`]. So an insights request reads one
//! table in one object instead of waking thousands of conversations, and the numbers are still
//! a pure function of the logs (fold the log again and you get the same stats).
//!
//! The rules — what counts as a conversation, as answered by the bot, as a reply time, and
//! which unanswered questions are "the same" — live here, with tests.

use crate::protocol::{Event, EventKind, HandoffReason};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Unanswered questions one conversation keeps (the first ones: later ones are usually the
/// visitor rephrasing).
const MAX_UNANSWERED: usize = 5;
/// Characters of an unanswered question kept.
const QUESTION_CHARS: usize = 200;
/// Distinct cited sections one conversation keeps.
const MAX_CITED: usize = 10;
/// Handoffs and reply waits one conversation keeps.
const MAX_HANDOFFS: usize = 16;
/// Feedback votes one conversation keeps (one per answer; the visitor's last word counts).
const MAX_VOTES: usize = 64;
/// Questions grouped per insights request (the most recent conversations' first).
const MAX_GROUPED_QUESTIONS: usize = 2000;
/// Groups and cited sections an insights answer lists.
const TOP_N: usize = 15;
/// Longest range an insights request may cover, in days.
pub const MAX_DAYS: u32 = 366;
const DAY_MS: i64 = 86_400_000;

/// A doc section the bot cited, and how often.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CitedSection {
    pub url: String,
    /// "Page › Section".
    pub label: String,
    pub count: u32,
}

/// One conversation's figures, folded from its log (see [`ConversationStats::apply`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConversationStats {
    /// Visitor messages (questions and replies alike).
    pub visitor_messages: u32,
    pub bot_answers: u32,
    /// Bot answers the engine was confident in (not "I don't know").
    pub confident_answers: u32,
    /// Every handoff, in order (bounded).
    pub handoffs: Vec<HandoffReason>,
    /// When the current handoff started, until an operator replies (or it ends without one).
    pub awaiting_reply_since: Option<i64>,
    /// Per handoff: milliseconds from the handoff to the first operator reply (bounded).
    pub reply_waits_ms: Vec<i64>,
    /// Questions the bot had no confident answer to (bounded, cut to `QUESTION_CHARS`).
    pub unanswered: Vec<String>,
    /// Sections cited by confident answers, with counts (bounded, first cited first).
    pub cited: Vec<CitedSection>,
    /// "Was this helpful?": answer seq → the visitor's last vote.
    pub votes: BTreeMap<u64, bool>,
    /// Ratings after resolves, with whose help and why a human (`satisfaction`).
    pub satisfaction: crate::satisfaction::Folded,
}

impl ConversationStats {
    /// Folds one stored event. `question` is the visitor message a bot answer answers (the
    /// conversation's latest visitor message when the answer is folded).
    pub fn apply(&mut self, event: &Event, question: Option<&str>) {
        self.satisfaction.apply(event);
        match &event.kind {
            EventKind::VisitorMessage { .. } => self.visitor_messages += 1,
            EventKind::BotAnswer { answer, .. } => {
                self.bot_answers += 1;
                if answer.handoff {
                    if let Some(q) = question.map(str::trim).filter(|q| !q.is_empty()) {
                        if self.unanswered.len() < MAX_UNANSWERED {
                            self.unanswered.push(q.chars().take(QUESTION_CHARS).collect());
                        }
                    }
                } else {
                    self.confident_answers += 1;
                    for c in &answer.citations {
                        if let Some(s) = self.cited.iter_mut().find(|s| s.url == c.url) {
                            s.count += 1;
                        } else if self.cited.len() < MAX_CITED {
                            self.cited.push(CitedSection { url: c.url.clone(), label: c.breadcrumb(), count: 1 });
                        }
                    }
                }
            }
            EventKind::HandoffRequested { handoff, .. } => {
                if self.handoffs.len() < MAX_HANDOFFS {
                    self.handoffs.push(handoff.reason);
                }
                self.awaiting_reply_since.get_or_insert(event.at);
            }
            EventKind::OperatorMessage { .. } => {
                if let Some(since) = self.awaiting_reply_since.take() {
                    if self.reply_waits_ms.len() < MAX_HANDOFFS {
                        self.reply_waits_ms.push((event.at - since).max(0));
                    }
                }
            }
            // The handoff ended without a reply: there is no reply time to measure.
            EventKind::HandedBack { .. } | EventKind::Resolved { .. } => self.awaiting_reply_since = None,
            EventKind::Feedback { answer_seq, helpful } if self.votes.len() < MAX_VOTES || self.votes.contains_key(answer_seq) => {
                self.votes.insert(*answer_seq, *helpful);
            }
            _ => {}
        }
    }

    /// The visitor engaged: asked something or asked for a person. Conversations opened and
    /// left empty are not counted.
    pub fn engaged(&self) -> bool {
        self.visitor_messages > 0 || !self.handoffs.is_empty()
    }

    /// Answered by the bot without a handoff: at least one confident answer, and no person was
    /// ever asked for.
    pub fn answered_by_bot(&self) -> bool {
        self.handoffs.is_empty() && self.confident_answers > 0
    }
}

/// How many handoffs had this reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReasonCount {
    pub reason: HandoffReason,
    pub count: u32,
}

/// Unanswered questions that ask the same thing: a docs gap to write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuestionGroup {
    /// The group's first question, as the visitor wrote it.
    pub question: String,
    /// How many times it (or a look-alike) was asked.
    pub count: u32,
    /// A few other wordings, distinct.
    pub examples: Vec<String>,
}

/// One day of the range (UTC).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DayCount {
    /// Midnight UTC, ms since the epoch.
    pub day: i64,
    pub conversations: u32,
    pub answered_by_bot: u32,
    pub handoffs: u32,
}

/// The insights page and `GET /api/v1/sites/:site/insights?days=N` — the same numbers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Insights {
    /// The range: conversations started in `[since, until)` (ms since the epoch).
    pub since: i64,
    pub until: i64,
    pub days: u32,
    /// Conversations in which the visitor asked something (or asked for a person).
    pub conversations: u32,
    /// Of those, answered by the bot with no handoff.
    pub answered_by_bot: u32,
    /// `answered_by_bot / conversations`, when there are conversations.
    pub deflection_rate: Option<f32>,
    pub handoffs: u32,
    /// Most frequent first.
    pub handoffs_by_reason: Vec<ReasonCount>,
    /// Median of "handoff → first operator reply" over the handoffs that got a reply.
    pub median_first_reply_ms: Option<i64>,
    /// How many handoffs that median is over.
    pub replies_measured: u32,
    /// Handoffs still waiting for a first reply.
    pub awaiting_reply: u32,
    /// Questions with no confident answer, grouped by similarity, biggest group first.
    pub unanswered: Vec<QuestionGroup>,
    pub unanswered_questions: u32,
    /// Most cited first.
    pub top_citations: Vec<CitedSection>,
    pub helpful: u32,
    pub unhelpful: u32,
    /// `helpful / (helpful + unhelpful)`, when anyone voted.
    pub helpful_rate: Option<f32>,
    pub per_day: Vec<DayCount>,
    /// How questions were grouped: "embedding" (the site's embedding model and shared words)
    /// or "words" (shared words only, when the model is unavailable).
    pub grouping: String,
    /// The visitors' ratings after resolves, of the conversations in the range: per operator,
    /// per handoff reason, per day, and their comments.
    #[serde(default)]
    pub satisfaction: crate::satisfaction::Satisfaction,
}

/// A question's embedding (the site's model), for grouping questions by meaning.
pub type Embed<'a> = &'a dyn Fn(&str) -> Vec<f32>;

/// Midnight UTC of the day `at` falls in.
pub fn day_of(at: i64) -> i64 {
    at.div_euclid(DAY_MS) * DAY_MS
}

/// The range of the last `days` days up to `now`: from midnight UTC `days - 1` days ago.
pub fn range(now: i64, days: u32) -> (i64, i64) {
    let days = days.clamp(1, MAX_DAYS) as i64;
    (day_of(now) - (days - 1) * DAY_MS, now + 1)
}

/// Aggregates the rows of conversations started in `[since, until)`. `rows` are
/// `(created_at, stats)`, most recent first (the order only decides which questions are
/// grouped when there are very many). `embed` gives a question's embedding when the site's
/// model is available.
pub fn compute(rows: &[(i64, &ConversationStats)], since: i64, until: i64, embed: Option<Embed>) -> Insights {
    let days = ((day_of(until - 1) - day_of(since)) / DAY_MS + 1).max(1) as usize;
    let mut per_day: Vec<DayCount> =
        (0..days).map(|i| DayCount { day: day_of(since) + i as i64 * DAY_MS, conversations: 0, answered_by_bot: 0, handoffs: 0 }).collect();
    let mut out = Insights { since, until, days: days as u32, ..Default::default() };
    let mut reasons: BTreeMap<HandoffReason, u32> = BTreeMap::new();
    let mut waits = Vec::new();
    let mut cited: Vec<CitedSection> = Vec::new();
    let mut questions = Vec::new();
    for (created, s) in rows.iter().filter(|(at, _)| (since..until).contains(at)) {
        if !s.engaged() {
            continue;
        }
        let day = per_day.get_mut(((day_of(*created) - day_of(since)) / DAY_MS) as usize);
        out.conversations += 1;
        let deflected = s.answered_by_bot();
        out.answered_by_bot += deflected as u32;
        out.handoffs += s.handoffs.len() as u32;
        if let Some(d) = day {
            d.conversations += 1;
            d.answered_by_bot += deflected as u32;
            d.handoffs += s.handoffs.len() as u32;
        }
        for r in &s.handoffs {
            *reasons.entry(*r).or_default() += 1;
        }
        waits.extend_from_slice(&s.reply_waits_ms);
        out.awaiting_reply += s.awaiting_reply_since.is_some() as u32;
        for c in &s.cited {
            match cited.iter_mut().find(|x| x.url == c.url) {
                Some(x) => x.count += c.count,
                None => cited.push(c.clone()),
            }
        }
        out.unanswered_questions += s.unanswered.len() as u32;
        if questions.len() < MAX_GROUPED_QUESTIONS {
            questions.extend(s.unanswered.iter().cloned());
        }
        for helpful in s.votes.values() {
            if *helpful {
                out.helpful += 1;
            } else {
                out.unhelpful += 1;
            }
        }
    }
    out.deflection_rate = ratio(out.answered_by_bot, out.conversations);
    out.helpful_rate = ratio(out.helpful, out.helpful + out.unhelpful);
    let mut by_reason: Vec<ReasonCount> = reasons.into_iter().map(|(reason, count)| ReasonCount { reason, count }).collect();
    by_reason.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    out.handoffs_by_reason = by_reason;
    out.replies_measured = waits.len() as u32;
    out.median_first_reply_ms = median(&mut waits);
    // Stable: ties keep the order first cited.
    cited.sort_by_key(|c| std::cmp::Reverse(c.count));
    cited.truncate(TOP_N);
    out.top_citations = cited;
    out.unanswered = group_questions(&questions, embed);
    out.unanswered.truncate(TOP_N);
    out.grouping = if embed.is_some() { "embedding" } else { "words" }.into();
    out.per_day = per_day;
    let in_range = rows.iter().filter(|(at, _)| (since..until).contains(at));
    out.satisfaction = crate::satisfaction::compute(in_range.map(|(_, s)| &s.satisfaction), since, until);
    out
}

fn ratio(part: u32, whole: u32) -> Option<f32> {
    (whole > 0).then(|| part as f32 / whole as f32)
}

/// The median (the lower one of an even count's middle pair: a real, observed wait), by
/// the one percentile definition (`stats::percentile`).
pub fn median(values: &mut [i64]) -> Option<i64> {
    values.sort_unstable();
    crate::stats::percentile(values, 0.5)
}

/// Two questions ask the same thing when their embeddings' cosine reaches this (the site's
/// static embedding model, stop words dropped)...
pub const SAME_QUESTION_COSINE: f32 = 0.7;
/// ...or when this share of their content words is shared (Jaccard).
pub const SAME_QUESTION_WORDS: f32 = 0.5;

/// Groups questions that ask the same thing: identical after normalising (case, spaces,
/// trailing punctuation), sharing most of their content words, or — with the embedding model —
/// close in meaning. Greedy, in order: each question joins the first group whose first
/// question it matches, else starts a group. Biggest group first; ties keep first-asked order.
pub fn group_questions(questions: &[String], embed: Option<Embed>) -> Vec<QuestionGroup> {
    struct Group {
        words: Vec<String>,
        vector: Option<Vec<f32>>,
        out: QuestionGroup,
        keys: Vec<String>,
    }
    let mut groups: Vec<Group> = Vec::new();
    for q in questions {
        let key = normalise(q);
        if key.is_empty() {
            continue;
        }
        if let Some(g) = groups.iter_mut().find(|g| g.keys.contains(&key)) {
            g.out.count += 1;
            continue;
        }
        let words = content_words(&key);
        let vector = embed.map(|e| e(&words.join(" "))).filter(|v| v.iter().any(|x| *x != 0.0));
        let same = |g: &Group| {
            jaccard(&words, &g.words) >= SAME_QUESTION_WORDS
                || matches!((&vector, &g.vector), (Some(a), Some(b)) if cosine(a, b) >= SAME_QUESTION_COSINE)
        };
        match groups.iter_mut().find(|g| same(g)) {
            Some(g) => {
                g.out.count += 1;
                g.keys.push(key);
                if g.out.examples.len() < 3 {
                    g.out.examples.push(q.trim().to_string());
                }
            }
            None => groups.push(Group {
                words,
                vector,
                out: QuestionGroup { question: q.trim().to_string(), count: 1, examples: Vec::new() },
                keys: vec![key],
            }),
        }
    }
    let mut out: Vec<QuestionGroup> = groups.into_iter().map(|g| g.out).collect();
    out.sort_by_key(|g| std::cmp::Reverse(g.count));
    out
}

/// Lowercase words, single spaces, no punctuation at the ends.
fn normalise(q: &str) -> String {
    let words: Vec<String> = q
        .split(|c: char| c.is_whitespace())
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    words.join(" ")
}

/// Words that carry the question's meaning — not question words, pronouns or auxiliaries —
/// crudely stemmed, so "invoice", "invoices" and "invoiced" count as one word.
fn content_words(normalised: &str) -> Vec<String> {
    const STOP: &[&str] = &[
        "a", "an", "the", "i", "me", "my", "we", "our", "you", "your", "it", "its", "is", "are", "was", "be", "do", "does", "did", "can",
        "could", "would", "should", "will", "how", "what", "where", "when", "why", "which", "who", "to", "of", "in", "on", "for", "with",
        "and", "or", "there", "this", "that", "any", "some", "please", "hi", "hello", "hey", "thanks", "get", "have", "has", "at", "by",
        "from", "about", "if", "so", "just", "way", "possible", "tell", "know", "want", "need", "am", "not", "what's", "whats",
    ];
    let mut out: Vec<String> = normalised.split(' ').filter(|w| !STOP.contains(w)).map(stem).collect();
    out.sort();
    out.dedup();
    out
}

/// Drops common English endings (plural, past, -ing, a final e): enough to match the forms of
/// a word in short questions, never meant as linguistics.
fn stem(w: &str) -> String {
    let n = w.chars().count();
    let mut s = if n > 4 && w.ends_with("ies") {
        format!("{}y", &w[..w.len() - 3])
    } else if n > 5 && w.ends_with("ing") {
        w[..w.len() - 3].to_string()
    } else if n > 4 && w.ends_with("ed") {
        w[..w.len() - 2].to_string()
    } else if n > 3 && w.ends_with('s') && !w.ends_with("ss") {
        w[..w.len() - 1].to_string()
    } else {
        w.to_string()
    };
    if s.chars().count() > 4 && s.ends_with('e') {
        s.pop();
    }
    s
}

fn jaccard(a: &[String], b: &[String]) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.iter().filter(|w| b.contains(w)).count();
    shared as f32 / (a.len() + b.len() - shared) as f32
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::*;

    fn ev(seq: u64, at: i64, kind: EventKind) -> Event {
        Event { seq, at, client_id: None, kind }
    }

    fn answer(confident: bool, url: &str) -> EventKind {
        let citations = if confident {
            vec![Citation { title: "FAQ".into(), heading: url.into(), url: format!("/docs/faq#{url}"), path: "faq.md".into() }]
        } else {
            vec![]
        };
        EventKind::BotAnswer {
            question_seq: 1,
            answer: Answer { text: "x".into(), citations, confidence: if confident { 0.8 } else { 0.2 }, handoff: !confident },
        }
    }

    fn handoff(reason: HandoffReason) -> EventKind {
        EventKind::HandoffRequested {
            handoff: Handoff { reason, evidence: vec![] },
            briefing: Briefing::default(),
            operators_online: true,
            form: None,
            notice: String::new(),
        }
    }

    fn ann() -> OperatorRef {
        OperatorRef { id: "ann@example.com".into(), name: "Ann".into() }
    }

    /// Folds events the way `ConversationState` does: the question is the latest visitor message.
    fn fold(events: &[(i64, EventKind)]) -> ConversationStats {
        let mut s = ConversationStats::default();
        let mut last_q: Option<String> = None;
        for (i, (at, k)) in events.iter().enumerate() {
            let e = ev(i as u64 + 1, *at, k.clone());
            s.apply(&e, last_q.as_deref());
            if let EventKind::VisitorMessage { text } = k {
                last_q = Some(text.clone());
            }
        }
        s
    }

    fn say(t: &str) -> EventKind {
        EventKind::VisitorMessage { text: t.into() }
    }

    #[test]
    fn a_confident_answer_without_handoff_is_answered_by_the_bot() {
        let s = fold(&[(0, say("how do I embed it?")), (1, answer(true, "embed"))]);
        assert!(s.engaged() && s.answered_by_bot());
        assert_eq!(s.cited, [CitedSection { url: "/docs/faq#embed".into(), label: "FAQ › embed".into(), count: 1 }]);
        // The same conversation, later handed off: not answered by the bot.
        let s = fold(&[(0, say("how do I embed it?")), (1, answer(true, "embed")), (2, handoff(HandoffReason::Button))]);
        assert!(!s.answered_by_bot());
        // Only unsure answers: not answered either, and the question is a docs gap.
        let s = fold(&[(0, say("do you support SAML?")), (1, answer(false, ""))]);
        assert!(s.engaged() && !s.answered_by_bot());
        assert_eq!(s.unanswered, ["do you support SAML?"]);
        // Opened and left without a word: not a conversation at all.
        assert!(!fold(&[]).engaged());
    }

    #[test]
    fn reply_time_runs_from_the_handoff_to_the_first_operator_reply() {
        let op_msg = || EventKind::OperatorMessage { operator: ann(), text: "hi".into() };
        let s = fold(&[
            (1_000, say("talk to a person")),
            (1_000, handoff(HandoffReason::ExplicitRequest)),
            (5_000, EventKind::OperatorJoined { operator: ann() }),
            (61_000, op_msg()),
            (70_000, op_msg()),
            // A second handoff in the same conversation is measured on its own...
            (100_000, EventKind::OperatorLeft { operator: ann() }),
            (100_000, handoff(HandoffReason::Keyword)),
            (130_000, op_msg()),
            // ...and one closed without a reply measures nothing.
            (200_000, handoff(HandoffReason::Button)),
            (210_000, EventKind::Resolved { operator: Some(ann()) }),
        ]);
        assert_eq!(s.reply_waits_ms, [60_000, 30_000]);
        assert_eq!(s.handoffs, [HandoffReason::ExplicitRequest, HandoffReason::Keyword, HandoffReason::Button]);
        assert_eq!(s.awaiting_reply_since, None);
    }

    #[test]
    fn feedback_counts_the_visitors_last_vote_per_answer() {
        let vote = |seq, helpful| EventKind::Feedback { answer_seq: seq, helpful };
        let s = fold(&[(0, say("q")), (0, answer(true, "a")), (0, vote(2, false)), (0, vote(2, true)), (0, vote(9, false))]);
        let i = compute(&[(0, &s)], 0, 1, None);
        assert_eq!((i.helpful, i.unhelpful, i.helpful_rate), (1, 1, Some(0.5)));
    }

    #[test]
    fn insights_aggregate_the_range() {
        let day = DAY_MS;
        let deflected = fold(&[(0, say("how do I embed it?")), (0, answer(true, "embed"))]);
        let deflected2 = fold(&[(0, say("pricing?")), (0, answer(true, "pricing")), (0, say("embed?")), (0, answer(true, "embed"))]);
        let handed = fold(&[
            (0, say("refund please")),
            (0, handoff(HandoffReason::Keyword)),
            (120_000, EventKind::OperatorMessage { operator: ann(), text: "on it".into() }),
        ]);
        let waiting = fold(&[(0, say("person please")), (0, handoff(HandoffReason::ExplicitRequest))]);
        let empty = ConversationStats::default();
        let old = fold(&[(0, say("ancient")), (0, answer(true, "old"))]);
        let (since, until) = range(10 * day + 5, 2);
        assert_eq!((since, until), (9 * day, 10 * day + 6));
        let rows = [
            (10 * day, &deflected),
            (10 * day + 1, &handed),
            (9 * day, &deflected2),
            (9 * day + 3, &waiting),
            (10 * day + 2, &empty),
            (8 * day, &old),
        ];
        let i = compute(&rows, since, until, None);
        assert_eq!(i.conversations, 4, "the empty one and the one before the range are not counted");
        assert_eq!(i.answered_by_bot, 2);
        assert_eq!(i.deflection_rate, Some(0.5));
        assert_eq!(i.handoffs, 2);
        assert_eq!(
            i.handoffs_by_reason,
            [ReasonCount { reason: HandoffReason::ExplicitRequest, count: 1 }, ReasonCount { reason: HandoffReason::Keyword, count: 1 }]
        );
        assert_eq!((i.median_first_reply_ms, i.replies_measured, i.awaiting_reply), (Some(120_000), 1, 1));
        assert_eq!(i.top_citations[0], CitedSection { url: "/docs/faq#embed".into(), label: "FAQ › embed".into(), count: 2 });
        assert_eq!(i.top_citations.len(), 2);
        assert_eq!(i.per_day.len(), 2);
        assert_eq!((i.per_day[0].day, i.per_day[0].conversations, i.per_day[0].handoffs), (9 * day, 2, 1));
        assert_eq!((i.per_day[1].conversations, i.per_day[1].answered_by_bot), (2, 1));
        assert_eq!(i.grouping, "words");
        // Nothing in range: no rates, no medians — not zeros that look like measurements.
        let none = compute(&rows, 20 * day, 21 * day, None);
        assert_eq!((none.conversations, none.deflection_rate, none.median_first_reply_ms, none.helpful_rate), (0, None, None, None));
    }

    #[test]
    fn median_is_an_observed_value() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5]), Some(5));
        assert_eq!(median(&mut [9, 1, 5]), Some(5));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(2));
    }

    fn qs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn questions_group_by_shared_words_without_a_model() {
        let groups = group_questions(
            &qs(&[
                "Do you support SAML?",
                "How do I export my invoices",
                "do you support saml",
                "Is SAML supported?",
                "export invoices to CSV?",
                "What's the weather like?",
            ]),
            None,
        );
        let summary: Vec<(&str, u32)> = groups.iter().map(|g| (g.question.as_str(), g.count)).collect();
        assert_eq!(summary, [("Do you support SAML?", 3), ("How do I export my invoices", 2), ("What's the weather like?", 1)]);
        assert_eq!(groups[0].examples, ["Is SAML supported?"], "identical wordings are counted, not listed again");
        assert!(group_questions(&qs(&["", "  ?! "]), None).is_empty());
        assert_eq!(stem("invoices"), stem("invoiced"));
        assert_eq!(stem("updating"), stem("update"));
        assert_eq!(stem("policies"), "policy");
    }

    #[test]
    fn an_embedding_joins_paraphrases_that_share_no_words() {
        // A stand-in embedding: 'refund' and 'money back' point the same way.
        let embed = |t: &str| -> Vec<f32> {
            if t.contains("refund") || t.contains("money") {
                vec![1.0, 0.1]
            } else {
                vec![0.0, 1.0]
            }
        };
        let questions = qs(&["Can I get a refund?", "I want my money back", "Where is the API key?"]);
        let with = group_questions(&questions, Some(&embed));
        assert_eq!(with.iter().map(|g| g.count).collect::<Vec<_>>(), [2, 1]);
        let without = group_questions(&questions, None);
        assert_eq!(without.len(), 3);
    }
}

#[cfg(all(test, feature = "engine"))]
mod with_the_model {
    use super::*;

    fn model() -> crate::engine::embed::Model {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../model/potion-base-8M.int8.model");
        crate::index::model_from_bytes(&std::fs::read(path).expect("model/ in the repo")).expect("model")
    }

    /// Measured on the demo model (potion-base-8M, content words): paraphrases score
    /// 0.35-0.80, different questions about the same object up to 0.63 ("delete my account" /
    /// "delete a conversation"). The bar sits above the latter: a gap list that keeps two
    /// wordings apart is better than one that hides a topic inside another.
    #[test]
    fn the_model_joins_close_paraphrases_and_keeps_different_asks_apart() {
        let m = model();
        let embed = |t: &str| m.embed(t);
        let groups = group_questions(
            &[
                "Does it work with WordPress?",
                "How do I delete my account?",
                "wordpress plugin?",
                "How do I delete a conversation?",
                "What is the pricing for teams?",
                "Can I change the widget colour?",
            ]
            .map(String::from),
            Some(&embed),
        );
        let summary: Vec<(&str, u32)> = groups.iter().map(|g| (g.question.as_str(), g.count)).collect();
        assert_eq!(
            summary,
            [
                ("Does it work with WordPress?", 2),
                ("How do I delete my account?", 1),
                ("How do I delete a conversation?", 1),
                ("What is the pricing for teams?", 1),
                ("Can I change the widget colour?", 1),
            ]
        );
        assert_eq!(groups[0].examples, ["wordpress plugin?"]);
    }
}
