//! The rules of a live conversation, as plain functions: given the state folded from the log,
//! who is acting and what they sent, `decide` returns the events to append — or a typed
//! refusal. The `Conversation` Durable Object only stores those events, folds them with
//! `ConversationState::apply` and relays them; it makes no decisions of its own.
//!
//! Ownership: `bot` → `waiting_for_human` (a handoff) → `human(operator)` (take over, or an
//! operator's reply) → `resolved`; a new visitor message after resolve gives the thread back to
//! the bot, an operator may reopen it; an operator may hand it back to the bot or leave it
//! (back to `waiting_for_human`).
//!
//! Invariant: the bot produces events (answers, handoffs on its own account, typing) only while
//! `Ownership::Bot`; once a human is asked for or owns the thread, visitor messages are stored
//! and relayed to operators only.

use crate::config::{ActionConfig, SiteConfig, EMAIL_ACTION};
use crate::engine::Engine;
use crate::handoff;
use crate::i18n::{self, Lang};
use crate::inbox::push_search_text;
use crate::insights::ConversationStats;
use crate::protocol::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many earlier visitor messages and bot tries the state keeps for triage and briefings.
const HISTORY: usize = 5;
/// Bot answers in a briefing are cut to this many characters (the log has them whole).
const BRIEFING_ANSWER_CHARS: usize = 280;
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

    /// What the conversation so far says about the visitor's next message.
    pub fn turns(&self) -> handoff::Turns<'_> {
        handoff::Turns {
            previous: &self.recent_questions,
            answered: self.answered.is_some(),
            thumbs_down: self.answered.as_ref().is_some_and(|a| a.unhelpful),
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
                    if k == "email" || (self.visitor_email.is_none() && is_email(v)) {
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

    fn owned_by(&self, op: &OperatorRef) -> bool {
        self.owner().is_some_and(|o| o.id == op.id)
    }

    fn bot_owned_or_resolved(&self) -> bool {
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

/// What the object needs to know about the world to decide.
pub struct Ctx<'a> {
    pub now: i64,
    pub config: &'a SiteConfig,
    /// `None` when the site's index cannot be loaded: questions get `index_unavailable`,
    /// handoff still works.
    pub engine: Option<&'a Engine>,
    /// Whether any operator of the site is connected to the inbox (and not away). The object
    /// asks the `Inbox` right before a frame that may hand off (see `plan`).
    pub operators_online: bool,
    /// The answer to a visitor's question when the shell computed it beforehand (e.g.
    /// rephrased by an LLM, which needs I/O `decide` must not do; or a fixed answer in unit
    /// tests); `None`: `decide` asks the engine itself.
    pub prepared_answer: Option<Answer>,
}

/// The result of a frame: events to append in order, and possibly a notice for the sender.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub events: Vec<EventKind>,
    /// Told to the sender only, nothing stored (e.g. `index_unavailable`).
    pub notice: Option<ErrorBody>,
}

impl Outcome {
    fn events(events: Vec<EventKind>) -> Self {
        Outcome { events, notice: None }
    }
}

/// What the object should do before the synchronous `decide` section, worked out from the
/// same rules (pure, cheap: no engine call).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The bot will be asked to answer this question: the object may show the bot typing (and
    /// prepare the answer) — never while a human is waited for or owns the thread.
    pub bot_question: Option<String>,
    /// The frame may hand the thread to a human: ask the `Inbox` who is online first, so the
    /// visitor is told the truth (and asked for an email if nobody is).
    pub may_hand_off: bool,
}

/// Looks ahead at a frame: will the bot answer, may it hand off? Asked twice by the object:
/// without the engine (a request for a person in words needs none: it comes first), then, if
/// the bot may answer, with the site's engine loaded — whose classifier may hand off instead.
pub fn plan(state: &ConversationState, actor: &Actor, msg: &ClientMsg, config: &SiteConfig, engine: Option<&Engine>) -> Plan {
    if *actor != Actor::Visitor || !state.bot_owned_or_resolved() {
        return Plan::default();
    }
    match msg {
        ClientMsg::Message { text, .. } if msg.validate().is_ok() => {
            let turns = state.turns();
            let hands_off = match engine {
                Some(e) => handoff::triage(text, &turns, &config.handoff, Some(e.learned())).is_some(),
                None => handoff::certain_request(text, &config.handoff.explicit_phrases).is_some(),
            };
            if hands_off {
                return Plan { bot_question: None, may_hand_off: true };
            }
            // Without the classifier the rules may still hand off (if the index can't load).
            let rules = engine.is_none() && handoff::triage(text, &turns, &config.handoff, None).is_some();
            let h = &config.handoff;
            // A resolved thread reopens with a fresh streak.
            let streak = if matches!(state.ownership, Ownership::Resolved { .. }) { 0 } else { state.low_confidence_streak };
            let may_repeat = h.low_confidence_repeats > 0 && streak + 1 >= h.low_confidence_repeats;
            Plan { bot_question: Some(text.clone()), may_hand_off: rules || h.on_low_confidence || may_repeat }
        }
        ClientMsg::RequestHuman { .. } => Plan { bot_question: None, may_hand_off: true },
        _ => Plan::default(),
    }
}

/// Who may erase a conversation (a data-protection request, `DELETE …/conversations/:id`):
/// any operator of its site (the worker checked the session and the site), whatever the state
/// and whoever owns it — the request may come to anyone on the team. Not the visitor: a
/// visitor asks the team, who can check who is asking.
pub fn may_erase(actor: &Actor) -> Result<(), ErrorBody> {
    match actor {
        Actor::Operator { .. } => Ok(()),
        Actor::Visitor => Err(forbidden("operators")),
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

fn forbidden(what: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::Forbidden, format!("only {what} can do that"))
}

fn resolved_error() -> ErrorBody {
    ErrorBody::new(ErrorCode::InvalidState, "the conversation is resolved: reopen it first")
}

/// Decides what a frame does to the conversation. Pure: no I/O, no clock, no randomness.
pub fn decide(state: &ConversationState, actor: &Actor, msg: &ClientMsg, ctx: &Ctx<'_>) -> Result<Outcome, ErrorBody> {
    msg.validate()?;
    match (actor, msg) {
        (_, ClientMsg::Hello { .. } | ClientMsg::Ping | ClientMsg::Typing { .. }) => Ok(Outcome::default()),

        // ---- visitor ----
        (Actor::Visitor, ClientMsg::Message { text, .. }) => Ok(visitor_message(state, text, ctx)),
        (Actor::Visitor, ClientMsg::RequestHuman { .. }) => {
            // Already waiting for (or talking to) a person: pressing again changes nothing.
            if !state.bot_owned_or_resolved() {
                return Ok(Outcome::default());
            }
            let mut s = state.clone();
            let mut events = Vec::new();
            if matches!(s.ownership, Ownership::Resolved { .. }) {
                push(&mut s, &mut events, EventKind::Reopened { operator: None }, ctx.now);
            }
            let handoff = Handoff { reason: HandoffReason::Button, evidence: vec!["pressed “Talk to a human”".into()] };
            events.push(handoff_event(&s, handoff, ctx, &[]));
            Ok(Outcome::events(events))
        }
        (Actor::Visitor, ClientMsg::Page { page }) => {
            if state.page.as_ref() == Some(page) {
                Ok(Outcome::default())
            } else {
                Ok(Outcome::events(vec![EventKind::PageChanged { page: page.clone() }]))
            }
        }
        (Actor::Visitor, ClientMsg::SubmitFields { action, values, .. }) => {
            let form = form_for(ctx.config, action).ok_or_else(|| {
                ErrorBody::field("action", format!("no form {action:?} on this site: submit one of the forms you were shown"))
            })?;
            let values = validate_fields(&form.fields, values)?;
            Ok(Outcome::events(vec![EventKind::FieldsCollected { action: action.clone(), values }]))
        }
        (Actor::Visitor, ClientMsg::Feedback { answer_seq, helpful, .. }) => {
            if *answer_seq == 0 || *answer_seq > state.last_seq {
                return Err(ErrorBody::field("answer_seq", "no such answer in this conversation"));
            }
            Ok(Outcome::events(vec![EventKind::Feedback { answer_seq: *answer_seq, helpful: *helpful }]))
        }
        (Actor::Visitor, ClientMsg::Identified { identity, .. }) => match crate::identity::may_identify(state.identity.as_ref(), identity)?
        {
            true => Ok(Outcome::events(vec![EventKind::Identified { identity: identity.clone() }])),
            false => Ok(Outcome::default()),
        },
        (_, ClientMsg::Identify { .. }) => {
            Err(ErrorBody::new(ErrorCode::BadRequest, "identify frames go through the conversation's socket or commands, which check them"))
        }
        (Actor::Visitor, ClientMsg::Context { context }) => {
            crate::identity::validate_context(context)?;
            if *context == state.context {
                Ok(Outcome::default())
            } else {
                Ok(Outcome::events(vec![EventKind::ContextChanged { context: context.clone() }]))
            }
        }
        (Actor::Visitor, ClientMsg::Rate { score, comment, .. }) => {
            crate::satisfaction::may_rate(&state.ownership)?;
            Ok(Outcome::events(vec![EventKind::Rated { score: *score, comment: comment.trim().to_string() }]))
        }
        (actor, ClientMsg::Attached { attachment, .. }) => attached(state, actor, attachment, ctx),
        (Actor::Visitor, _) => Err(forbidden("operators")),

        // ---- operators ----
        (Actor::Operator { operator }, msg) => operator_command(state, &ctx.config.operator_display(operator), msg),
    }
}

fn push(state: &mut ConversationState, events: &mut Vec<EventKind>, kind: EventKind, now: i64) {
    let ev = Event { seq: state.last_seq + 1, at: now, client_id: None, kind };
    state.apply(&ev);
    events.push(ev.kind);
}

/// The handoff event: the reason, the briefing, what the visitor is told and, if one applies,
/// a form (the email form when nobody is online and no email is known yet).
fn handoff_event(state: &ConversationState, handoff: Handoff, ctx: &Ctx<'_>, just_shown: &[String]) -> EventKind {
    let briefing = state.briefing(&handoff);
    let reason = handoff.reason.key();
    // Not the form a keyword in this very message has just asked for.
    let configured =
        |trigger: &str| ctx.config.actions.iter().find(|a| a.on_handoff.iter().any(|r| r == trigger) && !just_shown.contains(&a.id));
    let lang = state.lang();
    // One question per fact: a form in the thread that asks for an email (shown with this
    // message, or earlier and not filled in yet) is the offline ask.
    let asks_email = |id: &String| {
        form_for(ctx.config, id).is_some_and(|f| f.fields.iter().any(|x| x.kind == FieldKind::Email && !state.fields.contains_key(&x.name)))
    };
    let email_pending = just_shown.iter().chain(&state.forms_requested).any(asks_email);
    let email_known_or_asked = state.visitor_email.is_some() || email_pending;
    let form = if ctx.operators_online {
        configured(reason).filter(|a| !already_collected(state, a)).map(|a| form_of(a, lang))
    } else {
        configured("no_operator_online")
            .or_else(|| ctx.config.action(EMAIL_ACTION))
            .filter(|a| !already_collected(state, a))
            // A form that only asks for an email has nothing to ask if that is known or asked.
            .filter(|a| !(email_known_or_asked && a.fields.iter().all(|f| f.kind == FieldKind::Email)))
            .map(|a| form_of(a, lang))
            .or_else(|| (!email_known_or_asked).then(|| email_form(lang)))
    };
    let reply_time = ctx.config.handoff.offline_reply_time.exact(lang).unwrap_or(i18n::words(lang).reply_time);
    let notice = handoff_notice(lang, ctx.operators_online, state.visitor_email.as_deref(), reply_time);
    EventKind::HandoffRequested { handoff, briefing, operators_online: ctx.operators_online, form, notice }
}

/// What the visitor reads, in their language, when the thread goes to the team: whether
/// someone may answer soon, or where and when the reply will come.
pub fn handoff_notice(lang: Lang, operators_online: bool, email: Option<&str>, reply_time: &str) -> String {
    let w = i18n::words(lang);
    match (operators_online, email) {
        (true, _) => w.handoff_online.into(),
        (false, Some(e)) => w.handoff_offline_email_known.replace("{email}", e).replace("{time}", reply_time),
        (false, None) => w.handoff_offline_ask_email.replace("{time}", reply_time),
    }
}

fn already_collected(state: &ConversationState, a: &ActionConfig) -> bool {
    a.fields.iter().filter(|f| f.required).all(|f| state.fields.contains_key(&f.name)) && a.fields.iter().any(|f| f.required)
}

/// An action's form as the visitor is sent it: title and labels in their language.
fn form_of(a: &ActionConfig, lang: Lang) -> ActionForm {
    let fields = a.fields.iter().map(|f| FieldSpec { label: f.label.resolved(lang), ..f.clone() }).collect();
    ActionForm { action: a.id.clone(), title: a.title.get(lang).to_string(), fields }
}

/// A form the visitor may submit: a configured action, or the built-in email form.
pub fn form_for(config: &SiteConfig, action: &str) -> Option<ActionForm> {
    match config.action(action) {
        Some(a) => Some(form_of(a, Lang::En)),
        None if action == EMAIL_ACTION => Some(email_form(Lang::En)),
        None => None,
    }
}

/// The built-in form when nobody is online: where should the team reply?
pub fn email_form(lang: Lang) -> ActionForm {
    let w = i18n::words(lang);
    ActionForm {
        action: EMAIL_ACTION.into(),
        title: w.email_form_title.into(),
        fields: vec![FieldSpec {
            name: "email".into(),
            label: w.email_label.into(),
            kind: FieldKind::Email,
            required: true,
            options: Vec::new(),
            pattern: None,
        }],
    }
}

fn visitor_message(state: &ConversationState, text: &str, ctx: &Ctx<'_>) -> Outcome {
    let mut s = state.clone();
    let mut events = Vec::new();
    if matches!(s.ownership, Ownership::Resolved { .. }) {
        push(&mut s, &mut events, EventKind::Reopened { operator: None }, ctx.now);
    }
    push(&mut s, &mut events, EventKind::VisitorMessage { text: text.to_string() }, ctx.now);
    let question_seq = s.last_seq;
    for tag in auto_tags(text, ctx.config) {
        if !s.tags.contains(&tag) {
            push(&mut s, &mut events, EventKind::TagAdded { tag, source: TagSource::Rule }, ctx.now);
        }
    }
    for a in &ctx.config.actions {
        if !a.keywords.is_empty()
            && !s.forms_requested.contains(&a.id)
            && !already_collected(&s, a)
            && handoff::keyword(text, &a.keywords).is_some()
        {
            let form = form_of(a, s.lang());
            push(&mut s, &mut events, EventKind::FormRequested { form }, ctx.now);
        }
    }
    if !s.ownership.bot_may_speak() {
        // A human owns the thread (or is being waited for): the bot stays silent, and a second
        // "talk to a human" is not a second handoff.
        return Outcome::events(events);
    }
    let just_shown: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::FormRequested { form } => Some(form.action.clone()),
            _ => None,
        })
        .collect();
    if let Some(h) = handoff::triage(text, &state.turns(), &ctx.config.handoff, ctx.engine.map(Engine::learned)) {
        events.push(handoff_event(&s, h, ctx, &just_shown));
        return Outcome::events(events);
    }
    let Some(answer) = bot_answer(text, &state.recent_questions, s.lang(), ctx) else {
        return Outcome {
            events,
            notice: Some(ErrorBody::new(
                ErrorCode::IndexUnavailable,
                "answers from the docs are unavailable right now; you can still talk to a person",
            )),
        };
    };
    let low = answer.handoff;
    let confidence = answer.confidence;
    push(&mut s, &mut events, EventKind::BotAnswer { question_seq, answer }, ctx.now);
    if low {
        let cfg = &ctx.config.handoff;
        let repeated = cfg.low_confidence_repeats > 0 && s.low_confidence_streak >= cfg.low_confidence_repeats;
        if cfg.on_low_confidence || repeated {
            let reason = if repeated { HandoffReason::RepeatedLowConfidence } else { HandoffReason::LowConfidence };
            let mut evidence = vec![format!("confidence {confidence:.2} < threshold {:.2}", ctx.config.confidence_threshold)];
            if repeated {
                evidence.push(format!("{} answers in a row without a confident one", s.low_confidence_streak));
            }
            events.push(handoff_event(&s, Handoff { reason, evidence }, ctx, &just_shown));
        }
    }
    Outcome::events(events)
}

/// A file stored by the worker: within the conversation's total (`[attachments]`), from the
/// visitor (a resolved thread reopens, as with a message; the bot stays silent — it reads no
/// images) or from an operator (who takes the thread, as with a reply).
fn attached(state: &ConversationState, actor: &Actor, attachment: &Attachment, ctx: &Ctx<'_>) -> Result<Outcome, ErrorBody> {
    crate::attachments::check_size(ctx.config.attachments.limits(), attachment.size, state.attachment_bytes)?;
    let mut events = Vec::new();
    let operator = match actor {
        Actor::Visitor => {
            if matches!(state.ownership, Ownership::Resolved { .. }) {
                events.push(EventKind::Reopened { operator: None });
            }
            None
        }
        Actor::Operator { operator } => {
            let op = ctx.config.operator_display(operator);
            if matches!(state.ownership, Ownership::Resolved { .. }) {
                return Err(resolved_error());
            }
            if let Some(o) = state.owner().filter(|o| o.id != op.id) {
                return Err(ErrorBody::new(
                    ErrorCode::Conflict,
                    format!("{} already owns this conversation: ask them to leave it or hand it back", o.name),
                ));
            }
            if !state.owned_by(&op) {
                events.push(EventKind::OperatorJoined { operator: op.clone() });
            }
            Some(op)
        }
    };
    events.push(EventKind::AttachmentAdded { attachment: attachment.clone(), operator });
    Ok(Outcome::events(events))
}

/// The bot's answer to a question (the one place that asks the engine), in the context of the
/// visitor's earlier messages (`previous`, oldest first): a follow-up that does not stand alone
/// ("and for arrays?") is answered with the question it follows (`Engine::answer_in`). The
/// docs' words stay as written; the engine's own "I couldn't find that" is said in the
/// visitor's language.
fn bot_answer(text: &str, previous: &[String], lang: Lang, ctx: &Ctx<'_>) -> Option<Answer> {
    let mut answer = match &ctx.prepared_answer {
        Some(a) => a.clone(),
        None => ctx.engine?.answer_in(text, previous),
    };
    if answer.text == crate::engine::DONT_KNOW {
        answer.text = i18n::words(lang).dont_know.into();
    }
    Some(answer)
}

/// Tags whose rule keywords occur (as whole words or phrases) in a visitor message.
pub fn auto_tags(text: &str, config: &SiteConfig) -> Vec<String> {
    config.tags.iter().filter(|r| handoff::keyword(text, &r.keywords).is_some()).map(|r| r.tag.trim().to_lowercase()).collect()
}

fn operator_command(state: &ConversationState, op: &OperatorRef, msg: &ClientMsg) -> Result<Outcome, ErrorBody> {
    let resolved = matches!(state.ownership, Ownership::Resolved { .. });
    let other_owner = state.owner().filter(|o| o.id != op.id);
    let conflict = |o: &OperatorRef| {
        ErrorBody::new(ErrorCode::Conflict, format!("{} already owns this conversation: ask them to leave it or hand it back", o.name))
    };
    let events = match msg {
        ClientMsg::TakeOver { .. } => {
            if resolved {
                return Err(resolved_error());
            }
            if let Some(o) = other_owner {
                return Err(conflict(o));
            }
            if state.owned_by(op) {
                vec![]
            } else {
                vec![EventKind::OperatorJoined { operator: op.clone() }]
            }
        }
        ClientMsg::Message { text, .. } => {
            if resolved {
                return Err(resolved_error());
            }
            if let Some(o) = other_owner {
                return Err(conflict(o));
            }
            let mut ev = Vec::new();
            // Replying takes the thread: the bot must not talk over the reply.
            if !state.owned_by(op) {
                ev.push(EventKind::OperatorJoined { operator: op.clone() });
            }
            ev.push(EventKind::OperatorMessage { operator: op.clone(), text: text.clone() });
            ev
        }
        ClientMsg::Note { text, .. } => vec![EventKind::PrivateNote { operator: op.clone(), text: text.clone() }],
        ClientMsg::AddTag { tag, .. } => {
            let tag = tag.trim().to_lowercase();
            if state.tags.contains(&tag) {
                vec![]
            } else {
                vec![EventKind::TagAdded { tag, source: TagSource::Operator { operator: op.clone() } }]
            }
        }
        ClientMsg::RemoveTag { tag, .. } => {
            let tag = tag.trim().to_lowercase();
            if state.tags.contains(&tag) {
                vec![EventKind::TagRemoved { tag, operator: op.clone() }]
            } else {
                vec![]
            }
        }
        ClientMsg::HandBack { .. } => {
            if resolved {
                return Err(resolved_error());
            }
            if let Some(o) = other_owner {
                return Err(conflict(o));
            }
            if state.ownership == Ownership::Bot {
                vec![]
            } else {
                vec![EventKind::HandedBack { operator: op.clone() }]
            }
        }
        ClientMsg::Leave { .. } => {
            if !state.owned_by(op) {
                return Err(ErrorBody::new(ErrorCode::InvalidState, "you don't own this conversation, so there is nothing to leave"));
            }
            vec![EventKind::OperatorLeft { operator: op.clone() }]
        }
        ClientMsg::Resolve { .. } => {
            if resolved {
                return Err(ErrorBody::new(ErrorCode::InvalidState, "the conversation is already resolved"));
            }
            // Any operator may close a thread, even one a colleague owns (who may have left
            // for the day): resolving is the way out of every state.
            vec![EventKind::Resolved { operator: Some(op.clone()) }]
        }
        ClientMsg::Reopen { .. } => {
            if !resolved {
                return Err(ErrorBody::new(ErrorCode::InvalidState, "the conversation is open already"));
            }
            vec![EventKind::Reopened { operator: Some(op.clone()) }]
        }
        ClientMsg::RequestHuman { .. }
        | ClientMsg::Page { .. }
        | ClientMsg::SubmitFields { .. }
        | ClientMsg::Feedback { .. }
        | ClientMsg::Identify { .. }
        | ClientMsg::Identified { .. }
        | ClientMsg::Context { .. }
        | ClientMsg::Rate { .. } => return Err(forbidden("the visitor")),
        // Handled by `decide` for both sides.
        ClientMsg::Attached { .. } => vec![],
        ClientMsg::Hello { .. } | ClientMsg::Ping | ClientMsg::Typing { .. } => vec![],
    };
    Ok(Outcome::events(events))
}

/// Checks a submitted form against its fields: unknown fields, required ones, the kind
/// (email, number, one of the options) and the pattern. The error names the first bad field
/// in form order, and says what to write.
pub fn validate_fields(fields: &[FieldSpec], values: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ErrorBody> {
    for name in values.keys() {
        if !fields.iter().any(|f| &f.name == name) {
            return Err(ErrorBody::field(name, format!("{name:?} is not a field of this form")));
        }
    }
    let mut out = BTreeMap::new();
    for f in fields {
        let v = values.get(&f.name).map(|v| v.trim()).unwrap_or("");
        if v.is_empty() {
            if f.required {
                return Err(ErrorBody::field(&f.name, format!("{} is required", f.label)));
            }
            continue;
        }
        let ok = match f.kind {
            FieldKind::Text => !v.chars().any(|c| c.is_control() && c != '\n'),
            FieldKind::Email => is_email(v),
            FieldKind::Number => v.parse::<f64>().is_ok_and(|n| n.is_finite()),
            FieldKind::Select => f.options.iter().any(|o| o == v),
        };
        if !ok {
            let what = match f.kind {
                FieldKind::Email => "an email address like name@example.com".to_string(),
                FieldKind::Number => "a number".to_string(),
                FieldKind::Select => format!("one of: {}", f.options.join(", ")),
                FieldKind::Text => "plain text".to_string(),
            };
            return Err(ErrorBody::field(&f.name, format!("{} must be {what}", f.label)));
        }
        if let Some(p) = &f.pattern {
            // Patterns are checked when the config is built; one that fails to compile here
            // (a config edited by hand) refuses the value rather than letting it through.
            let matches = regex_lite::Regex::new(p).is_ok_and(|re| re.is_match(v));
            if !matches {
                return Err(ErrorBody::field(&f.name, format!("{} doesn't look right: check the format and try again", f.label)));
            }
        }
        out.insert(f.name.clone(), v.to_string());
    }
    Ok(out)
}

/// A pragmatic email check: something@domain.tld, no spaces, at most 254 bytes.
pub fn is_email(v: &str) -> bool {
    crate::identity::is_email(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TagRule;

    fn state() -> ConversationState {
        let mut s = ConversationState::new(ConversationId::from_random([1; 16]), SiteId::parse("demo").unwrap(), 0);
        s.apply(&Event { seq: 1, at: 0, client_id: None, kind: EventKind::Started { site: s.site.clone(), page: None, lang: None } });
        s
    }

    fn apply_all(s: &mut ConversationState, events: &[EventKind]) {
        for k in events {
            let e = Event { seq: s.last_seq + 1, at: 10, client_id: None, kind: k.clone() };
            s.apply(&e);
        }
    }

    #[test]
    fn only_a_signed_identity_gives_the_address_replies_are_emailed_to() {
        let who = |verified| crate::identity::VisitorIdentity {
            user_id: "u-1".into(),
            email: Some("dana@shop.test".into()),
            name: None,
            attributes: Default::default(),
            verified,
        };
        let mut s = state();
        apply_all(&mut s, &[EventKind::Identified { identity: who(false) }]);
        assert_eq!(s.visitor_email, None, "an unsigned claim could name anyone's address");
        assert_eq!(s.identity.as_ref().and_then(|i| i.email.as_deref()), Some("dana@shop.test"), "still shown");
        apply_all(&mut s, &[EventKind::Identified { identity: who(true) }]);
        assert_eq!(s.visitor_email.as_deref(), Some("dana@shop.test"));
    }

    /// Decides and folds the outcome into the state; returns the events.
    fn run(s: &mut ConversationState, actor: &Actor, msg: ClientMsg, ctx: &Ctx<'_>) -> Vec<EventKind> {
        let out = decide(s, actor, &msg, ctx).unwrap();
        apply_all(s, &out.events);
        out.events
    }

    fn say(text: &str) -> ClientMsg {
        ClientMsg::Message { client_id: format!("c-{text}"), text: text.into() }
    }

    fn ann() -> OperatorRef {
        OperatorRef { id: "ann@example.com".into(), name: "Ann".into() }
    }

    fn bob() -> OperatorRef {
        OperatorRef { id: "bob@example.com".into(), name: "Bob".into() }
    }

    fn op(o: OperatorRef) -> Actor {
        Actor::Operator { operator: o }
    }

    #[test]
    fn only_operators_may_erase_and_the_sockets_are_told_why() {
        assert!(may_erase(&op(ann())).is_ok());
        assert_eq!(may_erase(&Actor::Visitor).unwrap_err().code, ErrorCode::Forbidden);
        let n = erased_notice(true);
        assert_eq!(n.code, ErrorCode::UnknownConversation);
        assert!(n.message.contains("retention") && n.message.contains("start a new one"), "{}", n.message);
        assert!(erased_notice(false).message.contains("deleted"));
    }

    #[test]
    fn only_operators_may_export() {
        assert!(may_export(&op(ann())).is_ok());
        let e = may_export(&Actor::Visitor).unwrap_err();
        assert_eq!(e.code, ErrorCode::Forbidden);
        assert!(e.message.contains("export"), "{}", e.message);
    }

    fn ctx(config: &SiteConfig, online: bool) -> Ctx<'_> {
        Ctx { now: 5, config, engine: None, operators_online: online, prepared_answer: None }
    }

    fn answering(config: &SiteConfig, confidence: f32) -> Ctx<'_> {
        let cite = Citation { title: "FAQ".into(), heading: "Passwords".into(), url: "/docs/faq#passwords".into(), path: "faq.md".into() };
        let low = confidence < config.confidence_threshold;
        let answer = Answer {
            text: if low { "I couldn't find that in the docs.".into() } else { "Salted PBKDF2 hashes.".into() },
            citations: if low { vec![] } else { vec![cite] },
            confidence,
            handoff: low,
        };
        Ctx { prepared_answer: Some(answer), ..ctx(config, true) }
    }

    #[test]
    fn the_bot_answers_while_it_owns_the_thread() {
        let config = SiteConfig::default();
        let mut s = state();
        let events = run(&mut s, &Actor::Visitor, say("how are passwords stored?"), &answering(&config, 0.9));
        assert_eq!(kinds(&events), ["visitor_message", "bot_answer"]);
        assert!(matches!(&events[1], EventKind::BotAnswer { question_seq: 2, .. }));
        assert_eq!(s.ownership, Ownership::Bot);
    }

    #[test]
    fn repeated_low_confidence_hands_off_with_the_figures_as_evidence() {
        let config = SiteConfig::default();
        let low = answering(&config, 0.2);
        let mut s = state();
        // One unknown question: the bot says so (the answer offers a person), no handoff yet.
        assert_eq!(kinds(&run(&mut s, &Actor::Visitor, say("what is the capital of Peru?"), &low)), ["visitor_message", "bot_answer"]);
        // A confident answer in between resets the streak.
        run(&mut s, &Actor::Visitor, say("how are passwords stored?"), &answering(&config, 0.9));
        run(&mut s, &Actor::Visitor, say("what about Bolivia?"), &low);
        let events = run(&mut s, &Actor::Visitor, say("and Chile?"), &low);
        let Some(EventKind::HandoffRequested { handoff, briefing, .. }) = events.last() else { panic!("{events:?}") };
        assert_eq!(handoff.reason, HandoffReason::RepeatedLowConfidence);
        assert_eq!(handoff.evidence, ["confidence 0.20 < threshold 0.50", "2 answers in a row without a confident one"]);
        assert_eq!(briefing.bot_attempts.len(), 4);
        assert_eq!(briefing.confidence, Some(0.2));
        assert!(matches!(s.ownership, Ownership::WaitingForHuman { .. }));
    }

    #[test]
    fn a_site_may_hand_off_on_the_first_low_confidence_answer() {
        let mut config = SiteConfig::default();
        config.handoff.on_low_confidence = true;
        let mut s = state();
        let events = run(&mut s, &Actor::Visitor, say("what is the capital of Peru?"), &answering(&config, 0.31));
        assert_eq!(kinds(&events), ["visitor_message", "bot_answer", "handoff_requested"]);
        let Some(EventKind::HandoffRequested { handoff, .. }) = events.last() else { panic!() };
        assert_eq!(
            (handoff.reason, handoff.evidence.as_slice()),
            (HandoffReason::LowConfidence, &["confidence 0.31 < threshold 0.50".to_string()][..])
        );
        // With repeats off and the first-answer rule off, unknown questions never hand off.
        config.handoff.on_low_confidence = false;
        config.handoff.low_confidence_repeats = 0;
        let mut s = state();
        for q in ["a?", "b?", "c?"] {
            assert_eq!(kinds(&run(&mut s, &Actor::Visitor, say(q), &answering(&config, 0.1))), ["visitor_message", "bot_answer"]);
        }
    }

    #[test]
    fn a_message_after_a_thumbs_down_is_frustration_and_the_briefing_says_why() {
        let config = SiteConfig::default();
        let ok = answering(&config, 0.9);
        let mut s = state();
        run(&mut s, &Actor::Visitor, say("how are passwords stored?"), &ok);
        let answer_seq = s.last_seq;
        assert!(s.turns().answered && !s.turns().thumbs_down);
        run(&mut s, &Actor::Visitor, ClientMsg::Feedback { client_id: "f".into(), answer_seq, helpful: false }, &ok);
        assert!(s.turns().thumbs_down);
        let events = run(&mut s, &Actor::Visitor, say("where are they kept then?"), &ok);
        let Some(EventKind::HandoffRequested { handoff, briefing, .. }) = events.last() else { panic!("{events:?}") };
        assert_eq!(handoff.reason, HandoffReason::Frustration);
        assert_eq!(handoff.evidence, ["wrote again after a thumbs-down on the answer"]);
        assert!(
            briefing.summary.starts_with("Visitor seems frustrated: “where are they kept then?” (wrote again after a thumbs-down"),
            "{}",
            briefing.summary
        );
        // A thumbs-up changes nothing: the bot answers the next question.
        let mut s = state();
        run(&mut s, &Actor::Visitor, say("how are passwords stored?"), &ok);
        let answer_seq = s.last_seq;
        run(&mut s, &Actor::Visitor, ClientMsg::Feedback { client_id: "f".into(), answer_seq, helpful: true }, &ok);
        assert_eq!(kinds(&run(&mut s, &Actor::Visitor, say("where are they kept then?"), &ok)), ["visitor_message", "bot_answer"]);
    }

    #[test]
    fn the_same_question_after_an_answer_or_still_failing_is_frustration() {
        let config = SiteConfig::default();
        let ok = answering(&config, 0.9);
        let mut s = state();
        run(&mut s, &Actor::Visitor, say("How do I reset my password?"), &ok);
        let events = run(&mut s, &Actor::Visitor, say("how do I reset my password"), &ok);
        let Some(EventKind::HandoffRequested { handoff, .. }) = events.last() else { panic!("{events:?}") };
        assert_eq!(
            (handoff.reason, handoff.evidence.as_slice()),
            (HandoffReason::Frustration, &["asked the same question again after an answer".to_string()][..])
        );
        let mut s = state();
        run(&mut s, &Actor::Visitor, say("How do I reset my password?"), &ok);
        let events = run(&mut s, &Actor::Visitor, say("I did that and it still fails"), &ok);
        assert!(
            matches!(events.last(), Some(EventKind::HandoffRequested { handoff, .. }) if handoff.reason == HandoffReason::Frustration),
            "{events:?}"
        );
        // Before any answer, the same words are a question like any other.
        let mut s = state();
        assert_eq!(kinds(&run(&mut s, &Actor::Visitor, say("I did that and it still fails"), &ok)), ["visitor_message", "bot_answer"]);
    }

    #[test]
    fn an_urgent_incident_hands_off_at_once_as_urgent() {
        let config = SiteConfig::default();
        let mut s = state();
        let events = run(&mut s, &Actor::Visitor, say("Is the inbox down? Nothing loads"), &answering(&config, 0.9));
        assert_eq!(kinds(&events), ["visitor_message", "tag_added", "handoff_requested"], "no answer first");
        let Some(EventKind::HandoffRequested { handoff, briefing, .. }) = events.last() else { panic!() };
        assert_eq!(handoff.reason, HandoffReason::Urgent);
        assert!(briefing.summary.starts_with("Urgent: an incident: “Is the inbox down? Nothing loads”"), "{}", briefing.summary);
        assert_eq!(handoff.reason.key(), "urgent");
    }

    fn kinds(events: &[EventKind]) -> Vec<&'static str> {
        events.iter().map(EventKind::type_name).collect()
    }

    #[test]
    fn a_prepared_answer_is_the_bot_answer() {
        let config = SiteConfig::default();
        let prepared = Answer { text: "Rephrased.".into(), citations: vec![], confidence: 0.9, handoff: false };
        let ctx = Ctx { now: 5, config: &config, engine: None, operators_online: true, prepared_answer: Some(prepared.clone()) };
        let out = decide(&state(), &Actor::Visitor, &ClientMsg::Message { client_id: "a".into(), text: "how?".into() }, &ctx).unwrap();
        assert!(out.events.iter().any(|e| matches!(e, EventKind::BotAnswer { answer, .. } if *answer == prepared)), "{out:?}");
        assert_eq!(out.notice, None);
    }

    #[test]
    fn explicit_request_hands_off_and_bot_goes_silent() {
        let config = SiteConfig::default();
        let ctx = ctx(&config, true);
        let mut s = state();
        let events = run(&mut s, &Actor::Visitor, say("can I talk to someone"), &ctx);
        match events.last() {
            Some(EventKind::HandoffRequested { handoff, notice, form, .. }) => {
                assert_eq!(handoff.reason, HandoffReason::ExplicitRequest);
                assert_eq!(handoff.evidence, ["talk to someone"]);
                assert!(notice.starts_with("Connecting you with the team"), "{notice}");
                assert!(form.is_none());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(s.ownership, Ownership::WaitingForHuman { since: 10 }));
        // While waiting, a question is stored but nothing else happens (no bot answer, no notice).
        let out = decide(&s, &Actor::Visitor, &say("how do I deploy"), &ctx).unwrap();
        assert_eq!(out.events, vec![EventKind::VisitorMessage { text: "how do I deploy".into() }]);
        assert_eq!(out.notice, None);
        // A second request for a person, in words or with the button, is not a second handoff.
        let again = decide(&s, &Actor::Visitor, &say("talk to a human please"), &ctx).unwrap();
        assert_eq!(kinds(&again.events), ["visitor_message"]);
        let button = decide(&s, &Actor::Visitor, &ClientMsg::RequestHuman { client_id: "b".into() }, &ctx).unwrap();
        assert!(button.events.is_empty());
    }

    #[test]
    fn plan_says_when_the_bot_will_answer_and_when_presence_matters() {
        let config = SiteConfig::default();
        let mut s = state();
        let p = plan(&s, &Actor::Visitor, &say("how do I deploy"), &config, None);
        assert_eq!(p, Plan { bot_question: Some("how do I deploy".into()), may_hand_off: false });
        assert!(plan(&s, &Actor::Visitor, &say("agent please"), &config, None).may_hand_off);
        assert!(plan(&s, &Actor::Visitor, &ClientMsg::RequestHuman { client_id: "h".into() }, &config, None).may_hand_off);
        // After one low-confidence answer, the next may be the repeat that hands off.
        s.low_confidence_streak = 1;
        assert!(plan(&s, &Actor::Visitor, &say("how do I deploy"), &config, None).may_hand_off);
        // Waiting or human: the bot will not answer nor type, and nothing can hand off again.
        run(&mut s, &Actor::Visitor, ClientMsg::RequestHuman { client_id: "h".into() }, &ctx(&config, true));
        assert_eq!(plan(&s, &Actor::Visitor, &say("how do I deploy"), &config, None), Plan::default());
        run(&mut s, &op(ann()), ClientMsg::TakeOver { client_id: "t".into() }, &ctx(&config, true));
        assert_eq!(plan(&s, &Actor::Visitor, &say("how do I deploy"), &config, None), Plan::default());
        assert_eq!(plan(&s, &op(ann()), &say("hello"), &config, None), Plan::default());
    }

    /// An engine over two sections with the shipped model and classifier.
    fn shipped_engine() -> Engine {
        use crate::index::{Index, INDEX_FORMAT_VERSION};
        let (model, classifier) = crate::handoff::tests::shipped();
        let texts = ["Passwords are stored as salted PBKDF2 hashes.", "Deploy with wrangler deploy."];
        let body = crate::index::tests::body_over(model, classifier.clone(), &texts);
        let bytes = Index::to_bytes(&body, &model.id, None);
        let index = Index::from_bytes(&bytes).expect("a valid index");
        assert_eq!(index.header.format_version, INDEX_FORMAT_VERSION);
        Engine::new(index, std::sync::Arc::new(model.clone())).expect("the classifier matches the model")
    }

    #[test]
    fn plan_asks_again_with_the_engine_whose_classifier_may_hand_off() {
        let config = SiteConfig::default();
        let engine = shipped_engine();
        let s = state();
        let polite = say("a human would understand this, please");
        // Without the engine only a certain request is final: the object loads the engine...
        assert!(plan(&s, &Actor::Visitor, &polite, &config, None).bot_question.is_some());
        // ...and asks again: the classifier hands off, so no typing and presence is asked.
        assert_eq!(plan(&s, &Actor::Visitor, &polite, &config, Some(&engine)), Plan { bot_question: None, may_hand_off: true });
        let ctx = Ctx { engine: Some(&engine), ..ctx(&config, true) };
        let out = decide(&s, &Actor::Visitor, &polite, &ctx).unwrap();
        let Some(EventKind::HandoffRequested { handoff, .. }) = out.events.last() else { panic!("{out:?}") };
        assert_eq!(handoff.reason, HandoffReason::ExplicitRequest);
        assert!(handoff.evidence[0].starts_with("classifier: request for a person"), "{:?}", handoff.evidence);
        // A request in another language needs no engine.
        assert_eq!(
            plan(&s, &Actor::Visitor, &say("¿Me puede atender una persona?"), &config, None),
            Plan { bot_question: None, may_hand_off: true }
        );
        // A question about handoff is answered.
        let about = say("What happens when I ask for a human?");
        assert!(plan(&s, &Actor::Visitor, &about, &config, Some(&engine)).bot_question.is_some());
        assert!(decide(&s, &Actor::Visitor, &about, &ctx).unwrap().events.iter().any(|e| matches!(e, EventKind::BotAnswer { .. })));
    }

    #[test]
    fn ownership_walks_bot_waiting_human_resolved_and_back() {
        let config = SiteConfig::default();
        let ctx = ctx(&config, true);
        let mut s = state();
        assert_eq!(s.ownership, Ownership::Bot);
        run(&mut s, &Actor::Visitor, ClientMsg::RequestHuman { client_id: "h".into() }, &ctx);
        assert_eq!(s.ownership, Ownership::WaitingForHuman { since: 10 });
        assert_eq!(kinds(&run(&mut s, &op(ann()), ClientMsg::TakeOver { client_id: "t".into() }, &ctx)), ["operator_joined"]);
        assert_eq!(s.ownership, Ownership::Human { operator: ann() });
        // Taking over what you own is a no-op.
        assert!(run(&mut s, &op(ann()), ClientMsg::TakeOver { client_id: "t2".into() }, &ctx).is_empty());
        // Leaving puts it back in the queue; a colleague picks it up.
        assert_eq!(kinds(&run(&mut s, &op(ann()), ClientMsg::Leave { client_id: "l".into() }, &ctx)), ["operator_left"]);
        assert!(matches!(s.ownership, Ownership::WaitingForHuman { .. }));
        run(&mut s, &op(bob()), ClientMsg::TakeOver { client_id: "t3".into() }, &ctx);
        assert_eq!(s.owner(), Some(&bob()));
        assert_eq!(kinds(&run(&mut s, &op(bob()), ClientMsg::Resolve { client_id: "r".into() }, &ctx)), ["resolved"]);
        assert!(matches!(s.ownership, Ownership::Resolved { .. }));
        // A new visitor message gives the thread back to the bot.
        let events = run(&mut s, &Actor::Visitor, say("one more thing"), &ctx);
        assert_eq!(kinds(&events)[..2], ["reopened", "visitor_message"]);
        assert_eq!(s.ownership, Ownership::Bot);
        assert_eq!(s.handoff, None, "a reopened thread starts a new episode");
        // An operator reopens a resolved thread and owns it.
        run(&mut s, &op(ann()), ClientMsg::Resolve { client_id: "r2".into() }, &ctx);
        run(&mut s, &op(ann()), ClientMsg::Reopen { client_id: "o".into() }, &ctx);
        assert_eq!(s.ownership, Ownership::Human { operator: ann() });
        // Hand back: the bot owns it again.
        run(&mut s, &op(ann()), ClientMsg::HandBack { client_id: "hb".into() }, &ctx);
        assert_eq!(s.ownership, Ownership::Bot);
    }

    #[test]
    fn invalid_transitions_are_refused_with_the_reason() {
        let config = SiteConfig::default();
        let ctx = ctx(&config, true);
        let mut s = state();
        let err = |s: &ConversationState, a: Actor, m: ClientMsg| decide(s, &a, &m, &ctx).unwrap_err().code;
        assert_eq!(err(&s, op(ann()), ClientMsg::Reopen { client_id: "x".into() }), ErrorCode::InvalidState);
        assert_eq!(err(&s, op(ann()), ClientMsg::Leave { client_id: "x".into() }), ErrorCode::InvalidState);
        run(&mut s, &op(ann()), ClientMsg::Resolve { client_id: "r".into() }, &ctx);
        assert_eq!(err(&s, op(ann()), say("hi")), ErrorCode::InvalidState);
        assert_eq!(err(&s, op(ann()), ClientMsg::TakeOver { client_id: "x".into() }), ErrorCode::InvalidState);
        assert_eq!(err(&s, op(ann()), ClientMsg::Resolve { client_id: "x".into() }), ErrorCode::InvalidState);
        // Notes and tags work in any state.
        assert_eq!(
            kinds(&run(&mut s, &op(ann()), ClientMsg::Note { client_id: "n".into(), text: "called them".into() }, &ctx)),
            ["private_note"]
        );
    }

    #[test]
    fn take_over_race_has_one_winner() {
        let config = SiteConfig::default();
        let ctx = ctx(&config, true);
        let mut s = state();
        run(&mut s, &op(ann()), ClientMsg::TakeOver { client_id: "t".into() }, &ctx);
        for m in [ClientMsg::TakeOver { client_id: "u".into() }, say("let me help"), ClientMsg::HandBack { client_id: "h".into() }] {
            let err = decide(&s, &op(bob()), &m, &ctx).unwrap_err();
            assert_eq!(err.code, ErrorCode::Conflict);
            assert!(err.message.contains("Ann"), "{}", err.message);
        }
    }

    #[test]
    fn an_operator_reply_takes_the_thread_and_resets_unread() {
        let config = SiteConfig::default();
        let ctx = ctx(&config, true);
        let mut s = state();
        run(&mut s, &Actor::Visitor, ClientMsg::RequestHuman { client_id: "h".into() }, &ctx);
        run(&mut s, &Actor::Visitor, say("hello?"), &ctx);
        run(&mut s, &Actor::Visitor, say("anyone?"), &ctx);
        assert_eq!(s.summary().unread, 2);
        let events = run(&mut s, &op(ann()), say("Hi, Ann here"), &ctx);
        assert_eq!(kinds(&events), ["operator_joined", "operator_message"]);
        let row = s.summary();
        assert_eq!(row.unread, 0);
        assert_eq!(row.owner, Some(ann()));
        assert_eq!(row.last_message.unwrap().from, "operator:Ann");
    }

    #[test]
    fn display_names_from_config_are_what_visitors_see() {
        let mut config = SiteConfig::default();
        config.operator_names.insert("ann@example.com".into(), "Ann from Support".into());
        let ctx = ctx(&config, true);
        let s = state();
        let out = decide(&s, &op(ann()), &ClientMsg::TakeOver { client_id: "t".into() }, &ctx).unwrap();
        assert_eq!(out.events, vec![EventKind::OperatorJoined { operator: OperatorRef { id: ann().id, name: "Ann from Support".into() } }]);
    }

    #[test]
    fn resolved_conversations_refuse_replies_and_reopen_on_visitor_message() {
        let config = SiteConfig::default();
        let ctx = ctx(&config, true);
        let mut s = state();
        run(&mut s, &op(ann()), ClientMsg::Resolve { client_id: "r".into() }, &ctx);
        let err = decide(&s, &op(ann()), &say("hi"), &ctx).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidState);
        let out = decide(&s, &Actor::Visitor, &say("hello again"), &ctx).unwrap();
        assert_eq!(out.events[0], EventKind::Reopened { operator: None });
        // No index: the question is stored and the visitor is told answers are unavailable.
        assert_eq!(out.notice.unwrap().code, ErrorCode::IndexUnavailable);
    }

    #[test]
    fn nobody_online_asks_for_an_email_and_says_when_to_expect_a_reply() {
        let config = SiteConfig::default();
        let ctx = ctx(&config, false);
        let mut s = state();
        let events = run(&mut s, &Actor::Visitor, ClientMsg::RequestHuman { client_id: "h".into() }, &ctx);
        match &events[0] {
            EventKind::HandoffRequested { operators_online, form: Some(form), notice, .. } => {
                assert!(!operators_online);
                assert_eq!(form.action, "email");
                assert_eq!(form.fields[0].kind, FieldKind::Email);
                assert!(notice.contains("Nobody from the team is online") && notice.contains("within one business day"), "{notice}");
            }
            other => panic!("{other:?}"),
        }
        // The built-in email form can be submitted; the email shows in the row.
        let bad = [("email".to_string(), "not-an-email".to_string())].into_iter().collect();
        let err =
            decide(&s, &Actor::Visitor, &ClientMsg::SubmitFields { client_id: "f".into(), action: "email".into(), values: bad }, &ctx)
                .unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), (ErrorCode::InvalidField, Some("email")));
        let good = [("email".to_string(), "vis@example.com".to_string())].into_iter().collect();
        let events =
            run(&mut s, &Actor::Visitor, ClientMsg::SubmitFields { client_id: "f2".into(), action: "email".into(), values: good }, &ctx);
        assert_eq!(kinds(&events), ["fields_collected"]);
        assert_eq!(s.summary().visitor_email.as_deref(), Some("vis@example.com"));
        assert_eq!(s.summary().fields["email"], "vis@example.com");
        // Next time nobody is online, the email is known: no form, and the notice names it.
        run(&mut s, &op(ann()), ClientMsg::Resolve { client_id: "r".into() }, &ctx);
        let events = run(&mut s, &Actor::Visitor, ClientMsg::RequestHuman { client_id: "h2".into() }, &ctx);
        match events.last() {
            Some(EventKind::HandoffRequested { form: None, notice, .. }) => assert!(notice.contains("vis@example.com"), "{notice}"),
            other => panic!("{other:?}"),
        }
    }

    fn order_action() -> ActionConfig {
        ActionConfig {
            id: "order".into(),
            title: "Tell us about your order".into(),
            keywords: vec!["order".into(), "delivery".into()],
            on_handoff: vec!["keyword".into()],
            fields: vec![
                FieldSpec {
                    name: "email".into(),
                    label: "Email".into(),
                    kind: FieldKind::Email,
                    required: true,
                    options: vec![],
                    pattern: None,
                },
                FieldSpec {
                    name: "order_id".into(),
                    label: "Order number".into(),
                    kind: FieldKind::Text,
                    required: true,
                    options: vec![],
                    pattern: Some(r"^[A-Z]{2}\d{6}$".into()),
                },
                FieldSpec {
                    name: "qty".into(),
                    label: "Quantity".into(),
                    kind: FieldKind::Number,
                    required: false,
                    options: vec![],
                    pattern: None,
                },
                FieldSpec {
                    name: "plan".into(),
                    label: "Plan".into(),
                    kind: FieldKind::Select,
                    required: false,
                    options: vec!["free".into(), "team".into()],
                    pattern: None,
                },
            ],
        }
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn fields_are_validated_by_kind_pattern_and_requirement() {
        let fields = order_action().fields;
        let field_of = |v: &[(&str, &str)]| validate_fields(&fields, &values(v)).unwrap_err().field.unwrap();
        assert_eq!(field_of(&[("order_id", "AB123456")]), "email", "required");
        assert_eq!(field_of(&[("email", "nope"), ("order_id", "AB123456")]), "email");
        assert_eq!(field_of(&[("email", "a@b.co"), ("order_id", "12345")]), "order_id", "pattern");
        assert_eq!(field_of(&[("email", "a@b.co"), ("order_id", "AB123456"), ("qty", "two")]), "qty");
        assert_eq!(field_of(&[("email", "a@b.co"), ("order_id", "AB123456"), ("plan", "gold")]), "plan");
        assert_eq!(field_of(&[("email", "a@b.co"), ("order_id", "AB123456"), ("shoe_size", "9")]), "shoe_size");
        let ok =
            validate_fields(&fields, &values(&[("email", " a@b.co "), ("order_id", "AB123456"), ("qty", "2"), ("plan", "team")])).unwrap();
        assert_eq!(ok["email"], "a@b.co", "values are trimmed");
        let msg = validate_fields(&fields, &values(&[("email", "a@b.co"), ("order_id", "x")])).unwrap_err().message;
        assert!(msg.contains("Order number"), "{msg}");
    }

    #[test]
    fn custom_actions_show_their_form_once_on_keywords_and_on_handoff() {
        let mut config = SiteConfig::default();
        config.actions = vec![order_action()];
        let ctx = ctx(&config, true);
        let mut s = state();
        let events = run(&mut s, &Actor::Visitor, say("where is my order?"), &ctx);
        assert!(kinds(&events).contains(&"form_requested"), "{events:?}");
        let events = run(&mut s, &Actor::Visitor, say("my order is late"), &ctx);
        assert!(!kinds(&events).contains(&"form_requested"), "asked once");
        // One message that asks for the form and hands off shows the form once.
        let mut fresh = state();
        let events = run(&mut fresh, &Actor::Visitor, say("urgent: my order never arrived"), &ctx);
        assert_eq!(kinds(&events).iter().filter(|k| **k == "form_requested").count(), 1);
        assert!(matches!(events.last(), Some(EventKind::HandoffRequested { form: None, .. })), "{events:?}");
        // A keyword handoff brings the action's form along (fields still missing).
        let events = run(&mut s, &Actor::Visitor, say("I want a refund"), &ctx);
        match events.last() {
            Some(EventKind::HandoffRequested { form: Some(f), .. }) => assert_eq!(f.action, "order"),
            other => panic!("{other:?}"),
        }
        let submit = ClientMsg::SubmitFields {
            client_id: "s".into(),
            action: "order".into(),
            values: values(&[("email", "v@example.com"), ("order_id", "AB123456")]),
        };
        run(&mut s, &Actor::Visitor, submit, &ctx);
        let row = s.summary();
        assert_eq!(row.fields["order_id"], "AB123456");
        assert_eq!(row.visitor_email.as_deref(), Some("v@example.com"));
        let unknown = ClientMsg::SubmitFields { client_id: "u".into(), action: "survey".into(), values: values(&[("a", "b")]) };
        assert_eq!(decide(&s, &Actor::Visitor, &unknown, &ctx).unwrap_err().field.as_deref(), Some("action"));
    }

    #[test]
    fn a_form_that_asks_for_an_email_is_the_offline_ask() {
        // The demo's case: "bug" shows a bug-report form that asks for an email, and hands off
        // (a keyword) while nobody is online. One email question, not two.
        let mut config = SiteConfig::default();
        config.actions = vec![order_action()];
        config.actions[0].keywords.push("bug".into());
        let offline = ctx(&config, false);
        let mut s = state();
        let events = run(&mut s, &Actor::Visitor, say("I found a bug in my order"), &offline);
        assert_eq!(kinds(&events).iter().filter(|k| **k == "form_requested").count(), 1, "{events:?}");
        match events.last() {
            Some(EventKind::HandoffRequested { form: None, notice, .. }) => assert!(notice.contains("Leave your email"), "{notice}"),
            other => panic!("a second email form: {other:?}"),
        }
        // Still not filled in at the next handoff: still no second ask.
        run(&mut s, &op(ann()), ClientMsg::HandBack { client_id: "b".into() }, &offline);
        let events = run(&mut s, &Actor::Visitor, ClientMsg::RequestHuman { client_id: "h".into() }, &offline);
        assert!(matches!(events.last(), Some(EventKind::HandoffRequested { form: None, .. })), "{events:?}");
        // A site's own offline form that only asks for the email is not shown once it is known.
        let mut config = SiteConfig::default();
        let mut email_only = order_action();
        email_only.id = "email".into();
        email_only.fields.truncate(1);
        email_only.fields[0].name = "contact".into();
        config.actions = vec![order_action(), email_only];
        let offline = ctx(&config, false);
        let mut s = state();
        let submit = ClientMsg::SubmitFields {
            client_id: "s".into(),
            action: "order".into(),
            values: values(&[("email", "v@example.com"), ("order_id", "AB123456")]),
        };
        run(&mut s, &Actor::Visitor, submit, &offline);
        let events = run(&mut s, &Actor::Visitor, ClientMsg::RequestHuman { client_id: "h".into() }, &offline);
        match events.last() {
            Some(EventKind::HandoffRequested { form: None, notice, .. }) => assert!(notice.contains("v@example.com"), "{notice}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_engine_speaks_the_visitors_language() {
        let mut config = SiteConfig::default();
        config.handoff.offline_reply_time = Localized::table(&[("en", "within four hours"), ("de", "innerhalb von vier Stunden")]);
        let mut action = order_action();
        action.title = Localized::table(&[("en", "Your order"), ("de", "Deine Bestellung")]);
        action.fields[1].label = Localized::table(&[("en", "Order number"), ("fr", "Numéro de commande")]);
        config.actions = vec![action];
        let mut s = ConversationState::new(ConversationId::from_random([2; 16]), SiteId::parse("demo").unwrap(), 0);
        let started = EventKind::Started { site: s.site.clone(), page: None, lang: Some("de".into()) };
        s.apply(&Event { seq: 1, at: 0, client_id: None, kind: started });
        assert_eq!(s.lang(), Lang::De);
        // The docs' words stay as written; the engine's own are German.
        let dont_know = Ctx { prepared_answer: Some(crate::engine::dont_know(0.1)), ..ctx(&config, true) };
        let events = run(&mut s, &Actor::Visitor, say("Wie geht das?"), &dont_know);
        match events.last() {
            Some(EventKind::BotAnswer { answer, .. }) => assert!(answer.text.starts_with("Das habe ich in der Doku nicht gefunden")),
            other => panic!("{other:?}"),
        }
        // Nobody online: the notice keeps the site's reply time (German) and asks for the email
        // in German, with the built-in form in German.
        let events = run(&mut s, &Actor::Visitor, ClientMsg::RequestHuman { client_id: "h".into() }, &ctx(&config, false));
        match events.last() {
            Some(EventKind::HandoffRequested { form: Some(f), notice, .. }) => {
                assert!(notice.contains("innerhalb von vier Stunden") && notice.contains("E-Mail-Adresse"), "{notice}");
                assert_eq!((f.title.as_str(), f.fields[0].label.text.as_str()), ("Wohin soll das Team antworten?", "E-Mail-Adresse"));
            }
            other => panic!("{other:?}"),
        }
        // A site form: the title in German, a label given only in other languages falls back.
        let events = run(&mut s, &Actor::Visitor, say("meine order"), &ctx(&config, true));
        match events.iter().find(|e| matches!(e, EventKind::FormRequested { .. })) {
            Some(EventKind::FormRequested { form }) => {
                assert_eq!(form.title, "Deine Bestellung");
                assert_eq!(form.fields[1].label, Localized::new("Order number"), "one plain string for the visitor");
            }
            other => panic!("{other:?}"),
        }
        // French: no French reply time from the site, so the built-in one in French.
        let notice =
            handoff_notice(Lang::Fr, false, None, config.handoff.offline_reply_time.exact(Lang::Fr).unwrap_or(i18n::FR.reply_time));
        assert!(notice.contains("sous un jour ouvré"), "{notice}");
    }

    #[test]
    fn unread_counts_what_still_waits_for_an_answer() {
        let config = SiteConfig::default();
        let mut s = state();
        run(&mut s, &Actor::Visitor, say("How are passwords stored?"), &answering(&config, 0.9));
        assert_eq!(s.summary().unread, 0, "the bot answered it");
        run(&mut s, &Actor::Visitor, say("And what is the moon made of?"), &answering(&config, 0.1));
        assert_eq!(s.summary().unread, 1, "\"I couldn't find that\" leaves it waiting");
        run(&mut s, &Actor::Visitor, ClientMsg::RequestHuman { client_id: "h".into() }, &ctx(&config, true));
        run(&mut s, &Actor::Visitor, say("hello?"), &ctx(&config, true));
        assert_eq!(s.summary().unread, 2);
        run(&mut s, &op(ann()), say("Hi, Ann here"), &ctx(&config, true));
        assert_eq!(s.summary().unread, 0);
    }

    #[test]
    fn what_the_shells_offer_is_what_decide_accepts() {
        use crate::ownership::{HumanHelp, OperatorAction};
        let config = SiteConfig::default();
        let c = ctx(&config, true);
        let states = [
            Ownership::Bot,
            Ownership::WaitingForHuman { since: 1 },
            Ownership::Human { operator: ann() },
            Ownership::Human { operator: bob() },
            Ownership::Resolved { at: 1 },
        ];
        for o in &states {
            let mut s = state();
            s.ownership = o.clone();
            for a in OperatorAction::ALL {
                let msg = match a {
                    OperatorAction::TakeOver => ClientMsg::TakeOver { client_id: "x".into() },
                    OperatorAction::Leave => ClientMsg::Leave { client_id: "x".into() },
                    OperatorAction::HandBack => ClientMsg::HandBack { client_id: "x".into() },
                    OperatorAction::Resolve => ClientMsg::Resolve { client_id: "x".into() },
                    OperatorAction::Reopen => ClientMsg::Reopen { client_id: "x".into() },
                };
                let got = decide(&s, &op(ann()), &msg, &c);
                if a.offered(o, &ann().id) {
                    // Offered: it happens, or the server names the colleague who owns it.
                    match got {
                        Ok(out) => assert!(!out.events.is_empty(), "{a:?} in {o:?} does nothing"),
                        Err(e) => assert_eq!(e.code, ErrorCode::Conflict, "{a:?} in {o:?}: {}", e.message),
                    }
                } else {
                    assert!(got.map_or(true, |out| out.events.is_empty()), "{a:?} in {o:?} works but is not offered");
                }
            }
            // The visitor's "Talk to a human" is offered exactly when pressing it hands off.
            let pressed = decide(&s, &Actor::Visitor, &ClientMsg::RequestHuman { client_id: "h".into() }, &c).unwrap();
            let hands_off = pressed.events.iter().any(|e| matches!(e, EventKind::HandoffRequested { .. }));
            assert_eq!(o.human_help() == HumanHelp::Offer, hands_off, "{o:?}");
        }
    }

    #[test]
    fn briefing_is_composed_from_the_log() {
        let config = SiteConfig::default();
        let ctx = ctx(&config, true);
        let mut s = state();
        s.apply(&Event {
            seq: 2,
            at: 1,
            client_id: None,
            kind: EventKind::PageChanged { page: Page { url: "https://x.dev/pricing".into(), title: "Pricing".into() } },
        });
        let cite = Citation {
            title: "Billing".into(),
            heading: "Invoices".into(),
            url: "/docs/billing#invoices".into(),
            path: "billing.md".into(),
        };
        apply_all(
            &mut s,
            &[
                EventKind::VisitorMessage { text: "where are my invoices?".into() },
                EventKind::BotAnswer {
                    question_seq: 3,
                    answer: Answer { text: "x".repeat(400), citations: vec![cite.clone()], confidence: 0.62, handoff: false },
                },
                EventKind::TagAdded { tag: "billing".into(), source: TagSource::Rule },
                EventKind::FieldsCollected { action: "email".into(), values: values(&[("email", "v@example.com")]) },
                EventKind::VisitorMessage { text: "the invoice total is wrong".into() },
            ],
        );
        let events = run(&mut s, &Actor::Visitor, say("let me talk to someone in billing"), &ctx);
        let Some(EventKind::HandoffRequested { briefing: b, .. }) = events.last() else { panic!("{events:?}") };
        assert_eq!(b.first_question.as_deref(), Some("where are my invoices?"));
        assert_eq!(b.latest_question.as_deref(), Some("let me talk to someone in billing"));
        assert_eq!(b.bot_attempts.len(), 1);
        assert_eq!(b.bot_attempts[0].citations, vec![cite]);
        assert_eq!(b.bot_attempts[0].answer.chars().count(), BRIEFING_ANSWER_CHARS);
        assert_eq!(b.confidence, Some(0.62));
        assert_eq!(b.fields["email"], "v@example.com");
        assert_eq!(b.page.as_ref().unwrap().title, "Pricing");
        assert_eq!(b.tags, ["billing"]);
        let h = b.handoff.as_ref().unwrap();
        assert_eq!((h.reason, h.evidence.as_slice()), (HandoffReason::ExplicitRequest, &["talk to someone".to_string()][..]));
        assert_eq!(
            b.summary,
            "Visitor asked for a person: “let me talk to someone in billing” (talk to someone) · bot answered 1×, best confidence 0.62 · on Pricing"
        );
        // The same log gives the same briefing.
        assert_eq!(&s.briefing(h), b);
        // And the inbox row carries it.
        assert_eq!(s.summary().briefing.as_ref(), Some(b));
    }

    #[test]
    fn tags_come_from_rules_and_operators() {
        let mut config = SiteConfig::default();
        config.tags.push(TagRule { tag: "Enterprise".into(), keywords: vec!["sso".into(), "audit log".into()] });
        assert_eq!(auto_tags("I was charged twice for SSO", &config), ["billing", "enterprise"]);
        assert_eq!(auto_tags("how do I scroll down?", &config), Vec::<String>::new(), "'down' alone is not an outage");
        assert_eq!(auto_tags("is the site down?", &config), ["urgent"]);
        assert_eq!(auto_tags("how do I enable the audit log", &config), ["enterprise"]);
        assert!(auto_tags("how do I debug errors", &config).contains(&"technical".to_string()));
        let ctx = ctx(&config, true);
        let mut s = state();
        let events = run(&mut s, &Actor::Visitor, say("my invoice is wrong"), &ctx);
        assert!(events.contains(&EventKind::TagAdded { tag: "billing".into(), source: TagSource::Rule }));
        let again = run(&mut s, &Actor::Visitor, say("the invoice again"), &ctx);
        assert!(!kinds(&again).contains(&"tag_added"), "a tag is added once");
        run(&mut s, &op(ann()), ClientMsg::AddTag { client_id: "t".into(), tag: " VIP ".into() }, &ctx);
        run(&mut s, &op(ann()), ClientMsg::RemoveTag { client_id: "u".into(), tag: "billing".into() }, &ctx);
        assert_eq!(s.summary().tags, ["vip"]);
        assert!(run(&mut s, &op(ann()), ClientMsg::RemoveTag { client_id: "w".into(), tag: "nope".into() }, &ctx).is_empty());
    }

    #[test]
    fn visitors_cannot_act_as_operators_nor_operators_as_visitors() {
        let config = SiteConfig::default();
        let ctx = ctx(&config, true);
        for m in [
            ClientMsg::Resolve { client_id: "x".into() },
            ClientMsg::TakeOver { client_id: "x".into() },
            ClientMsg::Leave { client_id: "x".into() },
        ] {
            assert_eq!(decide(&state(), &Actor::Visitor, &m, &ctx).unwrap_err().code, ErrorCode::Forbidden);
        }
        let err = decide(&state(), &op(ann()), &ClientMsg::RequestHuman { client_id: "x".into() }, &ctx).unwrap_err();
        assert_eq!(err.code, ErrorCode::Forbidden);
    }

    fn identity(user: &str, verified: bool) -> VisitorIdentity {
        VisitorIdentity {
            user_id: user.into(),
            email: Some(format!("{user}@example.com")),
            name: Some("Ann Visitor".into()),
            attributes: [("plan".to_string(), "enterprise".to_string())].into(),
            verified,
        }
    }

    #[test]
    fn identity_and_context_reach_the_briefing_the_row_and_the_search() {
        let config = SiteConfig::default();
        let ctx = ctx(&config, true);
        let mut s = state();
        let id = identity("u42", true);
        let events = run(&mut s, &Actor::Visitor, ClientMsg::Identified { client_id: "i".into(), identity: id.clone() }, &ctx);
        assert_eq!(kinds(&events), ["identified"]);
        let context: BTreeMap<String, String> = [("feature".to_string(), "page editor".to_string())].into();
        assert_eq!(kinds(&run(&mut s, &Actor::Visitor, ClientMsg::Context { context: context.clone() }, &ctx)), ["context_changed"]);
        assert!(
            run(&mut s, &Actor::Visitor, ClientMsg::Context { context: context.clone() }, &ctx).is_empty(),
            "unchanged: nothing stored"
        );
        // Identifying again with the same identity stores nothing; an unsigned claim never downgrades it.
        assert!(run(&mut s, &Actor::Visitor, ClientMsg::Identified { client_id: "j".into(), identity: id.clone() }, &ctx).is_empty());
        assert!(run(&mut s, &Actor::Visitor, ClientMsg::Identified { client_id: "k".into(), identity: identity("u42", false) }, &ctx)
            .is_empty());
        // Another user in the same conversation is refused.
        let other = ClientMsg::Identified { client_id: "l".into(), identity: identity("u43", true) };
        assert_eq!(decide(&s, &Actor::Visitor, &other, &ctx).unwrap_err().code, ErrorCode::IdentityInvalid);
        // Operators cannot set who the visitor is, nor their context.
        assert_eq!(decide(&s, &op(ann()), &ClientMsg::Context { context: BTreeMap::new() }, &ctx).unwrap_err().code, ErrorCode::Forbidden);
        let events = run(&mut s, &Actor::Visitor, say("can I talk to someone"), &ctx);
        let Some(EventKind::HandoffRequested { briefing, .. }) = events.last() else { panic!("{events:?}") };
        assert_eq!(briefing.identity.as_ref(), Some(&id));
        assert_eq!(briefing.context, context);
        assert!(briefing.summary.ends_with("· Ann Visitor (verified)"), "{}", briefing.summary);
        let row = s.summary();
        assert_eq!(row.identity, Some(id));
        assert_eq!(row.visitor_email.as_deref(), Some("u42@example.com"));
        let query = crate::inbox::RowQuery { q: Some("enterprise u42".into()), ..Default::default() };
        assert!(query.matches(&row, "", &crate::inbox::haystack(&row)), "the identity is searchable");
        // The visitor never sees who the host page said they are, nor the context.
        let e = Event { seq: 9, at: 0, client_id: None, kind: EventKind::Identified { identity: identity("u42", true) } };
        assert!(e.for_visitor().is_none());
    }

    #[test]
    fn ratings_wait_for_a_resolve() {
        let config = SiteConfig::default();
        let ctx = ctx(&config, true);
        let mut s = state();
        let rate = |score: u8| ClientMsg::Rate { client_id: format!("r{score}"), score, comment: " quick, thanks ".into() };
        assert_eq!(decide(&s, &Actor::Visitor, &rate(5), &ctx).unwrap_err().code, ErrorCode::InvalidState);
        run(&mut s, &Actor::Visitor, ClientMsg::RequestHuman { client_id: "h".into() }, &ctx);
        run(&mut s, &op(ann()), say("Hi, Ann here"), &ctx);
        assert_eq!(decide(&s, &Actor::Visitor, &rate(5), &ctx).unwrap_err().code, ErrorCode::InvalidState, "talking to a human");
        run(&mut s, &op(ann()), ClientMsg::Resolve { client_id: "z".into() }, &ctx);
        assert_eq!(decide(&s, &Actor::Visitor, &rate(9), &ctx).unwrap_err().code, ErrorCode::InvalidField);
        assert_eq!(decide(&s, &op(ann()), &rate(5), &ctx).unwrap_err().code, ErrorCode::Forbidden);
        let events = run(&mut s, &Actor::Visitor, rate(4), &ctx);
        assert_eq!(events, [EventKind::Rated { score: 4, comment: "quick, thanks".into() }]);
        assert_eq!(s.summary().rating, Some(4));
        let r = &s.stats.satisfaction.ratings[0];
        assert_eq!((r.operator.as_ref().map(|o| o.id.as_str()), r.reason), (Some("ann@example.com"), Some(HandoffReason::Button)));
    }

    #[test]
    fn attachments_count_like_messages_within_the_sites_limits() {
        let mut config = SiteConfig::default();
        config.attachments.max_file_mb = 1;
        config.attachments.max_conversation_mb = 2;
        let ctx = ctx(&config, true);
        let file = |n: u8, size: u64| ClientMsg::Attached {
            client_id: format!("a{n}"),
            attachment: Attachment { id: format!("{n:02x}").repeat(16), name: "shot.png".into(), content_type: "image/png".into(), size },
        };
        let mut s = state();
        assert_eq!(kinds(&run(&mut s, &Actor::Visitor, file(1, 900_000), &ctx)), ["attachment_added"]);
        let row = s.summary();
        assert_eq!((row.attachments, row.unread), (1, 1));
        assert_eq!(row.last_message.unwrap().text, "📎 shot.png");
        run(&mut s, &Actor::Visitor, file(2, 900_000), &ctx);
        assert_eq!(decide(&s, &Actor::Visitor, &file(3, 900_000), &ctx).unwrap_err().code, ErrorCode::TooLarge, "over the total");
        assert_eq!(decide(&state(), &Actor::Visitor, &file(4, 2_000_000), &ctx).unwrap_err().code, ErrorCode::TooLarge, "over a file");
        // An operator's file takes the thread, as a reply does; not once it is resolved.
        let mut s = state();
        assert_eq!(kinds(&run(&mut s, &op(ann()), file(5, 10), &ctx)), ["operator_joined", "attachment_added"]);
        assert_eq!(decide(&s, &op(bob()), &file(6, 10), &ctx).unwrap_err().code, ErrorCode::Conflict);
        run(&mut s, &op(ann()), ClientMsg::Resolve { client_id: "r".into() }, &ctx);
        assert_eq!(decide(&s, &op(ann()), &file(7, 10), &ctx).unwrap_err().code, ErrorCode::InvalidState);
        // A visitor's file reopens a resolved thread (the bot says nothing to a picture).
        assert_eq!(kinds(&run(&mut s, &Actor::Visitor, file(8, 10), &ctx)), ["reopened", "attachment_added"]);
        assert_eq!(s.attachments.len(), 2);
        // Off for the site: refused.
        config.attachments.enabled = false;
        assert_eq!(
            decide(&state(), &Actor::Visitor, &file(9, 10), &super::tests::ctx(&config, true)).unwrap_err().code,
            ErrorCode::Forbidden
        );
    }

    #[test]
    fn client_keys_are_per_sender() {
        assert_ne!(Actor::Visitor.client_key("m1"), op(ann()).client_key("m1"));
        assert_ne!(op(bob()).client_key("m1"), op(ann()).client_key("m1"));
    }

    #[test]
    fn folding_a_log_twice_gives_the_same_state() {
        let config = SiteConfig::default();
        let ctx = ctx(&config, false);
        let mut s = state();
        let mut log =
            vec![Event { seq: 1, at: 0, client_id: None, kind: EventKind::Started { site: s.site.clone(), page: None, lang: None } }];
        for m in [say("hello"), ClientMsg::RequestHuman { client_id: "h".into() }, say("still there?")] {
            for k in decide(&s, &Actor::Visitor, &m, &ctx).unwrap().events {
                let e = Event { seq: s.last_seq + 1, at: 7, client_id: None, kind: k };
                s.apply(&e);
                log.push(e);
            }
        }
        let mut again = ConversationState::new(s.id.clone(), s.site.clone(), 0);
        for e in &log {
            again.apply(e);
        }
        assert_eq!(again, s);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<ConversationState>(&json).unwrap(), s);
    }
}
