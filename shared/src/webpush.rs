//! Web Push, as bytes: a message for one device, encrypted with the `aes128gcm` content
//! encoding for the browser's subscription keys (RFC 8291, by the `web-push-native` crate) and
//! authorised with a VAPID JWT (RFC 8292: ES256 over P-256, signed with `p256`). Pure Rust, so
//! the worker builds it for wasm32.
//!
//! The VAPID key pair is the deployment's (`BATON_VAPID_PRIVATE_KEY`, a secret; the public key
//! is derived and given to browsers as `applicationServerKey`). `index-builder push keys`
//! makes one.

use crate::notify::Subscription;
use base64ct::{Base64UrlUnpadded, Encoding};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};

/// How long a push service keeps an undelivered message (seconds): a handoff is stale after a
/// few hours.
pub const TTL_SECONDS: u32 = 4 * 3600;
/// A VAPID JWT is valid this long (RFC 8292 allows at most 24 h).
const JWT_SECONDS: i64 = 12 * 3600;

/// The deployment's VAPID key.
pub struct VapidKey {
    signing: SigningKey,
    public: String,
}

impl VapidKey {
    /// From the private scalar (32 bytes, base64url — how `push keys` prints it).
    pub fn from_base64(private: &str) -> Result<VapidKey, String> {
        let raw = Base64UrlUnpadded::decode_vec(private.trim().trim_end_matches('='))
            .map_err(|_| "BATON_VAPID_PRIVATE_KEY is not base64url: make one with `index-builder push keys`".to_string())?;
        Self::from_bytes(&raw)
    }

    pub fn from_bytes(raw: &[u8]) -> Result<VapidKey, String> {
        let signing = SigningKey::from_slice(raw).map_err(|_| {
            "BATON_VAPID_PRIVATE_KEY is not a P-256 private key (32 bytes): make one with `index-builder push keys`".to_string()
        })?;
        let point = signing.verifying_key().to_encoded_point(false);
        Ok(VapidKey { public: Base64UrlUnpadded::encode_string(point.as_bytes()), signing })
    }

    /// The private scalar, base64url (for printing a new key).
    pub fn private_base64(&self) -> String {
        Base64UrlUnpadded::encode_string(&self.signing.to_bytes())
    }

    /// The public key (uncompressed point, base64url): the browsers' `applicationServerKey` and
    /// the `k=` of every request.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header for a push to `endpoint`: `vapid t=<JWT>, k=<public key>`,
    /// the JWT's audience being the push service's origin.
    pub fn authorization(&self, endpoint: &str, subject: &str, now_secs: i64) -> Result<String, String> {
        let aud = audience(endpoint).ok_or_else(|| format!("{endpoint:?} is not a push endpoint URL"))?;
        let header = Base64UrlUnpadded::encode_string(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": aud, "exp": now_secs + JWT_SECONDS, "sub": subject });
        let claims = Base64UrlUnpadded::encode_string(claims.to_string().as_bytes());
        let signing_input = format!("{header}.{claims}");
        let signature: Signature = self.signing.sign(signing_input.as_bytes());
        let jwt = format!("{signing_input}.{}", Base64UrlUnpadded::encode_string(&signature.to_bytes()));
        Ok(format!("vapid t={jwt}, k={}", self.public))
    }
}

/// The origin of a push endpoint (`scheme://host[:port]`): the JWT's `aud`.
pub fn audience(endpoint: &str) -> Option<String> {
    let (scheme, rest) = endpoint.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

/// One push request, ready to send.
#[derive(Clone, Debug)]
pub struct PushRequest {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Encrypts `message` for the subscription and signs the request. `topic` (≤ 32 base64url
/// characters, e.g. a conversation id) lets the push service replace an undelivered older
/// message of the same topic.
pub fn request(
    key: &VapidKey,
    subject: &str,
    sub: &Subscription,
    message: &[u8],
    topic: &str,
    now_secs: i64,
) -> Result<PushRequest, String> {
    let p256dh =
        Base64UrlUnpadded::decode_vec(sub.keys.p256dh.trim_end_matches('=')).map_err(|_| "keys.p256dh is not base64url".to_string())?;
    let auth = Base64UrlUnpadded::decode_vec(sub.keys.auth.trim_end_matches('=')).map_err(|_| "keys.auth is not base64url".to_string())?;
    let ua_public = p256::PublicKey::from_sec1_bytes(&p256dh).map_err(|_| "keys.p256dh is not a P-256 public key".to_string())?;
    if auth.len() != 16 {
        return Err("keys.auth is not 16 bytes".into());
    }
    let ua_auth = web_push_native::Auth::clone_from_slice(&auth);
    let body = web_push_native::encrypt(message.to_vec(), &ua_public, &ua_auth).map_err(|e| format!("encryption failed: {e}"))?;
    let mut headers = vec![
        ("content-type", "application/octet-stream".to_string()),
        ("content-encoding", "aes128gcm".to_string()),
        ("ttl", TTL_SECONDS.to_string()),
        ("urgency", "high".to_string()),
        ("authorization", key.authorization(&sub.endpoint, subject, now_secs)?),
    ];
    let topic: String = topic.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(32).collect();
    if !topic.is_empty() {
        headers.push(("topic", topic));
    }
    Ok(PushRequest { url: sub.endpoint.clone(), headers, body })
}

/// What a push service's answer means for the subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (2xx).
    Delivered,
    /// The subscription expired or was withdrawn (404, 410): forget the device.
    Gone,
    /// Busy or down (429, 5xx, no answer): try again later.
    Retry,
    /// Refused for good (another 4xx: a bad request or bad VAPID): log it, do not retry.
    Refused,
}

pub fn outcome(status: Option<u16>) -> Outcome {
    match status {
        Some(200..=299) => Outcome::Delivered,
        Some(404) | Some(410) => Outcome::Gone,
        Some(429) | Some(500..=599) | None => Outcome::Retry,
        Some(_) => Outcome::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::SubscriptionKeys;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;
    use p256::elliptic_curve::sec1::ToEncodedPoint;

    // RFC 8291, Appendix A: the user agent's keys and a message encrypted for them.
    const UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    const UA_PUBLIC: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const RFC_MESSAGE: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    fn b64(s: &str) -> Vec<u8> {
        Base64UrlUnpadded::decode_vec(s).unwrap()
    }

    #[test]
    fn the_rfc_8291_example_decrypts_with_the_crate_we_encrypt_with() {
        let ua = p256::SecretKey::from_slice(&b64(UA_PRIVATE)).unwrap();
        assert_eq!(Base64UrlUnpadded::encode_string(ua.public_key().to_encoded_point(false).as_bytes()), UA_PUBLIC);
        let auth = web_push_native::Auth::clone_from_slice(&b64(AUTH));
        let plain = web_push_native::decrypt(b64(RFC_MESSAGE), &ua, &auth).unwrap();
        assert_eq!(plain, b"When I grow up, I want to be a watermelon");
    }

    #[test]
    fn a_request_is_encrypted_for_the_device_and_signed_for_the_push_service() {
        let key = VapidKey::from_bytes(&[7u8; 32]).unwrap();
        let sub = Subscription {
            endpoint: "https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV".into(),
            keys: SubscriptionKeys { p256dh: UA_PUBLIC.into(), auth: AUTH.into() },
        };
        let r =
            request(&key, "mailto:ops@example.com", &sub, br#"{"title":"hi"}"#, "0123456789abcdef0123456789abcdef", 1_700_000_000).unwrap();
        let header = |n: &str| r.headers.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(header("content-encoding"), "aes128gcm");
        assert_eq!(header("topic"), "0123456789abcdef0123456789abcdef");
        // The device (UA) decrypts it.
        let ua = p256::SecretKey::from_slice(&b64(UA_PRIVATE)).unwrap();
        let auth = web_push_native::Auth::clone_from_slice(&b64(AUTH));
        assert_eq!(web_push_native::decrypt(r.body.clone(), &ua, &auth).unwrap(), br#"{"title":"hi"}"#);
        // The push service checks the JWT against k= (RFC 8292 §3).
        let auth_header = header("authorization");
        let (t, k) = auth_header.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
        assert_eq!(k, key.public_key());
        let (signed, sig) = t.rsplit_once('.').unwrap();
        let vk = VerifyingKey::from_sec1_bytes(&b64(k)).unwrap();
        vk.verify(signed.as_bytes(), &Signature::from_slice(&b64(sig)).unwrap()).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&b64(signed.split('.').nth(1).unwrap())).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net");
        assert_eq!(claims["sub"], "mailto:ops@example.com");
        assert_eq!(claims["exp"], 1_700_000_000 + JWT_SECONDS);
        // The private key round-trips through its printed form.
        assert_eq!(VapidKey::from_base64(&key.private_base64()).unwrap().public_key(), key.public_key());
        assert!(VapidKey::from_base64("not a key").is_err());
        assert!(VapidKey::from_bytes(&[0u8; 32]).is_err(), "zero is not a P-256 scalar");
    }

    #[test]
    fn push_service_answers_decide_the_device_s_fate() {
        assert_eq!(outcome(Some(201)), Outcome::Delivered);
        assert_eq!(outcome(Some(410)), Outcome::Gone);
        assert_eq!(outcome(Some(404)), Outcome::Gone);
        assert_eq!(outcome(Some(429)), Outcome::Retry);
        assert_eq!(outcome(Some(503)), Outcome::Retry);
        assert_eq!(outcome(None), Outcome::Retry);
        assert_eq!(outcome(Some(403)), Outcome::Refused);
        assert_eq!(audience("http://127.0.0.1:9000/push/1").as_deref(), Some("http://127.0.0.1:9000"));
    }
}
