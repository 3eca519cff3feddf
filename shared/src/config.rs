//! A site's configuration: one TOML file in the docs repo (`baton.toml`), read and checked by
//! `index-builder`, shipped inside the index, read by the worker.
//!
//! The structs are plain (no flattening, no skipped fields) because they travel in the postcard
//! index as well as in TOML. Every key has a default, so a config may be as short as
//! `site = "docs"`.

use crate::i18n::{self, Localized};
use crate::protocol::{ErrorBody, FieldKind, FieldSpec, OperatorRef, SiteId, WebhookEvent, WebhookFormat};
use crate::ratelimit::Rule;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The engine's default confidence threshold: below it, the bot says it does not know and
/// offers a human. Calibrated on the answer-quality bench (see `engine::confidence`).
pub const DEFAULT_CONFIDENCE_THRESHOLD: f32 = 0.5;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteConfig {
    /// The id used in the script tag's `data-site`.
    pub site: SiteId,
    /// Shown in the widget header and the inbox.
    pub name: String,
    /// Public URL of the docs; citations link below it.
    pub base_url: String,
    /// Pages allowed to embed the widget: exact origins (`https://docs.example.com`) or
    /// wildcards (`https://*.example.com`).
    pub allowed_origins: Vec<String>,
    /// First message in the widget, per language if wanted (`greeting.de = "Hallo!"`). A
    /// visitor whose language it is not given in gets the widget's own greeting.
    pub greeting: Localized,
    /// Widget accent colour (`#rrggbb`), overridable by `data-color`.
    pub color: Option<String>,
    /// Answers below this confidence hand off (see `DEFAULT_CONFIDENCE_THRESHOLD`).
    pub confidence_threshold: f32,
    pub handoff: HandoffConfig,
    /// Automatic tags for visitor messages.
    pub tags: Vec<TagRule>,
    /// Forms to collect details before a human arrives.
    pub actions: Vec<ActionConfig>,
    /// Operator shortcuts, inserted with `/name` in the inbox.
    pub canned_replies: Vec<CannedReply>,
    /// Conversations are erased this many days after their last event (0 = keep).
    pub retention_days: u32,
    /// Abuse limits (`[limits]`): visitor messages, new conversations, `/ask`, LLM calls, sign-in.
    pub limits: LimitsConfig,
    /// How to turn a doc file path into its public URL.
    pub slugs: SlugConfig,
    /// Display names for operators, by sign-in email (`"ana@example.com" = "Ana from Support"`);
    /// the name the visitor sees in "<name> joined". Unlisted operators keep their account name.
    pub operator_names: BTreeMap<String, String>,
    /// The inbox's public address, for links in notifications
    /// (`"https://support.example.com/inbox"`). Empty: the worker's own `/inbox`, at the address
    /// the visitor's widget reached it by.
    pub inbox_url: String,
    /// Outgoing webhooks (`[[webhooks]]`): whom to tell about handoffs, visitors writing while
    /// they wait, and resolved conversations.
    pub webhooks: Vec<WebhookConfig>,
    /// Verified visitor identity (`[identity]`): which secret signs it, what unsigned claims get.
    pub identity: IdentityConfig,
    /// Files in conversations (`[attachments]`): on or off, size limits.
    pub attachments: AttachmentsConfig,
    /// Who gets the handoffs (`[assignment]`): automatic round robin, capacity per operator,
    /// how long an assignment waits to be acknowledged.
    pub assignment: crate::assign::AssignmentConfig,
    /// Replies by email to visitors who left, and handoff emails to operators (`[email]`).
    pub email: crate::email::EmailConfig,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            site: SiteId::parse("demo").expect("valid literal"),
            name: "Docs".into(),
            base_url: "/docs".into(),
            allowed_origins: Vec::new(),
            greeting: "Hi! Ask me anything about the docs — or talk to a person.".into(),
            color: None,
            confidence_threshold: DEFAULT_CONFIDENCE_THRESHOLD,
            handoff: HandoffConfig::default(),
            tags: default_tag_rules(),
            actions: Vec::new(),
            canned_replies: Vec::new(),
            retention_days: 90,
            limits: LimitsConfig::default(),
            slugs: SlugConfig::default(),
            operator_names: BTreeMap::new(),
            inbox_url: String::new(),
            webhooks: Vec::new(),
            identity: IdentityConfig::default(),
            attachments: AttachmentsConfig::default(),
            assignment: Default::default(),
            email: Default::default(),
        }
    }
}

/// The secret that signs visitor identities unless `[identity] secret` names another.
pub const DEFAULT_IDENTITY_SECRET: &str = "BATON_IDENTITY_SECRET";

/// `[identity]`: the host page may say who the visitor is, signed by the site's backend
/// (`identity.rs`, docs/identity.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// The name of the Worker secret holding the HMAC key (`wrangler secret put NAME`).
    pub secret: String,
    /// Claims without a signature: "unverified" (kept, shown as such) or "refuse".
    pub unsigned: crate::identity::UnsignedIdentity,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig { secret: DEFAULT_IDENTITY_SECRET.into(), unsigned: Default::default() }
    }
}

/// `[attachments]`: images (PNG, JPEG, WebP, GIF) and PDFs from visitors and operators, stored
/// in R2 (`attachments.rs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttachmentsConfig {
    pub enabled: bool,
    /// Largest file, in MB (1-50).
    pub max_file_mb: u32,
    /// All files of one conversation together, in MB (at least `max_file_mb`, at most 1000).
    pub max_conversation_mb: u32,
}

impl Default for AttachmentsConfig {
    fn default() -> Self {
        AttachmentsConfig { enabled: true, max_file_mb: 10, max_conversation_mb: 50 }
    }
}

impl AttachmentsConfig {
    pub fn limits(&self) -> crate::attachments::Limits {
        crate::attachments::Limits {
            enabled: self.enabled,
            max_file_bytes: self.max_file_mb as u64 * 1_048_576,
            max_conversation_bytes: self.max_conversation_mb as u64 * 1_048_576,
        }
    }
}

fn words(ws: &[&str]) -> Vec<String> {
    ws.iter().map(|w| w.to_string()).collect()
}

/// Tags most support teams sort by. Keywords match whole words (and their plural), multi-word
/// keywords as phrases; a site's `[[tags]]` replace these.
fn default_tag_rules() -> Vec<TagRule> {
    let rule = |tag: &str, keywords: &[&str]| TagRule { tag: tag.into(), keywords: words(keywords) };
    vec![
        rule(
            "billing",
            &["invoice", "billing", "billed", "charge", "charged", "payment", "refund", "price", "pricing", "subscription", "receipt"],
        ),
        rule("urgent", &["urgent", "asap", "emergency", "outage", "is * down", "are * down", "went down"]),
        rule(
            "cancellation-risk",
            &["cancel", "cancellation", "unsubscribe", "switch to", "switching to", "leaving", "close my account", "delete my account"],
        ),
        rule("technical", &["error", "bug", "crash", "crashes", "exception", "stack trace", "broken", "not working", "timeout", "500"]),
    ]
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandoffConfig {
    /// Words that hand off at once ("refund", "outage", ...). Matched as whole words (and their
    /// plural), multi-word keywords as phrases where `*` stands for up to three words ("is *
    /// down" matches "is the inbox down"); "not urgent" does not count.
    pub keywords: Vec<String>,
    /// More ways of asking for a person, on top of the built-in ones (matched as phrases).
    pub explicit_phrases: Vec<String>,
    /// Hand off on combined frustration signals.
    pub frustration: bool,
    /// Hand off after this many low-confidence answers in a row (0 = never for repeats).
    pub low_confidence_repeats: u32,
    /// Hand off on the first low-confidence answer.
    pub on_low_confidence: bool,
    /// When nobody is online: when the visitor may expect a reply, completing "We'll reply …",
    /// per language if wanted (`offline_reply_time.de = "innerhalb von vier Stunden"`). In a
    /// language it is not given in, the built-in "within one business day" in that language.
    pub offline_reply_time: Localized,
    /// The site's own labelled messages for the handoff classifier: a JSON Lines file
    /// (`{"text": "…", "label": "explicit_request|urgent|frustration|none"}` per line), relative
    /// to `baton.toml`. `index-builder build` embeds them into the index; a message very close
    /// to one of them takes its label. Empty: none.
    pub examples: String,
}

/// Trigger keywords for topics a person should handle. (Urgency — "urgent", "asap", an
/// outage, "is * down", a data breach, or an incident by meaning — is handed off as urgent
/// whatever the site's keywords: `handoff::URGENCY_WORDS`, `handoff::INCIDENT_PHRASES`.)
pub const DEFAULT_HANDOFF_KEYWORDS: &[&str] = &["bug", "refund", "chargeback", "lawyer", "legal action"];

impl Default for HandoffConfig {
    fn default() -> Self {
        HandoffConfig {
            keywords: words(DEFAULT_HANDOFF_KEYWORDS),
            explicit_phrases: Vec::new(),
            frustration: true,
            low_confidence_repeats: 2,
            on_low_confidence: false,
            offline_reply_time: i18n::default_reply_time(),
            examples: String::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRule {
    pub tag: String,
    pub keywords: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    pub id: String,
    /// The line above the form, per language if wanted (`title = { en = "…", de = "…" }`).
    pub title: Localized,
    /// Show the form when a visitor message contains one of these words...
    #[serde(default)]
    pub keywords: Vec<String>,
    /// ...or when a handoff happens for one of these reasons ("keyword", "button", ...), or
    /// "no_operator_online". An action with id "email" replaces the built-in form that asks
    /// for an email address when nobody is online.
    #[serde(default)]
    pub on_handoff: Vec<String>,
    pub fields: Vec<FieldSpec>,
}

/// What `on_handoff` may name: every `HandoffReason` (snake_case) and the no-one-online case.
pub const HANDOFF_TRIGGERS: &[&str] =
    &["explicit_request", "button", "keyword", "low_confidence", "repeated_low_confidence", "frustration", "urgent", "no_operator_online"];

/// The id of the form that asks for an email address when nobody is online.
pub const EMAIL_ACTION: &str = "email";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedReply {
    pub name: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlugConfig {
    /// Drop a trailing `index` / `README` segment (`guide/index.md` → `guide`).
    pub strip_index: bool,
    /// Keep the file extension in URLs (`.html` sites).
    pub keep_extension: bool,
    /// Appended to every page URL (e.g. "/" or ".html").
    pub suffix: String,
}

impl Default for SlugConfig {
    fn default() -> Self {
        SlugConfig { strip_index: true, keep_extension: false, suffix: String::new() }
    }
}

/// Abuse limits (`[limits]` in `baton.toml`): token buckets that allow a burst after a quiet
/// spell and a sustained rate. The defaults are generous for people typing and browsing (and
/// for many visitors behind one address), tight for scripts and password guessers. Over a limit
/// the request gets `429 rate_limited` with `Retry-After` (a socket frame: an error with
/// `retry_after`), and the widget sends the message again when allowed. docs/security.md says
/// what each one protects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Frames that write to a conversation's log (messages, "talk to a human", forms, feedback,
    /// page changes) from its visitor.
    pub visitor_messages: RateConfig,
    /// The same frames from one IP address, across every conversation of the site.
    pub visitor_messages_per_ip: RateConfig,
    /// New conversations from one IP address.
    pub conversations_per_ip: RateConfig,
    /// `POST …/ask` (one question, one answer, no conversation) from one IP address.
    pub ask_per_ip: RateConfig,
    /// `POST …/ask` from everyone together: what the site's answers may cost in CPU.
    pub ask_per_site: RateConfig,
    /// Calls to the optional LLM (`BATON_LLM_*`), from `/ask` and conversations together: a
    /// budget on what the site may spend upstream. Over it, answers are extractive (never
    /// refused).
    pub llm_calls_per_site: RateConfig,
    /// Operator sign-in attempts from one IP address (browsers without a device cookie).
    pub sign_in_per_ip: RateConfig,
    /// Sign-in attempts for one account (site + email, known or not), from anywhere — except
    /// browsers holding that account's device cookie (set at a successful sign-in), which have
    /// their own bucket: guessers cannot lock a signed-in-before operator out.
    pub sign_in_per_account: RateConfig,
    /// Sign-in attempts from one browser with a device cookie for the account.
    pub sign_in_per_device: RateConfig,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            visitor_messages: RateConfig::per_minute(30, 20),
            visitor_messages_per_ip: RateConfig::per_minute(120, 60),
            conversations_per_ip: RateConfig::per_minute(20, 4),
            ask_per_ip: RateConfig::per_minute(60, 30),
            ask_per_site: RateConfig::per_minute(600, 600),
            llm_calls_per_site: RateConfig::per_minute(60, 30),
            sign_in_per_ip: RateConfig::per_minute(10, 1),
            sign_in_per_account: RateConfig::per_hour(5, 5),
            sign_in_per_device: RateConfig::per_hour(10, 10),
        }
    }
}

impl LimitsConfig {
    /// Every limit with its key in `baton.toml` (for validation and documentation).
    pub fn all(&self) -> [(&'static str, RateConfig); 9] {
        [
            ("visitor_messages", self.visitor_messages),
            ("visitor_messages_per_ip", self.visitor_messages_per_ip),
            ("conversations_per_ip", self.conversations_per_ip),
            ("ask_per_ip", self.ask_per_ip),
            ("ask_per_site", self.ask_per_site),
            ("llm_calls_per_site", self.llm_calls_per_site),
            ("sign_in_per_ip", self.sign_in_per_ip),
            ("sign_in_per_account", self.sign_in_per_account),
            ("sign_in_per_device", self.sign_in_per_device),
        ]
    }
}

/// One limit: `burst` at once, then `per_minute` (e.g. `{ burst = 30, per_minute = 20 }`) or,
/// for slow ones such as password guesses, `per_hour` (`{ burst = 5, per_hour = 5 }`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    pub burst: u32,
    #[serde(default)]
    pub per_minute: u32,
    #[serde(default)]
    pub per_hour: u32,
}

impl RateConfig {
    pub const fn per_minute(burst: u32, per_minute: u32) -> RateConfig {
        RateConfig { burst, per_minute, per_hour: 0 }
    }

    pub const fn per_hour(burst: u32, per_hour: u32) -> RateConfig {
        RateConfig { burst, per_minute: 0, per_hour }
    }

    /// The token-bucket rule: `burst` tokens, one more every `60 s / per_minute` (or
    /// `3600 s / per_hour`).
    pub fn rule(&self) -> Rule {
        let refill_ms = if self.per_minute == 0 && self.per_hour > 0 {
            3_600_000 / self.per_hour.clamp(1, 3_600_000)
        } else {
            60_000 / self.per_minute.clamp(1, 60_000)
        };
        Rule { burst: self.burst.max(1), refill_ms }
    }

    fn validate(&self, key: &str) -> Result<(), ErrorBody> {
        if !(1..=1_000_000).contains(&self.burst) {
            return Err(ErrorBody::field(&format!("{key}.burst"), "burst must be 1-1000000: how many at once after a quiet spell"));
        }
        match (self.per_minute, self.per_hour) {
            (0, 0) => Err(ErrorBody::field(
                &format!("{key}.per_minute"),
                "per_minute (1-60000) or per_hour (1-3600000) must be set: the sustained rate",
            )),
            (m, 0) if m > 60_000 => Err(ErrorBody::field(&format!("{key}.per_minute"), "per_minute must be 1-60000: the sustained rate")),
            (0, h) if h > 3_600_000 => Err(ErrorBody::field(&format!("{key}.per_hour"), "per_hour must be 1-3600000: the sustained rate")),
            (m, h) if m > 0 && h > 0 => Err(ErrorBody::field(&format!("{key}.per_hour"), "set per_minute or per_hour, not both")),
            _ => Ok(()),
        }
    }
}

/// The secret that signs `json` webhooks unless a webhook names another.
pub const DEFAULT_WEBHOOK_SECRET: &str = "BATON_WEBHOOK_SECRET";
/// Webhooks per site: each event is delivered to each of them, from the conversation's object.
pub const MAX_WEBHOOKS: usize = 10;

/// One outgoing webhook (`[[webhooks]]` in `baton.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Shown in the inbox's delivery log (default "webhook N").
    pub name: String,
    /// Where to POST. Either this...
    pub url: String,
    /// ...or the name of a Worker secret holding the URL (`wrangler secret put NAME`): for
    /// URLs that are themselves credentials, like Slack's, which must not be committed.
    pub url_secret: String,
    pub format: WebhookFormat,
    /// Which events (default: all three).
    pub events: Vec<WebhookEvent>,
    /// The name of the Worker secret whose value signs the body (`X-Baton-Signature`).
    /// Required for `format = "json"`; Slack messages are signed too when it is set.
    pub secret: String,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            name: String::new(),
            url: String::new(),
            url_secret: String::new(),
            format: WebhookFormat::Json,
            events: WebhookEvent::ALL.to_vec(),
            secret: DEFAULT_WEBHOOK_SECRET.into(),
        }
    }
}

impl WebhookConfig {
    /// The name operators see: the configured one, or "webhook N" (1-based).
    pub fn display_name(&self, index: usize) -> String {
        if self.name.trim().is_empty() {
            format!("webhook {}", index + 1)
        } else {
            self.name.trim().to_string()
        }
    }

    /// Where it goes, without credentials: scheme and host of a literal URL (Slack puts its
    /// token in the path), or the name of the secret holding the URL.
    pub fn target(&self) -> String {
        if !self.url_secret.is_empty() {
            return format!("secret {}", self.url_secret);
        }
        match self.url.split_once("://") {
            Some((scheme, rest)) => {
                let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
                let host = authority.rsplit('@').next().unwrap_or(authority);
                if authority.len() < rest.len() {
                    format!("{scheme}://{host}/…")
                } else {
                    format!("{scheme}://{host}")
                }
            }
            None => String::new(),
        }
    }
}

/// Secret names as Wrangler accepts them and shells can export: `A-Z`, `0-9`, `_`.
pub fn is_secret_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// An absolute http(s) URL without spaces (what `fetch` will be given).
fn is_http_url(s: &str) -> bool {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/'))
        && s.len() <= 2048
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl SiteConfig {
    /// Checks what serde cannot: ranges, formats, duplicates, patterns. The error names the key
    /// (`actions[0].fields[1].pattern`) and says what to write instead.
    pub fn validate(&self) -> Result<(), ErrorBody> {
        if !(0.0..=1.0).contains(&self.confidence_threshold) {
            return Err(ErrorBody::field("confidence_threshold", "confidence_threshold must be between 0 and 1"));
        }
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            if !origin_pattern_is_valid(origin) {
                return Err(ErrorBody::field(
                    &format!("allowed_origins[{i}]"),
                    format!(
                        "{origin:?} is not an origin: write scheme://host[:port], e.g. https://docs.example.com or https://*.example.com"
                    ),
                ));
            }
        }
        self.greeting.validate("greeting")?;
        if let Some(c) = &self.color {
            if parse_hex_color(c).is_none() {
                return Err(ErrorBody::field("color", format!("{c:?} is not a colour: write #rrggbb")));
            }
        }
        self.validate_handoff()?;
        self.validate_tags()?;
        self.validate_actions()?;
        self.validate_webhooks()?;
        if !is_secret_name(&self.identity.secret) {
            return Err(ErrorBody::field(
                "identity.secret",
                format!("{:?} is not a secret name: use A-Z, 0-9 and _, e.g. {DEFAULT_IDENTITY_SECRET}", self.identity.secret),
            ));
        }
        let a = &self.attachments;
        if !(1..=50).contains(&a.max_file_mb) {
            return Err(ErrorBody::field("attachments.max_file_mb", "max_file_mb must be 1-50 (MB per file)"));
        }
        if a.max_conversation_mb < a.max_file_mb || a.max_conversation_mb > 1000 {
            return Err(ErrorBody::field(
                "attachments.max_conversation_mb",
                "max_conversation_mb must be at least max_file_mb and at most 1000 (MB per conversation)",
            ));
        }
        for (key, rate) in self.limits.all() {
            rate.validate(&format!("limits.{key}"))?;
        }
        self.assignment.validate()?;
        self.email.validate()?;
        if self.retention_days > 36_500 {
            return Err(ErrorBody::field("retention_days", "retention_days must be 0 (keep) to 36500 (100 years)"));
        }
        let mut names = BTreeSet::new();
        for (i, c) in self.canned_replies.iter().enumerate() {
            if c.name.trim().is_empty() || c.text.trim().is_empty() {
                return Err(ErrorBody::field(&format!("canned_replies[{i}]"), "a canned reply needs a name and a text"));
            }
            if !names.insert(c.name.as_str()) {
                return Err(ErrorBody::field(&format!("canned_replies[{i}].name"), format!("duplicate canned reply {:?}", c.name)));
            }
        }
        for (email, name) in &self.operator_names {
            if !email.contains('@') {
                return Err(ErrorBody::field(
                    &format!("operator_names.{email}"),
                    "operator_names are keyed by sign-in email: write \"ana@example.com\" = \"Ana\"",
                ));
            }
            let n = name.trim().chars().count();
            if n == 0 || n > 60 {
                return Err(ErrorBody::field(&format!("operator_names.{email}"), "a display name is 1-60 characters"));
            }
        }
        Ok(())
    }

    fn validate_handoff(&self) -> Result<(), ErrorBody> {
        let h = &self.handoff;
        phrases_ok("handoff.keywords", &h.keywords)?;
        phrases_ok("handoff.explicit_phrases", &h.explicit_phrases)?;
        if h.low_confidence_repeats > 20 {
            return Err(ErrorBody::field("handoff.low_confidence_repeats", "low_confidence_repeats must be 0-20 (0 turns it off)"));
        }
        h.offline_reply_time.validate("handoff.offline_reply_time")?;
        let t = &h.offline_reply_time;
        if t.is_blank() || t.text.trim().is_empty() || t.text.len() > 200 || t.by_lang.values().any(|v| v.len() > 200) {
            return Err(ErrorBody::field(
                "handoff.offline_reply_time",
                "offline_reply_time completes \"We'll reply …\": write 1-200 characters, e.g. \"within one business day\"",
            ));
        }
        Ok(())
    }

    fn validate_tags(&self) -> Result<(), ErrorBody> {
        let mut seen = BTreeSet::new();
        for (i, t) in self.tags.iter().enumerate() {
            crate::protocol::validate_tag(&t.tag).map_err(|e| ErrorBody::field(&format!("tags[{i}].tag"), e.message))?;
            if !seen.insert(t.tag.trim().to_lowercase()) {
                return Err(ErrorBody::field(&format!("tags[{i}].tag"), format!("duplicate tag rule {:?}: merge the keywords", t.tag)));
            }
            if t.keywords.is_empty() {
                return Err(ErrorBody::field(&format!("tags[{i}].keywords"), "a tag rule needs at least one keyword"));
            }
            phrases_ok(&format!("tags[{i}].keywords"), &t.keywords)?;
        }
        Ok(())
    }

    fn validate_actions(&self) -> Result<(), ErrorBody> {
        let mut ids = BTreeSet::new();
        for (i, a) in self.actions.iter().enumerate() {
            let key = |k: &str| format!("actions[{i}].{k}");
            if !is_identifier(&a.id) {
                return Err(ErrorBody::field(&key("id"), format!("{:?} is not an action id: use 1-40 of a-z, 0-9, '_' or '-'", a.id)));
            }
            if !ids.insert(a.id.as_str()) {
                return Err(ErrorBody::field(&key("id"), format!("duplicate action id {:?}", a.id)));
            }
            a.title.validate(&key("title"))?;
            if a.title.text.trim().is_empty() {
                return Err(ErrorBody::field(&key("title"), "an action needs a title: the line above its form"));
            }
            phrases_ok(&key("keywords"), &a.keywords)?;
            for (j, r) in a.on_handoff.iter().enumerate() {
                if !HANDOFF_TRIGGERS.contains(&r.as_str()) {
                    return Err(ErrorBody::field(
                        &key(&format!("on_handoff[{j}]")),
                        format!("{r:?} is not a handoff trigger: use one of {}", HANDOFF_TRIGGERS.join(", ")),
                    ));
                }
            }
            if a.keywords.is_empty() && a.on_handoff.is_empty() && a.id != EMAIL_ACTION {
                return Err(ErrorBody::field(&key("keywords"), "this action is never shown: give it keywords or on_handoff triggers"));
            }
            if a.fields.is_empty() {
                return Err(ErrorBody::field(&key("fields"), "an action needs at least one field"));
            }
            let mut names = BTreeSet::new();
            for (j, f) in a.fields.iter().enumerate() {
                let fkey = |k: &str| key(&format!("fields[{j}].{k}"));
                if !is_identifier(&f.name) {
                    return Err(ErrorBody::field(
                        &fkey("name"),
                        format!("{} is not a field name: use 1-40 of a-z, 0-9, '_' or '-'", crate::protocol::quoted(&f.name)),
                    ));
                }
                if !names.insert(f.name.as_str()) {
                    return Err(ErrorBody::field(&fkey("name"), format!("duplicate field {:?} in this action", f.name)));
                }
                f.label.validate(&fkey("label"))?;
                if f.label.text.trim().is_empty() {
                    return Err(ErrorBody::field(&fkey("label"), "a field needs a label: what the visitor reads above it"));
                }
                match f.kind {
                    FieldKind::Select if f.options.is_empty() || f.options.iter().any(|o| o.trim().is_empty()) => {
                        return Err(ErrorBody::field(&fkey("options"), "a select field needs options = [\"…\", …], none empty"));
                    }
                    FieldKind::Select => {}
                    _ if !f.options.is_empty() => {
                        return Err(ErrorBody::field(&fkey("options"), "options are only for type = \"select\""));
                    }
                    _ => {}
                }
                if let Some(p) = &f.pattern {
                    if f.kind == FieldKind::Select {
                        return Err(ErrorBody::field(&fkey("pattern"), "a select field takes no pattern: its options are the check"));
                    }
                    check_pattern(p).map_err(|why| ErrorBody::field(&fkey("pattern"), why))?;
                }
            }
        }
        Ok(())
    }

    fn validate_webhooks(&self) -> Result<(), ErrorBody> {
        if !self.inbox_url.is_empty() && !is_http_url(&self.inbox_url) {
            return Err(ErrorBody::field(
                "inbox_url",
                format!("{:?} is not a URL: write the inbox's address, e.g. https://support.example.com/inbox", self.inbox_url),
            ));
        }
        if self.webhooks.len() > MAX_WEBHOOKS {
            return Err(ErrorBody::field("webhooks", format!("at most {MAX_WEBHOOKS} webhooks per site")));
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            let key = |k: &str| format!("webhooks[{i}].{k}");
            match (w.url.is_empty(), w.url_secret.is_empty()) {
                (true, true) => {
                    return Err(ErrorBody::field(
                        &key("url"),
                        "a webhook needs url = \"https://…\" or url_secret = \"SECRET_NAME\" (a Worker secret holding the URL)",
                    ))
                }
                (false, false) => {
                    return Err(ErrorBody::field(&key("url_secret"), "give either url or url_secret, not both"));
                }
                (false, true) if !is_http_url(&w.url) => {
                    return Err(ErrorBody::field(&key("url"), format!("{:?} is not an http(s) URL", w.url)));
                }
                (true, false) if !is_secret_name(&w.url_secret) => {
                    return Err(ErrorBody::field(
                        &key("url_secret"),
                        format!("{:?} is not a secret name: use A-Z, 0-9 and _, e.g. SLACK_WEBHOOK_URL", w.url_secret),
                    ));
                }
                _ => {}
            }
            if w.name.trim().chars().count() > 60 {
                return Err(ErrorBody::field(&key("name"), "a webhook name is at most 60 characters"));
            }
            if w.events.is_empty() {
                return Err(ErrorBody::field(
                    &key("events"),
                    "this webhook never fires: list events from \"handoff\", \"visitor_message\", \"resolved\" (or leave events out for all)",
                ));
            }
            let mut seen = BTreeSet::new();
            for (j, e) in w.events.iter().enumerate() {
                if !seen.insert(*e) {
                    return Err(ErrorBody::field(&key(&format!("events[{j}]")), format!("{:?} is listed twice", e.as_str())));
                }
            }
            if !w.secret.is_empty() && !is_secret_name(&w.secret) {
                return Err(ErrorBody::field(
                    &key("secret"),
                    format!("{:?} is not a secret name: use A-Z, 0-9 and _, e.g. BATON_WEBHOOK_SECRET", w.secret),
                ));
            }
            if w.secret.is_empty() && w.format == WebhookFormat::Json {
                return Err(ErrorBody::field(
                    &key("secret"),
                    "json webhooks are signed: name the Worker secret holding the signing key (default BATON_WEBHOOK_SECRET)",
                ));
            }
        }
        Ok(())
    }

    /// Whether a page on `origin` may use this site's widget API.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|p| origin_matches(p, origin))
    }

    /// The operator as visitors and colleagues see them: the configured display name, if any.
    pub fn operator_display(&self, op: &OperatorRef) -> OperatorRef {
        match self.operator_names.get(&op.id) {
            Some(name) => OperatorRef { id: op.id.clone(), name: name.trim().to_string() },
            None => op.clone(),
        }
    }

    /// The form of an action: a configured one, or the built-in email form.
    pub fn action(&self, id: &str) -> Option<&ActionConfig> {
        self.actions.iter().find(|a| a.id == id)
    }
}

/// Keyword and phrase lists: no empty entries (an empty keyword would match nothing, silently).
fn phrases_ok(key: &str, list: &[String]) -> Result<(), ErrorBody> {
    for (i, k) in list.iter().enumerate() {
        if !k.chars().any(char::is_alphanumeric) {
            return Err(ErrorBody::field(&format!("{key}[{i}]"), format!("{k:?} has no letters or digits: remove it")));
        }
    }
    Ok(())
}

fn is_identifier(s: &str) -> bool {
    (1..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A field pattern must compile (regex-lite syntax) and stay small: it runs in the object on
/// every submission.
#[cfg(feature = "engine")]
fn check_pattern(p: &str) -> Result<(), String> {
    if p.len() > 200 {
        return Err("a pattern is at most 200 characters".into());
    }
    regex_lite::Regex::new(p).map(|_| ()).map_err(|e| format!("{p:?} is not a valid pattern: {e}"))
}

/// Without the engine (the widget, the inbox) patterns are only checked for length; every
/// config is validated by `index-builder`, which has the engine.
#[cfg(not(feature = "engine"))]
fn check_pattern(p: &str) -> Result<(), String> {
    if p.len() > 200 {
        return Err("a pattern is at most 200 characters".into());
    }
    Ok(())
}

fn origin_pattern_is_valid(p: &str) -> bool {
    Origin::parse_pattern(p).is_some()
}

/// A serialized origin (`scheme://host[:port]`, what browsers send in `Origin`), parsed
/// strictly: http(s) only, a host of DNS labels (or an IP literal), an optional port, and
/// nothing else — no path, query, fragment, user info or stray characters. Anything that is
/// not exactly an origin matches nothing, so `https://evil.com/.docs.example.com` can never pass
/// for a subdomain of `docs.example.com`. (Browsers serialize origins lowercased, IDNs as
/// punycode, default ports omitted; this accepts uppercase and default ports, and nothing else.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    /// Lowercased; a wildcard pattern's host is the part after `*.`.
    pub host: String,
    /// `None` for the scheme's default port.
    pub port: Option<u16>,
    /// A `https://*.example.com` pattern: any subdomain of `host`, not `host` itself.
    pub wildcard: bool,
}

impl Origin {
    /// An origin as a browser sends it, or `None` if it is not exactly one.
    pub fn parse(s: &str) -> Option<Origin> {
        Self::parse_with(s, false)
    }

    /// An `allowed_origins` entry: an origin, or one with `*.` before its host.
    pub fn parse_pattern(s: &str) -> Option<Origin> {
        Self::parse_with(s, true)
    }

    fn parse_with(s: &str, pattern: bool) -> Option<Origin> {
        let s = s.to_ascii_lowercase();
        let (scheme, rest) = s.split_once("://")?;
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let (wildcard, rest) = match rest.strip_prefix("*.") {
            Some(r) if pattern => (true, r),
            _ => (false, rest),
        };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (addr, after) = v6.split_once(']')?;
            if wildcard || addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
                return None;
            }
            (format!("[{addr}]"), after)
        } else {
            let end = rest.find(':').unwrap_or(rest.len());
            let host = &rest[..end];
            let labels_ok = !host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|l| {
                    (1..=63).contains(&l.len())
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                });
            if !labels_ok {
                return None;
            }
            (host.to_string(), &rest[end..])
        };
        let port = match after_colon(port)? {
            None => None,
            Some(p) if p == default_port => None,
            Some(p) => Some(p),
        };
        Some(Origin { scheme: scheme.to_string(), host, port, wildcard })
    }

    /// Whether `origin` (parsed with [`Origin::parse`]) is allowed by this pattern.
    pub fn allows(&self, origin: &Origin) -> bool {
        if self.scheme != origin.scheme || self.port != origin.port || origin.wildcard {
            return false;
        }
        if self.wildcard {
            origin.host.len() > self.host.len() + 1 && origin.host.ends_with(&format!(".{}", self.host))
        } else {
            self.host == origin.host
        }
    }
}

/// The port after a host: nothing, or `:` and 1-5 digits of a port number (0 is not one).
/// `None` when there is anything else (a path, a query, a second colon…).
fn after_colon(rest: &str) -> Option<Option<u16>> {
    if rest.is_empty() {
        return Some(None);
    }
    let digits = rest.strip_prefix(':')?;
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = digits.parse().ok().filter(|p| *p > 0)?;
    Some(Some(port))
}

/// `https://*.example.com` matches `https://docs.example.com` but not `https://example.com`,
/// `https://evil-example.com`, nor anything that is not exactly an origin
/// (`https://evil.com/.example.com`).
pub fn origin_matches(pattern: &str, origin: &str) -> bool {
    match (Origin::parse_pattern(pattern), Origin::parse(origin)) {
        (Some(p), Some(o)) => p.allows(&o),
        _ => false,
    }
}

/// `#rrggbb` → (r, g, b).
pub fn parse_hex_color(c: &str) -> Option<(u8, u8, u8)> {
    let h = c.strip_prefix('#')?;
    if h.len() != 6 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let p = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some((p(0)?, p(2)?, p(4)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_origins_match_subdomains_only() {
        assert!(origin_matches("https://*.example.com", "https://docs.example.com"));
        assert!(!origin_matches("https://*.example.com", "https://example.com"));
        assert!(!origin_matches("https://*.example.com", "https://evil-example.com"));
        assert!(!origin_matches("https://*.example.com", "http://docs.example.com"));
        assert!(origin_matches("http://localhost:8787", "http://localhost:8787"));
        assert!(!origin_matches("http://localhost:8787", "http://localhost:8788"));
        assert!(origin_matches("https://Docs.Example.com", "https://docs.example.com:443"));
    }

    #[test]
    fn only_exact_origins_match_and_patterns_are_checked() {
        // What a hostile tester sent: a path that ends like an allowed subdomain.
        for hostile in [
            "https://evil.com/.acme-backup.example",
            "https://evil.com?.acme-backup.example",
            "https://evil.com#.acme-backup.example",
            "https://user@docs.acme-backup.example",
            "https://evil.com\\.acme-backup.example",
            "https://docs.acme-backup.example/",
            "https://docs.acme-backup.example:99999",
            "https://docs.acme-backup.example:",
            "https://docs..acme-backup.example",
            "https://docs.acme-backup.example.",
            "https:// docs.acme-backup.example",
            "javascript://docs.acme-backup.example",
            "null",
            "",
        ] {
            assert!(!origin_matches("https://*.acme-backup.example", hostile), "{hostile:?}");
        }
        assert!(origin_matches("https://*.acme-backup.example", "https://status.acme-backup.example"));
        assert!(origin_matches("http://[::1]:8787", "http://[::1]:8787"));
        assert!(origin_pattern_is_valid("https://*.example.com:8443"));
        for bad in ["https://*example.com", "https://a.*.example.com", "https://example.com/docs", "ftp://example.com", "https://*.[::1]"] {
            assert!(!origin_pattern_is_valid(bad), "{bad:?}");
        }
        assert!(Origin::parse("https://*.example.com").is_none(), "a wildcard is never an origin");
    }

    #[test]
    fn validation_names_the_key() {
        let c = SiteConfig { allowed_origins: vec!["example.com".into()], ..Default::default() };
        assert_eq!(c.validate().unwrap_err().field.as_deref(), Some("allowed_origins[0]"));
        let c = SiteConfig { confidence_threshold: 2.0, ..Default::default() };
        assert_eq!(c.validate().unwrap_err().field.as_deref(), Some("confidence_threshold"));
        assert!(SiteConfig::default().validate().is_ok());
    }

    fn field(name: &str, kind: FieldKind) -> FieldSpec {
        FieldSpec { name: name.into(), label: name.into(), kind, required: true, options: vec![], pattern: None }
    }

    fn action(fields: Vec<FieldSpec>) -> ActionConfig {
        ActionConfig { id: "order".into(), title: "Your order".into(), keywords: vec!["order".into()], on_handoff: vec![], fields }
    }

    fn error_key(c: SiteConfig) -> String {
        c.validate().unwrap_err().field.unwrap()
    }

    #[test]
    fn action_and_field_mistakes_name_their_key() {
        let ok = SiteConfig { actions: vec![action(vec![field("order_id", FieldKind::Text)])], ..Default::default() };
        assert!(ok.validate().is_ok());

        let mut bad_pattern = field("order_id", FieldKind::Text);
        bad_pattern.pattern = Some("^[A-Z{2}$".into());
        let c = SiteConfig { actions: vec![action(vec![field("email", FieldKind::Email), bad_pattern])], ..Default::default() };
        assert_eq!(error_key(c), "actions[0].fields[1].pattern");

        let c = SiteConfig { actions: vec![action(vec![field("plan", FieldKind::Select)])], ..Default::default() };
        assert_eq!(error_key(c), "actions[0].fields[0].options");

        let c =
            SiteConfig { actions: vec![action(vec![field("a", FieldKind::Text), field("a", FieldKind::Number)])], ..Default::default() };
        assert_eq!(error_key(c), "actions[0].fields[1].name");

        let mut a = action(vec![field("a", FieldKind::Text)]);
        a.on_handoff = vec!["when_sad".into()];
        assert_eq!(error_key(SiteConfig { actions: vec![a], ..Default::default() }), "actions[0].on_handoff[0]");

        let mut a = action(vec![field("a", FieldKind::Text)]);
        a.keywords.clear();
        assert_eq!(error_key(SiteConfig { actions: vec![a], ..Default::default() }), "actions[0].keywords");

        let mut a = action(vec![field("a", FieldKind::Text)]);
        a.id = "Order Form".into();
        assert_eq!(error_key(SiteConfig { actions: vec![a], ..Default::default() }), "actions[0].id");
    }

    #[test]
    fn handoff_tag_and_name_mistakes_name_their_key() {
        let mut c = SiteConfig::default();
        c.handoff.keywords.push("  ".into());
        assert_eq!(error_key(c), format!("handoff.keywords[{}]", DEFAULT_HANDOFF_KEYWORDS.len()));

        let mut c = SiteConfig::default();
        c.handoff.low_confidence_repeats = 99;
        assert_eq!(error_key(c), "handoff.low_confidence_repeats");

        let mut c = SiteConfig::default();
        c.tags.push(TagRule { tag: "Billing".into(), keywords: vec!["money".into()] });
        assert_eq!(error_key(c), format!("tags[{}].tag", SiteConfig::default().tags.len()));

        let mut c = SiteConfig::default();
        c.tags = vec![TagRule { tag: "vip!".into(), keywords: vec!["enterprise".into()] }];
        assert_eq!(error_key(c), "tags[0].tag");

        let mut c = SiteConfig::default();
        c.operator_names.insert("ann".into(), "Ann".into());
        assert_eq!(error_key(c), "operator_names.ann");
    }

    #[test]
    fn webhook_mistakes_name_their_key() {
        let hook = |f: fn(&mut WebhookConfig)| {
            let mut w = WebhookConfig { url: "https://example.com/hook".into(), ..Default::default() };
            f(&mut w);
            SiteConfig { webhooks: vec![w], ..Default::default() }
        };
        assert!(hook(|_| {}).validate().is_ok());
        assert!(hook(|w| {
            w.url.clear();
            w.url_secret = "SLACK_URL".into();
            w.format = WebhookFormat::Slack;
            w.secret.clear();
        })
        .validate()
        .is_ok());
        assert_eq!(error_key(hook(|w| w.url.clear())), "webhooks[0].url");
        assert_eq!(error_key(hook(|w| w.url = "hooks.example.com/x".into())), "webhooks[0].url");
        assert_eq!(error_key(hook(|w| w.url_secret = "X".into())), "webhooks[0].url_secret");
        assert_eq!(
            error_key(hook(|w| {
                w.url.clear();
                w.url_secret = "slack-url".into();
            })),
            "webhooks[0].url_secret"
        );
        assert_eq!(error_key(hook(|w| w.events.clear())), "webhooks[0].events");
        assert_eq!(error_key(hook(|w| w.events = vec![WebhookEvent::Handoff, WebhookEvent::Handoff])), "webhooks[0].events[1]");
        assert_eq!(error_key(hook(|w| w.secret.clear())), "webhooks[0].secret");
        assert_eq!(error_key(hook(|w| w.secret = "my secret".into())), "webhooks[0].secret");
        let c = SiteConfig { inbox_url: "support.example.com".into(), ..Default::default() };
        assert_eq!(error_key(c), "inbox_url");
    }

    #[test]
    fn webhook_targets_hide_credentials() {
        let w = WebhookConfig { url: "https://hooks.slack.com/services/T0/B0/XYZ".into(), ..Default::default() };
        assert_eq!(w.target(), "https://hooks.slack.com/…");
        let w = WebhookConfig { url: "https://user:pw@example.com".into(), ..Default::default() };
        assert_eq!(w.target(), "https://example.com");
        let w = WebhookConfig { url_secret: "SLACK_URL".into(), ..Default::default() };
        assert_eq!(w.target(), "secret SLACK_URL");
        assert_eq!(w.display_name(1), "webhook 2");
    }

    #[test]
    fn limits_are_rules_and_mistakes_name_their_key() {
        let l = LimitsConfig::default();
        assert_eq!(l.visitor_messages.rule(), Rule { burst: 30, refill_ms: 3_000 });
        assert_eq!(l.conversations_per_ip.rule(), Rule { burst: 20, refill_ms: 15_000 });
        for (key, r) in l.all() {
            assert!(r.rule().validate().is_ok(), "{key}");
        }
        // A handful of sign-in guesses per account per hour, from anywhere.
        assert_eq!(l.sign_in_per_account.rule(), Rule { burst: 5, refill_ms: 720_000 });
        let mut c = SiteConfig::default();
        c.limits.sign_in_per_account.per_minute = 1;
        assert_eq!(error_key(c), "limits.sign_in_per_account.per_hour", "per_minute and per_hour together");
        let mut c = SiteConfig::default();
        c.limits.ask_per_ip.per_minute = 60_001;
        assert_eq!(error_key(c), "limits.ask_per_ip.per_minute");
        let mut c = SiteConfig::default();
        c.limits.visitor_messages.per_minute = 0;
        assert_eq!(error_key(c), "limits.visitor_messages.per_minute");
        let mut c = SiteConfig::default();
        c.limits.conversations_per_ip.burst = 0;
        assert_eq!(error_key(c), "limits.conversations_per_ip.burst");
        let c = SiteConfig { retention_days: 50_000, ..Default::default() };
        assert_eq!(error_key(c), "retention_days");
        // Read from TOML as documented: a table of inline tables, every key optional.
        let c: SiteConfig = toml_like(r#"{"site":"docs","limits":{"visitor_messages":{"burst":3,"per_minute":60}}}"#);
        assert_eq!(c.limits.visitor_messages.rule(), Rule { burst: 3, refill_ms: 1_000 });
        assert_eq!(c.limits.conversations_per_ip, LimitsConfig::default().conversations_per_ip);
        let c: SiteConfig = toml_like(r#"{"site":"docs","limits":{"sign_in_per_account":{"burst":3,"per_hour":2}}}"#);
        assert_eq!(c.limits.sign_in_per_account.rule(), Rule { burst: 3, refill_ms: 1_800_000 });
        assert!(c.validate().is_ok());
    }

    fn toml_like(json: &str) -> SiteConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn identity_and_attachment_mistakes_name_their_key() {
        let mut c = SiteConfig::default();
        c.identity.secret = "my-secret".into();
        assert_eq!(error_key(c), "identity.secret");
        let mut c = SiteConfig::default();
        c.attachments.max_file_mb = 0;
        assert_eq!(error_key(c), "attachments.max_file_mb");
        let mut c = SiteConfig::default();
        c.attachments.max_conversation_mb = 5;
        assert_eq!(error_key(c), "attachments.max_conversation_mb");
        let c = toml_like(r#"{"identity":{"unsigned":"refuse"},"attachments":{"max_file_mb":2}}"#);
        assert_eq!(c.identity.unsigned, crate::identity::UnsignedIdentity::Refuse);
        assert_eq!(c.identity.secret, DEFAULT_IDENTITY_SECRET);
        assert_eq!(c.attachments.limits().max_file_bytes, 2 * 1_048_576);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn display_names_come_from_config() {
        let mut c = SiteConfig::default();
        c.operator_names.insert("ann@example.com".into(), "Ann from Support".into());
        let ann = OperatorRef { id: "ann@example.com".into(), name: "Ann".into() };
        assert_eq!(c.operator_display(&ann).name, "Ann from Support");
        let bob = OperatorRef { id: "bob@example.com".into(), name: "Bob".into() };
        assert_eq!(c.operator_display(&bob), bob);
    }
}
