//! The visitor's chat panel. `widget.js` draws the launcher, and on first open imports this
//! module and calls [`mount`] with a `<div>` inside its shadow root.
//!
//! The panel keeps the conversation id and token per site in `localStorage`, so a reload or
//! another page continues the same thread. It talks to the `Conversation` object over one
//! WebSocket: `hello` with the last seen seq, then live events; messages carry client ids and
//! stay queued until acknowledged, so nothing typed is lost or doubled across reconnects.

use baton_shared::protocol::*;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// What the loader passes from the script tag's `data-` attributes.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Options {
    pub site: String,
    pub api: String,
    #[serde(default)]
    pub greeting: Option<String>,
    #[serde(default)]
    pub lang: Option<String>,
}

/// What survives a reload, per site.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Saved {
    conversation_id: ConversationId,
    token: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Link {
    Connecting,
    Online,
    Reconnecting,
}

#[derive(Clone, Copy)]
struct Ui {
    events: RwSignal<Vec<Event>>,
    /// Sent (or queued) but not yet acknowledged: (client id, text).
    pending: RwSignal<Vec<(String, String)>>,
    link: RwSignal<Link>,
    notice: RwSignal<Option<String>>,
    typing: RwSignal<Option<String>>,
}

struct Session {
    opts: Options,
    ui: Ui,
    saved: RefCell<Option<Saved>>,
    socket: RefCell<Option<web_sys::WebSocket>>,
    /// Frames waiting to be (re)sent once the socket is ready, by client id.
    outbox: RefCell<Vec<(String, ClientMsg)>>,
    attempts: RefCell<u32>,
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn storage_key(site: &str) -> String {
    format!("baton:{site}")
}

fn random_id() -> String {
    let mut b = [0u8; 12];
    if let Some(c) = web_sys::window().and_then(|w| w.crypto().ok()) {
        let _ = c.get_random_values_with_u8_array(&mut b);
    }
    hex(&b)
}

fn current_page() -> Option<Page> {
    let w = web_sys::window()?;
    let d = w.document()?;
    Some(Page { url: w.location().href().ok()?, title: d.title() })
}

impl Session {
    fn ws_url(&self, id: &ConversationId) -> String {
        let base = self.opts.api.trim_end_matches('/').replacen("http", "ws", 1);
        format!("{base}/api/v1/sites/{}/conversations/{id}/ws", self.opts.site)
    }

    fn last_seq(&self) -> u64 {
        self.ui.events.with_untracked(|e| e.last().map(|e| e.seq).unwrap_or(0))
    }

    async fn ensure_conversation(self: &Rc<Self>) -> Result<Saved, String> {
        if let Some(s) = self.saved.borrow().clone() {
            return Ok(s);
        }
        let body =
            serde_json::to_string(&CreateConversation { page: current_page(), lang: self.opts.lang.clone() }).map_err(|e| e.to_string())?;
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&JsValue::from_str(&body));
        let headers = web_sys::Headers::new().map_err(|_| "headers")?;
        let _ = headers.set("content-type", "application/json");
        init.set_headers(&headers);
        let url = format!("{}/api/v1/sites/{}/conversations", self.opts.api.trim_end_matches('/'), self.opts.site);
        let w = web_sys::window().ok_or("no window")?;
        let resp: web_sys::Response =
            JsFuture::from(w.fetch_with_str_and_init(&url, &init)).await.map_err(|_| "offline".to_string())?.unchecked_into();
        let text = JsFuture::from(resp.text().map_err(|_| "body")?).await.map_err(|_| "body")?.as_string().unwrap_or_default();
        if !resp.ok() {
            let e: Result<ApiError, _> = serde_json::from_str(&text);
            return Err(e.map(|e| e.error.message).unwrap_or(text));
        }
        let c: ConversationCreated = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let saved = Saved { conversation_id: c.conversation_id, token: c.visitor_token };
        if let Some(s) = storage() {
            let _ = s.set_item(&storage_key(&self.opts.site), &serde_json::to_string(&saved).unwrap_or_default());
        }
        *self.saved.borrow_mut() = Some(saved.clone());
        Ok(saved)
    }

    fn connect(self: &Rc<Self>) {
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let saved = match this.ensure_conversation().await {
                Ok(s) => s,
                Err(e) => {
                    this.ui.notice.set(Some(e));
                    this.retry_later();
                    return;
                }
            };
            let Ok(ws) = web_sys::WebSocket::new(&this.ws_url(&saved.conversation_id)) else {
                this.retry_later();
                return;
            };
            let (t1, t2, t3) = (this.clone(), this.clone(), this.clone());
            let hello =
                serde_json::to_string(&ClientMsg::Hello { token: Some(saved.token.clone()), after: this.last_seq() }).unwrap_or_default();
            let ws2 = ws.clone();
            let onopen = Closure::<dyn FnMut()>::new(move || {
                let _ = ws2.send_with_str(&hello);
                *t1.attempts.borrow_mut() = 0;
            });
            let onmessage = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                if let Some(text) = e.data().as_string() {
                    if let Ok(msg) = serde_json::from_str::<ServerMsg>(&text) {
                        t2.on_server(msg);
                    }
                }
            });
            let onclose = Closure::<dyn FnMut(web_sys::CloseEvent)>::new(move |e: web_sys::CloseEvent| {
                *t3.socket.borrow_mut() = None;
                if e.code() == ErrorCode::Unauthorized.close_code() || e.code() == 4404 {
                    // The thread is gone (erased, or token lost): start a fresh one.
                    if let Some(s) = storage() {
                        let _ = s.remove_item(&storage_key(&t3.opts.site));
                    }
                    *t3.saved.borrow_mut() = None;
                    t3.ui.events.set(Vec::new());
                }
                t3.ui.link.set(Link::Reconnecting);
                t3.retry_later();
            });
            ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));
            ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
            ws.set_onclose(Some(onclose.as_ref().unchecked_ref()));
            onopen.forget();
            onmessage.forget();
            onclose.forget();
            *this.socket.borrow_mut() = Some(ws);
        });
    }

    /// Reconnects with exponential backoff (0.5 s … 15 s).
    fn retry_later(self: &Rc<Self>) {
        let n = {
            let mut a = self.attempts.borrow_mut();
            *a += 1;
            *a
        };
        let delay = (500 * 2u32.pow(n.min(5))).min(15_000) as i32;
        let this = self.clone();
        let cb = Closure::once_into_js(move || this.connect());
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), delay);
        }
    }

    fn on_server(self: &Rc<Self>, msg: ServerMsg) {
        match msg {
            ServerMsg::Welcome { .. } => {
                self.ui.link.set(Link::Online);
                self.ui.notice.set(None);
                if let Some(p) = current_page() {
                    self.send_now(&ClientMsg::Page { page: p });
                }
                // Everything typed while offline goes out now, once, under its original id.
                let queued: Vec<ClientMsg> = self.outbox.borrow().iter().map(|(_, m)| m.clone()).collect();
                for m in queued {
                    self.send_now(&m);
                }
            }
            ServerMsg::Event { event } => {
                if let Some(cid) = &event.client_id {
                    self.ack(cid);
                }
                self.ui.events.update(|list| {
                    if list.last().is_none_or(|l| l.seq < event.seq) {
                        list.push(event);
                    } else if let Err(i) = list.binary_search_by_key(&event.seq, |e| e.seq) {
                        list.insert(i, event);
                    }
                });
                self.ui.typing.set(None);
            }
            ServerMsg::Ack { client_id, .. } => self.ack(&client_id),
            ServerMsg::Typing { who, on } => self.ui.typing.set(on.then(|| match who {
                Typist::Operator { name } => format!("{name} is typing…"),
                _ => "Typing…".to_string(),
            })),
            ServerMsg::Error { error, client_id } => {
                if let Some(cid) = client_id {
                    // Refused for good (too long, rate limited…): don't resend it forever.
                    self.ack(&cid);
                }
                self.ui.notice.set(Some(error.message));
            }
            ServerMsg::Pong => {}
        }
    }

    fn ack(&self, client_id: &str) {
        self.outbox.borrow_mut().retain(|(c, _)| c != client_id);
        self.ui.pending.update(|p| p.retain(|(c, _)| c != client_id));
    }

    fn send_now(&self, msg: &ClientMsg) {
        if let (Some(ws), Ok(s)) = (self.socket.borrow().as_ref(), serde_json::to_string(msg)) {
            if ws.ready_state() == web_sys::WebSocket::OPEN {
                let _ = ws.send_with_str(&s);
            }
        }
    }

    /// Queues a frame under a fresh client id and sends it if online.
    fn submit(&self, make: impl FnOnce(String) -> ClientMsg, shown: Option<String>) {
        let id = random_id();
        let msg = make(id.clone());
        self.outbox.borrow_mut().push((id.clone(), msg.clone()));
        if let Some(text) = shown {
            self.ui.pending.update(|p| p.push((id, text)));
        }
        if self.ui.link.get_untracked() == Link::Online {
            self.send_now(&msg);
        }
    }
}

/// Mounts the panel into `el` (a div in the widget's shadow root). Called by widget.js.
#[wasm_bindgen]
pub fn mount(el: web_sys::HtmlElement, options: JsValue) -> Result<(), JsValue> {
    let opts: Options = serde_json::from_str(&js_sys::JSON::stringify(&options)?.as_string().unwrap_or_default())
        .map_err(|e| JsValue::from_str(&e.to_string()))?;
    let saved = storage()
        .and_then(|s| s.get_item(&storage_key(&opts.site)).ok().flatten())
        .and_then(|raw| serde_json::from_str::<Saved>(&raw).ok());
    let ui = Ui {
        events: RwSignal::new(Vec::new()),
        pending: RwSignal::new(Vec::new()),
        link: RwSignal::new(Link::Connecting),
        notice: RwSignal::new(None),
        typing: RwSignal::new(None),
    };
    let session = Rc::new(Session {
        opts,
        ui,
        saved: RefCell::new(saved),
        socket: RefCell::new(None),
        outbox: RefCell::new(Vec::new()),
        attempts: RefCell::new(0),
    });
    session.connect();
    let handle = leptos::mount::mount_to(el, move || view! { <Panel session=session.clone()/> });
    handle.forget();
    Ok(())
}

#[component]
fn Panel(session: Rc<Session>) -> impl IntoView {
    let ui = session.ui;
    let greeting = session.opts.greeting.clone().unwrap_or_else(|| "Hi! Ask me anything about the docs — or talk to a person.".into());
    let draft = RwSignal::new(String::new());
    let s1 = session.clone();
    let send = move || {
        let text = draft.get_untracked().trim().to_string();
        if text.is_empty() {
            return;
        }
        draft.set(String::new());
        let t = text.clone();
        s1.submit(move |client_id| ClientMsg::Message { client_id, text: t }, Some(text));
    };
    let send2 = send.clone();
    let s2 = session.clone();
    let human = move |_| s2.submit(|client_id| ClientMsg::RequestHuman { client_id }, None);
    view! {
        <div class="panel" role="dialog" aria-label="Chat with us">
            <div class="header">
                <span class="title">"Ask the docs"</span>
                <button class="human" type="button" on:click=human>"Talk to a human"</button>
            </div>
            <div class="status" aria-live="polite">
                {move || match ui.link.get() {
                    Link::Reconnecting => Some(view! { <span class="reconnecting">"Reconnecting…"</span> }),
                    _ => None,
                }}
                {move || ui.notice.get().map(|n| view! { <span class="notice">{n}</span> })}
            </div>
            <div class="log" role="log" aria-live="polite">
                <div class="msg bot">{greeting}</div>
                <For each=move || ui.events.get() key=|e| e.seq let:e>
                    {event_view(e)}
                </For>
                <For each=move || ui.pending.get() key=|p| p.0.clone() let:p>
                    <div class="msg visitor pending">{p.1}</div>
                </For>
                {move || ui.typing.get().map(|t| view! { <div class="typing">{t}</div> })}
            </div>
            <form class="composer" on:submit=move |ev| { ev.prevent_default(); send(); }>
                <textarea
                    aria-label="Your message"
                    placeholder="Ask a question…"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                    on:keydown=move |ev: web_sys::KeyboardEvent| {
                        if ev.key() == "Enter" && !ev.shift_key() { ev.prevent_default(); send2(); }
                    }
                ></textarea>
                <button type="submit" class="send">"Send"</button>
            </form>
        </div>
    }
}

fn event_view(e: Event) -> AnyView {
    match e.kind {
        EventKind::VisitorMessage { text } => view! { <div class="msg visitor">{text}</div> }.into_any(),
        EventKind::BotAnswer { answer, .. } => {
            let sources = answer.citations.clone();
            view! {
                <div class="msg bot" data-seq=e.seq>
                    <div class="text">{answer.text}</div>
                    {(!sources.is_empty()).then(|| view! {
                        <div class="sources">
                            {sources.into_iter().map(|c| {
                                let label = format!("From: {}", c.breadcrumb());
                                view! { <a href=c.url target="_blank" rel="noopener noreferrer">{label}</a> }
                            }).collect_view()}
                        </div>
                    })}
                </div>
            }
            .into_any()
        }
        EventKind::OperatorMessage { operator, text } => view! {
            <div class="msg operator"><span class="who">{operator.name}</span><div class="text">{text}</div></div>
        }
        .into_any(),
        EventKind::HandoffRequested { operators_online, .. } => {
            let text = if operators_online {
                "Connecting you with the team — they'll see this whole conversation."
            } else {
                "Nobody from the team is online right now. Leave your email and we'll get back to you — this whole conversation stays with your message."
            };
            view! { <div class="system">{text}</div> }.into_any()
        }
        EventKind::OperatorJoined { operator } => {
            view! { <div class="system joined">{format!("{} joined", operator.name)}</div> }.into_any()
        }
        EventKind::Resolved { .. } => {
            view! { <div class="system">"This conversation was resolved. Write again any time."</div> }.into_any()
        }
        EventKind::HandedBack { .. } => view! { <div class="system">"You're back with the docs assistant."</div> }.into_any(),
        _ => ().into_any(),
    }
}
