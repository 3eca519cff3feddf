//! The visitor's connection to their conversation: storage, the socket, the outbox.
//!
//! - `{conversation_id, token}` live in `localStorage` per site, so a reload or another page
//!   continues the thread. The conversation is created on the first frame the visitor sends,
//!   so merely opening the panel creates nothing.
//! - One raw `WebSocket` (measured: gloo-net's would cost more bytes; see widget/README.md).
//!   `hello` carries the last seq seen, so the server replays exactly what was missed; events
//!   are kept by seq, so a replay can never show one twice.
//! - Every frame that changes the log carries a client id and stays in the outbox (mirrored to
//!   `localStorage`) until the server acknowledges it; after a reconnect or reload the outbox is
//!   sent again under the same ids, and the server stores each id once. Nothing typed offline
//!   is lost, nothing is doubled.
//! - Reconnects back off exponentially (0.5 s … 10 s, with jitter), and at once when the
//!   browser says it is online again.

mod identity;
mod upload;

use crate::i18n::PanelWords;
use baton_shared::i18n::Lang;
use baton_shared::protocol::*;
use baton_shared::wire::{self, Decoded, Json};
use leptos::prelude::*;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Link {
    /// No conversation yet: nothing to connect to until the visitor sends something.
    Idle,
    Connecting,
    Online,
    Reconnecting,
    /// This page may not use the site's chat (its origin is not in `allowed_origins`): no
    /// retrying, the panel says so and the console tells the site owner what to add.
    Unavailable,
}

impl Link {
    /// For `data-link` on the panel (what tests and the site's CSS can see).
    pub fn name(self) -> &'static str {
        match self {
            Link::Idle => "idle",
            Link::Connecting => "connecting",
            Link::Online => "online",
            Link::Reconnecting => "reconnecting",
            Link::Unavailable => "unavailable",
        }
    }
}

/// Everything the view reads. All signals: `Copy`, `Send`.
#[derive(Clone, Copy)]
pub struct Ui {
    pub events: RwSignal<Vec<Event>>,
    /// Visitor messages sent (or queued) but not stored yet: (client id, text).
    pub pending: RwSignal<Vec<(String, String)>>,
    pub link: RwSignal<Link>,
    /// A calm one-line notice (rate limited, too long, unreachable…).
    pub notice: RwSignal<Option<String>>,
    /// The operator who is typing.
    pub typing: RwSignal<Option<String>>,
    /// The bot is composing an answer to the visitor's last message.
    pub thinking: RwSignal<bool>,
    pub ownership: RwSignal<Ownership>,
    /// "Was this helpful?": answer seq → helpful, from the log and from this visitor's clicks.
    pub feedback: RwSignal<Vec<(u64, bool)>>,
    /// Field errors of forms: (action, field, message).
    pub form_errors: RwSignal<Vec<(String, String, String)>>,
    pub draft: RwSignal<String>,
    pub title: RwSignal<String>,
    pub greeting: RwSignal<String>,
}

/// A frame waiting for its ack.
#[derive(Clone, Debug)]
struct Queued {
    id: String,
    /// The frame as JSON, sent again verbatim after a reconnect.
    frame: String,
    /// A visitor message's text, shown as pending.
    text: Option<String>,
    /// A form submission's action, so field errors land on the right form.
    action: Option<String>,
}

#[derive(Clone)]
struct Saved {
    conversation_id: String,
    token: String,
    /// The user id the thread was identified with ("" for an anonymous visitor).
    user: String,
    /// The identity (JSON) last queued for it: not sent twice.
    sent: String,
}

pub struct Session {
    pub site: String,
    api: String,
    lang: Lang,
    pub t: &'static PanelWords,
    pub ui: Ui,
    saved: RefCell<Option<Saved>>,
    socket: RefCell<Option<web_sys::WebSocket>>,
    /// Bumped per socket: callbacks of an old socket see a stale generation and do nothing.
    generation: Cell<u32>,
    outbox: RefCell<Vec<Queued>>,
    attempts: Cell<u32>,
    creating: Cell<bool>,
    /// A pending reconnect or resend timer.
    timer: Cell<Option<i32>>,
    last_seq: Cell<u64>,
    /// The seq the ownership was last moved by (the welcome's ownership counts as of its
    /// `last_seq`).
    owned_at: Cell<u64>,
    page_sent: RefCell<Option<Page>>,
    /// When `typing: on` was last sent (ms), 0 when off.
    typing_since: Cell<f64>,
    typing_off: Cell<Option<i32>>,
    /// Who the host page says the visitor is, and its context (identity.rs).
    identity: RefCell<Option<identity::Claim>>,
    /// The context as JSON (the page's object), and what was sent last.
    context: RefCell<Option<String>>,
    context_sent: RefCell<Option<String>>,
    /// Files waiting for a conversation to be uploaded to (upload.rs).
    uploads: RefCell<Vec<upload::Upload>>,
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn store(key: &str, value: Option<&str>) {
    if let Some(s) = storage() {
        let _ = match value {
            Some(v) => s.set_item(key, v),
            None => s.remove_item(key),
        };
    }
}

fn load(key: &str) -> Option<Json> {
    Json::parse(&storage()?.get_item(key).ok()??).ok()
}

fn random_id() -> String {
    let mut b = [0u8; 12];
    if let Some(c) = web_sys::window().and_then(|w| w.crypto().ok()) {
        let _ = c.get_random_values_with_u8_array(&mut b);
    }
    hex(&b)
}

/// The page the visitor is on, as the protocol accepts it: a title cut to fit, and none at all
/// for a URL too long to send (the chat must work there too).
pub fn current_page() -> Option<Page> {
    let w = web_sys::window()?;
    let mut title = w.document()?.title();
    while title.len() > 512 {
        title.pop();
    }
    let page = Page { url: w.location().href().ok()?, title };
    ClientMsg::Page { page: page.clone() }.validate().ok()?;
    Some(page)
}

/// Runs `f` after `ms` milliseconds; returns the timer id.
pub fn after(ms: i32, f: impl FnOnce() + 'static) -> Option<i32> {
    let cb = Closure::once_into_js(f);
    web_sys::window()?.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), ms).ok()
}

fn cancel(timer: &Cell<Option<i32>>) {
    if let (Some(id), Some(w)) = (timer.take(), web_sys::window()) {
        w.clear_timeout_with_handle(id);
    }
}

impl Session {
    pub fn new(site: String, api: String, lang: Lang, t: &'static PanelWords, greeting: Option<String>) -> Rc<Session> {
        let key = format!("baton:{site}");
        let saved = load(&key).and_then(|v| {
            Some(Saved {
                conversation_id: v.get("conversation_id").string()?,
                token: v.get("token").string()?,
                user: v.get("user").string().unwrap_or_default(),
                sent: v.get("sent").string().unwrap_or_default(),
            })
        });
        let outbox: Vec<Queued> = load(&format!("{key}:outbox"))
            .map(|v| {
                v.items()
                    .iter()
                    .filter_map(|q| {
                        Some(Queued {
                            id: q.get("id").string()?,
                            frame: q.get("frame").string()?,
                            text: q.get("text").string(),
                            action: q.get("action").string(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let ui = Ui {
            events: RwSignal::new(Vec::new()),
            pending: RwSignal::new(outbox.iter().filter_map(|q| Some((q.id.clone(), q.text.clone()?))).collect()),
            link: RwSignal::new(Link::Idle),
            notice: RwSignal::new(None),
            typing: RwSignal::new(None),
            thinking: RwSignal::new(false),
            ownership: RwSignal::new(Ownership::Bot),
            feedback: RwSignal::new(Vec::new()),
            form_errors: RwSignal::new(Vec::new()),
            draft: RwSignal::new(String::new()),
            title: RwSignal::new(t.title.to_string()),
            greeting: RwSignal::new(greeting.unwrap_or_else(|| t.greeting.to_string())),
        };
        Rc::new(Session {
            site,
            api: api.trim_end_matches('/').to_string(),
            lang,
            t,
            ui,
            saved: RefCell::new(saved),
            socket: RefCell::new(None),
            generation: Cell::new(0),
            outbox: RefCell::new(outbox),
            attempts: Cell::new(0),
            creating: Cell::new(false),
            timer: Cell::new(None),
            last_seq: Cell::new(0),
            owned_at: Cell::new(0),
            page_sent: RefCell::new(None),
            typing_since: Cell::new(0.0),
            typing_off: Cell::new(None),
            identity: RefCell::new(None),
            context: RefCell::new(None),
            context_sent: RefCell::new(None),
            uploads: RefCell::new(Vec::new()),
        })
    }

    fn key(&self) -> String {
        format!("baton:{}", self.site)
    }

    fn site_url(&self, rest: &str) -> String {
        format!("{}/api/v1/sites/{}/{rest}", self.api, self.site)
    }

    fn save_outbox(&self) {
        let outbox = self.outbox.borrow();
        let key = format!("{}:outbox", self.key());
        if outbox.is_empty() {
            return store(&key, None);
        }
        let opt = |s: &Option<String>| s.clone().map(Json::Str).unwrap_or(Json::Null);
        let items = outbox
            .iter()
            .map(|q| {
                Json::Obj(vec![
                    ("id".into(), Json::Str(q.id.clone())),
                    ("frame".into(), Json::Str(q.frame.clone())),
                    ("text".into(), opt(&q.text)),
                    ("action".into(), opt(&q.action)),
                ])
            })
            .collect();
        store(&key, Some(&Json::Arr(items).to_text()));
    }

    /// Starts talking: connects if there is a conversation, or creates one if frames wait.
    pub fn start(self: &Rc<Self>) {
        if self.saved.borrow().is_some() {
            self.connect();
        } else if !self.outbox.borrow().is_empty() {
            self.create();
        }
        // Back online: don't wait for the backoff.
        let this = self.clone();
        let online = Closure::<dyn FnMut()>::new(move || {
            if this.ui.link.get_untracked() != Link::Online {
                this.attempts.set(0);
                cancel(&this.timer);
                this.start_quietly();
            }
        });
        if let Some(w) = web_sys::window() {
            let _ = w.add_event_listener_with_callback("online", online.as_ref().unchecked_ref());
        }
        online.forget();
    }

    fn start_quietly(self: &Rc<Self>) {
        if self.unavailable() {
            return;
        }
        if self.saved.borrow().is_some() {
            self.connect();
        } else if !self.outbox.borrow().is_empty() {
            self.create();
        }
    }

    /// Creates the conversation (first frame of a new visitor), then connects.
    fn create(self: &Rc<Self>) {
        if self.unavailable() || self.creating.replace(true) {
            return;
        }
        self.ui.link.set(Link::Connecting);
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = this.post_create().await;
            this.creating.set(false);
            match result {
                Ok(saved) => {
                    *this.saved.borrow_mut() = Some(saved);
                    // Who the visitor is goes first, so the first question is already theirs.
                    this.queue_identify(true);
                    this.save_saved();
                    this.connect();
                    this.flush_uploads();
                }
                // Refused for this page: `refused` has said so and stopped everything.
                Err(_) if this.unavailable() => {}
                Err((message, retry)) => {
                    this.ui.notice.set(Some(message));
                    if retry {
                        this.ui.link.set(Link::Reconnecting);
                        this.retry_later();
                    } else {
                        this.ui.link.set(Link::Idle);
                    }
                }
            }
        });
    }

    /// `Err((what to tell the visitor, whether trying again may help))`.
    async fn post_create(&self) -> Result<Saved, (String, bool)> {
        let offline = || (self.t.offline.to_string(), true);
        let body = wire::encode_create_conversation(&CreateConversation { page: current_page(), lang: Some(self.lang.code().into()) });
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&JsValue::from_str(&body));
        let headers = web_sys::Headers::new().map_err(|_| offline())?;
        let _ = headers.set("content-type", "application/json");
        init.set_headers(&headers);
        let (status, text) = fetch_text(&self.site_url("conversations"), &init).await.ok_or_else(offline)?;
        if let Some(c) = (status < 300).then(|| wire::decode_conversation_created(&text)).flatten() {
            return Ok(Saved {
                conversation_id: c.conversation_id.to_string(),
                token: c.visitor_token,
                user: String::new(),
                sent: String::new(),
            });
        }
        if self.refused(&text) {
            return Err((self.t.unavailable.to_string(), false));
        }
        // A 4xx other than 429 is a setup problem (site id, allowed origins) that retrying
        // won't fix: show the server's words, which say what to change.
        let retry = status >= 500 || status == 429;
        Err(match wire::decode_api_error(&text) {
            Some(e) if !retry => (e.message, false),
            _ => offline(),
        })
    }

    /// The site's settings ([`Session::apply_settings`]) once `loaded` (the loader's fetch)
    /// resolves, or fetched here if there is no such fetch or it failed.
    pub fn fetch_settings(self: &Rc<Self>, loaded: Option<js_sys::Promise>, has_greeting: bool, theme: Option<js_sys::Function>) {
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let loaded = match loaded {
                Some(p) => wasm_bindgen_futures::JsFuture::from(p).await.ok().as_ref().and_then(status_and_body),
                None => None,
            };
            let fetched = match loaded {
                Some(got) => Some(got),
                None => {
                    let url = format!("{}?lang={}", this.site_url("widget"), this.lang.code());
                    fetch_text(&url, &web_sys::RequestInit::new()).await
                }
            };
            if let Some((status, text)) = fetched {
                this.apply_settings(status, &text, has_greeting, theme);
            }
        });
    }

    /// The site's settings response (`GET …/widget`, fetched here or by the loader): the
    /// site's name and greeting in the visitor's language, and the colour, handed to the
    /// loader's theme. A page the site does not allow learns it here, before the visitor types
    /// anything.
    pub fn apply_settings(&self, status: u16, text: &str, has_greeting: bool, theme: Option<js_sys::Function>) {
        if status != 200 {
            self.refused(text);
            return;
        }
        let Some(s) = wire::decode_widget_settings(text) else { return };
        self.ui.title.set(s.name);
        if !has_greeting && !s.greeting.is_empty() {
            self.ui.greeting.set(s.greeting);
        }
        if let (Some(theme), Some(c)) = (theme, s.color) {
            let _ = theme.call1(&JsValue::NULL, &JsValue::from_str(&c));
        }
    }

    /// Whether this page may not use the chat (see `Link::Unavailable`).
    pub fn unavailable(&self) -> bool {
        self.ui.link.get_untracked() == Link::Unavailable
    }

    /// If `body` is the server refusing this page's origin: stops every retry for good, says
    /// so in the panel and tells the site owner in the console (the server's words name the
    /// `allowed_origins` entry to add). Returns whether it was.
    fn refused(&self, body: &str) -> bool {
        let Some(e) = wire::decode_api_error(body).filter(|e| e.code == ErrorCode::OriginNotAllowed) else { return false };
        web_sys::console::error_1(&JsValue::from_str(&format!("Baton: {}", e.message)));
        cancel(&self.timer);
        self.generation.set(self.generation.get() + 1);
        if let Some(ws) = self.socket.borrow_mut().take() {
            let _ = ws.close();
        }
        self.ui.thinking.set(false);
        self.ui.notice.set(None);
        self.ui.link.set(Link::Unavailable);
        true
    }

    fn connect(self: &Rc<Self>) {
        if self.socket.borrow().is_some() || self.unavailable() {
            return;
        }
        let Some(saved) = self.saved.borrow().clone() else { return };
        cancel(&self.timer);
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        if self.ui.link.get_untracked() != Link::Reconnecting {
            self.ui.link.set(Link::Connecting);
        }
        let base = self.api.replacen("http", "ws", 1);
        let url = format!("{base}/api/v1/sites/{}/conversations/{}/ws", self.site, saved.conversation_id);
        let Ok(ws) = web_sys::WebSocket::new(&url) else {
            return self.retry_later();
        };
        let hello = wire::encode_client_msg(&ClientMsg::Hello { token: Some(saved.token), after: self.last_seq.get() });
        let (t1, t2) = (self.clone(), self.clone());
        let ws2 = ws.clone();
        let onopen = Closure::<dyn FnMut()>::new(move || {
            let _ = ws2.send_with_str(&hello);
        });
        let onmessage = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            if t1.generation.get() == generation {
                if let Some(text) = e.data().as_string() {
                    t1.on_frame(&text);
                }
            }
        });
        let onclose = Closure::<dyn FnMut(web_sys::CloseEvent)>::new(move |e: web_sys::CloseEvent| {
            if t2.generation.get() != generation {
                return;
            }
            *t2.socket.borrow_mut() = None;
            t2.ui.typing.set(None);
            t2.ui.thinking.set(false);
            let code = e.code();
            if code == ErrorCode::Unauthorized.close_code() || code == ErrorCode::UnknownConversation.close_code() {
                // The thread is gone (erased, or the token no longer matches): start afresh
                // with the next message; what is still queued goes into the new thread.
                store(&t2.key(), None);
                *t2.saved.borrow_mut() = None;
                t2.last_seq.set(0);
                t2.owned_at.set(0);
                t2.ui.ownership.set(Ownership::Bot);
                t2.ui.events.set(Vec::new());
                t2.ui.link.set(Link::Idle);
                t2.start_quietly();
                return;
            }
            if code == ErrorCode::TooManyConnections.close_code() {
                t2.ui.notice.set(Some(t2.t.too_many_tabs.to_string()));
            }
            t2.ui.link.set(Link::Reconnecting);
            t2.retry_later();
        });
        ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        ws.set_onclose(Some(onclose.as_ref().unchecked_ref()));
        // One socket per (re)connect, a few per visit: the callbacks live as long as the page.
        onopen.forget();
        onmessage.forget();
        onclose.forget();
        *self.socket.borrow_mut() = Some(ws);
    }

    /// Tries again later: 0.5 s, 1 s, 2 s … 10 s, ±20 % so many widgets don't reconnect in step.
    /// (Capped low: a chat that takes half a minute to come back feels broken.)
    fn retry_later(self: &Rc<Self>) {
        if self.unavailable() {
            return;
        }
        let n = self.attempts.get().min(10);
        self.attempts.set(n + 1);
        let delay = (500.0 * 2f64.powi(n as i32)).min(10_000.0) * (0.8 + 0.4 * js_sys::Math::random());
        let this = self.clone();
        cancel(&self.timer);
        self.timer.set(after(delay as i32, move || {
            this.timer.set(None);
            this.start_quietly();
        }));
    }

    fn on_frame(self: &Rc<Self>, text: &str) {
        let msg = match wire::decode_server_msg(text) {
            Decoded::Msg(m) => m,
            Decoded::Skipped { seq } => {
                if let Some(s) = seq {
                    self.last_seq.set(self.last_seq.get().max(s));
                }
                return;
            }
        };
        let ui = self.ui;
        match msg {
            ServerMsg::Welcome { ownership, last_seq, .. } => {
                self.attempts.set(0);
                ui.link.set(Link::Online);
                ui.ownership.set(ownership);
                self.owned_at.set(last_seq);
                self.send_page();
                self.send_context();
                // Everything queued goes out now, in order, under its original client id.
                let frames: Vec<String> = self.outbox.borrow().iter().map(|q| q.frame.clone()).collect();
                for f in frames {
                    self.send_raw(&f);
                }
            }
            ServerMsg::Event { event } => self.on_event(event),
            ServerMsg::Ack { client_id, .. } => {
                self.settled(&client_id);
                ui.notice.set(None);
            }
            ServerMsg::Typing { who, on } => match who {
                Typist::Operator { name } => ui.typing.set(on.then_some(name)),
                Typist::Bot => ui.thinking.set(on),
                Typist::Visitor => {}
            },
            ServerMsg::Error { error, client_id } => self.on_error(error, client_id),
            ServerMsg::Pong => {}
        }
    }

    fn on_event(&self, e: Event) {
        let ui = self.ui;
        self.last_seq.set(self.last_seq.get().max(e.seq));
        if let Some(cid) = &e.client_id {
            self.settled(cid);
        }
        // Who owns the thread (the header's state, the bot's "looking in the docs…"): the
        // one rule every side folds the log with. A replay brings only later events.
        if e.seq > self.owned_at.get() {
            self.owned_at.set(e.seq);
            let next = ui.ownership.with_untracked(|o| o.after(&e.kind, e.at));
            if ui.ownership.with_untracked(|o| *o != next) {
                ui.ownership.set(next);
            }
        }
        match &e.kind {
            EventKind::BotAnswer { .. } | EventKind::HandoffRequested { .. } => ui.thinking.set(false),
            EventKind::OperatorMessage { .. } => ui.typing.set(None),
            EventKind::FieldsCollected { action, .. } => ui.form_errors.update(|f| f.retain(|(a, _, _)| a != action)),
            EventKind::Feedback { answer_seq, helpful } => ui.feedback.update(|f| {
                f.retain(|(s, _)| s != answer_seq);
                f.push((*answer_seq, *helpful));
            }),
            _ => {}
        }
        ui.events.update(|list| {
            // Kept in seq order, each seq once: a replay after a reconnect adds nothing twice.
            if let Err(i) = list.binary_search_by_key(&e.seq, |x| x.seq) {
                list.insert(i, e);
            }
        });
    }

    /// A queued frame is stored (acked, or seen as an event): stop resending it.
    fn settled(&self, client_id: &str) {
        let was_message = {
            let mut outbox = self.outbox.borrow_mut();
            let before = outbox.len();
            let msg = outbox.iter().any(|q| q.id == client_id && q.text.is_some());
            outbox.retain(|q| q.id != client_id);
            if outbox.len() == before {
                return;
            }
            msg
        };
        self.save_outbox();
        self.ui.pending.update(|p| p.retain(|(c, _)| c != client_id));
        if was_message && self.outbox.borrow().iter().all(|q| q.text.is_none()) {
            // The server answers before it acks: whatever the bot had to say has arrived.
            self.ui.thinking.set(false);
        }
    }

    fn on_error(self: &Rc<Self>, error: ErrorBody, client_id: Option<String>) {
        let ui = self.ui;
        let queued = client_id.and_then(|c| self.outbox.borrow().iter().find(|q| q.id == c).cloned());
        let Some(q) = queued else {
            return ui.notice.set(Some(self.notice_for(&error)));
        };
        if error.code == ErrorCode::RateLimited {
            // Not refused for good: keep it queued and send it again when allowed.
            ui.notice.set(Some(self.t.rate_limited.to_string()));
            let this = self.clone();
            let wait = error.retry_after.unwrap_or(5).clamp(1, 300) as i32 * 1000;
            after(wait, move || {
                if this.outbox.borrow().iter().any(|x| x.id == q.id) {
                    this.send_raw(&q.frame);
                }
            });
            return;
        }
        // Refused for good (too long, invalid): drop it, and give the visitor their words back.
        self.outbox.borrow_mut().retain(|x| x.id != q.id);
        self.save_outbox();
        ui.pending.update(|p| p.retain(|(c, _)| *c != q.id));
        ui.thinking.set(false);
        if let (Some(action), Some(field)) = (q.action, error.field.clone()) {
            ui.form_errors.update(|f| f.push((action, field, error.message)));
            return;
        }
        if let Some(text) = q.text {
            if ui.draft.get_untracked().trim().is_empty() {
                ui.draft.set(text);
            }
        }
        ui.notice.set(Some(self.notice_for(&error)));
    }

    /// What the visitor reads about a refused frame: in their language (the server's
    /// English words are for the API's users), the server's own only in English.
    fn notice_for(&self, e: &ErrorBody) -> String {
        let t = self.t;
        match e.code {
            ErrorCode::RateLimited => t.rate_limited,
            ErrorCode::TooLarge => t.too_large,
            ErrorCode::TooManyConnections => t.too_many_tabs,
            ErrorCode::IndexUnavailable => t.no_answers,
            ErrorCode::UnknownConversation => t.erased,
            ErrorCode::OriginNotAllowed => t.unavailable,
            _ if self.lang == Lang::En => &e.message,
            _ => t.failed,
        }
        .to_string()
    }

    fn send_raw(&self, frame: &str) {
        if let Some(ws) = self.socket.borrow().as_ref() {
            if ws.ready_state() == web_sys::WebSocket::OPEN {
                let _ = ws.send_with_str(frame);
            }
        }
    }

    fn online(&self) -> bool {
        self.ui.link.get_untracked() == Link::Online
    }

    /// Queues a frame that changes the log under a fresh client id and sends it when online.
    /// `make` builds the frame from the id. Returns false (with a notice) if the frame is
    /// refused before sending — the same checks the server makes (`ClientMsg::validate`).
    pub fn submit(self: &Rc<Self>, make: impl FnOnce(String) -> ClientMsg, text: Option<String>, action: Option<String>) -> bool {
        let id = random_id();
        let msg = make(id.clone());
        if let Err(e) = msg.validate() {
            self.ui.notice.set(Some(self.notice_for(&e)));
            return false;
        }
        self.ui.notice.set(None);
        let frame = wire::encode_client_msg(&msg);
        if let Some(t) = &text {
            self.ui.pending.update(|p| p.push((id.clone(), t.clone())));
            if self.ui.ownership.get_untracked() == Ownership::Bot {
                self.ui.thinking.set(true);
            }
            self.typing_done();
        }
        self.outbox.borrow_mut().push(Queued { id, frame: frame.clone(), text, action });
        self.save_outbox();
        if self.online() {
            self.send_raw(&frame);
        } else if self.saved.borrow().is_none() {
            self.create();
        }
        true
    }

    /// Sends the page the visitor is on, when it changed since last sent.
    pub fn send_page(&self) {
        let Some(page) = current_page() else { return };
        if !self.online() || self.page_sent.borrow().as_ref() == Some(&page) {
            return;
        }
        self.send_raw(&wire::encode_client_msg(&ClientMsg::Page { page: page.clone() }));
        *self.page_sent.borrow_mut() = Some(page);
    }

    /// The visitor typed: tell a human who is on the thread, at most every 3 s, and that they
    /// stopped after 4 s without a key. Bots don't care.
    pub fn typed(self: &Rc<Self>) {
        if !self.online() || matches!(self.ui.ownership.get_untracked(), Ownership::Bot | Ownership::Resolved { .. }) {
            return;
        }
        let now = js_sys::Date::now();
        if now - self.typing_since.get() > 3000.0 {
            self.send_raw(&wire::encode_client_msg(&ClientMsg::Typing { on: true }));
            self.typing_since.set(now);
        }
        cancel(&self.typing_off);
        let this = self.clone();
        self.typing_off.set(after(4000, move || {
            this.typing_off.set(None);
            this.typing_done();
        }));
    }

    fn typing_done(&self) {
        cancel(&self.typing_off);
        if self.typing_since.replace(0.0) > 0.0 {
            self.send_raw(&wire::encode_client_msg(&ClientMsg::Typing { on: false }));
        }
    }
}

/// GET or POST; `(status, body)`, or `None` when the network failed.
async fn fetch_text(url: &str, init: &web_sys::RequestInit) -> Option<(u16, String)> {
    let w = web_sys::window()?;
    let resp: web_sys::Response = JsFuture::from(w.fetch_with_str_and_init(url, init)).await.ok()?.unchecked_into();
    let text = JsFuture::from(resp.text().ok()?).await.ok()?.as_string()?;
    Some((resp.status(), text))
}

/// A response the loader fetched: `[status, body]`.
pub fn status_and_body(v: &JsValue) -> Option<(u16, String)> {
    let a = v.dyn_ref::<js_sys::Array>()?;
    Some((a.get(0).as_f64()? as u16, a.get(1).as_string()?))
}
