//! Operator sign-in rules: which rate-limit buckets an attempt is charged to, and what a device
//! cookie vouches for.
//!
//! The per-account bucket stops password guessing from many addresses — but a bucket anyone can
//! empty is also a way to lock the real operator out. So a browser that signed in to an account
//! before carries a *device cookie* (HMAC-signed by the worker, set at each successful sign-in)
//! and is charged to its own bucket instead of the account's and the address's: guessers empty
//! the account's bucket without touching it, and still get only a handful of guesses per account
//! per hour. (The scheme OWASP describes as "device cookies".)

use crate::protocol::SiteId;
use serde::{Deserialize, Serialize};

/// How long a device cookie vouches for its browser (renewed at every sign-in).
pub const DEVICE_SECONDS: i64 = 30 * 86_400;

/// The buckets a sign-in attempt is charged to, before its password is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    /// The caller's IP address, on this site.
    Address,
    /// The account (site + email, whether it exists or not).
    Account,
    /// The browser's device cookie.
    Device,
}

/// A browser with a device cookie for the account is charged to the cookie alone; any other
/// attempt to its address and the account.
pub fn buckets(device_vouches: bool) -> &'static [Bucket] {
    if device_vouches {
        &[Bucket::Device]
    } else {
        &[Bucket::Address, Bucket::Account]
    }
}

/// The account an email names (as typed at sign-in): trimmed, lowercased.
pub fn account(email: &str) -> String {
    email.trim().to_lowercase()
}

/// What a device cookie says (its signature is the worker's business).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub site: SiteId,
    /// [`account`] of the email that signed in.
    pub account: String,
    /// Random: the key of the device's own bucket.
    pub id: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

impl Device {
    pub fn new(site: SiteId, email: &str, id: String, now_secs: i64) -> Device {
        Device { site, account: account(email), id, exp: now_secs + DEVICE_SECONDS }
    }

    /// Whether this cookie exempts an attempt to sign in as `email` on `site` from the account
    /// lockout: same site, same account, not expired, an id to key its bucket by.
    pub fn vouches_for(&self, site: &SiteId, email: &str, now_secs: i64) -> bool {
        &self.site == site && self.account == account(email) && self.exp > now_secs && (16..=64).contains(&self.id.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_vouches_only_for_its_site_and_account_until_it_expires() {
        let demo = SiteId::parse("demo").unwrap();
        let d = Device::new(demo.clone(), " Ann@Example.com ", "0123456789abcdef0123456789abcdef".into(), 1_000);
        assert!(d.vouches_for(&demo, "ann@example.com", 1_000));
        assert!(d.vouches_for(&demo, "ANN@example.com", 1_000 + DEVICE_SECONDS - 1));
        assert!(!d.vouches_for(&demo, "ann@example.com", 1_000 + DEVICE_SECONDS));
        assert!(!d.vouches_for(&demo, "bob@example.com", 1_000), "another account");
        assert!(!d.vouches_for(&SiteId::parse("acme").unwrap(), "ann@example.com", 1_000), "another site");
        let short = Device { id: "x".into(), ..d };
        assert!(!short.vouches_for(&demo, "ann@example.com", 1_000));
    }

    #[test]
    fn vouched_attempts_skip_the_account_and_address_buckets() {
        assert_eq!(buckets(true), [Bucket::Device]);
        assert_eq!(buckets(false), [Bucket::Address, Bucket::Account]);
    }
}
