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
use crate::protocol::*;
use std::collections::BTreeMap;

pub use crate::state::{erased_notice, may_erase, may_export, truncate, Actor, AnsweredTurn, ConversationState};

impl ConversationState {
    /// What the conversation so far says about the visitor's next message.
    pub fn turns(&self) -> handoff::Turns<'_> {
        handoff::Turns {
            previous: &self.recent_questions,
            answered: self.answered.is_some(),
            thumbs_down: self.answered.as_ref().is_some_and(|a| a.unhelpful),
        }
    }
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
        assert_eq!(b.bot_attempts[0].answer.chars().count(), crate::state::BRIEFING_ANSWER_CHARS);
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
