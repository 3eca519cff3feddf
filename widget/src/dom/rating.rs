//! "How did we do?" under the resolve that ended the help: three faces (bad / okay / good →
//! 1 / 3 / 5) and an optional comment. The server takes a rating only while the thread is
//! resolved (`baton_shared::satisfaction`); a second one replaces the first.
//!
//! Built small, for the widget's byte budget: one click listener, no effects or signals. The
//! thread's entries are built once, in log order (also on a replay), so the `rated` and
//! `reopened` entries after a card update the latest card in place. What shows is CSS on the
//! card's `data-chosen`, `data-rated` and `data-closed`.

use super::*;
use std::cell::RefCell;

thread_local! {
    /// The latest card (a `rated` or `reopened` entry updates it).
    static LATEST: RefCell<Option<Element>> = const { RefCell::new(None) };
}

/// Marks the visitor's choice (for screen readers too).
fn press(card: &Element, score: &str) {
    for s in ["1", "3", "5"] {
        if let Some(f) = card.query_selector(&format!(".s{s}")).ok().flatten() {
            set(&f, "aria-pressed", if s == score { "true" } else { "false" });
        }
    }
}

/// The card under a `resolved` entry.
pub fn card(parent: &Element, sess: Sess) {
    let t = sess.with_value(|s| s.t);
    let c = add(parent, "div", "form rating");
    set(&c, "role", "group");
    set(&c, "aria-label", t.rate_prompt);
    add_text(&add(&c, "p", "form-title"), t.rate_prompt);
    let row = add(&c, "div", "faces");
    for (score, glyph, label) in [("1", "☹", t.rate_bad), ("3", "😐", t.rate_okay), ("5", "☺", t.rate_good)] {
        let b = add(&row, "button", &format!("face s{score}"));
        set(&b, "type", "button");
        set(&b, "data-score", score);
        set(&b, "aria-label", label);
        add_text(&b, glyph);
    }
    let comment = add(&c, "textarea", "comment");
    set(&comment, "rows", "2");
    set(&comment, "maxlength", "1000");
    set(&comment, "aria-label", t.rate_comment);
    set(&comment, "placeholder", t.rate_comment);
    let send = add(&c, "button", "submit");
    set(&send, "type", "button");
    add_text(&send, t.submit);
    add_text(&add(&c, "p", "done"), t.rate_thanks);
    // One listener: a face rates at once; "Send" rates again with the comment.
    let card = c.clone();
    on(&c, "click", move |e| {
        let Some(target) = e.target().and_then(|t| t.dyn_into::<Element>().ok()) else { return };
        let (score, words) = match target.get_attribute("data-score") {
            Some(s) => {
                set(&card, "data-chosen", &s);
                press(&card, &s);
                (s, String::new())
            }
            None if target == send => {
                let Some(s) = card.get_attribute("data-chosen") else { return };
                let words = js_sys::Reflect::get(&comment, &"value".into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
                (s, words.trim().to_string())
            }
            None => return,
        };
        let score: u8 = score.parse().unwrap_or(0);
        sess.with_value(|s| s.submit(move |client_id| ClientMsg::Rate { client_id, score, comment: words }, None, None));
    });
    LATEST.with(|l| *l.borrow_mut() = Some(c));
}

/// A `rated` event: its face pressed, the thanks shown.
pub fn rated(score: u8) {
    LATEST.with(|l| {
        if let Some(c) = l.borrow().as_ref() {
            press(c, &score.to_string());
            set(c, "data-rated", "");
        }
    });
}

/// The thread reopened: the card's question is over (a rating given stays shown).
pub fn closed() {
    LATEST.with(|l| {
        if let Some(c) = l.borrow_mut().take() {
            set(&c, "data-closed", "");
        }
    });
}
