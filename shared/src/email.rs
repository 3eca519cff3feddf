//! Email that reaches visitors who left: when an operator replies and the visitor is not
//! connected, the replies go to the address the visitor gave — batched (one email per quiet
//! spell), with the thread so far, a signed link that opens exactly that conversation again
//! (and expires), and an unsubscribe link. Operators who chose email over push get their
//! handoff notifications the same way (`operator_notice`).
//!
//! Rules only: which address is sendable (`address`), what goes in a header (`header_text`:
//! never a line break), when a batch goes out (`due`), the links' signatures
//! (`link_signature`, `verify_link`) and the messages themselves. The `Conversation` and
//! `Inbox` objects send them through the `send_email` binding.

use crate::config::SiteConfig;
use crate::notify;
use crate::protocol::*;
use serde::{Deserialize, Serialize};

/// `[email]` in `baton.toml`. Email is off until `from` is set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// The sender (an address on a domain set up for Cloudflare Email Service), e.g.
    /// `support@acme.example`. Empty: no email is sent.
    pub from: String,
    /// The sender's name; default: the site's name.
    pub from_name: String,
    /// Replies are sent once the operator has been quiet this long…
    pub quiet_seconds: u32,
    /// …or at the latest this long after the first unsent reply.
    pub max_wait_seconds: u32,
    /// How long the link back into the conversation works.
    pub link_days: u32,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig { from: String::new(), from_name: String::new(), quiet_seconds: 60, max_wait_seconds: 600, link_days: 14 }
    }
}

impl EmailConfig {
    pub fn enabled(&self) -> bool {
        !self.from.is_empty()
    }

    pub fn quiet_ms(&self) -> i64 {
        self.quiet_seconds as i64 * 1000
    }

    pub fn max_wait_ms(&self) -> i64 {
        self.max_wait_seconds as i64 * 1000
    }

    pub fn validate(&self) -> Result<(), ErrorBody> {
        if self.enabled() {
            address(&self.from).map_err(|e| ErrorBody::field("email.from", e.message))?;
        }
        if self.from_name.chars().count() > 80 || self.from_name.chars().any(char::is_control) {
            return Err(ErrorBody::field("email.from_name", "from_name is one line of at most 80 characters"));
        }
        if !(1..=3600).contains(&self.quiet_seconds) {
            return Err(ErrorBody::field("email.quiet_seconds", "quiet_seconds must be 1-3600"));
        }
        if self.max_wait_seconds < self.quiet_seconds || self.max_wait_seconds > 86_400 {
            return Err(ErrorBody::field("email.max_wait_seconds", "max_wait_seconds must be at least quiet_seconds and at most 86400"));
        }
        if !(1..=90).contains(&self.link_days) {
            return Err(ErrorBody::field("email.link_days", "link_days must be 1-90"));
        }
        Ok(())
    }
}

/// An address Baton will send to, checked strictly (stricter than a form's `is_email`): a
/// dot-atom local part and a domain of letters, digits and hyphens — nothing a header could
/// be bent with (no spaces, line breaks, quotes, commas, angle brackets). The domain is
/// lowercased.
pub fn address(s: &str) -> Result<String, ErrorBody> {
    let bad = |why: &str| Err(ErrorBody::field("email", format!("{s:?} is not an address we can send to: {why}")));
    let s = s.trim();
    if s.len() > 254 {
        return bad("it is longer than 254 characters");
    }
    let Some((local, domain)) = s.split_once('@') else {
        return bad("it has no @");
    };
    const ATEXT: &str = "!#$%&'*+-/=?^_`{|}~";
    if local.is_empty() || local.len() > 64 || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return bad("the part before @ is empty, too long or has stray dots");
    }
    if !local.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || ATEXT.contains(c)) {
        return bad("the part before @ may only have letters, digits, dots and !#$%&'*+-/=?^_`{|}~");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len()) && !l.starts_with('-') && !l.ends_with('-') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if labels.len() < 2
        || !labels.iter().all(label_ok)
        || !labels.last().is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()))
    {
        return bad("the domain after @ must look like example.com");
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// Text for a header (subject, a name): one line — control characters and line breaks become
/// spaces, runs of spaces one — cut to `max` characters.
pub fn header_text(s: &str, max: usize) -> String {
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let words: Vec<&str> = one_line.split_whitespace().collect();
    let t = words.join(" ");
    if t.chars().count() <= max {
        return t;
    }
    let mut cut: String = t.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// When the pending batch goes out: a quiet spell (`quiet_ms`) after the latest reply, but no
/// later than `max_wait_ms` after the first reply the visitor has not had.
pub fn due(first_pending: i64, now: i64, quiet_ms: i64, max_wait_ms: i64) -> i64 {
    (now + quiet_ms).min(first_pending + max_wait_ms).max(now)
}

/// What a signed link may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Open the conversation again (a new visitor token for it), until the link expires.
    Resume,
    /// Stop the emails of this conversation (does not expire).
    Unsubscribe,
}

impl Purpose {
    #[cfg(feature = "engine")]
    fn key(self) -> &'static str {
        match self {
            Purpose::Resume => "resume",
            Purpose::Unsubscribe => "unsubscribe",
        }
    }
}

/// The signature of a link: hex HMAC-SHA256 over purpose, site, conversation and expiry (unix
/// seconds; 0 for links that do not expire) — one conversation, one purpose.
#[cfg(feature = "engine")]
pub fn link_signature(key: &[u8], purpose: Purpose, site: &SiteId, id: &ConversationId, exp: i64) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("baton-link:v1:{}:{site}:{id}:{exp}", purpose.key()).as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// Checks a link's signature (in constant time) and expiry.
#[cfg(feature = "engine")]
pub fn verify_link(
    key: &[u8],
    purpose: Purpose,
    site: &SiteId,
    id: &ConversationId,
    exp: i64,
    signature: &str,
    now_secs: i64,
) -> Result<(), ErrorBody> {
    use hmac::Mac;
    let given = (signature.len() == 64).then(|| unhex(signature)).flatten();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("baton-link:v1:{}:{site}:{id}:{exp}", purpose.key()).as_bytes());
    if given.is_none_or(|g| mac.verify_slice(&g).is_err()) {
        return Err(ErrorBody::new(
            ErrorCode::Unauthorized,
            "this link is not valid: use the latest email's link, or write to the site again",
        ));
    }
    if purpose == Purpose::Resume && exp < now_secs {
        return Err(ErrorBody::new(
            ErrorCode::Unauthorized,
            "this link has expired: write to the site again, or reply to the latest email's link",
        ));
    }
    Ok(())
}

/// The links of one visitor email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Links {
    /// Opens the conversation again (`/c/:site/:id?e=&s=`).
    pub resume: String,
    /// The page with the unsubscribe button (`/u/:site/:id?s=`).
    pub unsubscribe: String,
    /// Where mail clients POST a one-click unsubscribe (RFC 8058).
    pub unsubscribe_post: String,
}

impl Links {
    pub fn new(origin: &str, site: &SiteId, id: &ConversationId, exp: i64, resume_sig: &str, unsubscribe_sig: &str) -> Links {
        let origin = origin.trim_end_matches('/');
        Links {
            resume: format!("{origin}/c/{site}/{id}?e={exp}&s={resume_sig}"),
            unsubscribe: format!("{origin}/u/{site}/{id}?s={unsubscribe_sig}"),
            unsubscribe_post: format!("{origin}/api/v1/sites/{site}/conversations/{id}/unsubscribe?s={unsubscribe_sig}"),
        }
    }
}

/// One email, ready for the binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub to: String,
    pub from: String,
    pub from_name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Extra headers (one line each, checked).
    pub headers: Vec<(String, String)>,
}

/// Entries of the thread an email shows at most (the latest), and characters of each.
const THREAD_ENTRIES: usize = 30;
const ENTRY_CHARS: usize = 1200;

/// The email to a visitor who left: the operators' replies after `since_seq` on top, then the
/// thread so far, the link back and the unsubscribe link. `None`: no new reply to send (or no
/// sendable address, or email off).
pub fn visitor_reply(config: &SiteConfig, to: &str, thread: &[Event], since_seq: u64, links: &Links) -> Option<Outgoing> {
    if !config.email.enabled() {
        return None;
    }
    let to = address(to).ok()?;
    let new: Vec<(&OperatorRef, &str)> = thread
        .iter()
        .filter(|e| e.seq > since_seq)
        .filter_map(|e| match &e.kind {
            EventKind::OperatorMessage { operator, text } => Some((operator, text.as_str())),
            _ => None,
        })
        .collect();
    let (first_name, _) = *new.first()?;
    let site = if config.name.trim().is_empty() { "Support".to_string() } else { config.name.trim().to_string() };
    let who = config.operator_display(first_name).name;
    let subject = header_text(&format!("{who} replied to your question on {site}"), 120);
    let lines: Vec<(String, String)> = thread
        .iter()
        .filter_map(|e| {
            let (who, text) = match &e.kind {
                EventKind::VisitorMessage { text } => ("You".to_string(), text.clone()),
                EventKind::BotAnswer { answer, .. } => (format!("{site} assistant"), answer.text.clone()),
                EventKind::OperatorMessage { operator, text } => (config.operator_display(operator).name, text.clone()),
                _ => return None,
            };
            Some((who, notify::cut(text.trim(), ENTRY_CHARS)))
        })
        .collect();
    let lines = &lines[lines.len().saturating_sub(THREAD_ENTRIES)..];
    let days = config.email.link_days;
    let mut text = String::new();
    let mut html = String::from("<!doctype html><html><body style=\"font:15px/1.5 system-ui,sans-serif;color:#111827\">");
    for (op, reply) in &new {
        let name = config.operator_display(op).name;
        text.push_str(&format!("{name} replied:\n\n{}\n\n", reply.trim()));
        html.push_str(&format!("<p><b>{} replied:</b></p><p>{}</p>", escape(&name), paragraphs(reply.trim())));
    }
    text.push_str(&format!(
        "Continue the conversation: {}\n(The link opens only this conversation and works for {days} days.)\n\n",
        links.resume
    ));
    html.push_str(&format!(
        "<p><a href=\"{}\" style=\"display:inline-block;padding:10px 16px;background:#111827;color:#fff;border-radius:8px;text-decoration:none\">Continue the conversation</a></p>\
         <p style=\"color:#6b7280;font-size:13px\">The link opens only this conversation and works for {days} days.</p>",
        escape(&links.resume)
    ));
    text.push_str("— The conversation so far —\n\n");
    html.push_str("<hr><h3 style=\"font-size:14px\">The conversation so far</h3>");
    for (who, body) in lines {
        text.push_str(&format!("{who}:\n{body}\n\n"));
        html.push_str(&format!("<p><b>{}:</b><br>{}</p>", escape(who), paragraphs(body)));
    }
    let footer = format!("You get this email because you left this address in the chat on {site}.");
    text.push_str(&format!("--\n{footer}\nStop these emails: {}\n", links.unsubscribe));
    html.push_str(&format!(
        "<hr><p style=\"color:#6b7280;font-size:13px\">{} <a href=\"{}\">Stop these emails</a>.</p></body></html>",
        escape(&footer),
        escape(&links.unsubscribe)
    ));
    Some(Outgoing {
        to,
        from: config.email.from.clone(),
        from_name: header_text(if config.email.from_name.is_empty() { &site } else { &config.email.from_name }, 80),
        subject,
        text,
        html,
        headers: vec![
            ("List-Unsubscribe".into(), format!("<{}>", links.unsubscribe_post)),
            ("List-Unsubscribe-Post".into(), "List-Unsubscribe=One-Click".into()),
        ],
    })
}

/// A handoff notification by email, for an operator who chose email over push.
pub fn operator_notice(config: &SiteConfig, to: &str, message: &notify::Message) -> Option<Outgoing> {
    if !config.email.enabled() {
        return None;
    }
    let to = address(to).ok()?;
    let site = if config.name.trim().is_empty() { "Baton".to_string() } else { config.name.trim().to_string() };
    let text = format!(
        "{}\n\n{}\n\nOpen it in the inbox: {}\n\n--\nChange what reaches you in the inbox: Notifications.\n",
        message.title, message.body, message.url
    );
    let html = format!(
        "<!doctype html><html><body style=\"font:15px/1.5 system-ui,sans-serif\"><p><b>{}</b></p><p>{}</p><p><a href=\"{}\">Open it in the inbox</a></p>\
         <p style=\"color:#6b7280;font-size:13px\">Change what reaches you in the inbox: Notifications.</p></body></html>",
        escape(&message.title),
        escape(&message.body),
        escape(&message.url)
    );
    Some(Outgoing {
        to,
        from: config.email.from.clone(),
        from_name: header_text(&format!("{site} inbox"), 80),
        subject: header_text(&format!("[{site}] {}", message.title), 140),
        text,
        html,
        headers: vec![("Auto-Submitted".into(), "auto-generated".into())],
    })
}

#[cfg(feature = "engine")]
fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// HTML-escapes text (element content and quoted attribute values).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped text with its line breaks kept.
fn paragraphs(s: &str) -> String {
    escape(s).replace('\n', "<br>")
}

/// Body of `POST /api/v1/sites/:site/conversations/:id/resume` (the resume page sends what
/// its link carried).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeRequest {
    /// Expiry, unix seconds.
    pub e: i64,
    /// Signature (hex).
    pub s: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_strictly_and_headers_stay_one_line() {
        assert_eq!(address(" Vis.Itor+tag@Example.ORG ").unwrap(), "Vis.Itor+tag@example.org");
        for bad in [
            "a@b",
            "no-at.example.com",
            "a@@b.com",
            "\"quoted\"@example.com",
            "a b@example.com",
            "a@example.com\r\nBcc: victim@example.com",
            "a@example.com>, <b@example.com",
            "a@exa_mple.com",
            ".a@example.com",
            "a..b@example.com",
            "a@-example.com",
            "a@example.c0m",
        ] {
            assert!(address(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(header_text("Hello\r\nBcc: x@y.z\tand  more", 100), "Hello Bcc: x@y.z and more");
        assert_eq!(header_text(&"x".repeat(300), 10).chars().count(), 10);
    }

    #[test]
    fn a_batch_goes_after_a_quiet_spell_or_the_longest_wait() {
        let c = EmailConfig { quiet_seconds: 60, max_wait_seconds: 300, ..Default::default() };
        let due = |first, now| due(first, now, c.quiet_ms(), c.max_wait_ms());
        assert_eq!(due(0, 0), 60_000);
        // Another reply 50 s later moves it on...
        assert_eq!(due(0, 50_000), 110_000);
        // ...but never past the first reply + max wait.
        assert_eq!(due(0, 280_000), 300_000);
        assert_eq!(due(0, 400_000), 400_000, "overdue: at once");
    }

    #[cfg(feature = "engine")]
    #[test]
    fn links_open_one_conversation_until_they_expire() {
        let site = SiteId::parse("acme").unwrap();
        let id = ConversationId::from_random([3; 16]);
        let other = ConversationId::from_random([4; 16]);
        let key = b"a-session-key-of-at-least-32-bytes!!";
        let sig = link_signature(key, Purpose::Resume, &site, &id, 2_000);
        assert!(verify_link(key, Purpose::Resume, &site, &id, 2_000, &sig, 1_000).is_ok());
        assert_eq!(verify_link(key, Purpose::Resume, &site, &id, 2_000, &sig, 2_001).unwrap_err().code, ErrorCode::Unauthorized, "expired");
        assert!(verify_link(key, Purpose::Resume, &site, &other, 2_000, &sig, 1_000).is_err(), "another conversation");
        assert!(verify_link(key, Purpose::Resume, &site, &id, 3_000, &sig, 1_000).is_err(), "a later expiry");
        assert!(verify_link(key, Purpose::Unsubscribe, &site, &id, 2_000, &sig, 1_000).is_err(), "another purpose");
        assert!(verify_link(b"another-key-another-key-another-key", Purpose::Resume, &site, &id, 2_000, &sig, 1_000).is_err());
        assert!(verify_link(key, Purpose::Resume, &site, &id, 2_000, "zz", 1_000).is_err());
        let unsub = link_signature(key, Purpose::Unsubscribe, &site, &id, 0);
        assert!(verify_link(key, Purpose::Unsubscribe, &site, &id, 0, &unsub, i64::MAX).is_ok(), "unsubscribing never expires");
    }

    fn ev(seq: u64, kind: EventKind) -> Event {
        Event { seq, at: seq as i64, client_id: None, kind }
    }

    #[test]
    fn the_visitor_gets_the_new_replies_the_thread_and_the_links() {
        let mut config = SiteConfig::default();
        config.name = "Acme Backup".into();
        config.email.from = "support@acme.example".into();
        config.operator_names.insert("dee@acme.example".into(), "Dee from Acme".into());
        let dee = OperatorRef { id: "dee@acme.example".into(), name: "Dee".into() };
        let thread = vec![
            ev(1, EventKind::Started { site: SiteId::parse("acme").unwrap(), page: None, lang: None }),
            ev(2, EventKind::VisitorMessage { text: "My <b>invoice</b> is wrong".into() }),
            ev(3, EventKind::OperatorJoined { operator: dee.clone() }),
            ev(4, EventKind::OperatorMessage { operator: dee.clone(), text: "Which one?".into() }),
            ev(5, EventKind::PrivateNote { operator: dee.clone(), text: "VIP customer, secret".into() }),
            ev(6, EventKind::OperatorMessage { operator: dee.clone(), text: "Fixed it:\nplease check".into() }),
        ];
        let links = Links::new(
            "https://chat.acme.example/",
            &SiteId::parse("acme").unwrap(),
            &ConversationId::from_random([3; 16]),
            99,
            "aa",
            "bb",
        );
        let m = visitor_reply(&config, "vis@example.org", &thread, 4, &links).unwrap();
        assert_eq!(m.subject, "Dee from Acme replied to your question on Acme Backup");
        assert!(m.text.starts_with("Dee from Acme replied:\n\nFixed it:\nplease check\n\n"), "{}", m.text);
        assert!(!m.text.starts_with("Dee from Acme replied:\n\nWhich one?"), "only replies after the last email are new");
        assert!(m.text.contains("You:\nMy <b>invoice</b> is wrong") && m.text.contains("Dee from Acme:\nWhich one?"));
        assert!(!m.text.contains("secret") && !m.html.contains("secret"), "private notes never leave the team");
        assert!(m.html.contains("My &lt;b&gt;invoice&lt;/b&gt; is wrong") && m.html.contains("Fixed it:<br>please check"));
        assert!(m.text.contains(&format!("Continue the conversation: {}", links.resume)));
        assert_eq!(links.resume, format!("https://chat.acme.example/c/acme/{}?e=99&s=aa", ConversationId::from_random([3; 16])));
        assert!(m.text.contains(&links.unsubscribe) && m.html.contains(&escape(&links.unsubscribe)));
        assert_eq!(m.headers[0], ("List-Unsubscribe".into(), format!("<{}>", links.unsubscribe_post)));
        assert_eq!((m.from.as_str(), m.from_name.as_str(), m.to.as_str()), ("support@acme.example", "Acme Backup", "vis@example.org"));
        // Nothing new, a bad address, or email off: no email.
        assert!(visitor_reply(&config, "vis@example.org", &thread, 6, &links).is_none());
        assert!(visitor_reply(&config, "vis@example.org\r\nBcc: x@y.z", &thread, 0, &links).is_none());
        config.email.from.clear();
        assert!(visitor_reply(&config, "vis@example.org", &thread, 0, &links).is_none());
    }

    #[test]
    fn config_mistakes_name_their_key() {
        let c = EmailConfig { from: "support@".into(), ..Default::default() };
        assert_eq!(c.validate().unwrap_err().field.as_deref(), Some("email.from"));
        let c = EmailConfig { quiet_seconds: 0, ..Default::default() };
        assert_eq!(c.validate().unwrap_err().field.as_deref(), Some("email.quiet_seconds"));
        let c = EmailConfig { quiet_seconds: 100, max_wait_seconds: 50, ..Default::default() };
        assert_eq!(c.validate().unwrap_err().field.as_deref(), Some("email.max_wait_seconds"));
        assert!(EmailConfig::default().validate().is_ok());
    }
}
