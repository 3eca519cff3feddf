//! The `Inbox` Durable Object: one per site. It keeps one summary row per conversation (sent by
//! the `Conversation` objects after every change) and the operators' inbox sockets, which
//! receive each row change as it happens. Presence is read off the live sockets (an operator is
//! online while one of their inbox tabs is connected and not set away); conversations ask for
//! it (`/presence`) right before a handoff.
//!
//! Beside each row it keeps what operators never receive on the socket: the conversation's
//! insights figures (`stats`) and its search text (`search`, lowercased). List queries
//! (`/rows`: view, status, tag, words) and insights (`/insights`) are answered from this one
//! table with the rules in `baton_shared::inbox` and `baton_shared::insights`.
//!
//! It also keeps the ids of signed-out sessions until they would have expired (`revoked`).

use crate::assets;
use crate::http::{api, error_response, json, parse_json, Failure, Handled};
use baton_shared::inbox::{self as rules, RowQuery, View};
use baton_shared::insights::{self, ConversationStats};
use baton_shared::protocol::*;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use wasm_bindgen::JsValue;
use worker::*;

#[path = "inbox_team.rs"]
mod team;
pub use team::ORIGIN_HEADER;

/// Rows sent in the first snapshot besides every waiting or owned one: the most recently
/// updated others. Older ones come from `/rows` queries.
const SNAPSHOT_ROWS: usize = 500;
/// Header the worker sets after authenticating an operator (JSON `OperatorRef`).
pub const OPERATOR_HEADER: &str = "x-baton-operator";
/// Header with the operator's session id, checked against signed-out sessions.
pub const SID_HEADER: &str = "x-baton-sid";
/// Header with the session's expiry (seconds since the epoch): the socket closes after it.
pub const EXP_HEADER: &str = "x-baton-session-exp";
/// Rows read from storage for one query before the exact filters (a search narrows in SQL).
const QUERY_SCAN: usize = 5000;
/// Largest row a Conversation object may send (briefing, fields and search text included).
const MAX_ROW_BYTES: usize = 1024 * 1024;
/// Storage layout version (see `ensure_schema`).
const SCHEMA: i64 = 2;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct OperatorSocket {
    operator: OperatorRef,
    away: bool,
    /// The session the socket was opened with; closed when it signs out.
    #[serde(default)]
    sid: String,
    /// When that session expires (seconds since the epoch); closed after that.
    #[serde(default = "never")]
    exp: i64,
}

fn never() -> i64 {
    i64::MAX
}

/// Closes a socket whose session has expired (its next frame or broadcast notices); true if so.
fn close_if_expired(ws: &WebSocket, info: &OperatorSocket) -> bool {
    if info.exp > Date::now().as_millis() as i64 / 1000 {
        return false;
    }
    let _ = ws.close(Some(ErrorCode::Unauthorized.close_code()), Some("session expired"));
    true
}

/// Body of `/revoke`.
#[derive(Serialize, Deserialize)]
pub struct Revoke {
    pub sid: String,
    /// When the session expires anyway (seconds since the epoch): the record goes then.
    pub exp: i64,
}

#[durable_object]
pub struct Inbox {
    state: State,
    env: Env,
    /// The tables are up to date (checked once per wake).
    schema: Cell<bool>,
}

impl DurableObject for Inbox {
    fn new(state: State, env: Env) -> Self {
        Inbox { state, env, schema: Cell::new(false) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        Ok(self.route(&mut req).await.unwrap_or_else(error_response))
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        let text = match message {
            WebSocketIncomingMessage::String(s) => s,
            WebSocketIncomingMessage::Binary(_) => String::new(),
        };
        if socket_of(&ws).is_some_and(|s| close_if_expired(&ws, &s)) {
            return Ok(());
        }
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
                if !away {
                    // Back from away: the queue may move to them.
                    self.queue_moves().await;
                }
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

    /// Runs the due jobs (assignments to record, pushes, handoff emails; see `inbox_team.rs`).
    async fn alarm(&self) -> Result<Response> {
        if let Err(e) = self.ensure_schema() {
            return Err(Error::RustError(format!("{e:?}")));
        }
        let now = Date::now().as_millis() as i64;
        crate::jobs::run_due(&self.state.storage(), now, |job| self.run_job(job, now)).await?;
        Response::ok("")
    }
}

impl Inbox {
    async fn route(&self, req: &mut Request) -> Handled {
        self.ensure_schema()?;
        match (req.method(), req.path().as_str()) {
            (Method::Get, "/ws") => self.accept(req).await,
            (Method::Post, "/upsert") => {
                // From a Conversation object, not a client: a row with its search text and a
                // long briefing may pass the clients' 16 KB limit.
                let bytes = req.bytes().await?;
                if bytes.len() > MAX_ROW_BYTES {
                    return Err(api(ErrorCode::TooLarge, format!("a row of {} bytes; the limit is {MAX_ROW_BYTES}", bytes.len())));
                }
                let row: ConversationSummary =
                    serde_json::from_slice(&bytes).map_err(|e| api(ErrorCode::BadRequest, format!("row: {e}")))?;
                let config = assets::site_config(&self.env, &row.site).await.ok();
                // ---- no await: stored, sent, notifications and assignments queued together ----
                self.learn(&row.site, None)?;
                if self.take_row(row, config.as_deref())? {
                    self.arm().await;
                }
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
            (Method::Get, "/rows") => {
                let me = operator_of(req)?;
                json(200, &RowPage { rows: self.query(&row_query(req)?, &me.id)? })
            }
            (Method::Get, "/insights") => self.insights(req).await,
            // The site's webhook delivery log: each try, appended by the conversation that sent it.
            (Method::Post, "/webhooks/log") => {
                let record: DeliveryRecord = crate::http::body(req).await?;
                crate::webhooks::log_append(&self.sql(), &record)?;
                json(200, &serde_json::json!({ "ok": true }))
            }
            (Method::Get, "/webhooks/log") => json(200, &crate::webhooks::log_recent(&self.sql())?),
            // Asked by a conversation right before a frame that may hand off.
            (Method::Get, "/presence") => json(200, &serde_json::json!({ "operators_online": self.operators_online() })),
            (Method::Post, "/revoke") => {
                let r: Revoke = crate::http::body(req).await?;
                self.revoke(&r)?;
                // The conversations whose sockets the session opened: the worker tells them.
                let conversations = crate::sessions::conversations(&self.sql(), &r.sid)?;
                json(200, &serde_json::json!({ "ok": true, "conversations": conversations }))
            }
            (_, path @ ("/notifications" | "/push/subscribe" | "/push/unsubscribe")) => self.notifications_route(req, path).await,
            (Method::Get, "/session") => {
                let sid = crate::http::query(req, "sid").unwrap_or_default();
                let revoked = self.revoked(&sid)?;
                // A conversation socket being opened with this session: remembered (in the same
                // step as the check, so a logout either sees it or came first).
                let conversation = crate::http::query(req, "conversation").and_then(|c| ConversationId::parse(&c).ok());
                if let (false, Some(c)) = (revoked, conversation) {
                    let exp = crate::http::query(req, "exp").and_then(|e| e.parse().ok()).unwrap_or(0);
                    crate::sessions::record(&self.sql(), &sid, &c, exp, Date::now().as_millis() as i64 / 1000)?;
                }
                json(200, &serde_json::json!({ "revoked": revoked }))
            }
            _ => Err(api(ErrorCode::NotFound, "no such inbox route")),
        }
    }

    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    /// Creates the tables, or brings an older layout up to date: version 1 had only
    /// `rows(id, updated_at, body)`; version 2 adds the columns queries filter on, the stats and
    /// the search text (filled in from each stored row), and `revoked`.
    fn ensure_schema(&self) -> Result<(), Failure> {
        if self.schema.get() {
            return Ok(());
        }
        let sql = self.sql();
        sql.exec("CREATE TABLE IF NOT EXISTS rows (id TEXT PRIMARY KEY, updated_at INTEGER NOT NULL, body TEXT NOT NULL)", None)?;
        sql.exec("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)", None)?;
        sql.exec("CREATE TABLE IF NOT EXISTS revoked (sid TEXT PRIMARY KEY, exp INTEGER NOT NULL)", None)?;
        crate::webhooks::log_schema(&sql)?;
        crate::sessions::schema(&sql)?;
        team::schema(&sql)?;
        #[derive(Deserialize)]
        struct V {
            v: f64,
        }
        let version = sql.exec("SELECT v FROM meta WHERE k = 'schema'", None)?.to_array::<V>()?.first().map_or(1, |r| r.v as i64);
        if version < 2 {
            for column in [
                "status TEXT NOT NULL DEFAULT ''",
                "owner TEXT",
                "created_at INTEGER NOT NULL DEFAULT 0",
                "stats TEXT",
                "search TEXT NOT NULL DEFAULT ''",
            ] {
                sql.exec(&format!("ALTER TABLE rows ADD COLUMN {column}"), None)?;
            }
            #[derive(Deserialize)]
            struct Old {
                body: String,
            }
            let old: Vec<Old> = sql.exec("SELECT body FROM rows", None)?.to_array()?;
            for r in old {
                if let Ok(row) = serde_json::from_str::<ConversationSummary>(&r.body) {
                    self.store(&row, None, &rules::haystack(&row), false)?;
                }
            }
            sql.exec("CREATE INDEX IF NOT EXISTS rows_status ON rows(status, updated_at)", None)?;
            sql.exec("CREATE INDEX IF NOT EXISTS rows_created ON rows(created_at)", None)?;
            sql.exec("INSERT INTO meta (k, v) VALUES ('schema', ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v", vec![SCHEMA.into()])?;
        }
        self.schema.set(true);
        Ok(())
    }

    /// Stores a conversation's row; returns it as operators see it (no stats, no search text),
    /// or `None` when a newer version is stored already (two quick changes can arrive out of
    /// order: keep the newest).
    fn upsert(&self, mut row: ConversationSummary) -> Result<Option<ConversationSummary>, Failure> {
        let haystack = rules::haystack(&row);
        let stats = row.stats.take();
        row.search_text = None;
        Ok(self.store(&row, stats.as_ref(), &haystack, true)?.then_some(row))
    }

    fn store(
        &self,
        row: &ConversationSummary,
        stats: Option<&ConversationStats>,
        haystack: &str,
        newer_only: bool,
    ) -> Result<bool, Failure> {
        let stats = stats.map(serde_json::to_string).transpose()?;
        let guard =
            if newer_only { "WHERE json_extract(excluded.body, '$.last_seq') >= json_extract(rows.body, '$.last_seq')" } else { "" };
        let cursor = self.sql().exec(
            &format!(
                "INSERT INTO rows (id, updated_at, body, status, owner, created_at, stats, search) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at, body = excluded.body, status = excluded.status, \
                 owner = excluded.owner, created_at = excluded.created_at, stats = coalesce(excluded.stats, rows.stats), \
                 search = excluded.search {guard}"
            ),
            vec![
                row.id.as_str().into(),
                row.updated_at.into(),
                serde_json::to_string(row)?.into(),
                row.ownership.label().into(),
                // Whose "Mine" it may be in (`View::for_holder_only`).
                rules::holder(row).map(|o| o.id.clone()).into(),
                row.created_at.into(),
                stats.into(),
                haystack.into(),
            ],
        )?;
        Ok(cursor.rows_written() > 0)
    }

    fn bodies(&self, query: &str, params: Vec<SqlStorageValue>) -> Result<Vec<(ConversationSummary, String)>, Failure> {
        #[derive(Deserialize)]
        struct Row {
            body: String,
            search: String,
        }
        let rows: Vec<Row> = self.sql().exec(query, params)?.to_array()?;
        Ok(rows.into_iter().filter_map(|r| serde_json::from_str(&r.body).ok().map(|b| (b, r.search))).collect())
    }

    /// The first snapshot: every conversation waiting for or with a person, and the most
    /// recently updated others.
    fn snapshot_rows(&self) -> Result<Vec<ConversationSummary>, Failure> {
        let mut rows: Vec<ConversationSummary> = self
            .bodies("SELECT body, '' AS search FROM rows WHERE status IN ('waiting_for_human', 'human')", vec![])?
            .into_iter()
            .map(|r| r.0)
            .collect();
        let others = self.bodies(
            "SELECT body, '' AS search FROM rows WHERE status NOT IN ('waiting_for_human', 'human') ORDER BY updated_at DESC LIMIT ?",
            vec![(SNAPSHOT_ROWS as i64).into()],
        )?;
        rows.extend(others.into_iter().map(|r| r.0));
        rules::sort_rows(&mut rows);
        Ok(rows)
    }

    /// A list query: narrowed in SQL by what `shared::inbox` says of the view (its states, its
    /// holder) and the search words, then filtered exactly by the shared rules and put in the
    /// list's order.
    fn query(&self, q: &RowQuery, me: &str) -> Result<Vec<ConversationSummary>, Failure> {
        let mut clauses: Vec<String> = Vec::new();
        let mut params: Vec<SqlStorageValue> = Vec::new();
        if let Some(states) = q.view.states() {
            clauses.push(format!("status IN ({})", vec!["?"; states.len()].join(", ")));
            params.extend(states.iter().map(|s| (*s).into()));
        }
        if q.view.for_holder_only() {
            clauses.push("owner = ?".into());
            params.push(me.into());
        }
        for term in rules::search_terms(q.q.as_deref().unwrap_or("")) {
            clauses.push("instr(search, ?) > 0".into());
            params.push(term.into());
        }
        let filter = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        params.push((QUERY_SCAN as i64).into());
        let found = self.bodies(&format!("SELECT body, search FROM rows {filter} ORDER BY updated_at DESC LIMIT ?"), params)?;
        let mut rows: Vec<ConversationSummary> = found.into_iter().filter(|(r, hay)| q.matches(r, me, hay)).map(|r| r.0).collect();
        rules::sort_rows(&mut rows);
        rows.truncate(q.limit());
        Ok(rows)
    }

    /// The site's insights over the last `days` days, grouping unanswered questions with the
    /// site's embedding model when it loads (by shared words otherwise).
    async fn insights(&self, req: &Request) -> Handled {
        let site = SiteId::parse(&crate::http::query(req, "site").unwrap_or_default())?;
        let days = crate::http::query(req, "days").and_then(|d| d.parse::<u32>().ok()).unwrap_or(30);
        let now = Date::now().as_millis() as i64;
        let (since, until) = insights::range(now, days);
        #[derive(Deserialize)]
        struct Row {
            created_at: f64,
            stats: Option<String>,
        }
        let rows: Vec<Row> = self
            .sql()
            .exec(
                "SELECT created_at, stats FROM rows WHERE created_at >= ? AND created_at < ? ORDER BY created_at DESC",
                vec![since.into(), until.into()],
            )?
            .to_array()?;
        let stats: Vec<(i64, ConversationStats)> = rows
            .into_iter()
            .map(|r| (r.created_at as i64, r.stats.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()))
            .collect();
        let refs: Vec<(i64, &ConversationStats)> = stats.iter().map(|(at, s)| (*at, s)).collect();
        let model = assets::site_model(&self.env, &site).await.ok();
        let embed = model.as_ref().map(|m| move |t: &str| m.embed(t));
        let out = insights::compute(&refs, since, until, embed.as_ref().map(|e| e as insights::Embed));
        json(200, &out)
    }

    async fn accept(&self, req: &Request) -> Handled {
        let operator = operator_of(req)?;
        let sid = req.headers().get(SID_HEADER)?.unwrap_or_default();
        if sid.is_empty() || self.revoked(&sid)? {
            return Err(api(ErrorCode::Unauthorized, "sign in to the inbox first (your session may have expired)"));
        }
        let site = SiteId::parse(&crate::http::query(req, "site").unwrap_or_default())?;
        let config = assets::site_config(&self.env, &site).await?;
        self.learn(&site, Some(req))?;
        let pair = WebSocketPair::new()?;
        self.state.accept_websocket_with_tags(&pair.server, &["operator"]);
        let exp = req.headers().get(EXP_HEADER)?.and_then(|e| e.parse().ok()).unwrap_or(0);
        let info = OperatorSocket { operator: operator.clone(), away: false, sid, exp };
        pair.server.serialize_attachment(serde_json::to_string(&info)?)?;
        let snapshot = InboxServerMsg::Snapshot {
            me: operator,
            rows: self.snapshot_rows()?,
            presence: self.presence(None),
            canned_replies: config.canned_replies.clone(),
            site_name: config.name.clone(),
            team: self.team(&config),
        };
        send(&pair.server, &snapshot);
        self.broadcast(&InboxServerMsg::Presence { presence: self.presence(None) });
        // Someone came online: the queue may move to them.
        if self.run_queue(&config)? > 0 {
            self.arm().await;
        }
        Ok(Response::from_websocket(pair.client)?)
    }

    /// Records a signed-out session (until it would expire) and closes its inbox sockets.
    fn revoke(&self, r: &Revoke) -> Result<(), Failure> {
        let now_secs = Date::now().as_millis() as i64 / 1000;
        let sql = self.sql();
        sql.exec("DELETE FROM revoked WHERE exp < ?", vec![now_secs.into()])?;
        sql.exec("INSERT OR REPLACE INTO revoked (sid, exp) VALUES (?, ?)", vec![r.sid.as_str().into(), r.exp.into()])?;
        let mut closed = None;
        for ws in self.state.get_websockets() {
            if socket_of(&ws).is_some_and(|s| s.sid == r.sid) {
                let _ = ws.close(Some(ErrorCode::Unauthorized.close_code()), Some("signed out"));
                closed = Some(ws);
            }
        }
        if let Some(ws) = closed {
            self.broadcast(&InboxServerMsg::Presence { presence: self.presence(Some(&ws)) });
        }
        Ok(())
    }

    fn revoked(&self, sid: &str) -> Result<bool, Failure> {
        let rows: Vec<serde_json::Value> = self.sql().exec("SELECT sid FROM revoked WHERE sid = ?", vec![sid.into()])?.to_array()?;
        Ok(!rows.is_empty())
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
            if socket_of(&ws).is_some_and(|info| close_if_expired(&ws, &info)) {
                continue;
            }
            let _ = ws.send_with_str(&s);
        }
    }
}

/// The operator the worker authenticated (its header), or 401.
fn operator_of(req: &Request) -> Result<OperatorRef, Failure> {
    match req.headers().get(OPERATOR_HEADER)? {
        Some(raw) => Ok(serde_json::from_str(&raw)?),
        None => Err(api(ErrorCode::Unauthorized, "sign in to the inbox first")),
    }
}

/// A list query from the URL (`view`, `status`, `tag`, `q`, `limit`); bad values are 400s.
pub fn row_query(req: &Request) -> Result<RowQuery, Failure> {
    let view = match crate::http::query(req, "view") {
        None => View::All,
        Some(v) => View::parse(&v)
            .ok_or_else(|| api(ErrorCode::InvalidField, format!("view must be one of waiting, mine, open, resolved, all (not {v:?})")))?,
    };
    let status = crate::http::query(req, "status").filter(|s| !s.is_empty());
    if let Some(s) = &status {
        if !["bot", "waiting_for_human", "human", "resolved"].contains(&s.as_str()) {
            return Err(api(ErrorCode::InvalidField, format!("status must be bot, waiting_for_human, human or resolved (not {s:?})")));
        }
    }
    let limit = match crate::http::query(req, "limit") {
        None => None,
        Some(l) => Some(l.parse::<usize>().map_err(|_| api(ErrorCode::InvalidField, "limit must be a number of rows"))?),
    };
    Ok(RowQuery {
        view,
        status,
        tag: crate::http::query(req, "tag").filter(|t| !t.is_empty()),
        q: crate::http::query(req, "q").filter(|q| !q.trim().is_empty()),
        limit,
    })
}

/// The object's path for a list query (`/rows?view=…`), built from the checked query.
pub fn rows_path(q: &RowQuery) -> String {
    let mut url = Url::parse("https://inbox/rows").expect("a valid literal");
    {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("view", q.view.key());
        for (k, v) in [("status", &q.status), ("tag", &q.tag), ("q", &q.q)] {
            if let Some(v) = v {
                pairs.append_pair(k, v);
            }
        }
        pairs.append_pair("limit", &q.limit().to_string());
    }
    format!("/rows?{}", url.query().unwrap_or_default())
}

/// Whether a session id was signed out (asked of the site's `Inbox` object).
pub async fn is_revoked(env: &Env, site: &SiteId, sid: &str) -> Result<bool, Failure> {
    session_check(env, site, &format!("sid={sid}")).await
}

/// Whether a session id was signed out; if not, the `Inbox` remembers that it is opening a
/// socket on `conversation`, so that signing out closes it (see `sessions.rs`).
pub async fn is_revoked_opening(env: &Env, site: &SiteId, sid: &str, exp: i64, conversation: &ConversationId) -> Result<bool, Failure> {
    session_check(env, site, &format!("sid={sid}&exp={exp}&conversation={conversation}")).await
}

async fn session_check(env: &Env, site: &SiteId, query: &str) -> Result<bool, Failure> {
    let stub = env.durable_object("INBOX")?.get_by_name(site.as_str())?;
    let mut resp = stub.fetch_with_str(&format!("https://inbox/session?{query}")).await?;
    #[derive(Deserialize)]
    struct Reply {
        revoked: bool,
    }
    Ok(resp.json::<Reply>().await?.revoked)
}

/// Tells the site's `Inbox` object that a session signed out; returns the conversations the
/// session opened sockets on.
pub async fn revoke(env: &Env, site: &SiteId, revoke: &Revoke) -> Result<Vec<String>, Failure> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(JsValue::from_str(&serde_json::to_string(revoke)?)));
    let req = Request::new_with_init("https://inbox/revoke", &init)?;
    let mut resp = env.durable_object("INBOX")?.get_by_name(site.as_str())?.fetch_with_request(req).await?;
    if resp.status_code() != 200 {
        return Err(Failure::Internal(format!("inbox revoke answered {}", resp.status_code())));
    }
    #[derive(Deserialize)]
    struct Reply {
        #[serde(default)]
        conversations: Vec<String>,
    }
    Ok(resp.json::<Reply>().await?.conversations)
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
