//! The panel's frame: header, status line, the thread, typing line, composer. It renders the
//! session's signals and turns input into `Session` calls; the thread's entries are built by
//! `dom` (see there for why). What a frame means is decided by the server and
//! `baton_shared`, not here.

use crate::dom::entry;
use crate::i18n::with_name;
use crate::session::{after, Link, Session};
use baton_shared::ownership::HumanHelp;
use baton_shared::protocol::*;
use leptos::prelude::*;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};

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

pub fn panel(session: Rc<Session>, close: Option<js_sys::Function>) -> impl IntoView {
    let ui = session.ui;
    let t = session.t;
    let sess: Sess = StoredValue::new_local(session);
    let close = StoredValue::new_local(close);
    let log = NodeRef::<leptos::html::Div>::new();
    let items = move || {
        let mut v: Vec<(String, Item)> = ui.events.with(|es| es.iter().map(|e| (format!("e{}", e.seq), Item::Event(e.clone()))).collect());
        ui.pending.with(|p| v.extend(p.iter().map(|(id, text)| (format!("p{id}"), Item::Pending(text.clone())))));
        v
    };
    // The thread: a keyed list kept in step with the signals. Entries never change once
    // shown, and only ever appear in order or (pending messages) go away, so this small
    // reconciler does what `<For/>` would, for ~10 KB less wasm (measured).
    let parent = Owner::current();
    Effect::new(move |prev: Option<Vec<Shown>>| {
        let want = items();
        let mut old = prev.unwrap_or_default();
        let Some(list) = log.get() else { return old };
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
    // The frame's states, set with DOM calls in one effect (each reactive attribute in `view!`
    // costs the widget generic code; measured, see widget/README.md): the link state, the
    // title's tooltip, and — by `ownership::human_help` — "Talk to a human" only when pressing
    // it can do something, else where things stand under the header; nothing to type into on a
    // page that may not use the chat.
    let frame = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        let Some(frame) = frame.get() else { return };
        let part = |css: &str| frame.query_selector(css).ok().flatten();
        let (Some(title), Some(human), Some(standing), Some(area), Some(send_button)) =
            (part(".title"), part(".human"), part(".standing"), part("textarea"), part(".send"))
        else {
            return;
        };
        let link = ui.link.get();
        let unavailable = link == Link::Unavailable;
        let _ = frame.set_attribute("data-link", link.name());
        let _ = title.set_attribute("title", &ui.title.get());
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
    view! {
        <div class="panel" role="dialog" aria-labelledby="baton-title" node_ref=frame>
            <div class="header">
                <h2 class="title" id="baton-title">{move || ui.title.get()}</h2>
                <button
                    type="button"
                    class="human"
                    on:click=move |_| {
                        sess.with_value(|s| s.submit(|client_id| ClientMsg::RequestHuman { client_id }, None, None));
                    }
                >
                    {t.talk_to_human}
                </button>
                <button
                    type="button"
                    class="close"
                    aria-label=t.close
                    on:click=move |_| {
                        close.with_value(|c| c.as_ref().map(|c| c.call0(&JsValue::NULL)));
                    }
                >
                    "×"
                </button>
            </div>
            // Where things stand with the team (filled by the effect above): announced when it
            // changes.
            <div class="standing" role="status" hidden></div>
            // The status line floats over the thread, so showing it never moves the thread.
            <div class="body">
                <div class="status" role="status">
                    {move || {
                        match ui.link.get() {
                            Link::Reconnecting => Some(t.reconnecting.to_string()),
                            Link::Unavailable => Some(t.unavailable.to_string()),
                            _ => ui.notice.get(),
                        }
                    }}
                </div>
                // Pending messages say "waiting to send" while the link is down (CSS on `.offline`).
                <div
                    class="log"
                    class:offline=move || ui.link.get() == Link::Reconnecting
                    role="log"
                    aria-live="polite"
                    aria-label=t.conversation
                    node_ref=log
                >
                    <div class="msg bot greeting">{move || ui.greeting.get()}</div>
                </div>
            </div>
            <div class="typing" aria-live="polite">
                {move || ui.typing.get().map(|n| with_name(t.typing, &n)).or_else(|| ui.thinking.get().then(|| t.thinking.to_string()))}
            </div>
            <form
                class="composer"
                on:submit=move |ev| {
                    ev.prevent_default();
                    send();
                }
            >
                <textarea
                    rows="1"
                    aria-label=t.placeholder
                    placeholder=t.placeholder
                    prop:value=move || ui.draft.get()
                    on:input=move |ev| {
                        ui.draft.set(event_target_value(&ev));
                        sess.with_value(|s| s.typed());
                    }
                    on:keydown=move |ev: web_sys::KeyboardEvent| {
                        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                            ev.prevent_default();
                            send();
                        }
                    }
                ></textarea>
                <button type="submit" class="send">
                    {t.send}
                </button>
            </form>
        </div>
    }
}

fn standing_text(parent: &web_sys::Element, text: &str) {
    if let Ok(span) = document().create_element("span") {
        span.set_class_name("standing-text");
        span.set_text_content(Some(text));
        let _ = parent.append_child(&span);
    }
}
