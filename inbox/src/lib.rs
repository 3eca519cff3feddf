//! The operators' inbox: sign in, see the site's conversations live (the `Inbox` object's
//! socket), open one (its `Conversation` object's socket, as an operator), act on it, and read
//! the site's insights. Everything user-supplied is rendered as text nodes, never as HTML.
//!
//! - `lib.rs`: the store, the two sockets, sign-in, the page shell, alerts, keyboard shortcuts.
//! - `list.rs`: the conversation list (views, tag filter, search).
//! - `thread.rs`: one conversation: briefing, thread, actions, composer.
//! - `insights.rs`: the insights page (inline SVG charts).
//!
//! Which rows a view shows, their order and what is a new handoff are `baton_shared::inbox`
//! rules; this crate only renders them.

mod insights;
mod list;
mod notify;
mod thread;
mod util;
mod visitor;

use baton_shared::config::CannedReply;
use baton_shared::inbox::{self as rules, View};
use baton_shared::protocol::*;
use gloo_net::http::Request;
use leptos::prelude::*;
use std::cell::RefCell;
use std::time::Duration;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

pub(crate) fn api_base(site: &str) -> String {
    format!("/api/v1/sites/{site}")
}

fn ws_base() -> String {
    let loc = window().location();
    let proto = if loc.protocol().unwrap_or_default() == "https:" { "wss" } else { "ws" };
    format!("{proto}://{}", loc.host().unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// The URL: `?site=demo&view=open&c=<id>` or `?site=demo&page=insights&days=7`, kept in step
// with the page (replaceState), so a reload or a shared link shows the same thing.
// ---------------------------------------------------------------------------------------------

fn url_param(name: &str) -> Option<String> {
    let search = window().location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search).ok()?.get(name).filter(|v| !v.is_empty())
}

/// The page's URL for the store's state.
fn state_url(store: Store) -> String {
    let mut q = vec![("site", store.site())];
    match store.screen.get() {
        Screen::Insights => {
            q.push(("page", "insights".into()));
            q.push(("days", store.days.get().to_string()));
        }
        Screen::Inbox => {
            q.push(("view", store.view.get().key().into()));
            if let Some(id) = store.open.get() {
                q.push(("c", id.to_string()));
            }
        }
    }
    let params = web_sys::UrlSearchParams::new().expect("URLSearchParams");
    for (k, v) in q {
        params.append(k, &v);
    }
    format!("?{}", String::from(params.to_string()))
}

/// A link to one conversation (the list's rows): the inbox with it open.
pub(crate) fn conversation_href(store: Store, id: &ConversationId) -> String {
    format!("?site={}&view={}&c={id}", store.site(), store.view.get_untracked().key())
}

/// Restores the state a URL names (before the sockets connect).
fn restore_from_url(store: Store) {
    if url_param("page").as_deref() == Some("insights") {
        store.screen.set(Screen::Insights);
    }
    if let Some(d) = url_param("days").and_then(|d| d.parse::<u32>().ok()).filter(|d| [7, 30, 90].contains(d)) {
        store.days.set(d);
    }
    if let Some(v) = url_param("view").and_then(|v| View::parse(&v)) {
        store.view.set(v);
    }
}

/// Starts the inbox for a site in `<body>`. Called by inbox.html.
#[wasm_bindgen]
pub fn start(site: String) {
    leptos::mount::mount_to_body(move || view! { <App site=site.clone()/> });
}

/// Which page the header shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Screen {
    Inbox,
    Insights,
}

/// What the composer sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Reply,
    Note,
}

/// A short message over the page (an error frame, a failed request).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Toast {
    pub text: String,
    /// The error code, when it is an error (`conflict`, …).
    pub code: Option<String>,
    pub id: u32,
}

/// Everything the page shows. Signals are `Copy`; the sockets live in `SOCKETS`.
#[derive(Clone, Copy)]
pub(crate) struct Store {
    pub site: StoredValue<String>,
    /// `None` while checking the session.
    pub me: RwSignal<Option<OperatorRef>>,
    pub checked: RwSignal<bool>,
    pub login_error: RwSignal<Option<String>>,
    pub rows: RwSignal<Vec<ConversationSummary>>,
    pub presence: RwSignal<Vec<Presence>>,
    pub canned: RwSignal<Vec<CannedReply>>,
    pub site_name: RwSignal<String>,
    pub screen: RwSignal<Screen>,
    /// The insights' range in days.
    pub days: RwSignal<u32>,
    pub view: RwSignal<View>,
    pub tag: RwSignal<String>,
    /// An ownership state to narrow the view to (`""`: any).
    pub status: RwSignal<String>,
    /// The search box's words; `results` are the ids the server matched (in order).
    pub query: RwSignal<String>,
    pub results: RwSignal<Option<Vec<ConversationId>>>,
    pub open: RwSignal<Option<ConversationId>>,
    pub thread: RwSignal<Vec<Event>>,
    pub visitor_typing: RwSignal<bool>,
    pub toast: RwSignal<Option<Toast>>,
    pub away: RwSignal<bool>,
    /// The inbox socket is connected.
    pub live: RwSignal<bool>,
    /// The open conversation's socket is connected (welcome received).
    pub conv_live: RwSignal<bool>,
    /// Alerts played for new handoffs (sound), and desktop notifications shown.
    pub alerts: RwSignal<u32>,
    pub notified: RwSignal<u32>,
    /// Conversations this tab has alerted for in their current wait: a second alert for the same
    /// wait (the handoff, then its automatic assignment to me a moment later) replaces the
    /// notification quietly instead of chiming twice.
    pub alerted: RwSignal<Vec<ConversationId>>,
    pub notify_permission: RwSignal<String>,
    /// Ticks every second (waiting times).
    pub now: RwSignal<i64>,
    pub help: RwSignal<bool>,
    pub mode: RwSignal<Mode>,
    /// Bumped to ask the composer / the search box to take the focus.
    pub focus_composer: RwSignal<u32>,
    pub focus_search: RwSignal<u32>,
    /// The site's operators (assigning by hand) and my notification settings (issue 16).
    pub team: RwSignal<Vec<OperatorRef>>,
    pub settings: RwSignal<Option<baton_shared::notify::Settings>>,
}

impl Store {
    fn new(site: String) -> Store {
        Store {
            site: StoredValue::new(site),
            me: RwSignal::new(None),
            checked: RwSignal::new(false),
            login_error: RwSignal::new(None),
            rows: RwSignal::new(Vec::new()),
            presence: RwSignal::new(Vec::new()),
            canned: RwSignal::new(Vec::new()),
            site_name: RwSignal::new(String::new()),
            screen: RwSignal::new(Screen::Inbox),
            days: RwSignal::new(30),
            view: RwSignal::new(View::Waiting),
            tag: RwSignal::new(String::new()),
            status: RwSignal::new(String::new()),
            query: RwSignal::new(String::new()),
            results: RwSignal::new(None),
            open: RwSignal::new(None),
            thread: RwSignal::new(Vec::new()),
            visitor_typing: RwSignal::new(false),
            toast: RwSignal::new(None),
            away: RwSignal::new(false),
            live: RwSignal::new(false),
            conv_live: RwSignal::new(false),
            alerts: RwSignal::new(0),
            notified: RwSignal::new(0),
            alerted: RwSignal::new(Vec::new()),
            notify_permission: RwSignal::new(notification_permission()),
            now: RwSignal::new(util::now_ms()),
            help: RwSignal::new(false),
            mode: RwSignal::new(Mode::Reply),
            focus_composer: RwSignal::new(0),
            focus_search: RwSignal::new(0),
            team: RwSignal::new(Vec::new()),
            settings: RwSignal::new(None),
        }
    }

    pub fn site(&self) -> String {
        self.site.get_value()
    }

    /// Shows a message for a few seconds.
    pub fn say(&self, text: impl Into<String>, code: Option<String>) {
        let id = self.toast.with_untracked(|t| t.as_ref().map_or(0, |t| t.id + 1));
        self.toast.set(Some(Toast { text: text.into(), code, id }));
        let toast = self.toast;
        set_timeout(
            move || {
                if toast.with_untracked(|t| t.as_ref().is_some_and(|t| t.id == id)) {
                    toast.set(None);
                }
            },
            Duration::from_secs(8),
        );
    }

    /// Adds or replaces rows (from a query), keeping the live ones' newer versions.
    pub fn merge_rows(&self, incoming: Vec<ConversationSummary>) {
        self.rows.update(|rows| {
            for row in incoming {
                match rows.iter_mut().find(|r| r.id == row.id) {
                    Some(r) if r.last_seq <= row.last_seq => *r = row,
                    Some(_) => {}
                    None => rows.push(row),
                }
            }
        });
    }

    pub fn row(&self, id: &ConversationId) -> Option<ConversationSummary> {
        self.rows.with(|rows| rows.iter().find(|r| &r.id == id).cloned())
    }
}

// ---------------------------------------------------------------------------------------------
// Sockets
// ---------------------------------------------------------------------------------------------

/// One open socket with its callbacks (kept alive together, dropped together).
struct Socket {
    ws: web_sys::WebSocket,
    _cbs: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Socket {
    /// Closes it without firing our close handler (no reconnect).
    fn shut(self) {
        self.ws.set_onclose(None);
        self.ws.set_onmessage(None);
        let _ = self.ws.close();
    }
}

thread_local! {
    static INBOX_SOCKET: RefCell<Option<Socket>> = const { RefCell::new(None) };
    static CONV_SOCKET: RefCell<Option<Socket>> = const { RefCell::new(None) };
    static AUDIO: RefCell<Option<web_sys::AudioContext>> = const { RefCell::new(None) };
    /// The links a notification opens are followed once, after the first snapshot.
    static FOLLOWED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Opens a socket: `on_open` runs when connected, `on_text` for each text frame, `on_close`
/// with the close code.
fn open_socket(
    url: &str,
    on_open: impl FnMut() + 'static,
    on_text: impl FnMut(String) + 'static,
    on_close: impl FnMut(u16) + 'static,
) -> Option<Socket> {
    let ws = web_sys::WebSocket::new(url).ok()?;
    let (mut on_open, mut on_text, mut on_close) = (on_open, on_text, on_close);
    let onopen = Closure::<dyn FnMut(JsValue)>::new(move |_| on_open());
    let onmessage = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        if let Some(t) = e.unchecked_into::<web_sys::MessageEvent>().data().as_string() {
            on_text(t);
        }
    });
    let onclose = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| on_close(e.unchecked_into::<web_sys::CloseEvent>().code()));
    ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    ws.set_onclose(Some(onclose.as_ref().unchecked_ref()));
    Some(Socket { ws, _cbs: vec![onopen, onmessage, onclose] })
}

/// Connects the live list; reconnects after a drop (backing off), or shows sign-in when the
/// session ended.
fn connect_inbox(store: Store, attempt: u32) {
    let url = format!("{}{}/inbox/ws", ws_base(), api_base(&store.site()));
    let socket = open_socket(
        &url,
        || {},
        move |text| on_inbox_frame(store, &text),
        move |code| {
            store.live.set(false);
            INBOX_SOCKET.with(|s| s.borrow_mut().take());
            if code == ErrorCode::Unauthorized.close_code() || code == 1008 {
                session_ended(store, "Your session ended: sign in again.");
                return;
            }
            if store.me.get_untracked().is_none() {
                return;
            }
            // Maybe the session expired (the upgrade is refused with 401, which browsers
            // report as 1006): ask before trying again.
            wasm_bindgen_futures::spawn_local(async move {
                if !check_session(store).await {
                    session_ended(store, "Your session ended: sign in again.");
                    return;
                }
                let wait = Duration::from_millis((500u64 << attempt.min(5)).min(15_000));
                set_timeout(move || connect_inbox(store, attempt + 1), wait);
            });
        },
    );
    INBOX_SOCKET.with(|s| {
        if let Some(old) = s.borrow_mut().take() {
            old.shut();
        }
        *s.borrow_mut() = socket;
    });
}

fn on_inbox_frame(store: Store, text: &str) {
    let Ok(msg) = serde_json::from_str::<InboxServerMsg>(text) else {
        return;
    };
    match msg {
        InboxServerMsg::Snapshot { me, rows, presence, canned_replies, site_name, team } => {
            store.team.set(team);
            store.me.set(Some(me));
            store.rows.set(rows);
            store.presence.set(presence);
            store.canned.set(canned_replies);
            store.site_name.set(site_name);
            store.live.set(true);
            if !FOLLOWED.with(|f| f.replace(true)) {
                notify::follow_links(store);
            }
            // Tell the others again if this tab was away before a reconnect.
            if store.away.get_untracked() {
                send_inbox(&InboxClientMsg::SetAway { away: true });
            }
        }
        InboxServerMsg::Row { row } => {
            let before = store.row(&row.id);
            let new_handoff = rules::is_new_handoff(before.as_ref(), &row);
            let me = store.me.with_untracked(|m| m.as_ref().map(|m| m.id.clone())).unwrap_or_default();
            let to_me = baton_shared::assign::newly_assigned(before.as_ref(), &row).is_some_and(|o| o.id == me);
            if !matches!(row.ownership, Ownership::WaitingForHuman { .. }) {
                store.alerted.update(|a| a.retain(|id| id != &row.id));
            }
            if to_me {
                alert(store, &row, "Assigned to you");
            } else if new_handoff {
                alert_new_handoff(store, &row);
            }
            store.rows.update(|rows| match rows.iter_mut().find(|r| r.id == row.id) {
                Some(r) => *r = row,
                None => rows.push(row),
            });
        }
        InboxServerMsg::Removed { id } => store.rows.update(|rows| rows.retain(|r| r.id != id)),
        InboxServerMsg::Presence { presence } => store.presence.set(presence),
        InboxServerMsg::Error { error } => store.say(error.message, Some(code_name(error.code))),
        InboxServerMsg::Pong => {}
    }
}

pub(crate) fn send_inbox(msg: &InboxClientMsg) {
    if let Ok(text) = serde_json::to_string(msg) {
        INBOX_SOCKET.with(|s| {
            if let Some(s) = s.borrow().as_ref() {
                let _ = s.ws.send_with_str(&text);
            }
        });
    }
}

/// The JSON name of an error code (`conflict`, …).
pub(crate) fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

/// Opens a conversation: its socket, as an operator, replaying the whole log.
pub(crate) fn open_conversation(store: Store, id: ConversationId) {
    if store.open.get_untracked().as_ref() == Some(&id) && CONV_SOCKET.with(|c| c.borrow().is_some()) {
        return;
    }
    CONV_SOCKET.with(|c| {
        if let Some(old) = c.borrow_mut().take() {
            old.shut();
        }
    });
    store.thread.set(Vec::new());
    store.visitor_typing.set(false);
    store.mode.set(Mode::Reply);
    store.open.set(Some(id.clone()));
    store.screen.set(Screen::Inbox);
    connect_conversation(store, id, 0);
}

pub(crate) fn close_conversation(store: Store) {
    CONV_SOCKET.with(|c| {
        if let Some(old) = c.borrow_mut().take() {
            old.shut();
        }
    });
    store.open.set(None);
    store.thread.set(Vec::new());
    store.conv_live.set(false);
}

fn connect_conversation(store: Store, id: ConversationId, attempt: u32) {
    let url = format!("{}{}/conversations/{}/ws?as=operator", ws_base(), api_base(&store.site()), id);
    let after = store.thread.with_untracked(|t| t.last().map_or(0, |e| e.seq));
    let hello = serde_json::to_string(&ClientMsg::Hello { token: None, after }).unwrap_or_default();
    let ws_cell: std::rc::Rc<RefCell<Option<web_sys::WebSocket>>> = Default::default();
    let ws_for_open = ws_cell.clone();
    let id_for_close = id.clone();
    let socket = open_socket(
        &url,
        move || {
            if let Some(ws) = ws_for_open.borrow().as_ref() {
                let _ = ws.send_with_str(&hello);
            }
        },
        move |text| on_conversation_frame(store, &text),
        move |code| {
            store.conv_live.set(false);
            if store.open.get_untracked().as_ref() != Some(&id_for_close) {
                return;
            }
            CONV_SOCKET.with(|c| c.borrow_mut().take());
            if code == ErrorCode::Unauthorized.close_code() {
                session_ended(store, "Your session ended: sign in again.");
                return;
            }
            let id = id_for_close.clone();
            let wait = Duration::from_millis((500u64 << attempt.min(5)).min(15_000));
            set_timeout(
                move || {
                    if store.open.get_untracked().as_ref() == Some(&id) && store.me.get_untracked().is_some() {
                        connect_conversation(store, id, attempt + 1);
                    }
                },
                wait,
            );
        },
    );
    if let Some(s) = &socket {
        *ws_cell.borrow_mut() = Some(s.ws.clone());
    }
    CONV_SOCKET.with(|c| *c.borrow_mut() = socket);
}

fn on_conversation_frame(store: Store, text: &str) {
    match serde_json::from_str::<ServerMsg>(text) {
        Ok(ServerMsg::Welcome { .. }) => store.conv_live.set(true),
        Ok(ServerMsg::Event { event }) => {
            if matches!(event.kind, EventKind::VisitorMessage { .. }) {
                store.visitor_typing.set(false);
            }
            store.thread.update(|t| {
                if !t.iter().any(|e| e.seq == event.seq) {
                    let at = t.partition_point(|e| e.seq < event.seq);
                    t.insert(at, event);
                }
            })
        }
        Ok(ServerMsg::Typing { who: Typist::Visitor, on }) => store.visitor_typing.set(on),
        Ok(ServerMsg::Error { error, .. }) => {
            let code = code_name(error.code);
            store.say(error.message, Some(code));
        }
        _ => {}
    }
}

/// Sends a frame on the open conversation's socket; says so when it is not connected.
pub(crate) fn send_frame(store: Store, msg: ClientMsg) -> bool {
    let Ok(text) = serde_json::to_string(&msg) else { return false };
    let sent = CONV_SOCKET.with(|c| match c.borrow().as_ref() {
        Some(c) if c.ws.ready_state() == web_sys::WebSocket::OPEN && store.conv_live.get_untracked() => c.ws.send_with_str(&text).is_ok(),
        _ => false,
    });
    if !sent && !matches!(msg, ClientMsg::Typing { .. }) {
        store.say("Not connected to this conversation right now — reconnecting; try again in a moment.", Some("offline".into()));
    }
    sent
}

// ---------------------------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------------------------

async fn check_session(store: Store) -> bool {
    match Request::get(&format!("{}/me", api_base(&store.site()))).send().await {
        Ok(r) if r.ok() => match r.json::<Me>().await {
            Ok(me) => {
                store.me.set(Some(me.operator));
                true
            }
            Err(_) => false,
        },
        Ok(r) => r.status() != 401 && r.status() != 403,
        // Offline: not a sign-out.
        Err(_) => true,
    }
}

fn session_ended(store: Store, why: &str) {
    INBOX_SOCKET.with(|s| {
        if let Some(old) = s.borrow_mut().take() {
            old.shut();
        }
    });
    close_conversation(store);
    store.me.set(None);
    store.rows.set(Vec::new());
    store.live.set(false);
    store.login_error.set(Some(why.to_string()));
}

pub(crate) fn sign_out(store: Store) {
    wasm_bindgen_futures::spawn_local(async move {
        let _ = Request::post(&format!("{}/logout", api_base(&store.site()))).send().await;
        session_ended(store, "Signed out.");
        store.login_error.set(None);
    });
}

// ---------------------------------------------------------------------------------------------
// Alerts: a sound, a desktop notification, the tab title
// ---------------------------------------------------------------------------------------------

fn notification_permission() -> String {
    if js_sys::Reflect::has(&window(), &JsValue::from_str("Notification")).unwrap_or(false) {
        match web_sys::Notification::permission() {
            web_sys::NotificationPermission::Granted => "granted",
            web_sys::NotificationPermission::Denied => "denied",
            _ => "default",
        }
        .into()
    } else {
        "unsupported".into()
    }
}

pub(crate) fn ask_notification_permission(store: Store) {
    if let Ok(p) = web_sys::Notification::request_permission() {
        wasm_bindgen_futures::spawn_local(async move {
            let _ = wasm_bindgen_futures::JsFuture::from(p).await;
            store.notify_permission.set(notification_permission());
        });
    }
    // Also a good moment to unlock audio (browsers need a gesture first).
    let _ = audio();
}

fn audio() -> Option<web_sys::AudioContext> {
    AUDIO.with(|a| {
        if a.borrow().is_none() {
            *a.borrow_mut() = web_sys::AudioContext::new().ok();
        }
        a.borrow().clone()
    })
}

/// Two short rising tones (Web Audio: no sound file to download).
fn chime() -> Option<()> {
    let ctx = audio()?;
    if ctx.state() == web_sys::AudioContextState::Suspended {
        let _ = ctx.resume();
    }
    let t = ctx.current_time();
    for (i, freq) in [880.0f32, 1320.0].into_iter().enumerate() {
        let osc = ctx.create_oscillator().ok()?;
        let gain = ctx.create_gain().ok()?;
        osc.frequency().set_value(freq);
        let start = t + i as f64 * 0.16;
        gain.gain().set_value_at_time(0.0001, start).ok()?;
        gain.gain().exponential_ramp_to_value_at_time(0.25, start + 0.02).ok()?;
        gain.gain().exponential_ramp_to_value_at_time(0.0001, start + 0.15).ok()?;
        osc.connect_with_audio_node(&gain).ok()?;
        gain.connect_with_audio_node(&ctx.destination()).ok()?;
        osc.start_with_when(start).ok()?;
        osc.stop_with_when(start + 0.16).ok()?;
    }
    Some(())
}

fn alert_new_handoff(store: Store, row: &ConversationSummary) {
    alert(store, row, "Waiting for a human")
}

/// A chime and a desktop notification titled `title` for this row.
fn alert(store: Store, row: &ConversationSummary, title: &str) {
    let again = store.alerted.with_untracked(|a| a.contains(&row.id));
    if !again {
        store.alerted.update(|a| a.push(row.id.clone()));
        if chime().is_some() {
            store.alerts.update(|n| *n += 1);
        }
    }
    if store.notify_permission.get_untracked() != "granted" {
        return;
    }
    let reason = row.handoff.as_ref().map(|h| h.reason.describe()).unwrap_or("A visitor needs a person");
    let mut body = reason.to_string();
    if let Some(q) = row.briefing.as_ref().and_then(|b| b.latest_question.clone()).or_else(|| row.first_question.clone()) {
        body.push_str(": “");
        body.push_str(&q.chars().take(120).collect::<String>());
        body.push('”');
    }
    let opts = web_sys::NotificationOptions::new();
    opts.set_body(&body);
    opts.set_tag(row.id.as_str());
    if let Ok(n) = web_sys::Notification::new_with_options(title, &opts) {
        let id = row.id.clone();
        let onclick = Closure::<dyn FnMut()>::new(move || {
            let _ = window().focus();
            open_conversation(store, id.clone());
        });
        n.set_onclick(Some(onclick.as_ref().unchecked_ref()));
        onclick.forget();
        // Same tag: a second alert for this wait replaces the first notification, silently.
        if !again {
            store.notified.update(|c| *c += 1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

#[component]
fn App(site: String) -> impl IntoView {
    let store = Store::new(site);
    provide_context(store);
    restore_from_url(store);
    wasm_bindgen_futures::spawn_local(async move {
        if check_session(store).await && store.me.get_untracked().is_some() {
            connect_inbox(store, 0);
            if let Some(id) = url_param("c").and_then(|c| ConversationId::parse(&c).ok()) {
                if store.screen.get_untracked() == Screen::Inbox {
                    open_conversation(store, id);
                }
            }
        }
        store.checked.set(true);
    });
    Effect::new(move |_| {
        let url = state_url(store);
        if store.me.with(|m| m.is_some()) {
            if let Ok(h) = window().history() {
                let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(&url));
            }
        }
    });
    set_interval(move || store.now.set(util::now_ms()), Duration::from_secs(1));
    // The tab title shows how many conversations wait for a human.
    Effect::new(move |_| {
        let n = store.rows.with(|r| rules::waiting_count(r));
        let signed_in = store.me.with(|m| m.is_some());
        document().set_title(&if signed_in && n > 0 { format!("({n}) waiting · Baton inbox") } else { "Baton inbox".into() });
    });
    let keys = window_event_listener(leptos::ev::keydown, move |e| shortcut(store, &e));
    on_cleanup(move || keys.remove());
    view! {
        <div class="inbox" data-alerts=move || store.alerts.get() data-notified=move || store.notified.get()>
            {move || store.toast.get().map(|t| view! {
                <div class="toast" class:error=t.code.is_some() role="alert" data-code=t.code.clone().unwrap_or_default()>
                    <span>{t.text}</span>
                    <button class="close" aria-label="Dismiss" on:click=move |_| store.toast.set(None)>"×"</button>
                </div>
            })}
            {move || {
                if !store.checked.get() {
                    view! { <p class="loading">"Loading…"</p> }.into_any()
                } else if store.me.with(|m| m.is_none()) {
                    view! { <Login store=store/> }.into_any()
                } else {
                    view! { <Shell store=store/> }.into_any()
                }
            }}
        </div>
    }
}

#[component]
fn Login(store: Store) -> impl IntoView {
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let password_field = NodeRef::<leptos::html::Input>::new();
    // After a refused sign-in the focus goes back to the password (the error is announced),
    // not to the page's body.
    let retry = move || {
        if let Some(el) = password_field.get_untracked() {
            let _ = el.focus();
            el.select();
        }
    };
    let submit = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        wasm_bindgen_futures::spawn_local(async move {
            let body = LoginRequest { email: email.get_untracked(), password: password.get_untracked() };
            let resp = match Request::post(&format!("{}/login", api_base(&store.site()))).json(&body) {
                Ok(r) => r.send().await,
                Err(e) => Err(e),
            };
            busy.set(false);
            match resp {
                Ok(r) if r.ok() => {
                    if let Ok(me) = r.json::<Me>().await {
                        store.login_error.set(None);
                        store.me.set(Some(me.operator));
                        connect_inbox(store, 0);
                    }
                }
                Ok(r) => {
                    let msg = r.json::<ApiError>().await.map(|e| e.error.message).unwrap_or_else(|_| "sign-in failed: try again".into());
                    store.login_error.set(Some(msg));
                    retry();
                }
                Err(_) => {
                    store.login_error.set(Some("cannot reach the server: check your connection".into()));
                    retry();
                }
            }
        });
    };
    view! {
        <main>
        <form class="login" on:submit=submit>
            <h1>"Baton inbox"</h1>
            {move || store.login_error.get().map(|e| view! { <p class="login-error" role="alert">{e}</p> })}
            <label>"Email" <input type="email" name="email" autocomplete="username" required
                on:input=move |e| email.set(event_target_value(&e))/></label>
            <label>"Password" <input type="password" name="password" autocomplete="current-password" required node_ref=password_field
                on:input=move |e| password.set(event_target_value(&e))/></label>
            // Not disabled while signing in: a disabled button drops the focus to the body.
            <button type="submit" aria-disabled=move || busy.get().then_some("true")>"Sign in"</button>
        </form>
        </main>
    }
}

#[component]
fn Shell(store: Store) -> impl IntoView {
    view! {
        <header class="top">
            <h1 class="brand">{move || {
                let n = store.site_name.get();
                if n.is_empty() { "Baton".to_string() } else { n }
            }}</h1>
            <nav class="tabs" aria-label="Pages">
                <button class="nav-inbox" class:active=move || store.screen.get() == Screen::Inbox
                    aria-current=move || (store.screen.get() == Screen::Inbox).then_some("page")
                    on:click=move |_| store.screen.set(Screen::Inbox)>"Inbox"
                    {move || {
                        let n = store.rows.with(|r| rules::waiting_count(r));
                        (n > 0).then(|| view! { <span class="count">{n}</span> })
                    }}
                </button>
                <button class="nav-insights" class:active=move || store.screen.get() == Screen::Insights
                    aria-current=move || (store.screen.get() == Screen::Insights).then_some("page")
                    on:click=move |_| store.screen.set(Screen::Insights)>"Insights"</button>
            </nav>
            <span class="live" class:off=move || !store.live.get()
                title=move || if store.live.get() { "Live" } else { "Reconnecting…" }>
                {move || if store.live.get() { "● live" } else { "○ reconnecting" }}
            </span>
            <ul class="presence" aria-label="Operators online">
                <For each=move || store.presence.get() key=|p| (p.operator.id.clone(), p.away) let:p>
                    <li class:away=p.away title=if p.away { "away" } else { "online" }>{p.operator.name.clone()}</li>
                </For>
            </ul>
            {move || (store.notify_permission.get() == "default").then(|| view! {
                <button class="enable-alerts" on:click=move |_| ask_notification_permission(store)>"Enable desktop alerts"</button>
            })}
            <notify::NotificationsMenu store=store/>
            <label class="away-toggle">
                <input type="checkbox" prop:checked=move || store.away.get() on:change=move |e| {
                    let away = event_target_checked(&e);
                    store.away.set(away);
                    send_inbox(&InboxClientMsg::SetAway { away });
                }/>
                "Away"
            </label>
            <span class="me">{move || store.me.get().map(|m| m.name).unwrap_or_default()}</span>
            <button class="sign-out" on:click=move |_| sign_out(store)>"Sign out"</button>
        </header>
        {move || match store.screen.get() {
            Screen::Inbox => view! {
                <main class="columns" class:has-open=move || store.open.with(|o| o.is_some())>
                    <list::ListPane store=store/>
                    <section class="thread-pane" aria-label="Conversation">
                        {move || match store.open.get() {
                            Some(id) => view! { <thread::ThreadPane store=store id=id/> }.into_any(),
                            None => view! { <div class="empty">
                                <p>"Pick a conversation on the left."</p>
                                <p class="hint">"Press " <kbd>"n"</kbd> " to open the one waiting longest."</p>
                            </div> }.into_any(),
                        }}
                    </section>
                </main>
            }.into_any(),
            Screen::Insights => view! { <insights::InsightsPage store=store/> }.into_any(),
        }}
        <footer class="keys" aria-label="Keyboard shortcuts">
            <span><kbd>"n"</kbd>" next waiting"</span>
            <span><kbd>"j"</kbd>"/"<kbd>"k"</kbd>" move"</span>
            <span><kbd>"t"</kbd>" take over"</span>
            <span><kbd>"r"</kbd>" reply"</span>
            <span><kbd>"p"</kbd>" note"</span>
            <span><kbd>"e"</kbd>" resolve"</span>
            <span><kbd>"/"</kbd>" search"</span>
            <span><kbd>"?"</kbd>" all keys"</span>
        </footer>
        {move || store.help.get().then(|| view! {
            <div class="help" role="dialog" aria-label="Keyboard shortcuts" on:click=move |_| store.help.set(false)>
                <div class="help-card">
                    <h2>"Keyboard shortcuts"</h2>
                    <dl>
                        <dt><kbd>"n"</kbd></dt><dd>"Open the conversation waiting longest"</dd>
                        <dt><kbd>"j"</kbd>" / "<kbd>"k"</kbd></dt><dd>"Next / previous conversation in the list"</dd>
                        <dt><kbd>"t"</kbd></dt><dd>"Take over the open conversation"</dd>
                        <dt><kbd>"r"</kbd></dt><dd>"Reply (Enter sends, Shift+Enter new line, / for canned replies)"</dd>
                        <dt><kbd>"p"</kbd></dt><dd>"Write a private note"</dd>
                        <dt><kbd>"e"</kbd></dt><dd>"Resolve the open conversation"</dd>
                        <dt><kbd>"/"</kbd></dt><dd>"Search"</dd>
                        <dt><kbd>"i"</kbd></dt><dd>"Insights / back to the inbox"</dd>
                        <dt><kbd>"Esc"</kbd></dt><dd>"Leave the text box; close this"</dd>
                    </dl>
                </div>
            </div>
        })}
    }
}

/// The daily loop on the keyboard. Ignored while typing in a field (Escape leaves it).
fn shortcut(store: Store, e: &web_sys::KeyboardEvent) {
    if store.me.with_untracked(|m| m.is_none()) || e.ctrl_key() || e.meta_key() || e.alt_key() {
        return;
    }
    let target = e.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok());
    let tag = target.as_ref().map(|t| t.tag_name().to_lowercase()).unwrap_or_default();
    if matches!(tag.as_str(), "input" | "textarea" | "select") {
        if e.key() == "Escape" {
            if let Some(el) = target.and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) {
                let _ = el.blur();
            }
        }
        return;
    }
    let open = store.open.get_untracked();
    let handled = match e.key().as_str() {
        "n" => {
            let rows = store.rows.get_untracked();
            match rules::next_waiting(&rows, open.as_ref()) {
                Some(id) => open_conversation(store, id.clone()),
                None => store.say("Nobody is waiting for a human right now.", None),
            }
            true
        }
        "j" | "k" => {
            let ids = list::visible_ids(store);
            let at = open.as_ref().and_then(|o| ids.iter().position(|i| i == o));
            let next = match (e.key().as_str(), at) {
                ("j", Some(i)) => ids.get(i + 1),
                ("k", Some(i)) if i > 0 => ids.get(i - 1),
                (_, None) => ids.first(),
                _ => None,
            };
            if let Some(id) = next {
                open_conversation(store, id.clone());
            }
            true
        }
        "t" if open.is_some() => thread::act(store, thread::Action::TakeOver),
        "e" if open.is_some() => thread::act(store, thread::Action::Resolve),
        "r" if open.is_some() => {
            store.mode.set(Mode::Reply);
            store.focus_composer.update(|n| *n += 1);
            true
        }
        "p" if open.is_some() => {
            store.mode.set(Mode::Note);
            store.focus_composer.update(|n| *n += 1);
            true
        }
        "/" => {
            store.screen.set(Screen::Inbox);
            store.focus_search.update(|n| *n += 1);
            true
        }
        "i" => {
            store.screen.update(|s| *s = if *s == Screen::Insights { Screen::Inbox } else { Screen::Insights });
            true
        }
        "?" => {
            store.help.update(|h| *h = !*h);
            true
        }
        "Escape" => {
            store.help.set(false);
            true
        }
        _ => false,
    };
    if handled {
        e.prevent_default();
    }
}
