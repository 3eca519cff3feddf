//! When to hand a conversation to a human: explicit requests, trigger keywords, frustration.
//! (Low confidence is decided with the engine's answer, in `conversation`.)
//!
//! Matching is on normalised words, never substrings, so "human-readable slug" or "can I speak
//! to the REST API" do not fire.

use crate::config::HandoffConfig;
use crate::protocol::{Handoff, HandoffReason};

/// A person is asked for when a request verb phrase is followed (within a few words) by a
/// person noun, or a short message is just a person noun ("agent", "human please").
const PERSON_NOUNS: &[&str] = &[
    "human",
    "humans",
    "person",
    "people",
    "someone",
    "somebody",
    "agent",
    "operator",
    "representative",
    "rep",
    "staff",
    "team",
    "support",
    "employee",
    "colleague",
    "manager",
    "supervisor",
];
/// Words that turn a person noun into something else ("support ticket", "team plan").
const NOT_PERSON_AFTER: &[&str] = &[
    "readable",
    "api",
    "plan",
    "plans",
    "docs",
    "documentation",
    "page",
    "article",
    "ticket",
    "tickets",
    "email",
    "site",
    "portal",
    "forum",
    "member",
    "members",
    "settings",
    "role",
    "roles",
    "account",
    "accounts",
    "id",
    "field",
    "fields",
    "readable",
    "language",
    "languages",
    "verification",
];
const REQUEST_VERBS: &[&[&str]] = &[
    &["talk", "to"],
    &["speak", "to"],
    &["speak", "with"],
    &["talk", "with"],
    &["chat", "with"],
    &["connect", "me"],
    &["transfer", "me"],
    &["get", "me"],
    &["give", "me"],
    &["put", "me", "through"],
    &["i", "want"],
    &["i", "need"],
    &["need", "a"],
    &["want", "a"],
    &["contact"],
    &["reach"],
    &["escalate"],
];
const STANDALONE: &[&[&str]] = &[
    &["human"],
    &["human", "please"],
    &["a", "human"],
    &["real", "human"],
    &["real", "person"],
    &["agent"],
    &["agent", "please"],
    &["live", "agent"],
    &["live", "chat"],
    &["operator"],
    &["representative"],
    &["customer", "service"],
    &["customer", "support"],
];

/// Lowercase words (letters, digits and `'` only).
pub fn normalise(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().replace('\'', ""))
        .collect()
}

fn find(words: &[String], phrase: &[&str]) -> Option<usize> {
    if phrase.is_empty() || words.len() < phrase.len() {
        return None;
    }
    (0..=words.len() - phrase.len()).find(|&i| phrase.iter().enumerate().all(|(j, p)| words[i + j] == *p))
}

/// Is this message a request for a person? Returns the matched words as evidence.
pub fn explicit_request(text: &str, extra_phrases: &[String]) -> Option<String> {
    let words = normalise(text);
    for phrase in extra_phrases {
        let p = normalise(phrase);
        let p: Vec<&str> = p.iter().map(|s| s.as_str()).collect();
        if find(&words, &p).is_some() {
            return Some(phrase.clone());
        }
    }
    // Whole message is a person request ("real human please", "agent").
    let filler = ["please", "pls", "now", "hi", "hello", "hey", "i", "want", "need", "can", "get", "a", "an", "the", "to", "talk", "speak"];
    let core: Vec<&str> = words.iter().map(|s| s.as_str()).filter(|w| !filler.contains(w)).collect();
    for s in STANDALONE {
        if words.iter().map(|w| w.as_str()).eq(s.iter().copied())
            || (!core.is_empty() && core.iter().copied().eq(s.iter().copied().filter(|w| !filler.contains(w))))
        {
            return Some(words.join(" "));
        }
    }
    for verb in REQUEST_VERBS {
        let Some(at) = find(&words, verb) else {
            continue;
        };
        let after = at + verb.len();
        // A person noun within the next four words, not followed by a word that makes it a thing.
        for i in after..(after + 4).min(words.len()) {
            let w = words[i].as_str();
            if PERSON_NOUNS.contains(&w) {
                let next = words.get(i + 1).map(|s| s.as_str()).unwrap_or("");
                if NOT_PERSON_AFTER.contains(&next) {
                    break;
                }
                return Some(words[at..=i].join(" "));
            }
            // "talk to the REST API": the object is not a person; stop at the first noun-ish word
            // that isn't an article or adjective.
            if !["a", "an", "the", "some", "real", "actual", "live", "your", "to", "with", "me"].contains(&w) {
                break;
            }
        }
    }
    None
}

/// A configured trigger keyword, matched as whole words (multi-word keywords as phrases).
pub fn keyword(text: &str, keywords: &[String]) -> Option<String> {
    let words = normalise(text);
    keywords
        .iter()
        .find(|k| {
            let p = normalise(k);
            let p: Vec<&str> = p.iter().map(|s| s.as_str()).collect();
            find(&words, &p).is_some()
        })
        .cloned()
}

const NEGATIVE: &[&str] = &[
    "useless",
    "stupid",
    "ridiculous",
    "terrible",
    "awful",
    "annoying",
    "frustrating",
    "frustrated",
    "angry",
    "wtf",
    "worst",
    "hate",
    "garbage",
    "nonsense",
    "pointless",
    "waste",
];
const NOT_WHAT_I_ASKED: &[&[&str]] = &[
    &["not", "what", "i", "asked"],
    &["thats", "not", "what", "i"],
    &["you", "dont", "understand"],
    &["doesnt", "answer", "my"],
    &["didnt", "answer", "my"],
    &["not", "helpful"],
    &["not", "my", "question"],
    &["already", "told", "you"],
    &["i", "just", "said"],
];

/// Frustration signals in one message (with the previous visitor messages for repeats).
/// Returns the signals found; a handoff needs at least two, or one strong one twice.
pub fn frustration_signals(text: &str, previous: &[String]) -> Vec<String> {
    let words = normalise(text);
    let mut signals = Vec::new();
    if let Some(p) = NOT_WHAT_I_ASKED.iter().find(|p| find(&words, p).is_some()) {
        signals.push(format!("\"{}\"", p.join(" ")));
    }
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() >= 8 && letters.iter().all(|c| c.is_uppercase()) {
        signals.push("all caps".into());
    }
    if let Some(w) = words.iter().find(|w| NEGATIVE.contains(&w.as_str())) {
        signals.push(format!("negative word \"{w}\""));
    }
    if text.contains("!!") || text.contains("?!") {
        signals.push("repeated punctuation".into());
    }
    let norm = words.join(" ");
    if !norm.is_empty() && previous.iter().any(|p| normalise(p).join(" ") == norm) {
        signals.push("repeated question".into());
    }
    signals
}

/// Decides, from one visitor message (and the previous ones), whether to hand off before the
/// bot even tries. Order: explicit request, keyword, frustration.
pub fn triage(text: &str, previous: &[String], config: &HandoffConfig) -> Option<Handoff> {
    if let Some(e) = explicit_request(text, &config.explicit_phrases) {
        return Some(Handoff { reason: HandoffReason::ExplicitRequest, evidence: vec![e] });
    }
    if let Some(k) = keyword(text, &config.keywords) {
        return Some(Handoff { reason: HandoffReason::Keyword, evidence: vec![k] });
    }
    if config.frustration {
        let signals = frustration_signals(text, previous);
        if signals.len() >= 2 {
            return Some(Handoff { reason: HandoffReason::Frustration, evidence: signals });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HandoffConfig {
        HandoffConfig::default()
    }

    #[test]
    fn explicit_requests_fire() {
        for m in [
            "can I talk to someone",
            "real human please",
            "agent",
            "I want to speak to a person",
            "Can you connect me with a human?",
            "talk to a person",
            "I need a human",
            "let me talk to your team",
        ] {
            assert_eq!(triage(m, &[], &cfg()).map(|h| h.reason), Some(HandoffReason::ExplicitRequest), "{m}");
        }
    }

    #[test]
    fn look_alikes_do_not_fire() {
        for m in [
            "how do I make a human-readable slug",
            "can I speak to the REST API",
            "how do I talk to the database from a worker",
            "does the agent field support markdown",
            "what is the team plan price",
            "where is the support article about webhooks",
        ] {
            assert_ne!(triage(m, &[], &cfg()).map(|h| h.reason), Some(HandoffReason::ExplicitRequest), "{m}");
        }
    }

    #[test]
    fn keywords_match_whole_words() {
        assert_eq!(triage("I want a refund", &[], &cfg()).unwrap().reason, HandoffReason::Keyword);
        assert!(triage("how are refunded items shown", &[], &cfg()).is_none());
    }

    #[test]
    fn frustration_needs_two_signals() {
        assert!(triage("this is useless", &[], &cfg()).is_none());
        let h = triage("THIS IS USELESS, NOT WHAT I ASKED", &[], &cfg()).unwrap();
        assert_eq!(h.reason, HandoffReason::Frustration);
        let prev = vec!["how do I deploy".to_string()];
        assert_eq!(triage("how do I deploy!!", &prev, &cfg()).unwrap().reason, HandoffReason::Frustration);
    }
}
