use baton_tests::browser::Browser;
use baton_tests::host::{host_page, HostSite};
use baton_tests::*;
use serde_json::json;
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
  button.l, div.p, div.msg, div.panel { position: absolute !important; top: 0 !important; left: 0 !important; background: lime !important; }
</style>"#;

#[tokio::test]
async fn debug() {
    let w = Wrangler::start().await;
    let site = HostSite::start().await;
    let b = Browser::start_with(1024, 768, &[format!("--host-resolver-rules={}", site.resolver_rule())]).await;
    let tag = format!(r#"<script src="{}/widget.js" data-site="widget-test" async></script>"#, w.base());
    site.page("/a.html", &host_page("A", &(HOSTILE_CSS.to_string() + "<script>window.__errs=[];addEventListener('error',e=>__errs.push(String(e.message)));addEventListener('unhandledrejection',e=>__errs.push('rej '+String(e.reason && e.reason.stack || e.reason)));</script>"), &tag, "<p>x</p>"));
    b.client.goto(&site.url("/a.html")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    println!("style: {}", b.js("const h=document.querySelector('[data-baton]'); const s=getComputedStyle(h); const l=h.shadowRoot.querySelector('.l'); const r=l.getBoundingClientRect(); return [s.display,s.position,s.width,r.x,r.y,r.width,r.height,getComputedStyle(l).display, h.parentNode.nodeName]", vec![]).await);
    println!(
        "host: {}",
        b.js("const h=document.querySelector('[data-baton]'); return h ? h.shadowRoot.innerHTML.slice(0,500) : 'none'", vec![]).await
    );
    let widget = b.widget().await;
    let l = widget.find(fantoccini::Locator::Css(".l")).await;
    println!("find .l: {:?}", l.as_ref().map(|_| ()));
    println!("click: {:?}", l.unwrap().click().await.map(|_| ()));
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    println!(
        "after click: {}",
        b.js("return document.querySelector('[data-baton]').shadowRoot.querySelector('.p').innerHTML.slice(0,800)", vec![]).await
    );
    println!("find textarea: {:?}", widget.find(fantoccini::Locator::Css(".p.o textarea")).await.map(|_| ()));
    println!("find textarea2: {:?}", widget.find(fantoccini::Locator::Css("textarea")).await.map(|_| ()));
    println!("errors: {}", b.js("return window.__errs", vec![json!(0)]).await);
    println!("log: {}", w.log().lines().rev().take(15).collect::<Vec<_>>().join("\n"));
}
