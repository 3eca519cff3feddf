//! The `Conversation` Durable Object: one per conversation. It owns the append-only event log
//! (SQLite), the visitor's and operators' WebSockets (hibernatable), and nothing else.
//!
//! Every frame goes through `shared::conversation::decide`; this file only stores the events it
//! returns, in order, *before* anyone hears of them, then relays them: visitors get the visitor
//! view, operators everything. The site's `Inbox` object is told afterwards, off the critical
//! path (detached from the frame's handler, at most one update per 100 ms, always the newest
//! state), and is asked who is online right before a frame that may hand off.
//!
//! Storage: `events(seq, at, client_key, body)` is the log; `meta` holds the token hash, the
//! worker's public origin (for links in notifications) and a snapshot of the folded state,
//! rewritten every `SNAPSHOT_EVERY` events (not on every event: after a wake the state is the
//! snapshot plus the events after it, folded again); `jobs` is the object's scheduler on its
//! one alarm (`jobs.rs`): today the webhook outbox, written in the same step as the events.

mod attachments;
pub mod identity;

use crate::assets;
use crate::http::{api, error_response, json, parse_json, Failure, Handled};
use crate::jobs::{self, Job, Next};
use crate::limiter;
use crate::sessions;
use crate::txn;
use crate::webhooks;
use baton_shared::config::SiteConfig;
use baton_shared::conversation::{self, Actor, ConversationState, Ctx};
use baton_shared::protocol::*;
use baton_shared::sockets::{self, SocketView, TypingGate, TypingStep};
use baton_shared::turns::Turns;
use baton_shared::{ratelimit, retention};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use worker::*;

#[path = "conversation_team.rs"]
mod team;

/// Sockets one conversation holds once they proved themselves (a visitor's hello with the
/// token) or were authenticated by the worker (operators): a visitor's tabs, the operators on
/// it, and those watching. Beyond that, `too_many_connections`. Sockets that have not said
/// hello yet never count here (`shared::sockets`: their address's cap, a hello deadline).
pub const MAX_SOCKETS: usize = 64;
/// Header the worker sets after authenticating an operator; visitors never reach the object
/// with it (the worker builds the object's requests itself).
pub const ACTOR_HEADER: &str = "x-baton-actor";
/// Header the worker sets to the site of the API path: a conversation answers only under its
/// own site, so one site's operators (or visitors) can never reach another site's threads.
pub const SITE_HEADER: &str = "x-baton-site";
/// Header the worker sets to the caller's IP address (for the per-IP visitor limit).
pub const IP_HEADER: &str = "x-baton-ip";
/// Worker variable for the fault-injection test: a visitor message containing its value fails
/// half-way through its step (after its events and jobs are written), as a full disk would.
const FAULT_VAR: &str = "BATON_TEST_FAIL_STEP_ON";
/// The folded state is written to `meta` once per this many events (and at creation).
const SNAPSHOT_EVERY: u64 = 32;
/// The inbox row is updated at most once per this many milliseconds: a change after a quiet
/// spell goes out at once, the changes of a busy thread together (the newest state).
const INBOX_MIN_INTERVAL_MS: i64 = 100;
/// A socket's visitor frames are charged to their address at most once per this many ms...
const CHARGE_INTERVAL_MS: i64 = 1_000;
/// ...unless the address has fewer tokens left than this: then each is charged at once.
const CHARGE_AT_ONCE_BELOW: u32 = 10;
/// The inbox row is also brought up to date by a job this long after a change (`INBOX_JOB`):
/// the immediate update runs detached and in memory, so a crash, an eviction or a failed call
/// to the `Inbox` would otherwise leave the row stale until the next change.
const INBOX_SAFETY_MS: i64 = 2_000;
/// Job kinds of this object (see `jobs.rs`; webhooks have their own, `webhooks::JOB_KIND`).
const INBOX_JOB: &str = "inbox_row";
const RETENTION_JOB: &str = "retention";

/// What the worker sends to `/create`.
#[derive(Serialize, Deserialize)]
pub struct CreateRequest {
    pub id: ConversationId,
    pub site: SiteId,
    pub token_hash: String,
    pub page: Option<Page>,
    /// The visitor's language (a code Baton speaks, see `baton_shared::i18n::Lang`).
    #[serde(default)]
    pub lang: Option<String>,
    /// The worker's public origin as the visitor reached it: links in notifications.
    #[serde(default)]
    pub origin: Option<String>,
}

/// Per-socket identity, kept in the socket's attachment so it survives hibernation.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SocketInfo {
    actor: Actor,
    /// Random id naming the socket's frame queue (`turns`); kept across hibernation.
    #[serde(default)]
    socket: u64,
    /// Said hello (and, for a visitor, proved the token): receives live events.
    ready: bool,
    /// The client's IP address (for the per-IP visitor limit).
    #[serde(default)]
    ip: Option<String>,
    /// When the socket opened (ms): it has `sockets::HELLO_DEADLINE_MS` to say hello.
    #[serde(default)]
    opened_at: i64,
    /// An operator's session: the socket closes (4401) once it expires or signs out.
    #[serde(default)]
    session: Option<SocketSession>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct SocketSession {
    sid: String,
    /// Expiry, seconds since the epoch.
    exp: i64,
}

impl SocketInfo {
    fn view(&self) -> SocketView<'_> {
        SocketView {
            counted: self.ready || matches!(self.actor, Actor::Operator { .. }),
            address: self.ip.as_deref(),
            opened_at: self.opened_at,
        }
    }
}

/// An event as stored, with its stored JSON (sent to operators as it is).
struct Stored {
    event: Event,
    body: String,
}

/// The events one frame produced, and what to tell its sender.
struct Applied {
    events: Vec<Stored>,
    ack: Option<(String, u64)>,
    notice: Option<ErrorBody>,
    /// "The bot is typing" was shown to visitors and no answer followed: take it back.
    retract_typing: bool,
}

/// The inbox row update: at most one in flight (or waiting) per conversation (`busy`); a change
/// made while one is in flight (`dirty`) is sent after it, with the newest state.
#[derive(Default)]
struct InboxSync {
    busy: Cell<bool>,
    dirty: Cell<bool>,
    /// When the last update started (ms).
    last_sent: Cell<i64>,
    /// `last_seq` of the newest state the `Inbox` confirmed (0 since a wake): the safety job
    /// skips the call when it is current.
    synced_seq: Cell<u64>,
}

/// Visitor frames charged to their address (the `RateLimiter`), from the socket path in
/// batches: what is pending, whether a charge is on its way, and the addresses refused (until
/// their debt is paid back: a charge is never dropped, see `ratelimit::charge`).
#[derive(Default)]
struct Charges {
    pending: RefCell<HashMap<String, u32>>,
    busy: Cell<bool>,
    last_sent: Cell<i64>,
    /// Addresses over their message limit, until when (ms).
    throttled: RefCell<HashMap<String, i64>>,
    /// Addresses with few tokens left: charged at once, not batched, so that the moment their
    /// budget runs out is known within a round trip.
    low: RefCell<std::collections::HashSet<String>>,
}

/// Charges `cost` stored frames to the address's bucket (carried as debt if it lacks them); an
/// empty bucket throttles the address here until it has a token again.
async fn charge(env: &Env, charges: &Charges, site: &SiteId, ip: &str, cost: u32) {
    let Ok(config) = assets::site_config(env, site).await else { return };
    let per_ip = limiter::Limit::memory("messages-ip", config.limits.visitor_messages_per_ip.rule());
    match limiter::charge(env, &per_ip, &format!("{site}:{ip}"), cost).await {
        Ok(d) if !d.allowed => {
            charges.throttled.borrow_mut().insert(ip.to_string(), now_ms() + d.retry_after_ms);
            charges.low.borrow_mut().insert(ip.to_string());
        }
        Ok(d) => {
            charges.throttled.borrow_mut().remove(ip);
            if d.remaining < CHARGE_AT_ONCE_BELOW {
                charges.low.borrow_mut().insert(ip.to_string());
            } else {
                charges.low.borrow_mut().remove(ip);
            }
        }
        // The limiter is down: let visitors through (logged), as for sign-in.
        Err(e) => console_error!("rate limiter unavailable, not limiting {ip}: {e:?}"),
    }
}

/// A stored event as a socket frame (`ServerMsg::Event`), from its JSON.
fn event_frame(event_json: &str) -> String {
    format!(r#"{{"type":"event","event":{event_json}}}"#)
}

/// The snapshot in `meta`: the folded state up to `state.last_seq`.
fn snapshot_key() -> &'static str {
    "state"
}

pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

pub fn now_ms() -> i64 {
    Date::now().as_millis() as i64
}

#[durable_object]
pub struct Conversation {
    state: State,
    env: Env,
    /// The folded state, kept between events; rebuilt from storage after a wake. Shared with
    /// the detached inbox update, which sends the newest state.
    cache: Rc<RefCell<Option<ConversationState>>>,
    /// `last_seq` of the snapshot in storage (0: unknown since the wake; rewritten soon).
    snapshot_seq: Cell<u64>,
    /// The tables exist (checked once per wake; an id nobody created never gets tables).
    schema: Cell<bool>,
    /// Whether operators were online when the `Inbox` last said so; `None` since a wake.
    operators_online: Rc<Cell<Option<bool>>>,
    inbox: Rc<InboxSync>,
    /// The jobs table exists and the alarm was checked against it (once per wake: a crash
    /// between storing a job and setting the alarm is healed by the next request).
    jobs_checked: Cell<bool>,
    /// One frame at a time per socket, in arrival order: workerd delivers the next message as
    /// soon as a handler awaits something that is not storage (config, engine, presence), so a
    /// visitor's second message could otherwise be stored before the first.
    turns: Rc<Turns>,
    /// Set by the retention job; the alarm erases the conversation once its jobs are done.
    erase_due: Cell<bool>,
    /// The per-address message limit: what is charged, what is refused (see `visitor_limits`).
    charges: Rc<Charges>,
    /// Typing indicators relayed, per typist ("visitor", or the operator's id): at most one a
    /// second, the newest state last (`shared::sockets::TypingGate`).
    typing: Rc<RefCell<HashMap<String, TypingGate>>>,
}

impl DurableObject for Conversation {
    fn new(state: State, env: Env) -> Self {
        Conversation {
            state,
            env,
            cache: Rc::new(RefCell::new(None)),
            snapshot_seq: Cell::new(0),
            schema: Cell::new(false),
            operators_online: Rc::new(Cell::new(None)),
            inbox: Rc::new(InboxSync::default()),
            jobs_checked: Cell::new(false),
            turns: Rc::new(Turns::default()),
            erase_due: Cell::new(false),
            charges: Rc::new(Charges::default()),
            typing: Rc::new(RefCell::new(HashMap::new())),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.check_jobs().await;
        Ok(self.route(&mut req).await.unwrap_or_else(error_response))
    }

    /// Runs the due jobs (webhook deliveries; see `jobs.rs` to add a kind), then re-arms.
    /// An error (storage) makes the runtime retry the alarm.
    async fn alarm(&self) -> Result<Response> {
        let now = now_ms();
        jobs::run_due(&self.state.storage(), now, |job| self.run_job(job, now)).await?;
        if self.erase_due.replace(false) {
            if let Err(e) = self.erase(true).await {
                // Not erased (the inbox could not be told): look again in a minute.
                console_error!("retention: erase failed, retrying: {e:?}");
                jobs::replace(&self.sql(), RETENTION_JOB, now_ms() + 60_000, "")?;
                jobs::arm(&self.state.storage()).await?;
            }
        }
        Response::ok("")
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        // The ticket is taken before the first await, so tickets follow arrival order.
        let ticket = self.turns.ticket(socket_info(&ws).map_or(0, |i| i.socket));
        ticket.wait().await;
        self.check_jobs().await;
        if let Err(f) = self.on_frame(&ws, message).await {
            let e = match f {
                Failure::Api(e) => e,
                Failure::Internal(why) => {
                    console_error!("conversation frame: {why}");
                    ErrorBody::new(ErrorCode::Internal, "something went wrong on our side; try again")
                }
            };
            send(&ws, &ServerMsg::Error { error: e, client_id: None });
        }
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, _code: usize, _reason: String, _clean: bool) -> Result<()> {
        // Complete the closing handshake; the socket is gone either way.
        let _ = ws.close(Some(1000), Some("closed"));
        // A visitor leaving has seen everything so far (emails start after it).
        if socket_info(&ws).is_some_and(|i| i.ready && i.actor == Actor::Visitor) {
            if let Ok(st) = self.load() {
                self.visitor_saw(st.last_seq);
            }
        }
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, _error: Error) -> Result<()> {
        Ok(())
    }
}

impl Conversation {
    /// The dispatcher of the object's jobs, by kind. A new kind adds an arm.
    async fn run_job(&self, job: Job, now: i64) -> Next {
        match job.kind.as_str() {
            webhooks::JOB_KIND => webhooks::run(&self.env, &job, now).await,
            INBOX_JOB => self.inbox_job(&job, now).await,
            RETENTION_JOB => self.retention_job(now).await,
            team::LAPSE_JOB => self.lapse_job(&job).await,
            team::EMAIL_JOB => self.email_job(&job, now).await,
            other => {
                console_error!("job {} of unknown kind {other:?} dropped", job.id);
                Next::Done
            }
        }
    }

    /// Once per wake: the jobs table exists, and if jobs are waiting the alarm is set for them.
    async fn check_jobs(&self) {
        if self.jobs_checked.get() {
            return;
        }
        self.jobs_checked.set(true);
        let result: Result<()> = async {
            if self.has_schema().map_err(|e| Error::RustError(format!("{e:?}")))? {
                let sql = self.sql();
                jobs::ensure_schema(&sql)?;
                // Conversations from before retention existed, or of a site that had it off
                // when the job last ran, get their retention job back.
                if !jobs::exists(&sql, RETENTION_JOB)? {
                    jobs::add(&sql, RETENTION_JOB, now_ms(), "")?;
                }
                jobs::arm(&self.state.storage()).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            self.jobs_checked.set(false);
            console_error!("jobs check failed: {e}");
        }
    }

    async fn route(&self, req: &mut Request) -> Handled {
        let path = req.path();
        if path != "/create" {
            self.check_site(req)?;
        }
        match (req.method(), path.as_str()) {
            (Method::Post, "/create") => self.create(req).await,
            (Method::Get, "/ws") => self.accept_socket(req),
            (Method::Get, "/events") => self.events_http(req),
            (Method::Post, "/command") => self.command_http(req).await,
            (Method::Get, "/export") => self.export(req),
            (Method::Post, "/sessions/revoke") => {
                let r: sessions::Revoked = crate::http::body(req).await?;
                self.revoke_session(&r)?;
                json(200, &serde_json::json!({ "ok": true }))
            }
            (Method::Post, "/assign") => self.assign_http(req).await,
            (Method::Post, "/resume") => self.resume(req).await,
            (Method::Post, "/unsubscribe") => self.unsubscribe(req),
            (Method::Post, "/erase") => {
                conversation::may_erase(&self.http_actor(req)?)?;
                let id = self.load()?.id;
                self.erase(false).await?;
                json(200, &serde_json::json!({ "ok": true, "erased": id }))
            }
            // Files (attachments.rs) and identity (identity.rs).
            (Method::Post, "/attach") => self.attach(req).await,
            (Method::Get, p) if p.starts_with("/attachments/") => self.serve_attachment(req, &p["/attachments/".len()..]).await,
            (Method::Post, "/tokens") => self.add_token(req).await,
            (Method::Post, "/signout") => self.signout(req),
            (Method::Get, "/identity") => self.identity_of(req),
            (Method::Post, "/erase_user") => self.erase_for_user(req).await,
            _ => Err(api(ErrorCode::NotFound, "no such conversation route")),
        }
    }

    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    /// A conversation exists only under its own site's API path: anything else is told it does
    /// not exist (not "forbidden", which would confirm the id).
    fn check_site(&self, req: &Request) -> Result<(), Failure> {
        let st = self.load()?;
        match req.headers().get(SITE_HEADER)? {
            Some(site) if site != st.site.as_str() => Err(api(ErrorCode::UnknownConversation, "no such conversation: start a new one")),
            _ => Ok(()),
        }
    }

    fn ensure_schema(&self) -> Result<(), Failure> {
        let sql = self.sql();
        // `client_id` holds the sender-scoped key (`Actor::client_key`); the event body keeps the
        // client's own id.
        sql.exec(
            "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, client_id TEXT, body TEXT NOT NULL)",
            None,
        )?;
        sql.exec("CREATE UNIQUE INDEX IF NOT EXISTS events_client_id ON events(client_id) WHERE client_id IS NOT NULL", None)?;
        sql.exec("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)", None)?;
        jobs::ensure_schema(&sql)?;
        self.schema.set(true);
        Ok(())
    }

    fn has_schema(&self) -> Result<bool, Failure> {
        if !self.schema.get() {
            let tables: Vec<serde_json::Value> =
                self.sql().exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'", None)?.to_array()?;
            self.schema.set(!tables.is_empty());
        }
        Ok(self.schema.get())
    }

    fn meta(&self, key: &str) -> Result<Option<String>, Failure> {
        #[derive(Deserialize)]
        struct Row {
            v: String,
        }
        if !self.has_schema()? {
            return Ok(None);
        }
        let rows: Vec<Row> = self.sql().exec("SELECT v FROM meta WHERE k = ?", vec![key.into()])?.to_array()?;
        Ok(rows.into_iter().next().map(|r| r.v))
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), Failure> {
        self.sql()
            .exec("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v", vec![key.into(), value.into()])?;
        Ok(())
    }

    /// The conversation's state, or `unknown_conversation` if it was never created (or erased):
    /// the snapshot plus every event after it, folded.
    fn load(&self) -> Result<ConversationState, Failure> {
        if let Some(s) = self.cache.borrow().as_ref() {
            return Ok(s.clone());
        }
        let Some(raw) = self.meta(snapshot_key())? else {
            return Err(api(ErrorCode::UnknownConversation, "no such conversation: start a new one"));
        };
        let mut s: ConversationState = serde_json::from_str(&raw)?;
        self.snapshot_seq.set(s.last_seq);
        for e in self.events_after(s.last_seq)? {
            s.apply(&e);
        }
        *self.cache.borrow_mut() = Some(s.clone());
        Ok(s)
    }

    /// Whether the state after a step is to be written as the snapshot (enough events have
    /// piled up since the last; the snapshot only saves folding after a wake).
    fn snapshot_due(&self, s: &ConversationState) -> bool {
        s.last_seq >= self.snapshot_seq.get() + SNAPSHOT_EVERY
    }

    /// Appends a frame's events in one statement, so they are stored all together or not at
    /// all (a resent client id fails the whole statement on the unique index). One event: plain
    /// bindings; several: one JSON array, because a statement takes at most 100 bindings.
    fn insert(&self, events: &[Stored], client_key: Option<&str>) -> Result<(), Failure> {
        let key = client_key.map(str::to_string);
        if let [one] = events {
            let e = &one.event;
            self.sql().exec(
                "INSERT INTO events (seq, at, client_id, body) VALUES (?, ?, ?, ?)",
                vec![(e.seq as i64).into(), e.at.into(), key.into(), one.body.as_str().into()],
            )?;
            return Ok(());
        }
        let rows: Vec<serde_json::Value> = events
            .iter()
            .enumerate()
            .map(|(i, s)| serde_json::json!([s.event.seq, s.event.at, if i == 0 { key.clone() } else { None }, s.body]))
            .collect();
        self.sql().exec(
            "INSERT INTO events (seq, at, client_id, body) \
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]') \
             FROM json_each(?)",
            vec![serde_json::to_string(&rows)?.into()],
        )?;
        Ok(())
    }

    fn events_after(&self, after: u64) -> Result<Vec<Event>, Failure> {
        #[derive(Deserialize)]
        struct Row {
            body: String,
        }
        let after = after.min(i64::MAX as u64) as i64;
        let rows: Vec<Row> = self.sql().exec("SELECT body FROM events WHERE seq > ? ORDER BY seq", vec![after.into()])?.to_array()?;
        rows.into_iter().map(|r| serde_json::from_str(&r.body).map_err(Failure::from)).collect()
    }

    fn seq_of_client_key(&self, key: &str) -> Result<Option<u64>, Failure> {
        #[derive(Deserialize)]
        struct Row {
            seq: f64,
        }
        let rows: Vec<Row> = self.sql().exec("SELECT seq FROM events WHERE client_id = ?", vec![key.into()])?.to_array()?;
        Ok(rows.first().map(|r| r.seq as u64))
    }

    fn token_matches(&self, token: &str) -> Result<bool, Failure> {
        let stored = self.meta("token_hash")?.unwrap_or_default();
        let given = token_hash(token);
        let first: bool = !stored.is_empty() && subtle::ConstantTimeEq::ct_eq(stored.as_bytes(), given.as_bytes()).into();
        // Or one given to a verified user's other device (identity.rs), or minted from an
        // email link (issue 16).
        Ok(first || self.extra_token_matches(&given)? || self.link_token_matches(token)?)
    }

    /// Who is calling over HTTP: an operator (set by the worker) or the visitor with the token.
    fn http_actor(&self, req: &Request) -> Result<Actor, Failure> {
        if let Some(a) = req.headers().get(ACTOR_HEADER)? {
            return Ok(serde_json::from_str(&a)?);
        }
        let token = crate::http::bearer(req)
            .ok_or_else(|| api(ErrorCode::Unauthorized, "send the conversation token as 'Authorization: Bearer <token>'"))?;
        if !self.token_matches(&token)? {
            return Err(api(ErrorCode::Unauthorized, "wrong token for this conversation"));
        }
        Ok(Actor::Visitor)
    }

    async fn create(&self, req: &mut Request) -> Handled {
        let c: CreateRequest = crate::http::body(req).await?;
        let config = assets::site_config(&self.env, &c.site).await?;
        self.ensure_schema()?;
        if self.meta(snapshot_key())?.is_some() {
            return Err(api(ErrorCode::Conflict, "conversation exists"));
        }
        let now = now_ms();
        let mut st = ConversationState::new(c.id.clone(), c.site.clone(), now);
        let ev = Event {
            seq: 1,
            at: now,
            client_id: None,
            kind: EventKind::Started { site: c.site.clone(), page: c.page.clone(), lang: c.lang.clone() },
        };
        let started = Stored { body: serde_json::to_string(&ev)?, event: ev };
        st.apply(&started.event);
        // All or nothing: a conversation with its first event, token, snapshot and jobs.
        txn::transaction(&self.state.storage(), || {
            self.insert(std::slice::from_ref(&started), None)?;
            self.set_meta("token_hash", &c.token_hash)?;
            if let Some(origin) = &c.origin {
                self.set_meta("origin", origin)?;
            }
            self.set_meta(snapshot_key(), &serde_json::to_string(&st)?)?;
            let sql = self.sql();
            jobs::add(&sql, INBOX_JOB, now + INBOX_SAFETY_MS, "")?;
            // Retention looks first at the end of the site's period (the job moves itself on
            // while the conversation is active, so events cost nothing).
            let first_look = retention::erase_at(now, config.retention_days, self.day_ms()).unwrap_or(now + retention::DAY_MS);
            jobs::add(&sql, RETENTION_JOB, first_look, "")?;
            Ok(())
        })?;
        self.snapshot_seq.set(st.last_seq);
        *self.cache.borrow_mut() = Some(st);
        jobs::arm(&self.state.storage()).await?;
        self.jobs_checked.set(true);
        self.sync_inbox();
        json(201, &serde_json::json!({ "ok": true }))
    }

    /// Accepts a socket. A visitor's is *pending* until its hello proves the token: it counts
    /// against its address's cap, not the conversation's, and has a few seconds to say hello
    /// (`shared::sockets`); sockets past that deadline are closed here, as each new one arrives.
    fn accept_socket(&self, req: &Request) -> Handled {
        self.load()?;
        let actor: Actor = match req.headers().get(ACTOR_HEADER)? {
            Some(a) => serde_json::from_str(&a)?,
            None => Actor::Visitor,
        };
        let ip = req.headers().get(IP_HEADER)?;
        let now = now_ms();
        let mut live = Vec::new();
        for ws in self.state.get_websockets() {
            match socket_info(&ws) {
                Some(info) if info.view().overdue(now) => close_overdue(&ws),
                Some(info) => live.push(info),
                None => {}
            }
        }
        let counted = matches!(actor, Actor::Operator { .. });
        sockets::admit(live.iter().map(SocketInfo::view), ip.as_deref(), counted, MAX_SOCKETS).map_err(|r| Failure::Api(refusal(r)))?;
        let session = match (req.headers().get(crate::inbox::SID_HEADER)?, req.headers().get(crate::inbox::EXP_HEADER)?) {
            (Some(sid), Some(exp)) if counted => Some(SocketSession { sid, exp: exp.parse().unwrap_or(0) }),
            _ => None,
        };
        let pair = WebSocketPair::new()?;
        let tag = match actor.role() {
            Role::Visitor => "visitor",
            Role::Operator => "operator",
        };
        self.state.accept_websocket_with_tags(&pair.server, &[tag]);
        let socket = (js_sys::Math::random() * (1u64 << 53) as f64) as u64;
        let info = SocketInfo { actor, socket, ready: false, ip, opened_at: now, session };
        pair.server.serialize_attachment(serde_json::to_string(&info)?)?;
        Ok(Response::from_websocket(pair.client)?)
    }

    fn events_http(&self, req: &Request) -> Handled {
        let st = self.load()?;
        let actor = self.http_actor(req)?;
        let after = crate::http::query(req, "after").and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
        let events = self.events_after(after)?.into_iter().filter_map(|e| view(&actor, &e)).collect();
        json(200, &EventPage { ownership: Some(st.ownership), events })
    }

    async fn command_http(&self, req: &mut Request) -> Handled {
        self.load()?;
        let actor = self.http_actor(req)?;
        let msg: ClientMsg = crate::http::body(req).await?;
        let msg = self.prepare(&actor, msg).await?;
        if matches!(msg, ClientMsg::Hello { .. } | ClientMsg::Typing { .. }) {
            return Err(api(ErrorCode::UnknownCommand, "hello and typing are socket frames"));
        }
        let ip = req.headers().get(IP_HEADER)?;
        self.visitor_limits(&actor, &msg, ip.as_deref()).await?;
        let applied = self.apply(&actor, &msg).await?;
        self.broadcast(&applied.events)?;
        if applied.retract_typing {
            self.bot_typing(false);
        }
        if !applied.events.is_empty() {
            self.sync_inbox();
            self.charge_address_now(&actor, &msg, ip.as_deref()).await;
        }
        if let Some(n) = applied.notice {
            return Err(Failure::Api(n));
        }
        let events = applied.events.iter().filter_map(|e| view(&actor, &e.event)).collect();
        json(200, &CommandResult { events })
    }

    fn export(&self, req: &Request) -> Handled {
        let st = self.load()?;
        conversation::may_export(&self.http_actor(req)?)?;
        // A typed body, not `json!`: a `Value` would widen the answers' f32 confidences to f64
        // digits, and the export must be the log as stored and sent.
        #[derive(Serialize)]
        struct Export {
            conversation: ConversationSummary,
            events: Vec<Event>,
        }
        json(200, &Export { conversation: st.summary(), events: self.events_after(0)? })
    }

    /// Stores what a frame decides. First, with awaits: the site config, the engine if the bot
    /// may answer (its handoff classifier may then decide to hand off instead: `plan` is asked
    /// again with it), and — if the frame may hand off — who is online right now. Then the
    /// synchronous part (load → decide → one transaction: events, webhooks, jobs, snapshot →
    /// the cached state) with no `await` inside, so no other frame can interleave and the
    /// step is all or nothing.
    ///
    /// A resent client id is caught by the unique index when its first event is inserted (no
    /// lookup on the hot path): nothing is stored and the resend is acknowledged with the seq
    /// it was stored as the first time.
    async fn apply(&self, actor: &Actor, msg: &ClientMsg) -> Result<Applied, Failure> {
        let before = self.load()?;
        let config = assets::site_config(&self.env, &before.site).await?;
        let mut plan = conversation::plan(&before, actor, msg, &config, None);
        let engine = match plan.bot_question {
            Some(_) => assets::engine(&self.env, &before.site).await.ok(),
            None => None,
        };
        if let Some(engine) = &engine {
            plan = conversation::plan(&before, actor, msg, &config, Some(engine));
        }
        let typing = plan.bot_question.is_some() && self.stored_seq(actor, msg)?.is_none();
        if typing {
            self.bot_typing(true);
        }
        let operators_online =
            if plan.may_hand_off { self.presence_now(&before.site).await } else { self.operators_online.get().unwrap_or(false) };
        // An LLM-rephrased answer needs a network call, so it is prepared here, before the
        // synchronous section; `decide` uses it instead of asking the engine.
        let prepared_answer = match (&engine, msg) {
            (Some(engine), ClientMsg::Message { text, .. }) if plan.bot_question.is_some() && crate::llm::configured(&self.env) => {
                Some(crate::llm::answer(&self.env, engine, text, &before.recent_questions, &before.site, &config).await)
            }
            _ => None,
        };

        // ---- no await from here to the commit (the events, their webhooks, the new state) ----
        let st = self.load()?;
        let client_id = msg.client_id().map(str::to_string);
        let resent = |seq: u64| Applied { events: vec![], ack: client_id.clone().map(|c| (c, seq)), notice: None, retract_typing: typing };
        let ctx = Ctx { now: now_ms(), config: &config, engine: engine.as_deref(), operators_online, prepared_answer };
        let out = match conversation::decide(&st, actor, msg, &ctx) {
            Ok(out) => out,
            // Refused now, but perhaps accepted the first time (a resent take-over after the
            // state moved on): then it is a resend.
            Err(e) => return self.stored_seq(actor, msg)?.map(resent).ok_or(Failure::Api(e)),
        };
        if out.events.is_empty() {
            let seq = self.stored_seq(actor, msg)?.unwrap_or(st.last_seq);
            return Ok(Applied { events: vec![], ack: client_id.map(|c| (c, seq)), notice: out.notice, retract_typing: typing });
        }
        let mut events = Vec::with_capacity(out.events.len());
        let mut next = st.clone();
        for (i, kind) in out.events.into_iter().enumerate() {
            let event = Event { seq: next.last_seq + 1, at: ctx.now, client_id: if i == 0 { client_id.clone() } else { None }, kind };
            let body = serde_json::to_string(&event)?;
            next.apply(&event);
            events.push(Stored { event, body });
        }
        let client_key = client_id.as_deref().map(|c| actor.client_key(c));
        let snapshot = self.snapshot_due(&next);
        let fault = self.fault_injected(msg);
        // One transaction: the events, the webhook deliveries they fire, the inbox row's job and
        // the snapshot commit together, or nothing does; the cached state moves on only once
        // they did. (Before, a failure after the insert left the events stored but unsent and
        // the cache behind storage: every later frame reused a stored seq and failed.)
        let committed = txn::transaction(&self.state.storage(), || {
            self.insert(&events, client_key.as_deref())?;
            // The webhooks these events fire go into the outbox with them.
            let queued = if config.webhooks.is_empty() {
                0
            } else {
                let origin = self.meta("origin")?.unwrap_or_default();
                let fired: Vec<Event> = events.iter().map(|e| e.event.clone()).collect();
                webhooks::enqueue(&self.sql(), &config, &origin, &st, &fired, ctx.now)?
            };
            // The inbox row's safety net: a crash right after this frame still brings the row up
            // to date (see `INBOX_SAFETY_MS`). One pending job covers every change until it
            // runs, so a busy thread adds no job (and no alarm call) per event: awaiting the
            // alarm here would hold the frame until the writes are on disk, tripling latency.
            let safety_net = !jobs::exists(&self.sql(), INBOX_JOB)?;
            if safety_net {
                jobs::add(&self.sql(), INBOX_JOB, ctx.now + INBOX_SAFETY_MS, "")?;
            }
            if fault {
                // The fault-injection test: a statement that fails, as a full disk would.
                self.sql().exec("INSERT INTO injected_fault (x) VALUES (1)", None)?;
            }
            if snapshot {
                self.set_meta(snapshot_key(), &serde_json::to_string(&next)?)?;
            }
            Ok((queued, safety_net))
        });
        let (queued, safety_net) = match committed {
            Ok(done) => done,
            // Nothing was written. A resent client id fails the insert on the unique index: then
            // it is acknowledged with the seq it was stored as the first time.
            Err(e) => match self.stored_seq(actor, msg)? {
                Some(seq) => return Ok(resent(seq)),
                None => {
                    if typing {
                        self.bot_typing(false);
                    }
                    return Err(e);
                }
            },
        };
        if snapshot {
            self.snapshot_seq.set(next.last_seq);
        }
        // A reply while the visitor is away: the email batch (issue 16). Scheduled after the
        // commit; a failure here is logged and the reply still stands.
        if let Err(e) = self.schedule_email(&config, &next, &events, ctx.now) {
            console_error!("visitor email not scheduled: {e:?}");
        }
        let email_queued = jobs::exists(&self.sql(), team::EMAIL_JOB).unwrap_or(false);
        *self.cache.borrow_mut() = Some(next);
        if queued > 0 || safety_net || email_queued {
            if let Err(e) = jobs::arm(&self.state.storage()).await {
                // The jobs are stored; the next request to this object sets the alarm.
                self.jobs_checked.set(false);
                console_error!("alarm not set ({queued} webhook(s) queued): {e}");
            }
        }
        let answered = events.iter().any(|e| matches!(e.event.kind, EventKind::BotAnswer { .. }));
        let ack = client_id.map(|c| (c, events[0].event.seq));
        Ok(Applied { events, ack, notice: out.notice, retract_typing: typing && !answered })
    }

    /// Whether the fault-injection test asks this frame's step to fail half-way (`FAULT_VAR`: a
    /// test-only worker variable, unset in production).
    fn fault_injected(&self, msg: &ClientMsg) -> bool {
        let ClientMsg::Message { text, .. } = msg else { return false };
        self.env.var(FAULT_VAR).map(|v| v.to_string()).is_ok_and(|marker| !marker.is_empty() && text.contains(&marker))
    }

    /// The seq this frame's client id was stored as, if it was (a resend).
    fn stored_seq(&self, actor: &Actor, msg: &ClientMsg) -> Result<Option<u64>, Failure> {
        match msg.client_id() {
            Some(c) => self.seq_of_client_key(&actor.client_key(c)),
            None => Ok(None),
        }
    }

    /// Sends stored events to every ready socket, each in its own view. Operators get the
    /// stored bytes as they are; the visitor view is serialised only where it differs.
    fn broadcast(&self, events: &[Stored]) -> Result<(), Failure> {
        if events.is_empty() {
            return Ok(());
        }
        let mut for_operators = Vec::with_capacity(events.len());
        let mut for_visitors = Vec::with_capacity(events.len());
        for e in events {
            let frame = event_frame(&e.body);
            match e.event.visitor_view() {
                Some(Cow::Borrowed(_)) => for_visitors.push(frame.clone()),
                Some(Cow::Owned(v)) => for_visitors.push(event_frame(&serde_json::to_string(&v)?)),
                None => {}
            }
            for_operators.push(frame);
        }
        let now_secs = now_ms() / 1000;
        for ws in self.state.get_websockets() {
            let Some(info) = socket_info(&ws) else {
                continue;
            };
            if !info.ready {
                continue;
            }
            // An operator socket whose session expired hears nothing more (signed-out ones were
            // closed at logout).
            if info.session.as_ref().is_some_and(|s| s.exp <= now_secs) {
                let _ = ws.close(Some(ErrorCode::Unauthorized.close_code()), Some("session expired"));
                continue;
            }
            let frames = match info.actor {
                Actor::Visitor => &for_visitors,
                Actor::Operator { .. } => &for_operators,
            };
            for f in frames {
                let _ = ws.send_with_str(f);
            }
        }
        Ok(())
    }

    /// "The bot is typing…" to visitors, while it composes. Only ever called when `plan` says
    /// the bot will answer, so never while a human is waited for or owns the thread.
    fn bot_typing(&self, on: bool) {
        let frame = ServerMsg::Typing { who: Typist::Bot, on };
        for ws in self.state.get_websockets_with_tag("visitor") {
            if socket_info(&ws).is_some_and(|i| i.ready) {
                send(&ws, &frame);
            }
        }
    }

    /// Asks the site's `Inbox` whether an operator is online now (right before a handoff, so
    /// the visitor is told the truth). If the inbox cannot be reached: the last answer, or no.
    async fn presence_now(&self, site: &SiteId) -> bool {
        let result: Result<bool, Failure> = async {
            let stub = self.env.durable_object("INBOX")?.get_by_name(site.as_str())?;
            let mut resp = stub.fetch_with_str("https://inbox/presence").await?;
            #[derive(Deserialize)]
            struct Reply {
                operators_online: bool,
            }
            Ok(resp.json::<Reply>().await?.operators_online)
        }
        .await;
        match result {
            Ok(online) => {
                self.operators_online.set(Some(online));
                online
            }
            Err(e) => {
                console_error!("inbox presence failed: {e:?}");
                self.operators_online.get().unwrap_or(false)
            }
        }
    }

    /// Brings the site's inbox row up to date, off the critical path: the update runs detached,
    /// so this frame's handler returns at once and the socket's next frame is not held behind
    /// a round trip to the `Inbox` (a socket's frames are handled one at a time, see `turns`).
    /// The `INBOX_JOB` stored with each change is the durable fallback.
    /// At most one update is in flight, and at most one starts per `INBOX_MIN_INTERVAL_MS`;
    /// changes made meanwhile go out together, with the newest state.
    fn sync_inbox(&self) {
        let sync = self.inbox.clone();
        if sync.busy.get() {
            sync.dirty.set(true);
            return;
        }
        sync.busy.set(true);
        let (cache, env, online) = (self.cache.clone(), self.env.clone(), self.operators_online.clone());
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                // A busy thread: let the changes of the rest of the interval gather, then send
                // the newest state once.
                let wait = sync.last_sent.get() + INBOX_MIN_INTERVAL_MS - now_ms();
                if wait > 0 {
                    Delay::from(std::time::Duration::from_millis(wait as u64)).await;
                }
                sync.dirty.set(false);
                let Some(st) = cache.borrow().clone() else { break };
                sync.last_sent.set(now_ms());
                match post_row(&env, &st).await {
                    Ok(o) => {
                        online.set(Some(o));
                        sync.synced_seq.set(sync.synced_seq.get().max(st.last_seq));
                    }
                    Err(e) => console_error!("inbox update failed: {e:?}"),
                }
                if !sync.dirty.get() {
                    break;
                }
            }
            sync.busy.set(false);
        });
    }

    async fn on_frame(&self, ws: &WebSocket, message: WebSocketIncomingMessage) -> Result<(), Failure> {
        let Some(mut info) = socket_info(ws) else {
            let _ = ws.close(Some(4400), Some("unknown socket"));
            return Ok(());
        };
        let now = now_ms();
        if info.view().overdue(now) {
            close_overdue(ws);
            return Ok(());
        }
        // Every operator frame: the session that opened the socket is still live.
        if let Some(session) = &info.session {
            if let Some(why) = self.session_ended(session, now)? {
                let _ = ws.close(Some(ErrorCode::Unauthorized.close_code()), Some(why));
                return Ok(());
            }
        }
        let text = match message {
            WebSocketIncomingMessage::String(s) => s,
            WebSocketIncomingMessage::Binary(_) => return Err(api(ErrorCode::BadRequest, "send JSON text frames, not binary")),
        };
        if text.len() > MAX_FRAME_BYTES {
            let _ = ws.close(Some(1009), Some("frame too large"));
            return Ok(());
        }
        let msg: ClientMsg = parse_json(text.as_bytes(), "the frame")?;
        match &msg {
            ClientMsg::Hello { token, after } => {
                if info.actor == Actor::Visitor {
                    let ok = match token {
                        Some(t) => self.token_matches(t)?,
                        None => false,
                    };
                    if !ok {
                        send(
                            ws,
                            &ServerMsg::Error {
                                error: ErrorBody::new(ErrorCode::Unauthorized, "wrong or missing conversation token"),
                                client_id: None,
                            },
                        );
                        let _ = ws.close(Some(ErrorCode::Unauthorized.close_code()), Some("unauthorized"));
                        return Ok(());
                    }
                    // Proved: now it takes one of the conversation's places, if one is free.
                    let others = self
                        .state
                        .get_websockets()
                        .iter()
                        .filter(|w| *w != ws)
                        .filter_map(socket_info)
                        .filter(|i| i.view().counted)
                        .count();
                    if let Err(r) = sockets::admit_hello(others, MAX_SOCKETS) {
                        send(ws, &ServerMsg::Error { error: refusal(r), client_id: None });
                        let _ = ws.close(Some(ErrorCode::TooManyConnections.close_code()), Some("too many connections"));
                        return Ok(());
                    }
                }
                let site = self.load()?.site;
                let operators_online = match self.operators_online.get() {
                    Some(o) => o,
                    None => self.presence_now(&site).await,
                };
                // ---- no await below: welcome, replay and going live happen together, so no
                // event falls between the replay and the live stream.
                let st = self.load()?;
                info.ready = true;
                ws.serialize_attachment(serde_json::to_string(&info)?)?;
                send(
                    ws,
                    &ServerMsg::Welcome {
                        conversation_id: st.id.clone(),
                        role: info.actor.role(),
                        ownership: st.ownership.clone(),
                        last_seq: st.last_seq,
                        operators_online,
                    },
                );
                for e in self.events_after(*after)? {
                    if let Some(v) = view(&info.actor, &e) {
                        let _ = ws.send_with_str(event_frame(&serde_json::to_string(&v)?));
                    }
                }
                if info.actor == Actor::Visitor {
                    self.visitor_saw(st.last_seq);
                }
                Ok(())
            }
            _ if !info.ready => Err(api(ErrorCode::Unauthorized, "send hello first")),
            ClientMsg::Ping => {
                send(ws, &ServerMsg::Pong);
                Ok(())
            }
            ClientMsg::Typing { on } => {
                let site = self.load()?.site;
                let config = assets::site_config(&self.env, &site).await?;
                self.typing(&info.actor, *on, config);
                Ok(())
            }
            _ => {
                let client_id = msg.client_id().map(str::to_string);
                // An `identify` is checked and becomes `identified` (identity.rs).
                let msg = match self.prepare(&info.actor, msg).await {
                    Ok(m) => m,
                    Err(Failure::Api(e)) => {
                        send(ws, &ServerMsg::Error { error: e, client_id });
                        return Ok(());
                    }
                    Err(f) => return Err(f),
                };
                if let Err(f) = self.visitor_limits(&info.actor, &msg, info.ip.as_deref()).await {
                    return match f {
                        Failure::Api(e) => {
                            send(ws, &ServerMsg::Error { error: e, client_id });
                            Ok(())
                        }
                        f => Err(f),
                    };
                }
                let applied = match self.apply(&info.actor, &msg).await {
                    Ok(a) => a,
                    Err(Failure::Api(e)) => {
                        send(ws, &ServerMsg::Error { error: e, client_id });
                        return Ok(());
                    }
                    Err(f) => return Err(f),
                };
                self.broadcast(&applied.events)?;
                if applied.retract_typing {
                    self.bot_typing(false);
                }
                if !applied.events.is_empty() {
                    self.charge_address_later(&info.actor, &msg, info.ip.as_deref());
                }
                if let Some((client_id, seq)) = applied.ack {
                    send(ws, &ServerMsg::Ack { client_id, seq });
                }
                if let Some(n) = applied.notice {
                    send(ws, &ServerMsg::Error { error: n, client_id: None });
                }
                if !applied.events.is_empty() {
                    self.sync_inbox();
                }
                Ok(())
            }
        }
    }

    /// The visitor limits (`[limits]` in `baton.toml`). Per conversation (the token): a bucket
    /// in `meta`, so it survives hibernation, taken before the frame is stored. Per IP address:
    /// the `RateLimiter` object, charged *after* the frame is stored and relayed — over HTTP
    /// before the answer, from sockets in batches at most once a second (a round trip to
    /// another object per message would more than double the relay latency and its CPU), and
    /// at once when the address has few tokens left. A charge is never refused: what the
    /// bucket lacks is carried as debt, and while the address owes, this conversation refuses
    /// its frames. So an address spreading a flood over many conversations gets past its
    /// budget by at most what it sends while the charges are on their way (a second's worth at
    /// most, a round trip's near the limit), and pays that back. Operators are not limited;
    /// resends of stored frames and frames that store nothing are free.
    async fn visitor_limits(&self, actor: &Actor, msg: &ClientMsg, ip: Option<&str>) -> Result<(), Failure> {
        let cost = ratelimit::visitor_cost(actor.role(), msg);
        if cost == 0 || self.stored_seq(actor, msg)?.is_some() {
            return Ok(());
        }
        let now = now_ms();
        if let Some(&until) = self.charges.throttled.borrow().get(ip.unwrap_or("unknown")) {
            if until > now {
                let d = ratelimit::Decision { allowed: false, remaining: 0, retry_after_ms: until - now };
                return Err(limiter::refused(d, "messages from your network"));
            }
        }
        let site = self.load()?.site;
        let config = assets::site_config(&self.env, &site).await?;
        let rule = config.limits.visitor_messages.rule();
        // ---- no await from here: read and write the bucket together ----
        let bucket: Option<ratelimit::Bucket> = self.meta("visitor_bucket")?.and_then(|b| serde_json::from_str(&b).ok());
        let (taken, decision) = ratelimit::take(bucket, rule, cost, now_ms());
        if !decision.allowed {
            return Err(limiter::refused(decision, "messages in this conversation"));
        }
        self.set_meta("visitor_bucket", &serde_json::to_string(&taken)?)?;
        Ok(())
    }

    /// Charges a stored visitor frame to its address (see `visitor_limits`); the HTTP path
    /// awaits the charge before answering.
    async fn charge_address_now(&self, actor: &Actor, msg: &ClientMsg, ip: Option<&str>) {
        let cost = ratelimit::visitor_cost(actor.role(), msg);
        if let (true, Ok(st)) = (cost > 0, self.load()) {
            charge(&self.env, &self.charges, &st.site, ip.unwrap_or("unknown"), cost).await;
        }
    }

    /// The socket path: the charge is added to the address's pending cost and sent detached,
    /// at most once per `CHARGE_INTERVAL_MS` (a round trip to the limiter costs more CPU than
    /// relaying a message; a busy socket's frames must not queue behind it).
    fn charge_address_later(&self, actor: &Actor, msg: &ClientMsg, ip: Option<&str>) {
        let cost = ratelimit::visitor_cost(actor.role(), msg);
        if cost == 0 {
            return;
        }
        let Ok(site) = self.load().map(|s| s.site) else { return };
        let charges = self.charges.clone();
        *charges.pending.borrow_mut().entry(ip.unwrap_or("unknown").to_string()).or_default() += cost;
        if charges.busy.replace(true) {
            return;
        }
        let env = self.env.clone();
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                let urgent = {
                    let (pending, low) = (charges.pending.borrow(), charges.low.borrow());
                    if pending.is_empty() {
                        break;
                    }
                    pending.keys().any(|ip| low.contains(ip))
                };
                let wait = charges.last_sent.get() + CHARGE_INTERVAL_MS - now_ms();
                if wait > 0 && !urgent {
                    Delay::from(std::time::Duration::from_millis(wait as u64)).await;
                }
                let pending: Vec<(String, u32)> = charges.pending.borrow_mut().drain().collect();
                charges.last_sent.set(now_ms());
                for (ip, cost) in pending {
                    charge(&env, &charges, &site, &ip, cost).await;
                }
            }
            charges.busy.set(false);
        });
    }

    /// The retention period of the site (`BATON_RETENTION_DAY_MS` shortens a day, for tests).
    fn day_ms(&self) -> i64 {
        self.env.var("BATON_RETENTION_DAY_MS").ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(retention::DAY_MS)
    }

    /// The retention job: erase once the site's period has passed since the last event, else
    /// look again then.
    async fn retention_job(&self, now: i64) -> Next {
        let Ok(st) = self.load() else {
            return Next::Done;
        };
        let config = match assets::site_config(&self.env, &st.site).await {
            Ok(c) => c,
            Err(e) => {
                console_error!("retention: no site config, looking again in an hour: {e:?}");
                return Next::RetryAt(now + 3_600_000);
            }
        };
        match retention::step(st.updated_at, config.retention_days, self.day_ms(), now) {
            // Off for the site: the next wake schedules the job again (`check_jobs`).
            retention::Step::Keep => Next::Done,
            retention::Step::CheckAt(at) => Next::RetryAt(at),
            retention::Step::Erase => {
                self.erase_due.set(true);
                Next::Done
            }
        }
    }

    /// The inbox row's safety net: sends the newest state unless the `Inbox` already has it.
    async fn inbox_job(&self, job: &Job, now: i64) -> Next {
        let Ok(st) = self.load() else {
            return Next::Done;
        };
        if self.inbox.synced_seq.get() >= st.last_seq {
            return Next::Done;
        }
        match post_row(&self.env, &st).await {
            Ok(online) => {
                self.operators_online.set(Some(online));
                self.inbox.synced_seq.set(self.inbox.synced_seq.get().max(st.last_seq));
                Next::Done
            }
            Err(e) => {
                console_error!("inbox row job failed (try {}): {e:?}", job.attempts + 1);
                Next::RetryAt(now + (1_000 << job.attempts.min(8)))
            }
        }
    }

    /// Erases the conversation: its row leaves the inbox, then every byte of its storage (log,
    /// token hash, jobs, alarm) is deleted, and its sockets are closed with the reason. The
    /// inbox goes first: if it cannot be told, nothing is erased and the caller retries.
    async fn erase(&self, by_retention: bool) -> Result<(), Failure> {
        let st = self.load()?;
        // Its files (R2) and its place in its user's list go first, with the inbox row.
        self.erase_files(&st).await?;
        self.unlink_user(&st).await?;
        let body = serde_json::json!({ "id": st.id }).to_string();
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(JsValue::from_str(&body)));
        let req = Request::new_with_init("https://inbox/remove", &init)?;
        let mut resp = self.env.durable_object("INBOX")?.get_by_name(st.site.as_str())?.fetch_with_request(req).await?;
        if resp.status_code() != 200 {
            return Err(Failure::Internal(format!("the inbox answered {} to the removal: {}", resp.status_code(), resp.text().await?)));
        }
        let storage = self.state.storage();
        storage.delete_alarm().await?;
        storage.delete_all().await?;
        *self.cache.borrow_mut() = None;
        self.schema.set(false);
        self.snapshot_seq.set(0);
        self.jobs_checked.set(false);
        let notice = conversation::erased_notice(by_retention);
        for ws in self.state.get_websockets() {
            send(&ws, &ServerMsg::Error { error: notice.clone(), client_id: None });
            let _ = ws.close(Some(notice.code.close_code()), Some("conversation erased"));
        }
        Ok(())
    }

    /// A typing frame: relayed through its typist's gate, at most once a second; a change in
    /// between is relayed at the end of that second (the newest state), from a timer.
    fn typing(&self, from: &Actor, on: bool, config: Rc<SiteConfig>) {
        let key = match from {
            Actor::Visitor => "visitor".to_string(),
            Actor::Operator { operator } => operator.id.clone(),
        };
        let now = now_ms();
        let step = self.typing.borrow_mut().entry(key.clone()).or_default().offer(on, now);
        match step {
            TypingStep::Relay(on) => relay_typing(&self.state, from, on, &config),
            TypingStep::FlushAt(at) => {
                let (gates, state, from) = (self.typing.clone(), self.state_handle(), from.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    Delay::from(std::time::Duration::from_millis((at - now).max(0) as u64)).await;
                    let flushed = gates.borrow_mut().get_mut(&key).and_then(|g| g.flush(now_ms()));
                    if let Some(on) = flushed {
                        relay_typing(&state, &from, on, &config);
                    }
                });
            }
            TypingStep::Drop => {}
        }
        self.typing.borrow_mut().retain(|_, g| !g.idle(now));
    }

    /// Another handle on this object's state, for work that outlives the handler (a timer).
    fn state_handle(&self) -> State {
        let raw: &JsValue = self.state.as_raw().as_ref();
        State::from(raw.clone().unchecked_into::<worker::worker_sys::DurableObjectState>())
    }

    /// Whether an operator socket's session ended: expired, or signed out (recorded by
    /// `/sessions/revoke`). `Some(reason)` for the close frame.
    fn session_ended(&self, s: &SocketSession, now: i64) -> Result<Option<&'static str>, Failure> {
        if s.exp <= now / 1000 {
            return Ok(Some("session expired"));
        }
        if self.meta(&revoked_key(&s.sid))?.is_some() {
            return Ok(Some("signed out"));
        }
        Ok(None)
    }

    /// A session signed out (from the worker, at logout): remembered until it would have
    /// expired anyway — a socket it opens later is refused — and its open sockets are closed.
    fn revoke_session(&self, r: &sessions::Revoked) -> Result<(), Failure> {
        if !self.has_schema()? {
            return Ok(());
        }
        self.set_meta(&revoked_key(&r.sid), &r.exp.to_string())?;
        for ws in self.state.get_websockets() {
            if socket_info(&ws).and_then(|i| i.session).is_some_and(|s| s.sid == r.sid) {
                let _ = ws.close(Some(ErrorCode::Unauthorized.close_code()), Some("signed out"));
            }
        }
        Ok(())
    }
}

/// Typing indicators are not stored: visitor typing goes to operators, operator typing to the
/// visitor (under the operator's display name).
fn relay_typing(state: &State, from: &Actor, on: bool, config: &SiteConfig) {
    let (tag, who) = match from {
        Actor::Visitor => ("operator", Typist::Visitor),
        Actor::Operator { operator } => ("visitor", Typist::Operator { name: config.operator_display(operator).name }),
    };
    let frame = ServerMsg::Typing { who, on };
    for ws in state.get_websockets_with_tag(tag) {
        if socket_info(&ws).is_some_and(|i| i.ready) {
            send(&ws, &frame);
        }
    }
}

/// The `meta` key of a signed-out session.
fn revoked_key(sid: &str) -> String {
    format!("revoked:{sid}")
}

/// Closes a socket that did not say hello in time (clients reconnect as after any drop).
fn close_overdue(ws: &WebSocket) {
    let _ = ws.close(Some(sockets::HELLO_TIMEOUT_CLOSE), Some("say hello within a few seconds"));
}

/// The error for a socket refused by `shared::sockets`.
fn refusal(r: sockets::Refusal) -> ErrorBody {
    match r {
        sockets::Refusal::Full => ErrorBody::new(
            ErrorCode::TooManyConnections,
            format!("this conversation already has {MAX_SOCKETS} open connections: close a tab"),
        ),
        sockets::Refusal::TooManyPending => ErrorBody::new(
            ErrorCode::TooManyConnections,
            format!(
                "{} connections from your network have not said hello yet: send hello on those first",
                sockets::MAX_PENDING_PER_ADDRESS
            ),
        ),
    }
}

/// Sends a conversation's row to its site's `Inbox`; returns whether operators are online.
async fn post_row(env: &Env, st: &ConversationState) -> Result<bool, Failure> {
    let body = serde_json::to_string(&st.summary())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(JsValue::from_str(&body)));
    let req = Request::new_with_init("https://inbox/upsert", &init)?;
    let stub = env.durable_object("INBOX")?.get_by_name(st.site.as_str())?;
    let mut resp = stub.fetch_with_request(req).await?;
    #[derive(Deserialize)]
    struct Reply {
        operators_online: bool,
    }
    Ok(resp.json::<Reply>().await?.operators_online)
}

fn socket_info(ws: &WebSocket) -> Option<SocketInfo> {
    let raw: String = ws.deserialize_attachment().ok()??;
    serde_json::from_str(&raw).ok()
}

/// The event as this actor may see it.
fn view(actor: &Actor, e: &Event) -> Option<Event> {
    match actor {
        Actor::Visitor => e.for_visitor(),
        Actor::Operator { .. } => Some(e.clone()),
    }
}

fn send(ws: &WebSocket, msg: &ServerMsg) {
    if let Ok(s) = serde_json::to_string(msg) {
        let _ = ws.send_with_str(s);
    }
}
