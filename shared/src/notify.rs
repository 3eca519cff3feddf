//! Notifications that reach operators with the inbox closed: who is told about a row change,
//! by which channel, and what the notification says. The `Inbox` object applies these rules
//! and carries the bytes (Web Push in `webpush`, email through the `send_email` binding).
//!
//! Each operator chooses (`Prefs`, set in the inbox, kept by the site's `Inbox` object):
//! which handoffs reach them — those assigned to them (the default), every new handoff, or
//! none — and how: a push to each device they turned notifications on for, or an email to
//! their sign-in address.

use crate::assign;
use crate::protocol::*;
use serde::{Deserialize, Serialize};

/// Largest push message (JSON, before encryption): push services take 4 KB of ciphertext.
pub const MAX_PUSH_BYTES: usize = 3000;

/// Which handoffs reach an operator away from the inbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handoffs {
    /// Those assigned to me.
    #[default]
    Assigned,
    /// Every new handoff, and those assigned to me.
    All,
    Off,
}

/// How they reach the operator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A push to every device the operator turned notifications on for.
    #[default]
    Push,
    /// An email to the operator's sign-in address.
    Email,
}

/// One operator's choice: `PUT /api/v1/sites/:site/notifications`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Prefs {
    pub handoffs: Handoffs,
    pub channel: Channel,
}

/// Why an operator is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The conversation was assigned to them.
    Assigned,
    /// A new handoff waits for a human (for those who asked for every handoff).
    Waiting,
}

/// One notification to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub operator: String,
    pub reason: Reason,
    pub channel: Channel,
}

/// Who is told about this row change, and how: the new assignee (unless they turned handoffs
/// off), and — on a new handoff — everyone who asked for every handoff. `prefs` holds the
/// operators who chose something; the others have the defaults (assigned to me, by push).
pub fn notices(before: Option<&ConversationSummary>, after: &ConversationSummary, prefs: &[(String, Prefs)]) -> Vec<Notice> {
    let of = |op: &str| prefs.iter().find(|(o, _)| o == op).map(|(_, p)| *p).unwrap_or_default();
    let mut out = Vec::new();
    let assignee = assign::newly_assigned(before, after).map(|o| o.id.clone());
    if let Some(op) = &assignee {
        let p = of(op);
        if p.handoffs != Handoffs::Off {
            out.push(Notice { operator: op.clone(), reason: Reason::Assigned, channel: p.channel });
        }
    }
    if crate::inbox::is_new_handoff(before, after) {
        for (op, p) in prefs {
            if p.handoffs == Handoffs::All && Some(op) != assignee.as_ref() {
                out.push(Notice { operator: op.clone(), reason: Reason::Waiting, channel: p.channel });
            }
        }
    }
    out
}

/// What a notification says: shown by the inbox's service worker, or as an email.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub title: String,
    pub body: String,
    /// Opens the conversation in the inbox.
    pub url: String,
    /// One notification per conversation on a device: a newer one replaces it.
    pub tag: String,
    pub conversation_id: ConversationId,
    pub reason: Reason,
}

/// The visitor as the team knows them: the name they gave, their email, or "A visitor".
pub fn visitor_label(row: &ConversationSummary) -> String {
    let name = row.fields.get("name").map(|n| n.trim()).filter(|n| !n.is_empty());
    match (name, &row.visitor_email) {
        (Some(n), _) => cut(n, 60),
        (None, Some(e)) => cut(e, 80),
        (None, None) => "A visitor".into(),
    }
}

/// The notification for a row: who, why a human is needed, their first words, and a link to
/// the thread in the inbox (`inbox`: the inbox's address, e.g. `https://x/inbox`).
pub fn message(row: &ConversationSummary, reason: Reason, inbox: &str) -> Message {
    let who = visitor_label(row);
    let title = match reason {
        Reason::Assigned => format!("Assigned to you: {who}"),
        Reason::Waiting => format!("Waiting for a human: {who}"),
    };
    let why = row.handoff.as_ref().map(|h| h.reason.describe()).unwrap_or("A visitor needs a person");
    let words = row.briefing.as_ref().and_then(|b| b.latest_question.clone()).or_else(|| row.first_question.clone());
    let body = match words {
        Some(w) => format!("{why} · “{}”", cut(w.trim(), 140)),
        None => why.to_string(),
    };
    let sep = if inbox.contains('?') { '&' } else { '?' };
    Message {
        title,
        body,
        url: format!("{inbox}{sep}site={}&conversation={}", row.site, row.id),
        tag: row.id.to_string(),
        conversation_id: row.id.clone(),
        reason,
    }
}

/// Cuts text to at most `max` characters with an ellipsis.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

/// A push subscription, as the browser's `PushSubscription.toJSON()` gives it:
/// `POST /api/v1/sites/:site/push/subscriptions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub endpoint: String,
    pub keys: SubscriptionKeys,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionKeys {
    /// The browser's P-256 public key (uncompressed point, base64url).
    pub p256dh: String,
    /// The 16-byte authentication secret (base64url).
    pub auth: String,
}

/// Longest endpoint URL accepted.
pub const MAX_ENDPOINT_BYTES: usize = 1024;
/// Devices one operator may register (the oldest goes when a new one comes).
pub const MAX_DEVICES: usize = 10;

impl Subscription {
    /// Shape checks: an https endpoint (http only on loopback, for local push services), keys
    /// of the right lengths. The error names the field.
    pub fn validate(&self) -> Result<(), ErrorBody> {
        let e = &self.endpoint;
        let host = e.strip_prefix("https://").or_else(|| e.strip_prefix("http://").filter(|r| is_loopback(r)));
        if host.is_none_or(|h| h.is_empty() || h.starts_with('/'))
            || e.len() > MAX_ENDPOINT_BYTES
            || e.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ErrorBody::field("endpoint", "endpoint must be the push service's https URL from PushSubscription.toJSON()"));
        }
        if base64url_len(&self.keys.p256dh) != Some(65) {
            return Err(ErrorBody::field("keys.p256dh", "keys.p256dh must be the 65-byte P-256 public key, base64url"));
        }
        if base64url_len(&self.keys.auth) != Some(16) {
            return Err(ErrorBody::field("keys.auth", "keys.auth must be the 16-byte secret, base64url"));
        }
        Ok(())
    }
}

fn is_loopback(rest: &str) -> bool {
    let host = rest.split(['/', ':']).next().unwrap_or("");
    host == "127.0.0.1" || host == "localhost" || rest.starts_with("[::1]")
}

/// The decoded length of unpadded base64url text, if it is that.
fn base64url_len(s: &str) -> Option<usize> {
    let s = s.trim_end_matches('=');
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') || s.len() % 4 == 1 {
        return None;
    }
    Some(s.len() * 3 / 4)
}

/// A device as the operator sees it in the inbox (never the keys).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The push service's host (e.g. `fcm.googleapis.com`).
    pub service: String,
    pub created_at: i64,
    /// Whether it is the device asking (its endpoint was sent with the request).
    #[serde(default)]
    pub this_device: bool,
}

/// `GET /api/v1/sites/:site/notifications`: my choice, my devices, and the key browsers need
/// to subscribe (`applicationServerKey`; empty when push is not configured).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub prefs: Prefs,
    pub devices: Vec<Device>,
    #[serde(default)]
    pub vapid_public_key: String,
    /// Whether the site can send email (operators may choose it).
    #[serde(default)]
    pub email_available: bool,
}

/// The push service's host, for showing a device.
pub fn service_of(endpoint: &str) -> String {
    endpoint.split("://").nth(1).and_then(|r| r.split(['/', '?']).next()).unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assign::Assignment;

    fn op(name: &str) -> OperatorRef {
        OperatorRef { id: format!("{}@example.com", name.to_lowercase()), name: name.into() }
    }

    fn row(ownership: Ownership) -> ConversationSummary {
        ConversationSummary {
            id: ConversationId::from_random([7; 16]),
            site: SiteId::parse("acme").unwrap(),
            ownership,
            tags: vec![],
            last_message: None,
            waiting_since: None,
            unread: 1,
            page: None,
            handoff: Some(Handoff { reason: HandoffReason::Button, evidence: vec![] }),
            first_question: Some("My invoice shows the wrong company name and I need it fixed today".into()),
            visitor_email: Some("vis@example.org".into()),
            created_at: 0,
            updated_at: 0,
            last_seq: 3,
            owner: None,
            fields: Default::default(),
            briefing: None,
            stats: None,
            search_text: None,
            identity: None,
            rating: None,
            attachments: 0,
            assignment: Assignment::default(),
        }
    }

    #[test]
    fn the_assignee_and_those_who_want_every_handoff_are_told() {
        let bot = row(Ownership::Bot);
        let waiting = row(Ownership::WaitingForHuman { since: 5 });
        let mut assigned = waiting.clone();
        assigned.assignment.operator = Some(op("Ann"));
        assigned.assignment.at = 6;
        let prefs = vec![
            ("bob@example.com".to_string(), Prefs { handoffs: Handoffs::All, channel: Channel::Email }),
            ("cy@example.com".to_string(), Prefs { handoffs: Handoffs::Off, channel: Channel::Push }),
            ("ann@example.com".to_string(), Prefs { handoffs: Handoffs::All, channel: Channel::Push }),
        ];
        // The handoff: Bob and Ann asked for every one (Cy turned them off).
        let n = notices(Some(&bot), &waiting, &prefs);
        assert_eq!(
            n,
            [
                Notice { operator: "bob@example.com".into(), reason: Reason::Waiting, channel: Channel::Email },
                Notice { operator: "ann@example.com".into(), reason: Reason::Waiting, channel: Channel::Push },
            ]
        );
        // Assigned to Ann: only she is told (again, with the reason).
        assert_eq!(
            notices(Some(&waiting), &assigned, &prefs),
            [Notice { operator: "ann@example.com".into(), reason: Reason::Assigned, channel: Channel::Push }]
        );
        // Handed off and assigned in one change: Ann once, as the assignee.
        let both = notices(Some(&bot), &assigned, &prefs);
        assert_eq!(both.iter().filter(|x| x.operator == "ann@example.com").count(), 1);
        // Operators who never chose get assignments by push; a later change tells nobody.
        assert_eq!(
            notices(Some(&waiting), &assigned, &[]),
            [Notice { operator: "ann@example.com".into(), reason: Reason::Assigned, channel: Channel::Push }]
        );
        assert!(notices(Some(&assigned), &assigned, &prefs).is_empty());
        let mut cy = assigned.clone();
        cy.assignment.operator = Some(op("Cy"));
        assert!(notices(Some(&assigned), &cy, &prefs).is_empty(), "Cy turned handoffs off");
    }

    #[test]
    fn the_message_names_the_visitor_the_reason_and_opens_the_thread() {
        let mut r = row(Ownership::WaitingForHuman { since: 5 });
        let m = message(&r, Reason::Assigned, "https://support.acme.test/inbox");
        assert_eq!(m.title, "Assigned to you: vis@example.org");
        assert!(m.body.starts_with("Visitor pressed “Talk to a human” · “My invoice"), "{}", m.body);
        assert_eq!(m.url, format!("https://support.acme.test/inbox?site=acme&conversation={}", r.id));
        assert_eq!(m.tag, r.id.as_str());
        r.fields.insert("name".into(), "Dana Scully".into());
        r.first_question = Some("x".repeat(500));
        let m = message(&r, Reason::Waiting, "/inbox?x=1");
        assert_eq!(m.title, "Waiting for a human: Dana Scully");
        assert!(m.body.chars().count() < 200);
        assert!(m.url.starts_with("/inbox?x=1&site=acme"));
        assert!(serde_json::to_string(&m).unwrap().len() < MAX_PUSH_BYTES);
    }

    #[test]
    fn subscriptions_are_checked() {
        let ok = Subscription {
            endpoint: "https://fcm.googleapis.com/fcm/send/abc".into(),
            keys: SubscriptionKeys {
                p256dh: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4".into(),
                auth: "BTBZMqHH6r4Tts7J_aSIgg".into(),
            },
        };
        assert!(ok.validate().is_ok());
        assert_eq!(service_of(&ok.endpoint), "fcm.googleapis.com");
        let with = |f: fn(&mut Subscription)| {
            let mut s = ok.clone();
            f(&mut s);
            s.validate().map_err(|e| e.field.unwrap())
        };
        assert_eq!(with(|s| s.endpoint = "http://push.example.com/x".into()), Err("endpoint".into()));
        assert!(with(|s| s.endpoint = "http://127.0.0.1:9000/push/1".into()).is_ok(), "a loopback push service (tests)");
        assert_eq!(with(|s| s.endpoint = "https://a b".into()), Err("endpoint".into()));
        assert_eq!(with(|s| s.keys.p256dh = "abc".into()), Err("keys.p256dh".into()));
        assert_eq!(with(|s| s.keys.auth = "BTBZMqHH6r4Tts7J_aSIgg+".into()), Err("keys.auth".into()));
    }
}
