//! Test harness: starts the real worker under `wrangler dev` (workerd) on a free loopback port
//! with its own state directory and secrets, and stops it — the whole process group — when
//! dropped. Plus small HTTP / WebSocket helpers that speak Baton's protocol.
//!
//! Tests need the build from `./baton build` (dist/ and worker/build/); `./baton test` does it.

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

/// Every wait in the tests is bounded by this: a failure, never a way to synchronise.
pub const WAIT: Duration = Duration::from_secs(20);

/// Test operator accounts: (site, email, name, password).
pub const OPERATORS: &[(&str, &str, &str, &str)] =
    &[("demo", "ann@example.com", "Ann", "ann-password-1"), ("demo", "bob@example.com", "Bob", "bob-password-1")];

pub fn root() -> PathBuf {
    match std::env::var_os("BATON_ROOT") {
        Some(r) => PathBuf::from(r),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf(),
    }
}

/// A loopback port nobody is listening on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind :0").local_addr().expect("addr").port()
}

/// `pbkdf2-sha256:1000:salt:hash` (fewer rounds than production: sign-in tests stay fast).
pub fn password_hash(password: &str) -> String {
    let salt = b"baton-test-salt!";
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, 1000, &mut out);
    format!("pbkdf2-sha256:1000:{}:{}", hex(salt), hex(&out))
}

pub fn operators_json() -> String {
    let v: Vec<Value> = OPERATORS
        .iter()
        .map(|(site, email, name, pw)| serde_json::json!({"site": site, "email": email, "name": name, "password": password_hash(pw)}))
        .collect();
    Value::Array(v).to_string()
}

/// How to start `wrangler dev` beyond the defaults.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Another wrangler config (`--config`), e.g. one serving a benchmark's assets.
    pub config: Option<PathBuf>,
    /// Extra variables for the worker's environment, as `.dev.vars` lines `KEY=VALUE`.
    pub vars: Vec<(String, String)>,
}

/// A running `wrangler dev`.
pub struct Wrangler {
    pub port: u16,
    pub state: PathBuf,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
    _tmp: Option<tempfile::TempDir>,
    _env: tempfile::NamedTempFile,
}

impl Wrangler {
    /// Starts on a fresh, empty state directory.
    pub async fn start() -> Wrangler {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut w = Self::start_on(tmp.path()).await;
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

    /// Starts on `state` with another wrangler config and/or extra environment variables
    /// (e.g. `BATON_LLM_BASE_URL` for the rephrasing test).
    pub async fn start_with(state: &Path, options: &Options) -> Wrangler {
        let root = root();
        assert!(
            root.join("worker/build/worker/shim.mjs").is_file() && root.join("dist/sites/demo/index.idx").is_file(),
            "the worker is not built: run ./baton build (./baton test does it)"
        );
        let mut env = tempfile::NamedTempFile::new().expect("env file");
        use std::io::Write;
        writeln!(env, "BATON_SESSION_KEY=test-session-key-0123456789abcdef0123456789").unwrap();
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
            .args(options.config.iter().flat_map(|c| [std::ffi::OsStr::new("--config"), c.as_os_str()]))
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
        let w = Wrangler { port, state: state.to_path_buf(), child: Some(child), log, _tmp: None, _env: env };
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

type Stream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket speaking JSON frames.
pub struct Ws {
    stream: Stream,
}

impl Ws {
    pub async fn connect(url: &str, cookie: Option<&str>) -> Result<Ws, String> {
        let mut req = url.into_client_request().map_err(|e| e.to_string())?;
        if let Some(c) = cookie {
            req.headers_mut().insert("cookie", c.parse().unwrap());
        }
        match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req)).await {
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

    /// Reads frames until an event of this type; returns the event.
    pub async fn expect_event(&mut self, kind: &str) -> Value {
        let v = self.expect(|m| m["type"] == "event" && m["event"]["kind"]["type"] == kind).await;
        v["event"].clone()
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
