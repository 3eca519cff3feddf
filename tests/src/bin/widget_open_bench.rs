//! Time to open the widget: from the visitor's click on the launcher to the panel ready to type
//! in (its composer exists), in headless Chromium against the real worker, under emulated
//! networks, for the ways the panel's bytes could be fetched:
//!
//! - `click`: nothing fetched before the click (cold cache);
//! - `intent`: the pointer rests on the launcher 300 ms before the click — the loader starts
//!   fetching on pointerenter / focus / touchstart (what ships);
//! - `idle`: everything fetched before the click, as a `requestIdleCallback` preload would;
//! - `warm`: a returning visitor (bundle in the HTTP cache: hashed names, immutable).
//!
//! Prints a table and writes target/bench/widget-open.json. Needs `./baton build`.
//!
//!     cargo run --release -p baton-tests --bin widget_open_bench [-- RUNS]

use baton_tests::browser::Browser;
use baton_tests::host::{host_page, HostSite};
use baton_tests::*;
use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
use fantoccini::Locator;
use serde_json::json;
use std::time::Duration;

/// (name, latency ms, down kbit/s, up kbit/s); `None` = no throttling.
const NETWORKS: &[(&str, Option<(u32, u32, u32)>)] = &[
    ("loopback", None),
    ("fast 4G (40 ms, 9 Mbit/s)", Some((40, 9_000, 1_500))),
    ("slow 4G (150 ms, 1.6 Mbit/s)", Some((150, 1_600, 750))),
];

const STRATEGIES: &[&str] = &["click", "intent", "idle", "warm"];

/// Installed before the click: records the click and the moment the composer exists.
const PROBE: &str = "const r = document.querySelector('[data-baton]').shadowRoot; window.__t = {}; \
    r.addEventListener('click', e => { if (!__t.click && e.target.closest('.launcher')) __t.click = performance.now(); }, true); \
    new MutationObserver(() => { if (!__t.ready && r.querySelector('.app textarea')) __t.ready = performance.now(); }) \
      .observe(r, {subtree: true, childList: true});";

async fn one(site: &HostSite, net: Option<(u32, u32, u32)>, strategy: &str) -> f64 {
    let b = Browser::start_with(1024, 768, &[format!("--host-resolver-rules={}", site.resolver_rule())]).await;
    if let Some((lat, down, up)) = net {
        b.throttle(lat, down, up).await;
    }
    let url = site.url("/bench.html");
    b.client.goto(&url).await.unwrap();
    if strategy == "warm" {
        // A first visit fetches everything (and opens/closes the panel), then a new page view.
        let w = b.open_widget().await;
        w.find(Locator::Css(".close")).await.unwrap().click().await.unwrap();
        b.js("localStorage.clear()", vec![]).await;
        b.client.goto(&url).await.unwrap();
    }
    let widget = b.widget().await;
    let launcher = widget.find(Locator::Css(".launcher")).await.unwrap();
    b.js(PROBE, vec![]).await;
    if strategy == "idle" {
        // What an idle-time preload leaves behind: glue and wasm fetched and compiled.
        b.js(
            "document.querySelector('[data-baton]').shadowRoot.querySelector('.launcher').dispatchEvent(new PointerEvent('pointerenter'))",
            vec![],
        )
        .await;
        baton_tests::browser::eventually("the preload", || async {
            let v = b
                .js("return performance.getEntriesByType('resource').some(e => e.name.endsWith('.wasm') && e.responseEnd > 0)", vec![])
                .await;
            (v == json!(true)).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await; // compile time, as idle time would give it
    }
    let pause = if strategy == "intent" { 300 } else { 0 };
    let mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement { element: launcher, duration: None, x: 0.0, y: 0.0 })
        .then(PointerAction::Pause { duration: Duration::from_millis(pause) })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    b.client.perform_actions(mouse).await.unwrap();
    let t = baton_tests::browser::eventually("the panel", || async {
        let t = b.js("return window.__t", vec![]).await;
        (t["ready"].is_number() && t["click"].is_number()).then_some(t)
    })
    .await;
    b.close().await;
    t["ready"].as_f64().unwrap() - t["click"].as_f64().unwrap()
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let w = Wrangler::start().await;
    let site = HostSite::start().await;
    let tag = format!(r#"<script src="{}/widget.js" data-site="widget-test" async></script>"#, w.base());
    site.page("/bench.html", &host_page("Bench", "", &tag, "<p>A page.</p>"));
    let mut results = Vec::new();
    println!("time to open (click → composer ready), median of {runs} runs, ms");
    println!("{:<30} {:>8} {:>8} {:>8} {:>8}", "network", "click", "intent", "idle", "warm");
    for (name, net) in NETWORKS {
        let mut row = json!({"network": name});
        let mut line = format!("{name:<30}");
        for s in STRATEGIES {
            let mut times = Vec::new();
            for _ in 0..runs {
                times.push(one(&site, *net, s).await);
            }
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let median = times[times.len() / 2];
            line.push_str(&format!(" {median:>8.0}"));
            row[s] = json!({"median_ms": median.round(), "runs_ms": times.iter().map(|t| t.round()).collect::<Vec<_>>()});
        }
        println!("{line}");
        results.push(row);
    }
    let out = json!({"runs": runs, "metric": "click on the launcher → panel composer in the DOM (ms)", "results": results});
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("widget-open.json"), serde_json::to_string_pretty(&out).unwrap() + "\n").unwrap();
    println!("wrote target/bench/widget-open.json");
}
