//! What the visitor showed and said about themselves, as operators see it: who they are
//! (verified when the site's backend signed it), what they were doing in the product (the host
//! page's context), their files (thumbnails; operators attach too, by picker or paste), their
//! rating after a resolve — in the briefing, the list, the thread and the insights page.
//!
//! The rules behind each (what is verified, which files, when a rating counts) are
//! `baton_shared`'s; this module renders them.

use crate::util::clock;
use crate::{api_base, Store};
use baton_shared::protocol::*;
use baton_shared::satisfaction::{self, Satisfaction};
use gloo_net::http::Request;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// How the list and the thread name the visitor: the identity's name or email (with a mark
/// saying whether the site vouched for it), else the email they typed, else a short id.
pub(crate) fn who(row: &ConversationSummary) -> String {
    match &row.identity {
        Some(i) => format!("{}{}", i.label(), if i.verified { " ✓" } else { " (unverified)" }),
        None => row.visitor_email.clone().unwrap_or_else(|| format!("Visitor {}", &row.id.as_str()[..6])),
    }
}

fn stars(score: u8) -> String {
    format!("{} {}", "★".repeat(score as usize), satisfaction::label(score))
}

/// The list row's extras: the rating after a resolve, the number of files.
pub(crate) fn row_badges(row: &ConversationSummary) -> impl IntoView {
    view! {
        {row.rating.map(|s| view! { <span class="rating" data-score=s title="the visitor's rating">{stars(s)}</span> })}
        {(row.attachments > 0).then(|| view! { <span class="files" title="files in the thread">{format!("📎 {}", row.attachments)}</span> })}
    }
}

/// The briefing's "Who" and "Doing" lines.
pub(crate) fn briefing_rows(row: &ConversationSummary) -> impl IntoView {
    let context = row.briefing.as_ref().map(|b| b.context.clone()).unwrap_or_default();
    view! {
        <dt>"Who"</dt>
        <dd class="identity">{match row.identity.clone() {
            Some(i) => view! {
                <span class="verified" class:no=!i.verified>{if i.verified { "verified" } else { "unverified" }}</span>
                " " <b class="name">{i.name.clone().unwrap_or_default()}</b>
                {i.email.clone().map(|e| view! { " " <span class="email">{e}</span> })}
                " " <span class="user-id">{format!("user {}", i.user_id)}</span>
                {i.attributes.into_iter().map(|(k, v)| view! { <span class="field"><b>{k}": "</b>{v}</span> }).collect_view()}
            }.into_any(),
            None => view! { <i>"not identified by the site"</i> }.into_any(),
        }}</dd>
        {(!context.is_empty()).then(|| view! {
            <dt>"Doing"</dt>
            <dd class="context">{context.into_iter().map(|(k, v)| view! { <span class="field"><b>{k}": "</b>{v}</span> }).collect_view()}</dd>
        })}
    }
}

fn time(at: i64) -> impl IntoView {
    view! { <time>{clock(at)}</time> }
}

/// The thread's events that need the conversation (files) or are this module's; the others
/// are `thread::event_view`'s.
pub(crate) fn event_view(store: Store, e: Event) -> AnyView {
    let (at, seq) = (e.at, e.seq);
    match e.kind {
        EventKind::Identified { identity } => view! {
            <div class="ev system identified" data-seq=seq>{time(at)}
                {format!(" The site says this is {} (user {}) — {}", identity.label(), identity.user_id,
                    if identity.verified { "verified by the site's signature" } else { "unverified: the page claimed it without a signature" })}
            </div>
        }
        .into_any(),
        EventKind::ContextChanged { context } => view! {
            <div class="ev system context" data-seq=seq>{time(at)}" In the product: "
                {if context.is_empty() { view! { <i>"no context"</i> }.into_any() } else {
                    context.into_iter().map(|(k, v)| view! { <span class="field"><b>{k}": "</b>{v}</span> }).collect_view().into_any()
                }}
            </div>
        }
        .into_any(),
        EventKind::AttachmentAdded { attachment, operator } => {
            let url = store.open.with_untracked(|o| {
                o.as_ref().map(|id| format!("{}/conversations/{id}/attachments/{}?as=operator", api_base(&store.site()), attachment.id))
            });
            let url = url.unwrap_or_default();
            let side = if operator.is_some() { "ev operator file" } else { "ev visitor file" };
            let from = operator.map(|o| o.name).unwrap_or_else(|| "Visitor".into());
            view! {
                <div class=side data-seq=seq>
                    <div class="meta"><b>{from}</b>{time(at)}</div>
                    {if attachment.is_image() {
                        let href = url.clone();
                        view! { <a href=href target="_blank" rel="noopener"><img class="thumb" src=url alt=attachment.name.clone() loading="lazy"/></a> }.into_any()
                    } else {
                        view! { <a class="doc" href=url download=attachment.name.clone()>{format!("📄 {}", attachment.name)}</a> }.into_any()
                    }}
                    <small class="size">{format!("{} · {:.0} KB", attachment.content_type, (attachment.size as f64 / 1024.0).ceil())}</small>
                </div>
            }
            .into_any()
        }
        EventKind::Rated { score, comment } => view! {
            <div class="ev system rated" data-seq=seq data-score=score>{time(at)}" Visitor rated the help: "<b>{stars(score)}</b>
                {(!comment.is_empty()).then(|| view! { <q class="comment">{comment}</q> })}
            </div>
        }
        .into_any(),
        other => crate::thread::event_view(Event { kind: other, ..e }),
    }
}

/// Uploads files to the open conversation as this operator.
fn upload(store: Store, files: web_sys::FileList) {
    let Some(id) = store.open.get_untracked() else { return };
    for i in 0..files.length() {
        let Some(file) = files.get(i) else { continue };
        let url = format!(
            "{}/conversations/{id}/attachments?as=operator&name={}&client_id={}",
            api_base(&store.site()),
            js_sys::encode_uri_component(&file.name()),
            crate::util::random_id()
        );
        wasm_bindgen_futures::spawn_local(async move {
            let sent = match Request::post(&url).header("content-type", "application/octet-stream").body(file) {
                Ok(r) => r.send().await,
                Err(e) => return store.say(format!("could not send the file: {e}"), Some("bad_request".into())),
            };
            match sent {
                Ok(r) if r.ok() => {}
                Ok(r) => {
                    let e = r.json::<ApiError>().await.map(|e| e.error);
                    match e {
                        Ok(e) => store.say(e.message, Some(crate::code_name(e.code))),
                        Err(_) => store.say(format!("the upload failed ({})", r.status()), None),
                    }
                }
                Err(_) => store.say("cannot reach the server: check your connection", Some("offline".into())),
            }
        });
    }
}

/// The composer's paperclip: pick images or PDFs to send to the visitor.
#[component]
pub(crate) fn AttachButton(store: Store) -> impl IntoView {
    let input = NodeRef::<leptos::html::Input>::new();
    view! {
        <input type="file" class="file-input" hidden multiple accept="image/png,image/jpeg,image/webp,image/gif,application/pdf"
            node_ref=input
            on:change=move |_| {
                if let Some(el) = input.get_untracked() {
                    if let Some(files) = el.files() { upload(store, files); }
                    el.set_value("");
                }
            }/>
        <button type="button" class="attach" title="Attach a screenshot or PDF (or paste one)" aria-label="Attach a file"
            on:click=move |_| { if let Some(el) = input.get_untracked() { el.click(); } }>
            // A paperclip, drawn (no emoji font needed).
            <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true"><path d="M21 11.5 12.5 20a5 5 0 0 1-7-7L14 4.5a3.3 3.3 0 0 1 4.7 4.7L10.2 17.7a1.7 1.7 0 0 1-2.4-2.4L15.5 7.6"
                fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/></svg>
        </button>
    }
}

/// A screenshot pasted into the composer goes to the visitor as a file.
pub(crate) fn on_paste(store: Store, e: web_sys::Event) {
    let files = e.dyn_ref::<web_sys::ClipboardEvent>().and_then(|c| c.clipboard_data()).and_then(|d| d.files());
    if let Some(files) = files.filter(|f| f.length() > 0) {
        e.prevent_default();
        upload(store, files);
    }
}

fn pct(r: Option<f32>) -> String {
    r.map(|r| format!("{:.0}%", r * 100.0)).unwrap_or_else(|| "—".into())
}

fn groups(title: &'static str, class: &'static str, gs: Vec<satisfaction::ScoreGroup>) -> impl IntoView {
    view! {
        <section class=format!("card {class}")>
            <h2>{title}</h2>
            {if gs.is_empty() {
                view! { <p class="none">"No ratings in this range."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <thead><tr><th></th><th class="num">"Ratings"</th><th class="num">"Average"</th><th class="num">"CSAT"</th></tr></thead>
                        <tbody>{gs.into_iter().map(|g| view! {
                            <tr class="group" data-key=g.key><td>{g.label}</td><td class="num count">{g.ratings}</td>
                                <td class="num">{format!("{:.1}", g.average)}</td><td class="num">{pct(Some(g.csat))}</td></tr>
                        }).collect_view()}</tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

/// The insights page's satisfaction: CSAT, per operator, per handoff reason, per day, comments.
pub(crate) fn satisfaction_view(s: Satisfaction) -> impl IntoView {
    let max = s.per_day.iter().map(|d| d.ratings).max().unwrap_or(0).max(1) as f32;
    let days = s.per_day.clone();
    let n = days.len().max(1) as f32;
    view! {
        <section class="card satisfaction">
            <h2>"Satisfaction after a resolve"</h2>
            <p class="kpi-line">
                <span class="csat">{format!("CSAT {}", pct(s.csat))}</span>
                {format!(" · average {} · {} ratings: {} good, {} okay, {} bad",
                    s.average.map(|a| format!("{a:.1}/5")).unwrap_or_else(|| "—".into()), s.ratings, s.good, s.okay, s.bad)}
            </p>
            <svg class="chart ratings-days" viewBox="0 0 720 60" preserveAspectRatio="none" role="img" aria-label="Ratings per day">
                {days.into_iter().enumerate().map(|(k, d)| {
                    let w = 720.0 / n;
                    let h = 50.0 * d.ratings as f32 / max;
                    let good = d.average.is_some_and(|a| a >= 4.0);
                    view! { <rect class:good=good x=k as f32 * w + 1.0 y=55.0 - h width=(w - 2.0).max(1.0) height=h
                        data-ratings=d.ratings></rect> }
                }).collect_view()}
            </svg>
            {(!s.comments.is_empty()).then(|| view! {
                <ul class="comments">{s.comments.into_iter().map(|c| view! {
                    <li><b>{stars(c.score)}</b>" "<q>{c.comment}</q>{c.operator.map(|o| format!(" — helped by {o}"))}</li>
                }).collect_view()}</ul>
            })}
        </section>
        <div class="two">
            {groups("Ratings by operator", "by-operator", s.by_operator)}
            {groups("Ratings by handoff reason", "by-reason", s.by_reason)}
        </div>
    }
}
