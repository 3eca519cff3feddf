//! Embedding the widget on a customer's page: the loader on another origin (cross-origin
//! script, glue, wasm and API), every way of including the tag, the data- options, and a host
//! page whose CSS attacks everything it can. Screenshots: target/screenshots/widget-*.png.

use baton_tests::browser::{eventually, Browser};
use baton_tests::host::{host_page, HostSite};
use baton_tests::*;
use fantoccini::Locator;
use serde_json::{json, Value};

async fn setup(width: u32, height: u32) -> (Wrangler, HostSite, Browser) {
    let w = Wrangler::start().await;
    let site = HostSite::start().await;
    let b = Browser::start_with(width, height, &[format!("--host-resolver-rules={}", site.resolver_rule())]).await;
    (w, site, b)
}

fn tag(w: &Wrangler, attrs: &str) -> String {
    format!(r#"<script src="{}/widget.js" data-site="widget-test" {attrs}></script>"#, w.base())
}

/// Computed style properties of the first element matching `css` in the widget.
async fn style(b: &Browser, css: &str, props: &[&str]) -> Value {
    b.js(
        "const el = document.querySelector('[data-baton]').shadowRoot.querySelector(arguments[0]); \
         const s = getComputedStyle(el), r = el.getBoundingClientRect(); \
         const out = {x: r.x, y: r.y, w: r.width, h: r.height}; \
         for (const p of arguments[1]) out[p] = s.getPropertyValue(p); return out;",
        vec![json!(css), json!(props)],
    )
    .await
}

const HOSTILE_CSS: &str = r#"<style>
  html { font-size: 5px !important; }
  body { font: italic 40px/3 "Comic Sans MS", cursive !important; color: #f0f !important; letter-spacing: 4px !important;
         text-transform: uppercase !important; transform: translateZ(0); }
  * { box-sizing: content-box !important; cursor: crosshair !important; }
  div { display: none !important; position: relative !important; z-index: -1 !important; transform: scale(.2) !important;
        filter: blur(4px) !important; opacity: .1 !important; width: 1px !important; height: 1px !important; }
  [data-baton], html > div { display: none !important; visibility: hidden !important; clip-path: inset(50%) !important; }
  button, textarea, p, a, span, form { all: revert !important; background: red !important; font-size: 30px !important; }
  :root, [data-baton] { --a: #f00 !important; --f: #0f0 !important; }
  button.launcher, div.app, div.msg, div.panel { position: absolute !important; top: 0 !important; left: 0 !important; background: lime !important; }
</style>"#;

#[tokio::test]
async fn survives_a_hostile_host_page_and_keeps_its_css_to_itself() {
    let (w, site, b) = setup(1024, 768).await;
    let body = r#"<section class="app open" id="page-panel">The page's own element with the widget's class names.</section>
                  <section class="launcher msg visitor" id="page-msg">Another one.</section>"#;
    site.page("/hostile.html", &host_page("Hostile", HOSTILE_CSS, &tag(&w, "async"), body));
    b.client.goto(&site.url("/hostile.html")).await.unwrap();
    let viewport = b.js("return [innerWidth, innerHeight]", vec![]).await;
    let (vw, vh) = (viewport[0].as_f64().unwrap(), viewport[1].as_f64().unwrap());

    // The launcher: 56 px round button, 20 px from the bottom-right corner, in its colours.
    let launcher = eventually("the launcher", || async {
        let s = style(&b, ".launcher", &["background-color", "color", "display"]).await;
        (s["w"].as_f64() == Some(56.0)).then_some(s)
    })
    .await;
    assert_eq!((launcher["x"].as_f64().unwrap(), launcher["y"].as_f64().unwrap()), (vw - 76.0, vh - 76.0), "{launcher}");
    assert_eq!(launcher["background-color"], "rgb(37, 99, 235)");
    assert_eq!(launcher["color"], "rgb(255, 255, 255)");
    let host = b
        .js(
            "const h = document.querySelector('[data-baton]'), s = getComputedStyle(h); \
             return [document.querySelectorAll('[data-baton]').length, s.display, s.position, s.visibility, s.transform, s.opacity];",
            vec![],
        )
        .await;
    assert_eq!(host, json!([1, "block", "fixed", "visible", "none", "1"]));

    // Opened and used, it looks like itself: its own font, sizes and colours.
    let widget = b.open_widget().await;
    b.ask(&widget, "How do I install the gizmo?").await;
    eventually("a cited answer", || async { (!b.texts(".msg.bot .sources a").await.is_empty()).then_some(()) }).await;
    let panel = style(&b, ".app", &["position", "font-size", "background-color"]).await;
    // 370 × 560, or as tall as fits under the page's top with the launcher below.
    assert_eq!((panel["w"].as_f64(), panel["h"].as_f64()), (Some(370.0), Some(560f64.min(vh - 108.0))), "{panel}");
    assert_eq!(panel["position"], "fixed");
    let text = style(&b, ".msg.bot[data-seq] .text", &["font-size", "font-style", "color", "text-transform", "letter-spacing"]).await;
    assert_eq!(text["font-size"], "14px");
    assert_eq!(text["font-style"], "normal");
    assert_eq!(text["color"], "rgb(17, 24, 39)");
    assert_eq!(text["text-transform"], "none");
    assert_eq!(text["letter-spacing"], "normal");
    let send = style(&b, ".send", &["background-color", "color", "font-size"]).await;
    assert_eq!(send["background-color"], "rgb(37, 99, 235)");
    assert_eq!(send["font-size"], "14px");

    // And nothing of the widget's CSS reached the page's own elements with the same classes.
    let page = b
        .js(
            "return ['page-panel', 'page-msg'].map(id => { const s = getComputedStyle(document.getElementById(id)); \
             return [s.position, s.backgroundColor, s.borderRadius]; });",
            vec![],
        )
        .await;
    assert_eq!(page, json!([["static", "rgba(0, 0, 0, 0)", "0px"], ["static", "rgba(0, 0, 0, 0)", "0px"]]));
    b.screenshot("widget-hostile-page").await;
    b.close().await;
}

#[tokio::test]
async fn loads_as_async_defer_module_and_only_once_when_included_twice() {
    let (w, site, b) = setup(1024, 768).await;
    let variants = [
        ("async", tag(&w, "async")),
        ("defer", tag(&w, "defer")),
        ("module", tag(&w, r#"type="module""#)),
        ("blocking-in-head", tag(&w, "")),
        ("twice", format!("{}{}{}", tag(&w, "async"), tag(&w, "defer"), tag(&w, r#"type="module""#))),
    ];
    for (name, scripts) in &variants {
        let html = if *name == "blocking-in-head" {
            host_page(name, scripts, "", "<p>Tag in the head, before the body exists.</p>")
        } else {
            host_page(name, "", scripts, "<p>A page.</p>")
        };
        site.page(&format!("/{name}.html"), &html);
        b.client.goto(&site.url(&format!("/{name}.html"))).await.unwrap();
        let widget = b.open_widget().await;
        let count = b.js("return document.querySelectorAll('[data-baton]').length", vec![]).await;
        assert_eq!(count, json!(1), "{name}: one widget");
        let launchers = b.js("return document.querySelector('[data-baton]').shadowRoot.querySelectorAll('.launcher').length", vec![]).await;
        assert_eq!(launchers, json!(1), "{name}: one launcher");
        // The panel mounted once: one composer, one greeting.
        assert_eq!(b.texts(".greeting").await.len(), 1, "{name}");
        assert_eq!(widget.find_all(Locator::Css("textarea")).await.unwrap().len(), 1, "{name}");
        // The next page starts closed, as for a new visitor.
        b.js("localStorage.clear()", vec![]).await;
    }
    b.close().await;
}

#[tokio::test]
async fn data_options_api_position_colour_greeting_language_and_open() {
    let (w, site, b) = setup(1024, 768).await;
    // data-api: the script from one origin, the API on another (the same worker by another name).
    let api = format!("http://localhost:{}", w.port);
    let attrs = format!(
        r##"async data-api="{api}/" data-position="left" data-color="#ffd43b" data-greeting="Moin! Frag mich." data-lang="de" data-open"##
    );
    site.page("/options.html", &host_page("Optionen", "", &tag(&w, &attrs), "<p>Eine Seite.</p>"));
    b.client.goto(&site.url("/options.html")).await.unwrap();
    // data-open: the panel opens by itself, but doesn't take the focus from the page.
    let widget = b.widget().await;
    eventually("the panel, open", || async { widget.find(Locator::Css(".app.open textarea")).await.ok() }).await;
    eventually("the greeting", || async { b.texts(".greeting").await.first().filter(|g| *g == "Moin! Frag mich.").cloned() }).await;
    assert_eq!(b.js("return document.activeElement === document.body", vec![]).await, json!(true));
    let launcher = style(&b, ".launcher", &["background-color", "color"]).await;
    assert_eq!(launcher["x"].as_f64(), Some(20.0), "left side: {launcher}");
    assert_eq!(launcher["background-color"], "rgb(255, 212, 59)");
    // A light colour gets black text (contrast ≥ 4.5:1).
    assert_eq!(launcher["color"], "rgb(0, 0, 0)");
    let header = style(&b, ".header", &["background-color", "color"]).await;
    assert_eq!((header["background-color"].as_str(), header["color"].as_str()), (Some("rgb(255, 212, 59)"), Some("rgb(0, 0, 0)")));
    // German strings.
    let words = b
        .js(
            "const r = document.querySelector('[data-baton]').shadowRoot; \
             return [r.querySelector('.launcher').getAttribute('aria-label'), r.querySelector('textarea').placeholder, r.querySelector('.human').textContent];",
            vec![],
        )
        .await;
    assert_eq!(words, json!(["Chat schließen", "Stell eine Frage…", "Mit einem Menschen sprechen"]));
    // The settings in the page's language, from the API at data-api: the loader fetched them
    // with the panel, and they carried the German words above.
    let settings = format!("{api}/api/v1/sites/widget-test/widget?lang=de");
    let fetched = eventually("the settings from the API at data-api", || async {
        let names = b.js("return performance.getEntriesByType('resource').map(e => e.name)", vec![]).await;
        names.as_array().unwrap().iter().any(|n| n.as_str() == Some(settings.as_str())).then_some(names)
    })
    .await;
    let fetched: Vec<&str> = fetched.as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(fetched.iter().any(|u| u.starts_with(&w.base()) && u.ends_with(".wasm")), "the bundle next to the script: {fetched:?}");
    b.screenshot("widget-options-de-left-yellow").await;
    b.close().await;
}
