/* Baton widget loader. One tag on the host page:
 *   <script src="https://<worker>/widget.js" data-site="SITE" async></script>
 * Options: data-api, data-color, data-position, data-greeting, data-lang, data-open, and the
 * signed-in user: data-user-id, -email, -name, -attributes (JSON), -expires, -signature
 * (docs/embedding.md, docs/identity.md). Works with async, defer and type="module"; a second
 * copy does nothing.
 *
 * window.Baton.identify({user_id, email, name, …, signature}), .reset() and .setContext({…})
 * are queued here (a page may also queue them before this file runs: Baton = {q: [[name, arg]]})
 * and handed to the panel, which carries them out once it is loaded.
 *
 * It draws the launcher in a shadow root at once and loads the chat panel (wasm) only when
 * it is wanted: the fetch starts when the visitor points at / focuses / touches the launcher
 * (intent), so most of it is done by the time they click, and a page that is only viewed
 * costs just this file. The build replaces __BATON_BUNDLE__ with the content-hashed bundle
 * directory, served next to this file. */
(() => {
  "use strict";
  var w = window, doc = document, B = w.Baton = w.Baton || {};
  if (B.on) return;
  // currentScript is null for type="module" (and after the first run): find the tag instead.
  var me = doc.currentScript || doc.querySelector('script[data-site][src*="widget.js"]');
  if (!me) return;
  B.on = 1;
  var q = B.q = B.q || [];
  // Until the panel runs them: queued; a sign-out is also remembered for the next page, so the
  // thread leaves this browser even if the chat is never opened here.
  "identify reset setContext".split(" ").forEach((k) => { B[k] = (a) => { q.push([k, a]); k == "reset" && put(k, 1); }; });
  var d = me.dataset, site = d.site || "demo";
  var api = (d.api || new URL(me.src).origin).replace(/\/+$/, "");
  var bundle = new URL("__BATON_BUNDLE__/", me.src).href;
  // The visitor's language: data-lang, else the first of the browser's languages the widget
  // speaks (the panel's words and the engine's are in it), else English.
  var words = {
    en: ["Open chat", "Close chat", "The chat could not be loaded. Please try again."],
    de: ["Chat öffnen", "Chat schließen", "Der Chat konnte nicht geladen werden. Bitte versuch es noch einmal."],
    fr: ["Ouvrir le chat", "Fermer le chat", "Le chat n'a pas pu être chargé. Veuillez réessayer."],
    es: ["Abrir el chat", "Cerrar el chat", "No se pudo cargar el chat. Inténtalo de nuevo."]
  };
  var lang = "en";
  [d.lang].concat(d.lang ? [] : navigator.languages || [navigator.language]).some(function (t) {
    var l = String(t || "").slice(0, 2).toLowerCase();
    return words[l] && /^..($|[-_])/.test(t) && (lang = l);
  });
  var label = words[lang];
  var key = "baton:" + site + ":";
  var hex = (c) => { return /^#[0-9a-f]{6}$/i.test(c) ? c : null; }
  var color = hex(d.color);
  var side = d.position == "left" ? "left" : "right";

  var get = (k) => {
    try { return localStorage.getItem(key + k); } catch (e) { return null; }
  }
  var put = (k, v) => {
    try { localStorage.setItem(key + k, v); } catch (e) {}
  }

  // Launcher and panel box. The panel's own CSS ships inside the wasm.
  var css =
    ":host{all:initial}" +
    ".launcher{position:fixed;bottom:20px;" + side + ":20px;width:56px;height:56px;margin:0;padding:0;border:0;border-radius:50%;cursor:pointer;" +
    "background:var(--a);color:var(--f);box-shadow:0 4px 14px rgba(0,0,0,.3);display:flex;align-items:center;justify-content:center}" +
    ".launcher:focus-visible{outline:0;box-shadow:0 0 0 3px #fff,0 0 0 6px #111}.x,.open .c{display:none}.open .x{display:inline}" +
    ".app{position:fixed;bottom:88px;" + side + ":20px;width:370px;height:560px;max-width:calc(100vw - 40px);max-height:calc(100vh - 108px);" +
    "display:none;overflow:hidden;border-radius:14px;background:#fff;color:#111827;box-shadow:0 10px 40px rgba(0,0,0,.3);font:14px/1.45 system-ui,sans-serif}" +
    ".app.open{display:block}.loading{padding:20px}" +
    "@media (max-width:480px){.app{inset:0;width:auto;height:auto;max-width:none;max-height:none;border-radius:0}.launcher.open{display:none}}";

  var start = () => {
    var host = doc.createElement("div");
    host.dataset.baton = site;
    // Inline !important beats any page rule aimed at the host: a fixed, zero-size box that
    // nothing on the page can hide, move, transform or restyle.
    host.style.cssText = "all:initial!important;display:block!important;position:fixed!important;top:0!important;left:0!important;" +
      "width:0!important;height:0!important;z-index:2147483647!important;visibility:visible!important;opacity:1!important;transform:none!important";
    var root = host.attachShadow({ mode: "open" });
    // No type or aria-expanded on the button: a shadow root's button submits no form, and
    // setOpen() below sets its state before the host joins the page.
    root.innerHTML = "<style>" + css + "</style><style></style>" +
      '<button class="launcher"><svg width="26" height="26" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true"><path class="c" d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/><path class="x" d="M18 6 6 18M6 6l12 12"/></svg></button>' +
      '<div class="app"></div>';
    var vars = root.children[1], launcher = root.children[2], panel = root.children[3];

    // Text on the accent colour is white or black, whichever contrasts more (WCAG luminance):
    // at least 4.58:1 for any colour.
    var theme = (c) => {
      var l = 0, n = parseInt(c.slice(1), 16);
      [0.0722, 0.7152, 0.2126].forEach((k, i) => {
        var v = (n >> (8 * i) & 255) / 255;
        l += k * (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      });
      vars.textContent = ":host{--a:" + c + "!important;--f:" + (l > 0.179 ? "#000" : "#fff") + "!important}";
    }
    theme(color || hex(get("color")) || "#2563eb");

    var ready, mounted;
    // Glue, wasm and the site's settings are fetched in parallel (the glue would only ask for
    // the wasm later): the settings carry the title, the colour and, for a language other than
    // English, the panel's words — then the panel waits for them, so it is drawn in that
    // language at once; an English panel gets the fetch's promise and never waits. A failed
    // settings fetch is left to the panel to retry.
    var fetchPanel = () => {
      if (!ready) {
        var wasm = fetch(bundle + "baton_widget_bg.wasm");
        var settings = fetch(api + "/api/v1/sites/" + site + "/widget?lang=" + lang)
          .then((r) => { return r.text().then((t) => { return [r.status, t]; }); }).catch(() => {});
        ready = import(bundle + "baton_widget.js").then((m) => {
          return m.default({ module_or_path: wasm }).then(() => {
            return lang == "en" ? [m, settings] : settings.then((s) => { return [m, s]; });
          });
        });
        ready.catch(() => { ready = null; });
      }
      return ready;
    }
    var mount = () => {
      if (!mounted) {
        panel.innerHTML = '<p class="loading">…</p>';
        mounted = fetchPanel().then(([m, s]) => {
          panel.textContent = "";
          m.mount(panel, {
            // The panel reads site, greeting and the user's attributes from `data` itself.
            api: api, lang: lang, data: d, baton: B, settings: s,
            close: () => { setOpen(false, true); },
            watch: watch,
            theme: (c) => { if (!color && hex(c)) { put("color", c); theme(c); } }
          });
        }, (e) => {
          mounted = null;
          panel.firstChild.textContent = label[2];
          throw e;
        });
      }
      return mounted;
    }
    // SPA navigation and title changes: the panel sends the new page when it changed.
    var watch = (cb) => {
      var fire = () => setTimeout(cb);
      ["pushState", "replaceState"].forEach((k) => {
        var orig = history[k];
        history[k] = function () { var r = orig.apply(this, arguments); fire(); return r; };
      });
      ["popstate", "hashchange"].forEach((e) => w.addEventListener(e, fire));
      new MutationObserver(fire).observe(doc.head, { childList: true, subtree: true, characterData: true });
    }
    var setOpen = (open, byUser) => {
      panel.classList.toggle("open", open);
      launcher.classList.toggle("open", open);
      launcher.setAttribute("aria-expanded", open);
      launcher.setAttribute("aria-label", label[+open]);
      if (byUser) put("open", +open);
      if (open) {
        mount().then(() => {
          // Focus moves into the panel when the visitor opened it, never on page load.
          var t = panel.querySelector("textarea");
          if (byUser && t) t.focus();
        }, () => {});
      } else if (byUser) {
        launcher.focus();
      }
    }
    launcher.addEventListener("click", () => { setOpen(!panel.classList.contains("open"), true); });
    ["pointerenter", "focus", "touchstart"].forEach((e) => {
      launcher.addEventListener(e, () => { fetchPanel().catch(() => {}); }, { once: true, passive: true });
    });
    root.addEventListener("keydown", (e) => {
      if (e.key == "Escape" && panel.classList.contains("open")) setOpen(false, true);
    });
    // The open/closed state follows the visitor from page to page; data-open only sets the
    // first one.
    var was = get("open");
    setOpen(was ? was == "1" : d.open != null && d.open != "false", false);
    // After the launcher, so it is the last thing in the tab order and on top of the page.
    doc.documentElement.appendChild(host);
  }
  if (doc.body) start();
  else doc.addEventListener("DOMContentLoaded", start);
})();
