//! The rules of a live conversation, as plain functions: given the state folded from the log,
//! who is acting and what they sent, `decide` returns the events to append — or a typed
//! refusal. The `Conversation` Durable Object only stores those events, folds them with
//! `ConversationState::apply` and relays them; it makes no decisions of its own.
//!
//! Invariant: the bot produces events only while `Ownership::Bot`; once a human is asked for or
//! owns the thread, visitor messages are stored and relayed to operators only.

use crate::config::{ActionConfig, SiteConfig};
use crate::engine::Engine;
use crate::handoff;
use crate::protocol::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many earlier visitor messages and bot tries the state keeps for triage and briefings.
const HISTORY: usize = 5;

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
}

/// Everything about a conversation that decisions and the inbox row need, folded from the log.
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
        }
    }

    /// Folds one stored event into the state. Events come from `decide`, so they are valid.
    pub fn apply(&mut self, event: &Event) {
        self.last_seq = event.seq;
        self.updated_at = event.at;
        let preview = |from: &str, text: &str| Some(Preview { from: from.into(), text: truncate(text, 140), at: event.at });
        match &event.kind {
            EventKind::Started { page, .. } => {
                self.created_at = event.at;
                self.page = page.clone();
            }
            EventKind::VisitorMessage { text } => {
                self.last_message = preview("visitor", text);
                self.unread += 1;
                if self.first_question.is_none() {
                    self.first_question = Some(text.clone());
                }
                push_bounded(&mut self.recent_questions, text.clone());
            }
            EventKind::BotAnswer { answer, .. } => {
                self.last_message = preview("bot", &answer.text);
                self.low_confidence_streak = if answer.handoff { self.low_confidence_streak + 1 } else { 0 };
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
            EventKind::HandoffRequested { handoff, .. } => {
                self.ownership = Ownership::WaitingForHuman { since: event.at };
                self.handoff = Some(handoff.clone());
                self.last_message = preview("system", handoff.reason.describe());
            }
            EventKind::FormRequested { .. } => {}
            EventKind::FieldsCollected { values, .. } => {
                for (k, v) in values {
                    if k == "email" || (v.contains('@') && self.visitor_email.is_none()) {
                        self.visitor_email = Some(v.clone());
                    }
                    self.fields.insert(k.clone(), v.clone());
                }
            }
            EventKind::OperatorJoined { operator } => self.ownership = Ownership::Human { operator: operator.clone() },
            EventKind::OperatorLeft { .. } => {}
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
                self.ownership = Ownership::Bot;
                self.low_confidence_streak = 0;
            }
            EventKind::Resolved { .. } => {
                self.ownership = Ownership::Resolved { at: event.at };
                self.unread = 0;
            }
            EventKind::Reopened { operator } => {
                self.ownership = match operator {
                    Some(op) => Ownership::Human { operator: op.clone() },
                    None => Ownership::Bot,
                };
                self.low_confidence_streak = 0;
            }
            EventKind::Feedback { .. } => {}
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
        }
    }

    /// Composes the operator briefing for a handoff, from the log so far. Deterministic.
    pub fn briefing(&self, handoff: &Handoff) -> Briefing {
        let latest = self.recent_questions.last().cloned();
        let want = latest.as_deref().or(self.first_question.as_deref()).unwrap_or("(no question yet)");
        let mut summary = format!("{} — “{}”", handoff.reason.describe(), truncate(want, 100));
        if !handoff.evidence.is_empty() {
            summary.push_str(&format!(" ({})", handoff.evidence.join(", ")));
        }
        Briefing {
            summary,
            first_question: self.first_question.clone(),
            latest_question: latest,
            bot_attempts: self.attempts.clone(),
            fields: self.fields.clone(),
            page: self.page.clone(),
            tags: self.tags.clone(),
        }
    }

    fn owned_by(&self, op: &OperatorRef) -> bool {
        matches!(&self.ownership, Ownership::Human { operator } if operator.id == op.id)
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
    /// Whether any operator of the site is connected to the inbox right now.
    pub operators_online: bool,
    /// The answer to a visitor's question when the shell computed it beforehand (e.g.
    /// rephrased by an LLM, which needs I/O `decide` must not do); `None`: `decide` asks the
    /// engine itself.
    pub prepared_answer: Option<crate::protocol::Answer>,
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
            if matches!(state.ownership, Ownership::WaitingForHuman { .. } | Ownership::Human { .. }) {
                return Ok(Outcome::default());
            }
            let mut s = state.clone();
            let mut events = Vec::new();
            if matches!(s.ownership, Ownership::Resolved { .. }) {
                push(&mut s, &mut events, EventKind::Reopened { operator: None }, ctx.now);
            }
            let handoff = Handoff { reason: HandoffReason::Button, evidence: Vec::new() };
            events.push(handoff_event(&s, handoff, ctx));
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
            let spec = ctx
                .config
                .actions
                .iter()
                .find(|a| &a.id == action)
                .ok_or_else(|| ErrorBody::field("action", format!("no form {action:?} on this site")))?;
            let values = validate_fields(spec, values)?;
            Ok(Outcome::events(vec![EventKind::FieldsCollected { action: action.clone(), values }]))
        }
        (Actor::Visitor, ClientMsg::Feedback { answer_seq, helpful, .. }) => {
            if *answer_seq == 0 || *answer_seq > state.last_seq {
                return Err(ErrorBody::field("answer_seq", "no such answer in this conversation"));
            }
            Ok(Outcome::events(vec![EventKind::Feedback { answer_seq: *answer_seq, helpful: *helpful }]))
        }
        (Actor::Visitor, _) => Err(forbidden("operators")),

        // ---- operators ----
        (Actor::Operator { operator }, msg) => operator_command(state, operator, msg, ctx),
    }
}

fn push(state: &mut ConversationState, events: &mut Vec<EventKind>, kind: EventKind, now: i64) {
    let ev = Event { seq: state.last_seq + 1, at: now, client_id: None, kind: kind.clone() };
    state.apply(&ev);
    events.push(kind);
}

fn handoff_event(state: &ConversationState, handoff: Handoff, ctx: &Ctx<'_>) -> EventKind {
    let briefing = state.briefing(&handoff);
    let trigger = if ctx.operators_online { handoff_reason_key(handoff.reason) } else { "no_operator_online" };
    let form = ctx
        .config
        .actions
        .iter()
        .find(|a| a.on_handoff.iter().any(|r| r == trigger || r == handoff_reason_key(handoff.reason)))
        .map(form_of)
        .or_else(|| (!ctx.operators_online && state.visitor_email.is_none()).then(email_form));
    EventKind::HandoffRequested { handoff, briefing, operators_online: ctx.operators_online, form }
}

/// The snake_case name of a reason, as used in config (`on_handoff = ["keyword"]`).
pub fn handoff_reason_key(r: HandoffReason) -> &'static str {
    match r {
        HandoffReason::ExplicitRequest => "explicit_request",
        HandoffReason::Button => "button",
        HandoffReason::Keyword => "keyword",
        HandoffReason::LowConfidence => "low_confidence",
        HandoffReason::RepeatedLowConfidence => "repeated_low_confidence",
        HandoffReason::Frustration => "frustration",
    }
}

fn form_of(a: &ActionConfig) -> ActionForm {
    ActionForm { action: a.id.clone(), title: a.title.clone(), fields: a.fields.clone() }
}

/// The built-in form when nobody is online: where should the team reply?
pub fn email_form() -> ActionForm {
    ActionForm {
        action: "email".into(),
        title: "Nobody is online right now. Leave your email and we'll reply there.".into(),
        fields: vec![FieldSpec {
            name: "email".into(),
            label: "Email".into(),
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
    let previous = s.recent_questions.clone();
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
            && handoff::keyword(text, &a.keywords).is_some()
            && !s.fields.keys().any(|k| a.fields.iter().any(|f| &f.name == k))
        {
            push(&mut s, &mut events, EventKind::FormRequested { form: form_of(a) }, ctx.now);
        }
    }
    if !s.ownership.bot_may_speak() {
        // A human owns the thread (or is being waited for): the bot stays silent.
        return Outcome::events(events);
    }
    if let Some(h) = handoff::triage(text, &previous, &ctx.config.handoff) {
        let ev = handoff_event(&s, h, ctx);
        events.push(ev);
        return Outcome::events(events);
    }
    let answer = match (&ctx.prepared_answer, ctx.engine) {
        (Some(prepared), _) => prepared.clone(),
        (None, Some(engine)) => engine.answer(text),
        (None, None) => {
            return Outcome {
                events,
                notice: Some(ErrorBody::new(
                    ErrorCode::IndexUnavailable,
                    "answers from the docs are unavailable right now; you can still talk to a person",
                )),
            }
        }
    };
    let low = answer.handoff;
    push(&mut s, &mut events, EventKind::BotAnswer { question_seq, answer: answer.clone() }, ctx.now);
    if low {
        let cfg = &ctx.config.handoff;
        let repeated = cfg.low_confidence_repeats > 0 && s.low_confidence_streak >= cfg.low_confidence_repeats;
        if cfg.on_low_confidence || repeated {
            let reason = if repeated { HandoffReason::RepeatedLowConfidence } else { HandoffReason::LowConfidence };
            let evidence = vec![format!(
                "confidence {:.2} < threshold {:.2}{}",
                answer.confidence,
                ctx.config.confidence_threshold,
                if repeated { format!(", {} times in a row", s.low_confidence_streak) } else { String::new() }
            )];
            let ev = handoff_event(&s, Handoff { reason, evidence }, ctx);
            events.push(ev);
        }
    }
    Outcome::events(events)
}

/// Tags whose rule keywords occur (as whole words) in a visitor message.
pub fn auto_tags(text: &str, config: &SiteConfig) -> Vec<String> {
    config.tags.iter().filter(|r| handoff::keyword(text, &r.keywords).is_some()).map(|r| r.tag.to_lowercase()).collect()
}

fn operator_command(state: &ConversationState, op: &OperatorRef, msg: &ClientMsg, ctx: &Ctx<'_>) -> Result<Outcome, ErrorBody> {
    let resolved = matches!(state.ownership, Ownership::Resolved { .. });
    let owner = match &state.ownership {
        Ownership::Human { operator } if operator.id != op.id => Some(operator),
        _ => None,
    };
    let conflict = |o: &OperatorRef| ErrorBody::new(ErrorCode::Conflict, format!("{} already owns this conversation", o.name));
    let events = match msg {
        ClientMsg::TakeOver { .. } => {
            if resolved {
                return Err(resolved_error());
            }
            if let Some(o) = owner {
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
            if let Some(o) = owner {
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
            if let Some(o) = owner {
                return Err(conflict(o));
            }
            if state.ownership == Ownership::Bot {
                vec![]
            } else {
                vec![EventKind::HandedBack { operator: op.clone() }]
            }
        }
        ClientMsg::Resolve { .. } => {
            if resolved {
                return Err(ErrorBody::new(ErrorCode::InvalidState, "the conversation is already resolved"));
            }
            vec![EventKind::Resolved { operator: Some(op.clone()) }]
        }
        ClientMsg::Reopen { .. } => {
            if !resolved {
                return Err(ErrorBody::new(ErrorCode::InvalidState, "the conversation is open already"));
            }
            vec![EventKind::Reopened { operator: Some(op.clone()) }]
        }
        ClientMsg::RequestHuman { .. } | ClientMsg::Page { .. } | ClientMsg::SubmitFields { .. } | ClientMsg::Feedback { .. } => {
            return Err(forbidden("the visitor"))
        }
        ClientMsg::Hello { .. } | ClientMsg::Ping | ClientMsg::Typing { .. } => vec![],
    };
    let _ = ctx;
    Ok(Outcome::events(events))
}

/// Checks a submitted form against its spec; the error names the field.
pub fn validate_fields(spec: &ActionConfig, values: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ErrorBody> {
    let mut out = BTreeMap::new();
    for name in values.keys() {
        if !spec.fields.iter().any(|f| &f.name == name) {
            return Err(ErrorBody::field(name, format!("{name:?} is not a field of this form")));
        }
    }
    for f in &spec.fields {
        let v = values.get(&f.name).map(|v| v.trim()).unwrap_or("");
        if v.is_empty() {
            if f.required {
                return Err(ErrorBody::field(&f.name, format!("{} is required", f.label)));
            }
            continue;
        }
        let ok = match f.kind {
            FieldKind::Text => true,
            FieldKind::Email => is_email(v),
            FieldKind::Number => v.parse::<f64>().is_ok_and(|n| n.is_finite()),
            FieldKind::Select => f.options.iter().any(|o| o == v),
        };
        if !ok {
            let what = match f.kind {
                FieldKind::Email => "an email address like name@example.com",
                FieldKind::Number => "a number",
                FieldKind::Select => "one of the choices",
                FieldKind::Text => "text",
            };
            return Err(ErrorBody::field(&f.name, format!("{} must be {what}", f.label)));
        }
        out.insert(f.name.clone(), v.to_string());
    }
    Ok(out)
}

/// A pragmatic email check: something@domain.tld, no spaces.
pub fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !v.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ConversationState {
        let mut s = ConversationState::new(ConversationId::from_random([1; 16]), SiteId::parse("demo").unwrap(), 0);
        s.apply(&Event { seq: 1, at: 0, client_id: None, kind: EventKind::Started { site: s.site.clone(), page: None } });
        s
    }

    fn apply_all(s: &mut ConversationState, events: &[EventKind]) {
        for k in events {
            let e = Event { seq: s.last_seq + 1, at: 10, client_id: None, kind: k.clone() };
            s.apply(&e);
        }
    }

    fn ann() -> OperatorRef {
        OperatorRef { id: "ann@example.com".into(), name: "Ann".into() }
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
        let ctx = Ctx { now: 5, config: &config, engine: None, operators_online: true, prepared_answer: None };
        let mut s = state();
        let out =
            decide(&s, &Actor::Visitor, &ClientMsg::Message { client_id: "a".into(), text: "can I talk to someone".into() }, &ctx).unwrap();
        assert!(matches!(
            out.events.last(),
            Some(EventKind::HandoffRequested { handoff: Handoff { reason: HandoffReason::ExplicitRequest, .. }, .. })
        ));
        apply_all(&mut s, &out.events);
        assert!(matches!(s.ownership, Ownership::WaitingForHuman { .. }));
        // While waiting, a question is stored but nothing else happens (no bot answer, no notice).
        let out = decide(&s, &Actor::Visitor, &ClientMsg::Message { client_id: "b".into(), text: "how do I deploy".into() }, &ctx).unwrap();
        assert_eq!(out.events, vec![EventKind::VisitorMessage { text: "how do I deploy".into() }]);
        assert_eq!(out.notice, None);
    }

    #[test]
    fn take_over_race_has_one_winner() {
        let config = SiteConfig::default();
        let ctx = Ctx { now: 5, config: &config, engine: None, operators_online: true, prepared_answer: None };
        let mut s = state();
        let out = decide(&s, &Actor::Operator { operator: ann() }, &ClientMsg::TakeOver { client_id: "t".into() }, &ctx).unwrap();
        apply_all(&mut s, &out.events);
        let bob = OperatorRef { id: "bob@example.com".into(), name: "Bob".into() };
        let err = decide(&s, &Actor::Operator { operator: bob }, &ClientMsg::TakeOver { client_id: "u".into() }, &ctx).unwrap_err();
        assert_eq!(err.code, ErrorCode::Conflict);
        assert!(err.message.contains("Ann"));
    }

    #[test]
    fn resolved_conversations_refuse_replies_and_reopen_on_visitor_message() {
        let config = SiteConfig::default();
        let ctx = Ctx { now: 5, config: &config, engine: None, operators_online: true, prepared_answer: None };
        let mut s = state();
        let out = decide(&s, &Actor::Operator { operator: ann() }, &ClientMsg::Resolve { client_id: "r".into() }, &ctx).unwrap();
        apply_all(&mut s, &out.events);
        let err = decide(&s, &Actor::Operator { operator: ann() }, &ClientMsg::Message { client_id: "m".into(), text: "hi".into() }, &ctx)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidState);
        let out = decide(&s, &Actor::Visitor, &ClientMsg::Message { client_id: "v".into(), text: "hello again".into() }, &ctx).unwrap();
        assert_eq!(out.events[0], EventKind::Reopened { operator: None });
        // No index: the question is stored and the visitor is told answers are unavailable.
        assert_eq!(out.notice.unwrap().code, ErrorCode::IndexUnavailable);
    }

    #[test]
    fn nobody_online_asks_for_an_email() {
        let config = SiteConfig::default();
        let ctx = Ctx { now: 5, config: &config, engine: None, operators_online: false, prepared_answer: None };
        let s = state();
        let out = decide(&s, &Actor::Visitor, &ClientMsg::RequestHuman { client_id: "h".into() }, &ctx).unwrap();
        match &out.events[0] {
            EventKind::HandoffRequested { operators_online, form: Some(form), .. } => {
                assert!(!operators_online);
                assert_eq!(form.fields[0].kind, FieldKind::Email);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn visitors_cannot_act_as_operators() {
        let config = SiteConfig::default();
        let ctx = Ctx { now: 5, config: &config, engine: None, operators_online: true, prepared_answer: None };
        let err = decide(&state(), &Actor::Visitor, &ClientMsg::Resolve { client_id: "x".into() }, &ctx).unwrap_err();
        assert_eq!(err.code, ErrorCode::Forbidden);
    }

    #[test]
    fn fields_are_validated_by_kind() {
        let spec = ActionConfig {
            id: "order".into(),
            title: "Order".into(),
            keywords: vec![],
            on_handoff: vec![],
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
                    name: "qty".into(),
                    label: "Quantity".into(),
                    kind: FieldKind::Number,
                    required: false,
                    options: vec![],
                    pattern: None,
                },
            ],
        };
        let mut v = BTreeMap::new();
        v.insert("email".to_string(), "nope".to_string());
        assert_eq!(validate_fields(&spec, &v).unwrap_err().field.as_deref(), Some("email"));
        v.insert("email".to_string(), "a@b.co".to_string());
        v.insert("qty".to_string(), "x".to_string());
        assert_eq!(validate_fields(&spec, &v).unwrap_err().field.as_deref(), Some("qty"));
        v.insert("qty".to_string(), "2".to_string());
        assert!(validate_fields(&spec, &v).is_ok());
    }
}
