//! The conversation list: views (waiting, mine, all open, resolved, all) with counts, a tag
//! filter, a search box (answered by the `Inbox` object, which keeps each conversation's text),
//! and the rows, live.

use crate::util::{duration, link};
use crate::{api_base, conversation_href, open_conversation, Store};
use baton_shared::inbox::{self as rules, RowQuery, View};
use baton_shared::markdown;
use baton_shared::protocol::*;
use gloo_net::http::Request;
use leptos::prelude::*;

/// The rows the list shows now, in order.
pub(crate) fn visible(store: Store) -> Vec<ConversationSummary> {
    let me = store.me.with(|m| m.as_ref().map(|m| m.id.clone()).unwrap_or_default());
    let q = RowQuery {
        view: store.view.get(),
        status: Some(store.status.get()).filter(|s| !s.is_empty()),
        tag: Some(store.tag.get()).filter(|t| !t.is_empty()),
        ..Default::default()
    };
    let results = store.results.get();
    let mut rows: Vec<ConversationSummary> = store.rows.with(|rows| {
        rows.iter().filter(|r| q.filters(r, &me)).filter(|r| results.as_ref().is_none_or(|ids| ids.contains(&r.id))).cloned().collect()
    });
    rules::sort_rows(&mut rows);
    rows
}

pub(crate) fn visible_ids(store: Store) -> Vec<ConversationId> {
    visible(store).into_iter().map(|r| r.id).collect()
}

/// Asks the server for rows (a search, or older resolved ones) and merges them in.
async fn fetch_rows(store: Store, query: &[(&str, String)]) -> Option<Vec<ConversationId>> {
    let url = format!("{}/inbox/rows", api_base(&store.site()));
    let req = Request::get(&url).query(query.iter().map(|(k, v)| (*k, v.as_str())));
    match req.send().await {
        Ok(r) if r.ok() => match r.json::<RowPage>().await {
            Ok(page) => {
                let ids = page.rows.iter().map(|r| r.id.clone()).collect();
                store.merge_rows(page.rows);
                Some(ids)
            }
            Err(_) => None,
        },
        Ok(r) => {
            let msg = r.json::<ApiError>().await.map(|e| e.error.message).unwrap_or_else(|_| "the search failed: try again".into());
            store.say(msg, Some("search".into()));
            None
        }
        Err(_) => {
            store.say("cannot reach the server: check your connection", Some("offline".into()));
            None
        }
    }
}

fn run_search(store: Store) {
    let q = store.query.get_untracked().trim().to_string();
    if q.is_empty() {
        store.results.set(None);
        return;
    }
    wasm_bindgen_futures::spawn_local(async move {
        let ids = fetch_rows(store, &[("view", "all".into()), ("q", q.clone())]).await;
        // Only if the box still says the same (an older answer must not win).
        if store.query.get_untracked().trim() == q {
            store.results.set(Some(ids.unwrap_or_default()));
        }
    });
}

#[component]
pub(crate) fn ListPane(store: Store) -> impl IntoView {
    let search_ref = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |prev: Option<u32>| {
        let n = store.focus_search.get();
        if prev.is_some() {
            if let Some(el) = search_ref.get() {
                let _ = el.focus();
                el.select();
            }
        }
        n
    });
    // Older resolved conversations are not in the live snapshot: fetch them when asked for.
    Effect::new(move |_| {
        if matches!(store.view.get(), View::Resolved | View::All) {
            wasm_bindgen_futures::spawn_local(async move {
                fetch_rows(store, &[("view", "resolved".into()), ("limit", "200".into())]).await;
            });
        }
    });
    let tags = move || {
        let mut t: Vec<String> = store.rows.with(|rows| rows.iter().flat_map(|r| r.tags.iter().cloned()).collect());
        t.sort();
        t.dedup();
        t
    };
    let count = move |v: View| {
        let me = store.me.with(|m| m.as_ref().map(|m| m.id.clone()).unwrap_or_default());
        store.rows.with(|rows| rows.iter().filter(|r| v.shows(r, &me)).count())
    };
    view! {
        <aside class="list-pane">
            <div class="views" role="tablist" aria-label="Views">
                {[View::Waiting, View::Mine, View::Open, View::Resolved].into_iter().map(|v| view! {
                    <button role="tab" class=format!("view view-{}", v.key()) data-view=v.key()
                        aria-selected=move || (store.view.get() == v).to_string()
                        class:active=move || store.view.get() == v
                        on:click=move |_| store.view.set(v)>
                        {v.label()}
                        {move || {
                            let n = count(v);
                            (v != View::Resolved && n > 0).then(|| view! { <span class="count">{n}</span> })
                        }}
                    </button>
                }).collect_view()}
            </div>
            <div class="filters">
                <input type="search" class="search" placeholder="Search email, text…" aria-label="Search conversations"
                    node_ref=search_ref
                    prop:value=move || store.query.get()
                    on:input=move |e| {
                        store.query.set(event_target_value(&e));
                        if store.query.get_untracked().trim().is_empty() { store.results.set(None); }
                    }
                    on:keydown=move |e: web_sys::KeyboardEvent| if e.key() == "Enter" { e.prevent_default(); run_search(store); }/>
                <select class="status-filter" aria-label="Filter by status" on:change=move |e| store.status.set(event_target_value(&e))
                    prop:value=move || store.status.get()>
                    <option value="">"Any status"</option>
                    <option value="bot">"With the bot"</option>
                    <option value="waiting_for_human">"Waiting"</option>
                    <option value="human">"With a person"</option>
                    <option value="resolved">"Resolved"</option>
                </select>
                <select class="tag-filter" aria-label="Filter by tag" on:change=move |e| store.tag.set(event_target_value(&e))
                    prop:value=move || store.tag.get()>
                    <option value="">"Any tag"</option>
                    {move || tags().into_iter().map(|t| view! { <option value=t.clone()>{t.clone()}</option> }).collect_view()}
                </select>
            </div>
            {move || store.results.get().map(|ids| view! {
                <p class="search-note">
                    {format!("{} found for “{}” ", ids.len(), store.query.get_untracked().trim())}
                    <button class="link clear-search" on:click=move |_| { store.query.set(String::new()); store.results.set(None); }>"clear"</button>
                </p>
            })}
            <ul class="list" aria-label="Conversations">
                <For each=move || visible(store) key=|r| (r.id.clone(), r.last_seq, r.updated_at) let:row>
                    <RowItem store=store row=row/>
                </For>
                {move || visible(store).is_empty().then(|| view! {
                    <li class="none">{match store.view.get() {
                        View::Waiting => "Nobody is waiting for a human.",
                        View::Mine => "You own no conversation right now.",
                        _ => "No conversations here.",
                    }}</li>
                })}
            </ul>
        </aside>
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
fn RowItem(store: Store, row: ConversationSummary) -> impl IntoView {
    let id = row.id.clone();
    let id2 = row.id.clone();
    let id3 = row.id.clone();
    let waiting_since = row.waiting_since;
    let who = crate::visitor::who(&row);
    let reason = row.handoff.as_ref().map(|h| h.reason.describe());
    // A handoff's preview is its reason, shown below anyway: show what the visitor said last.
    let latest_question = row.briefing.as_ref().and_then(|b| b.latest_question.clone()).or(row.first_question.clone());
    let preview = row.last_message.as_ref().map(|m| {
        if m.from == "system" {
            if let Some(q) = &latest_question {
                return ("Visitor".to_string(), q.clone());
            }
        }
        let from = match m.from.as_str() {
            "visitor" => "Visitor".to_string(),
            "bot" => "Bot".to_string(),
            "system" => "System".to_string(),
            f => f.strip_prefix("operator:").unwrap_or(f).to_string(),
        };
        // The bot writes Markdown: one line of its words, not its backticks and fences.
        let text = if m.from == "bot" { markdown::plain(&m.text) } else { m.text.clone() };
        (from, text)
    });
    let page = row.page.clone();
    let id4 = row.id.clone();
    let href = conversation_href(store, &row.id);
    // The row's one control is the link on the visitor's name (Tab reaches it, Enter opens,
    // a middle click opens a tab); a click anywhere else on the row opens it too.
    view! {
        <li class="row" data-id=row.id.to_string() data-status=row.ownership.label()
            class:active=move || store.open.with(|o| o.as_ref() == Some(&id3))
            class:unread={row.unread > 0}
            class:urgent={rules::is_urgent(&row)}
            on:click=move |e: web_sys::MouseEvent| {
                let on_link = e.target().and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
                    .and_then(|t| t.closest("a").ok().flatten()).is_some();
                if !on_link { open_conversation(store, id.clone()) }
            }>
            <div class="row-top">
                <span class="status">{status_label(&row.ownership)}</span>
                {waiting_since.map(|since| view! {
                    <span class="waiting" title="waiting for a human">{move || duration(store.now.get() - since)}</span>
                })}
                {row.owner.as_ref().map(|o| view! { <span class="owner">{o.name.clone()}</span> })}
                {row.assignment.operator.as_ref().filter(|_| row.owner.is_none()).map(|o| view! {
                    <span class="assignee" title="assigned, waiting for them to take it">{format!("→ {}", o.name)}</span>
                })}
                {(row.unread > 0).then(|| view! { <span class="unread" title="visitor messages not answered yet">{row.unread}</span> })}
            </div>
            <a class="who" href=href
                aria-current=move || store.open.with(|o| o.as_ref() == Some(&id4)).then_some("true")
                on:click=move |e: web_sys::MouseEvent| {
                    if !(e.ctrl_key() || e.meta_key() || e.shift_key() || e.button() != 0) {
                        e.prevent_default();
                        open_conversation(store, id2.clone());
                    }
                }>{who}{crate::visitor::row_badges(&row)}</a>
            {preview.map(|(from, text)| view! { <div class="preview"><b>{from}": "</b>{text}</div> })}
            {reason.map(|r| view! { <div class="reason">{r}</div> })}
            {page.map(|p| {
                let label = if p.title.is_empty() { p.url.clone() } else { p.title.clone() };
                view! { <div class="page">{link(&p.url, label, "page-link")}</div> }
            })}
            {(!row.tags.is_empty()).then(|| view! {
                <div class="tags">{row.tags.iter().map(|t| view! { <span class="tag">{t.clone()}</span> }).collect_view()}</div>
            })}
        </li>
    }
}
