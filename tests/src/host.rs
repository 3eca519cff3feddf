//! What the widget's browser tests put around the worker:
//!
//! - [`HostSite`]: a customer's site on another origin, `http://shop.test` (the test browser
//!   maps that name to a local port: [`HostSite::resolver_rule`]). It serves pages the test
//!   writes, so each test says exactly how the widget is embedded. The `widget-test` site
//!   (tests/sites/widget-test) allows this origin; the widget's files and API come from the
//!   worker cross-origin, as on a real customer site.
//! - [`Proxy`]: a TCP hop between the browser and the worker that the test can cut and
//!   restore, and point at a restarted worker (which listens on a new port).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The host page origin the `widget-test` site allows.
pub const SHOP: &str = "http://shop.test";

/// A minimal static web server for test pages: GET only, one request per connection.
pub struct HostSite {
    pub port: u16,
    pages: Arc<Mutex<HashMap<String, String>>>,
    task: JoinHandle<()>,
}

impl HostSite {
    pub async fn start() -> HostSite {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the host site");
        let port = listener.local_addr().unwrap().port();
        let pages: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let served = pages.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let pages = served.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf);
                    let path = head.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_string();
                    let page = pages.lock().unwrap().get(&path).cloned();
                    let (status, body) = match page {
                        Some(b) => ("200 OK", b),
                        None => ("404 Not Found", format!("no test page {path}")),
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(resp.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        HostSite { port, pages, task }
    }

    /// Serves `html` at `path` (e.g. "/pricing.html").
    pub fn page(&self, path: &str, html: &str) {
        self.pages.lock().unwrap().insert(path.to_string(), html.to_string());
    }

    /// `--host-resolver-rules` value: `shop.test` (port 80) → this server.
    pub fn resolver_rule(&self) -> String {
        format!("MAP shop.test 127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{SHOP}{path}")
    }
}

impl Drop for HostSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A page of the host site: `title`, extra `<head>` content, the widget's script tag(s), a body.
pub fn host_page(title: &str, head: &str, scripts: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>{head}</head><body>{body}{scripts}</body></html>"
    )
}

/// A TCP hop to the worker that can be cut (every live connection dropped, new ones refused)
/// and restored, and retargeted at another port.
pub struct Proxy {
    pub port: u16,
    target: Arc<AtomicU16>,
    up: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<JoinHandle<()>>>>,
    task: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let target = Arc::new(AtomicU16::new(target_port));
        let up = Arc::new(AtomicBool::new(true));
        let live: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (t, u, l) = (target.clone(), up.clone(), live.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !u.load(Ordering::SeqCst) {
                    // The network is down: the connection is refused (reset), as a dead link.
                    drop(client);
                    continue;
                }
                let to = t.load(Ordering::SeqCst);
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(("127.0.0.1", to)).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                let mut live = l.lock().unwrap();
                live.retain(|h| !h.is_finished());
                live.push(conn);
            }
        });
        Proxy { port, target, up, live, task }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Drops every open connection (sockets close at once) and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for h in self.live.lock().unwrap().drain(..) {
            h.abort();
        }
    }

    /// Accepts connections again, forwarding them to `target_port`.
    pub fn restore(&self, target_port: u16) {
        self.target.store(target_port, Ordering::SeqCst);
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}
