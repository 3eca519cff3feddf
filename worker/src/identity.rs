//! Visitor identity at the edge: the signature check with the site's secret, the `Visitor`
//! object (one per user of a site: which conversations are theirs), and the routes that need
//! it — resume on another device, export and erase by user id.
//!
//! Whose conversation an identity may touch is decided by `baton_shared::identity`; this file
//! reads the secret, keeps the user's list and carries requests.

use crate::conversation::identity::{AddToken, EraseUser};
use crate::http::{api, json, Failure, Handled};
use crate::{conversation, forward, limiter, operator_headers};
use baton_shared::config::SiteConfig;
use baton_shared::identity::{self as rules, IdentityClaim, VisitorIdentity};
use baton_shared::protocol::*;
use serde::{Deserialize, Serialize};
use worker::*;

/// A Worker secret (or, locally, a variable); `None` when unset or empty.
fn secret(env: &Env, name: &str) -> Option<String> {
    let v = env.secret(name).map(|s| s.to_string()).or_else(|_| env.var(name).map(|v| v.to_string())).ok()?;
    (!v.is_empty()).then_some(v)
}

/// Checks a claim against the site's identity secret and policy (`[identity]`).
pub fn verify_claim(env: &Env, config: &SiteConfig, claim: &IdentityClaim) -> Result<VisitorIdentity, ErrorBody> {
    let key = secret(env, &config.identity.secret);
    let now_secs = conversation::now_ms() / 1000;
    rules::verify(claim, key.as_deref().map(str::as_bytes), config.identity.unsigned, &config.identity.secret, now_secs)
}

/// The `Visitor` object of a user of a site.
fn visitor_stub(env: &Env, site: &SiteId, user_id: &str) -> Result<Stub> {
    env.durable_object("VISITORS")?.get_by_name(&format!("{site}:{user_id}"))
}

async fn visitor_call(env: &Env, site: &SiteId, user_id: &str, path: &str, body: Option<String>) -> Result<Response, Failure> {
    let mut init = RequestInit::new();
    init.with_method(if body.is_some() { Method::Post } else { Method::Get });
    if let Some(b) = body {
        init.with_body(Some(wasm_bindgen::JsValue::from_str(&b)));
    }
    let req = Request::new_with_init(&format!("https://visitor{path}"), &init)?;
    let mut resp = visitor_stub(env, site, user_id)?.fetch_with_request(req).await?;
    if resp.status_code() != 200 {
        return Err(Failure::Internal(format!("visitor object answered {} to {path}: {}", resp.status_code(), resp.text().await?)));
    }
    Ok(resp)
}

/// One of a user's conversations, as their `Visitor` object lists it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Link {
    pub conversation_id: ConversationId,
    /// Whether the identity that linked it was verified (only those may be resumed).
    pub verified: bool,
    pub at: i64,
}

/// Adds a conversation to its user's list.
pub async fn link(env: &Env, site: &SiteId, user_id: &str, id: &ConversationId, verified: bool) -> Result<(), Failure> {
    let l = Link { conversation_id: id.clone(), verified, at: conversation::now_ms() };
    visitor_call(env, site, user_id, "/link", Some(serde_json::to_string(&l)?)).await.map(|_| ())
}

/// Removes an erased conversation from its user's list.
pub async fn unlink(env: &Env, site: &SiteId, user_id: &str, id: &ConversationId) -> Result<(), Failure> {
    let body = serde_json::json!({ "conversation_id": id }).to_string();
    visitor_call(env, site, user_id, "/unlink", Some(body)).await.map(|_| ())
}

/// A user's conversations, newest first.
async fn list(env: &Env, site: &SiteId, user_id: &str) -> Result<Vec<Link>, Failure> {
    Ok(visitor_call(env, site, user_id, "/list", None).await?.json().await?)
}

/// `POST /api/v1/sites/:site/identity/resume`: a verified identity continues its latest
/// conversation from another device — a new visitor token for it, shown once. Limited like
/// creating a conversation (it hands out a token).
pub async fn resume(req: &mut Request, env: &Env, site: &SiteId, config: &SiteConfig) -> Result<ConversationCreated, Failure> {
    let claim: IdentityClaim = crate::http::body(req).await?;
    let identity = verify_claim(env, config, &claim)?;
    if !identity.verified {
        return Err(Failure::Api(ErrorBody {
            code: ErrorCode::IdentityInvalid,
            message: "only a signed identity can continue a conversation on another device".into(),
            field: Some("identity.signature".into()),
            retry_after: None,
        }));
    }
    let limit = limiter::Limit { name: "conversations-ip", rule: config.limits.conversations_per_ip.rule(), durable: true };
    limiter::enforce(env, &limit, &format!("{site}:{}", limiter::client_ip(req)), "new conversations from your network").await?;
    for l in list(env, site, &identity.user_id).await?.into_iter().filter(|l| l.verified) {
        let mut token = [0u8; 32];
        getrandom02::getrandom(&mut token).map_err(|e| Failure::Internal(e.to_string()))?;
        let token = hex(&token);
        let add = AddToken { user_id: identity.user_id.clone(), token_hash: conversation::token_hash(&token) };
        let mut headers = Headers::new();
        let resp = forward(env, site, &l.conversation_id, "/tokens", Method::Post, &mut headers, Some(serde_json::to_vec(&add)?)).await?;
        if resp.status_code() == 200 {
            return Ok(ConversationCreated { conversation_id: l.conversation_id, visitor_token: token });
        }
    }
    Err(api(ErrorCode::UnknownConversation, "this user has no conversation to continue yet: send a message to start one"))
}

/// Percent-decoded user id from the path (`/users/:user_id`).
fn user_id_of(raw: &str) -> Result<String, Failure> {
    let id = url::form_urlencoded::parse(format!("u={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if id.trim().is_empty() || id.len() > rules::MAX_IDENTITY_VALUE_BYTES {
        return Err(Failure::Api(ErrorBody::field("user_id", "the user id in the path is empty or too long")));
    }
    Ok(id)
}

/// What `GET …/users/:user_id/export` answers: every conversation of the user, each as
/// `GET …/conversations/:id/export` does.
#[derive(Serialize)]
struct UserExport {
    user_id: String,
    conversations: Vec<serde_json::Value>,
}

/// `GET /api/v1/sites/:site/users/:user_id/export` (operators): a data-protection copy.
pub async fn export_user(env: &Env, site: &SiteId, raw_user: &str, session: &crate::auth::Session) -> Handled {
    let user_id = user_id_of(raw_user)?;
    let mut conversations = Vec::new();
    for l in list(env, site, &user_id).await? {
        let mut headers = operator_headers(session)?;
        let mut who = forward(env, site, &l.conversation_id, "/identity", Method::Get, &mut headers, None).await?;
        if who.status_code() != 200 {
            continue;
        }
        let identity: Option<VisitorIdentity> = who.json().await?;
        if identity.map(|i| i.user_id) != Some(user_id.clone()) {
            continue;
        }
        let mut headers = operator_headers(session)?;
        let mut resp = forward(env, site, &l.conversation_id, "/export", Method::Get, &mut headers, None).await?;
        if resp.status_code() == 200 {
            conversations.push(resp.json().await?);
        }
    }
    json(200, &UserExport { user_id, conversations })
}

/// `DELETE /api/v1/sites/:site/users/:user_id` (operators): erase every conversation of the
/// user (each checks it is theirs), then the user's list itself.
pub async fn erase_user(env: &Env, site: &SiteId, raw_user: &str, session: &crate::auth::Session) -> Handled {
    let user_id = user_id_of(raw_user)?;
    let mut erased = Vec::new();
    for l in list(env, site, &user_id).await? {
        let mut headers = operator_headers(session)?;
        let body = serde_json::to_vec(&EraseUser { user_id: user_id.clone() })?;
        let resp = forward(env, site, &l.conversation_id, "/erase_user", Method::Post, &mut headers, Some(body)).await?;
        match resp.status_code() {
            200 => erased.push(l.conversation_id),
            404 => {}
            s => {
                return Err(Failure::Internal(format!(
                    "erasing {} for a user answered {s}; nothing else was erased after it",
                    l.conversation_id
                )))
            }
        }
    }
    visitor_call(env, site, &user_id, "/erase", Some(String::new())).await?;
    json(200, &serde_json::json!({ "ok": true, "user_id": user_id, "erased": erased }))
}

/// One per user of a site (named `site:user_id`): the user's conversations. Kept in step by
/// the conversations (linked when identified, unlinked when erased); empty, it deletes itself.
#[durable_object]
pub struct Visitor {
    state: State,
    #[allow(dead_code)]
    env: Env,
}

impl Visitor {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn ensure_schema(&self) -> Result<()> {
        self.sql()
            .exec("CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, verified INTEGER NOT NULL, at INTEGER NOT NULL)", None)?;
        Ok(())
    }

    /// Whether anything was ever linked here (reads never create the table: a user who has
    /// nothing leaves nothing behind).
    fn has_table(&self) -> Result<bool> {
        let t: Vec<serde_json::Value> =
            self.sql().exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'conversations'", None)?.to_array()?;
        Ok(!t.is_empty())
    }

    async fn route(&self, req: &mut Request) -> Handled {
        #[derive(Deserialize)]
        struct Row {
            id: String,
            verified: f64,
            at: f64,
        }
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/link") => {
                let l: Link = crate::http::body(req).await?;
                self.ensure_schema()?;
                // Once verified, stays verified (an unsigned claim of the same user adds nothing).
                self.sql().exec(
                    "INSERT INTO conversations (id, verified, at) VALUES (?, ?, ?) \
                     ON CONFLICT(id) DO UPDATE SET verified = max(verified, excluded.verified)",
                    vec![l.conversation_id.as_str().into(), (l.verified as i64).into(), l.at.into()],
                )?;
                json(200, &serde_json::json!({ "ok": true }))
            }
            (Method::Post, "/unlink") => {
                #[derive(Deserialize)]
                struct Unlink {
                    conversation_id: ConversationId,
                }
                let u: Unlink = crate::http::body(req).await?;
                if !self.has_table()? {
                    return json(200, &serde_json::json!({ "ok": true }));
                }
                self.sql().exec("DELETE FROM conversations WHERE id = ?", vec![u.conversation_id.as_str().into()])?;
                let left: Vec<Row> = self.sql().exec("SELECT id, verified, at FROM conversations LIMIT 1", None)?.to_array()?;
                if left.is_empty() {
                    self.state.storage().delete_all().await?;
                }
                json(200, &serde_json::json!({ "ok": true }))
            }
            (Method::Get, "/list") => {
                if !self.has_table()? {
                    return json(200, &Vec::<Link>::new());
                }
                let rows: Vec<Row> = self.sql().exec("SELECT id, verified, at FROM conversations ORDER BY at DESC", None)?.to_array()?;
                let links: Vec<Link> = rows
                    .into_iter()
                    .filter_map(|r| {
                        Some(Link { conversation_id: ConversationId::parse(&r.id).ok()?, verified: r.verified != 0.0, at: r.at as i64 })
                    })
                    .collect();
                json(200, &links)
            }
            (Method::Post, "/erase") => {
                self.state.storage().delete_all().await?;
                json(200, &serde_json::json!({ "ok": true }))
            }
            _ => Err(api(ErrorCode::NotFound, "no such visitor route")),
        }
    }
}

impl DurableObject for Visitor {
    fn new(state: State, env: Env) -> Self {
        Visitor { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        Ok(self.route(&mut req).await.unwrap_or_else(crate::http::error_response))
    }
}
