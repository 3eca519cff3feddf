//! How the worker serves the widget's files (what a customer's page and a CDN see): content
//! types, CORS for cross-origin loading, long-lived caching only for content-hashed names,
//! brotli when asked for, and the visitor API's CORS preflight.

use baton_tests::*;
use reqwest::header::HeaderMap;

/// The hashed bundle directory the built loader points at ("widget/<hash>").
fn bundle() -> String {
    let loader = std::fs::read_to_string(root().join("dist/widget.js")).expect("dist/widget.js: run ./baton build");
    let at = loader.find("widget/").expect("the loader names its bundle");
    loader[at..at + 7 + 16].to_string()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

#[tokio::test]
async fn files_have_types_cors_caching_and_brotli() {
    let w = Wrangler::start().await;
    let bundle = bundle();
    let cases = [
        ("widget.js".to_string(), "text/javascript; charset=utf-8", "public, max-age=300"),
        (format!("{bundle}/baton_widget.js"), "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"),
        (format!("{bundle}/baton_widget_bg.wasm"), "application/wasm", "public, max-age=31536000, immutable"),
    ];
    for (path, content_type, cache) in &cases {
        let dist = std::fs::read(root().join("dist").join(path)).unwrap();
        let dist_br = std::fs::read(root().join("dist").join(format!("{path}.br"))).unwrap();
        assert!(dist_br.len() < dist.len(), "{path}: the brotli twin is smaller");

        // Asked for brotli, the worker sends the prebuilt twin as it is.
        let r = http()
            .get(format!("{}/{path}", w.base()))
            .header("accept-encoding", "br")
            .header("origin", "http://shop.test")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers().clone();
        assert_eq!(header(&h, "content-type"), *content_type, "{path}");
        assert_eq!(header(&h, "cache-control"), *cache, "{path}");
        assert_eq!(header(&h, "access-control-allow-origin"), "*", "{path}");
        assert_eq!(header(&h, "content-encoding"), "br", "{path}");
        assert_eq!(header(&h, "x-content-type-options"), "nosniff", "{path}");
        assert!(header(&h, "vary").to_ascii_lowercase().contains("accept-encoding"), "{path}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), dist_br.as_slice(), "{path}: the brotli bytes");

        // What a browser asks for: compressed either way. (The platform may re-encode for the
        // client — workerd locally answers gzip here; the edge decodes for clients without br
        // support — so the worker always hands over the brotli twin.)
        let r = http().get(format!("{}/{path}", w.base())).header("accept-encoding", "gzip, deflate, br, zstd").send().await.unwrap();
        let encoding = header(r.headers(), "content-encoding").to_string();
        assert!(encoding == "br" || encoding == "gzip", "{path}: {encoding:?}");
        assert!(r.bytes().await.unwrap().len() < dist.len(), "{path}: compressed on the wire");
    }

    // A name that isn't in the bundle, or isn't a hash, is a clear 404.
    for bad in [format!("{bundle}/nope.js"), "widget/not-a-hash/baton_widget.js".into(), format!("{bundle}/baton_widget.exe")] {
        let r = http().get(format!("{}/{bad}", w.base())).send().await.unwrap();
        assert_eq!(r.status(), 404, "{bad}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{bad}");
    }
}

#[tokio::test]
async fn the_visitor_api_answers_preflights_from_allowed_pages_only() {
    let w = Wrangler::start().await;
    let preflight = |origin: &'static str| {
        http()
            .request(reqwest::Method::OPTIONS, format!("{}/api/v1/sites/widget-test/conversations", w.base()))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight("http://shop.test").await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(header(ok.headers(), "access-control-allow-origin"), "http://shop.test");
    assert!(header(ok.headers(), "access-control-allow-methods").contains("POST"));
    assert!(header(ok.headers(), "access-control-allow-headers").to_ascii_lowercase().contains("content-type"));

    let no = preflight("http://evil.test").await.unwrap();
    assert_eq!(no.status(), 403);
    let body: serde_json::Value = no.json().await.unwrap();
    assert_eq!(body["error"]["code"], "origin_not_allowed");
    assert!(body["error"]["message"].as_str().unwrap().contains("allowed_origins"), "says what to do");

    // The refusal itself is readable by the page (CORS on it, and only on it): the widget can
    // say the chat is not available there and log which origin to add, not retry blindly.
    let r = http().get(format!("{}/api/v1/sites/widget-test/widget", w.base())).header("origin", "http://evil.test").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(header(r.headers(), "access-control-allow-origin"), "http://evil.test");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("http://evil.test may not use the widget-test widget"), "{body}");
    let r =
        http().get(format!("{}/api/v1/sites/widget-test/inbox/rows", w.base())).header("origin", "http://evil.test").send().await.unwrap();
    assert_eq!(header(r.headers(), "access-control-allow-origin"), "", "no CORS on other refusals");
}
