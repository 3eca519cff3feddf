//! Who may read the inbox, over HTTP and WebSocket, on a real worker: nobody without a session,
//! never with a visitor's token, never with another site's session; sign-in is rate-limited,
//! says nothing about which emails exist, and guessers cannot lock out a browser that signed in
//! before; sessions expire and logout ends them for good.

use baton_tests::*;
use serde_json::{json, Value};

async fn status_and_code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("error bodies are JSON");
    (status, body["error"]["code"].as_str().unwrap_or("").to_string())
}

/// The expiry written in a session cookie.
fn now_secs_of(cookie: &str) -> i64 {
    let hex = cookie.trim_start_matches("baton_session=").split('.').next().unwrap();
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    serde_json::from_slice::<Value>(&bytes).unwrap()["exp"].as_i64().unwrap()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn the_inbox_refuses_no_session_visitor_tokens_and_other_sites() {
    let w = Wrangler::start().await;
    let c = http();
    let demo = format!("{}/api/v1/sites/demo", w.base());
    let (id, token) = create_conversation(&w, "demo").await;
    let operator_gets = [
        format!("{demo}/me"),
        format!("{demo}/inbox/rows?view=all"),
        format!("{demo}/insights?days=7"),
        format!("{demo}/conversations/{id}/export"),
        format!("{demo}/conversations/{id}/events?as=operator"),
    ];

    // No session.
    for url in &operator_gets {
        assert_eq!(status_and_code(c.get(url).send().await.unwrap()).await, (401, "unauthorized".into()), "{url}");
    }
    let r = c.post(format!("{demo}/conversations/{id}/commands?as=operator")).json(&json!({"type": "take_over", "client_id": "x"}));
    assert_eq!(status_and_code(r.send().await.unwrap()).await, (401, "unauthorized".into()));
    assert_eq!(ws_refusal(&format!("{}/api/v1/sites/demo/inbox/ws", w.ws_base()), None).await, Some(401));
    let op_ws = format!("{}/api/v1/sites/demo/conversations/{id}/ws?as=operator", w.ws_base());
    assert_eq!(ws_refusal(&op_ws, None).await, Some(401));

    // A visitor's token opens their own conversation, nothing of the inbox's.
    for url in &operator_gets {
        let r = c.get(url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(status_and_code(r).await, (401, "unauthorized".into()), "{url} with a visitor token");
    }
    let forged_token_cookie = format!("baton_session={token}");
    assert_eq!(ws_refusal(&format!("{}/api/v1/sites/demo/inbox/ws", w.ws_base()), Some(&forged_token_cookie)).await, Some(401));

    // Another site's operator: refused on every route and socket of this site.
    let cy = login(&w, "widget-test", "cy@example.com", "cy-password-1").await;
    for url in &operator_gets {
        let r = c.get(url).header("cookie", &cy).send().await.unwrap();
        assert_eq!(status_and_code(r).await, (403, "forbidden".into()), "{url} with another site's session");
    }
    assert_eq!(ws_refusal(&format!("{}/api/v1/sites/demo/inbox/ws", w.ws_base()), Some(&cy)).await, Some(403));
    assert_eq!(ws_refusal(&op_ws, Some(&cy)).await, Some(403));
    // ...and the other way round.
    let ann = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    let r = c.get(format!("{}/api/v1/sites/widget-test/inbox/rows", w.base())).header("cookie", &ann).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (403, "forbidden".into()));
    assert_eq!(ws_refusal(&format!("{}/api/v1/sites/widget-test/inbox/ws", w.ws_base()), Some(&ann)).await, Some(403));
    // Cy's cookie edited to claim site demo fails the signature.
    let hex_payload = cy.trim_start_matches("baton_session=").split('.').next().unwrap();
    let payload =
        String::from_utf8((0..hex_payload.len()).step_by(2).map(|i| u8::from_str_radix(&hex_payload[i..i + 2], 16).unwrap()).collect())
            .unwrap()
            .replace("\"widget-test\"", "\"demo\"");
    let sig = cy.split('.').nth(1).unwrap();
    let edited = format!("baton_session={}.{sig}", baton_shared::protocol::hex(payload.as_bytes()));
    let r = c.get(format!("{demo}/me")).header("cookie", &edited).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (401, "unauthorized".into()));

    // With her own session, Ann reads all of it.
    for url in &operator_gets {
        let r = c.get(url).header("cookie", &ann).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}: {}", r.text().await.unwrap_or_default());
    }
    let (_inbox, snapshot) = Ws::inbox(&w, "demo", &ann).await;
    assert_eq!(snapshot["me"]["name"], "Ann");
    assert!(!w.log().contains("panicked"), "{}", w.log());
}

#[tokio::test]
async fn sign_in_is_rate_limited_and_does_not_tell_which_emails_exist() {
    let w = Wrangler::start().await;
    let c = http();
    let url = format!("{}/api/v1/sites/demo/login", w.base());
    let attempt = |email: &str, password: &str| c.post(&url).json(&json!({"email": email, "password": password})).send();

    // A wrong password and an unknown email read exactly the same.
    let wrong = attempt("ann@example.com", "not-her-password").await.unwrap();
    let unknown = attempt("nobody@example.com", "not-her-password").await.unwrap();
    assert_eq!((wrong.status().as_u16(), unknown.status().as_u16()), (401, 401));
    let (wrong, unknown): (Value, Value) = (wrong.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"]["message"], "wrong email or password");

    // Ten tries from one address (demo's `sign_in_per_ip`), then 429 with Retry-After — also
    // for the right password.
    for i in 2..10 {
        assert_eq!(attempt(&format!("guess-{i}@example.com"), "guess").await.unwrap().status(), 401);
    }
    let limited = attempt("ann@example.com", "ann-password-1").await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry: u32 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(body["error"]["retry_after"], retry);
    assert!(body["error"]["message"].as_str().unwrap().contains("try again in"), "{body}");

    // Per account too, whatever the address (locally the worker trusts CF-Connecting-IP as
    // sent; on Cloudflare the edge sets it): a handful of tries an hour from browsers that never
    // signed in to it. An unknown email is limited just the same.
    let from = |ip: String, email: &str, password: &str| {
        c.post(&url).header("cf-connecting-ip", ip).json(&json!({"email": email, "password": password})).send()
    };
    for email in ["bob@example.com", "someone-else@example.com"] {
        for i in 0..5 {
            assert_eq!(from(format!("203.0.113.{i}"), email, "guess").await.unwrap().status(), 401);
        }
        let r = from("198.51.100.1".into(), email, "bob-password-1").await.unwrap();
        let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry > 60, "the account lockout lasts minutes: Retry-After {retry}");
        assert_eq!(status_and_code(r).await, (429, "rate_limited".into()), "{email} from a new address");
    }
    // Another account from a fresh address signs in.
    assert_eq!(from("198.51.100.2".into(), "ann@example.com", "ann-password-1").await.unwrap().status(), 200);
    assert!(!w.log().contains("panicked"), "{}", w.log());
}

/// Sign-in derives PBKDF2 with WebCrypto (native in workerd) up to its limit of 100,000 rounds,
/// and in wasm above it: both give the bytes the reference implementation stored, and a wrong
/// password is refused by either.
#[tokio::test]
async fn passwords_are_checked_by_webcrypto_and_above_its_limit_in_wasm() {
    let w = Wrangler::start().await;
    let c = http();
    let url = format!("{}/api/v1/sites/demo/login", w.base());
    for (i, (email, password, rounds)) in baton_tests::ROUNDS_ACCOUNTS.into_iter().enumerate() {
        let from = |ip: String, password: &str| {
            c.post(&url).header("cf-connecting-ip", ip).json(&json!({"email": email, "password": password})).send()
        };
        let wrong = from(format!("198.51.100.{}", 10 + i), "not-the-password").await.unwrap();
        assert_eq!(wrong.status(), 401, "{rounds} rounds: a wrong password");
        let right = from(format!("198.51.100.{}", 20 + i), password).await.unwrap();
        assert_eq!(right.status(), 200, "{rounds} rounds: {}", right.text().await.unwrap_or_default());
    }
    assert!(!w.log().contains("panicked") && !w.log().contains("WebCrypto PBKDF2 failed"), "{}", w.log());
}

/// The `name=value` of the `Set-Cookie` header for `name`, and the whole header.
fn set_cookie(r: &reqwest::Response, name: &str) -> (String, String) {
    let header = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|h| h.to_str().unwrap().to_string())
        .find(|h| h.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", r.headers()));
    (header.split(';').next().unwrap().to_string(), header)
}

#[tokio::test]
async fn guessers_cannot_lock_out_an_operator_from_a_browser_she_signed_in_with() {
    let w = Wrangler::start().await;
    let c = http();
    let url = format!("{}/api/v1/sites/demo/login", w.base());
    let attempt = |ip: &str, cookie: Option<&str>, email: &str, password: &str| {
        let mut r = c.post(&url).header("cf-connecting-ip", ip).json(&json!({"email": email, "password": password}));
        if let Some(cookie) = cookie {
            r = r.header("cookie", cookie);
        }
        r.send()
    };

    // Ann signs in: her browser gets a device cookie too, sent back only to this login route.
    let r = attempt("198.51.100.10", None, "ann@example.com", "ann-password-1").await.unwrap();
    assert_eq!(r.status(), 200);
    let (device, header) = set_cookie(&r, "baton_device");
    for attr in ["Path=/api/v1/sites/demo/login", "HttpOnly", "SameSite=Strict", "Max-Age=2592000"] {
        assert!(header.contains(attr), "{attr} missing: {header}");
    }

    // Someone guesses her password from many addresses: a handful of tries (five an hour, her
    // own sign-in was one), then the account is closed to every browser that never signed in to
    // it — even with the right password.
    for i in 0..4 {
        assert_eq!(attempt(&format!("203.0.113.{i}"), None, "ann@example.com", "guess").await.unwrap().status(), 401);
    }
    let r = attempt("203.0.113.99", None, "ann@example.com", "ann-password-1").await.unwrap();
    assert_eq!(status_and_code(r).await, (429, "rate_limited".into()), "a sixth guess in the hour was checked");
    // Ann's browser still signs her in, from anywhere, at once.
    let r = attempt("192.0.2.77", Some(&device), "ann@example.com", "ann-password-1").await.unwrap();
    assert_eq!(r.status(), 200, "the guessers locked Ann out: {}", r.text().await.unwrap());

    // The cookie vouches for Ann's account only, and only as signed: Bob's account, locked the
    // same way, stays locked for it, and an edited cookie counts for nothing.
    for i in 0..5 {
        assert_eq!(attempt(&format!("203.0.113.{i}"), None, "bob@example.com", "guess").await.unwrap().status(), 401);
    }
    let r = attempt("192.0.2.77", Some(&device), "bob@example.com", "bob-password-1").await.unwrap();
    assert_eq!(status_and_code(r).await, (429, "rate_limited".into()), "Ann's device cookie opened Bob's account");
    let value = device.trim_start_matches("baton_device=");
    let (payload, sig) = value.split_once('.').unwrap();
    let bytes: Vec<u8> = (0..payload.len()).step_by(2).map(|i| u8::from_str_radix(&payload[i..i + 2], 16).unwrap()).collect();
    let edited = String::from_utf8(bytes).unwrap().replace("ann@example.com", "bob@example.com");
    let forged = format!("baton_device={}.{sig}", baton_shared::protocol::hex(edited.as_bytes()));
    let r = attempt("192.0.2.77", Some(&forged), "bob@example.com", "bob-password-1").await.unwrap();
    assert_eq!(status_and_code(r).await, (429, "rate_limited".into()), "an edited device cookie was believed");

    // Whoever holds the cookie gets only a handful of guesses with it, too.
    for _ in 0..9 {
        assert_eq!(attempt("192.0.2.78", Some(&device), "ann@example.com", "guess").await.unwrap().status(), 401);
    }
    let r = attempt("192.0.2.78", Some(&device), "ann@example.com", "guess").await.unwrap();
    assert_eq!(status_and_code(r).await, (429, "rate_limited".into()));
    assert!(!w.log().contains("panicked"), "{}", w.log());
}

#[tokio::test]
async fn sessions_expire_and_logout_ends_them_everywhere() {
    let w = Wrangler::start().await;
    let c = http();
    let demo = format!("{}/api/v1/sites/demo", w.base());
    let inbox_ws = format!("{}/api/v1/sites/demo/inbox/ws", w.ws_base());

    // The cookie: HttpOnly, SameSite=Strict, 12 hours, not Secure on plain-http localhost.
    let r = c.post(format!("{demo}/login")).json(&json!({"email": "ann@example.com", "password": "ann-password-1"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Max-Age=43200", "Path=/"] {
        assert!(set_cookie.contains(attr), "{attr} missing: {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "localhost over http cannot keep a Secure cookie: {set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    // Anywhere else it is Secure.
    let r = c
        .post(format!("{demo}/login"))
        .header("host", "inbox.example.com")
        .json(&json!({"email": "ann@example.com", "password": "ann-password-1"}))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("; Secure"), "{:?}", r.headers()["set-cookie"]);

    // A cookie signed with the real key works while unexpired, and not a second after.
    let ann = json!({"id": "ann@example.com", "name": "Ann"});
    let session = |exp: i64| json!({"site": "demo", "operator": ann, "exp": exp, "sid": "0123456789abcdef0123456789abcdef"});
    let fresh = forge_cookie(&session(now_secs() + 600), SESSION_KEY);
    assert_eq!(c.get(format!("{demo}/me")).header("cookie", &fresh).send().await.unwrap().status(), 200, "the forged cookie is well made");
    let expired = forge_cookie(&session(now_secs() - 1), SESSION_KEY);
    let r = c.get(format!("{demo}/me")).header("cookie", &expired).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (401, "unauthorized".into()));
    assert_eq!(ws_refusal(&inbox_ws, Some(&expired)).await, Some(401));
    let r = c.get(format!("{demo}/inbox/rows")).header("cookie", &expired).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (401, "unauthorized".into()));
    // A socket opened shortly before its session expires is closed once it has: its next
    // frame after the expiry gets a 4401 close, not an answer.
    let short = forge_cookie(&session(now_secs() + 2), SESSION_KEY);
    let (mut expiring, _) = Ws::inbox(&w, "demo", &short).await;
    let started = std::time::Instant::now();
    let code = loop {
        assert!(started.elapsed() < WAIT, "the socket outlived its session");
        expiring.send(&json!({"type": "ping"})).await;
        match expiring.next_or_closed().await {
            Ok(f) => assert_ne!(f["type"], "error", "{f}"),
            Err(code) => break code,
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(code, Some(4401));
    assert!(now_secs() >= now_secs_of(&short), "closed only once expired");
    // Signed with another key: refused.
    let foreign = forge_cookie(&session(now_secs() + 600), "some-other-key-0123456789abcdef0123456789");
    assert_eq!(c.get(format!("{demo}/me")).header("cookie", &foreign).send().await.unwrap().status(), 401);

    // Logout clears the cookie, and the session is over server-side too: a copy of the cookie
    // stops working and its open inbox socket is closed.
    let (mut open_socket, _) = Ws::inbox(&w, "demo", &cookie).await;
    let r = c.post(format!("{demo}/logout")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cleared = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("baton_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(open_socket.closed().await.map(|c| c.0), Some(4401));
    let r = c.get(format!("{demo}/me")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (401, "unauthorized".into()));
    assert_eq!(ws_refusal(&inbox_ws, Some(&cookie)).await, Some(401));
    // Another session of the same operator is not affected.
    let again = login(&w, "demo", "ann@example.com", "ann-password-1").await;
    assert_eq!(c.get(format!("{demo}/me")).header("cookie", &again).send().await.unwrap().status(), 200);
    assert!(!w.log().contains("panicked"), "{}", w.log());
}
