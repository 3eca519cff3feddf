//! [`PushService`]: a Web Push service on loopback for the notification tests and the notify
//! benchmark. It plays both ends a real push service joins: for each device ([`Device`]: a
//! P-256 key pair and an auth secret, as a browser makes them) it accepts the pushes sent to the
//! device's endpoint, checks the VAPID authorisation (RFC 8292: an ES256 JWT for this origin,
//! signed by the `k=` key) and decrypts the `aes128gcm` body with the device's private key
//! (RFC 8291 / RFC 8188). Written here from the RFCs with RustCrypto primitives — not with the
//! worker's crate — so a mistake on the sending side cannot cancel itself out.

use crate::WAIT;
use aes_gcm::aead::{Aead, KeyInit};
use base64ct::{Base64UrlUnpadded, Encoding};
use p256::ecdsa::signature::Verifier;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A browser's side of one push subscription.
pub struct Device {
    pub path: String,
    secret: p256::SecretKey,
    auth: [u8; 16],
}

impl Device {
    pub fn new(path: &str) -> Device {
        let mut raw = [0u8; 32];
        let secret = loop {
            getrandom::getrandom(&mut raw).expect("randomness");
            if let Ok(s) = p256::SecretKey::from_slice(&raw) {
                break s;
            }
        };
        let mut auth = [0u8; 16];
        getrandom::getrandom(&mut auth).expect("randomness");
        Device { path: path.to_string(), secret, auth }
    }

    /// `PushSubscription.toJSON()` for this device at `service`.
    pub fn subscription(&self, service: &PushService) -> serde_json::Value {
        serde_json::json!({
            "endpoint": service.url(&self.path),
            "keys": {
                "p256dh": Base64UrlUnpadded::encode_string(self.secret.public_key().to_encoded_point(false).as_bytes()),
                "auth": Base64UrlUnpadded::encode_string(&self.auth),
            }
        })
    }

    /// RFC 8291 §3.4 / RFC 8188 §2: one record, keyid = the sender's ephemeral public key.
    pub fn decrypt(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        use hkdf::Hkdf;
        use sha2::Sha256;
        if body.len() < 21 {
            return Err("shorter than the aes128gcm header".into());
        }
        let salt = &body[..16];
        let rs = u32::from_be_bytes(body[16..20].try_into().unwrap()) as usize;
        let idlen = body[20] as usize;
        let keyid = body.get(21..21 + idlen).ok_or("truncated keyid")?;
        let ciphertext = &body[21 + idlen..];
        if ciphertext.len() > rs {
            return Err(format!("one record expected: {} bytes > rs {rs}", ciphertext.len()));
        }
        let sender = p256::PublicKey::from_sec1_bytes(keyid).map_err(|_| "keyid is not a P-256 point")?;
        let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), sender.as_affine());
        let ua_public = self.secret.public_key().to_encoded_point(false);
        let mut key_info = b"WebPush: info\0".to_vec();
        key_info.extend_from_slice(ua_public.as_bytes());
        key_info.extend_from_slice(keyid);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes()).expand(&key_info, &mut ikm).map_err(|e| e.to_string())?;
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).map_err(|e| e.to_string())?;
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce).map_err(|e| e.to_string())?;
        let cipher = aes_gcm::Aes128Gcm::new_from_slice(&cek).map_err(|e| e.to_string())?;
        let mut plain = cipher.decrypt(aes_gcm::Nonce::from_slice(&nonce), ciphertext).map_err(|_| "the tag does not verify")?;
        // Padding: the data, a 0x02 delimiter (last record), then zeros.
        let end = plain.iter().rposition(|b| *b != 0).ok_or("no delimiter")?;
        if plain[end] != 2 {
            return Err(format!("delimiter {} is not 2 (last record)", plain[end]));
        }
        plain.truncate(end);
        Ok(plain)
    }
}

/// One push the service got.
#[derive(Clone, Debug)]
pub struct Push {
    pub path: String,
    /// Lowercased names.
    pub headers: HashMap<String, String>,
    /// The VAPID check's verdict: `Ok(sub claim)` or why it failed.
    pub vapid: Result<String, String>,
    /// The decrypted message (JSON), or why decryption failed.
    pub message: Result<serde_json::Value, String>,
    /// What the service answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

pub struct PushService {
    pub port: u16,
    log: Arc<Mutex<Vec<Push>>>,
    script: Arc<Mutex<HashMap<String, VecDeque<u16>>>>,
    devices: Arc<Mutex<HashMap<String, Arc<Device>>>>,
    changed: watch::Receiver<usize>,
    task: JoinHandle<()>,
}

/// RFC 8292 §2-3: `vapid t=<JWT>, k=<key>`; the JWT is ES256-signed by `k`, its `aud` is this
/// service's origin and it expires within 24 hours.
fn check_vapid(authorization: Option<&String>, origin: &str) -> Result<String, String> {
    let a = authorization.ok_or("no Authorization header")?;
    let rest = a.strip_prefix("vapid ").ok_or("not a vapid authorization")?;
    let mut t = None;
    let mut k = None;
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.trim()),
            Some(("k", v)) => k = Some(v.trim()),
            _ => {}
        }
    }
    let (t, k) = (t.ok_or("no t=")?, k.ok_or("no k=")?);
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&Base64UrlUnpadded::decode_vec(k).map_err(|_| "k is not base64url")?)
        .map_err(|_| "k is not a P-256 key")?;
    let (signed, sig) = t.rsplit_once('.').ok_or("the JWT has no signature")?;
    let sig = p256::ecdsa::Signature::from_slice(&Base64UrlUnpadded::decode_vec(sig).map_err(|_| "bad signature encoding")?)
        .map_err(|_| "the signature is not 64 bytes")?;
    key.verify(signed.as_bytes(), &sig).map_err(|_| "the JWT signature does not verify with k")?;
    let (header, claims) = signed.split_once('.').ok_or("the JWT has no claims")?;
    let header: serde_json::Value =
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(header).map_err(|_| "bad header")?).map_err(|e| e.to_string())?;
    if header["alg"] != "ES256" {
        return Err(format!("alg {} is not ES256", header["alg"]));
    }
    let claims: serde_json::Value =
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(claims).map_err(|_| "bad claims")?).map_err(|e| e.to_string())?;
    if claims["aud"] != origin {
        return Err(format!("aud {} is not {origin}", claims["aud"]));
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let exp = claims["exp"].as_i64().ok_or("no exp")?;
    if exp <= now || exp > now + 24 * 3600 {
        return Err(format!("exp {exp} is not within the next 24 hours"));
    }
    let sub = claims["sub"].as_str().ok_or("no sub")?;
    if !(sub.starts_with("mailto:") || sub.starts_with("https:")) {
        return Err(format!("sub {sub:?} is neither mailto: nor https:"));
    }
    Ok(sub.to_string())
}

impl PushService {
    pub async fn start() -> PushService {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind the push service");
        let port = listener.local_addr().unwrap().port();
        let origin = format!("http://127.0.0.1:{port}");
        let log: Arc<Mutex<Vec<Push>>> = Arc::default();
        let script: Arc<Mutex<HashMap<String, VecDeque<u16>>>> = Arc::default();
        let devices: Arc<Mutex<HashMap<String, Arc<Device>>>> = Arc::default();
        let (tx, changed) = watch::channel(0usize);
        let tx = Arc::new(tx);
        let (l, s, d) = (log.clone(), script.clone(), devices.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (log, script, devices, tx, origin) = (l.clone(), s.clone(), d.clone(), tx.clone(), origin.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let mut lines = head.split("\r\n");
                    let path = lines.next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("/").to_string();
                    let headers: HashMap<String, String> = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                    while buf.len() < head_end + len {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let at = Instant::now();
                    let body = buf[head_end..head_end + len].to_vec();
                    let vapid = check_vapid(headers.get("authorization"), &origin);
                    let device = devices.lock().unwrap().get(&path).cloned();
                    let message = match (&device, headers.get("content-encoding").map(String::as_str)) {
                        (None, _) => Err(format!("no device at {path}")),
                        (_, Some(e)) if e != "aes128gcm" => Err(format!("content-encoding {e} is not aes128gcm")),
                        (Some(d), _) => d.decrypt(&body).and_then(|p| serde_json::from_slice(&p).map_err(|e| format!("not JSON: {e}"))),
                    };
                    let scripted = script.lock().unwrap().get_mut(&path).and_then(VecDeque::pop_front);
                    // A real push service refuses what it cannot authenticate.
                    let status = scripted.unwrap_or(if vapid.is_ok() && message.is_ok() { 201 } else { 403 });
                    let resp = format!("HTTP/1.1 {status} Push\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                    let _ = conn.write_all(resp.as_bytes()).await;
                    let _ = conn.shutdown().await;
                    let n = {
                        let mut log = log.lock().unwrap();
                        log.push(Push { path, headers, vapid, message, status, at });
                        log.len()
                    };
                    let _ = tx.send(n);
                });
            }
        });
        PushService { port, log, script, devices, changed, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A new device whose pushes arrive at `path` here.
    pub fn device(&self, path: &str) -> Arc<Device> {
        let d = Arc::new(Device::new(path));
        self.devices.lock().unwrap().insert(path.to_string(), d.clone());
        d
    }

    /// The next pushes to `path` get these statuses (e.g. 410: the subscription is gone).
    pub fn answer_next(&self, path: &str, statuses: &[u16]) {
        self.script.lock().unwrap().entry(path.to_string()).or_default().extend(statuses);
    }

    pub fn received(&self) -> Vec<Push> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (at most `WAIT`) until `done` holds for the pushes received; returns them.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[Push]) -> bool) -> Vec<Push> {
        let mut changed = self.changed.clone();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            if tokio::time::timeout_at(deadline, changed.changed()).await.is_err() {
                panic!("the push service did not get {what} within {WAIT:?}; it got {got:#?}");
            }
        }
    }
}

impl Drop for PushService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fresh VAPID key pair for a test worker: (private scalar, public key), base64url.
pub fn vapid_keys() -> (String, String) {
    let mut raw = [0u8; 32];
    loop {
        getrandom::getrandom(&mut raw).expect("randomness");
        if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&raw) {
            let public = k.verifying_key().to_encoded_point(false);
            return (Base64UrlUnpadded::encode_string(&raw), Base64UrlUnpadded::encode_string(public.as_bytes()));
        }
    }
}
