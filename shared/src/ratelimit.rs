//! Token buckets: the arithmetic behind the worker's `RateLimiter` object (one object per key,
//! e.g. an IP address or an account). A bucket holds up to `burst` tokens and gains one every
//! `refill_ms`; an action costs tokens; with too few left it is refused and told how long to
//! wait. Pure functions of (bucket, rule, now), so they are tested here and the object only
//! stores the bucket.

use crate::protocol::{ClientMsg, Role};
use serde::{Deserialize, Serialize};

/// What a frame costs against the visitor limits (`config::LimitsConfig`): one token for every
/// visitor frame that may write to the log; nothing for `hello`, `ping` and `typing`, which
/// store nothing (typing is relayed, at most every few seconds by the widget), and nothing
/// from operators, who are not limited.
pub fn visitor_cost(sender: Role, msg: &ClientMsg) -> u32 {
    match (sender, msg) {
        (Role::Operator, _) => 0,
        (_, ClientMsg::Hello { .. } | ClientMsg::Ping | ClientMsg::Typing { .. }) => 0,
        _ => 1,
    }
}

/// How much may happen how often.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Tokens a full bucket holds: how many actions may happen at once after a quiet spell.
    pub burst: u32,
    /// Milliseconds to regain one token: the sustained rate.
    pub refill_ms: u32,
}

impl Rule {
    /// Milliseconds from empty to full.
    pub fn full_after_ms(&self) -> i64 {
        self.burst as i64 * self.refill_ms.max(1) as i64
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.burst == 0 || self.burst > 1_000_000 || self.refill_ms == 0 || self.refill_ms > 86_400_000 {
            Err("a rule needs burst 1-1000000 and refill_ms 1-86400000".into())
        } else {
            Ok(())
        }
    }
}

/// A bucket's state: its tokens (in thousandths, so partial refills add up exactly) at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub milli_tokens: i64,
    pub at: i64,
}

/// What a `take` decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    /// Whole tokens left after this take.
    pub remaining: u32,
    /// When refused: milliseconds until the cost is available (0 when allowed).
    pub retry_after_ms: i64,
}

impl Decision {
    /// `Retry-After` in whole seconds, rounded up (at least 1 when refused).
    pub fn retry_after_secs(&self) -> u32 {
        if self.allowed {
            0
        } else {
            ((self.retry_after_ms.max(1) + 999) / 1000) as u32
        }
    }
}

/// The bucket refilled up to `now` (a new key starts full).
pub fn refill(bucket: Option<Bucket>, rule: Rule, now: i64) -> Bucket {
    let full = rule.burst as i64 * 1000;
    match bucket {
        None => Bucket { milli_tokens: full, at: now },
        Some(b) => {
            // A clock that went backwards refills nothing (and never drains).
            let elapsed = (now - b.at).max(0);
            let gained = elapsed.saturating_mul(1000) / rule.refill_ms.max(1) as i64;
            Bucket { milli_tokens: (b.milli_tokens + gained).min(full), at: now.max(b.at) }
        }
    }
}

/// Takes `cost` tokens if there are enough; otherwise takes nothing and says when to retry.
pub fn take(bucket: Option<Bucket>, rule: Rule, cost: u32, now: i64) -> (Bucket, Decision) {
    let mut b = refill(bucket, rule, now);
    let cost = cost as i64 * 1000;
    if b.milli_tokens >= cost {
        b.milli_tokens -= cost;
        (b, Decision { allowed: true, remaining: (b.milli_tokens / 1000) as u32, retry_after_ms: 0 })
    } else {
        let missing = cost - b.milli_tokens;
        let wait = (missing * rule.refill_ms.max(1) as i64 + 999) / 1000;
        (b, Decision { allowed: false, remaining: (b.milli_tokens / 1000) as u32, retry_after_ms: wait })
    }
}

/// Charges `cost` tokens for actions already done (a visitor's message stored and relayed before
/// its address was charged): unlike [`take`], a charge is never refused — what the bucket
/// lacks is carried as debt (down to one burst below empty) that later refills pay back, so an
/// address cannot get messages through free by making its charges fail. The decision says
/// whether the *next* action may go ahead (at least one whole token left) and, if not, when.
pub fn charge(bucket: Option<Bucket>, rule: Rule, cost: u32, now: i64) -> (Bucket, Decision) {
    let mut b = refill(bucket, rule, now);
    let floor = -(rule.burst as i64 * 1000);
    b.milli_tokens = (b.milli_tokens - cost as i64 * 1000).max(floor);
    if b.milli_tokens >= 1000 {
        (b, Decision { allowed: true, remaining: (b.milli_tokens / 1000) as u32, retry_after_ms: 0 })
    } else {
        let wait = ((1000 - b.milli_tokens) * rule.refill_ms.max(1) as i64 + 999) / 1000;
        (b, Decision { allowed: false, remaining: 0, retry_after_ms: wait })
    }
}

/// When this bucket will be full again (its state can be forgotten from then on).
pub fn full_at(bucket: Bucket, rule: Rule) -> i64 {
    let missing = rule.burst as i64 * 1000 - bucket.milli_tokens;
    bucket.at + (missing.max(0) * rule.refill_ms.max(1) as i64 + 999) / 1000
}

/// Several keys' buckets held in memory by one object, so that limits checked together cost one
/// round trip: `/ask` checks the asker's address, then the site, in the site's limiter object
/// (two objects would be two sequential round trips before every answer, each possibly to
/// another data centre). Memory only: losing it gives back one burst per key, as for the
/// single memory-only bucket.
#[derive(Clone, Debug, Default)]
pub struct Buckets {
    held: std::collections::HashMap<String, (Bucket, Rule)>,
}

/// The most keys one object keeps; past it, full buckets are forgotten first (they hold no
/// state a new bucket would not), then all but the keys being taken.
pub const MAX_HELD_BUCKETS: usize = 4096;

impl Buckets {
    /// Takes one token from each `(key, rule)` in order and stops at the first refusal: the
    /// keys after it are untouched (an address over its own limit does not spend the site's).
    /// Returns the refused take's index (if any) and the decision of each key taken from, up
    /// to and including the refused one.
    pub fn take_each(&mut self, takes: &[(String, Rule)], now: i64) -> (Option<usize>, Vec<Decision>) {
        let mut decisions = Vec::with_capacity(takes.len());
        for (i, (key, rule)) in takes.iter().enumerate() {
            let (bucket, decision) = take(self.held.get(key).map(|h| h.0), *rule, 1, now);
            decisions.push(decision);
            if !decision.allowed {
                return (Some(i), decisions);
            }
            self.make_room(key, takes, now);
            self.held.insert(key.clone(), (bucket, *rule));
        }
        (None, decisions)
    }

    /// Charges `costs[i]` tokens to each `(key, rule)` (`charge`: never refused, carried as
    /// debt) and returns each key's decision for its next action, in order.
    pub fn charge_each(&mut self, charges: &[(String, Rule)], costs: &[u32], now: i64) -> Vec<Decision> {
        charges
            .iter()
            .zip(costs)
            .map(|((key, rule), &cost)| {
                let (bucket, decision) = charge(self.held.get(key).map(|h| h.0), *rule, cost, now);
                self.make_room(key, charges, now);
                self.held.insert(key.clone(), (bucket, *rule));
                decision
            })
            .collect()
    }

    /// One `/take-each` request: charges what each key is owed for requests already served
    /// (`owed[i]`, never refused; none or zeros: nothing), then — unless `charge_only` — takes
    /// one token from each (`take_each`). Returns the refused take (if any) and the decisions:
    /// the take's, or the charge's when only charging.
    pub fn settle(&mut self, keys: &[(String, Rule)], owed: &[u32], charge_only: bool, now: i64) -> (Option<usize>, Vec<Decision>) {
        let charged = if charge_only || owed.iter().any(|&o| o > 0) {
            let costs: Vec<u32> = (0..keys.len()).map(|i| owed.get(i).copied().unwrap_or(0)).collect();
            self.charge_each(keys, &costs, now)
        } else {
            Vec::new()
        };
        if charge_only {
            (None, charged)
        } else {
            self.take_each(keys, now)
        }
    }

    fn make_room(&mut self, key: &str, taking: &[(String, Rule)], now: i64) {
        if !self.held.contains_key(key) && self.held.len() >= MAX_HELD_BUCKETS {
            self.held.retain(|_, (b, r)| full_at(*b, *r) > now);
            if self.held.len() >= MAX_HELD_BUCKETS {
                self.held.retain(|k, _| taking.iter().any(|t| &t.0 == k));
            }
        }
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

/// Below this many tokens left, an address is charged before its request is served rather than
/// after: the moment its budget runs out is then known within one round trip.
pub const CHARGE_AT_ONCE_BELOW: u32 = 10;

/// Requests served before they were charged are sent to the limiter together, at most once per
/// this many ms per key (and always with the next request that asks the limiter first): a
/// limiter request per answer or per message would cost more than the work it guards, and an
/// object may sit in another data centre.
pub const CHARGE_INTERVAL_MS: i64 = 1_000;

/// What one worker isolate has learnt about keys from the limiter's answers, so that a request
/// whose keys have tokens to spare is served at once and charged afterwards (no round trip
/// before the answer), while a key that is new here, nearly spent or refused is decided before
/// serving. The charges owed are sent together (`due`, at most once per `CHARGE_INTERVAL_MS`)
/// or with the next take (`take_owed`), and they count against what this isolate knows is left
/// in the meantime: one isolate alone never gets past a budget. A flood spread over many
/// isolates gets past it by at most what it sends while the charges are unsent or on their way
/// (a second's worth) — and then pays that back as debt (`charge`).
#[derive(Clone, Debug, Default)]
pub struct Known {
    keys: std::collections::HashMap<String, KnownKey>,
}

#[derive(Clone, Copy, Debug, Default)]
struct KnownKey {
    /// Tokens left: the limiter's last answer minus what was served here since.
    left: u32,
    /// Refused until (ms); 0 when allowed.
    refused_until: i64,
    /// When the limiter's answer was learnt (ms).
    learnt_at: i64,
    /// Requests served here and not yet sent as a charge.
    owed: u32,
    /// When owed charges were last sent or the key last taken from (ms).
    settled_at: i64,
}

/// How long what was learnt about a key is trusted: other isolates spend the same bucket.
pub const KNOWN_FOR_MS: i64 = 10_000;

/// The most keys one isolate remembers (it forgets them all past it: they are learnt again).
pub const MAX_KNOWN_KEYS: usize = 10_000;

/// How a request is to be admitted (`Known::admit`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Admission {
    /// A key was refused and its wait is not over: refuse again, with this decision.
    Refused(usize, Decision),
    /// Ask the limiter before serving (`Buckets::settle`), charging what is owed first
    /// (`Known::take_owed`).
    TakeFirst,
    /// Serve, then charge (`Known::spend`, then `Known::due`).
    ChargeAfter,
}

impl Known {
    /// How to admit a request spending one token of each key.
    pub fn admit(&self, keys: &[&str], now: i64) -> Admission {
        let mut take_first = false;
        for (i, key) in keys.iter().enumerate() {
            match self.keys.get(*key) {
                Some(k) if k.refused_until > now => {
                    let d = Decision { allowed: false, remaining: 0, retry_after_ms: k.refused_until - now };
                    return Admission::Refused(i, d);
                }
                Some(k) if k.left >= CHARGE_AT_ONCE_BELOW && now - k.learnt_at < KNOWN_FOR_MS => {}
                _ => take_first = true,
            }
        }
        if take_first {
            Admission::TakeFirst
        } else {
            Admission::ChargeAfter
        }
    }

    /// Remembers the limiter's decision for a key (one token fewer for the request it allows;
    /// what was served here since the charges it saw were sent is still owed and counted).
    pub fn learn(&mut self, key: &str, d: Decision, now: i64) {
        if self.keys.len() >= MAX_KNOWN_KEYS && !self.keys.contains_key(key) {
            self.keys.clear();
        }
        let k = self.keys.entry(key.to_string()).or_insert(KnownKey { settled_at: now, ..KnownKey::default() });
        k.left = d.remaining.saturating_sub(k.owed);
        k.refused_until = if d.allowed { 0 } else { now + d.retry_after_ms };
        k.learnt_at = now;
    }

    /// Counts a request served on what was known; its charge is owed until sent.
    pub fn spend(&mut self, key: &str) {
        if let Some(k) = self.keys.get_mut(key) {
            k.left = k.left.saturating_sub(1);
            k.owed += 1;
        }
    }

    /// The charges to send now for `keys` (what each owes, in order), if the last were sent at
    /// least `CHARGE_INTERVAL_MS` ago; they then count as sent.
    pub fn due(&mut self, keys: &[&str], now: i64) -> Option<Vec<u32>> {
        let ready = keys.iter().any(|key| self.keys.get(*key).is_some_and(|k| k.owed > 0 && now - k.settled_at >= CHARGE_INTERVAL_MS));
        ready.then(|| self.take_owed(keys, now))
    }

    /// Everything `keys` owe (in order), to send with a take; it then counts as sent.
    pub fn take_owed(&mut self, keys: &[&str], now: i64) -> Vec<u32> {
        keys.iter()
            .map(|key| match self.keys.get_mut(*key) {
                Some(k) => {
                    k.settled_at = now;
                    std::mem::take(&mut k.owed)
                }
                None => 0,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN: Rule = Rule { burst: 3, refill_ms: 10_000 };

    #[test]
    fn a_new_key_has_its_burst_then_waits_for_refills() {
        let mut b = None;
        for left in [2, 1, 0] {
            let (nb, d) = take(b, LOGIN, 1, 0);
            assert_eq!((d.allowed, d.remaining), (true, left));
            b = Some(nb);
        }
        let (nb, d) = take(b, LOGIN, 1, 4_000);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_ms, 6_000, "one token comes 10 s after the burst was spent");
        assert_eq!(d.retry_after_secs(), 6);
        // Refused takes cost nothing: at 10 s the token is there.
        let (nb, d) = take(Some(nb), LOGIN, 1, 10_000);
        assert!(d.allowed);
        assert_eq!(full_at(nb, LOGIN), 40_000);
        // A long quiet spell refills to the burst, not beyond.
        let (_, d) = take(Some(nb), LOGIN, 1, 1_000_000);
        assert_eq!(d.remaining, 2);
    }

    #[test]
    fn partial_refills_add_up_and_clocks_going_backwards_do_no_harm() {
        let (b, _) = take(None, LOGIN, 3, 0);
        let b = refill(Some(b), LOGIN, 2_500);
        let b = refill(Some(b), LOGIN, 5_000);
        let b = refill(Some(b), LOGIN, 7_500);
        let (b, d) = take(Some(b), LOGIN, 1, 10_000);
        assert!(d.allowed, "four quarter-refills make a token");
        let back = refill(Some(b), LOGIN, 0);
        assert_eq!(back, b);
        let (_, d) = take(None, LOGIN, 4, 0);
        assert!(!d.allowed, "a cost above the burst is never allowed");
        assert_eq!(Decision { allowed: false, remaining: 0, retry_after_ms: 1 }.retry_after_secs(), 1);
    }

    #[test]
    fn charges_carry_what_the_bucket_lacks_as_debt() {
        let rule = Rule { burst: 5, refill_ms: 1_000 };
        // Four charged one by one leave one token: the next may go ahead.
        let mut b = None;
        for left in [4, 3, 2, 1] {
            let (nb, d) = charge(b, rule, 1, 0);
            assert_eq!((d.allowed, d.remaining), (true, left));
            b = Some(nb);
        }
        // The fifth empties the bucket: nothing more until a token is back.
        let (nb, d) = charge(b, rule, 1, 0);
        assert_eq!((d.allowed, d.retry_after_ms), (false, 1_000));
        // A batch of eight that arrives anyway is carried (not dropped, as a refused take
        // would be), so the address waits for it to be paid back.
        let (nb, d) = charge(Some(nb), rule, 8, 0);
        assert!(!d.allowed);
        assert_eq!(nb.milli_tokens, -5_000, "debt is floored at one burst");
        assert_eq!(d.retry_after_ms, 6_000);
        let (_, d) = take(Some(nb), rule, 1, 5_000);
        assert!(!d.allowed, "still paying back at 5 s");
        let (_, d) = take(Some(nb), rule, 1, 6_000);
        assert!(d.allowed, "paid back at 6 s");
    }

    #[test]
    fn limits_taken_together_stop_at_the_first_refusal_and_forget_full_buckets() {
        let ip = Rule { burst: 2, refill_ms: 60_000 };
        let site = Rule { burst: 3, refill_ms: 60_000 };
        let mut b = Buckets::default();
        let ask = |b: &mut Buckets, addr: &str| b.take_each(&[(addr.into(), ip), ("site".into(), site)], 0);
        assert_eq!(ask(&mut b, "a").0, None);
        assert_eq!(ask(&mut b, "a").0, None);
        // The address is over its limit: refused at its own bucket, the site's is not spent.
        let (refused, d) = ask(&mut b, "a");
        assert_eq!((refused, d.len(), d[0].allowed, d[0].retry_after_ms), (Some(0), 1, false, 60_000));
        assert_eq!(ask(&mut b, "b").0, None);
        let (refused, _) = ask(&mut b, "c");
        assert_eq!(refused, Some(1), "the site's three are spent: a, a, b");
        assert_eq!(b.len(), 4, "a, b, the site, and c: refused at the site, c's own token was taken");
        // Past the cap, full buckets are forgotten first...
        let mut many = Buckets::default();
        for i in 0..MAX_HELD_BUCKETS {
            many.take_each(&[(format!("old{i}"), ip)], 0);
        }
        assert_eq!(many.len(), MAX_HELD_BUCKETS);
        let later = 60_000;
        many.take_each(&[("new".into(), ip)], later);
        assert_eq!(many.len(), 1, "every old bucket was full again by then");
        // ...and when none is, all but the keys being taken (a flood of new addresses cannot
        // grow the object's memory without bound).
        for i in 1..MAX_HELD_BUCKETS {
            many.take_each(&[(format!("x{i}"), ip)], later);
        }
        assert_eq!(many.len(), MAX_HELD_BUCKETS);
        many.take_each(&[("y".into(), ip), ("site".into(), site)], later);
        assert_eq!(many.len(), 2);
    }

    #[test]
    fn an_isolate_serves_keys_with_tokens_to_spare_at_once_and_asks_first_otherwise() {
        let mut k = Known::default();
        assert_eq!(k.admit(&["ip:a", "site"], 0), Admission::TakeFirst, "never seen here");
        let plenty = Decision { allowed: true, remaining: 50, retry_after_ms: 0 };
        k.learn("ip:a", plenty, 0);
        assert_eq!(k.admit(&["ip:a", "site"], 0), Admission::TakeFirst, "the site is not known yet");
        k.learn("site", plenty, 0);
        assert_eq!(k.admit(&["ip:a", "site"], 1), Admission::ChargeAfter);
        // Spending down to the margin: asked first again.
        for _ in 0..(50 - CHARGE_AT_ONCE_BELOW) {
            k.spend("ip:a");
        }
        assert_eq!(k.admit(&["ip:a", "site"], 2), Admission::ChargeAfter);
        k.spend("ip:a");
        assert_eq!(k.admit(&["ip:a", "site"], 3), Admission::TakeFirst);
        // A refusal is repeated from memory until its wait is over.
        k.learn("ip:a", Decision { allowed: false, remaining: 0, retry_after_ms: 5_000 }, 10);
        assert!(matches!(k.admit(&["ip:a", "site"], 11), Admission::Refused(0, d) if d.retry_after_ms == 4_999));
        assert_eq!(k.admit(&["ip:a", "site"], 5_010), Admission::TakeFirst);
        // What was learnt grows stale: other isolates spend the same buckets.
        k.learn("ip:b", plenty, 0);
        assert_eq!(k.admit(&["ip:b", "site"], KNOWN_FOR_MS), Admission::TakeFirst);
    }

    #[test]
    fn what_an_isolate_served_is_charged_together_at_most_once_a_second_and_with_the_next_take() {
        let mut k = Known::default();
        let plenty = Decision { allowed: true, remaining: 50, retry_after_ms: 0 };
        let keys = ["ip:a", "site"];
        k.learn("ip:a", plenty, 0);
        k.learn("site", plenty, 0);
        // Served at 100, 200, … 900 ms: nothing is sent before a second has passed.
        for t in (100..1_000).step_by(100) {
            assert_eq!(k.admit(&keys, t), Admission::ChargeAfter);
            keys.iter().for_each(|key| k.spend(key));
            assert_eq!(k.due(&keys, t), None, "at {t} ms");
        }
        k.spend("ip:a");
        k.spend("site");
        assert_eq!(k.due(&keys, 1_000), Some(vec![10, 10]), "ten served, one charge");
        assert_eq!(k.due(&keys, 1_100), None, "sent: nothing owed");
        // The limiter's answer to that charge says 40 left; two more were served since.
        k.spend("ip:a");
        k.spend("site");
        k.spend("ip:a");
        k.learn("ip:a", Decision { allowed: true, remaining: 40, retry_after_ms: 0 }, 1_200);
        assert_eq!(k.keys["ip:a"].left, 38, "what is owed counts against what is left");
        // A take (here: the site's knowledge went stale) carries everything owed.
        assert_eq!(k.admit(&keys, KNOWN_FOR_MS + 1), Admission::TakeFirst);
        assert_eq!(k.take_owed(&keys, KNOWN_FOR_MS + 1), vec![2, 1]);
        assert_eq!(k.take_owed(&keys, KNOWN_FOR_MS + 1), vec![0, 0]);
        // Unknown keys owe nothing.
        assert_eq!(k.take_owed(&["ip:new"], 0), vec![0]);
    }

    #[test]
    fn what_one_isolate_serves_never_gets_past_the_budget() {
        // One isolate alone, a budget of 40: whatever it serves before charging, the limiter
        // sees exactly what was served and refuses the 41st.
        let rule = Rule { burst: 40, refill_ms: 3_600_000 };
        let (mut known, mut limiter) = (Known::default(), Buckets::default());
        let takes = [("ip:a".to_string(), rule)];
        let mut served = 0;
        for t in 0..100 {
            match known.admit(&["ip:a"], t) {
                Admission::Refused(..) => continue,
                Admission::TakeFirst => {
                    let owed = known.take_owed(&["ip:a"], t);
                    let (refused, d) = limiter.settle(&takes, &owed, false, t);
                    known.learn("ip:a", d[0], t);
                    if refused.is_some() {
                        continue;
                    }
                }
                Admission::ChargeAfter => {
                    known.spend("ip:a");
                    if let Some(owed) = known.due(&["ip:a"], t) {
                        let (_, d) = limiter.settle(&takes, &owed, true, t);
                        known.learn("ip:a", d[0], t);
                    }
                }
            }
            served += 1;
        }
        assert_eq!(served, 40);
    }

    #[test]
    fn charges_to_several_keys_are_never_refused_and_say_what_is_left() {
        let rule = Rule { burst: 2, refill_ms: 60_000 };
        let mut b = Buckets::default();
        let keys = [("ip:a".to_string(), rule), ("site".to_string(), rule)];
        let d = b.charge_each(&keys, &[1, 1], 0);
        assert_eq!((d[0].allowed, d[0].remaining, d[1].remaining), (true, 1, 1));
        let d = b.charge_each(&keys, &[1, 1], 0);
        assert!(!d[0].allowed && !d[1].allowed, "the next would have no token");
        let (refused, _) = b.take_each(&keys, 0);
        assert_eq!(refused, Some(0), "a take after the charges is refused");
    }

    #[test]
    fn visitor_frames_that_write_cost_a_token() {
        assert_eq!(visitor_cost(Role::Visitor, &ClientMsg::Ping), 0);
        assert_eq!(visitor_cost(Role::Visitor, &ClientMsg::Typing { on: true }), 0);
        assert_eq!(visitor_cost(Role::Visitor, &ClientMsg::Hello { token: None, after: 0 }), 0);
        assert_eq!(visitor_cost(Role::Visitor, &ClientMsg::Message { client_id: "c".into(), text: "hi".into() }), 1);
        assert_eq!(visitor_cost(Role::Visitor, &ClientMsg::RequestHuman { client_id: "c".into() }), 1);
        assert_eq!(visitor_cost(Role::Operator, &ClientMsg::Message { client_id: "c".into(), text: "hi".into() }), 0);
    }

    #[test]
    fn rules_are_checked() {
        assert!(LOGIN.validate().is_ok());
        assert!(Rule { burst: 0, refill_ms: 1 }.validate().is_err());
        assert!(Rule { burst: 1, refill_ms: 0 }.validate().is_err());
    }
}
