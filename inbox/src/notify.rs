//! Issue 16 in the inbox: notifications that reach me with the inbox closed (this device's
//! push subscription, which handoffs, push or email), assigning a conversation by hand, and
//! opening the thread a notification points at.
//!
//! The browser's push APIs are driven by `window.batonPush` (a few lines of JS in
//! `inbox.html`: service worker registration, `PushManager.subscribe`); everything else is
//! the API: `GET/PUT …/notifications`, `POST/DELETE …/push/subscriptions`,
//! `POST …/conversations/:id/assign`. Who is told of what is `baton_shared::notify`.

use crate::{api_base, open_conversation, Store};
use baton_shared::assign::AssignRequest;
use baton_shared::notify::{Channel, Handoffs, Prefs, Settings};
use baton_shared::protocol::*;
use gloo_net::http::Request;
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

/// Calls `window.batonPush[name](arg)` and awaits its promise; the resolved value or the
/// error's message.
async fn push_js(name: &str, arg: &str) -> Result<JsValue, String> {
    let window = web_sys::window().ok_or("no window")?;
    let api = js_sys::Reflect::get(&window, &JsValue::from_str("batonPush")).map_err(|_| "no push support".to_string())?;
    if api.is_undefined() {
        return Err("this browser has no push support".into());
    }
    let f: js_sys::Function =
        js_sys::Reflect::get(&api, &JsValue::from_str(name)).map_err(|_| "no push support".to_string())?.unchecked_into();
    let promise: js_sys::Promise = f.call1(&api, &JsValue::from_str(arg)).map_err(js_message)?.unchecked_into();
    wasm_bindgen_futures::JsFuture::from(promise).await.map_err(js_message)
}

fn js_message(e: JsValue) -> String {
    js_sys::Reflect::get(&e, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "failed".into())
}

async fn error_of(r: gloo_net::http::Response) -> String {
    r.json::<ApiError>().await.map(|e| e.error.message).unwrap_or_else(|_| format!("the server answered {}", r.status()))
}

/// This device's push endpoint, if it is subscribed.
async fn this_endpoint() -> Option<String> {
    push_js("endpoint", "").await.ok().and_then(|v| v.as_string()).filter(|e| !e.is_empty())
}

/// Loads my settings (and whether this device is one of my devices).
pub(crate) async fn load(store: Store) {
    let mut url = format!("{}/notifications", api_base(&store.site()));
    if let Some(e) = this_endpoint().await {
        url.push_str(&format!("?endpoint={}", js_sys::encode_uri_component(&e)));
    }
    match Request::get(&url).send().await {
        Ok(r) if r.ok() => {
            if let Ok(s) = r.json::<Settings>().await {
                store.settings.set(Some(s));
            }
        }
        Ok(r) => store.say(error_of(r).await, Some("notifications".into())),
        Err(_) => store.say("cannot reach the server: check your connection", Some("offline".into())),
    }
}

async fn save_prefs(store: Store, prefs: Prefs) {
    let url = format!("{}/notifications", api_base(&store.site()));
    match Request::put(&url).json(&prefs).map(|r| r.send()) {
        Ok(f) => match f.await {
            Ok(r) if r.ok() => {
                if let Ok(s) = r.json::<Settings>().await {
                    store.settings.set(Some(s));
                }
            }
            Ok(r) => store.say(error_of(r).await, Some("notifications".into())),
            Err(_) => store.say("cannot reach the server: check your connection", Some("offline".into())),
        },
        Err(_) => {}
    }
}

/// Turns notifications on for this device: permission, service worker, push subscription
/// (with the deployment's VAPID key), then registers it with the server.
async fn enable_device(store: Store) {
    let Some(key) = store.settings.with_untracked(|s| s.as_ref().map(|s| s.vapid_public_key.clone())) else { return };
    if key.is_empty() {
        store.say(
            "Push is not set up for this inbox (BATON_VAPID_PRIVATE_KEY): choose email, or ask whoever deploys Baton.",
            Some("push".into()),
        );
        return;
    }
    let sub = match push_js("enable", &key).await {
        Ok(v) => v.as_string().unwrap_or_default(),
        Err(e) => {
            store.say(format!("Notifications could not be turned on for this device: {e}"), Some("push".into()));
            return;
        }
    };
    let url = format!("{}/push/subscriptions", api_base(&store.site()));
    let sent = Request::post(&url).header("content-type", "application/json").body(sub).map(|r| r.send());
    match sent {
        Ok(f) => match f.await {
            Ok(r) if r.ok() => load(store).await,
            Ok(r) => store.say(error_of(r).await, Some("push".into())),
            Err(_) => store.say("cannot reach the server: check your connection", Some("offline".into())),
        },
        Err(_) => {}
    }
}

async fn disable_device(store: Store) {
    if let Ok(v) = push_js("disable", "").await {
        if let Some(endpoint) = v.as_string().filter(|e| !e.is_empty()) {
            let url = format!("{}/push/subscriptions", api_base(&store.site()));
            let body = serde_json::json!({ "endpoint": endpoint }).to_string();
            if let Ok(f) = Request::delete(&url).header("content-type", "application/json").body(body).map(|r| r.send()) {
                let _ = f.await;
            }
        }
    }
    load(store).await;
}

/// The header button and its panel.
#[component]
pub(crate) fn NotificationsMenu(store: Store) -> impl IntoView {
    let open = RwSignal::new(false);
    let toggle = move |_| {
        let now = !open.get_untracked();
        open.set(now);
        if now {
            wasm_bindgen_futures::spawn_local(load(store));
        }
    };
    let prefs = move || store.settings.with(|s| s.as_ref().map(|s| s.prefs).unwrap_or_default());
    let set = move |p: Prefs| wasm_bindgen_futures::spawn_local(save_prefs(store, p));
    let this_device = move || store.settings.with(|s| s.as_ref().is_some_and(|s| s.devices.iter().any(|d| d.this_device)));
    let handoffs = move |h: Handoffs, label: &'static str| {
        view! {
            <label><input type="radio" name="handoffs" value=format!("{h:?}").to_lowercase()
                prop:checked=move || prefs().handoffs == h
                on:change=move |_| set(Prefs { handoffs: h, ..prefs() })/>{label}</label>
        }
    };
    view! {
        <button class="notifications-button" aria-expanded=move || open.get().to_string() on:click=toggle>"Notifications"</button>
        {move || open.get().then(|| view! {
            <section class="notifications-panel" role="dialog" aria-label="Notifications">
                <h2>"Notifications when the inbox is closed"</h2>
                <fieldset>
                    <legend>"Tell me about"</legend>
                    {handoffs(Handoffs::Assigned, "handoffs assigned to me")}
                    {handoffs(Handoffs::All, "every new handoff")}
                    {handoffs(Handoffs::Off, "nothing")}
                </fieldset>
                <fieldset>
                    <legend>"By"</legend>
                    <label><input type="radio" name="channel" value="push" prop:checked=move || prefs().channel == Channel::Push
                        on:change=move |_| set(Prefs { channel: Channel::Push, ..prefs() })/>"a notification on my devices"</label>
                    <label><input type="radio" name="channel" value="email" prop:checked=move || prefs().channel == Channel::Email
                        prop:disabled=move || !store.settings.with(|s| s.as_ref().is_some_and(|s| s.email_available))
                        on:change=move |_| set(Prefs { channel: Channel::Email, ..prefs() })/>"email to my sign-in address"</label>
                </fieldset>
                <p class="devices">
                    {move || {
                        let n = store.settings.with(|s| s.as_ref().map_or(0, |s| s.devices.len()));
                        format!("{n} device{} with notifications on. ", if n == 1 { "" } else { "s" })
                    }}
                    {move || if this_device() {
                        view! { <button class="device-off" on:click=move |_| wasm_bindgen_futures::spawn_local(disable_device(store))>"Turn off on this device"</button> }.into_any()
                    } else {
                        view! { <button class="device-on primary" on:click=move |_| wasm_bindgen_futures::spawn_local(enable_device(store))>"Turn on for this device"</button> }.into_any()
                    }}
                </p>
                <button class="close" aria-label="Close" on:click=move |_| open.set(false)>"×"</button>
            </section>
        })}
    }
}

/// "Assigned to …" and the select to assign by hand, in the thread's header.
#[component]
pub(crate) fn AssignControl(store: Store, row: Memo<Option<ConversationSummary>>) -> impl IntoView {
    let current = move || {
        row.with(|r| {
            r.as_ref().and_then(|r| match &r.ownership {
                Ownership::Human { operator } => Some(operator.id.clone()),
                Ownership::WaitingForHuman { .. } => r.assignment.operator.as_ref().map(|o| o.id.clone()),
                _ => None,
            })
        })
    };
    let assignable = move || {
        row.with(|r| r.as_ref().is_some_and(|r| matches!(r.ownership, Ownership::WaitingForHuman { .. } | Ownership::Human { .. })))
    };
    let label = move || {
        row.with(|r| {
            let r = r.as_ref()?;
            let a = r.assignment.operator.as_ref()?;
            Some(match &r.assignment.by {
                Some(by) => format!("Assigned to {} by {}", a.name, by.name),
                None => format!("Assigned to {}", a.name),
            })
        })
    };
    let on_change = move |e: web_sys::Event| {
        let value = event_target_value(&e);
        let Some(id) = row.with_untracked(|r| r.as_ref().map(|r| r.id.clone())) else { return };
        let body = AssignRequest { operator: (!value.is_empty()).then_some(value) };
        wasm_bindgen_futures::spawn_local(async move {
            let url = format!("{}/conversations/{}/assign", api_base(&store.site()), id);
            if let Ok(f) = Request::post(&url).json(&body).map(|r| r.send()) {
                match f.await {
                    Ok(r) if r.ok() => {}
                    Ok(r) => store.say(error_of(r).await, Some("assign".into())),
                    Err(_) => store.say("cannot reach the server: check your connection", Some("offline".into())),
                }
            }
        });
    };
    view! {
        <div class="assign-bar" class:hidden=move || !assignable()>
            <span class="assignee">{label}</span>
            <label>"Assign to "
                <select class="assign" on:change=on_change prop:value=move || current().unwrap_or_default()>
                    <option value="">"Queue (nobody)"</option>
                    {move || store.team.get().into_iter().map(|o| {
                        let id = o.id.clone();
                        view! { <option value=id.clone() selected=move || current().as_deref() == Some(id.as_str())>{o.name}</option> }
                    }).collect_view()}
                </select>
            </label>
        </div>
    }
}

/// Opens the thread a notification click asked for (`?conversation=` in the URL on load, or a
/// `baton-open` event from the service worker while the inbox is open).
pub(crate) fn follow_links(store: Store) {
    let from_url = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|s| web_sys::UrlSearchParams::new_with_str(&s).ok())
        .and_then(|p| p.get("conversation"))
        .and_then(|c| ConversationId::parse(&c).ok());
    if let Some(id) = from_url {
        open_conversation(store, id);
    }
    let handle = window_event_listener_untyped("baton-open", move |e| {
        let detail = e.unchecked_into::<web_sys::CustomEvent>().detail();
        if let Some(id) = detail.as_string().and_then(|c| ConversationId::parse(&c).ok()) {
            open_conversation(store, id);
        }
    });
    std::mem::forget(handle);
}
