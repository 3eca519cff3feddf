//! A site's configuration: one TOML file in the docs repo (`baton.toml`), read and checked by
//! `index-builder`, shipped inside the index, read by the worker.
//!
//! The structs are plain (no flattening, no skipped fields) because they travel in the postcard
//! index as well as in TOML. Every key has a default, so a config may be as short as
//! `site = "docs"`.

use crate::protocol::{ErrorBody, FieldSpec, SiteId};
use serde::{Deserialize, Serialize};

/// The engine's default confidence threshold: below it, the bot says it does not know and
/// offers a human. Calibrated on the answer-quality bench (see `engine::confidence`).
pub const DEFAULT_CONFIDENCE_THRESHOLD: f32 = 0.5;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteConfig {
    /// The id used in the script tag's `data-site`.
    pub site: SiteId,
    /// Shown in the widget header and the inbox.
    pub name: String,
    /// Public URL of the docs; citations link below it.
    pub base_url: String,
    /// Pages allowed to embed the widget: exact origins (`https://docs.example.com`) or
    /// wildcards (`https://*.example.com`).
    pub allowed_origins: Vec<String>,
    /// First message in the widget.
    pub greeting: String,
    /// Widget accent colour (`#rrggbb`), overridable by `data-color`.
    pub color: Option<String>,
    /// Answers below this confidence hand off (see `DEFAULT_CONFIDENCE_THRESHOLD`).
    pub confidence_threshold: f32,
    pub handoff: HandoffConfig,
    /// Automatic tags for visitor messages.
    pub tags: Vec<TagRule>,
    /// Forms to collect details before a human arrives.
    pub actions: Vec<ActionConfig>,
    /// Operator shortcuts, inserted with `/name` in the inbox.
    pub canned_replies: Vec<CannedReply>,
    /// Resolved conversations are erased this many days after their last event (0 = keep).
    pub retention_days: u32,
    /// How to turn a doc file path into its public URL.
    pub slugs: SlugConfig,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            site: SiteId::parse("demo").expect("valid literal"),
            name: "Docs".into(),
            base_url: "/docs".into(),
            allowed_origins: Vec::new(),
            greeting: "Hi! Ask me anything about the docs — or talk to a person.".into(),
            color: None,
            confidence_threshold: DEFAULT_CONFIDENCE_THRESHOLD,
            handoff: HandoffConfig::default(),
            tags: vec![
                TagRule {
                    tag: "billing".into(),
                    keywords: words(&["invoice", "billing", "charge", "charged", "payment", "refund", "price", "pricing"]),
                },
                TagRule { tag: "urgent".into(), keywords: words(&["urgent", "asap", "outage", "down", "emergency"]) },
                TagRule {
                    tag: "cancellation-risk".into(),
                    keywords: words(&["cancel", "cancellation", "unsubscribe", "switch to", "leaving"]),
                },
                TagRule { tag: "technical".into(), keywords: words(&["error", "bug", "crash", "exception", "stack trace", "broken"]) },
            ],
            actions: Vec::new(),
            canned_replies: Vec::new(),
            retention_days: 90,
            slugs: SlugConfig::default(),
        }
    }
}

fn words(ws: &[&str]) -> Vec<String> {
    ws.iter().map(|w| w.to_string()).collect()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandoffConfig {
    /// Words that hand off at once ("refund", "outage", ...). Matched as whole words.
    pub keywords: Vec<String>,
    /// More ways of asking for a person, on top of the built-in ones.
    pub explicit_phrases: Vec<String>,
    /// Hand off on combined frustration signals.
    pub frustration: bool,
    /// Hand off after this many low-confidence answers in a row (0 = only the threshold).
    pub low_confidence_repeats: u32,
    /// Hand off on the first low-confidence answer.
    pub on_low_confidence: bool,
}

impl Default for HandoffConfig {
    fn default() -> Self {
        HandoffConfig {
            keywords: words(&["urgent", "outage", "refund", "chargeback", "legal", "security incident", "data breach"]),
            explicit_phrases: Vec::new(),
            frustration: true,
            low_confidence_repeats: 2,
            on_low_confidence: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRule {
    pub tag: String,
    pub keywords: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    pub id: String,
    pub title: String,
    /// Show the form when a visitor message contains one of these words...
    #[serde(default)]
    pub keywords: Vec<String>,
    /// ...or when a handoff happens for one of these reasons ("keyword", "button", ...), or
    /// "no_operator_online".
    #[serde(default)]
    pub on_handoff: Vec<String>,
    pub fields: Vec<FieldSpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedReply {
    pub name: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlugConfig {
    /// Drop a trailing `index` / `README` segment (`guide/index.md` → `guide`).
    pub strip_index: bool,
    /// Keep the file extension in URLs (`.html` sites).
    pub keep_extension: bool,
    /// Appended to every page URL (e.g. "/" or ".html").
    pub suffix: String,
}

impl Default for SlugConfig {
    fn default() -> Self {
        SlugConfig { strip_index: true, keep_extension: false, suffix: String::new() }
    }
}

impl SiteConfig {
    /// Checks what serde cannot: ranges, formats, duplicates. The error names the key.
    pub fn validate(&self) -> Result<(), ErrorBody> {
        if !(0.0..=1.0).contains(&self.confidence_threshold) {
            return Err(ErrorBody::field("confidence_threshold", "confidence_threshold must be between 0 and 1"));
        }
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            if !origin_pattern_is_valid(origin) {
                return Err(ErrorBody::field(
                    &format!("allowed_origins[{i}]"),
                    format!(
                        "{origin:?} is not an origin: write scheme://host[:port], e.g. https://docs.example.com or https://*.example.com"
                    ),
                ));
            }
        }
        if let Some(c) = &self.color {
            if parse_hex_color(c).is_none() {
                return Err(ErrorBody::field("color", format!("{c:?} is not a colour: write #rrggbb")));
            }
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, a) in self.actions.iter().enumerate() {
            if !ids.insert(a.id.as_str()) {
                return Err(ErrorBody::field(&format!("actions[{i}].id"), format!("duplicate action id {:?}", a.id)));
            }
            if a.fields.is_empty() {
                return Err(ErrorBody::field(&format!("actions[{i}].fields"), "an action needs at least one field"));
            }
        }
        for (i, t) in self.tags.iter().enumerate() {
            crate::protocol::validate_tag(&t.tag).map_err(|e| ErrorBody::field(&format!("tags[{i}].tag"), e.message))?;
        }
        Ok(())
    }

    /// Whether a page on `origin` may use this site's widget API.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|p| origin_matches(p, origin))
    }
}

fn origin_pattern_is_valid(p: &str) -> bool {
    let Some((scheme, rest)) = p.split_once("://") else {
        return false;
    };
    (scheme == "http" || scheme == "https")
        && !rest.is_empty()
        && !rest.contains('/')
        && rest.chars().all(|c| c.is_ascii_alphanumeric() || ".-:*".contains(c))
        && (!rest.contains('*') || (rest.starts_with("*.") && !rest[2..].contains('*')))
}

/// `https://*.example.com` matches `https://docs.example.com` but not `https://example.com`
/// nor `https://evil-example.com`.
pub fn origin_matches(pattern: &str, origin: &str) -> bool {
    let origin = origin.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    if let Some((scheme, host)) = pattern.split_once("://*.") {
        let Some((oscheme, ohost)) = origin.split_once("://") else {
            return false;
        };
        return oscheme == scheme && ohost.len() > host.len() + 1 && ohost.ends_with(&format!(".{host}"));
    }
    pattern == origin
}

/// `#rrggbb` → (r, g, b).
pub fn parse_hex_color(c: &str) -> Option<(u8, u8, u8)> {
    let h = c.strip_prefix('#')?;
    if h.len() != 6 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let p = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some((p(0)?, p(2)?, p(4)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_origins_match_subdomains_only() {
        assert!(origin_matches("https://*.example.com", "https://docs.example.com"));
        assert!(!origin_matches("https://*.example.com", "https://example.com"));
        assert!(!origin_matches("https://*.example.com", "https://evil-example.com"));
        assert!(!origin_matches("https://*.example.com", "http://docs.example.com"));
        assert!(origin_matches("http://localhost:8787", "http://localhost:8787"));
    }

    #[test]
    fn validation_names_the_key() {
        let c = SiteConfig { allowed_origins: vec!["example.com".into()], ..Default::default() };
        assert_eq!(c.validate().unwrap_err().field.as_deref(), Some("allowed_origins[0]"));
        let c = SiteConfig { confidence_threshold: 2.0, ..Default::default() };
        assert_eq!(c.validate().unwrap_err().field.as_deref(), Some("confidence_threshold"));
        assert!(SiteConfig::default().validate().is_ok());
    }
}
