//! Signing out reaches every open socket of the session, not only the inbox's.
//!
//! An operator's conversation socket (`?as=operator`) is opened with a session cookie that the
//! worker checks once, at the upgrade. To end it at logout, the site's `Inbox` object remembers
//! which conversations each session opened a socket on (`session_sockets`, recorded by the same
//! call that checks the session is not signed out, so no hop is added); logout revokes the
//! session there, gets those conversations back and tells each `Conversation` object
//! (`/sessions/revoke`), which records the session as signed out and closes its sockets (4401).
//! Expiry needs no message: each conversation socket carries its session's expiry and is closed
//! at its first frame or broadcast after it.

use crate::conversation::SITE_HEADER;
use crate::http::Failure;
use baton_shared::protocol::{ConversationId, SiteId};
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::{Env, Method, Request, RequestInit, SqlStorage};

/// What the worker sends to a conversation's `/sessions/revoke`.
#[derive(Clone, Serialize, Deserialize)]
pub struct Revoked {
    pub sid: String,
    /// When the session would have expired anyway (seconds since the epoch).
    pub exp: i64,
}

// ---- in the site's `Inbox` object ----

pub fn schema(sql: &SqlStorage) -> worker::Result<()> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS session_sockets (sid TEXT NOT NULL, conversation TEXT NOT NULL, exp INTEGER NOT NULL, \
         PRIMARY KEY (sid, conversation))",
        None,
    )?;
    Ok(())
}

/// Remembers that session `sid` opened a socket on `conversation` (until the session expires).
pub fn record(sql: &SqlStorage, sid: &str, conversation: &ConversationId, exp: i64, now_secs: i64) -> worker::Result<()> {
    sql.exec("DELETE FROM session_sockets WHERE exp < ?", vec![now_secs.into()])?;
    sql.exec(
        "INSERT OR IGNORE INTO session_sockets (sid, conversation, exp) VALUES (?, ?, ?)",
        vec![sid.into(), conversation.as_str().into(), exp.into()],
    )?;
    Ok(())
}

/// The conversations session `sid` opened sockets on. Kept after logout, so a logout whose
/// fan-out failed can be retried.
pub fn conversations(sql: &SqlStorage, sid: &str) -> worker::Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Row {
        conversation: String,
    }
    let rows: Vec<Row> = sql.exec("SELECT conversation FROM session_sockets WHERE sid = ?", vec![sid.into()])?.to_array()?;
    Ok(rows.into_iter().map(|r| r.conversation).collect())
}

// ---- in the worker, at logout ----

/// Tells every conversation the session opened a socket on that it signed out; all at once.
/// Fails if any could not be told (the caller answers 500 and the operator signs out again).
pub async fn revoke_everywhere(env: &Env, site: &SiteId, conversations: &[String], revoked: &Revoked) -> Result<(), Failure> {
    let body = serde_json::to_string(revoked)?;
    let calls = conversations.iter().filter_map(|id| ConversationId::parse(id).ok()).map(|id| {
        let body = body.clone();
        async move {
            let headers = worker::Headers::new();
            headers.set(SITE_HEADER, site.as_str())?;
            let mut init = RequestInit::new();
            init.with_method(Method::Post).with_headers(headers).with_body(Some(JsValue::from_str(&body)));
            let req = Request::new_with_init("https://conversation/sessions/revoke", &init)?;
            let resp = env.durable_object("CONVERSATIONS")?.get_by_name(id.as_str())?.fetch_with_request(req).await?;
            // An erased conversation has no sockets left to close.
            match resp.status_code() {
                200 | 404 => Ok(()),
                s => Err(Failure::Internal(format!("conversation {id} answered {s} to the sign-out"))),
            }
        }
    });
    let results: Vec<Result<(), Failure>> = join_all(calls).await;
    results.into_iter().collect()
}
