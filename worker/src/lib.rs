//! Baton's edge worker. Every request enters `fetch` and is routed below, top to bottom.
//!
//! - Pages and bundles come from static assets (`dist/`, the `ASSETS` binding).
//! - Visitor API: create a conversation, then talk to its `Conversation` object over a
//!   WebSocket (or HTTP), proving themselves with the per-conversation token.
//! - Operator API: sign in (HMAC-signed cookie), then the site's `Inbox` object streams the
//!   conversation list; operators open a conversation's socket to act on it.
//!
//! The worker authenticates and routes; the objects store and relay; `baton-shared` decides.

mod assets;
mod auth;
mod conversation;
mod email;
mod http;
mod identity;
mod inbox;
mod jobs;
mod limiter;
mod llm;
mod pages;
mod push;
mod sessions;
mod txn;
mod webhooks;

use assets::Cache;
use baton_shared::config::SiteConfig;
use baton_shared::conversation::Actor;
use baton_shared::i18n::panel;
use baton_shared::i18n::Lang;
use baton_shared::insights;
use baton_shared::protocol::*;
use baton_shared::signin;
use http::{api, error_response, json, Failure, Handled};
use wasm_bindgen::JsValue;
use worker::*;

pub use conversation::Conversation;
pub use identity::Visitor;
pub use inbox::Inbox;
pub use limiter::RateLimiter;

#[event(fetch)]
pub async fn fetch(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    // HEAD is GET without the body (uptime checks use it): same route, same headers.
    let head = req.method() == Method::Head;
    let method = if head { Method::Get } else { req.method() };
    let resp = route(&mut req, &env, &ctx, method).await.unwrap_or_else(error_response);
    Ok(if head { http::without_body(resp) } else { resp })
}

async fn route(req: &mut Request, env: &Env, ctx: &Context, method: Method) -> Handled {
    let path = req.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        // ---- pages and bundles ----
        (Method::Get, [""]) => pages::serve(env, req, "demo.html").await,
        (Method::Get, ["inbox"]) => pages::serve(env, req, "inbox.html").await,
        // The site's webhook delivery log, for operators (reads GET /api/v1/sites/:site/webhooks).
        (Method::Get, ["inbox", "webhooks"]) => pages::serve(env, req, "webhooks.html").await,
        // The second demo site's page (examples/acme-docs): one deployment, two sites.
        (Method::Get, ["acme"]) => pages::serve(env, req, "acme.html").await,
        (Method::Get, ["inbox", "sw.js"]) => {
            let mut resp = assets::serve(env, req, "inbox-sw.js", "text/javascript; charset=utf-8", Cache::NoCache).await?;
            resp.headers_mut().set("service-worker-allowed", "/inbox")?;
            Ok(resp)
        }
        // Links in visitors' emails: reopen a conversation, stop its emails (the pages call the API).
        (Method::Get, ["c", _site, _id]) => pages::serve(env, req, "resume.html").await,
        (Method::Get, ["u", _site, _id]) => pages::serve(env, req, "unsubscribe.html").await,
        (Method::Get, ["widget.js"]) => assets::serve(env, req, "widget.js", "text/javascript; charset=utf-8", Cache::Short).await,
        (Method::Get, [bundle @ ("widget" | "inbox"), hash, file]) => {
            let content_type = content_type(file).ok_or_else(|| api(ErrorCode::NotFound, "no such file"))?;
            if !is_hash(hash) {
                return Err(api(ErrorCode::NotFound, "no such file"));
            }
            assets::serve(env, req, &format!("{bundle}/{hash}/{file}"), content_type, Cache::Immutable).await
        }
        (Method::Get, ["healthz"]) => json(200, &serde_json::json!({ "ok": true })),

        // ---- the API ----
        (method, ["api", "v1", "sites", site, rest @ ..]) => {
            let site = SiteId::parse(site)?;
            site_api(req, env, ctx, method, &site, rest).await
        }
        (_, ["api", ..]) => Err(api(ErrorCode::NotFound, "no such API route: see the API section of the README")),
        // The demo's docs as pages (`index-builder build --pages`): where citations lead.
        (Method::Get, _) => pages::serve_doc(env, req, &path).await,
        _ => Err(api(ErrorCode::MethodNotAllowed, "method not allowed")),
    }
}

async fn site_api(req: &mut Request, env: &Env, ctx: &Context, method: Method, site: &SiteId, rest: &[&str]) -> Handled {
    let config = assets::site_config(env, site).await?;
    // Errors carry the CORS headers of an allowed page too: the widget must be able to read a
    // 429's `Retry-After` or a 413's message, not just see a failed fetch. A page that is not
    // allowed gets them on its refusal (and only there): the widget can then say the chat is
    // not available and tell the site owner which `allowed_origins` entry is missing, instead
    // of retrying a request the browser hid from it.
    let origin = visitor_origin(req, &config).ok().flatten();
    match site_routes(req, env, ctx, method, site, rest, &config).await {
        Ok(resp) => Ok(resp),
        Err(f) => {
            let refused = matches!(&f, Failure::Api(e) if e.code == ErrorCode::OriginNotAllowed);
            let origin = if refused { req.headers().get("origin")? } else { origin };
            Ok(http::with_cors(error_response(f), origin.as_deref()))
        }
    }
}

async fn site_routes(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    method: Method,
    site: &SiteId,
    rest: &[&str],
    config: &SiteConfig,
) -> Handled {
    let now = conversation::now_ms();
    match (method, rest) {
        // Visitor endpoints may be called from the customer's pages (CORS); the rest are
        // same-origin only.
        (Method::Options, _) => {
            let origin = visitor_origin(req, &config)?;
            Ok(http::preflight(origin.as_deref().unwrap_or("*")))
        }
        (Method::Get, ["widget"]) => {
            let origin = visitor_origin(req, &config)?;
            // The greeting in the visitor's language, or none: the widget then greets in that
            // language itself rather than in one the visitor did not choose.
            let lang = Lang::of(http::query(req, "lang").as_deref());
            let settings = WidgetSettings {
                site: site.clone(),
                name: config.name.clone(),
                greeting: config.greeting.exact(lang).unwrap_or_default().to_string(),
                color: config.color.clone(),
                words: panel::for_settings(lang),
            };
            Ok(http::with_cors(json(200, &settings)?, origin.as_deref()))
        }
        (Method::Post, ["ask"]) => {
            let origin = visitor_origin(req, &config)?;
            let q: AskRequest = http::body(req).await?;
            if q.question.trim().is_empty() || q.question.len() > MAX_MESSAGE_BYTES {
                return Err(Failure::Api(ErrorBody::field("question", format!("ask a question of 1-{MAX_MESSAGE_BYTES} bytes"))));
            }
            // After the body (a malformed request costs the caller nothing); the address first,
            // so one flooding address does not spend the site's budget. Both live in the site's
            // limiter object, in memory; while this isolate knows both have tokens to spare,
            // the question is answered at once and charged after (`limiter::admit`).
            let checks = [
                (config.limits.ask_per_ip.rule(), format!("ip:{}", limiter::client_ip(req)), "questions from your network"),
                (config.limits.ask_per_site.rule(), "site".to_string(), "questions to these docs right now"),
            ];
            let charge = limiter::admit(env, &format!("ask:{site}"), &checks).await?;
            let engine = assets::engine(env, site).await?;
            let mut resp = json(200, &llm::answer(env, &engine, &q.question, &[], site, &config).await)?;
            if let Some(timing) = assets::take_load_timing() {
                resp.headers_mut().set("server-timing", &timing)?;
            }
            if let Some(charge) = charge {
                ctx.wait_until(charge);
            }
            Ok(http::with_cors(resp, origin.as_deref()))
        }
        (Method::Post, ["conversations"]) => {
            let origin = visitor_origin(req, &config)?;
            let body: CreateConversation = http::body_or_default(req).await?;
            // Checked after the body: a malformed request costs the caller nothing.
            let limit = limiter::Limit::durable("conversations-ip", config.limits.conversations_per_ip.rule());
            let key = format!("{site}:{}", limiter::client_ip(req));
            limiter::enforce(env, &limit, &key, "new conversations from your network").await?;
            let created = create_conversation(env, site, body, own_origin(req)).await?;
            Ok(http::with_cors(json(201, &created)?, origin.as_deref()))
        }
        (Method::Get, ["conversations", id, "ws"]) => {
            let id = ConversationId::parse(id)?;
            if req.headers().get("upgrade")?.as_deref() != Some("websocket") {
                return Err(api(ErrorCode::BadRequest, "this endpoint speaks WebSocket: send 'Upgrade: websocket'"));
            }
            let operator = socket_operator(req, env, site, &config, &id, now).await?;
            let mut headers = Headers::new();
            headers.set("upgrade", "websocket")?;
            headers.set(conversation::IP_HEADER, &limiter::client_ip(req))?;
            if let Some(session) = &operator {
                headers
                    .set(conversation::ACTOR_HEADER, &serde_json::to_string(&Actor::Operator { operator: session.operator.clone() })?)?;
                // The object closes the socket once the session expires or signs out.
                headers.set(inbox::SID_HEADER, &session.sid)?;
                headers.set(inbox::EXP_HEADER, &session.exp.to_string())?;
            }
            forward(env, site, &id, "/ws", Method::Get, &mut headers, None).await
        }
        (Method::Get, ["conversations", id, "events"]) => {
            let id = ConversationId::parse(id)?;
            let (mut headers, origin) = visitor_or_operator(req, env, site, &config, now).await?;
            let after = http::query(req, "after").unwrap_or_default();
            let resp =
                forward(env, site, &id, &format!("/events?after={}", after.parse::<u64>().unwrap_or(0)), Method::Get, &mut headers, None)
                    .await?;
            Ok(http::with_cors(resp, origin.as_deref()))
        }
        (Method::Post, ["conversations", id, "commands"]) => {
            let id = ConversationId::parse(id)?;
            let (mut headers, origin) = visitor_or_operator(req, env, site, &config, now).await?;
            headers.set(conversation::IP_HEADER, &limiter::client_ip(req))?;
            let body = http::read_capped(req, MAX_FRAME_BYTES).await?;
            let resp = forward(env, site, &id, "/command", Method::Post, &mut headers, Some(body)).await?;
            Ok(http::with_cors(resp, origin.as_deref()))
        }
        (Method::Get, ["conversations", id, "export"]) => {
            let id = ConversationId::parse(id)?;
            let session = auth::require_operator(env, req, site, now / 1000).await?;
            let mut headers = operator_headers(&session)?;
            forward(env, site, &id, "/export", Method::Get, &mut headers, None).await
        }

        // ---- visitor identity, attachments (identity.rs, conversation/attachments.rs) ----
        (Method::Post, ["identity", "resume"]) => {
            let origin = visitor_origin(req, config)?;
            let resumed = identity::resume(req, env, site, config).await?;
            Ok(http::with_cors(json(200, &resumed)?, origin.as_deref()))
        }
        (Method::Post, ["conversations", id, "signout"]) => {
            let id = ConversationId::parse(id)?;
            let (mut headers, origin) = visitor_or_operator(req, env, site, config, now).await?;
            let resp = forward(env, site, &id, "/signout", Method::Post, &mut headers, None).await?;
            Ok(http::with_cors(resp, origin.as_deref()))
        }
        (Method::Post, ["conversations", id, "attachments"]) => {
            let id = ConversationId::parse(id)?;
            let (mut headers, origin) = visitor_or_operator(req, env, site, config, now).await?;
            headers.set(conversation::IP_HEADER, &limiter::client_ip(req))?;
            // Read whole (a refusal before the body is read can reset the client's upload), then
            // checked here and — with the conversation's total — by the object.
            let body = req.bytes().await?;
            baton_shared::attachments::check_size(config.attachments.limits(), body.len() as u64, 0)?;
            let mut path = format!("/attach?name={}", url_encode(&http::query(req, "name").unwrap_or_default()));
            if let Some(c) = http::query(req, "client_id") {
                path.push_str(&format!("&client_id={}", url_encode(&c)));
            }
            let resp = forward(env, site, &id, &path, Method::Post, &mut headers, Some(body)).await?;
            Ok(http::with_cors(resp, origin.as_deref()))
        }
        (Method::Get, ["conversations", id, "attachments", attachment]) => {
            let id = ConversationId::parse(id)?;
            if !baton_shared::attachments::is_attachment_id(attachment) {
                return Err(api(ErrorCode::UnknownAttachment, "no such attachment: ids are 32 lowercase hex digits"));
            }
            let (mut headers, origin) = visitor_or_operator(req, env, site, config, now).await?;
            let resp = forward(env, site, &id, &format!("/attachments/{attachment}"), Method::Get, &mut headers, None).await?;
            Ok(http::with_cors(resp, origin.as_deref()))
        }
        (Method::Get, ["users", user, "export"]) => {
            same_origin(req)?;
            let session = auth::require_operator(env, req, site, now / 1000).await?;
            identity::export_user(env, site, user, &session).await
        }
        (Method::Delete, ["users", user]) => {
            same_origin(req)?;
            let session = auth::require_operator(env, req, site, now / 1000).await?;
            identity::erase_user(env, site, user, &session).await
        }
        // ---- issue 16: assignment, an email's links ----
        (Method::Post, ["conversations", id, "assign"]) => {
            same_origin(req)?;
            let id = ConversationId::parse(id)?;
            let session = auth::require_operator(env, req, site, now / 1000).await?;
            let body: baton_shared::assign::AssignRequest = http::body(req).await?;
            let to = match body.operator {
                None => None,
                Some(email) => {
                    let account = auth::accounts(env).into_iter().find(|a| &a.site == site && a.email.eq_ignore_ascii_case(email.trim()));
                    let a = account.ok_or_else(|| {
                        Failure::Api(ErrorBody::field(
                            "operator",
                            format!("{email:?} is not an operator of this site: pick one from the team"),
                        ))
                    })?;
                    Some(OperatorRef { id: a.email, name: a.name })
                }
            };
            let command = baton_shared::assign::Command::Manual { to, by: session.operator.clone() };
            let mut headers = operator_headers(&session)?;
            forward(env, site, &id, "/assign", Method::Post, &mut headers, Some(serde_json::to_vec(&command)?)).await
        }
        (Method::Post, ["conversations", id, "resume"]) => {
            let origin = visitor_origin(req, config)?;
            let id = ConversationId::parse(id)?;
            let body = req.bytes().await?;
            if body.len() > 1024 {
                return Err(api(ErrorCode::TooLarge, "a resume request is a link's e and s, nothing more"));
            }
            // Each link minted is a new token: limited like new conversations.
            let limit = limiter::Limit::durable("conversations-ip", config.limits.conversations_per_ip.rule());
            let key = format!("{site}:{}", limiter::client_ip(req));
            limiter::enforce(env, &limit, &key, "reopened conversations from your network").await?;
            let resp = forward(env, site, &id, "/resume", Method::Post, &mut Headers::new(), Some(body)).await?;
            Ok(http::with_cors(resp, origin.as_deref()))
        }
        // The unsubscribe page's button, and mail clients' one-click unsubscribe (RFC 8058).
        (Method::Post, ["conversations", id, "unsubscribe"]) => {
            let id = ConversationId::parse(id)?;
            let s = http::query(req, "s").unwrap_or_default();
            if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(api(ErrorCode::Unauthorized, "this unsubscribe link is not valid: use the one in the latest email"));
            }
            forward(env, site, &id, &format!("/unsubscribe?s={s}"), Method::Post, &mut Headers::new(), None).await
        }
        // An operator's notifications: their choice, their devices, the VAPID key to subscribe with.
        (Method::Get | Method::Put, ["notifications"]) | (Method::Post | Method::Delete, ["push", "subscriptions"]) => {
            same_origin(req)?;
            let session = auth::require_operator(env, req, site, now / 1000).await?;
            let path = match (req.method(), rest) {
                (Method::Post, _) => "/push/subscribe".to_string(),
                (Method::Delete, _) => "/push/unsubscribe".to_string(),
                _ => match http::query(req, "endpoint") {
                    Some(e) => format!("/notifications?endpoint={}", js_sys::encode_uri_component(&e)),
                    None => "/notifications".to_string(),
                },
            };
            let method = if req.method() == Method::Delete { Method::Post } else { req.method() };
            let body = if matches!(method, Method::Get) { None } else { Some(req.bytes().await?) };
            if body.as_ref().is_some_and(|b| b.len() > MAX_FRAME_BYTES) {
                return Err(api(ErrorCode::TooLarge, "the body is too large"));
            }
            let headers = Headers::new();
            headers.set(inbox::OPERATOR_HEADER, &serde_json::to_string(&session.operator)?)?;
            headers.set(inbox::ORIGIN_HEADER, &own_origin(req).unwrap_or_default())?;
            inbox_call(env, site, &path, method, headers, body).await
        }

        // A data-protection request: erase the whole conversation (its log, its jobs, its
        // inbox row; its sockets are closed). Export it first if the person asked for a copy.
        (Method::Delete, ["conversations", id]) => {
            same_origin(req)?;
            let id = ConversationId::parse(id)?;
            let session = auth::require_operator(env, req, site, now / 1000).await?;
            let mut headers = operator_headers(&session)?;
            forward(env, site, &id, "/erase", Method::Post, &mut headers, None).await
        }

        // ---- operators: sign-in, the inbox list, insights ----
        (Method::Post, ["login"]) => login(req, env, site, config, now).await,
        (Method::Post, ["logout"]) => {
            same_origin(req)?;
            // Revoke the session server-side too, so a copy of the cookie stops working, and
            // close every socket it opened: the inbox's, and each conversation's.
            if let Some(s) = auth::session(env, req, now / 1000)?.filter(|s| &s.site == site) {
                let conversations = inbox::revoke(env, site, &inbox::Revoke { sid: s.sid.clone(), exp: s.exp }).await?;
                sessions::revoke_everywhere(env, site, &conversations, &sessions::Revoked { sid: s.sid, exp: s.exp }).await?;
            }
            let mut resp = json(200, &serde_json::json!({ "ok": true }))?;
            resp.headers_mut().set("set-cookie", &auth::logout_cookie(req))?;
            Ok(resp)
        }
        (Method::Get, ["webhooks"]) => {
            same_origin(req)?;
            auth::require_operator(env, req, site, now / 1000).await?;
            let mut resp = inbox_request(env, site, "/webhooks/log", Headers::new()).await?;
            let deliveries: Vec<DeliveryRecord> = resp.json().await?;
            json(200, &webhooks::status(&config, deliveries))
        }
        (Method::Get, ["me"]) => {
            let s = auth::require_operator(env, req, site, now / 1000).await?;
            json(200, &Me { site: s.site, operator: s.operator })
        }
        (Method::Get, ["inbox", "ws"]) => {
            same_origin(req)?;
            // The session's logout record is checked by the Inbox object itself (one hop less).
            let session = auth::operator_session(env, req, site, now / 1000)?;
            if req.headers().get("upgrade")?.as_deref() != Some("websocket") {
                return Err(api(ErrorCode::BadRequest, "this endpoint speaks WebSocket: send 'Upgrade: websocket'"));
            }
            let headers = Headers::new();
            headers.set("upgrade", "websocket")?;
            headers.set(inbox::OPERATOR_HEADER, &serde_json::to_string(&session.operator)?)?;
            headers.set(inbox::SID_HEADER, &session.sid)?;
            headers.set(inbox::EXP_HEADER, &session.exp.to_string())?;
            headers.set(inbox::ORIGIN_HEADER, &own_origin(req).unwrap_or_default())?;
            inbox_request(env, site, &format!("/ws?site={site}"), headers).await
        }
        (Method::Get, ["inbox", "rows"]) => {
            same_origin(req)?;
            let session = auth::require_operator(env, req, site, now / 1000).await?;
            let q = inbox::row_query(req)?;
            let headers = Headers::new();
            headers.set(inbox::OPERATOR_HEADER, &serde_json::to_string(&session.operator)?)?;
            inbox_request(env, site, &inbox::rows_path(&q), headers).await
        }
        (Method::Get, ["insights"]) => {
            same_origin(req)?;
            auth::require_operator(env, req, site, now / 1000).await?;
            let days = match http::query(req, "days") {
                None => 30,
                Some(d) => d
                    .parse::<u32>()
                    .ok()
                    .filter(|d| (1..=insights::MAX_DAYS).contains(d))
                    .ok_or_else(|| api(ErrorCode::InvalidField, format!("days must be a number from 1 to {}", insights::MAX_DAYS)))?,
            };
            let mut resp = inbox_request(env, site, &format!("/insights?site={site}&days={days}"), Headers::new()).await?;
            if resp.status_code() != 200 || http::query(req, "download").is_none() {
                return Ok(resp);
            }
            // The same JSON as a file (a fresh response: the object's headers are immutable).
            let headers = Headers::new();
            headers.set("content-type", "application/json; charset=utf-8")?;
            headers.set("cache-control", "no-store")?;
            headers.set("x-content-type-options", "nosniff")?;
            headers.set("content-disposition", &format!("attachment; filename=\"baton-insights-{site}-{days}d.json\""))?;
            Ok(Response::builder().with_status(200).with_headers(headers).fixed(resp.bytes().await?))
        }
        _ => match api_methods(rest) {
            Some(allow) => {
                let mut resp = error_response(api(ErrorCode::MethodNotAllowed, format!("this route answers {allow}")));
                resp.headers_mut().set("allow", allow)?;
                Ok(resp)
            }
            None => Err(api(ErrorCode::NotFound, "no such API route: see the API section of the README")),
        },
    }
}

/// The methods an API route answers (`Allow` of a 405), or `None` if there is no such route.
/// Keep it beside `site_routes`: one row per route there.
fn api_methods(rest: &[&str]) -> Option<&'static str> {
    Some(match rest {
        ["widget"] | ["conversations", _, "events"] => "GET, HEAD, OPTIONS",
        ["ask"] | ["conversations"] | ["conversations", _, "commands"] => "POST, OPTIONS",
        ["conversations", _, "ws"] | ["inbox", "ws"] => "GET",
        ["conversations", _, "export"] | ["webhooks"] | ["me"] | ["inbox", "rows"] | ["insights"] => "GET, HEAD",
        ["conversations", _] => "DELETE",
        ["login"] | ["logout"] => "POST",
        _ => return None,
    })
}

/// Signs an operator in. Rate-limited before the password is checked (`shared::signin`): a
/// browser holding this account's device cookie against its own bucket, any other attempt
/// against its address's and the account's. A wrong password and an unknown email get the same
/// answer. A successful sign-in renews the browser's device cookie.
async fn login(req: &mut Request, env: &Env, site: &SiteId, config: &SiteConfig, now: i64) -> Handled {
    same_origin(req)?;
    let l: LoginRequest = http::body(req).await?;
    let now_secs = now / 1000;
    let device = auth::device(env, req)?.filter(|d| d.vouches_for(site, &l.email, now_secs));
    let limits = &config.limits;
    for bucket in signin::buckets(device.is_some()) {
        let (limit, key, what) = match bucket {
            signin::Bucket::Address => (
                limiter::Limit::durable("login-ip", limits.sign_in_per_ip.rule()),
                format!("{site}:{}", limiter::client_ip(req)),
                "sign-in attempts from your network",
            ),
            signin::Bucket::Account => (
                limiter::Limit::durable("login-account", limits.sign_in_per_account.rule()),
                format!("{site}:{}", signin::account(&l.email)),
                "sign-in attempts for this email (a browser that signed in to it before is not held up)",
            ),
            signin::Bucket::Device => (
                limiter::Limit::durable("login-device", limits.sign_in_per_device.rule()),
                device.as_ref().map(|d| d.id.clone()).unwrap_or_default(),
                "sign-in attempts from this browser",
            ),
        };
        limiter::enforce(env, &limit, &key, what).await?;
    }
    let Some(account) = auth::login(env, site, &l.email, &l.password).await else {
        return Err(api(ErrorCode::Unauthorized, "wrong email or password"));
    };
    let session = auth::Session {
        site: site.clone(),
        operator: OperatorRef { id: account.email.clone(), name: account.name.clone() },
        exp: now_secs + auth::SESSION_SECONDS,
        sid: auth::new_sid()?,
    };
    let cookie = auth::session_cookie(env, req, &session)?;
    let device = signin::Device::new(site.clone(), &account.email, auth::new_sid()?, now_secs);
    let mut resp = json(200, &Me { site: site.clone(), operator: session.operator })?;
    resp.headers_mut().append("set-cookie", &cookie)?;
    resp.headers_mut().append("set-cookie", &auth::device_cookie(env, req, &device)?)?;
    Ok(resp)
}

/// A request to the site's `Inbox` object, built here (so the operator headers are ours).
async fn inbox_request(env: &Env, site: &SiteId, path: &str, headers: Headers) -> Handled {
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let r = Request::new_with_init(&format!("https://inbox{path}"), &init)?;
    Ok(env.durable_object("INBOX")?.get_by_name(site.as_str())?.fetch_with_request(r).await?)
}

/// A request with a method and body to the site's `Inbox` object.
async fn inbox_call(env: &Env, site: &SiteId, path: &str, method: Method, headers: Headers, body: Option<Vec<u8>>) -> Handled {
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if let Some(b) = body {
        init.with_body(Some(JsValue::from(js_sys::Uint8Array::from(b.as_slice()))));
    }
    let r = Request::new_with_init(&format!("https://inbox{path}"), &init)?;
    Ok(env.durable_object("INBOX")?.get_by_name(site.as_str())?.fetch_with_request(r).await?)
}

/// Creates a conversation: 128-bit id, 256-bit visitor token (only its hash is stored).
async fn create_conversation(
    env: &Env,
    site: &SiteId,
    body: CreateConversation,
    origin: Option<String>,
) -> Result<ConversationCreated, Failure> {
    if let Some(p) = &body.page {
        ClientMsg::Page { page: p.clone() }.validate()?;
    }
    let mut id = [0u8; 16];
    let mut token = [0u8; 32];
    getrandom02::getrandom(&mut id).map_err(|e| Failure::Internal(e.to_string()))?;
    getrandom02::getrandom(&mut token).map_err(|e| Failure::Internal(e.to_string()))?;
    let id = ConversationId::from_random(id);
    let token = hex(&token);
    let create = conversation::CreateRequest {
        id: id.clone(),
        site: site.clone(),
        token_hash: conversation::token_hash(&token),
        page: body.page,
        // Only a language Baton speaks (English, the default, is not stored).
        lang: Lang::parse(body.lang.as_deref().unwrap_or("")).filter(|l| *l != Lang::En).map(|l| l.code().to_string()),
        origin,
    };
    let mut headers = Headers::new();
    let resp = forward(env, site, &id, "/create", Method::Post, &mut headers, Some(serde_json::to_vec(&create)?)).await?;
    if resp.status_code() != 201 {
        return Err(Failure::Internal(format!("conversation create answered {}", resp.status_code())));
    }
    Ok(ConversationCreated { conversation_id: id, visitor_token: token })
}

/// Sends a request to a conversation's object. The object's request is built here, so a
/// client can never smuggle in the actor header; the site header makes the object refuse a
/// conversation of another site.
async fn forward(
    env: &Env,
    site: &SiteId,
    id: &ConversationId,
    path: &str,
    method: Method,
    headers: &mut Headers,
    body: Option<Vec<u8>>,
) -> Handled {
    headers.set(conversation::SITE_HEADER, site.as_str())?;
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers.clone());
    if let Some(b) = body {
        init.with_body(Some(JsValue::from(js_sys::Uint8Array::from(b.as_slice()))));
    }
    let req = Request::new_with_init(&format!("https://conversation{path}"), &init)?;
    Ok(env.durable_object("CONVERSATIONS")?.get_by_name(id.as_str())?.fetch_with_request(req).await?)
}

fn operator_headers(session: &auth::Session) -> Result<Headers, Failure> {
    let h = Headers::new();
    h.set(conversation::ACTOR_HEADER, &serde_json::to_string(&Actor::Operator { operator: session.operator.clone() })?)?;
    Ok(h)
}

/// For conversation HTTP calls: operators by cookie (`?as=operator`), visitors by bearer token
/// (checked by the object). Returns the object's headers and the CORS origin to answer.
async fn visitor_or_operator(
    req: &Request,
    env: &Env,
    site: &SiteId,
    config: &SiteConfig,
    now: i64,
) -> Result<(Headers, Option<String>), Failure> {
    if http::query(req, "as").as_deref() == Some("operator") {
        same_origin(req)?;
        let session = auth::require_operator(env, req, site, now / 1000).await?;
        return Ok((operator_headers(&session)?, None));
    }
    let origin = visitor_origin(req, config)?;
    let h = Headers::new();
    if let Some(a) = req.headers().get("authorization")? {
        h.set("authorization", &a)?;
    }
    Ok((h, origin))
}

/// Who opens a conversation socket: an operator (`?as=operator` + a session not signed out,
/// which the site's `Inbox` then remembers, so that signing out closes this socket) or the
/// visitor (`None`: the object checks the token in the hello frame).
async fn socket_operator(
    req: &Request,
    env: &Env,
    site: &SiteId,
    config: &SiteConfig,
    id: &ConversationId,
    now: i64,
) -> Result<Option<auth::Session>, Failure> {
    if http::query(req, "as").as_deref() == Some("operator") {
        same_origin(req)?;
        let session = auth::operator_session(env, req, site, now / 1000)?;
        if inbox::is_revoked_opening(env, site, &session.sid, session.exp, id).await? {
            return Err(auth::signed_out());
        }
        return Ok(Some(session));
    }
    visitor_origin(req, config)?;
    Ok(None)
}

fn own_origin(req: &Request) -> Option<String> {
    let u = req.url().ok()?;
    Some(u.origin().ascii_serialization())
}

/// Visitor calls: a browser on a page not allowed by the site config gets 403. This stops
/// casual embedding on other sites; the conversation token is the real boundary.
fn visitor_origin(req: &Request, config: &SiteConfig) -> Result<Option<String>, Failure> {
    let Some(origin) = req.headers().get("origin")? else {
        return Ok(None);
    };
    if Some(&origin) == own_origin(req).as_ref() || config.origin_allowed(&origin) {
        return Ok(Some(origin));
    }
    Err(api(
        ErrorCode::OriginNotAllowed,
        format!("{origin} may not use the {} widget: add it to allowed_origins in baton.toml", config.site),
    ))
}

/// Operator calls must come from the inbox page itself (no cross-site requests or sockets).
fn same_origin(req: &Request) -> Result<(), Failure> {
    match req.headers().get("origin")? {
        Some(o) if Some(&o) != own_origin(req).as_ref() => {
            Err(api(ErrorCode::Forbidden, "operator requests must come from the inbox page"))
        }
        _ => Ok(()),
    }
}

/// A query value, percent-encoded for a URL we build.
fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn content_type(file: &str) -> Option<&'static str> {
    let ext = file.rsplit('.').next()?;
    Some(match ext {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        _ => return None,
    })
}

fn is_hash(s: &str) -> bool {
    (8..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}
