//! The operators' list: which rows a view shows, in what order, what a search matches, and
//! the bounded text each conversation keeps for search. The `Inbox` object answers queries
//! with these rules and the inbox app filters its live rows with the same ones.

use crate::protocol::{ConversationId, ConversationSummary, HandoffReason, Ownership};
use serde::{Deserialize, Serialize};

/// Characters of a conversation's text kept for search: its beginning (what it was about) and
/// its latest part.
pub const SEARCH_HEAD_CHARS: usize = 1000;
pub const SEARCH_TAIL_CHARS: usize = 3000;
/// Words of a search query that count (the rest are ignored).
pub const MAX_SEARCH_TERMS: usize = 8;
/// Rows a query returns at most.
pub const MAX_QUERY_ROWS: usize = 500;

/// The list's tabs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// Waiting for a human: urgent incidents first, then the longest-waiting.
    #[default]
    Waiting,
    /// Owned by me, or assigned to me and waiting for me.
    Mine,
    /// Not resolved: with the bot, waiting, or with a person.
    Open,
    Resolved,
    All,
}

impl View {
    pub const ALL: [View; 5] = [View::Waiting, View::Mine, View::Open, View::Resolved, View::All];

    pub fn parse(s: &str) -> Option<View> {
        View::ALL.into_iter().find(|v| v.key() == s)
    }

    pub fn key(self) -> &'static str {
        match self {
            View::Waiting => "waiting",
            View::Mine => "mine",
            View::Open => "open",
            View::Resolved => "resolved",
            View::All => "all",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            View::Waiting => "Waiting",
            View::Mine => "Mine",
            View::Open => "All open",
            View::Resolved => "Resolved",
            View::All => "All",
        }
    }

    /// The ownership states (`Ownership::label`) a row of this view can be in; `None`: any. With
    /// `for_holder_only`, what the `Inbox` object narrows a list query by in SQL (its `status`
    /// and `owner` columns) before `shows` decides exactly — so the two cannot disagree:
    /// `narrowing_never_drops_a_row_a_view_shows` checks every view against every kind of row.
    pub fn states(self) -> Option<&'static [&'static str]> {
        match self {
            View::Waiting => Some(&["waiting_for_human"]),
            View::Mine => Some(&["human", "waiting_for_human"]),
            View::Open => Some(&["bot", "waiting_for_human", "human"]),
            View::Resolved => Some(&["resolved"]),
            View::All => None,
        }
    }

    /// Whether the view shows only rows whose `holder` is the operator asking.
    pub fn for_holder_only(self) -> bool {
        match self {
            View::Mine => true,
            View::Waiting | View::Open | View::Resolved | View::All => false,
        }
    }

    /// Whether a row belongs in this view for operator `me` (their id).
    pub fn shows(self, row: &ConversationSummary, me: &str) -> bool {
        match self {
            View::Waiting => matches!(row.ownership, Ownership::WaitingForHuman { .. }),
            View::Mine => crate::assign::holds(row, me),
            View::Open => !matches!(row.ownership, Ownership::Resolved { .. }),
            View::Resolved => matches!(row.ownership, Ownership::Resolved { .. }),
            View::All => true,
        }
    }
}

/// Whose "Mine" a row may be in: its owner, or the operator it waits for (`assign::holds`
/// decides exactly). The `Inbox` object keeps it in its `owner` column.
pub fn holder(row: &ConversationSummary) -> Option<&crate::protocol::OperatorRef> {
    row.owner.as_ref().or(row.assignment.operator.as_ref())
}

/// A list query: `GET /api/v1/sites/:site/inbox/rows?view=&status=&tag=&q=&limit=`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RowQuery {
    pub view: View,
    /// An ownership state (`bot`, `waiting_for_human`, `human`, `resolved`), on top of the view.
    pub status: Option<String>,
    pub tag: Option<String>,
    /// Words that must all occur in the conversation (email, fields, messages, notes, page, tags).
    pub q: Option<String>,
    pub limit: Option<usize>,
}

impl RowQuery {
    /// Whether a row passes the view, status and tag filters (not the text: see `search_terms`).
    pub fn filters(&self, row: &ConversationSummary, me: &str) -> bool {
        self.view.shows(row, me)
            && self.status.as_deref().is_none_or(|s| s.is_empty() || row.ownership.label() == s)
            && self.tag.as_deref().is_none_or(|t| t.is_empty() || row.tags.iter().any(|x| x.eq_ignore_ascii_case(t.trim())))
    }

    /// Whether a row matches the whole query, given its search text (see `haystack`).
    pub fn matches(&self, row: &ConversationSummary, me: &str, haystack: &str) -> bool {
        self.filters(row, me) && search_terms(self.q.as_deref().unwrap_or("")).iter().all(|t| haystack.contains(t.as_str()))
    }

    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(200).clamp(1, MAX_QUERY_ROWS)
    }
}

/// A query's words, lowercased (each must occur in the haystack).
pub fn search_terms(q: &str) -> Vec<String> {
    let mut terms: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
    terms.dedup();
    terms.truncate(MAX_SEARCH_TERMS);
    terms
}

/// Everything a search looks in, lowercased: the visitor's identity, email and fields, tags, owner,
/// page, handoff reason, first question, last message, and the conversation's kept text.
pub fn haystack(row: &ConversationSummary) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if let Some(e) = &row.visitor_email {
        parts.push(e);
    }
    parts.extend(row.fields.values().map(String::as_str));
    parts.extend(row.tags.iter().map(String::as_str));
    if let Some(o) = &row.owner {
        parts.push(&o.name);
        parts.push(&o.id);
    }
    if let Some(p) = &row.page {
        parts.push(&p.title);
        parts.push(&p.url);
    }
    if let Some(h) = &row.handoff {
        parts.push(h.reason.describe());
    }
    if let Some(q) = &row.first_question {
        parts.push(q);
    }
    if let Some(m) = &row.last_message {
        parts.push(&m.text);
    }
    if let Some(t) = &row.search_text {
        parts.push(t);
    }
    if let Some(i) = &row.identity {
        parts.extend(i.search_words());
    }
    parts.join("\n").to_lowercase()
}

/// Appends a message to a conversation's search text, keeping its first `SEARCH_HEAD_CHARS`
/// characters and its latest `SEARCH_TAIL_CHARS` (a cut is marked with `…`).
pub fn push_search_text(buf: &mut String, text: &str) {
    if !buf.is_empty() {
        buf.push('\n');
    }
    buf.push_str(text.trim());
    let n = buf.chars().count();
    let max = SEARCH_HEAD_CHARS + 1 + SEARCH_TAIL_CHARS;
    if n > max {
        let head: String = buf.chars().take(SEARCH_HEAD_CHARS).collect();
        let tail: String = buf.chars().skip(n - SEARCH_TAIL_CHARS).collect();
        *buf = format!("{head}…{tail}");
    }
}

/// Whether a conversation was handed off as an urgent incident.
pub fn is_urgent(row: &ConversationSummary) -> bool {
    row.handoff.as_ref().is_some_and(|h| h.reason == HandoffReason::Urgent)
}

/// The list's order: waiting conversations first — urgent incidents on top, then the
/// longest-waiting; then the rest, most recently active first.
pub fn sort_rows(rows: &mut [ConversationSummary]) {
    rows.sort_by_key(|r| match r.ownership {
        Ownership::WaitingForHuman { since } => (0, !is_urgent(r) as i64, since, r.id.clone()),
        _ => (1, 0, -r.updated_at, r.id.clone()),
    });
}

/// How many conversations wait for a human (the tab title shows it).
pub fn waiting_count(rows: &[ConversationSummary]) -> usize {
    rows.iter().filter(|r| matches!(r.ownership, Ownership::WaitingForHuman { .. })).count()
}

/// The conversation an operator should pick up next: the first waiting one in the list's
/// order (urgent, then the longest-waiting), other than the one open now.
pub fn next_waiting<'a>(rows: &'a [ConversationSummary], current: Option<&ConversationId>) -> Option<&'a ConversationId> {
    rows.iter()
        .filter_map(|r| match r.ownership {
            Ownership::WaitingForHuman { since } if Some(&r.id) != current => Some(((!is_urgent(r), since), &r.id)),
            _ => None,
        })
        .min()
        .map(|(_, id)| id)
}

/// Whether this row change is a new handoff for the operators' attention (a sound, a desktop
/// notification): the conversation waits for a human now and did not before.
pub fn is_new_handoff(before: Option<&ConversationSummary>, after: &ConversationSummary) -> bool {
    let waiting = |r: &ConversationSummary| matches!(r.ownership, Ownership::WaitingForHuman { .. });
    waiting(after) && !before.is_some_and(waiting)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::*;

    fn row(n: u8, ownership: Ownership, updated_at: i64) -> ConversationSummary {
        ConversationSummary {
            id: ConversationId::from_random([n; 16]),
            site: SiteId::parse("demo").unwrap(),
            ownership,
            tags: vec![],
            last_message: None,
            waiting_since: None,
            unread: 0,
            page: None,
            handoff: None,
            first_question: None,
            visitor_email: None,
            created_at: 0,
            updated_at,
            last_seq: 1,
            owner: None,
            fields: Default::default(),
            briefing: None,
            identity: None,
            rating: None,
            attachments: 0,
            stats: None,
            search_text: None,
            assignment: Default::default(),
        }
    }

    #[test]
    fn narrowing_never_drops_a_row_a_view_shows() {
        let op = |id: &str| OperatorRef { id: id.into(), name: id.into() };
        let mut rows = Vec::new();
        for (n, ownership) in [
            Ownership::Bot,
            Ownership::WaitingForHuman { since: 1 },
            Ownership::Human { operator: op("ann") },
            Ownership::Human { operator: op("bob") },
            Ownership::Resolved { at: 2 },
        ]
        .into_iter()
        .enumerate()
        {
            for assigned in [None, Some("ann"), Some("bob")] {
                let mut r = row(n as u8, ownership.clone(), 0);
                if let Ownership::Human { operator } = &ownership {
                    r.owner = Some(operator.clone());
                }
                r.assignment.operator = assigned.map(op);
                rows.push(r);
            }
        }
        for view in View::ALL {
            let mut shown = 0;
            for r in &rows {
                if !view.shows(r, "ann") {
                    continue;
                }
                shown += 1;
                assert!(view.states().is_none_or(|s| s.contains(&r.ownership.label())), "{view:?} {:?}", r.ownership);
                assert!(!view.for_holder_only() || holder(r).is_some_and(|h| h.id == "ann"), "{view:?} {r:?}");
            }
            assert!(shown > 0, "{view:?} shows some row");
        }
    }

    fn op(id: &str) -> OperatorRef {
        OperatorRef { id: id.into(), name: id.split('@').next().unwrap().into() }
    }

    #[test]
    fn views_select_by_ownership_and_owner() {
        let rows = [
            row(1, Ownership::Bot, 5),
            row(2, Ownership::WaitingForHuman { since: 3 }, 3),
            row(3, Ownership::Human { operator: op("ann@x") }, 4),
            row(4, Ownership::Human { operator: op("bob@x") }, 6),
            row(5, Ownership::Resolved { at: 7 }, 7),
        ];
        let ids = |v: View| rows.iter().filter(|r| v.shows(r, "ann@x")).map(|r| r.id.as_str()[..2].to_string()).collect::<Vec<_>>();
        assert_eq!(ids(View::Waiting), ["02"]);
        assert_eq!(ids(View::Mine), ["03"]);
        assert_eq!(ids(View::Open), ["01", "02", "03", "04"]);
        assert_eq!(ids(View::Resolved), ["05"]);
        assert_eq!(ids(View::All).len(), 5);
        assert_eq!(View::parse("mine"), Some(View::Mine));
        assert_eq!(View::parse("nope"), None);
    }

    #[test]
    fn the_longest_waiting_comes_first_then_the_most_recent() {
        let mut rows = vec![
            row(1, Ownership::Bot, 50),
            row(2, Ownership::WaitingForHuman { since: 30 }, 30),
            row(3, Ownership::Resolved { at: 60 }, 60),
            row(4, Ownership::WaitingForHuman { since: 10 }, 40),
        ];
        sort_rows(&mut rows);
        let order: Vec<u8> = rows.iter().map(|r| r.id.as_str()[1..2].parse().unwrap()).collect();
        assert_eq!(order, [4, 2, 3, 1]);
        assert_eq!(waiting_count(&rows), 2);
        assert_eq!(next_waiting(&rows, None), Some(&rows[0].id));
        assert_eq!(next_waiting(&rows, Some(&rows[0].id)), Some(&rows[1].id), "not the one already open");
    }

    #[test]
    fn urgent_waits_come_first() {
        let urgent = |mut r: ConversationSummary| {
            r.handoff = Some(Handoff { reason: HandoffReason::Urgent, evidence: vec!["production is down".into()] });
            r
        };
        let asked = |mut r: ConversationSummary| {
            r.handoff = Some(Handoff { reason: HandoffReason::ExplicitRequest, evidence: vec![] });
            r
        };
        let mut rows = vec![
            asked(row(1, Ownership::WaitingForHuman { since: 10 }, 10)),
            urgent(row(2, Ownership::WaitingForHuman { since: 40 }, 40)),
            row(3, Ownership::Bot, 50),
            urgent(row(4, Ownership::WaitingForHuman { since: 20 }, 20)),
            // Urgent once, now with a person: ordered like any open conversation.
            urgent(row(5, Ownership::Human { operator: op("ann@x") }, 45)),
        ];
        sort_rows(&mut rows);
        let order: Vec<u8> = rows.iter().map(|r| r.id.as_str()[1..2].parse().unwrap()).collect();
        assert_eq!(order, [4, 2, 1, 3, 5]);
        assert_eq!(next_waiting(&rows, None), Some(&rows[0].id));
        assert_eq!(next_waiting(&rows, Some(&rows[0].id)), Some(&rows[1].id), "the other urgent one before the older request");
    }

    #[test]
    fn queries_filter_by_status_tag_and_every_search_word() {
        let mut r = row(1, Ownership::WaitingForHuman { since: 1 }, 1);
        r.tags = vec!["billing".into(), "vip".into()];
        r.visitor_email = Some("Vis@Example.com".into());
        r.search_text = Some("My invoice shows the WRONG company".into());
        let hay = haystack(&r);
        let q = |view, status: Option<&str>, tag: Option<&str>, text: Option<&str>| RowQuery {
            view,
            status: status.map(Into::into),
            tag: tag.map(Into::into),
            q: text.map(Into::into),
            limit: None,
        };
        assert!(q(View::All, None, None, None).matches(&r, "me", &hay));
        assert!(q(View::Waiting, Some("waiting_for_human"), Some("VIP"), Some("vis@example invoice")).matches(&r, "me", &hay));
        assert!(q(View::All, None, None, Some("wrong company")).matches(&r, "me", &hay), "case-insensitive");
        assert!(!q(View::All, None, None, Some("invoice refund")).matches(&r, "me", &hay), "every word must occur");
        assert!(!q(View::All, Some("human"), None, None).matches(&r, "me", &hay));
        assert!(!q(View::All, None, Some("urgent"), None).matches(&r, "me", &hay));
        assert!(!q(View::Resolved, None, None, None).matches(&r, "me", &hay));
        assert_eq!(RowQuery::default().limit(), 200);
        assert_eq!(RowQuery { limit: Some(10_000), ..Default::default() }.limit(), MAX_QUERY_ROWS);
        assert_eq!(search_terms("  a b c d e f g h i j "), ["a", "b", "c", "d", "e", "f", "g", "h"]);
    }

    #[test]
    fn search_text_keeps_the_beginning_and_the_latest() {
        let mut buf = String::new();
        push_search_text(&mut buf, "first question about SSO");
        for i in 0..500 {
            push_search_text(&mut buf, &format!("message {i}"));
        }
        push_search_text(&mut buf, "the very latest word");
        assert!(buf.chars().count() <= SEARCH_HEAD_CHARS + 1 + SEARCH_TAIL_CHARS);
        assert!(buf.starts_with("first question about SSO\nmessage 0"));
        assert!(buf.ends_with("the very latest word"));
        assert!(!buf.contains("message 200\n"), "the middle is dropped");
    }

    #[test]
    fn a_new_handoff_is_a_row_that_starts_waiting() {
        let bot = row(1, Ownership::Bot, 1);
        let waiting = row(1, Ownership::WaitingForHuman { since: 2 }, 2);
        let mut waiting_later = waiting.clone();
        waiting_later.last_seq = 9;
        assert!(is_new_handoff(None, &waiting), "a conversation seen first while waiting");
        assert!(is_new_handoff(Some(&bot), &waiting));
        assert!(!is_new_handoff(Some(&waiting), &waiting_later), "a new message while waiting is not a new handoff");
        assert!(!is_new_handoff(Some(&waiting), &bot));
    }
}
