//! The insights page: the numbers of `GET /api/v1/sites/:site/insights?days=N` (computed by
//! the `Inbox` object with `baton_shared::insights`), as figures and inline SVG charts — no
//! chart library. "Download JSON" is the same URL.

use crate::util::{day_label, duration, link};
use crate::{api_base, Store};
use baton_shared::insights::Insights;
use baton_shared::protocol::ApiError;
use gloo_net::http::Request;
use leptos::prelude::*;

fn pct(r: Option<f32>) -> String {
    r.map(|r| format!("{:.0}%", r * 100.0)).unwrap_or_else(|| "—".into())
}

#[component]
pub(crate) fn InsightsPage(store: Store) -> impl IntoView {
    // In the store: the range is part of the page's URL.
    let days = store.days;
    let data: RwSignal<Option<Result<Insights, String>>> = RwSignal::new(None);
    let reload = RwSignal::new(0u32);
    Effect::new(move |_| {
        let d = days.get();
        reload.track();
        let url = format!("{}/insights?days={d}", api_base(&store.site()));
        wasm_bindgen_futures::spawn_local(async move {
            let result = match Request::get(&url).send().await {
                Ok(r) if r.ok() => r.json::<Insights>().await.map_err(|e| format!("unreadable answer: {e}")),
                Ok(r) => Err(r.json::<ApiError>().await.map(|e| e.error.message).unwrap_or_else(|_| format!("error {}", r.status()))),
                Err(_) => Err("cannot reach the server: check your connection".into()),
            };
            if days.get_untracked() == d {
                data.set(Some(result));
            }
        });
    });
    view! {
        <main class="insights">
            <div class="insights-head">
                <h1>"Insights"</h1>
                <div class="range" role="group" aria-label="Range">
                    {[7u32, 30, 90].into_iter().map(|d| view! {
                        <button class:active=move || days.get() == d aria-pressed=move || (days.get() == d).to_string()
                            on:click=move |_| days.set(d)>{format!("{d} days")}</button>
                    }).collect_view()}
                </div>
                <button class="refresh" on:click=move |_| reload.update(|n| *n += 1)>"Refresh"</button>
                <a class="download" href=move || format!("{}/insights?days={}&download=1", api_base(&store.site()), days.get())
                    download="">"Download JSON"</a>
            </div>
            {move || match data.get() {
                None => view! { <p class="loading">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                Some(Ok(i)) => body(i).into_any(),
            }}
        </main>
    }
}

fn kpi(class: &'static str, label: &'static str, value: String, note: String) -> impl IntoView {
    view! {
        <div class=format!("kpi {class}")>
            <div class="label">{label}</div>
            <div class="value">{value}</div>
            <div class="note">{note}</div>
        </div>
    }
}

fn body(i: Insights) -> impl IntoView {
    let median = i.median_first_reply_ms.map(duration).unwrap_or_else(|| "—".into());
    view! {
        <section class="kpis">
            {kpi("kpi-conversations", "Conversations", i.conversations.to_string(), format!("started in the last {} days", i.days))}
            {kpi("kpi-deflection", "Answered by the bot", pct(i.deflection_rate), format!("{} without a handoff", i.answered_by_bot))}
            {kpi("kpi-handoffs", "Handoffs", i.handoffs.to_string(), format!("{} still waiting for a first reply", i.awaiting_reply))}
            {kpi("kpi-reply", "Median first reply", median, format!("over {} handoffs", i.replies_measured))}
            {kpi("kpi-feedback", "Helpful answers", pct(i.helpful_rate), format!("{} helpful · {} not", i.helpful, i.unhelpful))}
        </section>
        <section class="card chart-days">
            <h2>"Conversations per day"</h2>
            <p class="legend"><span class="sw bot"></span>"answered by the bot "<span class="sw other"></span>"other "<span class="sw handoff"></span>"handoffs"</p>
            {days_chart(&i)}
        </section>
        <div class="two">
            <section class="card chart-reasons">
                <h2>"Handoffs by reason"</h2>
                {if i.handoffs_by_reason.is_empty() {
                    view! { <p class="none">"No handoffs in this range."</p> }.into_any()
                } else {
                    bars(i.handoffs_by_reason.iter().map(|r| (r.reason.describe().to_string(), r.count)).collect(), "reason").into_any()
                }}
            </section>
            <section class="card chart-deflection">
                <h2>"Deflection"</h2>
                {ring(i.deflection_rate.unwrap_or(0.0), pct(i.deflection_rate))}
                <p class="note">{format!("{} of {} conversations answered by the bot without a handoff", i.answered_by_bot, i.conversations)}</p>
            </section>
        </div>
        {crate::visitor::satisfaction_view(i.satisfaction.clone())}
        <section class="card unanswered">
            <h2>"Unanswered questions — docs to write"</h2>
            <p class="note">{format!(
                "{} questions without a confident answer, grouped by {}",
                i.unanswered_questions,
                if i.grouping == "embedding" { "meaning (the site's embedding model) and shared words" } else { "shared words" }
            )}</p>
            {if i.unanswered.is_empty() {
                view! { <p class="none">"None — the docs covered every question."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <thead><tr><th>"Question"</th><th class="num">"Asked"</th><th>"Also asked as"</th></tr></thead>
                        <tbody>{i.unanswered.into_iter().map(|g| view! {
                            <tr class="gap"><td class="question">{g.question}</td><td class="num tally">{g.count}</td>
                                <td class="examples">{g.examples.join(" · ")}</td></tr>
                        }).collect_view()}</tbody>
                    </table>
                }.into_any()
            }}
        </section>
        <section class="card citations">
            <h2>"Most cited doc sections"</h2>
            {if i.top_citations.is_empty() {
                view! { <p class="none">"The bot cited nothing in this range."</p> }.into_any()
            } else {
                let max = i.top_citations.iter().map(|c| c.count).max().unwrap_or(1).max(1);
                view! {
                    <table>
                        <tbody>{i.top_citations.into_iter().map(|c| view! {
                            <tr class="cited"><td>{link(&c.url.clone(), c.label.clone(), "cite")}</td>
                                <td class="num tally">{c.count}</td>
                                <td class="barcell"><svg viewBox="0 0 100 10" preserveAspectRatio="none" class="minibar" aria-hidden="true">
                                    <rect x="0" y="1" height="8" width=format!("{:.1}", c.count as f32 * 100.0 / max as f32) rx="2"></rect>
                                </svg></td></tr>
                        }).collect_view()}</tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

/// Stacked columns per day: answered by the bot at the bottom, the other conversations above,
/// handoffs as a dot.
fn days_chart(i: &Insights) -> impl IntoView {
    let (w, h, pad_l, pad_b, pad_t) = (720.0f32, 180.0f32, 28.0f32, 22.0f32, 10.0f32);
    let n = i.per_day.len().max(1) as f32;
    let max = i.per_day.iter().map(|d| d.conversations.max(d.handoffs)).max().unwrap_or(0).max(1) as f32;
    let col = (w - pad_l) / n;
    let bar = (col * 0.7).max(1.0);
    let y = move |v: f32| pad_t + (h - pad_t - pad_b) * (1.0 - v / max);
    let label_every = ((n / 8.0).ceil() as usize).max(1);
    let days = i.per_day.clone();
    view! {
        <svg class="chart" viewBox=format!("0 0 {w} {h}") role="img"
            aria-label=format!("Conversations per day, last {} days", i.days)>
            <line class="axis" x1=pad_l y1=y(0.0) x2=w y2=y(0.0)></line>
            <text class="tick" x="0" y=y(max) dy="4">{max.to_string()}</text>
            <text class="tick" x="0" y=y(0.0) dy="4">"0"</text>
            {days.into_iter().enumerate().map(|(k, d)| {
                let x = pad_l + k as f32 * col + (col - bar) / 2.0;
                let bot = d.answered_by_bot as f32;
                let total = d.conversations as f32;
                view! {
                    <g class="day" data-day=d.day data-conversations=d.conversations data-handoffs=d.handoffs>
                        <rect class="other" x=x y=y(total) width=bar height=y(bot) - y(total)></rect>
                        <rect class="bot" x=x y=y(bot) width=bar height=y(0.0) - y(bot)></rect>
                        {(d.handoffs > 0).then(|| view! {
                            <circle class="handoff" cx=x + bar / 2.0 cy=y(d.handoffs as f32) r="3.5"></circle>
                        })}
                        {(d.conversations > 0).then(|| view! {
                            <text class="val" x=x + bar / 2.0 y=y(total) - 3.0 text-anchor="middle">{d.conversations.to_string()}</text>
                        })}
                        {(k % label_every == 0).then(|| view! {
                            <text class="tick" x=x + bar / 2.0 y=h - 6.0 text-anchor="middle">{day_label(d.day)}</text>
                        })}
                    </g>
                }
            }).collect_view()}
        </svg>
    }
}

/// Horizontal bars with their labels and counts.
fn bars(items: Vec<(String, u32)>, class: &'static str) -> impl IntoView {
    let max = items.iter().map(|i| i.1).max().unwrap_or(1).max(1) as f32;
    let row_h = 26.0f32;
    let (w, label_w) = (520.0f32, 230.0f32);
    let h = row_h * items.len() as f32;
    view! {
        <svg class="chart bars" viewBox=format!("0 0 {w} {h}") role="img" aria-label="Handoffs by reason">
            {items.into_iter().enumerate().map(|(k, (label, count))| {
                let y = k as f32 * row_h;
                let bw = (w - label_w - 40.0) * count as f32 / max;
                view! {
                    <g class=class data-count=count>
                        <text class="label" x="0" y=y + 17.0>{label}</text>
                        <rect x=label_w y=y + 5.0 width=bw.max(2.0) height="16" rx="3"></rect>
                        <text class="val" x=label_w + bw + 6.0 y=y + 17.0>{count.to_string()}</text>
                    </g>
                }
            }).collect_view()}
        </svg>
    }
}

/// A ring showing a share.
fn ring(share: f32, label: String) -> impl IntoView {
    let r = 40.0f32;
    let c = 2.0 * std::f32::consts::PI * r;
    let on = c * share.clamp(0.0, 1.0);
    let aria = format!("{label} answered by the bot");
    view! {
        <svg class="ring" viewBox="0 0 100 100" role="img" aria-label=aria>
            <circle class="track" cx="50" cy="50" r=r></circle>
            <circle class="share" cx="50" cy="50" r=r stroke-dasharray=format!("{on:.1} {c:.1}") transform="rotate(-90 50 50)"></circle>
            <text x="50" y="55" text-anchor="middle" class="ring-label">{label}</text>
        </svg>
    }
}
