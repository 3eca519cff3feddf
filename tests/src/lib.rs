//! Test harness: starts the real worker under `wrangler dev` (workerd) on a free loopback port
//! with its own state directory and secrets, and stops it — the whole process group — when
//! dropped. Plus small HTTP / WebSocket helpers that speak Baton's protocol.
//!
//! Tests need the build of `./baton test` (worker/build/, dist/ and target/test-dist/: the
//! deployed sites plus the test-only ones in tests/sites/, which never go into dist/).

use baton_shared::protocol::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub mod browser;
pub mod host;
pub mod push_service;
pub mod receiver;
pub mod resume;

/// Every wait in the tests is bounded by this: a failure, never a way to synchronise.
pub const WAIT: Duration = Duration::from_secs(20);

/// The session key every test worker runs with (see `Wrangler::launch`).
pub const SESSION_KEY: &str = "test-session-key-0123456789abcdef0123456789";

/// The visitor-identity signing key every test worker runs with (`BATON_IDENTITY_SECRET`).
pub const IDENTITY_SECRET: &str = "test-identity-secret-do-not-use-0123456789";

/// Test operator accounts: (site, email, name, password).
pub const OPERATORS: &[(&str, &str, &str, &str)] = &[
    ("demo", "ann@example.com", "Ann", "ann-password-1"),
    ("demo", "bob@example.com", "Bob", "bob-password-1"),
    // The widget tests' site (tests/sites/widget-test).
    ("widget-test", "cy@example.com", "Cy", "cy-password-1"),
    // The demo's second site (examples/acme-docs): isolation between sites, webhooks.
    ("acme", "dee@example.com", "Dee", "dee-password-1"),
    // The benchmarks' site (tests/sites/bench) and the limits tests' sites.
    ("bench", "ann@example.com", "Ann", "ann-password-1"),
    ("bench", "bob@example.com", "Bob", "bob-password-1"),
    ("limits-test", "lim@example.com", "Lim", "lim-password-1"),
    ("flood-test", "lim@example.com", "Lim", "lim-password-1"),
    // Issue 16's site (tests/sites/team-test): assignment, push, email.
    ("team-test", "ann@example.com", "Ann", "ann-password-1"),
    ("team-test", "bob@example.com", "Bob", "bob-password-1"),
    ("team-test", "cy@example.com", "Cy", "cy-password-1"),
    ("team-test", "dee@example.com", "Dee", "dee-password-1"),
];

/// Where `./baton test` puts the deployed sites plus the test-only ones (tests/sites/*): the
/// static assets every test worker serves. `dist/` alone is what a deployment serves.
pub const TEST_DIST: &str = "target/test-dist";

pub fn root() -> PathBuf {
    match std::env::var_os("BATON_ROOT") {
        Some(r) => PathBuf::from(r),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf(),
    }
}

/// A loopback port nobody is listening on right now, below the kernel's ephemeral range
/// (32768+): a port the kernel hands out for `:0` may be handed again — to a workerd started by
/// a parallel test for its own internal sockets — between this check and wrangler's bind, which
/// then fails with "Address already in use". Ports here come from a counter (per process, from
/// an offset by process id, since test binaries may overlap) and are checked free.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(u32::MAX, (std::process::id() * 97) % SPAN, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0").expect("bind :0").local_addr().expect("addr").port()
}

/// `pbkdf2-sha256:1000:salt:hash` (fewer rounds than production: sign-in tests stay fast).
pub fn password_hash(password: &str) -> String {
    let salt = b"baton-test-salt!";
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, 1000, &mut out);
    format!("pbkdf2-sha256:1000:{}:{}", hex(salt), hex(&out))
}

/// Two more demo accounts hashed with production-like rounds: at workerd's WebCrypto limit
/// (100,000: derived natively) and one over it (derived in wasm), for the sign-in test that
/// both paths give the bytes this reference implementation gives.
pub const ROUNDS_ACCOUNTS: [(&str, &str, u32); 2] =
    [("webcrypto@example.com", "webcrypto-password-1", 100_000), ("wasm@example.com", "wasm-password-1", 100_001)];

pub fn operators_json() -> String {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| {
        let mut v: Vec<Value> = OPERATORS
            .iter()
            .map(|(site, email, name, pw)| serde_json::json!({"site": site, "email": email, "name": name, "password": password_hash(pw)}))
            .collect();
        for (email, pw, rounds) in ROUNDS_ACCOUNTS {
            let salt = b"rounds-test-salt";
            let mut out = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pw.as_bytes(), salt, rounds, &mut out);
            let hash = format!("pbkdf2-sha256:{rounds}:{}:{}", hex(salt), hex(&out));
            v.push(serde_json::json!({"site": "demo", "email": email, "name": "Rounds", "password": hash}));
        }
        Value::Array(v).to_string()
    })
    .clone()
}

/// How to start `wrangler dev` beyond the defaults.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Another wrangler config (`--config`), e.g. one serving a benchmark's assets. By default
    /// the repo's, serving `TEST_DIST` instead of `dist/`.
    pub config: Option<PathBuf>,
    /// Extra variables for the worker's environment, as `.dev.vars` lines `KEY=VALUE`.
    pub vars: Vec<(String, String)>,
}

impl Options {
    pub fn with_vars(vars: &[(&str, &str)]) -> Options {
        Options { vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Default::default() }
    }

    /// The repo's own wrangler config as it deploys: `dist/`, no test-only site.
    pub fn production() -> Options {
        Options { config: Some(root().join("wrangler.toml")), ..Default::default() }
    }
}

/// A running `wrangler dev`.
pub struct Wrangler {
    pub port: u16,
    pub state: PathBuf,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
    _tmp: Option<tempfile::TempDir>,
    _env: tempfile::NamedTempFile,
    /// Holds the generated wrangler config (serving `TEST_DIST`).
    _config: Option<tempfile::TempDir>,
}

impl Wrangler {
    /// Starts on a fresh, empty state directory.
    pub async fn start() -> Wrangler {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut w = Self::start_on(tmp.path()).await;
        w._tmp = Some(tmp);
        w
    }

    /// Starts on a fresh state directory with extra worker variables (`--var KEY:VALUE`).
    pub async fn start_with_vars(vars: &[(&str, &str)]) -> Wrangler {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut w = Self::start_with(tmp.path(), &Options::with_vars(vars)).await;
        w._tmp = Some(tmp);
        w
    }

    /// Starts on a fresh state directory made inside `parent` (e.g. a tmpfs, so Durable Object
    /// storage does not wait on the disk), removed on drop.
    pub async fn start_in(parent: &Path, vars: &[(&str, &str)]) -> Wrangler {
        let tmp = tempfile::tempdir_in(parent).expect("tempdir");
        let mut w = Self::start_with(tmp.path(), &Options::with_vars(vars)).await;
        w._tmp = Some(tmp);
        w
    }

    /// Starts on an existing state directory (to test restarts).
    pub async fn start_on(state: &Path) -> Wrangler {
        Self::start_with(state, &Options::default()).await
    }

    /// Starts on a fresh state directory with extra options.
    pub async fn start_with_options(options: &Options) -> Wrangler {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut w = Self::start_with(tmp.path(), options).await;
        w._tmp = Some(tmp);
        w
    }

    /// Starts on an existing state directory with extra worker variables (a restart of a
    /// worker started with `start_with_vars`).
    pub async fn start_on_with_vars(state: &Path, vars: &[(&str, &str)]) -> Wrangler {
        Self::start_with(state, &Options::with_vars(vars)).await
    }

    /// Starts on `state` with another wrangler config and/or extra environment variables
    /// (e.g. `BATON_LLM_BASE_URL` for the rephrasing test).
    pub async fn start_with(state: &Path, options: &Options) -> Wrangler {
        let root = root();
        assert!(
            root.join("worker/build/worker/shim.mjs").is_file() && root.join(TEST_DIST).join("sites/demo/index.idx").is_file(),
            "the worker and the test sites are not built: run ./baton test (or ./baton build-tests)"
        );
        let (config, config_dir) = match &options.config {
            Some(c) => (c.clone(), None),
            None => {
                let dir = tempfile::tempdir().expect("config dir");
                (wrangler_config_with_assets(dir.path(), &root.join(TEST_DIST)), Some(dir))
            }
        };
        let mut env = tempfile::NamedTempFile::new().expect("env file");
        use std::io::Write;
        writeln!(env, "BATON_SESSION_KEY={SESSION_KEY}").unwrap();
        writeln!(env, "BATON_IDENTITY_SECRET={IDENTITY_SECRET}").unwrap();
        writeln!(env, "BATON_OPERATORS='{}'", operators_json()).unwrap();
        for (k, v) in &options.vars {
            writeln!(env, "{k}={v}").unwrap();
        }
        let port = free_port();
        let inspector = free_port();
        let bin = root.join("node_modules/.bin");
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let mut cmd = Command::new(bin.join("wrangler"));
        cmd.current_dir(&root)
            .args(["dev", "--local", "--ip", "127.0.0.1", "--port", &port.to_string(), "--inspector-port", &inspector.to_string()])
            .arg("--persist-to")
            .arg(state)
            .arg("--env-file")
            .arg(env.path())
            .arg("--config")
            .arg(&config)
            .args(["--show-interactive-dev-session=false", "--log-level", "info"])
            .env("PATH", path)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("WRANGLER_SEND_ERROR_REPORTS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("CI", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Own process group, so stop() reaches workerd too; die with the test process.
            .process_group(0);
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("spawn wrangler");
        let log = Arc::new(Mutex::new(String::new()));
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
        for stream in [Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>, Box::new(child.stderr.take().unwrap())] {
            let log = log.clone();
            let tx = ready_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if line.contains("Ready on") {
                        let _ = tx.send(());
                    }
                    log.lock().unwrap().push_str(&(line + "\n"));
                }
            });
        }
        let w = Wrangler { port, state: state.to_path_buf(), child: Some(child), log, _tmp: None, _env: env, _config: config_dir };
        if tokio::time::timeout(Duration::from_secs(90), ready_rx.recv()).await.is_err() {
            panic!("wrangler dev did not become ready:\n{}", w.log());
        }
        w
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn ws_base(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The process group of `wrangler dev` and its workerd (for benches that read CPU time).
    pub fn process_group(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn signal(&mut self, sig: i32) {
        if let Some(child) = &self.child {
            unsafe {
                libc::kill(-(child.id() as i32), sig);
            }
        }
    }

    /// Graceful stop (SIGINT to the process group), SIGKILL if it lingers.
    pub fn stop(&mut self) {
        self.signal(libc::SIGINT);
        if let Some(mut child) = self.child.take() {
            for _ in 0..100 {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }

    /// Crash: SIGKILL to the whole process group, no goodbye.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

impl Drop for Wrangler {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A wrangler config like the repo's, serving the worker build with the static assets of
/// `dist` instead of the repo's `dist/` (a benchmark's sites, a damaged copy…).
pub fn wrangler_config_with_assets(dir: &Path, dist: &Path) -> PathBuf {
    let root = root();
    let toml = std::fs::read_to_string(root.join("wrangler.toml")).unwrap();
    let main = root.join("worker/build/worker/shim.mjs");
    let toml = toml
        .replace("main = \"worker/build/worker/shim.mjs\"", &format!("main = {:?}", main.display().to_string()))
        .replace("directory = \"dist\"", &format!("directory = {:?}", dist.display().to_string()));
    let config = dir.join("wrangler.toml");
    std::fs::write(&config, toml).unwrap();
    config
}

/// Copies the tests' build (`TEST_DIST`) to `to` (to damage a copy, not the build).
pub fn copy_dist(to: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).expect("target/test-dist: run ./baton test (or ./baton build-tests) first") {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    copy(&root().join(TEST_DIST), to);
}

/// The value of a `--name value` command-line option of a bench binary.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// The `p` percentile (0–1) of sorted, non-empty samples: `baton_shared::stats::percentile`
/// (nearest rank), the one definition every figure uses.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    baton_shared::stats::percentile(sorted, p).expect("a percentile of no samples")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(WAIT).build().expect("client")
}

/// Creates a conversation; returns (id, visitor token).
pub async fn create_conversation(w: &Wrangler, site: &str) -> (String, String) {
    let r = http()
        .post(format!("{}/api/v1/sites/{site}/conversations", w.base()))
        .json(&serde_json::json!({"page": {"url": "http://example.com/docs/start", "title": "Getting started"}}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201, "create conversation: {}", r.text().await.unwrap_or_default());
    let c: ConversationCreated = r.json().await.expect("json");
    (c.conversation_id.to_string(), c.visitor_token)
}

/// A conversation's log as the visitor sees it (`GET …/events?after=N` with the token).
pub async fn visitor_events(w: &Wrangler, site: &str, id: &str, token: &str, after: u64) -> Vec<Value> {
    let r = http()
        .get(format!("{}/api/v1/sites/{site}/conversations/{id}/events?after={after}", w.base()))
        .bearer_auth(token)
        .send()
        .await
        .expect("events");
    assert_eq!(r.status(), 200, "events: {}", r.text().await.unwrap_or_default());
    let page: Value = r.json().await.expect("json");
    page["events"].as_array().expect("events").clone()
}

/// A conversation's whole log as operators see it (`GET …/export` with the session cookie).
pub async fn operator_events(w: &Wrangler, site: &str, id: &str, cookie: &str) -> Vec<Value> {
    let r = http()
        .get(format!("{}/api/v1/sites/{site}/conversations/{id}/export", w.base()))
        .header("cookie", cookie)
        .send()
        .await
        .expect("export");
    assert_eq!(r.status(), 200, "export: {}", r.text().await.unwrap_or_default());
    let v: Value = r.json().await.expect("json");
    v["events"].as_array().expect("events").clone()
}

/// The `type` of each event's kind, in order.
pub fn kinds(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["kind"]["type"].as_str().unwrap_or("?").to_string()).collect()
}

/// Signs an operator in; returns the `Cookie` header value.
pub async fn login(w: &Wrangler, site: &str, email: &str, password: &str) -> String {
    let r = http()
        .post(format!("{}/api/v1/sites/{site}/login", w.base()))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200, "login: {}", r.text().await.unwrap_or_default());
    let cookie = r.headers().get("set-cookie").expect("cookie").to_str().unwrap().to_string();
    cookie.split(';').next().unwrap().to_string()
}

/// A session cookie (`Cookie` header value) signed with `key`, as the worker makes them: hex of
/// the session JSON, a dot, hex of its HMAC-SHA256. For tests of expiry and tampering.
pub fn forge_cookie(session: &Value, key: &str) -> String {
    use hmac::Mac;
    let payload = session.to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(payload.as_bytes());
    format!("baton_session={}.{}", hex(payload.as_bytes()), hex(&mac.finalize().into_bytes()))
}

/// A visitor identity as a site's backend signs it (docs/identity.md), computed here with the
/// `hmac` crate, not Baton's code: `{...fields, "signature": "<hex>"}` under `key`.
pub fn signed_identity(fields: &[(&str, &str)], key: &str) -> Value {
    use hmac::Mac;
    let mut sorted: Vec<(&str, &str)> = fields.to_vec();
    sorted.sort();
    let payload = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("\n");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(payload.as_bytes());
    let mut claim: serde_json::Map<String, Value> = fields.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect();
    claim.insert("signature".into(), Value::String(hex(&mac.finalize().into_bytes())));
    Value::Object(claim)
}

/// The HTTP status a WebSocket upgrade was refused with (`None` if it was accepted).
pub async fn ws_refusal(url: &str, cookie: Option<&str>) -> Option<u16> {
    let mut req = url.into_client_request().expect("url");
    if let Some(c) = cookie {
        req.headers_mut().insert("cookie", c.parse().unwrap());
    }
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req)).await.expect("no answer to the upgrade") {
        Ok(_) => None,
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Some(resp.status().as_u16()),
        Err(e) => panic!("upgrade failed without an HTTP answer: {e}"),
    }
}

/// A raw client WebSocket (for benches that drive frames themselves).
pub type Stream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket speaking JSON frames.
pub struct Ws {
    stream: Stream,
}

impl Ws {
    pub async fn connect(url: &str, cookie: Option<&str>) -> Result<Ws, String> {
        Self::connect_with(url, &cookie.map(|c| ("cookie", c)).into_iter().collect::<Vec<_>>()).await
    }

    /// A socket opened with extra request headers (e.g. `CF-Connecting-IP`, which the local
    /// worker trusts as sent: another client address).
    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Result<Ws, String> {
        let mut req = url.into_client_request().map_err(|e| e.to_string())?;
        for (name, value) in headers {
            req.headers_mut().insert(
                http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?,
                value.parse().map_err(|e: http::header::InvalidHeaderValue| e.to_string())?,
            );
        }
        // No Nagle: small frames go out at once (latency benches measure the server, not TCP).
        match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async_with_config(req, None, true)).await {
            Ok(Ok((stream, _))) => Ok(Ws { stream }),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timeout".into()),
        }
    }

    /// A visitor's socket on a conversation, after hello (welcome consumed).
    pub async fn visitor(w: &Wrangler, site: &str, id: &str, token: &str, after: u64) -> Ws {
        let mut ws =
            Ws::connect(&format!("{}/api/v1/sites/{site}/conversations/{id}/ws", w.ws_base()), None).await.expect("visitor socket");
        ws.send(&serde_json::json!({"type": "hello", "token": token, "after": after})).await;
        ws.expect(|m| m["type"] == "welcome").await;
        ws
    }

    /// A visitor's socket on a conversation, before hello.
    pub async fn visitor_socket(w: &Wrangler, site: &str, id: &str) -> Ws {
        Ws::connect(&format!("{}/api/v1/sites/{site}/conversations/{id}/ws", w.ws_base()), None).await.expect("visitor socket")
    }

    /// An operator's inbox socket (the live conversation list) and its first frame, the snapshot.
    pub async fn inbox(w: &Wrangler, site: &str, cookie: &str) -> (Ws, Value) {
        let mut ws = Ws::connect(&format!("{}/api/v1/sites/{site}/inbox/ws", w.ws_base()), Some(cookie)).await.expect("inbox socket");
        let snapshot = ws.expect(|m| m["type"] == "snapshot").await;
        (ws, snapshot)
    }

    /// An operator's socket on a conversation, after hello (welcome consumed).
    pub async fn operator(w: &Wrangler, site: &str, id: &str, cookie: &str, after: u64) -> Ws {
        let mut ws = Ws::connect(&format!("{}/api/v1/sites/{site}/conversations/{id}/ws?as=operator", w.ws_base()), Some(cookie))
            .await
            .expect("operator socket");
        ws.send(&serde_json::json!({"type": "hello", "after": after})).await;
        ws.expect(|m| m["type"] == "welcome").await;
        ws
    }

    pub async fn send(&mut self, v: &Value) {
        self.stream.send(Message::Text(v.to_string().into())).await.expect("send");
    }

    /// Sends a chat message with a client id.
    pub async fn message(&mut self, client_id: &str, text: &str) {
        self.send(&serde_json::json!({"type": "message", "client_id": client_id, "text": text})).await;
    }

    /// The ack for `client_id`: its seq. Panics on an error frame for it.
    pub async fn ack(&mut self, client_id: &str) -> u64 {
        let f = self.expect(|m| (m["type"] == "ack" || m["type"] == "error") && m["client_id"] == client_id).await;
        assert_eq!(f["type"], "ack", "refused: {f}");
        f["seq"].as_u64().unwrap()
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.stream.send(Message::Text(text.to_string().into())).await.expect("send");
    }

    /// The next JSON frame, or `None` if the socket closed. Panics after `WAIT`.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            let m = tokio::time::timeout(WAIT, self.stream.next()).await.expect("no frame within the wait")?;
            match m {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).expect("JSON frame")),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// The next JSON frame, or the close code if the socket closed instead (`None`: no code).
    pub async fn next_or_closed(&mut self) -> Result<Value, Option<u16>> {
        loop {
            let m = tokio::time::timeout(WAIT, self.stream.next()).await.expect("no frame within the wait");
            match m {
                Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).expect("JSON frame")),
                Some(Ok(Message::Close(f))) => return Err(f.map(|f| f.code.into())),
                None | Some(Err(_)) => return Err(None),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The close frame's code and reason (skipping other frames).
    pub async fn closed(&mut self) -> Option<(u16, String)> {
        loop {
            let m = tokio::time::timeout(WAIT, self.stream.next()).await.expect("no close within the wait")?;
            match m {
                Ok(Message::Close(Some(f))) => return Some((f.code.into(), f.reason.to_string())),
                Ok(Message::Close(None)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Reads frames until one matches; returns it. Panics if the socket closes first.
    pub async fn expect(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let mut seen = Vec::new();
        loop {
            match self.next().await {
                Some(v) if pred(&v) => return v,
                Some(v) => seen.push(v),
                None => panic!("socket closed before the expected frame; saw {seen:#?}"),
            }
        }
    }

    /// Reads frames until one matches; returns every frame read, the match last.
    pub async fn frames_until(&mut self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            match self.next().await {
                Some(v) => {
                    let done = pred(&v);
                    seen.push(v);
                    if done {
                        return seen;
                    }
                }
                None => panic!("socket closed before the expected frame; saw {seen:#?}"),
            }
        }
    }

    /// Reads frames until an event of this type; returns the event.
    pub async fn expect_event(&mut self, kind: &str) -> Value {
        let v = self.expect(|m| m["type"] == "event" && m["event"]["kind"]["type"] == kind).await;
        v["event"].clone()
    }

    /// The underlying stream, to split into sender and receiver halves.
    pub fn into_stream(self) -> Stream {
        self.stream
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
