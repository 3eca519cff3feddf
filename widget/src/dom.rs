//! The thread's entries as DOM nodes.
//!
//! Like the panel's frame (`panel`), each entry of the list is built here with plain DOM calls
//! and kept live by Leptos effects. Measured: one `view!` per kind of entry compiled to
//! ~60 KB of wasm (22 KB brotli) of generic view code; this builder is a fraction of that.
//! Entries never change once shown, except two small things kept live by effects: which thumb
//! is pressed, and a form's field errors / sent state.
//!
//! Safety: every piece of text — visitor, operator, bot, form labels — becomes a text node or
//! an attribute value; nothing is ever parsed as HTML. Bot answers go through
//! `baton_shared::markdown`, which also decides which links survive.

pub mod files;
mod rating;

use crate::i18n::with_name;
use crate::panel::{Item, Sess};
use baton_shared::markdown::{self, safe_href, Block, Inline};
use baton_shared::protocol::*;
use leptos::prelude::*;
use std::collections::BTreeMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::Element;

/// Appends a `<tag class=…>` to `parent`.
pub fn add(parent: &Element, tag: &str, class: &str) -> Element {
    let el = parent.owner_document().and_then(|d| d.create_element(tag).ok()).unwrap_throw();
    if !class.is_empty() {
        el.set_class_name(class);
    }
    let _ = parent.append_child(&el);
    el
}

pub fn add_text(parent: &Element, text: &str) {
    let _ = parent.append_with_str_1(text);
}

pub fn set(el: &Element, name: &str, value: &str) {
    let _ = el.set_attribute(name, value);
}

pub fn on(el: &Element, event: &str, f: impl FnMut(web_sys::Event) + 'static) {
    let cb = Closure::<dyn FnMut(web_sys::Event)>::new(f);
    let _ = el.add_event_listener_with_callback(event, cb.as_ref().unchecked_ref());
    // Elements live as long as the page.
    cb.forget();
}

/// Fills `el` with one entry of the thread.
pub fn entry(el: Element, (sess, item): (Sess, Item)) {
    let t = sess.with_value(|s| s.t);
    let e = match item {
        Item::Pending(text) => {
            let m = add(&el, "div", "msg visitor pending");
            speaker(&m, t.you);
            add_text(&m, &text);
            add_text(&add(&m, "span", "state"), t.queued);
            return;
        }
        Item::Event(e) => e,
    };
    let seq = e.seq;
    let system = |text: &str| {
        let d = add(&el, "div", "system");
        add_text(&d, text);
        d
    };
    match e.kind {
        EventKind::VisitorMessage { text } => {
            let m = add(&el, "div", "msg visitor");
            speaker(&m, t.you);
            add_text(&m, &text);
        }
        EventKind::BotAnswer { answer, .. } => {
            let m = add(&el, "div", "msg bot");
            set(&m, "data-seq", &seq.to_string());
            speaker(&m, t.assistant);
            render_markdown(&add(&m, "div", "text"), &answer.text, t);
            if !answer.citations.is_empty() {
                let sources = add(&m, "div", "sources");
                for c in &answer.citations {
                    let label = format!("{} {}", t.from, c.breadcrumb());
                    match safe_href(&c.url) {
                        Some(href) => add_text(&link(&sources, &href), &label),
                        None => add_text(&add(&sources, "span", ""), &label),
                    }
                }
            }
            feedback(&m, sess, seq);
        }
        EventKind::OperatorMessage { operator, text } => {
            // A person, not the bot: their initial, their name, their own colour.
            let m = add(&el, "div", "msg operator");
            let who = add(&m, "span", "who");
            avatar(&who, &operator.name);
            add_text(&who, &operator.name);
            add_text(&add(&m, "div", "text"), &text);
        }
        EventKind::HandoffRequested { operators_online, form, notice, .. } => {
            // The engine's notice is in the visitor's language, with the site's own wording
            // (when to expect a reply); older conversations may have none.
            system(if !notice.is_empty() {
                &notice
            } else if operators_online {
                t.handoff_online
            } else {
                t.handoff_offline
            });
            if let Some(f) = form {
                form_entry(&el, sess, seq, f);
            }
        }
        EventKind::FormRequested { form } => form_entry(&el, sess, seq, form),
        EventKind::OperatorJoined { operator } => {
            // Something the visitor should notice: a person is here now.
            let j = add(&el, "div", "joined");
            avatar(&j, &operator.name);
            let words = add(&j, "div", "");
            add_text(&add(&words, "strong", ""), &with_name(t.joined, &operator.name));
            add_text(&add(&words, "span", "note"), t.joined_note);
        }
        EventKind::OperatorLeft { operator } => {
            system(&with_name(t.left, &operator.name));
        }
        EventKind::Assigned { operator, .. } => system(&with_name(t.assigned, &operator.name)).set_class_name("system assigned"),
        EventKind::HandedBack { .. } => {
            system(t.handed_back);
        }
        EventKind::Resolved { .. } => {
            system(t.resolved);
            rating::card(&el, sess);
        }
        EventKind::Rated { score, .. } => rating::rated(score),
        EventKind::Reopened { .. } => rating::closed(),
        EventKind::AttachmentAdded { attachment, operator } => files::entry(&el, sess, attachment, operator),
        // started, page changes, collected fields, feedback, ratings: nothing to show by
        // themselves (a rating shows in its card).
        _ => {}
    }
}

/// The first letter of a name, for an operator's avatar. (ASCII upper-casing only: Unicode's
/// case tables would cost the widget ~10 KB; names are mostly written capitalised anyway.)
pub fn initial(name: &str) -> String {
    String::from(name.trim().chars().next().unwrap_or('?').to_ascii_uppercase())
}

/// An operator's avatar: their initial in a circle (decorative: the name is next to it).
pub fn avatar(parent: &Element, name: &str) {
    let a = add(parent, "span", "avatar");
    set(&a, "aria-hidden", "true");
    add_text(&a, &initial(name));
}

/// "You: " / "Assistant: " for screen readers only (the bubbles' sides say it visually).
fn speaker(parent: &Element, who: &str) {
    let s = add(parent, "span", "sr");
    add_text(&s, who);
    add_text(&s, " ");
}

fn link(parent: &Element, href: &str) -> Element {
    let a = add(parent, "a", "");
    // `href` passed markdown::safe_href: http(s), mailto or relative only.
    set(&a, "href", href);
    set(&a, "target", "_blank");
    set(&a, "rel", "noopener noreferrer");
    a
}

fn inlines(parent: &Element, items: &[Inline]) {
    for i in items {
        match i {
            Inline::Text(s) => add_text(parent, s),
            Inline::Code(s) => add_text(&add(parent, "code", ""), s),
            Inline::Strong(s) => add_text(&add(parent, "strong", ""), s),
            Inline::Link { text, href } => add_text(&link(parent, href), text),
        }
    }
}

/// A code block in a narrow panel: scrolls sideways (by keyboard too: it takes the focus, and
/// says what it is), and a button copies it whole.
fn code_block(el: &Element, code: &str, t: &'static crate::i18n::PanelWords) {
    let wrap = add(el, "div", "code");
    let pre = add(&wrap, "pre", "");
    set(&pre, "tabindex", "0");
    set(&pre, "role", "region");
    set(&pre, "aria-label", t.code);
    add_text(&add(&pre, "code", ""), code);
    // The clipboard API exists only on secure pages (https, localhost): no button elsewhere.
    let clipboard = web_sys::window().and_then(|w| js_sys::Reflect::get(&w.navigator(), &"clipboard".into()).ok());
    let Some(clipboard) = clipboard.filter(|c| c.is_object()) else { return };
    let copy = add(&wrap, "button", "copy");
    set(&copy, "type", "button");
    add_text(&copy, t.copy);
    let code = code.to_string();
    let button = copy.clone();
    on(&copy, "click", move |_| {
        let write = js_sys::Reflect::get(&clipboard, &"writeText".into()).ok().and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        let Some(promise) = write.and_then(|f| f.call1(&clipboard, &JsValue::from_str(&code)).ok()) else { return };
        let button = button.clone();
        // "Copied" once the browser says so (it may refuse: no permission, no focus).
        wasm_bindgen_futures::spawn_local(async move {
            if wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(promise)).await.is_ok() {
                button.set_text_content(Some(t.copied));
            }
        });
    });
}

fn render_markdown(el: &Element, text: &str, t: &'static crate::i18n::PanelWords) {
    for block in markdown::parse(text) {
        match &block {
            Block::Para(items) => inlines(&add(el, "p", ""), items),
            Block::List { ordered, items } => {
                let list = add(el, if *ordered { "ol" } else { "ul" }, "");
                for item in items {
                    inlines(&add(&list, "li", ""), item);
                }
            }
            Block::Code(code) => code_block(el, code, t),
        }
    }
}

/// What a visitor reads under a refused field: the server's precise words in English, the
/// catalogue's for what is wrong with this kind of field otherwise.
fn field_error(t: &'static crate::i18n::PanelWords, kind: FieldKind, input: &Element, server: &str) -> String {
    if std::ptr::eq(t, &crate::i18n::EN) {
        return server.to_string();
    }
    let value = js_sys::Reflect::get(input, &"value".into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
    if value.trim().is_empty() {
        return t.required.into();
    }
    match kind {
        FieldKind::Email => t.bad_email,
        FieldKind::Number => t.bad_number,
        FieldKind::Select => t.bad_choice,
        FieldKind::Text => t.bad_value,
    }
    .into()
}

/// A 16 px line icon (`d`: one SVG path on a 24 × 24 grid) in `el`, in the text's colour:
/// drawn, not a glyph, so it shows where no emoji font is installed.
pub fn icon(el: &Element, d: &str) {
    let Some(doc) = el.owner_document() else { return };
    let ns = Some("http://www.w3.org/2000/svg");
    if let (Ok(svg), Ok(path)) = (doc.create_element_ns(ns, "svg"), doc.create_element_ns(ns, "path")) {
        for (k, v) in [("viewBox", "0 0 24 24"), ("width", "16"), ("height", "16"), ("aria-hidden", "true")] {
            set(&svg, k, v);
        }
        for (k, v) in [
            ("d", d),
            ("fill", "none"),
            ("stroke", "currentColor"),
            ("stroke-width", "2"),
            ("stroke-linejoin", "round"),
            ("stroke-linecap", "round"),
        ] {
            set(&path, k, v);
        }
        let _ = svg.append_child(&path);
        let _ = el.append_child(&svg);
    }
}

/// One thumb, drawn once; "not helpful" is the same thumb turned over (CSS).
const THUMB: &str = "M7 10v12M15 5.9 14 10h5.8a2 2 0 0 1 2 2.3l-1.4 8a2 2 0 0 1-2 1.7H7V10l4-8a3 3 0 0 1 3 3.9z";

/// "Was this helpful?" with two toggle buttons; the pressed one follows `ui.feedback`.
fn feedback(parent: &Element, sess: Sess, seq: u64) {
    let (t, ui) = sess.with_value(|s| (s.t, s.ui));
    let group = add(parent, "div", "feedback");
    set(&group, "role", "group");
    set(&group, "aria-label", t.helpful);
    let q = add(&group, "span", "");
    set(&q, "aria-hidden", "true");
    add_text(&q, t.helpful);
    let mut buttons = Vec::new();
    for (helpful, class, label) in [(true, "up", t.yes), (false, "down", t.no)] {
        let b = add(&group, "button", class);
        set(&b, "type", "button");
        set(&b, "aria-label", label);
        icon(&b, THUMB);
        on(&b, "click", move |_| {
            ui.feedback.update(|f| {
                f.retain(|(s, _)| *s != seq);
                f.push((seq, helpful));
            });
            sess.with_value(|s| s.submit(move |client_id| ClientMsg::Feedback { client_id, answer_seq: seq, helpful }, None, None));
        });
        buttons.push((helpful, b));
    }
    Effect::new(move |_| {
        let chosen = ui.feedback.with(|f| f.iter().find(|(s, _)| *s == seq).map(|(_, h)| *h));
        for (helpful, b) in &buttons {
            set(b, "aria-pressed", if chosen == Some(*helpful) { "true" } else { "false" });
        }
    });
}

/// A form inline in the thread: a custom action, or the email form when nobody is online.
/// Checking the values is the server's job (`baton_shared::conversation`); its field errors
/// come back by client id and show under their fields.
fn form_entry(parent: &Element, sess: Sess, seq: u64, form: ActionForm) {
    let (t, ui) = sess.with_value(|s| (s.t, s.ui));
    let f = add(parent, "form", "form");
    set(&f, "data-action", &form.action);
    set(&f, "novalidate", "");
    // Titles and labels come from the engine (site config or its built-in email form).
    add_text(&add(&f, "p", "form-title"), &form.title);
    let mut fields = Vec::new();
    for (i, spec) in form.fields.iter().enumerate() {
        let id = format!("f{seq}-{i}");
        let label = add(&f, "label", "");
        set(&label, "for", &id);
        add_text(&label, &spec.label.text);
        if spec.required {
            add_text(&label, " *");
        }
        let input = if spec.kind == FieldKind::Select {
            let s = add(&f, "select", "");
            for o in &spec.options {
                add_text(&add(&s, "option", ""), o);
            }
            s
        } else {
            let input = add(&f, "input", "");
            let (kind, auto) = match spec.kind {
                FieldKind::Email => ("email", "email"),
                FieldKind::Number => ("number", "off"),
                _ => ("text", "off"),
            };
            set(&input, "type", kind);
            set(&input, "autocomplete", auto);
            input
        };
        set(&input, "id", &id);
        set(&input, "name", &spec.name);
        set(&input, "aria-describedby", &format!("{id}-e"));
        if spec.required {
            set(&input, "aria-required", "true");
        }
        let error = add(&f, "p", "field-error");
        set(&error, "id", &format!("{id}-e"));
        fields.push((spec.name.clone(), spec.kind, input, error));
    }
    let submit = add(&f, "button", "submit");
    set(&submit, "type", "submit");
    add_text(&submit, t.submit);
    let done = add(parent, "p", "done");
    add_text(&done, t.form_sent);
    set(&done, "hidden", "");

    let action = form.action.clone();
    let inputs: Vec<(String, Element)> = fields.iter().map(|(n, _, i, _)| (n.clone(), i.clone())).collect();
    on(&f, "submit", move |ev| {
        ev.prevent_default();
        let mut values = BTreeMap::new();
        for (name, input) in &inputs {
            let v = js_sys::Reflect::get(input, &"value".into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
            if !v.trim().is_empty() {
                values.insert(name.clone(), v.trim().to_string());
            }
        }
        let a = action.clone();
        ui.form_errors.update(|e| e.retain(|(x, _, _)| *x != a));
        sess.with_value(|s| {
            s.submit(move |client_id| ClientMsg::SubmitFields { client_id, action: a, values }, None, Some(action.clone()))
        });
    });

    // Sent once the log holds the collected fields (after this form); errors per field.
    let action = form.action;
    Effect::new(move |_| {
        let sent = ui
            .events
            .with(|es| es.iter().any(|x| x.seq > seq && matches!(&x.kind, EventKind::FieldsCollected { action: a, .. } if *a == action)));
        let _ = f.toggle_attribute_with_force("hidden", sent);
        let _ = done.toggle_attribute_with_force("hidden", !sent);
        ui.form_errors.with(|errors| {
            for (name, kind, input, error) in &fields {
                let msg = errors.iter().find(|(a, n, _)| *a == action && n == name).map(|(_, _, m)| field_error(t, *kind, input, m));
                error.set_text_content(msg.as_deref());
                set(input, "aria-invalid", if msg.is_some() { "true" } else { "false" });
            }
        });
    });
}
