//! The `Conversation` object's part in issue 16's features, as small hooks in its routes, its
//! job dispatcher and `apply` (a child module, so it sees the object's fields):
//!
//! - **Assignment** (`/assign`): the site's `Inbox` records an automatic assignment here
//!   (`assign::Command::Auto`), operators assign by hand (`Manual`); the rules are
//!   `baton_shared::assign::decide`. An automatic assignment sets a `assign_lapse` job: not
//!   acknowledged by then, it goes back to the queue.
//! - **Email to a visitor who left**: an operator's reply while no visitor socket is connected
//!   schedules the `email` job (replaced by each further reply: one email per quiet spell,
//!   `email::due`); the job sends the replies the visitor has not seen, with the thread, a
//!   signed link back (`/resume` mints a new visitor token for it) and an unsubscribe link
//!   (`/unsubscribe`).

use super::*;
use baton_shared::assign::{self, Command};
use baton_shared::email::{self as mail, Purpose};

/// Job kinds (see `Conversation::run_job`).
pub const LAPSE_JOB: &str = "assign_lapse";
pub const EMAIL_JOB: &str = "email";
/// The emails of a conversation whose visitor unsubscribed (`meta`).
const EMAIL_OFF: &str = "email_off";
/// The last seq sent by email, and the last seq the visitor saw on a socket (`meta`).
const EMAIL_SENT: &str = "email_sent_seq";
const VISITOR_SEEN: &str = "visitor_seen_seq";
/// Extra visitor tokens minted by email links (hashes, newest last).
const LINK_TOKENS: &str = "link_tokens";
const MAX_LINK_TOKENS: usize = 5;
/// Worker variable shortening the email batch's quiet spell in tests (ms).
const EMAIL_QUIET_VAR: &str = "BATON_EMAIL_QUIET_MS";
/// Worker variable replacing `[assignment] ack_seconds` in tests (ms).
const ACK_VAR: &str = "BATON_ASSIGN_ACK_MS";

/// What an `/assign` call tells the caller: the conversation's row afterwards.
#[derive(Serialize, Deserialize)]
pub struct AssignReply {
    pub events: Vec<Event>,
    pub row: ConversationSummary,
}

#[derive(Serialize, Deserialize)]
struct LapsePayload {
    operator_id: String,
    at: i64,
}

impl Conversation {
    /// `POST /assign`: from the `Inbox` (no actor: `Auto`) or from the worker for an operator
    /// (`Manual`, the actor header names who).
    pub(super) async fn assign_http(&self, req: &mut Request) -> Handled {
        let before = self.load()?;
        let command: Command = crate::http::body(req).await?;
        let command = match (req.headers().get(ACTOR_HEADER)?, command) {
            (Some(a), Command::Manual { to, .. }) => {
                let Actor::Operator { operator } = serde_json::from_str::<Actor>(&a)? else {
                    return Err(api(ErrorCode::Forbidden, "only operators assign conversations"));
                };
                Command::Manual { to, by: operator }
            }
            (None, c @ Command::Auto { .. }) => c,
            _ => return Err(api(ErrorCode::Forbidden, "not an assignment this caller may make")),
        };
        let config = assets::site_config(&self.env, &before.site).await?;
        let command = match command {
            Command::Manual { to, by } => Command::Manual { to: to.map(|t| config.operator_display(&t)), by: config.operator_display(&by) },
            Command::Auto { operator } => Command::Auto { operator: config.operator_display(&operator) },
            c => c,
        };
        // ---- no await from here: decide and store together ----
        let st = self.load()?;
        let kinds = assign::decide(&st.ownership, &st.assignment, &command)?;
        let stored = self.store_system(kinds, &config)?;
        self.after_system(&stored).await;
        json(200, &AssignReply { events: stored.iter().map(|s| s.event.clone()).collect(), row: self.load()?.summary() })
    }

    /// Stores events that are not a client's frame (assignments), all in one statement, with
    /// the jobs they set (a lapse timer), in one synchronous step.
    fn store_system(&self, kinds: Vec<EventKind>, config: &SiteConfig) -> Result<Vec<Stored>, Failure> {
        if kinds.is_empty() {
            return Ok(vec![]);
        }
        let st = self.load()?;
        let now = now_ms();
        let mut next = st.clone();
        let mut events = Vec::with_capacity(kinds.len());
        for kind in kinds {
            let event = Event { seq: next.last_seq + 1, at: now, client_id: None, kind };
            let body = serde_json::to_string(&event)?;
            next.apply(&event);
            events.push(Stored { event, body });
        }
        // `BATON_ASSIGN_ACK_MS` shortens the acknowledgement time in tests.
        let mut rules = config.assignment.clone();
        if let Some(ms) = self.env.var(ACK_VAR).ok().and_then(|v| v.to_string().parse::<u32>().ok()) {
            rules.ack_seconds = 0;
            let due = next.assignment.lapses_at(&rules).map(|at| at + ms as i64);
            return self.finish_system(events, next, due, now);
        }
        let due = next.assignment.lapses_at(&rules);
        self.finish_system(events, next, due, now)
    }

    /// Stores system events with their lapse job, the inbox row's job and (when due) the
    /// snapshot in one transaction, as `apply` does for frames: all of it or nothing; the cached
    /// state moves on only once it committed.
    fn finish_system(&self, events: Vec<Stored>, next: ConversationState, due: Option<i64>, now: i64) -> Result<Vec<Stored>, Failure> {
        let sql = self.sql();
        let snapshot = self.snapshot_due(&next);
        crate::txn::transaction(&self.state.storage(), || {
            self.insert(&events, None)?;
            if let Some(due) = due {
                let op = next.assignment.operator.as_ref().map(|o| o.id.clone()).unwrap_or_default();
                jobs::add(&sql, LAPSE_JOB, due, &serde_json::to_string(&LapsePayload { operator_id: op, at: next.assignment.at })?)?;
            }
            if !jobs::exists(&sql, INBOX_JOB)? {
                jobs::add(&sql, INBOX_JOB, now + INBOX_SAFETY_MS, "")?;
            }
            if snapshot {
                self.set_meta(snapshot_key(), &serde_json::to_string(&next)?)?;
            }
            Ok(())
        })?;
        if snapshot {
            self.snapshot_seq.set(next.last_seq);
        }
        *self.cache.borrow_mut() = Some(next);
        Ok(events)
    }

    /// Relays stored system events and brings the inbox up to date.
    async fn after_system(&self, stored: &[Stored]) {
        if stored.is_empty() {
            return;
        }
        if let Err(e) = self.broadcast(stored) {
            console_error!("assignment not relayed: {e:?}");
        }
        if let Err(e) = jobs::arm(&self.state.storage()).await {
            self.jobs_checked.set(false);
            console_error!("alarm not set for the assignment's timer: {e}");
        }
        self.sync_inbox();
    }

    /// The `assign_lapse` job: the automatic assignment goes back to the queue unless it was
    /// acknowledged (or changed) meanwhile.
    pub(super) async fn lapse_job(&self, job: &Job) -> Next {
        let Ok(p) = serde_json::from_str::<LapsePayload>(&job.payload) else { return Next::Done };
        let Ok(st) = self.load() else { return Next::Done };
        let Ok(config) = assets::site_config(&self.env, &st.site).await else { return Next::RetryAt(now_ms() + 60_000) };
        let result = (|| {
            let st = self.load()?;
            let kinds = assign::decide(&st.ownership, &st.assignment, &Command::Lapse { operator_id: p.operator_id, at: p.at })?;
            self.store_system(kinds, &config)
        })();
        match result {
            Ok(stored) => self.after_system(&stored).await,
            Err(e) => console_error!("assignment lapse not stored: {e:?}"),
        }
        Next::Done
    }

    /// In `apply`'s synchronous step: an operator's reply while the visitor is away schedules
    /// (or moves on) the email job — one email per quiet spell. Whether it did (then the alarm
    /// is set for it).
    pub(super) fn schedule_email(&self, config: &SiteConfig, st: &ConversationState, events: &[Stored], now: i64) -> Result<bool, Failure> {
        let replied = events.iter().any(|e| matches!(e.event.kind, EventKind::OperatorMessage { .. }));
        if !replied || !config.email.enabled() || st.visitor_email.is_none() || self.visitor_here() || self.meta(EMAIL_OFF)?.is_some() {
            return Ok(false);
        }
        #[derive(Serialize, Deserialize)]
        struct Pending {
            first: i64,
        }
        let sql = self.sql();
        #[derive(Deserialize)]
        struct Row {
            payload: String,
        }
        let pending: Vec<Row> = sql.exec("SELECT payload FROM jobs WHERE kind = ? LIMIT 1", vec![EMAIL_JOB.into()])?.to_array()?;
        let first = pending.first().and_then(|r| serde_json::from_str::<Pending>(&r.payload).ok()).map_or(now, |p| p.first);
        let quiet = self.env.var(EMAIL_QUIET_VAR).ok().and_then(|v| v.to_string().parse::<i64>().ok()).unwrap_or(config.email.quiet_ms());
        let due = mail::due(first, now, quiet, config.email.max_wait_ms().max(quiet));
        jobs::replace(&sql, EMAIL_JOB, due, &serde_json::to_string(&Pending { first })?)?;
        Ok(true)
    }

    /// Whether a visitor socket is connected (and said hello): they see replies live.
    fn visitor_here(&self) -> bool {
        self.state.get_websockets_with_tag("visitor").iter().any(|ws| {
            let raw: &web_sys::WebSocket = ws.as_ref();
            // A socket closing right now is gone for this purpose.
            raw.ready_state() == web_sys::WebSocket::OPEN && socket_info(ws).is_some_and(|i| i.ready)
        })
    }

    /// Records how far the visitor has seen the thread (a visitor socket's hello, or its close).
    pub(super) fn visitor_saw(&self, seq: u64) {
        if let Err(e) = self.set_meta(VISITOR_SEEN, &seq.to_string()) {
            console_error!("visitor_seen not stored: {e:?}");
        }
    }

    fn meta_u64(&self, key: &str) -> u64 {
        self.meta(key).ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// The `email` job: the replies the visitor has not seen, by email.
    pub(super) async fn email_job(&self, job: &Job, now: i64) -> Next {
        let Ok(st) = self.load() else { return Next::Done };
        let Ok(config) = assets::site_config(&self.env, &st.site).await else { return Next::RetryAt(now + 60_000) };
        if self.meta(EMAIL_OFF).ok().flatten().is_some() {
            return Next::Done;
        }
        if self.visitor_here() {
            // Back meanwhile: the replies reached them live.
            return Next::Done;
        }
        let Some(to) = st.visitor_email.clone() else { return Next::Done };
        let since = self.meta_u64(EMAIL_SENT).max(self.meta_u64(VISITOR_SEEN));
        let origin = self.meta("origin").ok().flatten().unwrap_or_default();
        let key = match crate::auth::link_key(&self.env) {
            Ok(k) => k,
            Err(e) => {
                console_error!("visitor email not sent: {e:?}");
                return Next::Done;
            }
        };
        if origin.is_empty() {
            console_error!("visitor email not sent: the conversation has no origin for its links");
            return Next::Done;
        }
        let Ok(thread) = self.events_after(0) else { return Next::RetryAt(now + 60_000) };
        let exp = now / 1000 + config.email.link_days as i64 * 86_400;
        let links = mail::Links::new(
            &origin,
            &st.site,
            &st.id,
            exp,
            &mail::link_signature(&key, Purpose::Resume, &st.site, &st.id, exp),
            &mail::link_signature(&key, Purpose::Unsubscribe, &st.site, &st.id, 0),
        );
        let Some(out) = mail::visitor_reply(&config, &to, &thread, since, &links) else { return Next::Done };
        match crate::email::send(&self.env, &out).await {
            Ok(()) => {
                let _ = self.set_meta(EMAIL_SENT, &st.last_seq.to_string());
                Next::Done
            }
            Err(e) if job.attempts < 5 => {
                console_error!("visitor email failed (try {}): {e}", job.attempts + 1);
                Next::RetryAt(now + (30_000 << job.attempts))
            }
            Err(e) => {
                console_error!("visitor email given up: {e}");
                Next::Done
            }
        }
    }

    /// `POST /resume`: an email's link opens the conversation again — a new visitor token for
    /// this conversation only, if the link is genuine and unexpired.
    pub(super) async fn resume(&self, req: &mut Request) -> Handled {
        let st = self.load()?;
        let r: mail::ResumeRequest = crate::http::body(req).await?;
        let key = crate::auth::link_key(&self.env)?;
        mail::verify_link(&key, Purpose::Resume, &st.site, &st.id, r.e, &r.s, now_ms() / 1000)?;
        let mut token = [0u8; 32];
        getrandom02::getrandom(&mut token).map_err(|e| Failure::Internal(e.to_string()))?;
        let token = hex(&token);
        let mut hashes: Vec<String> = self.meta(LINK_TOKENS)?.and_then(|v| serde_json::from_str(&v).ok()).unwrap_or_default();
        hashes.push(token_hash(&token));
        let drop = hashes.len().saturating_sub(MAX_LINK_TOKENS);
        hashes.drain(..drop);
        self.set_meta(LINK_TOKENS, &serde_json::to_string(&hashes)?)?;
        json(200, &ConversationCreated { conversation_id: st.id, visitor_token: token })
    }

    /// Whether a token is one minted by an email link.
    pub(super) fn link_token_matches(&self, token: &str) -> Result<bool, Failure> {
        let given = token_hash(token);
        let hashes: Vec<String> = self.meta(LINK_TOKENS)?.and_then(|v| serde_json::from_str(&v).ok()).unwrap_or_default();
        Ok(hashes.iter().any(|h| bool::from(subtle::ConstantTimeEq::ct_eq(h.as_bytes(), given.as_bytes()))))
    }

    /// `POST /unsubscribe?s=`: the visitor's link stops this conversation's emails.
    pub(super) fn unsubscribe(&self, req: &Request) -> Handled {
        let st = self.load()?;
        let sig = crate::http::query(req, "s").unwrap_or_default();
        let key = crate::auth::link_key(&self.env)?;
        mail::verify_link(&key, Purpose::Unsubscribe, &st.site, &st.id, 0, &sig, now_ms() / 1000)?;
        self.set_meta(EMAIL_OFF, "1")?;
        self.sql().exec("DELETE FROM jobs WHERE kind = ?", vec![EMAIL_JOB.into()])?;
        json(200, &serde_json::json!({ "ok": true, "unsubscribed": true }))
    }
}
