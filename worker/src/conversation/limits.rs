//! The visitor limits: a bucket per conversation in `meta`, and the per-address budget charged
//! to the `RateLimiter` object after the frame is stored (in batches from sockets).

use super::*;
use baton_shared::ratelimit::{CHARGE_AT_ONCE_BELOW, CHARGE_INTERVAL_MS};

/// The `meta` key of the conversation's message bucket.
const VISITOR_BUCKET: &str = "visitor_bucket";

/// Visitor frames charged to their address (the `RateLimiter`), from the socket path in
/// batches: what is pending, whether a charge is on its way, and the addresses refused (until
/// their debt is paid back: a charge is never dropped, see `ratelimit::charge`).
#[derive(Default)]
pub(super) struct Charges {
    pub(super) pending: RefCell<HashMap<String, u32>>,
    pub(super) busy: Cell<bool>,
    pub(super) last_sent: Cell<i64>,
    /// Addresses over their message limit, until when (ms).
    pub(super) throttled: RefCell<HashMap<String, i64>>,
    /// Addresses with few tokens left: charged at once, not batched, so that the moment their
    /// budget runs out is known within a round trip.
    pub(super) low: RefCell<std::collections::HashSet<String>>,
}

/// Charges `cost` stored frames to the address's bucket (carried as debt if it lacks them); an
/// empty bucket throttles the address here until it has a token again.
pub(super) async fn charge(env: &Env, charges: &Charges, site: &SiteId, ip: &str, cost: u32) {
    let Ok(config) = assets::site_config(env, site).await else { return };
    let per_ip = limiter::Limit::memory("messages-ip", config.limits.visitor_messages_per_ip.rule());
    match limiter::charge(env, &per_ip, &format!("{site}:{ip}"), cost).await {
        Ok(d) if !d.allowed => {
            charges.throttled.borrow_mut().insert(ip.to_string(), now_ms() + d.retry_after_ms);
            charges.low.borrow_mut().insert(ip.to_string());
        }
        Ok(d) => {
            charges.throttled.borrow_mut().remove(ip);
            if d.remaining < CHARGE_AT_ONCE_BELOW {
                charges.low.borrow_mut().insert(ip.to_string());
            } else {
                charges.low.borrow_mut().remove(ip);
            }
        }
        // The limiter is down: let visitors through (logged), as for sign-in.
        Err(e) => console_error!("rate limiter unavailable, not limiting {ip}: {e:?}"),
    }
}

impl Conversation {
    /// The visitor limits (`[limits]` in `baton.toml`). Per conversation (the token): a bucket
    /// in `meta`, so it survives hibernation, taken before the frame is stored. Per IP address:
    /// the `RateLimiter` object, charged *after* the frame is stored and relayed — over HTTP
    /// before the answer, from sockets in batches at most once a second (a round trip to
    /// another object per message would more than double the relay latency and its CPU), and
    /// at once when the address has few tokens left. A charge is never refused: what the
    /// bucket lacks is carried as debt, and while the address owes, this conversation refuses
    /// its frames. So an address spreading a flood over many conversations gets past its
    /// budget by at most what it sends while the charges are on their way (a second's worth at
    /// most, a round trip's near the limit), and pays that back. Operators are not limited;
    /// resends of stored frames and frames that store nothing are free.
    pub(super) async fn visitor_limits(&self, actor: &Actor, msg: &ClientMsg, ip: Option<&str>) -> Result<(), Failure> {
        let cost = ratelimit::visitor_cost(actor.role(), msg);
        if cost == 0 || self.stored_seq(actor, msg)?.is_some() {
            return Ok(());
        }
        let now = now_ms();
        if let Some(&until) = self.charges.throttled.borrow().get(ip.unwrap_or("unknown")) {
            if until > now {
                let d = ratelimit::Decision { allowed: false, remaining: 0, retry_after_ms: until - now };
                return Err(limiter::refused(d, "messages from your network"));
            }
        }
        let site = self.load()?.site;
        let config = assets::site_config(&self.env, &site).await?;
        let rule = config.limits.visitor_messages.rule();
        // ---- no await from here: read and write the bucket together ----
        let cached = self.visitor_bucket.borrow().clone();
        let bucket = match cached {
            Some(b) => b,
            None => self.meta(VISITOR_BUCKET)?.and_then(|b| serde_json::from_str(&b).ok()),
        };
        let (taken, decision) = ratelimit::take(bucket, rule, cost, now_ms());
        if !decision.allowed {
            return Err(limiter::refused(decision, "messages in this conversation"));
        }
        // Written through (the bucket must outlive hibernation); the copy in memory saves the
        // read on the next frame.
        self.set_meta(VISITOR_BUCKET, &serde_json::to_string(&taken)?)?;
        *self.visitor_bucket.borrow_mut() = Some(Some(taken));
        Ok(())
    }

    /// Charges a stored visitor frame to its address (see `visitor_limits`); the HTTP path
    /// awaits the charge before answering.
    pub(super) async fn charge_address_now(&self, actor: &Actor, msg: &ClientMsg, ip: Option<&str>) {
        let cost = ratelimit::visitor_cost(actor.role(), msg);
        if let (true, Ok(st)) = (cost > 0, self.load()) {
            charge(&self.env, &self.charges, &st.site, ip.unwrap_or("unknown"), cost).await;
        }
    }

    /// The socket path: the charge is added to the address's pending cost and sent detached,
    /// at most once per `CHARGE_INTERVAL_MS` (a round trip to the limiter costs more CPU than
    /// relaying a message; a busy socket's frames must not queue behind it).
    pub(super) fn charge_address_later(&self, actor: &Actor, msg: &ClientMsg, ip: Option<&str>) {
        let cost = ratelimit::visitor_cost(actor.role(), msg);
        if cost == 0 {
            return;
        }
        let Ok(site) = self.load().map(|s| s.site) else { return };
        let charges = self.charges.clone();
        *charges.pending.borrow_mut().entry(ip.unwrap_or("unknown").to_string()).or_default() += cost;
        if charges.busy.replace(true) {
            return;
        }
        let env = self.env.clone();
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                let urgent = {
                    let (pending, low) = (charges.pending.borrow(), charges.low.borrow());
                    if pending.is_empty() {
                        break;
                    }
                    pending.keys().any(|ip| low.contains(ip))
                };
                let wait = charges.last_sent.get() + CHARGE_INTERVAL_MS - now_ms();
                if wait > 0 && !urgent {
                    Delay::from(std::time::Duration::from_millis(wait as u64)).await;
                }
                let pending: Vec<(String, u32)> = charges.pending.borrow_mut().drain().collect();
                charges.last_sent.set(now_ms());
                for (ip, cost) in pending {
                    charge(&env, &charges, &site, &ip, cost).await;
                }
            }
            charges.busy.set(false);
        });
    }
}
