//! The `Conversation` Durable Object: one per conversation. It owns the append-only event log
//! (SQLite), the visitor's and operators' WebSockets (hibernatable), and nothing else.
//!
//! Every frame goes through `shared::conversation::decide`; this file only stores the events it
//! returns, in order, *before* anyone hears of them, then relays them: visitors get the visitor
//! view, operators everything. The `Inbox` object is told afterwards, off the critical path.

use crate::assets;
use crate::http::{api, error_response, json, parse_json, Failure, Handled};
use baton_shared::conversation::{self, Actor, ConversationState, Ctx};
use baton_shared::protocol::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};
use wasm_bindgen::JsValue;
use worker::*;

/// Open sockets one conversation accepts (a visitor's tabs plus a few operators).
pub const MAX_SOCKETS: usize = 16;
/// Header the worker sets after authenticating an operator; visitors never reach the object
/// with it (the worker builds the object's requests itself).
pub const ACTOR_HEADER: &str = "x-baton-actor";

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
    /// The folded state, cached between events; rebuilt from storage after hibernation.
    cache: RefCell<Option<ConversationState>>,
    /// The tables exist (checked once per wake; an id nobody created never gets tables).
    schema: Cell<bool>,
}

impl DurableObject for Conversation {
    fn new(state: State, env: Env) -> Self {
        Conversation { state, env, cache: RefCell::new(None), schema: Cell::new(false) }
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

    /// The conversation's state, or `unknown_conversation` if it was never created (or erased).
    fn load(&self) -> Result<ConversationState, Failure> {
        if let Some(s) = self.cache.borrow().as_ref() {
            return Ok(s.clone());
        }
        let Some(raw) = self.meta("state")? else {
            return Err(api(ErrorCode::UnknownConversation, "no such conversation: start a new one"));
        };
        let s: ConversationState = serde_json::from_str(&raw)?;
        *self.cache.borrow_mut() = Some(s.clone());
        Ok(s)
    }

    fn save(&self, s: &ConversationState) -> Result<(), Failure> {
        self.set_meta("state", &serde_json::to_string(s)?)?;
        *self.cache.borrow_mut() = Some(s.clone());
        Ok(())
    }

    fn insert(&self, ev: &Event) -> Result<(), Failure> {
        self.sql().exec(
            "INSERT INTO events (seq, at, client_id, body) VALUES (?, ?, ?, ?)",
            vec![(ev.seq as i64).into(), ev.at.into(), ev.client_id.clone().into(), serde_json::to_string(ev)?.into()],
        )?;
        Ok(())
    }

    fn events_after(&self, after: u64) -> Result<Vec<Event>, Failure> {
        #[derive(Deserialize)]
        struct Row {
            body: String,
        }
        let rows: Vec<Row> =
            self.sql().exec("SELECT body FROM events WHERE seq > ? ORDER BY seq", vec![(after as i64).into()])?.to_array()?;
        rows.into_iter().map(|r| serde_json::from_str(&r.body).map_err(Failure::from)).collect()
    }

    fn seq_of_client_id(&self, client_id: &str) -> Result<Option<u64>, Failure> {
        #[derive(Deserialize)]
        struct Row {
            seq: f64,
        }
        let rows: Vec<Row> = self.sql().exec("SELECT seq FROM events WHERE client_id = ?", vec![client_id.into()])?.to_array()?;
        Ok(rows.first().map(|r| r.seq as u64))
    }

    fn operators_online(&self) -> bool {
        self.meta("operators_online").ok().flatten().is_some_and(|v| v == "true")
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
        if self.meta("state")?.is_some() {
            return Err(api(ErrorCode::Conflict, "conversation exists"));
        }
        let now = now_ms();
        let mut st = ConversationState::new(c.id.clone(), c.site.clone(), now);
        let ev = Event { seq: 1, at: now, client_id: None, kind: EventKind::Started { site: c.site.clone(), page: c.page.clone() } };
        self.insert(&ev)?;
        st.apply(&ev);
        self.set_meta("token_hash", &c.token_hash)?;
        self.save(&st)?;
        self.notify_inbox(&st).await;
        json(201, &serde_json::json!({ "ok": true }))
    }

    fn accept_socket(&self, req: &Request) -> Handled {
        let st = self.load()?;
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
        let info = SocketInfo { actor, ready: false };
        pair.server.serialize_attachment(serde_json::to_string(&info)?)?;
        let _ = st;
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
        self.broadcast(&applied.events);
        if let Some(n) = applied.notice {
            return Err(Failure::Api(n));
        }
        let events = applied.events.iter().filter_map(|e| view(&actor, e)).collect();
        self.after_change(&applied.events).await;
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

    /// Stores what a frame decides. The synchronous part (load → decide → insert → save) has no
    /// `await` inside, so no other frame can interleave and the writes commit together.
    async fn apply(&self, actor: &Actor, msg: &ClientMsg) -> Result<Applied, Failure> {
        let site = self.load()?.site;
        let config = assets::site_config(&self.env, &site).await?;
        let engine = match (actor, msg) {
            (Actor::Visitor, ClientMsg::Message { .. }) => assets::engine(&self.env, &site).await.ok(),
            _ => None,
        };
        // An LLM-rephrased answer needs a network call, so it is prepared here, before the
        // synchronous section; `decide` uses it instead of asking the engine.
        let prepared_answer = match (&engine, msg) {
            (Some(engine), ClientMsg::Message { text, .. }) if crate::llm::configured(&self.env) => {
                Some(crate::llm::answer(&self.env, engine, text).await)
            }
            _ => None,
        };
        // ---- no await below this line ----
        let mut st = self.load()?;
        let client_id = msg.client_id().map(str::to_string);
        if let Some(cid) = &client_id {
            if let Some(seq) = self.seq_of_client_id(cid)? {
                return Ok(Applied { events: vec![], ack: Some((cid.clone(), seq)), notice: None });
            }
        }
        let ctx =
            Ctx { now: now_ms(), config: &config, engine: engine.as_deref(), operators_online: self.operators_online(), prepared_answer };
        let out = conversation::decide(&st, actor, msg, &ctx)?;
        let mut events = Vec::with_capacity(out.events.len());
        for (i, kind) in out.events.into_iter().enumerate() {
            let ev = Event { seq: st.last_seq + 1, at: ctx.now, client_id: if i == 0 { client_id.clone() } else { None }, kind };
            self.insert(&ev)?;
            st.apply(&ev);
            events.push(ev);
        }
        if !events.is_empty() {
            self.save(&st)?;
        }
        let ack = client_id.map(|c| (c, events.first().map(|e| e.seq).unwrap_or(st.last_seq)));
        Ok(Applied { events, ack, notice: out.notice })
    }

    /// Sends stored events to every ready socket, each in its own view.
    fn broadcast(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        for ws in self.state.get_websockets() {
            let Some(info) = socket_info(&ws) else {
                continue;
            };
            if !info.ready {
                continue;
            }
            for e in events {
                if let Some(v) = view(&info.actor, e) {
                    send(&ws, &ServerMsg::Event { event: v });
                }
            }
        }
    }

    /// After the log changed: update the inbox row (and learn whether operators are online).
    async fn after_change(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        if let Ok(st) = self.load() {
            self.notify_inbox(&st).await;
        }
    }

    async fn notify_inbox(&self, st: &ConversationState) {
        let result: Result<(), Failure> = async {
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
            self.set_meta("operators_online", if r.operators_online { "true" } else { "false" })?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            console_error!("inbox update failed: {e:?}");
        }
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
                        operators_online: self.operators_online(),
                    },
                );
                for e in self.events_after(*after)? {
                    if let Some(v) = view(&info.actor, &e) {
                        send(ws, &ServerMsg::Event { event: v });
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
                self.relay_typing(&info.actor, *on);
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
                self.broadcast(&applied.events);
                if let Some((client_id, seq)) = applied.ack {
                    send(ws, &ServerMsg::Ack { client_id, seq });
                }
                if let Some(n) = applied.notice {
                    send(ws, &ServerMsg::Error { error: n, client_id: None });
                }
                self.after_change(&applied.events).await;
                Ok(())
            }
        }
    }

    /// Typing indicators are not stored: visitor typing goes to operators, operator typing to
    /// the visitor.
    fn relay_typing(&self, from: &Actor, on: bool) {
        let (tag, who) = match from {
            Actor::Visitor => ("operator", Typist::Visitor),
            Actor::Operator { operator } => ("visitor", Typist::Operator { name: operator.name.clone() }),
        };
        for ws in self.state.get_websockets_with_tag(tag) {
            if socket_info(&ws).is_some_and(|i| i.ready) {
                send(&ws, &ServerMsg::Typing { who: who.clone(), on });
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
