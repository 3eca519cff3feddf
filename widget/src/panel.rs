//! The panel's frame: header, status line, the thread, typing line, composer. It renders the
//! session's signals and turns input into `Session` calls; the thread's entries are built by
//! `dom` (see there for why). What a frame means is decided by the server and
//! `baton_shared`, not here.
//!
//! The frame is built with DOM calls and kept in step with the signals by effects, like the
//! entries: `view!` compiled the frame's elements, attributes and reactive texts to ~15 KB of
//! generic wasm (measured, widget/README.md); this is a fraction of that.

use crate::dom::{add, add_text, entry, on, set};
use crate::i18n::with_name;
use crate::session::{after, Link, Session};
use baton_shared::ownership::HumanHelp;
use baton_shared::protocol::*;
use leptos::prelude::*;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Element;

pub type Sess = StoredValue<Rc<Session>, LocalStorage>;

/// One entry of the thread: a stored event, or a visitor message not stored yet.
#[derive(Clone)]
pub enum Item {
    Event(Event),
    /// The text of a visitor message not stored yet.
    Pending(String),
}

/// An entry on screen: its key (`e<seq>` or `p<client id>`), element and reactive owner.
pub struct Shown {
    key: String,
    el: web_sys::Element,
    owner: Owner,
}

/// `el`'s text follows `text` (nothing when it is `None`).
fn live_text(el: &Element, text: impl Fn() -> Option<String> + 'static) {
    let el = el.clone();
    Effect::new(move |_| el.set_text_content(text().as_deref()));
}

/// Builds the panel in `root` (inside the reactive owner `mount` set up).
pub fn panel(root: &Element, session: Rc<Session>, close: Option<js_sys::Function>) {
    let ui = session.ui;
    let t = session.t;
    let sess: Sess = StoredValue::new_local(session);

    let frame = add(root, "div", "panel");
    set(&frame, "role", "dialog");
    set(&frame, "aria-labelledby", "baton-title");
    let header = add(&frame, "div", "header");
    let title = add(&header, "h2", "title");
    set(&title, "id", "baton-title");
    live_text(&title, move || Some(ui.title.get()));
    let human = add(&header, "button", "human");
    set(&human, "type", "button");
    add_text(&human, t.talk_to_human);
    on(&human, "click", move |_| {
        sess.with_value(|s| s.submit(|client_id| ClientMsg::RequestHuman { client_id }, None, None));
    });
    let close_button = add(&header, "button", "close");
    set(&close_button, "type", "button");
    set(&close_button, "aria-label", t.close);
    add_text(&close_button, "×");
    on(&close_button, "click", move |_| {
        if let Some(close) = &close {
            let _ = close.call0(&JsValue::NULL);
        }
    });
    // Where things stand with the team (filled by the effect below): announced when it changes.
    let standing = add(&frame, "div", "standing");
    set(&standing, "role", "status");
    set(&standing, "hidden", "");
    // The status line floats over the thread, so showing it never moves the thread.
    let body = add(&frame, "div", "body");
    let status = add(&body, "div", "status");
    set(&status, "role", "status");
    live_text(&status, move || match ui.link.get() {
        Link::Reconnecting => Some(t.reconnecting.to_string()),
        Link::Unavailable => Some(t.unavailable.to_string()),
        _ => ui.notice.get(),
    });
    let log = add(&body, "div", "log");
    set(&log, "role", "log");
    set(&log, "aria-live", "polite");
    set(&log, "aria-label", t.conversation);
    live_text(&add(&log, "div", "msg bot greeting"), move || Some(ui.greeting.get()));
    let typing = add(&frame, "div", "typing");
    set(&typing, "aria-live", "polite");
    live_text(&typing, move || {
        ui.typing.get().map(|n| with_name(t.typing, &n)).or_else(|| ui.thinking.get().then(|| t.thinking.to_string()))
    });
    let form = add(&frame, "form", "composer");
    let area = add(&form, "textarea", "");
    set(&area, "rows", "1");
    set(&area, "aria-label", t.placeholder);
    set(&area, "placeholder", t.placeholder);
    let send_button = add(&form, "button", "send");
    set(&send_button, "type", "submit");
    add_text(&send_button, t.send);

    thread(&log, sess);

    let send = move || {
        let text = ui.draft.get_untracked().trim().to_string();
        if text.is_empty() {
            return;
        }
        let body = text.clone();
        if sess.with_value(|s| s.submit(move |client_id| ClientMsg::Message { client_id, text: body }, Some(text), None)) {
            ui.draft.set(String::new());
        }
    };
    on(&form, "submit", move |ev| {
        ev.prevent_default();
        send();
    });
    on(&area, "input", move |ev| {
        ui.draft.set(event_target_value(&ev));
        sess.with_value(|s| s.typed());
    });
    on(&area, "keydown", move |ev| {
        if let Some(key) = ev.dyn_ref::<web_sys::KeyboardEvent>() {
            if key.key() == "Enter" && !key.shift_key() && !key.is_composing() {
                ev.prevent_default();
                send();
            }
        }
    });
    // The draft (kept across reloads by the session) shows in the box; set only when it
    // differs, so typing never moves the caret.
    let value = JsValue::from_str("value");
    let draft_box = area.clone();
    Effect::new(move |_| {
        let draft = JsValue::from_str(&ui.draft.get());
        if js_sys::Reflect::get(&draft_box, &value).ok().as_ref() != Some(&draft) {
            let _ = js_sys::Reflect::set(&draft_box, &value, &draft);
        }
    });

    // The frame's states: the link state (pending messages say "waiting to send" while the
    // link is down: CSS on `.offline`), the title's tooltip, and — by `ownership::human_help`
    // — "Talk to a human" only when pressing it can do something, else where things stand
    // under the header; nothing to type into on a page that may not use the chat.
    Effect::new(move |_| {
        let link = ui.link.get();
        let unavailable = link == Link::Unavailable;
        set(&frame, "data-link", link.name());
        set(&title, "title", &ui.title.get());
        let _ = log.class_list().toggle_with_force("offline", link == Link::Reconnecting);
        let _ = area.toggle_attribute_with_force("disabled", unavailable);
        let _ = send_button.toggle_attribute_with_force("disabled", unavailable);
        ui.ownership.with(|o| {
            let help = o.human_help();
            let _ = human.toggle_attribute_with_force("hidden", unavailable || help != HumanHelp::Offer);
            let _ = standing.toggle_attribute_with_force("hidden", help == HumanHelp::Offer);
            standing.set_text_content(None);
            match help {
                HumanHelp::Offer => {}
                HumanHelp::Waiting => standing_text(&standing, t.waiting_for_team),
                HumanHelp::With(op) => {
                    crate::dom::avatar(&standing, &op.name);
                    standing_text(&standing, &with_name(t.with_you, &op.name));
                }
            }
        });
    });
}

/// The thread: a keyed list kept in step with the signals. Entries never change once shown,
/// and only ever appear in order or (pending messages) go away, so this small reconciler does
/// what `<For/>` would, for ~10 KB less wasm (measured).
fn thread(list: &Element, sess: Sess) {
    let ui = sess.with_value(|s| s.ui);
    let list = list.clone();
    let items = move || {
        let mut v: Vec<(String, Item)> = ui.events.with(|es| es.iter().map(|e| (format!("e{}", e.seq), Item::Event(e.clone()))).collect());
        ui.pending.with(|p| v.extend(p.iter().map(|(id, text)| (format!("p{id}"), Item::Pending(text.clone())))));
        v
    };
    let parent = Owner::current();
    Effect::new(move |prev: Option<Vec<Shown>>| {
        let want = items();
        let mut old = prev.unwrap_or_default();
        old.retain(|s| {
            let keep = want.iter().any(|(k, _)| *k == s.key);
            if !keep {
                s.el.remove();
                s.owner.cleanup();
            }
            keep
        });
        // Follow the conversation, unless the visitor scrolled up to read (their own messages
        // always bring them back down).
        let at_bottom = list.scroll_height() - list.scroll_top() - list.client_height() < 60;
        let mut follow = false;
        let mut shown = Vec::with_capacity(want.len());
        let mut old = old.into_iter().peekable();
        for (key, item) in want {
            if old.peek().is_some_and(|s| s.key == key) {
                shown.extend(old.next());
                continue;
            }
            let Ok(el) = document().create_element("div") else { continue };
            el.set_class_name("entry");
            let _ = list.insert_before(&el, old.peek().map(|s| s.el.unchecked_ref()));
            follow |= at_bottom || matches!(item, Item::Pending(_));
            // Each entry owns its effects (pressed thumb, form state), disposed with it.
            let owner = parent.as_ref().map(|p| p.with(Owner::new)).unwrap_or_default();
            owner.with(|| entry(el.clone(), (sess, item)));
            shown.push(Shown { key, el, owner });
        }
        if follow {
            // After this tick's effects (forms settle their size), then to the bottom.
            let list = list.clone();
            after(0, move || list.set_scroll_top(list.scroll_height()));
        }
        shown
    });
}

fn standing_text(parent: &Element, text: &str) {
    add_text(&add(parent, "span", "standing-text"), text);
}
