//! The one wire protocol: every JSON body, WebSocket frame and stored event that crosses a
//! boundary between the widget, the inbox, the worker and its Durable Objects.
//!
//! Everything here is plain serde data with no behaviour beyond validation, so the widget and
//! the inbox can link it without the engine. Field names are the JSON names (snake_case); enums
//! are internally tagged with `"type"` so a frame reads as `{"type": "message", ...}`.

pub use crate::i18n::Localized;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub use crate::attachments::Attachment;
pub use crate::identity::{IdentityClaim, VisitorIdentity};

/// Longest visitor or operator message accepted, in bytes of UTF-8.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Longest value of one collected field, in bytes.
pub const MAX_FIELD_BYTES: usize = 512;
/// Longest client message id, in bytes.
pub const MAX_CLIENT_ID_BYTES: usize = 64;
/// Longest tag, in bytes.
pub const MAX_TAG_BYTES: usize = 40;
/// Largest WebSocket frame or JSON body the API reads, in bytes.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What went wrong, as a stable machine-readable code. Every HTTP error body and every
/// WebSocket error frame carries one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body or frame is not valid JSON of the expected shape.
    BadRequest,
    /// A field is present but its value is not acceptable (see `field`).
    InvalidField,
    /// The `type` of a frame or event is not one this server knows.
    UnknownCommand,
    UnknownSite,
    UnknownConversation,
    NotFound,
    MethodNotAllowed,
    /// No (or an expired, or a wrong) visitor token or operator session.
    Unauthorized,
    /// Authenticated, but not allowed to do this (another site, a visitor acting as operator).
    Forbidden,
    OriginNotAllowed,
    RateLimited,
    TooLarge,
    TooManyConnections,
    /// The answer index for this site could not be loaded; handoff still works.
    IndexUnavailable,
    /// Another operator won a race for this conversation, or the state moved on.
    Conflict,
    /// The action does not apply in the conversation's current state.
    InvalidState,
    Internal,
    /// A visitor identity was refused: a signature that does not match, an expired one, a
    /// missing one where the site requires it, or a malformed field (`field` names it).
    IdentityInvalid,
    /// An attachment whose bytes are not an accepted type (PNG, JPEG, WebP, GIF, PDF).
    UnsupportedType,
    /// No such attachment in this conversation.
    UnknownAttachment,
}

impl ErrorCode {
    /// The HTTP status that goes with this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest | ErrorCode::InvalidField | ErrorCode::UnknownCommand => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden | ErrorCode::OriginNotAllowed | ErrorCode::IdentityInvalid => 403,
            ErrorCode::UnknownSite | ErrorCode::UnknownConversation | ErrorCode::NotFound | ErrorCode::UnknownAttachment => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict | ErrorCode::InvalidState => 409,
            ErrorCode::TooLarge => 413,
            ErrorCode::UnsupportedType => 415,
            ErrorCode::RateLimited | ErrorCode::TooManyConnections => 429,
            ErrorCode::IndexUnavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// The WebSocket close code used when this error ends a socket (4000 + HTTP status).
    pub fn close_code(self) -> u16 {
        4000 + self.http_status()
    }
}

/// A typed error: what happened, in words that say what to do next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// The offending field, for `invalid_field`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait, for `rate_limited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u32>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody { code, message: message.into(), field: None, retry_after: None }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ErrorBody { code: ErrorCode::InvalidField, message: message.into(), field: Some(field.to_string()), retry_after: None }
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

/// The body of every HTTP error: `{"error": {"code": ..., "message": ...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: ErrorBody,
}

impl From<ErrorBody> for ApiError {
    fn from(error: ErrorBody) -> Self {
        ApiError { error }
    }
}

// ---------------------------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------------------------

/// A site: one docs corpus, one config, one inbox. Lowercase letters, digits and `-`, 1–32 chars.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SiteId(String);

impl SiteId {
    pub fn parse(s: &str) -> Result<SiteId, ErrorBody> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if ok {
            Ok(SiteId(s.to_string()))
        } else {
            Err(ErrorBody::new(
                ErrorCode::UnknownSite,
                format!("{} is not a site id: use 1-32 lowercase letters, digits or '-'", quoted(s)),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SiteId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        SiteId::parse(&s).map_err(|e| e.message)
    }
}

impl From<SiteId> for String {
    fn from(s: SiteId) -> String {
        s.0
    }
}

impl fmt::Display for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A conversation: 128 random bits as 32 lowercase hex digits, so ids cannot be guessed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConversationId(String);

impl ConversationId {
    pub const LEN: usize = 32;

    pub fn parse(s: &str) -> Result<ConversationId, ErrorBody> {
        if s.len() == Self::LEN && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(ConversationId(s.to_string()))
        } else {
            Err(ErrorBody::new(
                ErrorCode::UnknownConversation,
                "no such conversation: ids are 32 lowercase hex digits; start a new conversation",
            ))
        }
    }

    /// Builds an id from 16 random bytes.
    pub fn from_random(bytes: [u8; 16]) -> ConversationId {
        ConversationId(hex(&bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ConversationId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        ConversationId::parse(&s).map_err(|e| e.message)
    }
}

impl From<ConversationId> for String {
    fn from(s: ConversationId) -> String {
        s.0
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A visitor's or a config's value named in an error message: in quotes, cut to 60 characters,
/// control characters shown as `?`. (Not `{:?}`: Debug formatting of strings costs the widget
/// ~1 KB brotli of escaping tables for messages it never shows.)
pub fn quoted(s: &str) -> String {
    let mut out = String::from("“");
    for (i, c) in s.chars().enumerate() {
        if i == 60 {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { '?' } else { c });
    }
    out.push('”');
    out
}

/// Lowercase hex of some bytes (ids, tokens, digests).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

// ---------------------------------------------------------------------------------------------
// People and places
// ---------------------------------------------------------------------------------------------

/// An operator as shown to others: a stable id (their email) and a display name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OperatorRef {
    pub id: String,
    pub name: String,
}

/// Who is on the other end of a socket or performed an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Visitor,
    Operator,
}

/// The page a visitor is looking at.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub url: String,
    #[serde(default)]
    pub title: String,
}

/// A doc section an answer was taken from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    /// Page title.
    pub title: String,
    /// Section heading ("" for the page's introduction).
    #[serde(default)]
    pub heading: String,
    /// Public link to the section, with its anchor.
    pub url: String,
    /// Source file, relative to the docs folder.
    #[serde(default)]
    pub path: String,
}

impl Citation {
    /// "Page › Section", or just "Page".
    pub fn breadcrumb(&self) -> String {
        if self.heading.is_empty() || self.heading == self.title {
            self.title.clone()
        } else {
            format!("{} › {}", self.title, self.heading)
        }
    }
}

/// What the engine says to one question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Markdown subset: paragraphs, lists, inline code, code blocks, links.
    pub text: String,
    pub citations: Vec<Citation>,
    /// Calibrated: the engine's estimate that this answer is right, in [0, 1].
    pub confidence: f32,
    /// True when the engine does not know from the docs and a human should take it.
    pub handoff: bool,
}

// ---------------------------------------------------------------------------------------------
// Conversation state and events
// ---------------------------------------------------------------------------------------------

/// Who owns a conversation: the bot answers only in `Bot`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Ownership {
    Bot,
    WaitingForHuman { since: i64 },
    Human { operator: OperatorRef },
    Resolved { at: i64 },
}

impl Ownership {
    /// Whether the bot may answer or show typing: only while it owns the thread.
    pub fn bot_may_speak(&self) -> bool {
        matches!(self, Ownership::Bot)
    }

    pub fn label(&self) -> &'static str {
        match self {
            Ownership::Bot => "bot",
            Ownership::WaitingForHuman { .. } => "waiting_for_human",
            Ownership::Human { .. } => "human",
            Ownership::Resolved { .. } => "resolved",
        }
    }
}

/// Why a conversation was handed to a human.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffReason {
    /// The visitor asked for a person in words ("can I talk to someone").
    ExplicitRequest,
    /// The visitor pressed "Talk to a human".
    Button,
    /// A configured trigger keyword ("refund", "outage", ...).
    Keyword,
    /// The engine did not know from the docs.
    LowConfidence,
    /// The engine did not know several times in a row.
    RepeatedLowConfidence,
    /// Several signals of frustration together.
    Frustration,
    /// An urgent incident (production down, data loss, a breach, payments failing, a deadline
    /// today): handed off at once, and first in the operators' list.
    Urgent,
}

impl HandoffReason {
    /// The snake_case name, as in JSON and in `baton.toml` (`on_handoff = ["keyword"]`).
    pub fn key(self) -> &'static str {
        match self {
            HandoffReason::ExplicitRequest => "explicit_request",
            HandoffReason::Button => "button",
            HandoffReason::Keyword => "keyword",
            HandoffReason::LowConfidence => "low_confidence",
            HandoffReason::RepeatedLowConfidence => "repeated_low_confidence",
            HandoffReason::Frustration => "frustration",
            HandoffReason::Urgent => "urgent",
        }
    }

    /// Operator-facing words.
    pub fn describe(self) -> &'static str {
        match self {
            HandoffReason::ExplicitRequest => "Visitor asked for a person",
            HandoffReason::Button => "Visitor pressed “Talk to a human”",
            HandoffReason::Keyword => "Trigger keyword",
            HandoffReason::LowConfidence => "The docs had no confident answer",
            HandoffReason::RepeatedLowConfidence => "No confident answer, repeatedly",
            HandoffReason::Frustration => "Visitor seems frustrated",
            HandoffReason::Urgent => "Urgent: an incident",
        }
    }
}

/// A handoff decision: the reason plus the evidence that triggered it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    pub reason: HandoffReason,
    /// What in the conversation triggered it (matched phrase, keyword, confidence figures).
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// One try of the bot, as the operator's briefing shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BotAttempt {
    pub question: String,
    pub answer: String,
    pub confidence: f32,
    pub citations: Vec<Citation>,
}

/// What an operator needs to pick up a handoff without scrolling: composed by the engine from
/// the log, deterministically (`ConversationState::briefing`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Briefing {
    /// One line: what the visitor wants and why a human is needed.
    pub summary: String,
    #[serde(default)]
    pub first_question: Option<String>,
    #[serde(default)]
    pub latest_question: Option<String>,
    /// The bot's last tries (answers cut to a few hundred characters; the log has them whole).
    #[serde(default)]
    pub bot_attempts: Vec<BotAttempt>,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    pub page: Option<Page>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The trigger and its evidence.
    #[serde(default)]
    pub handoff: Option<Handoff>,
    /// The confidence of the bot's last answer, if it answered.
    #[serde(default)]
    pub confidence: Option<f32>,
    /// Who the visitor is, as the host page said (verified when the site's backend signed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<VisitorIdentity>,
    /// What the visitor is doing in the product (`window.Baton.setContext`), latest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, String>,
}

impl Briefing {
    /// What the visitor wants: what they asked when the thread was handed off, else their
    /// first question.
    pub fn wants(&self) -> Option<&str> {
        self.latest_question.as_deref().or(self.first_question.as_deref())
    }

    /// The question that opened the conversation, when it is not what they want now.
    pub fn first_asked(&self) -> Option<&str> {
        self.first_question.as_deref().filter(|f| Some(*f) != self.wants())
    }
}

/// Where a tag came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TagSource {
    /// A site tag rule matched a visitor message.
    Rule,
    Operator {
        operator: OperatorRef,
    },
}

/// A small form the visitor is asked to fill in before a human arrives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionForm {
    /// The action's id from the site config.
    pub action: String,
    pub title: String,
    pub fields: Vec<FieldSpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldSpec {
    pub name: String,
    /// In `baton.toml` per language if wanted (`label = { en = "Email", de = "E-Mail" }`);
    /// a visitor is sent the one for their language.
    pub label: Localized,
    #[serde(rename = "type", default)]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    /// The choices of a `select`.
    #[serde(default)]
    pub options: Vec<String>,
    /// An optional shape check beyond `kind` (see `engine::actions`), e.g. `^[A-Z]{2}\d{6}$`.
    #[serde(default)]
    pub pattern: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    #[default]
    Text,
    Email,
    Number,
    Select,
}

/// One entry of a conversation's append-only log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// 1, 2, 3, ... per conversation, no gaps.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// The client message id that produced this event, when a client sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The conversation began (always seq 1).
    Started {
        site: SiteId,
        #[serde(default)]
        page: Option<Page>,
        /// The visitor's language (`en`, `de`, `fr`, `es`): what the engine says to them is
        /// in it. Absent in conversations started before languages: English.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lang: Option<String>,
    },
    VisitorMessage {
        text: String,
    },
    BotAnswer {
        /// The visitor message this answers.
        question_seq: u64,
        #[serde(flatten)]
        answer: Answer,
    },
    /// The thread now waits for a human. `operators_online` tells the visitor whether someone
    /// may answer soon or the reply will come later.
    HandoffRequested {
        handoff: Handoff,
        briefing: Briefing,
        operators_online: bool,
        /// A form to collect details (e.g. an email when nobody is online), if one applies.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        form: Option<ActionForm>,
        /// What the visitor is told, composed by the engine: "Connecting you with the team —
        /// they'll see this whole conversation", or, with nobody online, when to expect a reply.
        #[serde(default)]
        notice: String,
    },
    /// A form the visitor is asked to fill in (custom action).
    FormRequested {
        form: ActionForm,
    },
    FieldsCollected {
        action: String,
        values: BTreeMap<String, String>,
    },
    OperatorJoined {
        operator: OperatorRef,
    },
    OperatorLeft {
        operator: OperatorRef,
    },
    OperatorMessage {
        operator: OperatorRef,
        text: String,
    },
    /// Operators only: never sent to the visitor.
    PrivateNote {
        operator: OperatorRef,
        text: String,
    },
    TagAdded {
        tag: String,
        source: TagSource,
    },
    TagRemoved {
        tag: String,
        operator: OperatorRef,
    },
    PageChanged {
        page: Page,
    },
    /// An operator gave the thread back to the bot.
    HandedBack {
        operator: OperatorRef,
    },
    Resolved {
        #[serde(default)]
        operator: Option<OperatorRef>,
    },
    Reopened {
        /// `None` when a new visitor message reopened it.
        #[serde(default)]
        operator: Option<OperatorRef>,
    },
    /// "Was this helpful?" on a bot answer.
    Feedback {
        answer_seq: u64,
        helpful: bool,
    },
    /// The host page said who the visitor is (operators only).
    Identified {
        identity: VisitorIdentity,
    },
    /// The host page's context changed (operators only); it applies to the messages after it.
    ContextChanged {
        context: BTreeMap<String, String>,
    },
    /// A file (screenshot, PDF) from the visitor (`operator: None`) or an operator.
    AttachmentAdded {
        attachment: Attachment,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<OperatorRef>,
    },
    /// The visitor rated the help after a resolve: 1-5 (the widget's bad / okay / good are
    /// 1 / 3 / 5), with an optional comment. A later rating of the same resolve replaces it.
    Rated {
        score: u8,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        comment: String,
    },
    /// The conversation was given to an operator while it waits for a human: by the site's
    /// assignment rules (`by: None`) or by a colleague. The visitor sees who will answer; the
    /// operator acknowledges by taking it over (see `assign`).
    Assigned {
        operator: OperatorRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<OperatorRef>,
    },
    /// An assignment went back to the queue: unacknowledged in time (`by: None`) or taken off
    /// by hand. Operators only.
    Unassigned {
        operator: OperatorRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<OperatorRef>,
    },
}

impl EventKind {
    /// What a visitor may see of this kind of event — the one place that decides it (the
    /// worker's relay and replay, the HTTP views and the widget's decoder all ask here):
    /// `None` for operators only, the event as it is (borrowed) for most, or a redacted copy —
    /// the handoff's evidence and the operators' briefing stay with the team, and so does who
    /// assigned a conversation. A match without a wildcard: a new kind does not compile until
    /// it is decided here.
    pub fn visitor_kind(&self) -> Option<std::borrow::Cow<'_, EventKind>> {
        use std::borrow::Cow;
        match self {
            EventKind::PrivateNote { .. }
            | EventKind::TagAdded { .. }
            | EventKind::TagRemoved { .. }
            | EventKind::Identified { .. }
            | EventKind::ContextChanged { .. }
            | EventKind::Unassigned { .. } => None,
            EventKind::HandoffRequested { handoff, operators_online, form, notice, .. } => Some(Cow::Owned(EventKind::HandoffRequested {
                handoff: Handoff { reason: handoff.reason, evidence: Vec::new() },
                briefing: Briefing::default(),
                operators_online: *operators_online,
                form: form.clone(),
                notice: notice.clone(),
            })),
            EventKind::Assigned { operator, by: Some(_) } => Some(Cow::Owned(EventKind::Assigned { operator: operator.clone(), by: None })),
            EventKind::Assigned { by: None, .. }
            | EventKind::Started { .. }
            | EventKind::VisitorMessage { .. }
            | EventKind::BotAnswer { .. }
            | EventKind::FormRequested { .. }
            | EventKind::FieldsCollected { .. }
            | EventKind::OperatorJoined { .. }
            | EventKind::OperatorLeft { .. }
            | EventKind::OperatorMessage { .. }
            | EventKind::PageChanged { .. }
            | EventKind::HandedBack { .. }
            | EventKind::Resolved { .. }
            | EventKind::Reopened { .. }
            | EventKind::Feedback { .. }
            | EventKind::AttachmentAdded { .. }
            | EventKind::Rated { .. } => Some(Cow::Borrowed(self)),
        }
    }

    /// Whether a visitor may see this event at all (`visitor_kind` decides).
    pub fn visible_to_visitor(&self) -> bool {
        self.visitor_kind().is_some()
    }

    /// The stable name of the event's type, as in JSON.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::Started { .. } => "started",
            EventKind::VisitorMessage { .. } => "visitor_message",
            EventKind::BotAnswer { .. } => "bot_answer",
            EventKind::HandoffRequested { .. } => "handoff_requested",
            EventKind::FormRequested { .. } => "form_requested",
            EventKind::FieldsCollected { .. } => "fields_collected",
            EventKind::OperatorJoined { .. } => "operator_joined",
            EventKind::OperatorLeft { .. } => "operator_left",
            EventKind::OperatorMessage { .. } => "operator_message",
            EventKind::PrivateNote { .. } => "private_note",
            EventKind::TagAdded { .. } => "tag_added",
            EventKind::TagRemoved { .. } => "tag_removed",
            EventKind::PageChanged { .. } => "page_changed",
            EventKind::HandedBack { .. } => "handed_back",
            EventKind::Resolved { .. } => "resolved",
            EventKind::Reopened { .. } => "reopened",
            EventKind::Feedback { .. } => "feedback",
            EventKind::Identified { .. } => "identified",
            EventKind::ContextChanged { .. } => "context_changed",
            EventKind::AttachmentAdded { .. } => "attachment_added",
            EventKind::Rated { .. } => "rated",
            EventKind::Assigned { .. } => "assigned",
            EventKind::Unassigned { .. } => "unassigned",
        }
    }
}

impl Event {
    /// The event as a visitor may see it, borrowed when it is the same as the operators' (most
    /// events), so a relay can reuse the operators' bytes. `None`: operators only.
    /// `EventKind::visitor_kind` decides.
    pub fn visitor_view(&self) -> Option<std::borrow::Cow<'_, Event>> {
        use std::borrow::Cow;
        Some(match self.kind.visitor_kind()? {
            Cow::Borrowed(_) => Cow::Borrowed(self),
            Cow::Owned(kind) => Cow::Owned(Event { seq: self.seq, at: self.at, client_id: self.client_id.clone(), kind }),
        })
    }

    /// The event as a visitor may see it, or `None` if it is for operators only
    /// (`EventKind::visitor_kind` decides).
    pub fn for_visitor(&self) -> Option<Event> {
        self.visitor_view().map(std::borrow::Cow::into_owned)
    }
}

// ---------------------------------------------------------------------------------------------
// Conversation socket frames
// ---------------------------------------------------------------------------------------------

/// A frame a client (widget or inbox) sends on a conversation socket, or POSTs to
/// `/api/v1/sites/:site/conversations/:id/commands`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// First frame on a socket. Visitors prove themselves with their conversation token;
    /// operators are known by their session cookie. `after` = last seq the client has seen:
    /// the server replays every event after it, then streams live.
    Hello {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        after: u64,
    },
    /// A message: from a visitor, or an operator's reply to the visitor.
    Message {
        client_id: String,
        text: String,
    },
    /// The visitor pressed "Talk to a human".
    RequestHuman {
        client_id: String,
    },
    /// The visitor's page changed.
    Page {
        page: Page,
    },
    /// The visitor filled in a form.
    SubmitFields {
        client_id: String,
        action: String,
        values: BTreeMap<String, String>,
    },
    /// "Was this helpful?" on a bot answer.
    Feedback {
        client_id: String,
        answer_seq: u64,
        helpful: bool,
    },
    Typing {
        on: bool,
    },
    // --- operators only ---
    TakeOver {
        client_id: String,
    },
    Note {
        client_id: String,
        text: String,
    },
    AddTag {
        client_id: String,
        tag: String,
    },
    RemoveTag {
        client_id: String,
        tag: String,
    },
    HandBack {
        client_id: String,
    },
    /// The owning operator steps away: the thread waits for a human again (anyone may take it).
    Leave {
        client_id: String,
    },
    Resolve {
        client_id: String,
    },
    Reopen {
        client_id: String,
    },
    Ping,
    /// The host page said who the visitor is (`data-user-*`, `window.Baton.identify`). The
    /// `Conversation` object checks the signature and stores `identified`.
    Identify {
        client_id: String,
        identity: IdentityClaim,
    },
    /// The host page's context (`window.Baton.setContext`); an empty map clears it.
    Context {
        context: BTreeMap<String, String>,
    },
    /// The visitor rates the help of a resolved conversation: 1-5, and a comment.
    Rate {
        client_id: String,
        score: u8,
        #[serde(default)]
        comment: String,
    },
    // --- made by the worker itself, never read from a client ---
    /// An `identify` whose signature the `Conversation` object checked.
    #[serde(skip_deserializing)]
    Identified {
        client_id: String,
        identity: VisitorIdentity,
    },
    /// A file the worker stored (`POST …/attachments`).
    #[serde(skip_deserializing)]
    Attached {
        client_id: String,
        attachment: Attachment,
    },
}

impl ClientMsg {
    /// The client message id, for the frames that change the log.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            ClientMsg::Message { client_id, .. }
            | ClientMsg::RequestHuman { client_id }
            | ClientMsg::SubmitFields { client_id, .. }
            | ClientMsg::Feedback { client_id, .. }
            | ClientMsg::TakeOver { client_id }
            | ClientMsg::Note { client_id, .. }
            | ClientMsg::AddTag { client_id, .. }
            | ClientMsg::RemoveTag { client_id, .. }
            | ClientMsg::HandBack { client_id }
            | ClientMsg::Leave { client_id }
            | ClientMsg::Resolve { client_id }
            | ClientMsg::Reopen { client_id }
            | ClientMsg::Identify { client_id, .. }
            | ClientMsg::Rate { client_id, .. }
            | ClientMsg::Identified { client_id, .. }
            | ClientMsg::Attached { client_id, .. } => Some(client_id),
            ClientMsg::Hello { .. } | ClientMsg::Page { .. } | ClientMsg::Typing { .. } | ClientMsg::Ping | ClientMsg::Context { .. } => {
                None
            }
        }
    }

    /// Size and shape checks that need no state: lengths, empty text, id format.
    pub fn validate(&self) -> Result<(), ErrorBody> {
        if let Some(id) = self.client_id() {
            if id.is_empty() || id.len() > MAX_CLIENT_ID_BYTES {
                return Err(ErrorBody::field("client_id", format!("client_id must be 1-{MAX_CLIENT_ID_BYTES} bytes")));
            }
        }
        match self {
            ClientMsg::Message { text, .. } | ClientMsg::Note { text, .. } => validate_text("text", text),
            ClientMsg::AddTag { tag, .. } | ClientMsg::RemoveTag { tag, .. } => validate_tag(tag),
            ClientMsg::Page { page } => {
                if page.url.len() > 2048 || page.title.len() > 512 {
                    Err(ErrorBody::new(ErrorCode::TooLarge, "page url must be ≤ 2048 bytes and title ≤ 512"))
                } else {
                    Ok(())
                }
            }
            ClientMsg::SubmitFields { values, .. } => {
                if values.len() > 20 {
                    return Err(ErrorBody::new(ErrorCode::TooLarge, "at most 20 fields per form"));
                }
                for (name, value) in values {
                    if value.len() > MAX_FIELD_BYTES {
                        return Err(ErrorBody {
                            code: ErrorCode::TooLarge,
                            message: format!("{name} must be at most {MAX_FIELD_BYTES} bytes"),
                            field: Some(name.clone()),
                            retry_after: None,
                        });
                    }
                }
                Ok(())
            }
            // Identities and contexts are checked by the worker (`identity::verify`, `decide`),
            // not here: this runs in the widget too, whose bytes they would cost.
            ClientMsg::Rate { score, comment, .. } => crate::satisfaction::validate(*score, comment),
            _ => Ok(()),
        }
    }
}

fn validate_text(field: &str, text: &str) -> Result<(), ErrorBody> {
    if text.trim().is_empty() {
        return Err(ErrorBody::field(field, "message is empty: type something first"));
    }
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ErrorBody {
            code: ErrorCode::TooLarge,
            message: format!("message is {} bytes; the limit is {MAX_MESSAGE_BYTES}: split it up", text.len()),
            field: Some(field.to_string()),
            retry_after: None,
        });
    }
    Ok(())
}

/// Tags are short labels: letters, digits, `-`, `_`, spaces; lowercased by the engine.
pub fn validate_tag(tag: &str) -> Result<(), ErrorBody> {
    let t = tag.trim();
    if t.is_empty() || t.len() > MAX_TAG_BYTES {
        return Err(ErrorBody::field("tag", format!("a tag is 1-{MAX_TAG_BYTES} bytes")));
    }
    if !t.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == ' ') {
        return Err(ErrorBody::field("tag", "a tag may contain letters, digits, spaces, '-' and '_'"));
    }
    Ok(())
}

/// Who is typing, as the other side sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Typist {
    Bot,
    Visitor,
    Operator { name: String },
}

/// A frame the server sends on a conversation socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Answer to `hello`: who you are and where the thread stands. Replayed events follow.
    Welcome {
        conversation_id: ConversationId,
        role: Role,
        ownership: Ownership,
        last_seq: u64,
        operators_online: bool,
    },
    Event {
        event: Event,
    },
    /// The frame with this client id is stored as event `seq` (also sent for a resend).
    Ack {
        client_id: String,
        seq: u64,
    },
    Typing {
        who: Typist,
        on: bool,
    },
    Error {
        #[serde(flatten)]
        error: ErrorBody,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    Pong,
}

// ---------------------------------------------------------------------------------------------
// HTTP bodies
// ---------------------------------------------------------------------------------------------

/// `POST /api/v1/sites/:site/conversations`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateConversation {
    #[serde(default)]
    pub page: Option<Page>,
    #[serde(default)]
    pub lang: Option<String>,
}

/// Reply to `CreateConversation`. The token is shown once: the widget keeps it in localStorage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationCreated {
    pub conversation_id: ConversationId,
    pub visitor_token: String,
}

/// `POST /api/v1/sites/:site/ask`: a one-off question, no conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AskRequest {
    pub question: String,
}

/// Reply to `POST .../commands`: acks and the events the command produced (visitor view for
/// visitors).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    pub events: Vec<Event>,
}

/// Reply to `GET .../events?after=N`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    pub ownership: Option<Ownership>,
    pub events: Vec<Event>,
}

/// `POST /api/v1/sites/:site/login`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// `GET /api/v1/sites/:site/me`, and the reply to a login.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub site: SiteId,
    pub operator: OperatorRef,
}

/// What the widget needs to draw itself for a site: `GET /api/v1/sites/:site/widget`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WidgetSettings {
    pub site: SiteId,
    pub name: String,
    pub greeting: String,
    #[serde(default)]
    pub color: Option<String>,
    /// The panel's words in the visitor's language (`i18n::panel`, by field name), so the
    /// widget carries only English; empty for English.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub words: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// Inbox
// ---------------------------------------------------------------------------------------------

/// The last message of a conversation, as the inbox list shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    /// "visitor", "bot", "operator" or "system".
    pub from: String,
    pub text: String,
    pub at: i64,
}

/// One row of the operators' list: kept by the `Inbox` object, updated by each `Conversation`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub id: ConversationId,
    pub site: SiteId,
    pub ownership: Ownership,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub last_message: Option<Preview>,
    /// When the thread started waiting for a human (oldest first in the list).
    #[serde(default)]
    pub waiting_since: Option<i64>,
    /// Visitor messages no operator has answered yet.
    #[serde(default)]
    pub unread: u32,
    #[serde(default)]
    pub page: Option<Page>,
    #[serde(default)]
    pub handoff: Option<Handoff>,
    #[serde(default)]
    pub first_question: Option<String>,
    #[serde(default)]
    pub visitor_email: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_seq: u64,
    /// The operator who owns the thread (also in `ownership`, here for filters).
    #[serde(default)]
    pub owner: Option<OperatorRef>,
    /// Details the visitor filled in (custom actions, the email form).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The briefing of the current handoff, for the list's preview card.
    #[serde(default)]
    pub briefing: Option<Briefing>,
    /// Who the visitor is (the host page's identity; `verified` if signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<VisitorIdentity>,
    /// The visitor's latest rating of the help (1-5), after a resolve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    /// Files in the thread.
    #[serde(default)]
    pub attachments: u32,
    /// Figures for insights, folded from the log. Sent by the `Conversation` object to the
    /// `Inbox` object, which keeps them beside the row; never sent to inbox sockets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<crate::insights::ConversationStats>,
    /// The conversation's text for search, bounded (`inbox::push_search_text`). Like `stats`:
    /// kept by the `Inbox` object, never sent to inbox sockets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_text: Option<String>,
    /// Who the waiting conversation is assigned to, and operators it was taken from since the
    /// handoff (see `assign`).
    #[serde(default, skip_serializing_if = "crate::assign::Assignment::is_empty")]
    pub assignment: crate::assign::Assignment,
}

/// Reply to `GET /api/v1/sites/:site/inbox/rows` (see `inbox::RowQuery`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RowPage {
    pub rows: Vec<ConversationSummary>,
}

/// An operator's presence, derived from live inbox sockets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Presence {
    pub operator: OperatorRef,
    pub away: bool,
}

/// A frame an operator sends on the inbox socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboxClientMsg {
    SetAway { away: bool },
    Ping,
}

/// A frame the inbox socket sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboxServerMsg {
    /// Sent first: the open rows and the most recent others, who is online, the canned replies.
    Snapshot {
        me: OperatorRef,
        rows: Vec<ConversationSummary>,
        presence: Vec<Presence>,
        /// The site's canned replies (`baton.toml`), inserted with `/name` in the composer.
        #[serde(default)]
        canned_replies: Vec<crate::config::CannedReply>,
        /// The site's display name.
        #[serde(default)]
        site_name: String,
        /// The site's operators (for assigning by hand).
        #[serde(default)]
        team: Vec<OperatorRef>,
    },
    /// A row was added or changed.
    Row {
        row: ConversationSummary,
    },
    /// A conversation was deleted (data-protection request or retention).
    Removed {
        id: ConversationId,
    },
    Presence {
        presence: Vec<Presence>,
    },
    Error {
        #[serde(flatten)]
        error: ErrorBody,
    },
    Pong,
}

// ---------------------------------------------------------------------------------------------
// Outgoing webhooks (the rules are in `webhook`, behind the engine feature)
// ---------------------------------------------------------------------------------------------

/// What a webhook tells the team about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookEvent {
    /// A conversation was handed to a human (any trigger).
    Handoff,
    /// The visitor wrote again while the conversation waits for a human.
    VisitorMessage,
    /// An operator resolved the conversation.
    Resolved,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 3] = [WebhookEvent::Handoff, WebhookEvent::VisitorMessage, WebhookEvent::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::Handoff => "handoff",
            WebhookEvent::VisitorMessage => "visitor_message",
            WebhookEvent::Resolved => "resolved",
        }
    }
}

/// The body a webhook gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// Baton's own JSON payload, signed (`X-Baton-Signature`).
    #[default]
    Json,
    /// A Slack incoming-webhook message: `{"text": ...}` with a link to the inbox (also read
    /// by Mattermost, Rocket.Chat and Discord's `/slack` endpoints).
    Slack,
}

/// How one delivery attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// Failed; another attempt is scheduled (`next_attempt_at`).
    Retrying,
    /// Failed for good: out of attempts, or nothing to retry (a missing secret).
    Failed,
}

/// One delivery attempt, as operators see it in the site's delivery log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// Stable across retries (also sent as `X-Baton-Delivery`): receivers dedupe on it.
    pub delivery_id: String,
    /// The webhook's name from `baton.toml` (or "webhook N").
    pub webhook: String,
    pub event: WebhookEvent,
    pub conversation_id: ConversationId,
    /// 1 for the first try.
    pub attempt: u32,
    pub at: i64,
    pub outcome: DeliveryOutcome,
    /// The receiver's HTTP status, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it failed, in words that say what to fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<i64>,
}

/// A configured webhook, as the inbox shows it (never the secret URL itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookInfo {
    pub name: String,
    pub format: WebhookFormat,
    pub events: Vec<WebhookEvent>,
    /// "https://hooks.slack.com/…" (scheme and host only) or "secret ACME_SLACK_URL".
    pub target: String,
}

/// `GET /api/v1/sites/:site/webhooks`: the site's webhooks and its latest delivery attempts,
/// newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookLog {
    pub webhooks: Vec<WebhookInfo>,
    pub deliveries: Vec<DeliveryRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_messages_are_quoted_cut_and_have_no_control_characters() {
        assert_eq!(quoted("Demo"), "“Demo”");
        assert_eq!(quoted("a\nb\u{7}"), "“a?b?”");
        let long = "x".repeat(100);
        assert_eq!(quoted(&long).chars().count(), 60 + 3);
    }

    #[test]
    fn a_reason_key_is_its_json_name() {
        use HandoffReason::*;
        for r in [ExplicitRequest, Button, Keyword, LowConfidence, RepeatedLowConfidence, Frustration, Urgent] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.key(), "{r:?}");
        }
    }

    #[test]
    fn client_frames_read_as_documented() {
        let m: ClientMsg = serde_json::from_str(r#"{"type":"message","client_id":"c1","text":"hi"}"#).unwrap();
        assert_eq!(m, ClientMsg::Message { client_id: "c1".into(), text: "hi".into() });
        let h: ClientMsg = serde_json::from_str(r#"{"type":"hello","token":"t"}"#).unwrap();
        assert_eq!(h, ClientMsg::Hello { token: Some("t".into()), after: 0 });
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"launch_rockets"}"#).is_err());
        let i: ClientMsg =
            serde_json::from_str(r#"{"type":"identify","client_id":"i","identity":{"user_id":"42","signature":null}}"#).unwrap();
        let ClientMsg::Identify { identity, .. } = i else { panic!() };
        assert_eq!((identity.fields.len(), identity.signature), (1, None));
        let bad = r#"{"type":"identify","client_id":"i","identity":{"user_id":42}}"#;
        assert!(serde_json::from_str::<ClientMsg>(bad).is_err(), "values are strings");
    }

    #[test]
    fn frames_the_worker_makes_cannot_come_from_a_client() {
        // A checked identity and a stored file are made by the worker; a client sending them
        // gets `unknown_command`, never a forged identity or a file pointing at nothing.
        let identified = r#"{"type":"identified","client_id":"x","identity":{"user_id":"ceo","verified":true}}"#;
        let attached = r#"{"type":"attached","client_id":"x","attachment":{"id":"00000000000000000000000000000000","name":"a.png","content_type":"text/html","size":1}}"#;
        for f in [identified, attached] {
            let e = serde_json::from_str::<ClientMsg>(f).unwrap_err().to_string();
            assert!(e.contains("unknown variant"), "{e}");
        }
    }

    #[test]
    fn errors_have_the_documented_shape() {
        let e = ApiError::from(ErrorBody::new(ErrorCode::UnknownSite, "no such site"));
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["error"]["code"], "unknown_site");
        assert_eq!(v["error"]["message"], "no such site");
        assert_eq!(ErrorCode::RateLimited.http_status(), 429);
        assert_eq!(ErrorCode::Unauthorized.close_code(), 4401);
    }

    #[test]
    fn ids_are_validated() {
        assert!(SiteId::parse("demo").is_ok());
        assert!(SiteId::parse("Demo").is_err());
        assert!(SiteId::parse("").is_err());
        let id = ConversationId::from_random([0xab; 16]);
        assert_eq!(id.as_str().len(), 32);
        assert!(ConversationId::parse(id.as_str()).is_ok());
        assert!(ConversationId::parse("../etc/passwd").is_err());
        assert!(serde_json::from_str::<ConversationId>("\"xyz\"").is_err());
    }

    #[test]
    fn private_notes_and_briefings_never_reach_visitors() {
        let op = OperatorRef { id: "a@b".into(), name: "Ann".into() };
        let note = Event { seq: 3, at: 0, client_id: None, kind: EventKind::PrivateNote { operator: op, text: "vip".into() } };
        assert!(note.for_visitor().is_none());
        let handoff = Event {
            seq: 4,
            at: 0,
            client_id: None,
            kind: EventKind::HandoffRequested {
                handoff: Handoff { reason: HandoffReason::Keyword, evidence: vec!["refund".into()] },
                briefing: Briefing { summary: "secret".into(), ..Default::default() },
                operators_online: true,
                form: None,
                notice: "Connecting you with the team".into(),
            },
        };
        let seen = serde_json::to_string(&handoff.for_visitor().unwrap()).unwrap();
        assert!(!seen.contains("secret") && !seen.contains("refund"));
        assert_eq!(handoff.visitor_view().unwrap().into_owned(), handoff.for_visitor().unwrap());
        assert!(note.visitor_view().is_none());
        let msg = Event { seq: 5, at: 0, client_id: None, kind: EventKind::VisitorMessage { text: "hi".into() } };
        assert!(matches!(msg.visitor_view(), Some(std::borrow::Cow::Borrowed(_))));
    }

    #[test]
    fn visibility_is_decided_once_and_every_view_agrees() {
        use std::borrow::Cow;
        let ann = OperatorRef { id: "a@b".into(), name: "Ann".into() };
        let ev = |kind| Event { seq: 9, at: 1, client_id: Some("c".into()), kind };
        let assigned = ev(EventKind::Assigned { operator: ann.clone(), by: Some(ann.clone()) });
        let seen = assigned.for_visitor().unwrap();
        assert_eq!(seen.kind, EventKind::Assigned { operator: ann.clone(), by: None });
        assert_eq!((seen.seq, seen.at, seen.client_id.as_deref()), (9, 1, Some("c")));
        let handoff = ev(EventKind::HandoffRequested {
            handoff: Handoff { reason: HandoffReason::Keyword, evidence: vec!["refund".into()] },
            briefing: Briefing { summary: "secret".into(), ..Default::default() },
            operators_online: false,
            form: None,
            notice: "Soon".into(),
        });
        let hidden = [
            ev(EventKind::Unassigned { operator: ann.clone(), by: None }),
            ev(EventKind::TagRemoved { tag: "x".into(), operator: ann.clone() }),
            ev(EventKind::ContextChanged { context: BTreeMap::new() }),
        ];
        for e in &hidden {
            assert!(!e.kind.visible_to_visitor() && e.visitor_view().is_none() && e.for_visitor().is_none(), "{e:?}");
        }
        for e in [&assigned, &handoff] {
            assert!(e.kind.visible_to_visitor());
            assert!(matches!(e.visitor_view(), Some(Cow::Owned(_))));
            assert_eq!(e.visitor_view().unwrap().into_owned(), e.for_visitor().unwrap());
            // A visitor's view is final: viewing it again changes nothing (the widget's decoder
            // asks the same rule of what the worker already reduced).
            let seen = e.for_visitor().unwrap();
            assert_eq!(seen.for_visitor().as_ref(), Some(&seen));
        }
    }

    #[test]
    fn message_limits() {
        let long = "x".repeat(MAX_MESSAGE_BYTES + 1);
        let e = ClientMsg::Message { client_id: "1".into(), text: long }.validate().unwrap_err();
        assert_eq!(e.code, ErrorCode::TooLarge);
        let e = ClientMsg::Message { client_id: "1".into(), text: "  ".into() }.validate().unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidField);
    }
}
