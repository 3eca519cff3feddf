//! The object's WebSockets: admission (`shared::sockets`: a hello deadline, a per-address cap
//! for sockets that have not proved themselves), each frame handled (`on_frame`), events relayed
//! in each socket's view, typing indicators through their gate, and operator sockets closed
//! when their session expires or signs out.

use super::*;

/// Sockets one conversation holds once they proved themselves (a visitor's hello with the
/// token) or were authenticated by the worker (operators): a visitor's tabs, the operators on
/// it, and those watching. Beyond that, `too_many_connections`. Sockets that have not said
/// hello yet never count here (`shared::sockets`: their address's cap, a hello deadline).
pub const MAX_SOCKETS: usize = 64;

/// Per-socket identity, kept in the socket's attachment so it survives hibernation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct SocketInfo {
    pub(super) actor: Actor,
    /// Random id naming the socket's frame queue (`turns`); kept across hibernation.
    #[serde(default)]
    pub(super) socket: u64,
    /// Said hello (and, for a visitor, proved the token): receives live events.
    pub(super) ready: bool,
    /// The client's IP address (for the per-IP visitor limit).
    #[serde(default)]
    pub(super) ip: Option<String>,
    /// When the socket opened (ms): it has `sockets::HELLO_DEADLINE_MS` to say hello.
    #[serde(default)]
    pub(super) opened_at: i64,
    /// An operator's session: the socket closes (4401) once it expires or signs out.
    #[serde(default)]
    pub(super) session: Option<SocketSession>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct SocketSession {
    pub(super) sid: String,
    /// Expiry, seconds since the epoch.
    pub(super) exp: i64,
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

/// A stored event as a socket frame (`ServerMsg::Event`), from its JSON.
pub(super) fn event_frame(event_json: &str) -> String {
    format!(r#"{{"type":"event","event":{event_json}}}"#)
}

/// Typing indicators are not stored: visitor typing goes to operators, operator typing to the
/// visitor (under the operator's display name).
pub(super) fn relay_typing(state: &State, from: &Actor, on: bool, config: &SiteConfig) {
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
pub(super) fn revoked_key(sid: &str) -> String {
    format!("revoked:{sid}")
}

/// Closes a socket that did not say hello in time (clients reconnect as after any drop).
pub(super) fn close_overdue(ws: &WebSocket) {
    let _ = ws.close(Some(sockets::HELLO_TIMEOUT_CLOSE), Some("say hello within a few seconds"));
}

/// The error for a socket refused by `shared::sockets`.
pub(super) fn refusal(r: sockets::Refusal) -> ErrorBody {
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

pub(super) fn socket_info(ws: &WebSocket) -> Option<SocketInfo> {
    let raw: String = ws.deserialize_attachment().ok()??;
    serde_json::from_str(&raw).ok()
}

/// The event as this actor may see it.
pub(super) fn view(actor: &Actor, e: &Event) -> Option<Event> {
    match actor {
        Actor::Visitor => e.for_visitor(),
        Actor::Operator { .. } => Some(e.clone()),
    }
}

pub(super) fn send(ws: &WebSocket, msg: &ServerMsg) {
    if let Ok(s) = serde_json::to_string(msg) {
        let _ = ws.send_with_str(s);
    }
}

impl Conversation {
    /// Accepts a socket. A visitor's is *pending* until its hello proves the token: it counts
    /// against its address's cap, not the conversation's, and has a few seconds to say hello
    /// (`shared::sockets`); sockets past that deadline are closed here, as each new one arrives.
    pub(super) fn accept_socket(&self, req: &Request) -> Handled {
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

    pub(super) async fn on_frame(&self, ws: &WebSocket, message: WebSocketIncomingMessage) -> Result<(), Failure> {
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

    /// Sends stored events to every ready socket, each in its own view. Operators get the
    /// stored bytes as they are; the visitor view is serialised only where it differs.
    pub(super) fn broadcast(&self, events: &[Stored]) -> Result<(), Failure> {
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
    pub(super) fn bot_typing(&self, on: bool) {
        let frame = ServerMsg::Typing { who: Typist::Bot, on };
        for ws in self.state.get_websockets_with_tag("visitor") {
            if socket_info(&ws).is_some_and(|i| i.ready) {
                send(&ws, &frame);
            }
        }
    }

    /// A typing frame: relayed through its typist's gate, at most once a second; a change in
    /// between is relayed at the end of that second (the newest state), from a timer.
    pub(super) fn typing(&self, from: &Actor, on: bool, config: Rc<SiteConfig>) {
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
    pub(super) fn state_handle(&self) -> State {
        let raw: &JsValue = self.state.as_raw().as_ref();
        State::from(raw.clone().unchecked_into::<worker::worker_sys::DurableObjectState>())
    }

    /// Whether an operator socket's session ended: expired, or signed out (recorded by
    /// `/sessions/revoke`). `Some(reason)` for the close frame.
    pub(super) fn session_ended(&self, s: &SocketSession, now: i64) -> Result<Option<&'static str>, Failure> {
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
    pub(super) fn revoke_session(&self, r: &sessions::Revoked) -> Result<(), Failure> {
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
