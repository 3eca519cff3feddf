//! One conversation: who and where the visitor is, the briefing card, the whole thread in
//! order, the actions (take over, leave, hand back, resolve / reopen, tags) and the composer
//! (reply or private note; Enter sends, Shift+Enter breaks the line, `/` for canned replies;
//! the visitor sees "typing" while the operator writes a reply, never a note).

use crate::util::{clock, link, markdown_view, now_ms, random_id};
use crate::{close_conversation, send_frame, Mode, Store};
pub(crate) use baton_shared::ownership::OperatorAction as Action;
use baton_shared::protocol::*;
use leptos::prelude::*;
use std::time::Duration;

/// The frame of an operator action (which actions are offered when is `baton_shared`'s
/// `OperatorAction::offered`).
fn frame(action: Action) -> ClientMsg {
    let client_id = random_id();
    match action {
        Action::TakeOver => ClientMsg::TakeOver { client_id },
        Action::Leave => ClientMsg::Leave { client_id },
        Action::HandBack => ClientMsg::HandBack { client_id },
        Action::Resolve => ClientMsg::Resolve { client_id },
        Action::Reopen => ClientMsg::Reopen { client_id },
    }
}

/// Does an action on the open conversation; false if there is none.
pub(crate) fn act(store: Store, action: Action) -> bool {
    if store.open.get_untracked().is_none() {
        return false;
    }
    send_frame(store, frame(action));
    true
}

#[component]
pub(crate) fn ThreadPane(store: Store, id: ConversationId) -> impl IntoView {
    let row_id = id.clone();
    let row = Memo::new(move |_| store.row(&row_id));
    let me = move || store.me.with(|m| m.as_ref().map(|m| m.id.clone()).unwrap_or_default());
    let ownership = move || row.with(|r| r.as_ref().map(|r| r.ownership.clone()).unwrap_or(Ownership::Bot));
    let button = move |action: Action, class: &'static str, label: &'static str, hint: Option<&'static str>| {
        view! {
            <button class=class title=hint.unwrap_or(label) on:click=move |_| { act(store, action); }
                disabled=move || !action.offered(&ownership(), &me())
                class:hidden=move || !action.offered(&ownership(), &me())>
                {label}
                {hint.map(|h| view! { <kbd>{h}</kbd> })}
            </button>
        }
    };
    // The thread opens at the top (the briefing first) and follows new events once the
    // operator is at the bottom — or as soon as they post something themselves.
    let scroller = NodeRef::<leptos::html::Div>::new();
    let stick = StoredValue::new(false);
    Effect::new(move |_| {
        let me = store.me.with_untracked(|m| m.as_ref().map(|m| m.id.clone()).unwrap_or_default());
        let mine = store.thread.with(|t| {
            t.last().is_some_and(|e| match &e.kind {
                EventKind::OperatorMessage { operator, .. } | EventKind::PrivateNote { operator, .. } => operator.id == me,
                _ => false,
            })
        });
        if stick.get_value() || mine {
            request_animation_frame(move || {
                if let Some(el) = scroller.get_untracked() {
                    el.set_scroll_top(el.scroll_height());
                }
            });
        }
    });
    let on_scroll = move |_| {
        if let Some(el) = scroller.get_untracked() {
            stick.set_value(el.scroll_top() + el.client_height() >= el.scroll_height() - 60);
        }
    };
    let who = move || row.with(|r| r.as_ref().map(crate::visitor::who).unwrap_or_else(|| format!("Visitor {}", &id.as_str()[..6])));
    view! {
        <div class="conversation" data-id=row.with_untracked(|r| r.as_ref().map(|r| r.id.to_string()).unwrap_or_default())>
            <div class="conv-head">
                <button class="back" aria-label="Back to the list" on:click=move |_| close_conversation(store)>"←"</button>
                <div class="conv-title">
                    <strong class="visitor">{who}</strong>
                    <span class="state" data-status=move || ownership().label()>{move || match ownership() {
                        Ownership::Bot => "With the bot".to_string(),
                        Ownership::WaitingForHuman { .. } => "Waiting for a human".to_string(),
                        Ownership::Human { operator } => format!("With {}", operator.name),
                        Ownership::Resolved { .. } => "Resolved".to_string(),
                    }}</span>
                    {move || (!store.conv_live.get()).then(|| view! { <span class="offline">"connecting…"</span> })}
                </div>
                <div class="actions">
                    {button(Action::TakeOver, "take-over primary", "Take over", Some("t"))}
                    {button(Action::Leave, "leave", "Leave", None)}
                    {button(Action::HandBack, "hand-back", "Hand back to bot", None)}
                    {button(Action::Resolve, "resolve", "Resolve", Some("e"))}
                    {button(Action::Reopen, "reopen", "Reopen", None)}
                </div>
            </div>
            <Tags store=store row=row/>
            <crate::notify::AssignControl store=store row=row/>
            <div class="scroll" node_ref=scroller on:scroll=on_scroll>
                <Briefing row=row/>
                <div class="events" role="log" aria-label="Thread">
                    <For each=move || store.thread.get() key=|e| e.seq let:e>
                        {crate::visitor::event_view(store, e)}
                    </For>
                </div>
                {move || store.visitor_typing.get().then(|| view! { <p class="typing">"Visitor is typing…"</p> })}
            </div>
            <Composer store=store/>
        </div>
    }
}

#[component]
fn Tags(store: Store, row: Memo<Option<ConversationSummary>>) -> impl IntoView {
    let new_tag = RwSignal::new(String::new());
    let add = move || {
        let tag = new_tag.get_untracked().trim().to_lowercase();
        if tag.is_empty() {
            return;
        }
        if let Err(e) = validate_tag(&tag) {
            store.say(e.message, Some("invalid_field".into()));
            return;
        }
        if send_frame(store, ClientMsg::AddTag { client_id: random_id(), tag }) {
            new_tag.set(String::new());
        }
    };
    view! {
        <div class="tag-bar">
            <span class="label">"Tags"</span>
            <ul class="tags">
                {move || row.with(|r| r.as_ref().map(|r| r.tags.clone()).unwrap_or_default()).into_iter().map(|t| {
                    let tag = t.clone();
                    view! {
                        <li class="tag" data-tag=t.clone()>{t.clone()}
                            <button class="remove-tag" aria-label=format!("Remove tag {t}")
                                on:click=move |_| { send_frame(store, ClientMsg::RemoveTag { client_id: random_id(), tag: tag.clone() }); }>"×"</button>
                        </li>
                    }
                }).collect_view()}
            </ul>
            <input class="add-tag" placeholder="+ tag" aria-label="Add a tag" maxlength="40"
                prop:value=move || new_tag.get()
                on:input=move |e| new_tag.set(event_target_value(&e))
                on:keydown=move |e: web_sys::KeyboardEvent| if e.key() == "Enter" { e.prevent_default(); add(); }/>
        </div>
    }
}

/// The briefing card: what the visitor wants (asked at the handoff), why a human is needed,
/// what the bot tried (and cited), what the visitor filled in, and where they were at the
/// handoff and are now. Compact, and folded away (one summary line) unless a person is
/// waited for, so the thread starts on the first screen.
#[component]
fn Briefing(row: Memo<Option<ConversationSummary>>) -> impl IntoView {
    move || {
        let Some(r) = row.get() else { return ().into_any() };
        let b = r.briefing.clone();
        let handoff = r.handoff.clone().or_else(|| b.as_ref().and_then(|b| b.handoff.clone()));
        let wants = b.as_ref().and_then(|b| b.wants().map(String::from)).or(r.first_question.clone());
        let first = b.as_ref().and_then(|b| b.first_asked().map(String::from));
        let attempts = b.as_ref().map(|b| b.bot_attempts.clone()).unwrap_or_default();
        let summary = b.as_ref().map(|b| b.summary.clone()).filter(|s| !s.is_empty());
        let page_then = b.as_ref().and_then(|b| b.page.clone());
        let page_now = r.page.clone().filter(|now| page_then.as_ref() != Some(now));
        let open = matches!(r.ownership, Ownership::WaitingForHuman { .. });
        let page_link = |p: Page| {
            let label = if p.title.is_empty() { p.url.clone() } else { p.title.clone() };
            view! { {link(&p.url, label, "page-link")} <small class="url">{p.url.clone()}</small> }
        };
        let tried = attempts.len();
        view! {
            <details class="briefing" open=open aria-label="Briefing">
                <summary>
                    <span class="label">"Briefing"</span>
                    <span class="summary">{summary.unwrap_or_else(|| "No handoff yet".into())}</span>
                </summary>
                <dl>
                    {crate::visitor::briefing_rows(&r)}
                    <dt>"Wants"</dt>
                    <dd class="wants">
                        {match wants { Some(q) => q.into_any(), None => view! { <i>"nothing asked yet"</i> }.into_any() }}
                        {first.map(|f| view! { <div class="first">"First asked: " {f}</div> })}
                    </dd>
                    <dt>"Why a human"</dt>
                    <dd class="why">{match handoff {
                        Some(h) => view! {
                            <span class="reason">{h.reason.describe()}</span>
                            {(!h.evidence.is_empty()).then(|| view! { <span class="evidence">{format!(" — {}", h.evidence.join("; "))}</span> })}
                        }.into_any(),
                        None => view! { <i>"no handoff"</i> }.into_any(),
                    }}</dd>
                    <dt>"Bot tried"</dt>
                    <dd class="tried">{if attempts.is_empty() {
                        view! { <i>"the bot has not answered"</i> }.into_any()
                    } else {
                        // The latest try, as one line of plain text (the thread has them whole).
                        let a = attempts.into_iter().last().expect("not empty");
                        view! {
                            <span class="q">{format!("“{}” → ", a.question)}</span>
                            <span class="a">{baton_shared::markdown::plain(&a.answer)}</span>
                            <span class="confidence" class:low={a.confidence < 0.5}>{format!(" confidence {:.2}", a.confidence)}</span>
                            {a.citations.into_iter().map(|c| link(&c.url.clone(), c.breadcrumb(), "cite")).collect_view()}
                            {(tried > 1).then(|| view! { <span class="more">{format!(" · {} tries in all", tried)}</span> })}
                        }.into_any()
                    }}</dd>
                    <dt>"Details"</dt>
                    <dd class="fields">{if r.fields.is_empty() {
                        view! { <i>"none collected"</i> }.into_any()
                    } else {
                        r.fields.iter().map(|(k, v)| view! { <span class="field"><b>{k.clone()}": "</b>{v.clone()}</span> }).collect_view().into_any()
                    }}</dd>
                    <dt>{if page_now.is_some() { "Page at handoff" } else if b.is_some() { "Page (at handoff and now)" } else { "Page now" }}</dt>
                    <dd class="page page-then">{match page_then.clone().or_else(|| r.page.clone()) {
                        Some(p) => page_link(p).into_any(),
                        None => view! { <i>"unknown"</i> }.into_any(),
                    }}</dd>
                    {page_now.filter(|_| page_then.is_some()).map(|p| view! {
                        <dt>"Page now"</dt>
                        <dd class="page page-now">{page_link(p)}</dd>
                    })}
                </dl>
            </details>
        }
        .into_any()
    }
}

fn time(at: i64) -> impl IntoView {
    view! { <time>{clock(at)}</time> }
}

/// One event of the thread.
pub(crate) fn event_view(e: Event) -> AnyView {
    let at = e.at;
    let seq = e.seq;
    match e.kind {
        EventKind::Started { page, .. } => view! {
            <div class="ev system" data-seq=seq>{time(at)}" Conversation started"
                {page.map(|p| format!(" on {}", if p.title.is_empty() { p.url } else { p.title }))}</div>
        }
        .into_any(),
        EventKind::VisitorMessage { text } => view! {
            <div class="ev visitor" data-seq=seq><div class="meta"><b>"Visitor"</b>{time(at)}</div><div class="text">{text}</div></div>
        }
        .into_any(),
        EventKind::BotAnswer { answer, .. } => {
            let low = answer.handoff;
            view! {
                <div class="ev bot" data-seq=seq class:unsure=low>
                    <div class="meta"><b>"Bot"</b>{time(at)}
                        <span class="confidence" class:low=low>{format!("confidence {:.2}{}", answer.confidence, if low { " · not confident" } else { "" })}</span>
                    </div>
                    <div class="text">{markdown_view(&answer.text)}</div>
                    {(!answer.citations.is_empty()).then(|| view! {
                        <div class="sources">"Sources: "{answer.citations.into_iter().map(|c| link(&c.url.clone(), c.breadcrumb(), "cite")).collect_view()}</div>
                    })}
                </div>
            }
            .into_any()
        }
        EventKind::HandoffRequested { handoff, operators_online, form, .. } => view! {
            <div class="ev system handoff" data-seq=seq>
                {time(at)}" Handed to a human: " <b class="reason">{handoff.reason.describe()}</b>
                {(!handoff.evidence.is_empty()).then(|| view! { <span class="evidence">{format!(" ({})", handoff.evidence.join("; "))}</span> })}
                {(!operators_online).then_some(" · nobody was online")}
                {form.map(|f| view! { <span class="form">{format!(" · asked: {}", f.title)}</span> })}
            </div>
        }
        .into_any(),
        EventKind::FormRequested { form } => {
            view! { <div class="ev system" data-seq=seq>{time(at)}{format!(" Asked the visitor: {}", form.title)}</div> }.into_any()
        }
        EventKind::FieldsCollected { values, .. } => view! {
            <div class="ev system fields" data-seq=seq>{time(at)}" Visitor filled in: "
                {values.into_iter().map(|(k, v)| view! { <span class="field"><b>{k}": "</b>{v}</span> }).collect_view()}
            </div>
        }
        .into_any(),
        EventKind::OperatorJoined { operator } => {
            view! { <div class="ev system joined" data-seq=seq>{time(at)}{format!(" {} joined", operator.name)}</div> }.into_any()
        }
        EventKind::OperatorLeft { operator } => view! {
            <div class="ev system left" data-seq=seq>{time(at)}{format!(" {} left — waiting for a colleague", operator.name)}</div>
        }
        .into_any(),
        EventKind::OperatorMessage { operator, text } => view! {
            <div class="ev operator" data-seq=seq><div class="meta"><b>{operator.name}</b>{time(at)}</div><div class="text">{text}</div></div>
        }
        .into_any(),
        EventKind::PrivateNote { operator, text } => view! {
            <div class="ev note" data-seq=seq>
                <div class="meta"><b>{format!("Private note · {}", operator.name)}</b>{time(at)}<span class="only-team">"only the team sees this"</span></div>
                <div class="text">{text}</div>
            </div>
        }
        .into_any(),
        EventKind::TagAdded { tag, source } => {
            let by = match source {
                TagSource::Rule => "automatically".to_string(),
                TagSource::Operator { operator } => format!("by {}", operator.name),
            };
            view! { <div class="ev system tag-event" data-seq=seq>{time(at)}" Tag "<span class="tag">{tag}</span>{format!(" added {by}")}</div> }
                .into_any()
        }
        EventKind::TagRemoved { tag, operator } => view! {
            <div class="ev system tag-event" data-seq=seq>{time(at)}" Tag "<span class="tag">{tag}</span>{format!(" removed by {}", operator.name)}</div>
        }
        .into_any(),
        EventKind::PageChanged { page } => view! {
            <div class="ev system page" data-seq=seq>{time(at)}" Visitor moved to "
                {link(&page.url.clone(), if page.title.is_empty() { page.url.clone() } else { page.title.clone() }, "page-link")}</div>
        }
        .into_any(),
        EventKind::HandedBack { operator } => view! {
            <div class="ev system" data-seq=seq>{time(at)}{format!(" {} handed the conversation back to the bot", operator.name)}</div>
        }
        .into_any(),
        EventKind::Resolved { operator } => view! {
            <div class="ev system resolved" data-seq=seq>{time(at)}{match operator {
                Some(o) => format!(" Resolved by {}", o.name),
                None => " Resolved".to_string(),
            }}</div>
        }
        .into_any(),
        EventKind::Reopened { operator } => view! {
            <div class="ev system" data-seq=seq>{time(at)}{match operator {
                Some(o) => format!(" Reopened by {}", o.name),
                None => " Reopened: the visitor wrote again (the bot answers first)".to_string(),
            }}</div>
        }
        .into_any(),
        EventKind::Assigned { operator, by } => view! {
            <div class="ev system assigned" data-seq=seq>{time(at)}{match by {
                Some(b) => format!(" {} assigned it to {}", b.name, operator.name),
                None => format!(" Assigned to {} — waiting for them to take it over", operator.name),
            }}</div>
        }
        .into_any(),
        EventKind::Unassigned { operator, by } => view! {
            <div class="ev system unassigned" data-seq=seq>{time(at)}{match by {
                Some(b) => format!(" {} took it from {} — back in the queue", b.name, operator.name),
                None => format!(" {} did not take it over in time — back in the queue", operator.name),
            }}</div>
        }
        .into_any(),
        // Identity, context, files and ratings: `visitor::event_view`.
        EventKind::Identified { .. } | EventKind::ContextChanged { .. } | EventKind::AttachmentAdded { .. } | EventKind::Rated { .. } => {
            ().into_any()
        }
        EventKind::Feedback { answer_seq, helpful } => view! {
            <div class="ev system feedback" data-seq=seq>{time(at)}{format!(
                " Visitor found answer #{answer_seq} {}",
                if helpful { "helpful" } else { "not helpful" }
            )}</div>
        }
        .into_any(),
    }
}

/// The reply / private note box.
#[component]
fn Composer(store: Store) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let menu_at = RwSignal::new(0usize);
    let menu_closed = RwSignal::new(false);
    let area = NodeRef::<leptos::html::Textarea>::new();
    // Typing indicator: on while composing a reply, off after a quiet spell or on send.
    let typing_on = StoredValue::new(false);
    let last_input = StoredValue::new(0i64);
    let typing = move |on: bool| {
        if typing_on.get_value() != on {
            typing_on.set_value(on);
            send_frame(store, ClientMsg::Typing { on });
        }
    };
    Effect::new(move |prev: Option<u32>| {
        let n = store.focus_composer.get();
        if prev.is_some() {
            if let Some(el) = area.get() {
                let _ = el.focus();
            }
        }
        n
    });
    on_cleanup(move || {
        if typing_on.try_get_value() == Some(true) {
            send_frame(store, ClientMsg::Typing { on: false });
        }
    });
    let matches = Memo::new(move |_| {
        let d = draft.get();
        match d.strip_prefix('/') {
            Some(p) if !p.contains(char::is_whitespace) => {
                let p = p.to_lowercase();
                store.canned.with(|c| c.iter().filter(|c| c.name.to_lowercase().starts_with(&p)).cloned().collect::<Vec<_>>())
            }
            _ => Vec::new(),
        }
    });
    let menu_open = move || !menu_closed.get() && !matches.with(|m| m.is_empty());
    let insert = move |i: usize| {
        if let Some(c) = matches.with_untracked(|m| m.get(i).cloned()) {
            draft.set(c.text);
            menu_at.set(0);
            if let Some(el) = area.get_untracked() {
                let _ = el.focus();
            }
        }
    };
    let submit = move || {
        let text = draft.get_untracked().trim().to_string();
        if text.is_empty() {
            return;
        }
        let msg = match store.mode.get_untracked() {
            Mode::Reply => ClientMsg::Message { client_id: random_id(), text },
            Mode::Note => ClientMsg::Note { client_id: random_id(), text },
        };
        if send_frame(store, msg) {
            draft.set(String::new());
            typing(false);
        }
    };
    let on_input = move |e: web_sys::Event| {
        let value = event_target_value(&e);
        menu_closed.set(false);
        menu_at.set(0);
        let composing = store.mode.get_untracked() == Mode::Reply && !value.trim().is_empty() && !value.starts_with('/');
        draft.set(value);
        if composing {
            typing(true);
            let at = now_ms();
            last_input.set_value(at);
            set_timeout(
                move || {
                    if last_input.try_get_value() == Some(at) {
                        typing(false);
                    }
                },
                Duration::from_secs(4),
            );
        } else {
            typing(false);
        }
    };
    let on_keydown = move |e: web_sys::KeyboardEvent| {
        let key = e.key();
        if menu_open() {
            let n = matches.with_untracked(|m| m.len());
            match key.as_str() {
                "ArrowDown" => {
                    e.prevent_default();
                    menu_at.update(|i| *i = (*i + 1) % n);
                    return;
                }
                "ArrowUp" => {
                    e.prevent_default();
                    menu_at.update(|i| *i = (*i + n - 1) % n);
                    return;
                }
                "Enter" | "Tab" => {
                    e.prevent_default();
                    insert(menu_at.get_untracked());
                    return;
                }
                "Escape" => {
                    e.prevent_default();
                    e.stop_propagation();
                    menu_closed.set(true);
                    return;
                }
                _ => {}
            }
        }
        if key == "Enter" && !e.shift_key() && !e.is_composing() {
            e.prevent_default();
            submit();
        }
    };
    view! {
        <form class="composer reply" class:note-mode=move || store.mode.get() == Mode::Note on:submit=move |e| { e.prevent_default(); submit(); }>
            <div class="modes" role="tablist">
                <button type="button" role="tab" class="mode-reply" class:active=move || store.mode.get() == Mode::Reply
                    aria-selected=move || (store.mode.get() == Mode::Reply).to_string()
                    on:click=move |_| { store.mode.set(Mode::Reply); store.focus_composer.update(|n| *n += 1); }>"Reply"<kbd>"r"</kbd></button>
                <button type="button" role="tab" class="mode-note" class:active=move || store.mode.get() == Mode::Note
                    aria-selected=move || (store.mode.get() == Mode::Note).to_string()
                    on:click=move |_| { store.mode.set(Mode::Note); typing(false); store.focus_composer.update(|n| *n += 1); }>"Private note"<kbd>"p"</kbd></button>
                <span class="composer-hint">{move || match store.mode.get() {
                    Mode::Reply => "Enter sends · Shift+Enter new line · / canned replies",
                    Mode::Note => "Only your team sees notes — never the visitor",
                }}</span>
            </div>
            {move || menu_open().then(|| view! {
                <ul class="canned" role="listbox" aria-label="Canned replies">
                    {matches.get().into_iter().enumerate().map(|(i, c)| view! {
                        <li role="option" class="canned-item" aria-selected=move || (menu_at.get() == i).to_string()
                            class:active=move || menu_at.get() == i
                            on:mousedown=move |e| { e.prevent_default(); insert(i); }>
                            <b>{format!("/{}", c.name)}</b>" "<span>{c.text}</span>
                        </li>
                    }).collect_view()}
                </ul>
            })}
            <div class="compose-row">
                <textarea node_ref=area aria-label=move || if store.mode.get() == Mode::Note { "Private note" } else { "Reply" }
                    placeholder=move || if store.mode.get() == Mode::Note { "Note for the team…" } else { "Reply to the visitor…" }
                    prop:value=move || draft.get()
                    on:input=on_input
                    on:keydown=on_keydown
                    on:paste=move |e| crate::visitor::on_paste(store, e.into())
                    on:blur=move |_| typing(false)></textarea>
                <crate::visitor::AttachButton store=store/>
                <button type="submit" class="send">{move || if store.mode.get() == Mode::Note { "Add note" } else { "Send" }}</button>
            </div>
        </form>
    }
}
