//! Files in the thread and in the composer: a thumbnail (or a PDF link) per attachment, fetched
//! with the conversation's token as an object URL; the paperclip, paste and drop that attach.

use super::*;
use crate::session::Session;
use std::rc::Rc;

/// "12 KB", "1.4 MB" (integer arithmetic: float formatting would cost the widget ~5 KB).
fn size(bytes: u64) -> String {
    if bytes < 1_048_576 {
        format!("{} KB", bytes.div_ceil(1024))
    } else {
        let tenths = (bytes * 10).div_ceil(1_048_576);
        format!("{}.{} MB", tenths / 10, tenths % 10)
    }
}

/// One file of the thread, on its sender's side.
pub fn entry(el: &Element, sess: Sess, a: Attachment, operator: Option<OperatorRef>) {
    let t = sess.with_value(|s| s.t);
    let m = add(el, "div", if operator.is_some() { "msg operator file" } else { "msg visitor file" });
    match &operator {
        Some(o) => add_text(&add(&m, "span", "who"), &o.name),
        None => speaker(&m, t.you),
    }
    let target = if a.is_image() {
        let img = add(&m, "img", "thumb");
        set(&img, "alt", &a.name);
        img
    } else {
        let link = add(&m, "a", "doc");
        set(&link, "download", &a.name);
        add_text(&link, &format!("📄 {} ({})", a.name, size(a.size)));
        link
    };
    let session: Rc<Session> = sess.with_value(|s| s.clone());
    let image = a.is_image();
    wasm_bindgen_futures::spawn_local(async move {
        match session.file_url(a.id).await {
            Some(url) => set(&target, if image { "src" } else { "href" }, &url),
            None => set(&target, "data-missing", ""),
        }
    });
}

/// Accepted types, as the picker's hint (the server checks the bytes).
const ACCEPT: &str = "image/png,image/jpeg,image/webp,image/gif,application/pdf";

/// `obj[key].files` (a paste's `clipboardData`, a drop's `dataTransfer`, an input): read as
/// properties, which costs the widget less than the typed event bindings.
fn files_of(obj: &JsValue, key: &str) -> Option<web_sys::FileList> {
    let holder = if key.is_empty() { obj.clone() } else { js_sys::Reflect::get(obj, &key.into()).ok()? };
    let files = js_sys::Reflect::get(&holder, &"files".into()).ok()?;
    (!files.is_undefined() && !files.is_null()).then(|| files.unchecked_into())
}

fn attach_all(session: &Rc<Session>, files: Option<web_sys::FileList>) -> bool {
    let Some(files) = files else { return false };
    let mut any = false;
    for i in 0..files.length() {
        if let Some(f) = files.get(i) {
            session.attach(f);
            any = true;
        }
    }
    any
}

/// Adds the paperclip (with its hidden file input) before the composer's text box, and takes
/// files pasted into it or dropped on the panel.
pub fn composer(form: &Element, session: Rc<Session>) {
    let Some(doc) = form.owner_document() else { return };
    let input = doc.create_element("input").unwrap_throw();
    for (k, v) in [("type", "file"), ("multiple", ""), ("accept", ACCEPT), ("hidden", ""), ("tabindex", "-1")] {
        set(&input, k, v);
    }
    let button = doc.create_element("button").unwrap_throw();
    button.set_class_name("attach");
    set(&button, "type", "button");
    set(&button, "aria-label", session.t.attach);
    // A paperclip.
    super::icon(&button, "M21 11.5 12.5 20a5 5 0 0 1-7-7L14 4.5a3.3 3.3 0 0 1 4.7 4.7L10.2 17.7a1.7 1.7 0 0 1-2.4-2.4L15.5 7.6");
    let _ = form.insert_before(&input, form.first_child().as_ref());
    let _ = form.insert_before(&button, input.next_sibling().as_ref());
    let picker: web_sys::HtmlElement = input.clone().unchecked_into();
    on(&button, "click", move |_| picker.click());
    let chosen = input.clone();
    let s = session.clone();
    on(&input, "change", move |_| {
        attach_all(&s, files_of(&chosen, ""));
        // The same file can be picked again.
        let _ = js_sys::Reflect::set(&chosen, &"value".into(), &"".into());
    });
    // A screenshot pasted into the text box (text pastes as usual).
    if let Some(area) = form.query_selector("textarea").ok().flatten() {
        let s = session.clone();
        on(&area, "paste", move |e| {
            let files = files_of(&e, "clipboardData");
            if files.as_ref().is_some_and(|f| f.length() > 0) && attach_all(&s, files) {
                e.prevent_default();
            }
        });
    }
    if let Some(panel) = form.closest(".panel").ok().flatten() {
        on(&panel, "dragover", |e| e.prevent_default());
        on(&panel, "drop", move |e| {
            let files = files_of(&e, "dataTransfer");
            if attach_all(&session, files) {
                e.prevent_default();
            }
        });
    }
}
