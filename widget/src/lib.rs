//! The visitor's chat panel. `widget.js` (the loader) draws the launcher in a shadow root, and
//! on first open imports this module and calls [`mount`] with the panel's `<div>` in that root.
//!
//! - `session`: storage, the socket, the outbox (nothing typed is lost or doubled).
//! - `panel`: the Leptos view; bot answers go through `baton_shared::markdown` and are built
//!   as DOM nodes (`dom`), never as HTML.
//! - `i18n`: the panel's words in English, German, French and Spanish.
//!
//! JSON goes through `baton_shared::wire`, not serde_json: see that module for why.

mod dom;
mod i18n;
mod panel;
mod session;

use baton_shared::wire::decode_widget_settings;
use i18n::PanelWords;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// The panel's own CSS (the loader has the launcher's): shipped inside the wasm, so opening
/// the widget fetches no extra file, and a page that never opens it doesn't pay for it.
const CSS: &str = include_str!("panel.css");

fn field(options: &JsValue, name: &str) -> Option<JsValue> {
    js_sys::Reflect::get(options, &JsValue::from_str(name)).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

/// Mounts the panel into `el` (a div in the widget's shadow root). Called by widget.js with
/// `{api, lang, data, baton, settings, close(), watch(callback), theme(color)}`: `data` is the script
/// tag's dataset (`site`, `greeting`, the `user*` identity), `baton` is `window.Baton` with the
/// calls the page queued (`q`).
#[wasm_bindgen]
pub fn mount(el: web_sys::HtmlElement, options: JsValue) -> Result<(), JsValue> {
    let text = |name: &str| field(&options, name).and_then(|v| v.as_string());
    let func = |name: &str| field(&options, name).and_then(|v| v.dyn_into::<js_sys::Function>().ok());
    let data = field(&options, "data").unwrap_or_else(|| js_sys::Object::new().into());
    let data_text = |name: &str| field(&data, name).and_then(|v| v.as_string());
    let site = data_text("site").unwrap_or_else(|| "demo".into());
    let api = text("api").ok_or_else(|| JsValue::from_str("baton: mount needs options.api"))?;
    // The loader picked a language the widget speaks; anything else is English.
    let lang = baton_shared::i18n::Lang::of(text("lang").as_deref());
    // The site's settings, which the loader fetched beside this module: `[status, body]` when
    // the panel needs them to be drawn (its words in a language other than English), else the
    // fetch's promise, so an English panel never waits for them; nothing if the fetch failed
    // (the session fetches them itself, and a non-English visitor sees English words this once).
    let settings = field(&options, "settings");
    let fetched = settings.as_ref().and_then(session::status_and_body);
    let t: &'static PanelWords =
        match fetched.as_ref().filter(|(status, _)| *status == 200).and_then(|(_, body)| decode_widget_settings(body)) {
            Some(s) if !s.words.is_empty() => Box::leak(Box::new(baton_shared::i18n::panel::from_settings(&s.words))),
            _ => &i18n::EN,
        };
    let greeting = data_text("greeting").filter(|g| !g.trim().is_empty());
    let has_greeting = greeting.is_some();
    let session = session::Session::new(site, api, lang, t, greeting);
    // Who the visitor is, their context, a sign-out: from the tag and the page (identity.rs).
    session.init_identity(&data, field(&options, "baton"));

    let doc = el.owner_document().ok_or("no document")?;
    let style = doc.create_element("style")?;
    style.set_text_content(Some(CSS));
    el.append_child(&style)?;

    match (fetched, settings.and_then(|v| v.dyn_into::<js_sys::Promise>().ok())) {
        (Some((status, body)), _) => session.apply_settings(status, &body, has_greeting, func("theme")),
        (None, promise) => session.fetch_settings(promise, has_greeting, func("theme")),
    }
    session.start();
    // The loader calls back on SPA navigation and title changes.
    if let Some(watch) = func("watch") {
        let s = session.clone();
        let cb = Closure::<dyn Fn()>::new(move || s.send_page());
        watch.call1(&JsValue::NULL, cb.as_ref())?;
        cb.forget();
    }
    let close = func("close");
    let s = session.clone();
    // Leptos's root owner holds the panel's effects; the panel builds its own nodes in `el`.
    let root = el.clone().into();
    let handle = leptos::mount::mount_to(el.clone(), move || panel::panel(&root, s, close));
    handle.forget();
    // The composer's paperclip, paste and drop (dom/files.rs), on the mounted panel.
    if let Some(form) = el.query_selector(".composer").ok().flatten() {
        dom::files::composer(&form, session);
    }
    Ok(())
}
