//! The operators' inbox: sign in, see the site's conversations live (the `Inbox` object's
//! socket), open one (its `Conversation` object's socket, as an operator), take over, reply,
//! note, resolve. Everything user-supplied is rendered as text, never as HTML.

use baton_shared::protocol::*;
use gloo_net::http::Request;
use leptos::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

fn api_base(site: &str) -> String {
    format!("/api/v1/sites/{site}")
}

fn ws_base() -> String {
    let loc = web_sys::window().expect("window").location();
    let proto = if loc.protocol().unwrap_or_default() == "https:" { "wss" } else { "ws" };
    format!("{proto}://{}", loc.host().unwrap_or_default())
}

fn random_id() -> String {
    let mut b = [0u8; 12];
    if let Some(c) = web_sys::window().and_then(|w| w.crypto().ok()) {
        let _ = c.get_random_values_with_u8_array(&mut b);
    }
    hex(&b)
}

/// Starts the inbox for a site in `<body>`. Called by inbox.html.
#[wasm_bindgen]
pub fn start(site: String) {
    leptos::mount::mount_to_body(move || view! { <App site=site.clone()/> });
}

#[derive(Clone, Copy)]
struct Store {
    me: RwSignal<Option<OperatorRef>>,
    rows: RwSignal<Vec<ConversationSummary>>,
    presence: RwSignal<Vec<Presence>>,
    open: RwSignal<Option<ConversationId>>,
    thread: RwSignal<Vec<Event>>,
    error: RwSignal<Option<String>>,
}

/// One open socket with its callbacks (kept alive together, dropped together).
struct Socket {
    ws: web_sys::WebSocket,
    _cbs: (Closure<dyn FnMut(web_sys::MessageEvent)>, Closure<dyn FnMut()>),
}

fn open_socket(url: &str, hello: Option<String>, on_text: impl FnMut(String) + 'static) -> Option<Socket> {
    let ws = web_sys::WebSocket::new(url).ok()?;
    let mut on_text = on_text;
    let onmessage = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
        if let Some(t) = e.data().as_string() {
            on_text(t);
        }
    });
    let ws2 = ws.clone();
    let onopen = Closure::<dyn FnMut()>::new(move || {
        if let Some(h) = &hello {
            let _ = ws2.send_with_str(h);
        }
    });
    ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));
    Some(Socket { ws, _cbs: (onmessage, onopen) })
}

#[component]
fn App(site: String) -> impl IntoView {
    let store = Store {
        me: RwSignal::new(None),
        rows: RwSignal::new(Vec::new()),
        presence: RwSignal::new(Vec::new()),
        open: RwSignal::new(None),
        thread: RwSignal::new(Vec::new()),
        error: RwSignal::new(None),
    };
    let checked = RwSignal::new(false);
    let inbox_socket: Rc<RefCell<Option<Socket>>> = Rc::new(RefCell::new(None));
    let site2 = site.clone();
    let connect_inbox = {
        let inbox_socket = inbox_socket.clone();
        let site = site.clone();
        move || {
            let url = format!("{}{}/inbox/ws", ws_base(), api_base(&site));
            let s = open_socket(&url, None, move |text| match serde_json::from_str::<InboxServerMsg>(&text) {
                Ok(InboxServerMsg::Snapshot { me, rows, presence }) => {
                    store.me.set(Some(me));
                    store.rows.set(rows);
                    store.presence.set(presence);
                }
                Ok(InboxServerMsg::Row { row }) => store.rows.update(|rows| match rows.iter_mut().find(|r| r.id == row.id) {
                    Some(r) => *r = row,
                    None => rows.insert(0, row),
                }),
                Ok(InboxServerMsg::Removed { id }) => store.rows.update(|rows| rows.retain(|r| r.id != id)),
                Ok(InboxServerMsg::Presence { presence }) => store.presence.set(presence),
                Ok(InboxServerMsg::Error { error }) => store.error.set(Some(error.message)),
                Ok(InboxServerMsg::Pong) | Err(_) => {}
            });
            *inbox_socket.borrow_mut() = s;
        }
    };
    let connect_inbox = Rc::new(connect_inbox);
    {
        let connect_inbox = connect_inbox.clone();
        let site = site.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Ok(r) = Request::get(&format!("{}/me", api_base(&site))).send().await {
                if r.ok() {
                    if let Ok(me) = r.json::<Me>().await {
                        store.me.set(Some(me.operator));
                        connect_inbox();
                    }
                }
            }
            checked.set(true);
        });
    }
    let connect_after_login = StoredValue::new_local(connect_inbox.clone());
    view! {
        <div class="inbox">
            {move || store.error.get().map(|e| view! { <div class="error" role="alert">{e}</div> })}
            {move || {
                if !checked.get() {
                    view! { <p class="loading">"Loading…"</p> }.into_any()
                } else if store.me.get().is_none() {
                    view! { <Login site=site2.clone() store=store on_login=move || connect_after_login.with_value(|c| c())/> }.into_any()
                } else {
                    view! { <Main site=site.clone() store=store/> }.into_any()
                }
            }}
        </div>
    }
}

#[component]
fn Login(site: String, store: Store, on_login: impl Fn() + Clone + 'static) -> impl IntoView {
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let submit = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        let site = site.clone();
        let on_login = on_login.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let body = LoginRequest { email: email.get_untracked(), password: password.get_untracked() };
            let resp = match Request::post(&format!("{}/login", api_base(&site))).json(&body) {
                Ok(r) => r.send().await,
                Err(e) => Err(e),
            };
            match resp {
                Ok(r) if r.ok() => {
                    if let Ok(me) = r.json::<Me>().await {
                        store.error.set(None);
                        store.me.set(Some(me.operator));
                        on_login();
                    }
                }
                Ok(r) => {
                    let msg = r.json::<ApiError>().await.map(|e| e.error.message).unwrap_or_else(|_| "sign-in failed".into());
                    store.error.set(Some(msg));
                }
                Err(_) => store.error.set(Some("cannot reach the server".into())),
            }
        });
    };
    view! {
        <form class="login" on:submit=submit>
            <h1>"Baton inbox"</h1>
            <label>"Email" <input type="email" name="email" autocomplete="username" on:input=move |e| email.set(event_target_value(&e))/></label>
            <label>"Password" <input type="password" name="password" autocomplete="current-password" on:input=move |e| password.set(event_target_value(&e))/></label>
            <button type="submit">"Sign in"</button>
        </form>
    }
}

fn status_label(o: &Ownership) -> &'static str {
    match o {
        Ownership::Bot => "Bot",
        Ownership::WaitingForHuman { .. } => "Waiting",
        Ownership::Human { .. } => "Human",
        Ownership::Resolved { .. } => "Resolved",
    }
}

#[component]
fn Main(site: String, store: Store) -> impl IntoView {
    let conv_socket: Rc<RefCell<Option<Socket>>> = Rc::new(RefCell::new(None));
    let open_conv = {
        let conv_socket = conv_socket.clone();
        let site = site.clone();
        move |id: ConversationId| {
            store.open.set(Some(id.clone()));
            store.thread.set(Vec::new());
            let url = format!("{}{}/conversations/{}/ws?as=operator", ws_base(), api_base(&site), id);
            let hello = serde_json::to_string(&ClientMsg::Hello { token: None, after: 0 }).ok();
            let s = open_socket(&url, hello, move |text| match serde_json::from_str::<ServerMsg>(&text) {
                Ok(ServerMsg::Event { event }) => store.thread.update(|t| {
                    if !t.iter().any(|e| e.seq == event.seq) {
                        t.push(event);
                        t.sort_by_key(|e| e.seq);
                    }
                }),
                Ok(ServerMsg::Error { error, .. }) => store.error.set(Some(error.message)),
                _ => {}
            });
            *conv_socket.borrow_mut() = s;
        }
    };
    let send: Rc<dyn Fn(ClientMsg)> = {
        let conv_socket = conv_socket.clone();
        Rc::new(move |m: ClientMsg| {
            if let (Some(s), Ok(text)) = (conv_socket.borrow().as_ref(), serde_json::to_string(&m)) {
                let _ = s.ws.send_with_str(&text);
            }
        })
    };
    let rows = move || {
        let mut rows = store.rows.get();
        // Waiting first (oldest first), then the rest by recent activity.
        rows.sort_by_key(|r| match r.ownership {
            Ownership::WaitingForHuman { since } => (0, since),
            Ownership::Human { .. } => (1, -r.updated_at),
            Ownership::Bot => (2, -r.updated_at),
            Ownership::Resolved { .. } => (3, -r.updated_at),
        });
        rows
    };
    let open_conv = StoredValue::new_local(Rc::new(open_conv));
    let send = StoredValue::new_local(send);
    view! {
        <header class="top">
            <strong>"Baton inbox"</strong>
            <span class="me">{move || store.me.get().map(|m| m.name).unwrap_or_default()}</span>
            <span class="presence">{move || format!("{} online", store.presence.get().iter().filter(|p| !p.away).count())}</span>
        </header>
        <div class="columns">
            <ul class="list" aria-label="Conversations">
                <For each=rows key=|r| (r.id.clone(), r.last_seq) let:row>
                    {
                        let id = row.id.clone();
                        let reason = row.handoff.as_ref().map(|h| h.reason.describe()).unwrap_or("");
                        view! {
                            <li class="row" data-id=row.id.to_string() data-status=row.ownership.label() on:click=move |_| open_conv.with_value(|f| f(id.clone()))>
                                <span class="status">{status_label(&row.ownership)}</span>
                                <span class="reason">{reason}</span>
                                <span class="preview">{row.last_message.as_ref().map(|m| m.text.clone()).unwrap_or_default()}</span>
                                <span class="page">{row.page.as_ref().map(|p| p.title.clone()).unwrap_or_default()}</span>
                            </li>
                        }
                    }
                </For>
            </ul>
            <section class="thread">
                {move || store.open.get().is_some().then(|| view! { <Thread store=store send=send.get_value()/> })}
            </section>
        </div>
    }
}

#[component]
fn Thread(store: Store, send: Rc<dyn Fn(ClientMsg)>) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let (s1, s2, s3, s4) = (send.clone(), send.clone(), send.clone(), send.clone());
    let reply = move || {
        let text = draft.get_untracked().trim().to_string();
        if !text.is_empty() {
            draft.set(String::new());
            s2(ClientMsg::Message { client_id: random_id(), text });
        }
    };
    let reply2 = reply.clone();
    view! {
        <div class="actions">
            <button class="take-over" on:click=move |_| s1(ClientMsg::TakeOver { client_id: random_id() })>"Take over"</button>
            <button class="resolve" on:click=move |_| s3(ClientMsg::Resolve { client_id: random_id() })>"Resolve"</button>
            <button class="note" on:click=move |_| {
                let text = draft.get_untracked().trim().to_string();
                if !text.is_empty() { draft.set(String::new()); s4(ClientMsg::Note { client_id: random_id(), text }); }
            }>"Add private note"</button>
        </div>
        <div class="events" role="log">
            <For each=move || store.thread.get() key=|e| e.seq let:e>
                {event_row(e)}
            </For>
        </div>
        <form class="reply" on:submit=move |ev| { ev.prevent_default(); reply(); }>
            <textarea aria-label="Reply" prop:value=move || draft.get() on:input=move |e| draft.set(event_target_value(&e))
                on:keydown=move |ev: web_sys::KeyboardEvent| if ev.key() == "Enter" && !ev.shift_key() { ev.prevent_default(); reply2(); }></textarea>
            <button type="submit">"Send"</button>
        </form>
    }
}

fn event_row(e: Event) -> AnyView {
    match e.kind {
        EventKind::VisitorMessage { text } => view! { <div class="ev visitor"><b>"Visitor: "</b>{text}</div> }.into_any(),
        EventKind::BotAnswer { answer, .. } => view! {
            <div class="ev bot"><b>"Bot: "</b>{answer.text}
                <span class="confidence">{format!(" (confidence {:.2})", answer.confidence)}</span>
                {answer.citations.into_iter().map(|c| { let l = c.breadcrumb(); view! { <a class="cite" href=c.url target="_blank" rel="noopener noreferrer">{l}</a> } }).collect_view()}
            </div>
        }
        .into_any(),
        EventKind::HandoffRequested { handoff, briefing, .. } => view! {
            <div class="ev system handoff"><b>"Handoff: "</b>{handoff.reason.describe()}<div class="briefing">{briefing.summary}</div></div>
        }
        .into_any(),
        EventKind::OperatorJoined { operator } => view! { <div class="ev system">{format!("{} joined", operator.name)}</div> }.into_any(),
        EventKind::OperatorMessage { operator, text } => view! { <div class="ev operator"><b>{format!("{}: ", operator.name)}</b>{text}</div> }.into_any(),
        EventKind::PrivateNote { operator, text } => view! { <div class="ev note"><b>{format!("Note by {}: ", operator.name)}</b>{text}</div> }.into_any(),
        EventKind::Resolved { .. } => view! { <div class="ev system">"Resolved"</div> }.into_any(),
        EventKind::PageChanged { page } => view! { <div class="ev system">"Visitor is on " {page.title} " " <small>{page.url}</small></div> }.into_any(),
        other => view! { <div class="ev system">{other.type_name().replace('_', " ")}</div> }.into_any(),
    }
}
