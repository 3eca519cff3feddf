//! Outgoing webhooks, as rules: which stored events notify the team, what each notification
//! says (Baton's signed JSON, or a Slack message), how it is signed and checked, and when a
//! failed delivery is tried again.
//!
//! The `Conversation` object stores the deliveries `deliveries` returns in its outbox in the
//! same synchronous step as the events themselves (so a crash between the two cannot lose one),
//! then sends their bytes from its alarm; it decides nothing itself.
//!
//! Signature scheme (documented for receivers in docs/webhooks.md):
//! `X-Baton-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

use crate::config::{SiteConfig, WebhookConfig};
use crate::conversation::ConversationState;
use crate::protocol::*;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
pub const SIGNATURE_HEADER: &str = "x-baton-signature";
/// The event (`handoff`, `visitor_message`, `resolved`).
pub const EVENT_HEADER: &str = "x-baton-event";
/// The delivery id, the same on every retry: receivers dedupe on it (delivery is at least once).
pub const DELIVERY_HEADER: &str = "x-baton-delivery";
/// Signatures older (or newer) than this are refused by `verify`: a captured request cannot
/// be replayed later.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;
/// Tries per delivery, the first included; then it is logged as failed.
pub const MAX_ATTEMPTS: u32 = 8;
/// The first retry waits this long; each next one twice as long (30 s, 1 min, 2 min, … about
/// an hour in total over `MAX_ATTEMPTS`).
pub const DEFAULT_RETRY_BASE_MS: u64 = 30_000;
/// No retry waits longer than this.
pub const MAX_RETRY_DELAY_MS: u64 = 3_600_000;
/// Quoted visitor words in a notification are cut to this many characters.
const QUOTE_CHARS: usize = 300;

/// A delivery waiting in the outbox: everything needed to send it, decided when its event was
/// stored. The URL and the signing key are looked up by secret name when it is sent, so
/// rotating a secret takes effect for deliveries already queued.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// `<conversation id>-<seq>-<webhook index>`: stable across retries.
    pub id: String,
    /// The webhook's display name.
    pub webhook: String,
    pub event: WebhookEvent,
    pub site: SiteId,
    pub conversation_id: ConversationId,
    pub format: WebhookFormat,
    /// A literal URL, or empty when `url_secret` names the secret holding it.
    pub url: String,
    pub url_secret: String,
    /// The secret whose value signs the body ("" = unsigned, Slack only).
    pub secret: String,
    /// The exact bytes to POST (JSON).
    pub body: String,
}

/// Baton's JSON payload (`format = "json"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// `handoff`, `visitor_message` or `resolved`.
    pub event: WebhookEvent,
    pub delivery_id: String,
    pub site: SiteId,
    pub site_name: String,
    pub conversation_id: ConversationId,
    /// The seq of the event that fired it, and when (ms since the epoch).
    pub seq: u64,
    pub at: i64,
    /// Opens the conversation in the inbox.
    pub inbox_url: String,
    /// One line for people (the text a Slack message shows, without the link).
    pub text: String,
    /// The visitor's words: the new message (`visitor_message`) or the latest question (`handoff`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why it was handed off (`handoff`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<Handoff>,
    /// Who resolved it (`resolved`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<OperatorRef>,
    /// The conversation as the inbox row shows it right after the event (briefing included).
    pub conversation: ConversationSummary,
}

/// A Slack incoming-webhook message (`format = "slack"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlackMessage {
    pub text: String,
}

/// Which webhook events the just-stored `events` raise, with the event that raised each: a
/// handoff, a visitor message while the thread waits for a person (not the message that asked
/// for one: the handoff notification already carries it), and a resolve.
pub fn triggers<'a>(before: &ConversationState, events: &'a [Event]) -> Vec<(WebhookEvent, &'a Event, ConversationState)> {
    let mut state = before.clone();
    let mut out = Vec::new();
    for e in events {
        let waiting = matches!(state.ownership, Ownership::WaitingForHuman { .. });
        state.apply(e);
        let fired = match &e.kind {
            EventKind::HandoffRequested { .. } => Some(WebhookEvent::Handoff),
            EventKind::VisitorMessage { .. } if waiting => Some(WebhookEvent::VisitorMessage),
            EventKind::Resolved { .. } => Some(WebhookEvent::Resolved),
            _ => None,
        };
        if let Some(w) = fired {
            out.push((w, e, state.clone()));
        }
    }
    out
}

/// The link to a conversation in the inbox. `origin` is the worker's public origin as the
/// visitor's widget reached it, used when the config names no `inbox_url`.
pub fn inbox_link(config: &SiteConfig, origin: &str, id: &ConversationId) -> String {
    let base = if config.inbox_url.is_empty() { format!("{}/inbox", origin.trim_end_matches('/')) } else { config.inbox_url.clone() };
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}site={}&conversation={id}", config.site)
}

/// The deliveries `events` (just stored, in order, after `before`) cause: one per fired event
/// and subscribed webhook, bodies rendered now.
pub fn deliveries(config: &SiteConfig, origin: &str, before: &ConversationState, events: &[Event]) -> Vec<Delivery> {
    if config.webhooks.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (event, e, after) in triggers(before, events) {
        let link = inbox_link(config, origin, &after.id);
        for (i, hook) in config.webhooks.iter().enumerate() {
            if !hook.events.contains(&event) {
                continue;
            }
            let id = format!("{}-{}-{}", after.id, e.seq, i);
            let body = render(config, hook, event, e, &after, &link, &id);
            out.push(Delivery {
                id,
                webhook: hook.display_name(i),
                event,
                site: config.site.clone(),
                conversation_id: after.id.clone(),
                format: hook.format,
                url: hook.url.clone(),
                url_secret: hook.url_secret.clone(),
                secret: hook.secret.clone(),
                body,
            });
        }
    }
    out
}

/// The body for one webhook.
fn render(
    config: &SiteConfig,
    hook: &WebhookConfig,
    event: WebhookEvent,
    e: &Event,
    after: &ConversationState,
    link: &str,
    delivery_id: &str,
) -> String {
    let (headline, message) = describe(config, event, e, after);
    let quoted = |m: &Option<String>| m.as_ref().map(|m| format!(" “{}”", cut(m, QUOTE_CHARS))).unwrap_or_default();
    match hook.format {
        WebhookFormat::Slack => {
            let text = format!(
                "*{}*: {}{} <{}|Open in the inbox>",
                slack_escape(&config.name),
                slack_escape(&headline),
                slack_escape(&quoted(&message)),
                slack_escape(link)
            );
            serde_json::to_string(&SlackMessage { text }).expect("plain data serialises")
        }
        WebhookFormat::Json => {
            let payload = Payload {
                event,
                delivery_id: delivery_id.to_string(),
                site: config.site.clone(),
                site_name: config.name.clone(),
                conversation_id: after.id.clone(),
                seq: e.seq,
                at: e.at,
                inbox_url: link.to_string(),
                text: format!("{}: {headline}{}", config.name, quoted(&message)),
                message,
                handoff: match &e.kind {
                    EventKind::HandoffRequested { handoff, .. } => Some(handoff.clone()),
                    _ => None,
                },
                operator: match &e.kind {
                    EventKind::Resolved { operator } => operator.as_ref().map(|o| config.operator_display(o)),
                    _ => None,
                },
                conversation: after.summary(),
            };
            serde_json::to_string(&payload).expect("plain data serialises")
        }
    }
}

/// The headline and the visitor's words for a notification.
fn describe(config: &SiteConfig, event: WebhookEvent, e: &Event, after: &ConversationState) -> (String, Option<String>) {
    match (&e.kind, event) {
        (EventKind::HandoffRequested { handoff, operators_online, .. }, _) => {
            let who = if *operators_online { "" } else { " (nobody is online)" };
            (
                format!("a visitor needs a person{who} — {}.", handoff.reason.describe()),
                after.recent_questions.last().cloned().or_else(|| after.first_question.clone()),
            )
        }
        (EventKind::VisitorMessage { text }, _) => ("the visitor wrote again while waiting for a person:".into(), Some(text.clone())),
        (EventKind::Resolved { operator: Some(op) }, _) => {
            (format!("{} resolved the conversation.", config.operator_display(op).name), None)
        }
        _ => ("the conversation was resolved.".into(), None),
    }
}

fn cut(s: &str, max: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Slack's three control characters in message text.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The `X-Baton-Signature` value for a body sent at `timestamp` (unix seconds).
pub fn signature(secret: &[u8], timestamp: i64, body: &str) -> String {
    format!("t={timestamp},v1={}", hex(&mac(secret, timestamp, body).finalize().into_bytes()))
}

fn mac(secret: &[u8], timestamp: i64, body: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body.as_bytes());
    m
}

/// Why a signature was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// Not `t=<digits>,v1=<64 hex>`.
    Malformed,
    /// Outside `SIGNATURE_TOLERANCE_SECS` of now: a replay, or a clock far off.
    Stale,
    /// The HMAC does not match: another secret, or a changed body.
    Mismatch,
}

/// Checks a delivery as a receiver would (constant-time compare): the header's timestamp is
/// recent and its `v1` is the HMAC of `"<t>.<body>"`.
pub fn verify(secret: &[u8], header: &str, body: &str, now_secs: i64) -> Result<(), SignatureError> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = unhex(v),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(SignatureError::Malformed);
    };
    if (now_secs - t).abs() > SIGNATURE_TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    mac(secret, t, body).verify_slice(&v1).map_err(|_| SignatureError::Mismatch)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// How long to wait before the next try after `failed` failed tries, or `None` when the
/// delivery has had its `MAX_ATTEMPTS`. Doubles from `base_ms`, capped at `MAX_RETRY_DELAY_MS`.
pub fn retry_delay_ms(failed: u32, base_ms: u64) -> Option<u64> {
    if failed == 0 || failed >= MAX_ATTEMPTS {
        return None;
    }
    Some(base_ms.saturating_mul(1u64 << (failed - 1).min(40)).min(MAX_RETRY_DELAY_MS))
}

/// What one try's result means: a 2xx is delivered; anything else (another status, no answer)
/// is a failure to retry.
pub fn outcome(status: Option<u16>, failure: Option<&str>) -> Result<u16, String> {
    match (status, failure) {
        (Some(s), _) if (200..300).contains(&s) => Ok(s),
        (Some(s), detail) => Err(match detail.map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => format!("HTTP {s}: {}", cut(d, 200)),
            None => format!("HTTP {s}"),
        }),
        (None, detail) => Err(format!("no answer: {}", detail.unwrap_or("the request failed"))),
    }
}

/// How one try went, as the sender saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The request went out: the receiver's status, or no answer (`status: None`) and why;
    /// `detail` is the start of a failed response's body.
    Sent { status: Option<u16>, detail: Option<String> },
    /// It could not be sent and trying again will not help until someone fixes the setup (a
    /// missing secret, a URL secret that is not a URL): logged as failed at once.
    Unsendable(String),
}

/// The delivery-log entry for try number `attempt` (1-based) of `d`, and when to try again
/// (`next_attempt_at`; `None` when delivered or given up).
pub fn record(d: &Delivery, attempt: u32, result: Attempt, now: i64, retry_base_ms: u64) -> DeliveryRecord {
    let mut r = DeliveryRecord {
        delivery_id: d.id.clone(),
        webhook: d.webhook.clone(),
        event: d.event,
        conversation_id: d.conversation_id.clone(),
        attempt,
        at: now,
        outcome: DeliveryOutcome::Failed,
        status: None,
        error: None,
        next_attempt_at: None,
    };
    match result {
        Attempt::Unsendable(why) => r.error = Some(why),
        Attempt::Sent { status, detail } => {
            r.status = status;
            match outcome(status, detail.as_deref()) {
                Ok(_) => r.outcome = DeliveryOutcome::Delivered,
                Err(e) => {
                    r.error = Some(e);
                    if let Some(delay) = retry_delay_ms(attempt, retry_base_ms) {
                        r.outcome = DeliveryOutcome::Retrying;
                        r.next_attempt_at = Some(now + delay as i64);
                    }
                }
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WebhookConfig;

    fn op() -> OperatorRef {
        OperatorRef { id: "ann@example.com".into(), name: "Ann".into() }
    }

    fn ev(seq: u64, kind: EventKind) -> Event {
        Event { seq, at: 1_000 * seq as i64, client_id: None, kind }
    }

    fn handoff_event(seq: u64) -> Event {
        ev(
            seq,
            EventKind::HandoffRequested {
                handoff: Handoff { reason: HandoffReason::ExplicitRequest, evidence: vec!["talk to a person".into()] },
                briefing: Briefing::default(),
                operators_online: true,
                form: None,
                notice: String::new(),
            },
        )
    }

    fn started() -> ConversationState {
        let id = ConversationId::from_random([7; 16]);
        let site = SiteId::parse("acme").unwrap();
        let mut s = ConversationState::new(id, site.clone(), 0);
        s.apply(&ev(1, EventKind::Started { site, page: None, lang: None }));
        s
    }

    fn config(hooks: Vec<WebhookConfig>) -> SiteConfig {
        SiteConfig { site: SiteId::parse("acme").unwrap(), name: "Acme <Docs>".into(), webhooks: hooks, ..Default::default() }
    }

    fn names(t: &[(WebhookEvent, &Event, ConversationState)]) -> Vec<(WebhookEvent, u64)> {
        t.iter().map(|(w, e, _)| (*w, e.seq)).collect()
    }

    #[test]
    fn handoff_waiting_messages_and_resolve_fire_nothing_else() {
        let s = started();
        // The message that asks for a person fires the handoff only.
        let batch = [ev(2, EventKind::VisitorMessage { text: "talk to a person".into() }), handoff_event(3)];
        assert_eq!(names(&triggers(&s, &batch)), vec![(WebhookEvent::Handoff, 3)]);
        let mut s2 = s.clone();
        batch.iter().for_each(|e| s2.apply(e));
        // Waiting: every new visitor message fires.
        let more = [ev(4, EventKind::VisitorMessage { text: "hello?".into() })];
        assert_eq!(names(&triggers(&s2, &more)), vec![(WebhookEvent::VisitorMessage, 4)]);
        // A human owns it: messages do not fire; the resolve does.
        s2.apply(&ev(5, EventKind::OperatorJoined { operator: op() }));
        let later = [ev(6, EventKind::VisitorMessage { text: "thanks".into() }), ev(7, EventKind::Resolved { operator: Some(op()) })];
        assert_eq!(names(&triggers(&s2, &later)), vec![(WebhookEvent::Resolved, 7)]);
        // The bot's own conversation fires nothing.
        assert!(triggers(&s, &[ev(2, EventKind::VisitorMessage { text: "how do I embed?".into() })]).is_empty());
    }

    #[test]
    fn deliveries_follow_each_webhooks_events() {
        let all = WebhookConfig { name: "ops".into(), url: "https://example.com/h".into(), ..Default::default() };
        let resolves = WebhookConfig { url: "https://example.com/r".into(), events: vec![WebhookEvent::Resolved], ..Default::default() };
        let c = config(vec![all, resolves]);
        let s = started();
        let d =
            deliveries(&c, "https://baton.example", &s, &[ev(2, EventKind::VisitorMessage { text: "a person".into() }), handoff_event(3)]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].webhook, "ops");
        assert_eq!(d[0].id, format!("{}-3-0", s.id));
        let p: Payload = serde_json::from_str(&d[0].body).unwrap();
        assert_eq!(p.event, WebhookEvent::Handoff);
        assert_eq!(p.delivery_id, d[0].id);
        assert_eq!(p.message.as_deref(), Some("a person"));
        assert_eq!(p.handoff.unwrap().reason, HandoffReason::ExplicitRequest);
        assert_eq!(p.inbox_url, format!("https://baton.example/inbox?site=acme&conversation={}", s.id));
        assert!(matches!(p.conversation.ownership, Ownership::WaitingForHuman { .. }));
        assert_eq!(p.text, "Acme <Docs>: a visitor needs a person — Visitor asked for a person. “a person”");

        let r = deliveries(&c, "https://baton.example", &s, &[ev(2, EventKind::Resolved { operator: Some(op()) })]);
        assert_eq!(r.iter().map(|d| d.webhook.as_str()).collect::<Vec<_>>(), vec!["ops", "webhook 2"]);
        let p: Payload = serde_json::from_str(&r[1].body).unwrap();
        assert_eq!(p.operator.unwrap().name, "Ann");
        assert!(deliveries(&config(vec![]), "x", &s, &[handoff_event(2)]).is_empty());
    }

    #[test]
    fn slack_messages_escape_and_link_to_the_inbox() {
        let hook = WebhookConfig { url: "https://hooks.slack.com/x".into(), format: WebhookFormat::Slack, ..Default::default() };
        let mut c = config(vec![hook]);
        c.inbox_url = "https://support.acme.test/inbox".into();
        let mut s = started();
        s.apply(&handoff_event(2));
        let d = deliveries(&c, "https://ignored", &s, &[ev(3, EventKind::VisitorMessage { text: "<script> & co".into() })]);
        let m: SlackMessage = serde_json::from_str(&d[0].body).unwrap();
        assert_eq!(
            m.text,
            format!(
                "*Acme &lt;Docs&gt;*: the visitor wrote again while waiting for a person: “&lt;script&gt; &amp; co” \
                 <https://support.acme.test/inbox?site=acme&amp;conversation={}|Open in the inbox>",
                s.id
            )
        );
    }

    #[test]
    fn signatures_verify_and_refuse_tampering_replays_and_junk() {
        let body = r#"{"event":"handoff"}"#;
        let sig = signature(b"s3cret", 1_700_000_000, body);
        assert!(sig.starts_with("t=1700000000,v1="));
        assert_eq!(sig.len(), "t=1700000000,v1=".len() + 64);
        assert_eq!(verify(b"s3cret", &sig, body, 1_700_000_100), Ok(()));
        assert_eq!(verify(b"other", &sig, body, 1_700_000_100), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"s3cret", &sig, r#"{"event":"resolved"}"#, 1_700_000_100), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"s3cret", &sig, body, 1_700_000_000 + 301), Err(SignatureError::Stale));
        assert_eq!(verify(b"s3cret", "v1=abc", body, 0), Err(SignatureError::Malformed));
        // Known vector: HMAC-SHA256("key", "1.{}") computed independently (Python hmac).
        assert_eq!(signature(b"key", 1, "{}"), "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224");
    }

    #[test]
    fn each_try_is_logged_with_what_happens_next() {
        let s = started();
        let hook = WebhookConfig { url: "https://example.com/h".into(), ..Default::default() };
        let d = deliveries(&config(vec![hook]), "https://b", &s, &[handoff_event(2)]).remove(0);
        let failed = record(&d, 1, Attempt::Sent { status: Some(500), detail: Some("oops".into()) }, 10_000, 200);
        assert_eq!(failed.outcome, DeliveryOutcome::Retrying);
        assert_eq!((failed.status, failed.error.as_deref(), failed.next_attempt_at), (Some(500), Some("HTTP 500: oops"), Some(10_200)));
        let second = record(&d, 2, Attempt::Sent { status: None, detail: Some("connection refused".into()) }, 20_000, 200);
        assert_eq!(second.next_attempt_at, Some(20_400));
        let ok = record(&d, 3, Attempt::Sent { status: Some(200), detail: None }, 30_000, 200);
        assert_eq!((ok.outcome, ok.error, ok.next_attempt_at), (DeliveryOutcome::Delivered, None, None));
        let last = record(&d, MAX_ATTEMPTS, Attempt::Sent { status: Some(503), detail: None }, 0, 200);
        assert_eq!((last.outcome, last.next_attempt_at), (DeliveryOutcome::Failed, None));
        let unsendable = record(&d, 1, Attempt::Unsendable("set the secret".into()), 0, 200);
        assert_eq!((unsendable.outcome, unsendable.next_attempt_at), (DeliveryOutcome::Failed, None));
        assert_eq!(ok.delivery_id, d.id);
    }

    #[test]
    fn retries_back_off_exponentially_then_stop() {
        let delays: Vec<Option<u64>> = (0..=MAX_ATTEMPTS).map(|n| retry_delay_ms(n, 1_000)).collect();
        assert_eq!(delays[0], None);
        assert_eq!(&delays[1..4], &[Some(1_000), Some(2_000), Some(4_000)]);
        assert_eq!(delays[MAX_ATTEMPTS as usize], None);
        // The default schedule: 30 s, 1, 2, 4, 8, 16, 32 min — about an hour over all tries.
        let total: u64 = (1..MAX_ATTEMPTS).filter_map(|n| retry_delay_ms(n, DEFAULT_RETRY_BASE_MS)).sum();
        assert_eq!(total, 3_810_000);
        assert_eq!(retry_delay_ms(7, 600_000), Some(MAX_RETRY_DELAY_MS));
        assert_eq!(outcome(Some(204), None), Ok(204));
        assert_eq!(outcome(Some(500), Some("boom\n")), Err("HTTP 500: boom".into()));
        assert_eq!(outcome(None, Some("connection refused")), Err("no answer: connection refused".into()));
    }
}
