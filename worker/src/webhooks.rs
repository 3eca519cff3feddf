//! Outgoing webhooks, as bytes: the `Conversation` object puts the deliveries
//! `baton_shared::webhook::deliveries` decides into its outbox (the `jobs` table, kind
//! `webhook`) together with the events, and its alarm sends them here — signed, with a
//! timeout, retried with exponential backoff (`webhook::record` says when). Every try is logged
//! in the site's `Inbox` object, which operators read through
//! `GET /api/v1/sites/:site/webhooks`.

use crate::http::Failure;
use crate::jobs::{self, Job, Next};
use baton_shared::config::SiteConfig;
use baton_shared::conversation::ConversationState;
use baton_shared::protocol::*;
use baton_shared::webhook::{self, Attempt, Delivery};
use futures_util::future::{select, Either};
use serde::Deserialize;
use std::time::Duration;
use wasm_bindgen::JsValue;
use worker::*;

/// The job kind of a webhook delivery.
pub const JOB_KIND: &str = "webhook";
/// A receiver gets this long to answer before the try counts as failed.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Worker variable overriding the first retry delay (ms), e.g. short in tests.
const RETRY_BASE_VAR: &str = "BATON_WEBHOOK_RETRY_BASE_MS";
/// Attempts kept in a site's delivery log.
const LOG_ROWS: i64 = 200;

/// Puts the deliveries of just-stored `events` in the outbox. Synchronous, inside the step's
/// transaction: an error fails the whole step (the events are not stored either), so an event
/// is never stored without the deliveries it fires. The caller arms the alarm afterwards.
/// Returns how many were queued.
pub fn enqueue(
    sql: &SqlStorage,
    config: &SiteConfig,
    origin: &str,
    before: &ConversationState,
    events: &[Event],
    now: i64,
) -> Result<usize, Failure> {
    let deliveries = webhook::deliveries(config, origin, before, events);
    for d in &deliveries {
        jobs::add(sql, JOB_KIND, now, &serde_json::to_string(d)?)?;
    }
    Ok(deliveries.len())
}

/// Runs one delivery job: one try, logged; says when to try again.
pub async fn run(env: &Env, job: &Job, now: i64) -> Next {
    let d: Delivery = match serde_json::from_str(&job.payload) {
        Ok(d) => d,
        Err(e) => {
            console_error!("webhook job {} is unreadable, dropped: {e}", job.id);
            return Next::Done;
        }
    };
    let attempt = job.attempts + 1;
    let result = send(env, &d, now).await;
    let record = webhook::record(&d, attempt, result, now, retry_base_ms(env));
    let next = match record.next_attempt_at {
        Some(at) => Next::RetryAt(at),
        None => Next::Done,
    };
    if let Err(e) = log(env, &d.site, &record).await {
        console_error!("webhook delivery log not updated: {e:?}");
    }
    next
}

fn retry_base_ms(env: &Env) -> u64 {
    env.var(RETRY_BASE_VAR).ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(webhook::DEFAULT_RETRY_BASE_MS)
}

/// A Worker secret (or, locally, a variable); `None` when unset or empty.
fn secret(env: &Env, name: &str) -> Option<String> {
    let v = env.secret(name).map(|s| s.to_string()).or_else(|_| env.var(name).map(|v| v.to_string())).ok()?;
    Some(v).filter(|v| !v.trim().is_empty())
}

/// One POST of the delivery's body.
async fn send(env: &Env, d: &Delivery, now: i64) -> Attempt {
    let url = if d.url_secret.is_empty() {
        d.url.clone()
    } else {
        match secret(env, &d.url_secret) {
            Some(u) => u.trim().to_string(),
            None => {
                return Attempt::Unsendable(format!(
                    "the secret {0} (this webhook's URL) is not set: run `wrangler secret put {0}`",
                    d.url_secret
                ))
            }
        }
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Attempt::Unsendable(format!("the secret {} is not an http(s) URL: set it to the webhook's address", d.url_secret));
    }
    let key = if d.secret.is_empty() { None } else { secret(env, &d.secret) };
    if key.is_none() && d.format == WebhookFormat::Json {
        return Attempt::Unsendable(format!(
            "the signing secret {0} is not set: run `wrangler secret put {0}` with a long random value",
            d.secret
        ));
    }
    match post(&url, d, key.as_deref(), now).await {
        Ok((status, detail)) => Attempt::Sent { status: Some(status), detail },
        Err(why) => Attempt::Sent { status: None, detail: Some(why) },
    }
}

async fn post(url: &str, d: &Delivery, key: Option<&str>, now: i64) -> std::result::Result<(u16, Option<String>), String> {
    let request = || -> Result<Request> {
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        headers.set("user-agent", "Baton-Webhooks/1")?;
        headers.set(webhook::EVENT_HEADER, d.event.as_str())?;
        headers.set(webhook::DELIVERY_HEADER, &d.id)?;
        if let Some(k) = key {
            headers.set(webhook::SIGNATURE_HEADER, &webhook::signature(k.as_bytes(), now / 1000, &d.body))?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(JsValue::from_str(&d.body)));
        Request::new_with_init(url, &init)
    };
    let req = request().map_err(|e| format!("bad request: {e}"))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Box::pin(async move { Fetch::Request(req).send_with_signal(&signal).await });
    let timeout = Box::pin(Delay::from(TIMEOUT));
    let mut resp = match select(fetch, timeout).await {
        Either::Left((r, _)) => r.map_err(|e| e.to_string())?,
        Either::Right(_) => {
            controller.abort();
            return Err(format!("no answer within {} s", TIMEOUT.as_secs()));
        }
    };
    let status = resp.status_code();
    // A failure's body often says why (Slack: "invalid_token", "no_service"); a success's is unread.
    let detail = if (200..300).contains(&status) { None } else { resp.text().await.ok() };
    Ok((status, detail))
}

/// Appends a try to the site's delivery log (kept by its `Inbox` object).
async fn log(env: &Env, site: &SiteId, record: &DeliveryRecord) -> std::result::Result<(), Failure> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(JsValue::from_str(&serde_json::to_string(record)?)));
    let req = Request::new_with_init("https://inbox/webhooks/log", &init)?;
    let resp = env.durable_object("INBOX")?.get_by_name(site.as_str())?.fetch_with_request(req).await?;
    if resp.status_code() != 200 {
        return Err(Failure::Internal(format!("inbox answered {}", resp.status_code())));
    }
    Ok(())
}

// ---- the delivery log, in the site's `Inbox` object ----

pub fn log_schema(sql: &SqlStorage) -> Result<()> {
    sql.exec("CREATE TABLE IF NOT EXISTS webhook_log (n INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)", None)?;
    Ok(())
}

/// Keeps a try, and only the latest `LOG_ROWS`.
pub fn log_append(sql: &SqlStorage, record: &DeliveryRecord) -> std::result::Result<(), Failure> {
    sql.exec("INSERT INTO webhook_log (body) VALUES (?)", vec![serde_json::to_string(record)?.into()])?;
    sql.exec("DELETE FROM webhook_log WHERE n <= (SELECT MAX(n) FROM webhook_log) - ?", vec![LOG_ROWS.into()])?;
    Ok(())
}

/// The latest tries, newest first.
pub fn log_recent(sql: &SqlStorage) -> std::result::Result<Vec<DeliveryRecord>, Failure> {
    #[derive(Deserialize)]
    struct Row {
        body: String,
    }
    let rows: Vec<Row> = sql.exec("SELECT body FROM webhook_log ORDER BY n DESC LIMIT ?", vec![LOG_ROWS.into()])?.to_array()?;
    Ok(rows.into_iter().filter_map(|r| serde_json::from_str(&r.body).ok()).collect())
}

/// What operators see: the site's webhooks (without secrets) and the latest tries.
pub fn status(config: &SiteConfig, deliveries: Vec<DeliveryRecord>) -> WebhookLog {
    let webhooks = config
        .webhooks
        .iter()
        .enumerate()
        .map(|(i, w)| WebhookInfo { name: w.display_name(i), format: w.format, events: w.events.clone(), target: w.target() })
        .collect();
    WebhookLog { webhooks, deliveries }
}
