//! Web Push to operators' devices, as bytes: the `Inbox` object queues one `push` job per
//! device and notification (`baton_shared::notify` decides who), and its alarm sends it here —
//! encrypted for the device and signed with the deployment's VAPID key
//! (`baton_shared::webpush`), with a timeout. A push service that says the subscription is
//! gone (404/410) gets the device forgotten; a busy or failing one is tried again.

use crate::jobs::{Job, Next};
use baton_shared::notify::Subscription;
use baton_shared::webpush::{self, Outcome, VapidKey};
use futures_util::future::{select, Either};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use wasm_bindgen::JsValue;
use worker::*;

/// The job kind of one push to one device.
pub const JOB_KIND: &str = "push";
/// Secrets: the VAPID private key (`index-builder push keys`) and the contact the push
/// services may write to about this sender (`mailto:` or `https:`).
pub const KEY_SECRET: &str = "BATON_VAPID_PRIVATE_KEY";
pub const SUBJECT_VAR: &str = "BATON_VAPID_SUBJECT";
const TIMEOUT: Duration = Duration::from_secs(10);
/// Tries before a push is given up.
const MAX_TRIES: u32 = 5;

/// One push job: the device and the message (JSON of `notify::Message`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Payload {
    pub operator: String,
    pub subscription: Subscription,
    pub message: String,
    pub topic: String,
}

/// A Worker secret (or, locally, a variable).
fn secret(env: &Env, name: &str) -> Option<String> {
    let v = env.secret(name).map(|s| s.to_string()).or_else(|_| env.var(name).map(|v| v.to_string())).ok()?;
    Some(v).filter(|v| !v.trim().is_empty())
}

/// The deployment's VAPID key, if push is configured.
pub fn key(env: &Env) -> Option<VapidKey> {
    let raw = secret(env, KEY_SECRET)?;
    match VapidKey::from_base64(&raw) {
        Ok(k) => Some(k),
        Err(e) => {
            console_error!("{e}");
            None
        }
    }
}

/// What became of one try.
pub enum Sent {
    /// Delivered, or given up: nothing more to do.
    Done,
    /// The device is gone: forget its subscription.
    Gone,
    Retry(i64),
}

/// Runs one push job.
pub async fn run(env: &Env, job: &Job, now: i64) -> Sent {
    let Ok(p) = serde_json::from_str::<Payload>(&job.payload) else {
        console_error!("push job {} is unreadable, dropped", job.id);
        return Sent::Done;
    };
    let Some(key) = key(env) else {
        console_error!("push not sent: set the secret {KEY_SECRET} (index-builder push keys)");
        return Sent::Done;
    };
    let subject = secret(env, SUBJECT_VAR).unwrap_or_else(|| "mailto:webpush@baton.invalid".into());
    let req = match webpush::request(&key, &subject, &p.subscription, p.message.as_bytes(), &p.topic, now / 1000) {
        Ok(r) => r,
        Err(e) => {
            console_error!("push to a device of {} not built: {e}", p.operator);
            return Sent::Done;
        }
    };
    let status = post(req).await;
    match webpush::outcome(status.as_ref().ok().copied()) {
        Outcome::Delivered => Sent::Done,
        Outcome::Gone => Sent::Gone,
        Outcome::Retry if job.attempts + 1 < MAX_TRIES => Sent::Retry(now + (2_000 << job.attempts)),
        o => {
            console_error!("push to a device of {} given up ({o:?}): {status:?}", p.operator);
            Sent::Done
        }
    }
}

/// POSTs a push request; the push service's status, or why there was none.
async fn post(r: webpush::PushRequest) -> std::result::Result<u16, String> {
    let headers = Headers::new();
    for (k, v) in &r.headers {
        headers.set(k, v).map_err(|e| e.to_string())?;
    }
    let mut init = RequestInit::new();
    let body = js_sys::Uint8Array::from(r.body.as_slice());
    init.with_method(Method::Post).with_headers(headers).with_body(Some(JsValue::from(body)));
    let req = Request::new_with_init(&r.url, &init).map_err(|e| e.to_string())?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Box::pin(async move { Fetch::Request(req).send_with_signal(&signal).await });
    match select(fetch, Box::pin(Delay::from(TIMEOUT))).await {
        Either::Left((r, _)) => r.map(|r| r.status_code()).map_err(|e| e.to_string()),
        Either::Right(_) => {
            controller.abort();
            Err(format!("no answer within {} s", TIMEOUT.as_secs()))
        }
    }
}

/// The dispatcher's answer for a push try (the caller forgets a gone device).
pub fn next(sent: &Sent) -> Next {
    match sent {
        Sent::Retry(at) => Next::RetryAt(*at),
        _ => Next::Done,
    }
}
