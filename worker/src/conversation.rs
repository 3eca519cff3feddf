//! The `Conversation` Durable Object: one per conversation. It owns the append-only event log
//! (SQLite), the visitor's and operators' WebSockets (hibernatable), and nothing else.
//!
//! Every frame goes through `shared::conversation::decide`; this file only stores the events it
//! returns, in order, *before* anyone hears of them, then relays them: visitors get the visitor
//! view, operators everything. The site's `Inbox` object is told afterwards, off the critical
//! path (at most one update in flight; changes meanwhile are folded into the next one), and is
//! asked who is online right before a frame that may hand off.
//!
//! Storage: `events(seq, at, client_key, body)` is the log; `meta` holds the token hash and a
//! snapshot of the folded state, rewritten every `SNAPSHOT_EVERY` events (not on every event:
//! after a wake the state is the snapshot plus the events after it, folded again).

use crate::assets;
use crate::http::{api, error_response, json, parse_json, Failure, Handled};
use baton_shared::config::SiteConfig;
use baton_shared::conversation::{self, Actor, ConversationState, Ctx};
use baton_shared::protocol::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};
use wasm_bindgen::JsValue;
use worker::*;

/// Open sockets one conversation accepts: a visitor's tabs, the operators on it, and those
/// watching. Beyond that, `too_many_connections`.
pub const MAX_SOCKETS: usize = 64;
/// Header the worker sets after authenticating an operator; visitors never reach the object
/// with it (the worker builds the object's requests itself).
pub const ACTOR_HEADER: &str = "x-baton-actor";
/// The folded state is written to `meta` once per this many events (and at creation).
const SNAPSHOT_EVERY: u64 = 32;

/// What the worker sends to `/create`.
#[derive(Serialize, Deserialize)]
pub struct CreateRequest {
    pub id: ConversationId,
    pub site: SiteId,
    pub token_hash: String,
    pub page: Option<Page>,
}

/// Per-socket identity, kept in the socket's attachment so it survives hibernation.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SocketInfo {
    actor: Actor,
    /// Said hello (and, for a visitor, proved the token): receives live events.
    ready: bool,
}

/// The events one frame produced, and what to tell its sender.
struct Applied {
    events: Vec<Event>,
    ack: Option<(String, u64)>,
    notice: Option<ErrorBody>,
    /// "The bot is typing" was shown to visitors and no answer followed: take it back.
    retract_typing: bool,
}

/// A stored event as a socket frame, without copying it into a `ServerMsg`.
#[derive(Serialize)]
#[serde(tag = "type", rename = "event")]
struct EventFrame<'a> {
    event: &'a Event,
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
    /// The folded state, kept between events; rebuilt from storage after a wake.
    cache: RefCell<Option<ConversationState>>,
    /// `last_seq` of the snapshot in storage (0: unknown since the wake; rewritten soon).
    snapshot_seq: Cell<u64>,
    /// The tables exist (checked once per wake; an id nobody created never gets tables).
    schema: Cell<bool>,
    /// Whether operators were online when the `Inbox` last said so; `None` since a wake.
    operators_online: Cell<Option<bool>>,
    /// An inbox update is in flight; `inbox_dirty`: something changed since it was composed.
    inbox_busy: Cell<bool>,
    inbox_dirty: Cell<bool>,
}

impl DurableObject for Conversation {
    fn new(state: State, env: Env) -> Self {
        Conversation {
            state,
            env,
            cache: RefCell::new(None),
            snapshot_seq: Cell::new(0),
            schema: Cell::new(false),
            operators_online: Cell::new(None),
            inbox_busy: Cell::new(false),
            inbox_dirty: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        Ok(self.route(&mut req).await.unwrap_or_else(error_response))
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
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
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, _error: Error) -> Result<()> {
        Ok(())
    }
}

impl Conversation {
    async fn route(&self, req: &mut Request) -> Handled {
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Post, "/create") => self.create(req).await,
            (Method::Get, "/ws") => self.accept_socket(req),
            (Method::Get, "/events") => self.events_http(req),
            (Method::Post, "/command") => self.command_http(req).await,
            (Method::Get, "/export") => self.export(req),
            _ => Err(api(ErrorCode::NotFound, "no such conversation route")),
        }
    }

    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
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

    /// Keeps the new state; writes the snapshot when enough events have piled up since the last.
    fn save(&self, s: &ConversationState) -> Result<(), Failure> {
        if s.last_seq >= self.snapshot_seq.get() + SNAPSHOT_EVERY {
            self.set_meta(snapshot_key(), &serde_json::to_string(s)?)?;
            self.snapshot_seq.set(s.last_seq);
        }
        *self.cache.borrow_mut() = Some(s.clone());
        Ok(())
    }

    fn insert(&self, ev: &Event, body: &str, client_key: Option<&str>) -> Result<(), Failure> {
        self.sql().exec(
            "INSERT INTO events (seq, at, client_id, body) VALUES (?, ?, ?, ?)",
            vec![(ev.seq as i64).into(), ev.at.into(), client_key.map(str::to_string).into(), body.into()],
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
        Ok(!stored.is_empty() && subtle::ConstantTimeEq::ct_eq(stored.as_bytes(), given.as_bytes()).into())
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
        self.ensure_schema()?;
        if self.meta(snapshot_key())?.is_some() {
            return Err(api(ErrorCode::Conflict, "conversation exists"));
        }
        let now = now_ms();
        let mut st = ConversationState::new(c.id.clone(), c.site.clone(), now);
        let ev = Event { seq: 1, at: now, client_id: None, kind: EventKind::Started { site: c.site.clone(), page: c.page.clone() } };
        self.insert(&ev, &serde_json::to_string(&ev)?, None)?;
        st.apply(&ev);
        self.set_meta("token_hash", &c.token_hash)?;
        self.set_meta(snapshot_key(), &serde_json::to_string(&st)?)?;
        self.snapshot_seq.set(st.last_seq);
        *self.cache.borrow_mut() = Some(st);
        self.sync_inbox().await;
        json(201, &serde_json::json!({ "ok": true }))
    }

    fn accept_socket(&self, req: &Request) -> Handled {
        self.load()?;
        if self.state.get_websockets().len() >= MAX_SOCKETS {
            return Err(api(
                ErrorCode::TooManyConnections,
                format!("this conversation already has {MAX_SOCKETS} open connections: close a tab"),
            ));
        }
        let actor: Actor = match req.headers().get(ACTOR_HEADER)? {
            Some(a) => serde_json::from_str(&a)?,
            None => Actor::Visitor,
        };
        let pair = WebSocketPair::new()?;
        let tag = match actor.role() {
            Role::Visitor => "visitor",
            Role::Operator => "operator",
        };
        self.state.accept_websocket_with_tags(&pair.server, &[tag]);
        pair.server.serialize_attachment(serde_json::to_string(&SocketInfo { actor, ready: false })?)?;
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
        if matches!(msg, ClientMsg::Hello { .. } | ClientMsg::Typing { .. }) {
            return Err(api(ErrorCode::UnknownCommand, "hello and typing are socket frames"));
        }
        let applied = self.apply(&actor, &msg).await?;
        self.broadcast(&applied.events)?;
        if applied.retract_typing {
            self.bot_typing(false);
        }
        if let Some(n) = applied.notice {
            return Err(Failure::Api(n));
        }
        let events = applied.events.iter().filter_map(|e| view(&actor, e)).collect();
        if !applied.events.is_empty() {
            self.sync_inbox().await;
        }
        json(200, &CommandResult { events })
    }

    fn export(&self, req: &Request) -> Handled {
        let st = self.load()?;
        let actor = self.http_actor(req)?;
        if !matches!(actor, Actor::Operator { .. }) {
            return Err(api(ErrorCode::Forbidden, "only operators can export a conversation"));
        }
        json(200, &serde_json::json!({ "conversation": st.summary(), "events": self.events_after(0)? }))
    }

    /// Stores what a frame decides. First, with awaits: the site config, the engine if the bot
    /// may answer, and — if the frame may hand off — who is online right now. Then the
    /// synchronous part (load → dedup → decide → insert → save) with no `await` inside, so no
    /// other frame can interleave and the writes commit together.
    async fn apply(&self, actor: &Actor, msg: &ClientMsg) -> Result<Applied, Failure> {
        let before = self.load()?;
        let config = assets::site_config(&self.env, &before.site).await?;
        let plan = conversation::plan(&before, actor, msg, &config);
        let typing = plan.bot_question.is_some() && self.client_is_new(actor, msg)?;
        if typing {
            self.bot_typing(true);
        }
        let engine = match plan.bot_question {
            Some(_) => assets::engine(&self.env, &before.site).await.ok(),
            None => None,
        };
        let operators_online =
            if plan.may_hand_off { self.presence_now(&before.site).await } else { self.operators_online.get().unwrap_or(false) };

        // ---- no await below this line ----
        let mut st = self.load()?;
        let client_id = msg.client_id().map(str::to_string);
        let client_key = client_id.as_deref().map(|c| actor.client_key(c));
        if let (Some(cid), Some(key)) = (&client_id, &client_key) {
            if let Some(seq) = self.seq_of_client_key(key)? {
                // A resend (reconnect, retry): acknowledged with the seq it was stored as.
                return Ok(Applied { events: vec![], ack: Some((cid.clone(), seq)), notice: None, retract_typing: typing });
            }
        }
        let ctx = Ctx { now: now_ms(), config: &config, engine: engine.as_deref(), operators_online };
        let out = conversation::decide(&st, actor, msg, &ctx)?;
        let mut events = Vec::with_capacity(out.events.len());
        for (i, kind) in out.events.into_iter().enumerate() {
            let first = i == 0;
            let ev = Event { seq: st.last_seq + 1, at: ctx.now, client_id: if first { client_id.clone() } else { None }, kind };
            self.insert(&ev, &serde_json::to_string(&ev)?, if first { client_key.as_deref() } else { None })?;
            st.apply(&ev);
            events.push(ev);
        }
        if !events.is_empty() {
            self.save(&st)?;
        }
        let answered = events.iter().any(|e| matches!(e.kind, EventKind::BotAnswer { .. }));
        let ack = client_id.map(|c| (c, events.first().map(|e| e.seq).unwrap_or(st.last_seq)));
        Ok(Applied { events, ack, notice: out.notice, retract_typing: typing && !answered })
    }

    /// Whether this frame's client id is new (a resend must not show the bot typing again).
    fn client_is_new(&self, actor: &Actor, msg: &ClientMsg) -> Result<bool, Failure> {
        match msg.client_id() {
            Some(c) => Ok(self.seq_of_client_key(&actor.client_key(c))?.is_none()),
            None => Ok(true),
        }
    }

    /// Sends stored events to every ready socket, each in its own view. Each view is
    /// serialised once, not once per socket.
    fn broadcast(&self, events: &[Event]) -> Result<(), Failure> {
        if events.is_empty() {
            return Ok(());
        }
        let mut for_operators = Vec::with_capacity(events.len());
        let mut for_visitors = Vec::with_capacity(events.len());
        for e in events {
            for_operators.push(serde_json::to_string(&EventFrame { event: e })?);
            if let Some(v) = e.for_visitor() {
                for_visitors.push(if v == *e {
                    for_operators.last().cloned().unwrap_or_default()
                } else {
                    serde_json::to_string(&EventFrame { event: &v })?
                });
            }
        }
        for ws in self.state.get_websockets() {
            let Some(info) = socket_info(&ws) else {
                continue;
            };
            if !info.ready {
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

    /// Brings the site's inbox row up to date. Off the critical path: called after events are
    /// relayed and acknowledged. At most one update is in flight per conversation; changes that
    /// arrive meanwhile are sent once, with the newest state, when it returns.
    async fn sync_inbox(&self) {
        if self.inbox_busy.get() {
            self.inbox_dirty.set(true);
            return;
        }
        self.inbox_busy.set(true);
        loop {
            self.inbox_dirty.set(false);
            let Ok(st) = self.load() else { break };
            if let Err(e) = self.post_row(&st).await {
                console_error!("inbox update failed: {e:?}");
            }
            if !self.inbox_dirty.get() {
                break;
            }
        }
        self.inbox_busy.set(false);
    }

    async fn post_row(&self, st: &ConversationState) -> Result<(), Failure> {
        let body = serde_json::to_string(&st.summary())?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(JsValue::from_str(&body)));
        let req = Request::new_with_init("https://inbox/upsert", &init)?;
        let stub = self.env.durable_object("INBOX")?.get_by_name(st.site.as_str())?;
        let mut resp = stub.fetch_with_request(req).await?;
        #[derive(Deserialize)]
        struct Reply {
            operators_online: bool,
        }
        let r: Reply = resp.json().await?;
        self.operators_online.set(Some(r.operators_online));
        Ok(())
    }

    async fn on_frame(&self, ws: &WebSocket, message: WebSocketIncomingMessage) -> Result<(), Failure> {
        let Some(mut info) = socket_info(ws) else {
            let _ = ws.close(Some(4400), Some("unknown socket"));
            return Ok(());
        };
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
                        let _ = ws.send_with_str(serde_json::to_string(&EventFrame { event: &v })?);
                    }
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
                self.relay_typing(&info.actor, *on, &config);
                Ok(())
            }
            _ => {
                let client_id = msg.client_id().map(str::to_string);
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
                if let Some((client_id, seq)) = applied.ack {
                    send(ws, &ServerMsg::Ack { client_id, seq });
                }
                if let Some(n) = applied.notice {
                    send(ws, &ServerMsg::Error { error: n, client_id: None });
                }
                if !applied.events.is_empty() {
                    self.sync_inbox().await;
                }
                Ok(())
            }
        }
    }

    /// Typing indicators are not stored: visitor typing goes to operators, operator typing to
    /// the visitor (under the operator's display name).
    fn relay_typing(&self, from: &Actor, on: bool, config: &SiteConfig) {
        let (tag, who) = match from {
            Actor::Visitor => ("operator", Typist::Visitor),
            Actor::Operator { operator } => ("visitor", Typist::Operator { name: config.operator_display(operator).name }),
        };
        let frame = ServerMsg::Typing { who, on };
        for ws in self.state.get_websockets_with_tag(tag) {
            if socket_info(&ws).is_some_and(|i| i.ready) {
                send(&ws, &frame);
            }
        }
    }
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
