//! The demo is a docs site too: its docs are served as pages (`index-builder build --pages`),
//! each heading anchored as citations link to it and the widget on every page. A visitor who
//! opens a citation lands on the cited section, and the conversation is still there.

use baton_tests::browser::{eventually, Browser};
use baton_tests::*;
use fantoccini::Locator;
use serde_json::{json, Value};

#[tokio::test]
async fn a_citation_opens_the_cited_section_with_the_chat_at_hand() {
    let w = Wrangler::start().await;

    // Both demo sites' docs are pages, with the widget of their own site.
    for (path, site, id) in [
        ("/docs/faq", "demo", "how-are-operator-passwords-stored"),
        ("/docs/", "demo", "where-to-start"),
        ("/acme/docs/restore", "acme", "restore-a-deleted-file"),
    ] {
        let r = http().get(format!("{}{path}", w.base())).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8", "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains(&format!(r#"<script src="/widget.js" data-site="{site}" async></script>"#)), "{path}: the widget");
        assert!(html.contains(&format!(r#"id="{id}""#)), "{path}: #{id}");
    }
    // Anything else is still a clear 404, and nothing outside the pages is reached this way.
    for path in ["/docs/nope", "/docs/faq.md", "/docs/%2e%2e/sites/demo/site.json", "/sites/demo/site.json"] {
        let r = http().get(format!("{}{path}", w.base())).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }

    // A visitor asks on the demo page and opens the citation (a new tab).
    let b = Browser::start(1024, 800).await;
    b.client.goto(&w.base()).await.unwrap();
    let widget = b.open_widget().await;
    b.ask(&widget, "How are operator passwords stored?").await;
    let link = eventually("a cited answer", || async { widget.find(Locator::Css(".msg.bot .sources a")).await.ok() }).await;
    let href = link.attr("href").await.unwrap().unwrap();
    assert_eq!(href, "/docs/faq#how-are-operator-passwords-stored");
    let tabs = b.client.windows().await.unwrap();
    link.click().await.unwrap();
    let tab = eventually("the new tab", || async { b.client.windows().await.ok()?.into_iter().find(|t| !tabs.contains(t)) }).await;
    b.client.switch_to_window(tab).await.unwrap();
    // The cited heading is there, targeted and in view.
    let landed = eventually("the docs page", || async {
        let v = b
            .js(
                "const t = document.querySelector(':target'); if (!t || document.readyState !== 'complete') return null; \
                 const r = t.getBoundingClientRect(); return [location.pathname, t.id, t.tagName, r.top >= 0 && r.top < innerHeight / 2];",
                vec![],
            )
            .await;
        (!v.is_null()).then_some(v)
    })
    .await;
    assert_eq!(landed, json!(["/docs/faq", "how-are-operator-passwords-stored", "H2", true]));
    // The chat is on this page too: same conversation, open as the visitor left it.
    let widget = b.widget().await;
    eventually("the conversation on the docs page", || async { (b.texts(".msg.bot[data-seq]").await.len() == 1).then_some(()) }).await;
    assert!(widget.find(Locator::Css(".app.open")).await.is_ok());
    b.screenshot("docs-page-cited-section").await;
    b.assert_accessible("docs-page").await;
    assert!(!w.log().contains("panicked"), "{}", w.log());
    b.close().await;
}
