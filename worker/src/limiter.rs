//! The `RateLimiter` Durable Object and its small API: one object per (limit, key) — e.g.
//! `login-ip:203.0.113.7` — holding one token bucket (`baton_shared::ratelimit`).
//!
//! Use it from a route with [`enforce`] (429 `rate_limited` with `Retry-After` when the bucket
//! is empty), [`take`] (the decision itself) or [`charge`] (for what already happened: never
//! refused, carried as debt). A new use is a new [`Limit`]: a name (the key's namespace) and a
//! rule from the site's `[limits]`; the object needs no change.
//!
//! Storage: the bucket lives in the object's SQLite storage, not only in memory, so the limit
//! survives the object being evicted or restarted — otherwise a patient password guesser could
//! reset their bucket by pausing until the idle object is dropped. It costs one row write per
//! take, which is nothing next to a PBKDF2 check. An alarm deletes the row once the bucket is
//! full again, so keys that went quiet leave nothing behind.

use crate::http::{api, error_response, json, Failure, Handled};
use baton_shared::protocol::{ErrorBody, ErrorCode};
use baton_shared::ratelimit::{self, Bucket, Decision, Rule};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::*;

/// A named rule: the namespace of its keys and how much it allows.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub name: &'static str,
    pub rule: Rule,
    /// The bucket is written to storage on every take (sign-in: a guesser must not reset it
    /// by pausing until the object is evicted). Otherwise it lives in the object's memory: a
    /// durable write makes the answer wait for the disk, which a limit checked on every
    /// visitor message cannot afford; losing a flooder's bucket on eviction only gives back
    /// one burst.
    pub durable: bool,
}

impl Limit {
    /// A limit whose bucket lives in the limiter's memory (see `durable`).
    pub fn memory(name: &'static str, rule: Rule) -> Limit {
        Limit { name, rule, durable: false }
    }

    /// A limit whose bucket is written to storage on every take.
    pub fn durable(name: &'static str, rule: Rule) -> Limit {
        Limit { name, rule, durable: true }
    }
}

/// What the worker sends to `/take`.
#[derive(Serialize, Deserialize)]
pub struct TakeRequest {
    pub rule: Rule,
    pub cost: u32,
    #[serde(default)]
    pub durable: bool,
    /// A charge for what already happened (`ratelimit::charge`): never refused, what the bucket
    /// lacks is carried as debt.
    #[serde(default)]
    pub charge: bool,
}

/// Takes `cost` tokens from the bucket of `key` under `limit`.
pub async fn take(env: &Env, limit: &Limit, key: &str, cost: u32) -> Result<Decision, Failure> {
    request(env, limit, key, TakeRequest { rule: limit.rule, cost, durable: limit.durable, charge: false }).await
}

/// Charges `cost` tokens for actions already done; the decision says whether the next may go.
pub async fn charge(env: &Env, limit: &Limit, key: &str, cost: u32) -> Result<Decision, Failure> {
    request(env, limit, key, TakeRequest { rule: limit.rule, cost, durable: limit.durable, charge: true }).await
}

async fn request(env: &Env, limit: &Limit, key: &str, take: TakeRequest) -> Result<Decision, Failure> {
    post(env, &format!("{}:{key}", limit.name), "take", &take).await
}

/// POSTs `body` as JSON to the limiter object `object` at `/path` and reads its JSON answer.
async fn post<T: Serialize, R: serde::de::DeserializeOwned>(env: &Env, object: &str, path: &str, body: &T) -> Result<R, Failure> {
    let body = serde_json::to_string(body)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(JsValue::from_str(&body)));
    let req = Request::new_with_init(&format!("https://limiter/{path}"), &init)?;
    let mut resp = env.durable_object("LIMITER")?.get_by_name(object)?.fetch_with_request(req).await?;
    if resp.status_code() != 200 {
        return Err(Failure::Internal(format!("rate limiter answered {}", resp.status_code())));
    }
    Ok(resp.json::<R>().await?)
}

/// One token for this action, or `429 rate_limited` with `Retry-After` (seconds) and a message
/// saying when to try again. If the limiter itself fails, the request goes through (logged):
/// an outage of the limiter must not lock every operator out.
pub async fn enforce(env: &Env, limit: &Limit, key: &str, what: &str) -> Result<(), Failure> {
    match take(env, limit, key, 1).await {
        Ok(d) if d.allowed => Ok(()),
        Ok(d) => Err(refused(d, what)),
        Err(e) => {
            console_error!("rate limiter {} unavailable, letting the request through: {e:?}", limit.name);
            Ok(())
        }
    }
}

/// What the worker sends to `/take-each`: for each keyed bucket, in order, the requests already
/// served (`owed`, charged first: never refused), then one token taken (stopping at the first
/// refusal) — unless `charge`, which sends only what is owed.
#[derive(Serialize, Deserialize)]
pub struct TakeEachRequest {
    pub takes: Vec<(String, Rule)>,
    /// One count per take (none: nothing owed).
    #[serde(default)]
    pub owed: Vec<u32>,
    #[serde(default)]
    pub charge: bool,
}

/// What `/take-each` answers: which take was refused (if any) and each key's decision.
#[derive(Serialize, Deserialize)]
pub struct TakeEachResponse {
    pub refused: Option<usize>,
    pub decisions: Vec<Decision>,
}

thread_local! {
    /// What this isolate has learnt from the limiter about the keys of `admit`.
    static KNOWN: std::cell::RefCell<ratelimit::Known> = Default::default();
}

/// A charge to send once the request is served (`ctx.wait_until`).
pub type ChargeAfter = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// Admits a request against several memory-only limits kept in one limiter object (`/ask`: the
/// address, then the site, in `ask:<site>`). `checks` are `(rule, key, what)`; a refusal is
/// `429` saying `what`. Keys this isolate knows to have tokens to spare are served at once and
/// charged after — together, at most once a second (the returned future, for
/// `ctx.wait_until`, when one is due): no round trip before the answer, and one limiter request
/// for many answers. Otherwise — a key new here, nearly spent or stale — the limiter decides
/// first (with what is owed), taking from each in order and stopping at the first refusal (an
/// address over its own limit does not spend the site's). A refusal is remembered until its
/// wait is over. An unavailable limiter lets the request through (logged), as [`enforce`] does.
pub async fn admit(env: &Env, object: &str, checks: &[(Rule, String, &str)]) -> Result<Option<ChargeAfter>, Failure> {
    // One isolate serves every site: what it knows is kept per object ("site" is every site's).
    let known: Vec<String> = checks.iter().map(|c| format!("{object}/{}", c.1)).collect();
    let keys: Vec<&str> = known.iter().map(String::as_str).collect();
    let takes: Vec<(String, Rule)> = checks.iter().map(|(r, k, _)| (k.clone(), *r)).collect();
    let now = now_ms();
    match KNOWN.with(|k| k.borrow().admit(&keys, now)) {
        ratelimit::Admission::Refused(i, d) => Err(refused(d, checks[i].2)),
        ratelimit::Admission::TakeFirst => {
            let owed = KNOWN.with(|k| k.borrow_mut().take_owed(&keys, now));
            match take_each(env, object, takes, owed, false).await {
                Ok(answer) => {
                    learn(&known, &answer.decisions);
                    match answer.refused {
                        Some(i) => {
                            let d = answer.decisions.get(i).copied().unwrap_or(Decision {
                                allowed: false,
                                remaining: 0,
                                retry_after_ms: 1_000,
                            });
                            Err(refused(d, checks.get(i).map_or("requests", |c| c.2)))
                        }
                        None => Ok(None),
                    }
                }
                Err(e) => {
                    console_error!("rate limiter {object} unavailable, letting the request through: {e:?}");
                    Ok(None)
                }
            }
        }
        ratelimit::Admission::ChargeAfter => {
            let due = KNOWN.with(|k| {
                let mut k = k.borrow_mut();
                keys.iter().for_each(|key| k.spend(key));
                k.due(&keys, now)
            });
            let Some(owed) = due else { return Ok(None) };
            let (env, object) = (env.clone(), object.to_string());
            Ok(Some(Box::pin(async move {
                match take_each(&env, &object, takes, owed, true).await {
                    Ok(answer) => learn(&known, &answer.decisions),
                    Err(e) => console_error!("rate limiter {object} unavailable, charges are lost: {e:?}"),
                }
            })))
        }
    }
}

fn learn(known: &[String], decisions: &[Decision]) {
    let now = now_ms();
    KNOWN.with(|k| known.iter().zip(decisions).for_each(|(key, d)| k.borrow_mut().learn(key, *d, now)));
}

async fn take_each(env: &Env, object: &str, takes: Vec<(String, Rule)>, owed: Vec<u32>, charge: bool) -> Result<TakeEachResponse, Failure> {
    post(env, object, "take-each", &TakeEachRequest { takes, owed, charge }).await
}

/// `429 rate_limited` with the wait, for a refused take (`what`: "sign-in attempts from your
/// network", …).
pub fn refused(d: Decision, what: &str) -> Failure {
    let secs = d.retry_after_secs();
    Failure::Api(ErrorBody {
        code: ErrorCode::RateLimited,
        message: format!("too many {what}: try again in {secs} s"),
        field: None,
        retry_after: Some(secs),
    })
}

/// The caller's IP address as Cloudflare saw it (`CF-Connecting-IP`; set by the edge, so a
/// client cannot choose it), or "unknown".
pub fn client_ip(req: &Request) -> String {
    req.headers().get("cf-connecting-ip").ok().flatten().unwrap_or_else(|| "unknown".into())
}

#[durable_object]
pub struct RateLimiter {
    state: State,
    /// The bucket of a memory-only limit (`Limit::durable` false).
    memory: std::cell::Cell<Option<Bucket>>,
    /// The keyed buckets of limits checked together (`admit`).
    keyed: std::cell::RefCell<ratelimit::Buckets>,
    #[allow(dead_code)]
    env: Env,
}

#[derive(Deserialize)]
struct Row {
    milli: f64,
    at: f64,
    burst: f64,
    refill_ms: f64,
}

impl DurableObject for RateLimiter {
    fn new(state: State, env: Env) -> Self {
        RateLimiter { state, env, memory: std::cell::Cell::new(None), keyed: Default::default() }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        Ok(self.route(&mut req).await.unwrap_or_else(error_response))
    }

    /// The bucket has had time to fill up: forget it (or look again later if it was used since).
    async fn alarm(&self) -> Result<Response> {
        if let Ok(Some((bucket, rule))) = self.load() {
            let full = ratelimit::full_at(bucket, rule);
            if full <= now_ms() {
                let _ = self.state.storage().sql().exec("DELETE FROM bucket", None);
            } else {
                self.state.storage().set_alarm(full - now_ms() + 1).await?;
            }
        }
        Response::ok("ok")
    }
}

impl RateLimiter {
    async fn route(&self, req: &mut Request) -> Handled {
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/take") => {
                let t: TakeRequest = crate::http::body(req).await?;
                t.rule.validate().map_err(|m| api(ErrorCode::BadRequest, m))?;
                let now = now_ms();
                let step = if t.charge { ratelimit::charge } else { ratelimit::take };
                if !t.durable {
                    let (bucket, decision) = step(self.memory.get(), t.rule, t.cost, now);
                    self.memory.set(Some(bucket));
                    return json(200, &decision);
                }
                // No await between reading and writing the bucket: takes never interleave.
                let stored = self.load()?.map(|(b, _)| b);
                let (bucket, decision) = step(stored, t.rule, t.cost, now);
                self.state.storage().sql().exec(
                    "INSERT INTO bucket (k, milli, at, burst, refill_ms) VALUES (1, ?, ?, ?, ?) \
                     ON CONFLICT(k) DO UPDATE SET milli = excluded.milli, at = excluded.at, burst = excluded.burst, refill_ms = excluded.refill_ms",
                    vec![bucket.milli_tokens.into(), bucket.at.into(), (t.rule.burst as i64).into(), (t.rule.refill_ms as i64).into()],
                )?;
                // One alarm at a time: if it fires before the bucket is full, it looks again
                // then (see `alarm`), so a busy key costs no alarm write per take.
                let storage = self.state.storage();
                if storage.get_alarm().await?.is_none() {
                    storage.set_alarm(ratelimit::full_at(bucket, t.rule) - now + 1).await?;
                }
                json(200, &decision)
            }
            (Method::Post, "/take-each") => {
                let t: TakeEachRequest = crate::http::body(req).await?;
                for (_, rule) in &t.takes {
                    rule.validate().map_err(|m| api(ErrorCode::BadRequest, m))?;
                }
                if !t.owed.is_empty() && t.owed.len() != t.takes.len() {
                    return Err(api(ErrorCode::BadRequest, "send one owed count per take, or none"));
                }
                let (refused, decisions) = self.keyed.borrow_mut().settle(&t.takes, &t.owed, t.charge, now_ms());
                json(200, &TakeEachResponse { refused, decisions })
            }
            _ => Err(api(ErrorCode::NotFound, "no such rate limiter route")),
        }
    }

    fn load(&self) -> Result<Option<(Bucket, Rule)>, Failure> {
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS bucket (k INTEGER PRIMARY KEY, milli INTEGER NOT NULL, at INTEGER NOT NULL, \
             burst INTEGER NOT NULL, refill_ms INTEGER NOT NULL)",
            None,
        )?;
        let rows: Vec<Row> = sql.exec("SELECT milli, at, burst, refill_ms FROM bucket", None)?.to_array()?;
        Ok(rows.into_iter().next().map(|r| {
            (Bucket { milli_tokens: r.milli as i64, at: r.at as i64 }, Rule { burst: r.burst as u32, refill_ms: r.refill_ms as u32 })
        }))
    }
}

fn now_ms() -> i64 {
    Date::now().as_millis() as i64
}
