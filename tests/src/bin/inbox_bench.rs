//! Inbox benchmark: how long from a handoff to its row on an operator's screen, on loopback
//! workerd (`wrangler dev`) and headless Chromium; plus the inbox bundle's size. Prints figures
//! and writes `target/bench/inbox.json`; asserts nothing about time.
//!
//! For each of `BATON_INBOX_N` handoffs (default 30): a visitor asks for a person over a real
//! WebSocket; the handoff event's `at` (the worker's clock when it decided) is the start. Two
//! ends are measured: the row frame arriving on an operator's inbox socket held by this process
//! (socket), and the row's element first appearing in the inbox page in Chromium (screen; a
//! MutationObserver in the page notes `Date.now()`). Same machine, same wall clock. Note:
//! inside a worker `Date.now()` only advances at I/O, so `at` may be up to a few ms early.
//!
//! Each handoff comes 150 ms after its conversation was created (see the loop).
//!
//! Run: `./baton build`, then `cargo run --release -p baton-tests --bin inbox_bench`.

use baton_tests::browser::{eventually, Browser};
use baton_tests::*;
use fantoccini::Locator;
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn summary(name: &str, mut v: Vec<i64>) -> serde_json::Value {
    v.sort_unstable();
    let (p50, p95, max) = (percentile(&v, 0.5), percentile(&v, 0.95), *v.last().unwrap());
    println!("  {name:<28} p50 {p50:>4} ms   p95 {p95:>4} ms   max {max:>4} ms   (n = {})", v.len());
    json!({"p50_ms": p50, "p95_ms": p95, "max_ms": max, "n": v.len()})
}

fn size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BATON_INBOX_N").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let w = Wrangler::start().await;
    let browser = Browser::start_viewport(1280, 800, 1.0, false).await;
    browser.client.goto(&format!("{}/inbox", w.base())).await.unwrap();
    let email = browser.client.wait().at_most(WAIT).for_element(Locator::Css("input[name=email]")).await.unwrap();
    email.send_keys("ann@example.com").await.unwrap();
    browser.client.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("ann-password-1").await.unwrap();
    browser.client.find(Locator::Css("form.login button")).await.unwrap().click().await.unwrap();
    browser.client.wait().at_most(WAIT).for_element(Locator::Css(".top .me")).await.unwrap();
    browser
        .js(
            "window.__seen = {}; new MutationObserver(() => { for (const r of document.querySelectorAll('.row[data-status=waiting_for_human]')) \
             { if (!(r.dataset.id in window.__seen)) window.__seen[r.dataset.id] = Date.now(); } })\
             .observe(document.body, {childList: true, subtree: true, attributes: true});",
            vec![],
        )
        .await;
    let bob = login(&w, "bench", "bob@example.com", "bob-password-1").await;
    let (mut inbox, _) = Ws::inbox(&w, "bench", &bob).await;

    let (mut to_socket, mut to_screen) = (Vec::new(), Vec::new());
    for i in 0..n + 3 {
        let (id, token) = create_conversation(&w, "bench").await;
        let mut v = Ws::visitor(&w, "bench", &id, &token, 0).await;
        // A visitor asks a moment after the conversation starts, as people do: the Conversation
        // object sends a row change after a quiet spell at once, but holds one that follows
        // another within 100 ms (its throttle) — that would be measured instead.
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        v.send(&json!({"type": "request_human", "client_id": "h"})).await;
        let at = v.expect_event("handoff_requested").await["at"].as_i64().unwrap();
        inbox
            .expect(|m| m["type"] == "row" && m["row"]["id"] == id.as_str() && m["row"]["ownership"]["state"] == "waiting_for_human")
            .await;
        let socket_ms = now_ms() - at;
        let seen = eventually("the row on screen", || async {
            browser.js("return window.__seen[arguments[0]] || null;", vec![json!(id)]).await.as_i64()
        })
        .await;
        // The first few warm up the isolate and the page.
        if i >= 3 {
            to_socket.push(socket_ms);
            to_screen.push(seen - at);
        }
        v.close().await;
    }
    println!("handoff → row, {n} handoffs (loopback workerd, headless Chromium):");
    let socket = summary("operator's inbox socket", to_socket);
    let screen = summary("row on the inbox page", to_screen);

    let dist = root().join("dist/inbox");
    let bundle = std::fs::read_dir(&dist).ok().and_then(|mut d| d.next()).and_then(|e| e.ok()).map(|e| e.path());
    let sizes = bundle.map(|b| {
        let s = json!({
            "wasm": size(&b.join("baton_inbox_bg.wasm")), "wasm_br": size(&b.join("baton_inbox_bg.wasm.br")),
            "js": size(&b.join("baton_inbox.js")), "js_br": size(&b.join("baton_inbox.js.br")),
        });
        println!(
            "inbox bundle: wasm {:.0} KB raw / {:.0} KB brotli, glue {:.1} KB raw / {:.1} KB brotli",
            s["wasm"].as_f64().unwrap() / 1024.0,
            s["wasm_br"].as_f64().unwrap() / 1024.0,
            s["js"].as_f64().unwrap() / 1024.0,
            s["js_br"].as_f64().unwrap() / 1024.0
        );
        s
    });
    let out = json!({"handoff_to_row": {"socket": socket, "screen": screen}, "bundle_bytes": sizes});
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("inbox.json"), serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!("wrote target/bench/inbox.json");
    browser.close().await;
}
