//! Small helpers: time formatting, ids, links, the bot's Markdown as DOM.

use baton_shared::markdown::{self, Block, Inline};
use baton_shared::protocol::hex;
use leptos::prelude::*;

pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// A fresh client message id.
pub fn random_id() -> String {
    let mut b = [0u8; 12];
    if let Some(c) = web_sys::window().and_then(|w| w.crypto().ok()) {
        let _ = c.get_random_values_with_u8_array(&mut b);
    }
    hex(&b)
}

/// "45s", "3m 12s", "2h 05m", "3d 4h": how long something has been waiting.
pub fn duration(ms: i64) -> String {
    let s = (ms / 1000).max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Local "14:05" for today, "Mar 3, 14:05" otherwise.
pub fn clock(at: i64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at as f64));
    let today = js_sys::Date::new_0();
    let hm = format!("{:02}:{:02}", d.get_hours(), d.get_minutes());
    if d.to_date_string() == today.to_date_string() {
        hm
    } else {
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        format!("{} {}, {hm}", MONTHS[d.get_month() as usize % 12], d.get_date())
    }
}

/// "Mar 3" for a UTC midnight (the insights' days).
pub fn day_label(day: i64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(day as f64));
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!("{} {}", MONTHS[d.get_utc_month() as usize % 12], d.get_utc_date())
}

/// A link to a visitor-supplied or cited URL, if it is a safe one (http, https, mailto,
/// relative); otherwise the URL as plain text.
pub fn link(url: &str, label: String, class: &'static str) -> AnyView {
    match markdown::safe_href(url) {
        Some(href) => view! { <a class=class href=href target="_blank" rel="noopener noreferrer">{label}</a> }.into_any(),
        None => view! { <span class=class>{label}</span> }.into_any(),
    }
}

/// A bot answer's Markdown subset as DOM: text nodes and a fixed set of tags, never HTML.
pub fn markdown_view(src: &str) -> AnyView {
    markdown::parse(src)
        .into_iter()
        .map(|b| match b {
            Block::Para(inl) => view! { <p>{inlines(inl)}</p> }.into_any(),
            Block::List { ordered: true, items } => {
                view! { <ol>{items.into_iter().map(|i| view! { <li>{inlines(i)}</li> }).collect_view()}</ol> }.into_any()
            }
            Block::List { ordered: false, items } => {
                view! { <ul>{items.into_iter().map(|i| view! { <li>{inlines(i)}</li> }).collect_view()}</ul> }.into_any()
            }
            Block::Code(code) => view! { <pre><code>{code}</code></pre> }.into_any(),
        })
        .collect_view()
        .into_any()
}

fn inlines(v: Vec<Inline>) -> AnyView {
    v.into_iter()
        .map(|i| match i {
            Inline::Text(t) => t.into_any(),
            Inline::Code(c) => view! { <code>{c}</code> }.into_any(),
            Inline::Strong(s) => view! { <strong>{s}</strong> }.into_any(),
            Inline::Link { text, href } => view! { <a href=href target="_blank" rel="noopener noreferrer">{text}</a> }.into_any(),
        })
        .collect_view()
        .into_any()
}
