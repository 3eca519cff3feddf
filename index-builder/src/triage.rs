//! `index-builder triage`: the handoff triggers on single messages, for measuring them on
//! labelled sets. Reads JSON Lines `{"id", "message"}` on stdin and prints, per line,
//! `{"id", "trigger", "evidence"}` where `trigger` is `explicit_request`, `keyword`,
//! `frustration` or `none` — the same `baton_shared::handoff::triage` the `Conversation`
//! object runs, with the site's config (or the defaults), without history.

use anyhow::Result;
use baton_shared::config::SiteConfig;
use baton_shared::conversation::handoff_reason_key;
use baton_shared::handoff;
use std::path::Path;

#[derive(serde::Deserialize)]
struct Line {
    id: serde_json::Value,
    message: String,
}

pub fn run(config: Option<&Path>) -> Result<()> {
    let config = match config {
        Some(p) => crate::build::load_config(p)?,
        None => SiteConfig::default(),
    };
    crate::jsonl::map_stdin(r#"{"id": …, "message": "…"}"#, |l: Line| {
        let (trigger, evidence) = match handoff::triage(&l.message, &[], &config.handoff) {
            Some(h) => (handoff_reason_key(h.reason), h.evidence),
            None => ("none", Vec::new()),
        };
        Ok(serde_json::json!({"id": l.id, "trigger": trigger, "evidence": evidence}))
    })
}
