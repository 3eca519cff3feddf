//! `index-builder triage`: the handoff decision on single messages, for measuring it on labelled
//! sets. Reads JSON Lines `{"id", "message"}` on stdin and prints, per line,
//! `{"id", "trigger", "evidence", "class", "probabilities"}`: `trigger` is what the bot does
//! (`explicit_request`, `urgent`, `keyword`, `frustration` or `none`), `class` and
//! `probabilities` what the classifier alone made of the message. It is the same
//! `baton_shared::handoff::assess` the `Conversation` object runs — the site's config and its
//! examples (or the defaults), the bundled classifier — without a conversation around it.

use anyhow::Result;
use baton_shared::config::SiteConfig;
use baton_shared::engine::handoff_classifier::CLASSES;
use baton_shared::handoff::{self, Learned, Turns};
use std::path::Path;

#[derive(serde::Deserialize)]
struct Line {
    id: serde_json::Value,
    message: String,
}

pub fn run(config_path: Option<&Path>, classifier: Option<&Path>, model: Option<&Path>) -> Result<()> {
    let config = match config_path {
        Some(p) => crate::build::load_config(p)?,
        None => SiteConfig::default(),
    };
    let model = crate::model::load(model)?;
    let classifier = match classifier {
        Some(p) => {
            let c = crate::model::load_classifier(Some(p))?;
            let file = config.handoff.examples.trim();
            if file.is_empty() {
                c
            } else {
                let dir = config_path.and_then(Path::parent).unwrap_or(Path::new("."));
                c.with_examples(&model, &crate::handoff::load_site_examples(&dir.join(file))?).map_err(anyhow::Error::msg)?
            }
        }
        None => crate::build::site_classifier(&config, config_path, &model)?,
    };
    let learned = Learned { model: &model, classifier: &classifier };
    crate::jsonl::map_stdin(r#"{"id": …, "message": "…"}"#, |l: Line| {
        let a = handoff::assess(&l.message, &Turns::default(), &config.handoff, Some(learned));
        let (trigger, evidence) = match a.handoff {
            Some(h) => (h.reason.key(), h.evidence),
            None => ("none", Vec::new()),
        };
        let p = a.prediction.expect("the classifier is loaded");
        let probabilities: serde_json::Map<String, serde_json::Value> =
            CLASSES.iter().map(|c| (c.key().to_string(), serde_json::json!((p.probability(*c) * 1000.0).round() / 1000.0))).collect();
        Ok(serde_json::json!({
            "id": l.id, "trigger": trigger, "evidence": evidence,
            "class": p.class.key(), "probabilities": probabilities,
        }))
    })
}
