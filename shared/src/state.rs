//! A conversation's state, folded from its log, and who may do what to it as a whole: the part
//! of the conversation rules every side can link — no engine, no index. The `Conversation`
//! Durable Object keeps a [`ConversationState`] (its snapshot) and asks `conversation::decide`
//! (engine) what a frame does; the inbox's row is [`ConversationState::summary`], the handoff's
//! briefing [`ConversationState::briefing`]. Who owns the thread after each event is
//! `ownership`'s one rule, which the fold calls.

use crate::i18n::Lang;
use crate::inbox::push_search_text;
use crate::insights::ConversationStats;
use crate::protocol::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many earlier visitor messages and bot tries the state keeps for triage and briefings.
const HISTORY: usize = 5;
/// Bot answers in a briefing are cut to this many characters (the log has them whole).
pub(crate) const BRIEFING_ANSWER_CHARS: usize = 280;
/// Last-message previews in the inbox list.
const PREVIEW_CHARS: usize = 140;

/// Who sent a frame. Operators are authenticated by the worker before the object sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Actor {
    Visitor,
    Operator { operator: OperatorRef },
}

impl Actor {
    pub fn role(&self) -> Role {
        match self {
            Actor::Visitor => Role::Visitor,
            Actor::Operator { .. } => Role::Operator,
        }
    }

    /// The key a client id is unique under: each visitor tab and each operator picks its own
    /// ids, so one operator's "m1" must not swallow the visitor's "m1".
    pub fn client_key(&self, client_id: &str) -> String {
        match self {
            Actor::Visitor => format!("v:{client_id}"),
            Actor::Operator { operator } => format!("o:{}:{client_id}", operator.id),
        }
    }
}

/// Everything about a conversation that decisions and the inbox row need, folded from the log.
/// Serialised as the object's snapshot: new fields need `#[serde(default)]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationState {
    pub id: ConversationId,
    pub site: SiteId,
    pub ownership: Ownership,
    pub last_seq: u64,
    pub created_at: i64,
    pub updated_at: i64,
    pub tags: Vec<String>,
    pub fields: BTreeMap<String, String>,
    pub page: Option<Page>,
    /// The current (or, once resolved, the last) handoff.
    pub handoff: Option<Handoff>,
    pub first_question: Option<String>,
    pub last_message: Option<Preview>,
    /// Visitor messages since an operator last replied.
    pub unread: u32,
    /// Low-confidence bot answers in a row.
    pub low_confidence_streak: u32,
    /// The last few visitor messages, oldest first.
    pub recent_questions: Vec<String>,
    /// The last few bot answers, oldest first.
    pub attempts: Vec<BotAttempt>,
    pub visitor_email: Option<String>,
    /// The briefing of the current handoff.
    #[serde(default)]
    pub briefing: Option<Briefing>,
    /// Custom actions whose form was shown (a form is asked for once).
    #[serde(default)]
    pub forms_requested: Vec<String>,
    /// Figures for insights (`insights::ConversationStats`), sent with the inbox row.
    #[serde(default)]
    pub stats: ConversationStats,
    /// The thread's text for the inbox search, bounded (`inbox::push_search_text`).
    #[serde(default)]
    pub search_text: String,
    /// The bot's answer to the visitor's latest message, when it answered from the docs: the
    /// conversation around the next message (`handoff::Turns`).
    #[serde(default)]
    pub answered: Option<AnsweredTurn>,
    /// The visitor's language code, from the start of the conversation (`None`: English).
    #[serde(default)]
    pub lang: Option<String>,
    /// Who the visitor is, as the host page said (`identity`).
    #[serde(default)]
    pub identity: Option<VisitorIdentity>,
    /// The host page's latest context (`window.Baton.setContext`).
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    /// The files in the thread (`attachments`), and their total size in bytes.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub attachment_bytes: u64,
    /// Who the conversation is assigned to while it waits (`assign`).
    #[serde(default)]
    pub assignment: crate::assign::Assignment,
}

/// A bot answer the visitor has not written after yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnsweredTurn {
    pub seq: u64,
    /// The visitor marked it unhelpful (thumbs down).
    pub unhelpful: bool,
}

impl ConversationState {
    pub fn new(id: ConversationId, site: SiteId, now: i64) -> Self {
        ConversationState {
            id,
            site,
            ownership: Ownership::Bot,
            last_seq: 0,
            created_at: now,
            updated_at: now,
            tags: Vec::new(),
            fields: BTreeMap::new(),
            page: None,
            handoff: None,
            first_question: None,
            last_message: None,
            unread: 0,
            low_confidence_streak: 0,
            recent_questions: Vec::new(),
            attempts: Vec::new(),
            visitor_email: None,
            briefing: None,
            forms_requested: Vec::new(),
            stats: ConversationStats::default(),
            search_text: String::new(),
            answered: None,
            lang: None,
            identity: None,
            context: BTreeMap::new(),
            attachments: Vec::new(),
            attachment_bytes: 0,
            assignment: Default::default(),
        }
    }

    /// The language the engine speaks to this visitor in.
    pub fn lang(&self) -> Lang {
        Lang::of(self.lang.as_deref())
    }

    /// Folds one stored event into the state. Events come from `decide`, so they are valid;
    /// folding the same log always gives the same state (the object relies on it after a wake).
    pub fn apply(&mut self, event: &Event) {
        self.last_seq = event.seq;
        self.updated_at = event.at;
        self.stats.apply(event, self.recent_questions.last().map(String::as_str));
        self.assignment.apply(event);
        match &event.kind {
            EventKind::VisitorMessage { text } | EventKind::OperatorMessage { text, .. } | EventKind::PrivateNote { text, .. } => {
                push_search_text(&mut self.search_text, text)
            }
            EventKind::FieldsCollected { values, .. } => {
                for v in values.values() {
                    push_search_text(&mut self.search_text, v);
                }
            }
            EventKind::Identified { identity } => {
                for v in identity.search_words() {
                    push_search_text(&mut self.search_text, v);
                }
            }
            EventKind::AttachmentAdded { attachment, .. } => push_search_text(&mut self.search_text, &attachment.name),
            EventKind::Rated { comment, .. } if !comment.is_empty() => push_search_text(&mut self.search_text, comment),
            _ => {}
        }
        let preview = |from: &str, text: &str| Some(Preview { from: from.into(), text: truncate(text, PREVIEW_CHARS), at: event.at });
        // Who owns the thread: one rule for every side (`ownership.rs`).
        self.ownership = self.ownership.after(&event.kind, event.at);
        match &event.kind {
            EventKind::Started { page, lang, .. } => {
                self.created_at = event.at;
                self.page = page.clone();
                self.lang = lang.clone();
            }
            EventKind::VisitorMessage { text } => {
                self.last_message = preview("visitor", text);
                self.unread += 1;
                if self.first_question.is_none() {
                    self.first_question = Some(text.clone());
                }
                push_bounded(&mut self.recent_questions, text.clone());
                self.answered = None;
            }
            EventKind::BotAnswer { answer, .. } => {
                self.last_message = preview("bot", &answer.text);
                // A confident answer answers what the visitor wrote; "I couldn't find that"
                // leaves it waiting for a person.
                if !answer.handoff {
                    self.unread = 0;
                }
                self.low_confidence_streak = if answer.handoff { self.low_confidence_streak + 1 } else { 0 };
                self.answered = (!answer.handoff).then_some(AnsweredTurn { seq: event.seq, unhelpful: false });
                let question = self.recent_questions.last().cloned().unwrap_or_default();
                push_bounded(
                    &mut self.attempts,
                    BotAttempt {
                        question,
                        answer: answer.text.clone(),
                        confidence: answer.confidence,
                        citations: answer.citations.clone(),
                    },
                );
            }
            EventKind::HandoffRequested { handoff, briefing, form, .. } => {
                if let Some(f) = form {
                    if !self.forms_requested.contains(&f.action) {
                        self.forms_requested.push(f.action.clone());
                    }
                }
                self.handoff = Some(handoff.clone());
                self.briefing = Some(briefing.clone());
                self.last_message = preview("system", handoff.reason.describe());
            }
            EventKind::FormRequested { form } => {
                if !self.forms_requested.contains(&form.action) {
                    self.forms_requested.push(form.action.clone());
                }
            }
            EventKind::FieldsCollected { values, .. } => {
                for (k, v) in values {
                    if k == "email" || (self.visitor_email.is_none() && crate::identity::is_email(v)) {
                        self.visitor_email = Some(v.clone());
                    }
                    self.fields.insert(k.clone(), v.clone());
                }
            }
            EventKind::OperatorJoined { .. } | EventKind::OperatorLeft { .. } => {}
            EventKind::OperatorMessage { operator, text } => {
                self.last_message = preview(&format!("operator:{}", operator.name), text);
                self.unread = 0;
            }
            EventKind::PrivateNote { .. } => {}
            EventKind::TagAdded { tag, .. } => {
                if !self.tags.contains(tag) {
                    self.tags.push(tag.clone());
                }
            }
            EventKind::TagRemoved { tag, .. } => self.tags.retain(|t| t != tag),
            EventKind::PageChanged { page } => self.page = Some(page.clone()),
            EventKind::HandedBack { .. } => {
                self.low_confidence_streak = 0;
                self.handoff = None;
                self.briefing = None;
            }
            EventKind::Resolved { .. } => self.unread = 0,
            EventKind::Reopened { operator } => {
                if operator.is_none() {
                    // A new episode with the bot: the old handoff is history.
                    self.handoff = None;
                    self.briefing = None;
                }
                self.low_confidence_streak = 0;
            }
            EventKind::Feedback { answer_seq, helpful } => {
                if let Some(a) = self.answered.as_mut().filter(|a| a.seq == *answer_seq) {
                    a.unhelpful = !helpful;
                }
            }
            EventKind::Rated { .. } => {}
            EventKind::Identified { identity } => {
                // Only a signed address is one Baton may write to (replies by email): an
                // unsigned claim could name anyone's. It stays visible in the briefing.
                if self.visitor_email.is_none() && identity.verified {
                    self.visitor_email = identity.email.clone();
                }
                self.identity = Some(identity.clone());
            }
            EventKind::ContextChanged { context } => self.context = context.clone(),
            EventKind::AttachmentAdded { attachment, operator } => {
                let from = match operator {
                    Some(o) => format!("operator:{}", o.name),
                    None => {
                        self.unread += 1;
                        "visitor".to_string()
                    }
                };
                self.last_message = preview(&from, &format!("📎 {}", attachment.name));
                self.attachment_bytes += attachment.size;
                self.attachments.push(attachment.clone());
            }
            EventKind::Assigned { .. } | EventKind::Unassigned { .. } => {}
        }
    }

    /// The inbox row for this conversation.
    pub fn summary(&self) -> ConversationSummary {
        ConversationSummary {
            id: self.id.clone(),
            site: self.site.clone(),
            ownership: self.ownership.clone(),
            tags: self.tags.clone(),
            last_message: self.last_message.clone(),
            waiting_since: match self.ownership {
                Ownership::WaitingForHuman { since } => Some(since),
                _ => None,
            },
            unread: self.unread,
            page: self.page.clone(),
            handoff: self.handoff.clone(),
            first_question: self.first_question.clone(),
            visitor_email: self.visitor_email.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_seq: self.last_seq,
            owner: self.owner().cloned(),
            fields: self.fields.clone(),
            briefing: self.briefing.clone(),
            identity: self.identity.clone(),
            rating: self.stats.satisfaction.latest(),
            attachments: self.attachments.len() as u32,
            stats: Some(self.stats.clone()),
            search_text: Some(self.search_text.clone()),
            assignment: self.assignment.clone(),
        }
    }

    /// Composes the operator briefing for a handoff from the log so far: what the visitor asked
    /// (first and latest), what the bot answered and cited, with what confidence, why it is
    /// handed off, the details collected, the page and the tags. Deterministic and extractive.
    pub fn briefing(&self, handoff: &Handoff) -> Briefing {
        let latest = self.recent_questions.last().cloned();
        let want = latest.as_deref().or(self.first_question.as_deref());
        let mut summary = handoff.reason.describe().to_string();
        if let Some(q) = want {
            summary.push_str(&format!(": “{}”", truncate(q, 100)));
        }
        if !handoff.evidence.is_empty() {
            summary.push_str(&format!(" ({})", truncate(&handoff.evidence.join(", "), 80)));
        }
        match self.attempts.len() {
            0 => summary.push_str(" · the bot has not answered"),
            n => {
                let best = self.attempts.iter().map(|a| a.confidence).fold(0.0f32, f32::max);
                let cited = self.attempts.iter().filter(|a| !a.citations.is_empty()).count();
                summary.push_str(&format!(
                    " · bot answered {n}×, best confidence {best:.2}{}",
                    if cited == 0 { ", citing nothing".to_string() } else { String::new() }
                ));
            }
        }
        if let Some(p) = &self.page {
            summary.push_str(&format!(" · on {}", if p.title.is_empty() { &p.url } else { &p.title }));
        }
        if let Some(id) = &self.identity {
            summary.push_str(&format!(" · {} ({})", id.label(), if id.verified { "verified" } else { "unverified" }));
        }
        Briefing {
            summary,
            first_question: self.first_question.clone(),
            latest_question: latest,
            bot_attempts: self
                .attempts
                .iter()
                .map(|a| BotAttempt { answer: truncate(&a.answer, BRIEFING_ANSWER_CHARS), ..a.clone() })
                .collect(),
            fields: self.fields.clone(),
            page: self.page.clone(),
            tags: self.tags.clone(),
            handoff: Some(handoff.clone()),
            confidence: self.attempts.last().map(|a| a.confidence),
            identity: self.identity.clone(),
            context: self.context.clone(),
        }
    }

    /// The operator who owns the thread, if one does.
    pub fn owner(&self) -> Option<&OperatorRef> {
        match &self.ownership {
            Ownership::Human { operator } => Some(operator),
            _ => None,
        }
    }

    /// Whether this operator owns the thread.
    pub fn owned_by(&self, op: &OperatorRef) -> bool {
        self.owner().is_some_and(|o| o.id == op.id)
    }

    /// Whether the bot may speak: nobody asked for a person, or the thread was resolved (a new
    /// visitor message reopens it with the bot).
    pub fn bot_owned_or_resolved(&self) -> bool {
        matches!(self.ownership, Ownership::Bot | Ownership::Resolved { .. })
    }
}

fn push_bounded<T>(v: &mut Vec<T>, x: T) {
    v.push(x);
    if v.len() > HISTORY {
        v.remove(0);
    }
}

/// Cuts text to at most `max` characters, on a character boundary, with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Who may erase a conversation (a data-protection request, `DELETE …/conversations/:id`):
/// any operator of its site (the worker checked the session and the site), whatever the state
/// and whoever owns it — the request may come to anyone on the team. Not the visitor: a
/// visitor asks the team, who can check who is asking.
pub fn may_erase(actor: &Actor) -> Result<(), ErrorBody> {
    match actor {
        Actor::Operator { .. } => Ok(()),
        Actor::Visitor => Err(ErrorBody::new(ErrorCode::Forbidden, "only operators can do that")),
    }
}

/// Who may export a conversation (`GET …/export`, its whole log as stored: the visitor's
/// details, internal notes and all): an operator of its site, like erasing — the copy answers
/// a data-protection request, which goes through the team. Not the visitor.
pub fn may_export(actor: &Actor) -> Result<(), ErrorBody> {
    match actor {
        Actor::Operator { .. } => Ok(()),
        Actor::Visitor => Err(ErrorBody::new(ErrorCode::Forbidden, "only operators can export a conversation")),
    }
}

/// What the sockets of an erased conversation are told before they close (with
/// `ErrorCode::UnknownConversation`'s close code, on which the widget starts afresh).
pub fn erased_notice(by_retention: bool) -> ErrorBody {
    let why = if by_retention { "it was erased after the site's retention period" } else { "it was deleted at your or the team's request" };
    ErrorBody::new(ErrorCode::UnknownConversation, format!("this conversation no longer exists: {why}; write again to start a new one"))
}
