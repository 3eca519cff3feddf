//! Satisfaction: after a resolve, the visitor may rate the help and leave a comment.
//!
//! - **When**: only while the conversation is resolved ([`may_rate`]); rating it again before
//!   it reopens replaces the rating (the visitor's last word counts). Bot answers keep their
//!   own thumbs (`feedback`).
//! - **Scale**: 1-5; the widget's three faces are bad = 1, okay = 3, good = 5. CSAT is the
//!   share of 4s and 5s, the industry's usual definition, so the figure compares with other
//!   tools'.
//! - **Attributed to**: the operator who last held the thread before the resolve (who joined
//!   or replied; else who resolved it) and the reason of the episode's last handoff — folded
//!   from the log ([`Folded`], part of `insights::ConversationStats`).
//! - **Aggregated** ([`compute`]) per operator, per handoff reason and per day for the
//!   insights page, with the latest comments.

use crate::protocol::{ErrorBody, ErrorCode, Event, EventKind, HandoffReason, OperatorRef, Ownership};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const BAD: u8 = 1;
pub const OKAY: u8 = 3;
pub const GOOD: u8 = 5;
/// Longest comment, in bytes.
pub const MAX_COMMENT_BYTES: usize = 1000;
/// Ratings one conversation keeps (one per resolve).
const MAX_RATINGS: usize = 16;
/// Characters of a comment kept for insights.
const COMMENT_CHARS: usize = 280;
/// Comments an insights answer lists (newest first).
const MAX_COMMENTS: usize = 20;
const DAY_MS: i64 = 86_400_000;

/// A score and comment as the visitor may send them.
pub fn validate(score: u8, comment: &str) -> Result<(), ErrorBody> {
    if !(1..=5).contains(&score) {
        return Err(ErrorBody::field("score", "score is 1 (bad) to 5 (good)"));
    }
    if comment.len() > MAX_COMMENT_BYTES {
        return Err(ErrorBody {
            code: ErrorCode::TooLarge,
            message: format!("the comment is {} bytes; at most {MAX_COMMENT_BYTES}: shorten it", comment.len()),
            field: Some("comment".into()),
            retry_after: None,
        });
    }
    Ok(())
}

/// A rating is for help that ended: only a resolved conversation may be rated.
pub fn may_rate(ownership: &Ownership) -> Result<(), ErrorBody> {
    match ownership {
        Ownership::Resolved { .. } => Ok(()),
        _ => Err(ErrorBody::new(
            ErrorCode::InvalidState,
            "the conversation is not resolved yet: rate the help once the team has resolved it",
        )),
    }
}

/// "good" (4-5), "okay" (3) or "bad" (1-2).
pub fn label(score: u8) -> &'static str {
    match score {
        4.. => "good",
        3 => "okay",
        _ => "bad",
    }
}

/// One rating, with what it is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatingStat {
    pub score: u8,
    pub at: i64,
    /// When the rated resolve happened (a second rating of it replaces this one).
    pub resolved_at: i64,
    #[serde(default)]
    pub operator: Option<OperatorRef>,
    #[serde(default)]
    pub reason: Option<HandoffReason>,
    #[serde(default)]
    pub comment: String,
}

/// What one conversation's log says about satisfaction (a part of `ConversationStats`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Folded {
    /// The operator who last joined or replied since the last resolve.
    pub handler: Option<OperatorRef>,
    /// The reason of the last handoff since the last resolve.
    pub reason: Option<HandoffReason>,
    /// The last resolve: when, whose help, why a human.
    pub resolved: Option<(i64, Option<OperatorRef>, Option<HandoffReason>)>,
    pub ratings: Vec<RatingStat>,
}

impl Folded {
    pub fn apply(&mut self, event: &Event) {
        match &event.kind {
            EventKind::HandoffRequested { handoff, .. } => self.reason = Some(handoff.reason),
            EventKind::OperatorJoined { operator } | EventKind::OperatorMessage { operator, .. } => self.handler = Some(operator.clone()),
            EventKind::Resolved { operator } => {
                let by = self.handler.take().or_else(|| operator.clone());
                self.resolved = Some((event.at, by, self.reason.take()));
            }
            EventKind::Rated { score, comment } => {
                let Some((resolved_at, operator, reason)) = self.resolved.clone() else { return };
                let r = RatingStat {
                    score: *score,
                    at: event.at,
                    resolved_at,
                    operator,
                    reason,
                    comment: comment.chars().take(COMMENT_CHARS).collect(),
                };
                if self.ratings.last().is_some_and(|last| last.resolved_at == resolved_at) {
                    self.ratings.pop();
                }
                if self.ratings.len() < MAX_RATINGS {
                    self.ratings.push(r);
                }
            }
            _ => {}
        }
    }

    /// The latest rating's score (the inbox list shows it).
    pub fn latest(&self) -> Option<u8> {
        self.ratings.last().map(|r| r.score)
    }
}

/// Ratings of one group (an operator, a handoff reason).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreGroup {
    /// Operator id, or the reason's snake_case name, or "" (the bot's own episode).
    pub key: String,
    pub label: String,
    pub ratings: u32,
    pub average: f32,
    /// Share of 4s and 5s.
    pub csat: f32,
}

/// Ratings given on one day (UTC).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DayScore {
    pub day: i64,
    pub ratings: u32,
    #[serde(default)]
    pub average: Option<f32>,
}

/// A comment the visitor left with a rating.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatingComment {
    pub at: i64,
    pub score: u8,
    pub comment: String,
    #[serde(default)]
    pub operator: Option<String>,
}

/// The insights' satisfaction figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Satisfaction {
    pub ratings: u32,
    pub average: Option<f32>,
    /// Share of 4s and 5s, when anyone rated.
    pub csat: Option<f32>,
    pub good: u32,
    pub okay: u32,
    pub bad: u32,
    /// Most rated first.
    pub by_operator: Vec<ScoreGroup>,
    pub by_reason: Vec<ScoreGroup>,
    pub per_day: Vec<DayScore>,
    /// Newest first.
    pub comments: Vec<RatingComment>,
}

fn groups(map: BTreeMap<String, (String, Vec<u8>)>) -> Vec<ScoreGroup> {
    let mut out: Vec<ScoreGroup> = map
        .into_iter()
        .map(|(key, (label, scores))| {
            let n = scores.len() as f32;
            ScoreGroup {
                key,
                label,
                ratings: scores.len() as u32,
                average: scores.iter().map(|&s| s as f32).sum::<f32>() / n,
                csat: scores.iter().filter(|&&s| s >= 4).count() as f32 / n,
            }
        })
        .collect();
    out.sort_by(|a, b| b.ratings.cmp(&a.ratings).then_with(|| a.label.cmp(&b.label)));
    out
}

/// Aggregates the ratings given in `[since, until)` of the conversations in `rows`.
pub fn compute<'a>(rows: impl Iterator<Item = &'a Folded>, since: i64, until: i64) -> Satisfaction {
    let day_of = |at: i64| at.div_euclid(DAY_MS) * DAY_MS;
    let days = ((day_of(until - 1) - day_of(since)) / DAY_MS + 1).max(1) as usize;
    let mut per_day: Vec<(u32, u32)> = vec![(0, 0); days];
    let mut out = Satisfaction::default();
    let mut by_operator: BTreeMap<String, (String, Vec<u8>)> = BTreeMap::new();
    let mut by_reason: BTreeMap<String, (String, Vec<u8>)> = BTreeMap::new();
    let mut sum = 0u32;
    for r in rows.flat_map(|f| f.ratings.iter()).filter(|r| (since..until).contains(&r.at)) {
        out.ratings += 1;
        sum += r.score as u32;
        match label(r.score) {
            "good" => out.good += 1,
            "okay" => out.okay += 1,
            _ => out.bad += 1,
        }
        let (key, name) = match &r.operator {
            Some(o) => (o.id.clone(), o.name.clone()),
            None => (String::new(), "No operator".to_string()),
        };
        by_operator.entry(key).or_insert_with(|| (name, Vec::new())).1.push(r.score);
        let (key, name) = match r.reason {
            Some(reason) => (reason.key().to_string(), reason.describe().to_string()),
            None => (String::new(), "No handoff".to_string()),
        };
        by_reason.entry(key).or_insert_with(|| (name, Vec::new())).1.push(r.score);
        if let Some(d) = per_day.get_mut(((day_of(r.at) - day_of(since)) / DAY_MS) as usize) {
            d.0 += 1;
            d.1 += r.score as u32;
        }
        if !r.comment.trim().is_empty() {
            out.comments.push(RatingComment {
                at: r.at,
                score: r.score,
                comment: r.comment.clone(),
                operator: r.operator.as_ref().map(|o| o.name.clone()),
            });
        }
    }
    if out.ratings > 0 {
        out.average = Some(sum as f32 / out.ratings as f32);
        out.csat = Some(out.good as f32 / out.ratings as f32);
    }
    out.by_operator = groups(by_operator);
    out.by_reason = groups(by_reason);
    out.per_day = per_day
        .into_iter()
        .enumerate()
        .map(|(i, (n, s))| DayScore { day: day_of(since) + i as i64 * DAY_MS, ratings: n, average: (n > 0).then(|| s as f32 / n as f32) })
        .collect();
    out.comments.sort_by(|a, b| b.at.cmp(&a.at));
    out.comments.truncate(MAX_COMMENTS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Handoff;

    fn ann() -> OperatorRef {
        OperatorRef { id: "ann@example.com".into(), name: "Ann".into() }
    }

    fn fold(kinds: Vec<(i64, EventKind)>) -> Folded {
        let mut f = Folded::default();
        for (i, (at, kind)) in kinds.into_iter().enumerate() {
            f.apply(&Event { seq: i as u64 + 1, at, client_id: None, kind });
        }
        f
    }

    fn handoff(reason: HandoffReason) -> EventKind {
        EventKind::HandoffRequested {
            handoff: Handoff { reason, evidence: vec![] },
            briefing: Default::default(),
            operators_online: true,
            form: None,
            notice: String::new(),
        }
    }

    #[test]
    fn scores_and_comments_are_checked() {
        assert!(validate(1, "").is_ok() && validate(5, "great").is_ok());
        assert_eq!(validate(0, "").unwrap_err().field.as_deref(), Some("score"));
        assert_eq!(validate(6, "").unwrap_err().code, ErrorCode::InvalidField);
        assert_eq!(validate(3, &"x".repeat(MAX_COMMENT_BYTES + 1)).unwrap_err().code, ErrorCode::TooLarge);
        assert_eq!((label(GOOD), label(4), label(OKAY), label(2), label(BAD)), ("good", "good", "okay", "bad", "bad"));
    }

    #[test]
    fn only_resolved_help_is_rated() {
        assert!(may_rate(&Ownership::Resolved { at: 1 }).is_ok());
        for o in [Ownership::Bot, Ownership::WaitingForHuman { since: 1 }, Ownership::Human { operator: ann() }] {
            assert_eq!(may_rate(&o).unwrap_err().code, ErrorCode::InvalidState, "{o:?}");
        }
    }

    #[test]
    fn a_rating_is_attributed_to_the_operator_and_the_handoff_reason() {
        let f = fold(vec![
            (1, handoff(HandoffReason::Keyword)),
            (2, EventKind::OperatorJoined { operator: ann() }),
            (3, EventKind::Resolved { operator: Some(OperatorRef { id: "bob@example.com".into(), name: "Bob".into() }) }),
            (4, EventKind::Rated { score: 2, comment: "slow".into() }),
            // Changed their mind: the same resolve, one rating.
            (5, EventKind::Rated { score: 5, comment: "sorted, thanks".into() }),
        ]);
        assert_eq!(f.ratings.len(), 1);
        let r = &f.ratings[0];
        assert_eq!((r.score, r.operator.as_ref().map(|o| o.name.as_str()), r.reason), (5, Some("Ann"), Some(HandoffReason::Keyword)));
        assert_eq!(f.latest(), Some(5));
        // A second episode, resolved by someone who never joined: theirs, with no handoff.
        let mut f2 = f.clone();
        for (at, kind) in [
            (6, EventKind::Reopened { operator: None }),
            (7, EventKind::Resolved { operator: Some(ann()) }),
            (8, EventKind::Rated { score: 3, comment: String::new() }),
        ] {
            f2.apply(&Event { seq: at as u64, at, client_id: None, kind });
        }
        assert_eq!(f2.ratings.len(), 2);
        assert_eq!((f2.ratings[1].reason, f2.ratings[1].operator.clone()), (None, Some(ann())));
    }

    #[test]
    fn insights_group_ratings_by_operator_reason_and_day() {
        let a = fold(vec![
            (1, handoff(HandoffReason::Keyword)),
            (2, EventKind::OperatorJoined { operator: ann() }),
            (3, EventKind::Resolved { operator: None }),
            (DAY_MS + 4, EventKind::Rated { score: 5, comment: "great".into() }),
        ]);
        let b = fold(vec![
            (1, handoff(HandoffReason::Button)),
            (2, EventKind::OperatorMessage { operator: ann(), text: "hi".into() }),
            (3, EventKind::Resolved { operator: Some(ann()) }),
            (5, EventKind::Rated { score: 1, comment: String::new() }),
        ]);
        let old = fold(vec![(1, EventKind::Resolved { operator: None }), (2, EventKind::Rated { score: 1, comment: String::new() })]);
        let s = compute([&a, &b, &old].into_iter(), 3, 2 * DAY_MS);
        assert_eq!((s.ratings, s.good, s.okay, s.bad), (2, 1, 0, 1), "the rating before the range is not counted");
        assert_eq!((s.average, s.csat), (Some(3.0), Some(0.5)));
        assert_eq!(s.by_operator.len(), 1);
        assert_eq!((s.by_operator[0].label.as_str(), s.by_operator[0].ratings, s.by_operator[0].csat), ("Ann", 2, 0.5));
        let reasons: Vec<(&str, u32)> = s.by_reason.iter().map(|g| (g.key.as_str(), g.ratings)).collect();
        assert_eq!(reasons, [("keyword", 1), ("button", 1)], "ties by label");
        assert_eq!(s.per_day.iter().map(|d| d.ratings).collect::<Vec<_>>(), [1, 1]);
        assert_eq!(s.per_day[1].average, Some(5.0));
        assert_eq!(s.comments.len(), 1);
        assert_eq!(s.comments[0].comment, "great");
        assert_eq!(
            compute(std::iter::empty(), 0, DAY_MS),
            Satisfaction { per_day: vec![DayScore { day: 0, ratings: 0, average: None }], ..Default::default() }
        );
    }
}
