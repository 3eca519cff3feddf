//! The `Inbox` Durable Object: one per site. It keeps one summary row per conversation (sent by
//! the `Conversation` objects after every change) and the operators' inbox sockets, which
//! receive each row change as it happens. Presence is read off the live sockets (an operator is
//! online while one of their inbox tabs is connected and not set away); conversations ask for
//! it (`/presence`) right before a handoff.

use crate::http::{api, error_response, json, parse_json, Failure, Handled};
use baton_shared::protocol::*;
use serde::{Deserialize, Serialize};
use worker::*;

/// Rows sent in the first snapshot (most recently updated first); older ones come from search.
const SNAPSHOT_ROWS: usize = 500;
/// Header the worker sets after authenticating an operator.
pub const OPERATOR_HEADER: &str = "x-baton-operator";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct OperatorSocket {
    operator: OperatorRef,
    away: bool,
}

#[durable_object]
pub struct Inbox {
    state: State,
    #[allow(dead_code)]
    env: Env,
}

impl DurableObject for Inbox {
    fn new(state: State, env: Env) -> Self {
        Inbox { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        Ok(self.route(&mut req).await.unwrap_or_else(error_response))
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        let text = match message {
            WebSocketIncomingMessage::String(s) => s,
            WebSocketIncomingMessage::Binary(_) => String::new(),
        };
        match parse_json::<InboxClientMsg>(text.as_bytes(), "the frame") {
            Ok(InboxClientMsg::Ping) => send(&ws, &InboxServerMsg::Pong),
            Ok(InboxClientMsg::SetAway { away }) => {
                if let Some(mut s) = socket_of(&ws) {
                    s.away = away;
                    if let Ok(raw) = serde_json::to_string(&s) {
                        let _ = ws.serialize_attachment(raw);
                    }
                }
                self.broadcast(&InboxServerMsg::Presence { presence: self.presence(None) });
            }
            Err(error) => send(&ws, &InboxServerMsg::Error { error }),
        }
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, _code: usize, _reason: String, _clean: bool) -> Result<()> {
        let _ = ws.close(Some(1000), Some("closed"));
        self.broadcast(&InboxServerMsg::Presence { presence: self.presence(Some(&ws)) });
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: Error) -> Result<()> {
        self.broadcast(&InboxServerMsg::Presence { presence: self.presence(Some(&ws)) });
        Ok(())
    }
}

impl Inbox {
    async fn route(&self, req: &mut Request) -> Handled {
        self.ensure_schema()?;
        match (req.method(), req.path().as_str()) {
            (Method::Get, "/ws") => self.accept(req),
            (Method::Post, "/upsert") => {
                let row: ConversationSummary = crate::http::body(req).await?;
                self.upsert(&row)?;
                self.broadcast(&InboxServerMsg::Row { row });
                json(200, &serde_json::json!({ "operators_online": self.operators_online() }))
            }
            (Method::Post, "/remove") => {
                #[derive(Deserialize)]
                struct Remove {
                    id: ConversationId,
                }
                let r: Remove = crate::http::body(req).await?;
                self.state.storage().sql().exec("DELETE FROM rows WHERE id = ?", vec![r.id.as_str().into()])?;
                self.broadcast(&InboxServerMsg::Removed { id: r.id });
                json(200, &serde_json::json!({ "ok": true }))
            }
            (Method::Get, "/rows") => json(200, &self.rows(usize::MAX)?),
            // The site's webhook delivery log: each try, appended by the conversation that sent it.
            (Method::Post, "/webhooks/log") => {
                let record: DeliveryRecord = crate::http::body(req).await?;
                crate::webhooks::log_append(&self.state.storage().sql(), &record)?;
                json(200, &serde_json::json!({ "ok": true }))
            }
            (Method::Get, "/webhooks/log") => json(200, &crate::webhooks::log_recent(&self.state.storage().sql())?),
            // Asked by a conversation right before a frame that may hand off.
            (Method::Get, "/presence") => json(200, &serde_json::json!({ "operators_online": self.operators_online() })),
            _ => Err(api(ErrorCode::NotFound, "no such inbox route")),
        }
    }

    fn ensure_schema(&self) -> Result<(), Failure> {
        self.state
            .storage()
            .sql()
            .exec("CREATE TABLE IF NOT EXISTS rows (id TEXT PRIMARY KEY, updated_at INTEGER NOT NULL, body TEXT NOT NULL)", None)?;
        crate::webhooks::log_schema(&self.state.storage().sql())?;
        Ok(())
    }

    fn upsert(&self, row: &ConversationSummary) -> Result<(), Failure> {
        // Rows can arrive out of order (two quick changes, two requests): keep the newest.
        self.state.storage().sql().exec(
            "INSERT INTO rows (id, updated_at, body) VALUES (?, ?, ?) \
             ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at, body = excluded.body \
             WHERE json_extract(excluded.body, '$.last_seq') >= json_extract(rows.body, '$.last_seq')",
            vec![row.id.as_str().into(), row.updated_at.into(), serde_json::to_string(row)?.into()],
        )?;
        Ok(())
    }

    fn rows(&self, limit: usize) -> Result<Vec<ConversationSummary>, Failure> {
        #[derive(Deserialize)]
        struct Row {
            body: String,
        }
        let rows: Vec<Row> = self
            .state
            .storage()
            .sql()
            .exec("SELECT body FROM rows ORDER BY updated_at DESC LIMIT ?", vec![(limit.min(i64::MAX as usize) as i64).into()])?
            .to_array()?;
        Ok(rows.into_iter().filter_map(|r| serde_json::from_str(&r.body).ok()).collect())
    }

    fn accept(&self, req: &Request) -> Handled {
        let operator: OperatorRef = match req.headers().get(OPERATOR_HEADER)? {
            Some(raw) => serde_json::from_str(&raw)?,
            None => return Err(api(ErrorCode::Unauthorized, "sign in to the inbox first")),
        };
        let pair = WebSocketPair::new()?;
        self.state.accept_websocket_with_tags(&pair.server, &["operator"]);
        let info = OperatorSocket { operator: operator.clone(), away: false };
        pair.server.serialize_attachment(serde_json::to_string(&info)?)?;
        let snapshot = InboxServerMsg::Snapshot { me: operator, rows: self.rows(SNAPSHOT_ROWS)?, presence: self.presence(None) };
        send(&pair.server, &snapshot);
        self.broadcast(&InboxServerMsg::Presence { presence: self.presence(None) });
        Ok(Response::from_websocket(pair.client)?)
    }

    /// Who is online: one entry per operator (several tabs count once; away only if all are).
    fn presence(&self, closing: Option<&WebSocket>) -> Vec<Presence> {
        let mut out: Vec<Presence> = Vec::new();
        for ws in self.state.get_websockets() {
            if Some(&ws) == closing {
                continue;
            }
            let Some(s) = socket_of(&ws) else { continue };
            match out.iter_mut().find(|p| p.operator.id == s.operator.id) {
                Some(p) => p.away &= s.away,
                None => out.push(Presence { operator: s.operator, away: s.away }),
            }
        }
        out.sort_by(|a, b| a.operator.name.cmp(&b.operator.name));
        out
    }

    fn operators_online(&self) -> bool {
        self.presence(None).iter().any(|p| !p.away)
    }

    fn broadcast(&self, msg: &InboxServerMsg) {
        let Ok(s) = serde_json::to_string(msg) else {
            return;
        };
        for ws in self.state.get_websockets() {
            let _ = ws.send_with_str(&s);
        }
    }
}

fn socket_of(ws: &WebSocket) -> Option<OperatorSocket> {
    let raw: String = ws.deserialize_attachment().ok()??;
    serde_json::from_str(&raw).ok()
}

fn send(ws: &WebSocket, msg: &InboxServerMsg) {
    if let Ok(s) = serde_json::to_string(msg) {
        let _ = ws.send_with_str(s);
    }
}
