//! Operator sign-in: accounts from the `BATON_OPERATORS` secret (PBKDF2-SHA256 hashes made by
//! `index-builder operator add`), sessions as HMAC-signed cookies keyed by `BATON_SESSION_KEY`.
//! Visitors never get a session: their per-conversation token is checked by the object.
//!
//! Logout ends a session for good, not only in the browser that signs out: each session has a
//! random id (`sid`), and logout records it as revoked in the site's `Inbox` object until the
//! session would have expired anyway ([`require_operator`] asks; the inbox socket checks it
//! when it opens, and logout closes that session's open inbox and conversation sockets, see
//! `sessions.rs`).
//!
//! A successful sign-in also sets a device cookie (`baton_device`, only sent to the site's
//! login route): it exempts that browser from the per-account lockout (`shared::signin`).

use crate::http::{api, Failure};
use baton_shared::protocol::{hex, ErrorCode, OperatorRef, SiteId};
use baton_shared::signin::Device;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{Env, Request};

pub const COOKIE: &str = "baton_session";
pub const DEVICE_COOKIE: &str = "baton_device";
/// Sessions last a working day.
pub const SESSION_SECONDS: i64 = 12 * 3600;

/// One operator account, as in the `BATON_OPERATORS` secret (a JSON array).
#[derive(Clone, Debug, Deserialize)]
pub struct Account {
    pub site: SiteId,
    pub email: String,
    pub name: String,
    /// `pbkdf2-sha256:<iterations>:<salt hex>:<hash hex>` (no `$`: .env files expand it)
    pub password: String,
}

/// What a session cookie proves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub site: SiteId,
    pub operator: OperatorRef,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Random id of this sign-in, so logout can revoke it. Cookies without one are refused.
    #[serde(default)]
    pub sid: String,
}

/// A new session id: 128 random bits.
pub fn new_sid() -> Result<String, Failure> {
    let mut b = [0u8; 16];
    getrandom02::getrandom(&mut b).map_err(|e| Failure::Internal(e.to_string()))?;
    Ok(hex(&b))
}

pub fn accounts(env: &Env) -> Vec<Account> {
    let Ok(raw) = env.secret("BATON_OPERATORS").map(|s| s.to_string()).or_else(|_| env.var("BATON_OPERATORS").map(|v| v.to_string()))
    else {
        return Vec::new();
    };
    match serde_json::from_str(&raw) {
        Ok(a) => a,
        Err(e) => {
            worker::console_error!("BATON_OPERATORS is not a JSON array of accounts: {e}");
            Vec::new()
        }
    }
}

fn session_key(env: &Env) -> Result<Vec<u8>, Failure> {
    let key = env.secret("BATON_SESSION_KEY").map(|s| s.to_string()).or_else(|_| env.var("BATON_SESSION_KEY").map(|v| v.to_string()));
    match key {
        Ok(k) if k.len() >= 32 => Ok(k.into_bytes()),
        _ => Err(Failure::Internal("BATON_SESSION_KEY is missing or shorter than 32 characters: set it with `wrangler secret put`".into())),
    }
}

/// The key that signs links in emails (`baton_shared::email::link_signature`): the session key;
/// each link's signed text names its purpose, so a link is never a session and vice versa.
pub fn link_key(env: &Env) -> Result<Vec<u8>, Failure> {
    session_key(env)
}

/// Checks a password against a stored hash, in constant time.
pub async fn verify_password(stored: &str, password: &str) -> bool {
    let parts: Vec<&str> = stored.split(':').collect();
    let [scheme, iterations, salt, hash] = parts.as_slice() else {
        return false;
    };
    let (Ok(iterations), Some(salt), Some(hash)) = (iterations.parse::<u32>(), unhex(salt), unhex(hash)) else {
        return false;
    };
    if *scheme != "pbkdf2-sha256" || !(1_000..=2_000_000).contains(&iterations) || hash.is_empty() || hash.len() > 64 {
        return false;
    }
    let out = pbkdf2_sha256(password.as_bytes(), &salt, iterations, hash.len()).await;
    out.ct_eq(&hash).into()
}

/// The most rounds workerd's WebCrypto takes (it refuses more).
const WEBCRYPTO_MAX_ROUNDS: u32 = 100_000;

/// PBKDF2-HMAC-SHA256 by WebCrypto (`crypto.subtle.deriveBits`): native code in workerd, where
/// the same 100,000 rounds in wasm cost ~50 ms of the request's CPU per sign-in. Hashes with
/// more rounds than workerd allows (made elsewhere), or a runtime without WebCrypto, get the
/// pure-Rust derivation: the same bytes, slower.
async fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Vec<u8> {
    if iterations <= WEBCRYPTO_MAX_ROUNDS {
        match webcrypto_pbkdf2(password, salt, iterations, len).await {
            Ok(out) if out.len() == len => return out,
            Ok(_) => worker::console_error!("WebCrypto PBKDF2 gave the wrong length; deriving in wasm"),
            Err(e) => worker::console_error!("WebCrypto PBKDF2 failed, deriving in wasm: {e:?}"),
        }
    }
    let mut out = vec![0u8; len];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
    out
}

async fn webcrypto_pbkdf2(password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Result<Vec<u8>, JsValue> {
    use js_sys::{Array, Object, Reflect, Uint8Array};
    let crypto: web_sys::Crypto = Reflect::get(&js_sys::global(), &"crypto".into())?.dyn_into()?;
    let subtle = crypto.subtle();
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &"PBKDF2".into())?;
    let usages = Array::of1(&"deriveBits".into());
    let key = subtle.import_key_with_object("raw", &Uint8Array::from(password), &algorithm, false, &usages)?;
    let key: web_sys::CryptoKey = JsFuture::from(key).await?.dyn_into()?;
    let params = Object::new();
    Reflect::set(&params, &"name".into(), &"PBKDF2".into())?;
    Reflect::set(&params, &"hash".into(), &"SHA-256".into())?;
    Reflect::set(&params, &"salt".into(), &Uint8Array::from(salt))?;
    Reflect::set(&params, &"iterations".into(), &iterations.into())?;
    let bits = subtle.derive_bits_with_object(&params, &key, (len * 8) as u32)?;
    Ok(Uint8Array::new(&JsFuture::from(bits).await?).to_vec())
}

/// A hash nobody's password matches, to spend the same time on unknown emails.
const DUMMY_HASH: &str =
    "pbkdf2-sha256:100000:00000000000000000000000000000000:0000000000000000000000000000000000000000000000000000000000000000";

/// Finds the account for a login; `None` for an unknown email or a wrong password alike.
pub async fn login(env: &Env, site: &SiteId, email: &str, password: &str) -> Option<Account> {
    let email = email.trim().to_lowercase();
    let account = accounts(env).into_iter().find(|a| &a.site == site && a.email.to_lowercase() == email);
    match account {
        Some(a) if verify_password(&a.password, password).await => Some(a),
        Some(_) => None,
        None => {
            verify_password(DUMMY_HASH, password).await;
            None
        }
    }
}

fn sign(key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(payload);
    mac.finalize().into_bytes().to_vec()
}

/// The `Set-Cookie` value for a new session.
pub fn session_cookie(env: &Env, req: &Request, session: &Session) -> Result<String, Failure> {
    let payload = serde_json::to_vec(session)?;
    let sig = sign(&session_key(env)?, &payload);
    let value = format!("{}.{}", hex(&payload), hex(&sig));
    Ok(format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}{}", secure_attr(req)))
}

/// The `Set-Cookie` value that ends a session.
pub fn logout_cookie(req: &Request) -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}", secure_attr(req))
}

/// `Secure` everywhere except plain-http localhost, where browsers would drop the cookie.
fn secure_attr(req: &Request) -> &'static str {
    let local = req.url().ok().is_some_and(|u| u.scheme() == "http" && matches!(u.host_str(), Some("localhost") | Some("127.0.0.1")));
    if local {
        ""
    } else {
        "; Secure"
    }
}

/// A device cookie's signature covers this prefix too, so no session cookie can pass for a
/// device cookie or the other way round.
const DEVICE_DOMAIN: &[u8] = b"baton-device\0";

/// The `Set-Cookie` value of a browser's device cookie: sent back only to the site's login
/// route, for as long as the device vouches.
pub fn device_cookie(env: &Env, req: &Request, device: &Device) -> Result<String, Failure> {
    let payload = serde_json::to_vec(device)?;
    let sig = sign(&session_key(env)?, &[DEVICE_DOMAIN, &payload].concat());
    Ok(format!(
        "{DEVICE_COOKIE}={}.{}; Path=/api/v1/sites/{}/login; HttpOnly; SameSite=Strict; Max-Age={}{}",
        hex(&payload),
        hex(&sig),
        device.site,
        baton_shared::signin::DEVICE_SECONDS,
        secure_attr(req)
    ))
}

/// The device cookie a request carries, if genuine (what it vouches for is `Device::vouches_for`).
pub fn device(env: &Env, req: &Request) -> Result<Option<Device>, Failure> {
    let Some(payload) = signed_cookie(env, req, DEVICE_COOKIE, DEVICE_DOMAIN)? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&payload).ok())
}

/// The payload of a cookie signed with the session key (after `domain`), if the signature holds.
fn signed_cookie(env: &Env, req: &Request, name: &str, domain: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
    let Some(cookies) = req.headers().get("cookie")? else {
        return Ok(None);
    };
    let prefix = format!("{name}=");
    let Some(value) = cookies.split(';').filter_map(|c| c.trim().strip_prefix(prefix.as_str())).next() else {
        return Ok(None);
    };
    let Some((payload, sig)) = value.split_once('.') else {
        return Ok(None);
    };
    let (Some(payload), Some(sig)) = (unhex(payload), unhex(sig)) else {
        return Ok(None);
    };
    let expected = sign(&session_key(env)?, &[domain, &payload].concat());
    if !bool::from(expected.ct_eq(&sig)) {
        return Ok(None);
    }
    Ok(Some(payload))
}

/// The session a request carries, if its cookie is present, genuine and unexpired.
pub fn session(env: &Env, req: &Request, now_secs: i64) -> Result<Option<Session>, Failure> {
    let Some(payload) = signed_cookie(env, req, COOKIE, b"")? else {
        return Ok(None);
    };
    let Ok(s) = serde_json::from_slice::<Session>(&payload) else {
        return Ok(None);
    };
    if s.exp <= now_secs || s.sid.is_empty() {
        return Ok(None);
    }
    // An account removed from config loses its sessions at once.
    if !accounts(env).iter().any(|a| a.site == s.site && a.email == s.operator.id) {
        return Ok(None);
    }
    Ok(Some(s))
}

pub fn signed_out() -> Failure {
    api(ErrorCode::Unauthorized, "sign in to the inbox first (your session may have expired)")
}

/// The operator session for `site` by its cookie alone (signature, expiry, account, site), or
/// 401 (no session) / 403 (another site's session). Not checked for logout: callers either use
/// [`require_operator`] or let the `Inbox` object check the `sid` (its socket does).
pub fn operator_session(env: &Env, req: &Request, site: &SiteId, now_secs: i64) -> Result<Session, Failure> {
    match session(env, req, now_secs)? {
        None => Err(signed_out()),
        Some(s) if &s.site != site => Err(api(ErrorCode::Forbidden, "your session is for another site: sign in to this site's inbox")),
        Some(s) => Ok(s),
    }
}

/// The operator session for `site`: [`operator_session`], and not signed out since.
pub async fn require_operator(env: &Env, req: &Request, site: &SiteId, now_secs: i64) -> Result<Session, Failure> {
    let s = operator_session(env, req, site, now_secs)?;
    if crate::inbox::is_revoked(env, site, &s.sid).await? {
        return Err(signed_out());
    }
    Ok(s)
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}
