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
//!
//! This file: the object, its routes, its job dispatcher, creation and `apply` (one frame's
//! step, all or nothing). Beside it, one concern each: `storage` (tables, log, snapshot,
//! token), `websockets` (admission, frames, relay, typing, sessions), `limits` (per
//! conversation and per address), `inbox_row` (the row in the site's `Inbox`, presence),
//! `erase` (retention and erase on request), `attachments`, `identity`, `team` (assignment,
//! email to a visitor who left).

// One concern per file; each is a child module, so it sees the object's fields.
mod attachments;
mod erase;
pub mod identity;
mod inbox_row;
mod limits;
mod storage;
mod team;
mod websockets;

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
use {erase::*, inbox_row::*, limits::*, storage::*, websockets::*};

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

/// The events one frame produced, and what to tell its sender.
struct Applied {
    events: Vec<Stored>,
    ack: Option<(String, u64)>,
    notice: Option<ErrorBody>,
    /// "The bot is typing" was shown to visitors and no answer followed: take it back.
    retract_typing: bool,
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
    /// The conversation's own message bucket as last written to `meta` (`None`: not read since
    /// the wake), so each visitor frame writes it without reading it back first.
    visitor_bucket: RefCell<Option<Option<ratelimit::Bucket>>>,
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
            visitor_bucket: RefCell::new(None),
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

    /// A conversation exists only under its own site's API path: anything else is told it does
    /// not exist (not "forbidden", which would confirm the id).
    fn check_site(&self, req: &Request) -> Result<(), Failure> {
        let st = self.load()?;
        match req.headers().get(SITE_HEADER)? {
            Some(site) if site != st.site.as_str() => Err(api(ErrorCode::UnknownConversation, "no such conversation: start a new one")),
            _ => Ok(()),
        }
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
        // Only a job scheduled now needs the alarm set (an earlier one set it then): no query
        // per event to find out.
        let email_queued = self.schedule_email(&config, &next, &events, ctx.now).unwrap_or_else(|e| {
            console_error!("visitor email not scheduled: {e:?}");
            false
        });
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
}
