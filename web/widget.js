/* Baton widget loader. One tag on the host page:
 *   <script src="https://<worker>/widget.js" data-site="SITE" async></script>
 * Draws the launcher in a shadow root at once; loads the chat panel (wasm) only when the
 * visitor opens it. The build replaces __BATON_BUNDLE__ with the content-hashed bundle dir. */
(function () {
  "use strict";
  if (window.__batonWidget) return; // included twice: one widget
  window.__batonWidget = true;
  var me = document.currentScript || document.querySelector('script[data-site][src*="widget.js"]');
  if (!me) return;
  var d = me.dataset;
  var api = (d.api || new URL(me.src, location.href).origin).replace(/\/$/, "");
  var site = d.site || "demo";
  var key = "baton:" + site + ":open";
  var bundle = api + "/__BATON_BUNDLE__/";
  var opts = { site: site, api: api, greeting: d.greeting || null, lang: d.lang || navigator.language || "en" };
  var color = /^#[0-9a-fA-F]{6}$/.test(d.color || "") ? d.color : "#2563eb";
  var left = d.position === "left";

  var css =
    ":host{all:initial}*{box-sizing:border-box;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif}" +
    ".launcher{position:fixed;bottom:20px;" + (left ? "left" : "right") + ":20px;width:56px;height:56px;border-radius:50%;border:0;cursor:pointer;background:" + color + ";color:#fff;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center}" +
    ".launcher:focus-visible{outline:3px solid #111;outline-offset:2px}" +
    ".app{position:fixed;bottom:88px;" + (left ? "left" : "right") + ":20px;width:370px;max-width:calc(100vw - 40px);height:560px;max-height:calc(100vh - 110px);display:none;background:#fff;color:#111;border-radius:14px;box-shadow:0 10px 40px rgba(0,0,0,.25);overflow:hidden}" +
    ".app.open{display:block}.panel{display:flex;flex-direction:column;height:100%}" +
    ".header{display:flex;align-items:center;justify-content:space-between;padding:12px 14px;background:" + color + ";color:#fff}.title{font-weight:600;color:#fff}" +
    ".human{background:rgba(255,255,255,.2);color:#fff;border:1px solid rgba(255,255,255,.6);border-radius:8px;padding:4px 10px;cursor:pointer}" +
    ".status{font-size:12px;color:#92400e;background:#fffbeb;padding:0 14px}.status:empty{display:none}.status span{display:block;padding:4px 0}" +
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px}" +
    ".msg{max-width:85%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}" +
    ".msg.visitor{align-self:flex-end;background:" + color + ";color:#fff}.msg.pending{opacity:.6}" +
    ".msg.bot,.msg.operator{align-self:flex-start;background:#f1f5f9}.who{display:block;font-size:12px;font-weight:600;color:#334155}" +
    ".sources a{display:block;font-size:12px;color:#1d4ed8;margin-top:4px}.system{align-self:center;font-size:12px;color:#475569;text-align:center}" +
    ".typing{font-size:12px;color:#64748b}.composer{display:flex;gap:6px;border-top:1px solid #e2e8f0;padding:8px}" +
    "textarea{flex:1;resize:none;height:40px;border:1px solid #cbd5e1;border-radius:8px;padding:8px;color:#111;background:#fff}" +
    ".send{border:0;border-radius:8px;padding:0 14px;background:" + color + ";color:#fff;cursor:pointer}" +
    "@media (max-width:480px){.app{inset:0;width:100vw;max-width:none;height:100%;max-height:none;border-radius:0;padding-bottom:env(safe-area-inset-bottom)}}";

  function start() {
    var host = document.createElement("div");
    host.setAttribute("data-baton", site);
    host.style.cssText = "all:initial!important;position:fixed!important;z-index:2147483647!important;inset:auto!important;width:0!important;height:0!important;display:block!important";
    var root = host.attachShadow({ mode: "open" });
    root.innerHTML =
      "<style>" + css + "</style>" +
      '<button class="launcher" type="button" aria-label="Open chat" aria-expanded="false">' +
      '<svg width="26" height="26" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true"><path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/></svg></button>' +
      '<div class="app"></div>';
    document.body.appendChild(host);
    var launcher = root.querySelector(".launcher");
    var app = root.querySelector(".app");
    var loading = null;
    function load() {
      if (!loading) {
        loading = import(bundle + "baton_widget.js").then(function (m) {
          return m.default({ module_or_path: bundle + "baton_widget_bg.wasm" }).then(function () {
            m.mount(app, opts);
          });
        });
        loading.catch(function () { loading = null; });
      }
      return loading;
    }
    function setOpen(open) {
      app.classList.toggle("open", open);
      launcher.setAttribute("aria-expanded", String(open));
      launcher.setAttribute("aria-label", open ? "Close chat" : "Open chat");
      try { localStorage.setItem(key, open ? "1" : "0"); } catch (e) {}
      if (open) load().then(function () { var t = app.querySelector("textarea"); if (t) t.focus(); });
    }
    launcher.addEventListener("click", function () { setOpen(!app.classList.contains("open")); });
    root.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && app.classList.contains("open")) { setOpen(false); launcher.focus(); }
    });
    var wasOpen = null;
    try { wasOpen = localStorage.getItem(key); } catch (e) {}
    if (wasOpen === "1" || (wasOpen === null && d.open !== undefined && d.open !== "false")) setOpen(true);
  }
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
