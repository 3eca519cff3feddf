//! Headless Chromium through chromedriver (Debian packages), driven by fantoccini.

use crate::{free_port, root, WAIT};
use fantoccini::{Client, ClientBuilder, Locator};
use std::future::Future;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One browser (its own profile, so its own cookies and localStorage).
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start(width: u32, height: u32) -> Browser {
        Self::start_with(width, height, &[]).await
    }

    /// A browser with extra Chromium flags, e.g. `--host-resolver-rules=…` for a test host site.
    pub async fn start_with(width: u32, height: u32, extra_args: &[String]) -> Browser {
        Self::launch(width, height, extra_args, false).await
    }

    /// A phone: a `width` × `height` CSS-pixel viewport at 3× density with touch, as Chrome's
    /// device emulation gives it (desktop windows can't be made that narrow).
    pub async fn start_phone(width: u32, height: u32, extra_args: &[String]) -> Browser {
        Self::launch(width, height, extra_args, true).await
    }

    /// A browser whose page viewport is exactly `width` × `height` CSS pixels (a window's size
    /// includes its frame), at `pixel_ratio`, with touch for tablets. For layout screenshots.
    pub async fn start_viewport(width: u32, height: u32, pixel_ratio: f32, touch: bool) -> Browser {
        let metrics = serde_json::json!({"width": width, "height": height, "pixelRatio": pixel_ratio, "touch": touch, "mobile": touch});
        Self::launch_with(width, height, &[], Some(metrics)).await
    }

    /// Grants the page a permission (e.g. "notifications") through WebDriver's Set Permission.
    pub async fn grant(&self, permission: &str) {
        let cmd = SetPermission(serde_json::json!({"descriptor": {"name": permission}, "state": "granted"}));
        self.client.issue_cmd(cmd).await.expect("set permission");
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver (`goog/cdp/execute`), e.g.
    /// `ServiceWorker.deliverPushMessage`; its result.
    pub async fn cdp(&self, cmd: &str, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let c = Cdp(serde_json::json!({"cmd": cmd, "params": params}));
        self.client.issue_cmd(c).await.map_err(|e| e.to_string())
    }

    async fn launch(width: u32, height: u32, extra_args: &[String], phone: bool) -> Browser {
        let metrics = phone.then(|| serde_json::json!({"width": width, "height": height, "pixelRatio": 3.0, "touch": true}));
        Self::launch_with(width, height, extra_args, metrics).await
    }

    async fn launch_with(width: u32, height: u32, extra_args: &[String], metrics: Option<serde_json::Value>) -> Browser {
        let port = free_port();
        let mut cmd = Command::new("chromedriver");
        cmd.arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let driver = cmd.spawn().expect("chromedriver not found: ./baton test installs it (apt chromium-driver)");
        // Ready when it accepts connections.
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < WAIT, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={width},{height}"),
                ]
            }
        });
        let mut caps = caps.as_object().unwrap().clone();
        if let Some(args) = caps["goog:chromeOptions"]["args"].as_array_mut() {
            args.extend(extra_args.iter().map(|a| serde_json::Value::String(a.clone())));
        }
        if let Some(m) = metrics {
            caps["goog:chromeOptions"]["mobileEmulation"] = serde_json::json!({ "deviceMetrics": m });
        }
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("start a Chromium session");
        Browser { client, driver, _profile: profile }
    }

    /// Saves a screenshot as target/screenshots/<name>.png for a person to look at.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = root().join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// The widget's shadow root (waits for the loader to draw it).
    pub async fn widget(&self) -> fantoccini::elements::ShadowRoot {
        let host = self.client.wait().at_most(WAIT).for_element(Locator::Css("[data-baton]")).await.expect("widget host element");
        host.shadow_root().await.expect("widget shadow root")
    }

    /// Emulates a network (latency in ms, throughput in kbit/s) for every request of the page,
    /// loopback included — chromedriver's `network_conditions`. For measurements.
    pub async fn throttle(&self, latency_ms: u32, down_kbps: u32, up_kbps: u32) {
        let cmd = NetworkConditions(serde_json::json!({"network_conditions": {
            "offline": false, "latency": latency_ms,
            "download_throughput": down_kbps * 1000 / 8, "upload_throughput": up_kbps * 1000 / 8,
        }}));
        self.client.issue_cmd(cmd).await.expect("set network conditions");
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page; returns its value.
    pub async fn js(&self, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Opens the widget by clicking its launcher; returns the shadow root once the panel's
    /// composer is there.
    pub async fn open_widget(&self) -> fantoccini::elements::ShadowRoot {
        let widget = self.widget().await;
        widget.find(Locator::Css(".launcher")).await.expect("launcher").click().await.expect("click the launcher");
        eventually("the chat panel", || async { widget.find(Locator::Css(".app.open textarea")).await.ok() }).await;
        widget
    }

    /// Types `text` into the widget's composer and presses Enter.
    pub async fn ask(&self, widget: &fantoccini::elements::ShadowRoot, text: &str) {
        let input = widget.find(Locator::Css("textarea")).await.expect("composer");
        input.send_keys(text).await.expect("type");
        input.send_keys(&fantoccini::key::Key::Enter.to_string()).await.expect("enter");
    }

    /// The text of every element matching `css` in the widget, in document order.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let v = self
            .js(
                "const r = document.querySelector('[data-baton]'); if (!r) return []; \
                 return [...r.shadowRoot.querySelectorAll(arguments[0])].map(e => e.textContent);",
                vec![serde_json::Value::String(css.into())],
            )
            .await;
        v.as_array().map(|a| a.iter().map(|s| s.as_str().unwrap_or_default().to_string()).collect()).unwrap_or_default()
    }

    /// Runs axe-core (the npm package pinned in package.json, from node_modules) on the page
    /// as it is now, shadow roots included, against WCAG 2.1 A/AA and best practices. Writes
    /// the figures to target/axe/<name>.json and returns the serious and critical violations
    /// (rule: first nodes), which every page must have none of.
    ///
    /// Rules turned off, and why (`AXE_DISABLED`): none today. Add one only with its reason.
    pub async fn axe(&self, name: &str) -> Vec<String> {
        const AXE_DISABLED: &[(&str, &str)] = &[];
        let src = std::fs::read_to_string(root().join("node_modules/axe-core/axe.min.js"))
            .expect("node_modules/axe-core: ./baton test installs it (npm install)");
        self.js(&format!("{src}\n;return typeof axe;"), vec![]).await;
        let rules: serde_json::Map<String, serde_json::Value> =
            AXE_DISABLED.iter().map(|(r, _)| (r.to_string(), serde_json::json!({"enabled": false}))).collect();
        let options = serde_json::json!({
            "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
            "rules": rules,
            "resultTypes": ["violations"],
        });
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 axe.run(document, arguments[0]).then(r => done({ version: axe.version, \
                   passes: r.passes.length, incomplete: r.incomplete.length, \
                   violations: r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help, \
                     nodes: v.nodes.map(n => ({ target: n.target, summary: n.failureSummary })) })) \
                 }), e => done({ error: String(e) }));",
                vec![options],
            )
            .await
            .expect("axe.run");
        assert!(result.get("error").is_none(), "axe failed on {name}: {result}");
        let violations = result["violations"].as_array().cloned().unwrap_or_default();
        let count = |impact: &str| violations.iter().filter(|v| v["impact"] == impact).count();
        let figures = serde_json::json!({
            "page": name,
            "axe_core": result["version"],
            "passes": result["passes"],
            "incomplete": result["incomplete"],
            "violations": { "critical": count("critical"), "serious": count("serious"), "moderate": count("moderate"), "minor": count("minor") },
            "disabled_rules": AXE_DISABLED.iter().map(|(r, why)| serde_json::json!({"rule": r, "why": why})).collect::<Vec<_>>(),
            "details": violations,
        });
        let dir = root().join("target/axe");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string_pretty(&figures).unwrap()).unwrap();
        violations
            .iter()
            .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
            .map(|v| format!("{} ({}): {} — {}", v["id"], v["impact"], v["help"], v["nodes"]))
            .collect()
    }

    /// Asserts axe-core finds no serious or critical violation on the page (see `axe`).
    pub async fn assert_accessible(&self, name: &str) {
        let bad = self.axe(name).await;
        assert!(bad.is_empty(), "axe on {name}: {} serious/critical violation(s):\n{}", bad.len(), bad.join("\n"));
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        unsafe {
            libc::kill(-(self.driver.id() as i32), libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}

#[derive(Debug)]
struct NetworkConditions(serde_json::Value);

impl fantoccini::wd::WebDriverCompatibleCommand for NetworkConditions {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/chromium/network_conditions", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.0.to_string()))
    }
}

#[derive(Debug)]
struct Cdp(serde_json::Value);

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.0.to_string()))
    }
}

#[derive(Debug)]
struct SetPermission(serde_json::Value);

impl fantoccini::wd::WebDriverCompatibleCommand for SetPermission {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/permissions", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.0.to_string()))
    }
}

/// Polls `f` until it yields `Some`, for at most `limit`: `None` if it never did (for a step
/// the caller may retry, e.g. a push delivered before the service worker could take it).
pub async fn within<T, F, Fut>(limit: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if started.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `f` until it yields `Some`, for at most `WAIT` — waiting for the page to reach a
/// state, never a fixed sleep.
pub async fn eventually<T, F, Fut>(what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    within(WAIT, f).await.unwrap_or_else(|| panic!("timed out waiting for {what}"))
}
