//! When to hand a conversation to a human, from one visitor message (and the previous ones):
//! an explicit request for a person, a trigger keyword, or frustration. Low confidence is
//! decided with the engine's answer, in `conversation`; the button needs no words.
//!
//! Everything works on normalised words, never substrings, and on clauses, so that
//! "human-readable slug", "can I speak to the REST API", "can visitors talk to a person?" or
//! "what does 'escalate' do" do not fire. The rules are measured on a hand-labelled set with
//! `index-builder triage` (see `index-builder/tests/triage.rs`).

use crate::config::HandoffConfig;
use crate::protocol::{Handoff, HandoffReason};

// ---------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------

/// Lowercase words (letters and digits; apostrophes dropped, so "don't" → "dont").
pub fn normalise(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .map(|w| w.chars().filter(|c| *c != '\'' && *c != '’').flat_map(char::to_lowercase).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The text without quoted spans: 'escalate', "not helpful", `agent`, “…”. A visitor quoting a
/// word talks about the word, not with it. Apostrophes inside words ("don't") are not quotes.
pub fn strip_quotes(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let close = match c {
            '"' => Some('"'),
            '`' => Some('`'),
            '“' => Some('”'),
            '‘' => Some('’'),
            // A single quote opens only at the start of a word, not inside one ("don't").
            '\'' if i == 0 || !chars[i - 1].is_alphanumeric() => Some('\''),
            _ => None,
        };
        if let Some(close) = close {
            let end = (i + 1..chars.len())
                .find(|&j| chars[j] == close && (close != '\'' || chars.get(j + 1).is_none_or(|n| !n.is_alphanumeric())));
            if let Some(end) = end {
                out.push(' ');
                i = end + 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Words that start a new clause: "the widget is broken and I need a person".
const CONJUNCTIONS: &[&str] = &["and", "but", "so", "because", "or", "if", "when", "then", "although", "though"];

/// Clauses: the text cut at sentence punctuation, commas, dashes and conjunctions. "You're a
/// bot, get me a human" is two clauses; the second asks for a person on its own.
fn clauses(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for part in
        text.split(|c: char| matches!(c, '.' | '?' | '!' | ';' | ':' | ',' | '\n' | '—' | '–' | '(' | ')')).flat_map(|c| c.split(" - "))
    {
        let mut clause = Vec::new();
        for w in normalise(part) {
            if CONJUNCTIONS.contains(&w.as_str()) && !clause.is_empty() {
                out.push(std::mem::take(&mut clause));
            } else if !CONJUNCTIONS.contains(&w.as_str()) {
                clause.push(w);
            }
        }
        if !clause.is_empty() {
            out.push(clause);
        }
    }
    out
}

fn is(w: Option<&String>, set: &[&str]) -> bool {
    w.is_some_and(|w| set.contains(&w.as_str()))
}

/// Where `phrase` occurs in `words` (each phrase word must equal a word; `*` matches 0-3
/// words; the last word may carry a plural `s`/`es`). Returns (start, end) of the first match.
fn find_phrase(words: &[String], phrase: &[String]) -> Option<(usize, usize)> {
    fn matches(words: &[String], phrase: &[String], at: usize) -> Option<usize> {
        let Some((first, rest)) = phrase.split_first() else {
            return Some(at);
        };
        if first == "*" {
            return (0..=3).filter(|skip| at + skip <= words.len()).find_map(|skip| matches(words, rest, at + skip));
        }
        let w = words.get(at)?;
        let same = w == first || (rest.is_empty() && (*w == format!("{first}s") || *w == format!("{first}es")));
        if same {
            matches(words, rest, at + 1)
        } else {
            None
        }
    }
    if phrase.is_empty() {
        return None;
    }
    (0..words.len()).find_map(|i| matches(words, phrase, i).map(|end| (i, end)))
}

fn find_str(words: &[String], phrase: &str) -> Option<(usize, usize)> {
    find_phrase(words, &normalise_phrase(phrase))
}

/// A configured phrase as words, keeping `*` wildcards.
fn normalise_phrase(phrase: &str) -> Vec<String> {
    phrase.split_whitespace().flat_map(|w| if w == "*" { vec!["*".to_string()] } else { normalise(w) }).collect()
}

// ---------------------------------------------------------------------------------------------
// Explicit requests for a person
// ---------------------------------------------------------------------------------------------

/// Words that name a person (or a team of people) one can be put through to.
const PERSON: &[&str] = &[
    "human",
    "humans",
    "person",
    "persons",
    "someone",
    "somebody",
    "anyone",
    "anybody",
    "agent",
    "agents",
    "operator",
    "operators",
    "representative",
    "rep",
    "staff",
    "team",
    "support",
    "sales",
    "employee",
    "manager",
    "supervisor",
    "engineer",
    "engineers",
    "developer",
    "developers",
    "colleague",
    "being",
    "member",
    "members",
];
/// After a person word these make it a thing: "human-readable", "team plan", "agent field".
const THING_AFTER: &[&str] = &[
    "readable",
    "api",
    "apis",
    "plan",
    "plans",
    "docs",
    "documentation",
    "page",
    "pages",
    "article",
    "articles",
    "ticket",
    "tickets",
    "email",
    "emails",
    "site",
    "portal",
    "forum",
    "invitations",
    "invitation",
    "limit",
    "seats",
    "settings",
    "setting",
    "role",
    "roles",
    "account",
    "accounts",
    "id",
    "ids",
    "field",
    "fields",
    "language",
    "languages",
    "verification",
    "string",
    "strings",
    "picker",
    "component",
    "object",
    "endpoint",
    "sample",
    "picks",
    "hours",
    "contact",
    "tax",
    "report",
    "reports",
    "sdk",
    "mode",
    "like",
    "else",
    "elses",
    "config",
    "name",
    "names",
    "list",
    "feature",
    "features",
    "token",
    "button",
    "buttons",
    "link",
    "links",
    "label",
    "option",
    "options",
    "flow",
    "handoff",
    "widget",
    "text",
];
/// Before a person word these make it a thing: "user agent", "build agent".
const THING_BEFORE: &[&str] = &["user", "build", "ci", "ssh", "proxy", "ai", "llm", "deploy", "browser", "http"];
/// Words that may stand between a verb and its person: "to one of your engineers", "to an
/// actual human being", "with a member of staff".
const PERSON_LEAD: &[&str] = &[
    "a",
    "an",
    "the",
    "some",
    "any",
    "one",
    "of",
    "your",
    "you",
    "guys",
    "real",
    "actual",
    "live",
    "human",
    "member",
    "members",
    "from",
    "customer",
    "proper",
    "other",
    "another",
    "qualified",
    "technical",
    "tech",
    "account",
    "billing",
    "sales",
    "support",
];
/// Subjects that make a sentence about other people: "can visitors talk to a person?".
const THIRD_PARTY: &[&str] = &[
    "visitor",
    "visitors",
    "user",
    "users",
    "customers",
    "client",
    "clients",
    "they",
    "people",
    "widget",
    "baton",
    "operators",
    "guests",
    "he",
    "she",
];
/// "support" and "sales" are departments one can be put through to only when nothing that
/// makes them a thing follows: "contact support", "talk to sales about…", not "is there
/// support for SSO" nor "sales tax".
const DEPARTMENT_NEXT: &[&str] = &[
    "please",
    "pls",
    "now",
    "asap",
    "about",
    "regarding",
    "team",
    "teams",
    "staff",
    "agent",
    "agents",
    "person",
    "people",
    "directly",
    "right",
    "here",
    "today",
    "to",
    "instead",
    "urgently",
    "on",
    "via",
    "who",
    "that",
    "i",
    "me",
    "myself",
];

fn is_person(words: &[String], j: usize) -> bool {
    let w = words[j].as_str();
    if !PERSON.contains(&w) || is(words.get(j + 1), THING_AFTER) || (j > 0 && is(words.get(j - 1), THING_BEFORE)) {
        return false;
    }
    if matches!(w, "support" | "sales") {
        return words.get(j + 1).is_none_or(|n| DEPARTMENT_NEXT.contains(&n.as_str()));
    }
    true
}

/// A person phrase starting at `i` (after up to four lead words); returns the index of the
/// person word.
fn person_at(words: &[String], i: usize) -> Option<usize> {
    let mut j = i;
    while j < words.len() && j < i + 5 {
        let w = words[j].as_str();
        // "human support", "live help", "customer service": the first word makes it people.
        if matches!(w, "human" | "live" | "real" | "customer")
            && is(words.get(j + 1), &["help", "assistance", "support", "chat", "service", "care"])
            && !is(words.get(j + 2), THING_AFTER)
            && !is(words.get(j + 2), &["for", "of", "in"])
        {
            return Some(j + 1);
        }
        if is_person(words, j) {
            // "a human being", "support team": take the person word, not a lead.
            if !(PERSON_LEAD.contains(&w) && is(words.get(j + 1), PERSON)) {
                return Some(j);
            }
        }
        if !PERSON_LEAD.contains(&w) {
            return None;
        }
        j += 1;
    }
    None
}

/// Whether the words before `verb` in a clause make it about someone else ("can visitors
/// talk to…", "how can my customers reach…") or ask who is answering ("am I talking to…").
fn not_a_request(words: &[String], verb: usize) -> bool {
    let before = &words[..verb];
    if before.iter().any(|w| THIRD_PARTY.contains(&w.as_str())) {
        return true;
    }
    if before.iter().enumerate().any(|(i, w)| w == "customer" && !is(before.get(i + 1), &["service", "support", "care"])) {
        return true;
    }
    // "am I talking to a real person?" asks who answers, not for someone else.
    before.windows(2).any(|p| p[0] == "am" && p[1] == "i")
}

/// Whether a person word shortly before `v` is its subject: "can *someone* call me".
fn subject_is_person(words: &[String], v: usize) -> bool {
    (v.saturating_sub(4)..v).any(|k| PERSON.contains(&words[k].as_str()) && (k + 1 == v || is_person(words, k)))
}

/// Tries each way of asking for a person on one clause; returns the matched words.
fn request_in_clause(words: &[String]) -> Option<String> {
    let n = words.len();
    let found = |from: usize, to: usize| Some(words[from..=to.min(n - 1)].join(" "));
    for v in 0..n {
        let w = words[v].as_str();
        let next = words.get(v + 1).map(String::as_str);
        let hit: Option<usize> = match w {
            // message a person: "can I message a real person instead?"
            "message" | "dm" => {
                if v > 0 && is(words.get(v - 1), &["i", "can", "could", "to", "me", "please", "just"]) {
                    person_at(words, v + 1)
                } else {
                    None
                }
            }
            // talk / speak / chat to|with a person: "can I talk to someone", "I'd rather speak with a human";
            // "who can I talk to (about …)?".
            "talk" | "talking" | "speak" | "speaking" | "chat" | "chatting" | "touch" => {
                if !matches!(next, Some("to" | "with")) {
                    None
                } else if words[..v].iter().any(|w| w == "who")
                    && (v + 2 == n || is(words.get(v + 2), &["about", "regarding", "for", "if", "now"]))
                {
                    Some(v + 1)
                } else {
                    person_at(words, v + 2)
                }
            }
            // Passive: "I'd like to be transferred to a person", "can I be connected with support".
            "transferred" | "connected" | "passed" | "forwarded" | "escalated" | "redirected" | "routed" => {
                let j = if is(words.get(v + 1), &["through", "over", "on"]) { v + 2 } else { v + 1 };
                let passive = v > 0 && is(words.get(v - 1), &["be", "get", "getting", "being"]);
                if passive && is(words.get(j), &["to", "with"]) {
                    person_at(words, j + 1)
                } else {
                    None
                }
            }
            // connect / transfer / pass / send / put / hand me (through|over) to a person.
            "connect" | "transfer" | "pass" | "send" | "put" | "hand" | "forward" | "redirect" | "route" => {
                let mut j = v + 1;
                if is(words.get(j), &["me", "us", "this", "it", "my", "the"]) {
                    if is(words.get(j), &["my", "the"]) {
                        j += 1; // "transfer my chat to"
                    }
                    j += 1;
                    while is(words.get(j), &["through", "over", "on", "chat", "conversation", "call", "case", "question"]) {
                        j += 1;
                    }
                    if is(words.get(j), &["to", "with"]) {
                        person_at(words, j + 1)
                    } else {
                        None
                    }
                } else if w == "put" {
                    // "put a human on (the line)".
                    person_at(words, v + 1).filter(|&p| is(words.get(p + 1), &["on"]))
                } else {
                    None
                }
            }
            // get / give me a person: "get me a human", "can I get a human on the line", "can I get a
            // call back"; "can someone get back to me".
            "get" | "give" => {
                let me = is(words.get(v + 1), &["me", "us"]);
                let j = if me { v + 2 } else { v + 1 };
                let j = if is(words.get(j), &["a", "an", "quick"]) { j + 1 } else { j };
                let callback = (words.get(j).is_some_and(|w| w == "callback")
                    || (is(words.get(j), &["call"]) && is(words.get(j + 1), &["back"])))
                    && !is(words.get(j + 1), &["function", "url", "handler", "hook"]);
                if w == "get" && callback {
                    Some(j)
                } else if w == "get"
                    && is(words.get(v + 1), &["back"])
                    && is(words.get(v + 2), &["to"])
                    && is(words.get(v + 3), &["me", "us"])
                {
                    subject_is_person(words, v).then_some(v + 3)
                } else if w == "give" && !me {
                    None
                } else {
                    person_at(words, if me { v + 2 } else { v + 1 })
                }
            }
            // I want / need / would like / prefer a person, or to talk to one.
            "want" | "wanna" | "need" | "like" | "prefer" | "rather" | "request" | "requesting" => {
                let negated = v > 0 && is(words.get(v - 1), &["dont", "not", "no", "never", "doesnt", "didnt"]);
                let first_person = v == 0
                    || is(words.get(v - 1), &["i", "id", "we", "wed", "just", "really", "only", "still", "would", "dont", "do", "rather"])
                    || words[..v].iter().any(|w| matches!(w.as_str(), "i" | "id" | "im" | "we"));
                if negated || !first_person || (w == "like" && !words[..v].iter().any(|w| matches!(w.as_str(), "id" | "would" | "wed"))) {
                    None
                } else {
                    // "I want a human", "I'd like a callback from your team".
                    let j = if is(words.get(v + 1), &["to"]) { v + 2 } else { v + 1 };
                    let callback = (j..(j + 3).min(n))
                        .find(|&k| words[k] == "callback" || (words[k] == "call" && is(words.get(k + 1), &["back"])))
                        .filter(|&k| {
                            !is(words.get(k + 1), &["function", "url", "handler", "handlers", "functions", "hook", "param", "parameter"])
                        })
                        .filter(|&k| words[j..k].iter().all(|w| matches!(w.as_str(), "a" | "an" | "get" | "have" | "quick")));
                    callback.or_else(|| person_at(words, j))
                }
            }
            // is there a person / is anyone there / are there any humans around.
            "is" | "are" | "anyone" | "anybody" => {
                let j = if matches!(w, "anyone" | "anybody") {
                    v
                } else if is(words.get(v + 1), &["there", "anyone", "anybody", "someone", "somebody"]) {
                    v + 1
                } else {
                    n
                };
                if j >= n {
                    // "is a human available?", "are any of your agents online?"
                    // ("what hours is your support team available?" asks about the schedule.)
                    if matches!(w, "is" | "are") && !words[..v].iter().any(|w| matches!(w.as_str(), "what" | "when" | "which" | "hours")) {
                        person_at(words, v + 1)
                            .filter(|&p| is(words.get(p + 1), &["available", "around", "online", "there", "here", "free"]))
                    } else {
                        None
                    }
                } else if matches!(words[j].as_str(), "there") {
                    person_at(words, j + 1)
                } else if is(words.get(j + 1), &["there", "available", "around", "here", "online", "from", "who", "i"]) {
                    Some(j)
                } else {
                    None
                }
            }
            // contact / reach a person: "how do I contact support", "reach your support team".
            "contact" | "reach" | "email" | "call" | "phone" | "ring" => {
                // "can someone call me", "have someone contact me".
                if subject_is_person(words, v) && is(words.get(v + 1), &["me", "us"]) {
                    Some(v + 1)
                } else if matches!(w, "contact" | "reach") {
                    person_at(words, v + 1)
                } else {
                    None
                }
            }
            // can a person help me / look at this: "could somebody from support look at my account".
            "help" | "look" | "assist" | "check" | "review" => {
                let who =
                    (v.saturating_sub(5)..v).rev().find(|&k| PERSON.contains(&words[k].as_str()) && (k + 1 == v || is_person(words, k)));
                let asks = words[..v].iter().any(|w| matches!(w.as_str(), "can" | "could" | "would" | "may" | "please" | "get" | "have"));
                let object = is(words.get(v + 1), &["me", "us", "at", "into", "this", "my", "with"]);
                match who {
                    Some(k) if asks && object && !matches!(words[k].as_str(), "anyone" | "anybody") => Some(k.max(v)),
                    _ => None,
                }
            }
            // escalate (this) (to a person).
            "escalate" | "escalation" => {
                let mut j = v + 1;
                if is(words.get(j), &["this", "it", "me", "my", "please"]) {
                    j += 1;
                    if is(words.get(j), &["issue", "case", "ticket", "problem", "question", "request"]) {
                        j += 1;
                    }
                    if is(words.get(j), &["to"]) {
                        person_at(words, j + 1).or(Some(j))
                    } else {
                        Some(j - 1)
                    }
                } else if is(words.get(j), &["to"]) {
                    person_at(words, j + 1)
                } else if j >= n && v > 0 && is(words.get(v - 1), &["please", "pls", "can", "you", "just"]) {
                    Some(v)
                } else {
                    None
                }
            }
            // "can someone reach out to me".
            "out" if v > 0 && words[v - 1] == "reach" => {
                if is(words.get(v + 1), &["to"]) && is(words.get(v + 2), &["me", "us"]) && subject_is_person(words, v - 1) {
                    Some(v + 2)
                } else {
                    None
                }
            }
            // ask for a person: "I'm asking for a human".
            "ask" | "asking" => {
                if is(words.get(v + 1), &["for"]) {
                    person_at(words, v + 2)
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(end) = hit {
            if !not_a_request(words, v) {
                return found(v, end);
            }
        }
    }
    None
}

/// "I don't want a bot", "no bots please", "not a bot", "done with the bot".
fn rejects_the_bot(words: &[String]) -> Option<String> {
    let bot = |w: Option<&String>| is(w, &["bot", "bots", "chatbot", "robot", "machine", "ai"]);
    for i in 0..words.len() {
        let w = words[i].as_str();
        // "no bots please" but not "why is there no bot answer": the bot word must end the
        // clause or be followed by politeness.
        let ends =
            |k: usize| words.get(k + 1).is_none_or(|n| matches!(n.as_str(), "please" | "pls" | "thanks" | "i" | "just" | "only" | "again"));
        let hit = match w {
            "no" | "not" => {
                (bot(words.get(i + 1)) && ends(i + 1))
                    || (is(words.get(i + 1), &["a", "the", "more", "another"]) && bot(words.get(i + 2)) && ends(i + 2))
            }
            "done" | "stop" | "enough" => (i + 1..(i + 4).min(words.len())).any(|k| bot(words.get(k))),
            "dont" | "never" => {
                is(words.get(i + 1), &["want", "need", "like"])
                    && (i + 2..(i + 7).min(words.len())).any(|k| bot(words.get(k)))
                    && !words[..i].iter().any(|w| THIRD_PARTY.contains(&w.as_str()))
            }
            _ => false,
        };
        if hit {
            let end = (i + 4).min(words.len());
            return Some(words[i..end].join(" "));
        }
    }
    None
}

/// Words a whole message may consist of and still be only a request for a person.
const STANDALONE_FILLER: &[&str] = &[
    "please",
    "pls",
    "plz",
    "now",
    "hi",
    "hello",
    "hey",
    "i",
    "want",
    "need",
    "a",
    "an",
    "the",
    "to",
    "talk",
    "speak",
    "chat",
    "with",
    "me",
    "get",
    "some",
    "just",
    "only",
    "real",
    "actual",
    "live",
    "human",
    "being",
    "help",
    "assistance",
    "customer",
    "service",
    "support",
    "care",
    "there",
    "asap",
    "ok",
    "okay",
    "yes",
    "thanks",
    "thank",
    "you",
    "can",
    "could",
    "is",
    "any",
    "one",
    "give",
    "wanna",
    "needed",
    "would",
    "like",
    "id",
    "online",
    "around",
    "available",
    "here",
    "only",
];

/// A clause that is nothing but a person and politeness: "agent", "real human pls", "live
/// support", "customer service", "anyone there".
fn standalone(words: &[String]) -> bool {
    // "Hi team," greets; it does not ask for anyone.
    if words.len() <= 2 && is(words.first(), &["hi", "hello", "hey", "dear"]) {
        return false;
    }
    // Plurals name people in general ("operators, or visitors?"), not someone to talk to.
    let singular = |w: &String| PERSON.contains(&w.as_str()) && (!w.ends_with('s') || w == "humans") && w != "being";
    words.len() <= 6
        && words.iter().all(|w| PERSON.contains(&w.as_str()) || STANDALONE_FILLER.contains(&w.as_str()))
        && (words.iter().any(|w| singular(w) && w != "support")
            || (words.len() <= 3 && words.iter().any(|w| w == "support"))
            || find_str(words, "customer service").is_some()
            || find_str(words, "customer support").is_some()
            || find_str(words, "customer care").is_some()
            || find_str(words, "live support").is_some()
            || find_str(words, "live chat").is_some()
            || find_str(words, "human support").is_some()
            || find_str(words, "human help").is_some()
            || find_str(words, "human assistance").is_some())
}

/// Is this message a request for a person? Returns the words that make it one, as evidence.
pub fn explicit_request(text: &str, extra_phrases: &[String]) -> Option<String> {
    let text = strip_quotes(text);
    let all = normalise(&text);
    for phrase in extra_phrases {
        if find_phrase(&all, &normalise_phrase(phrase)).is_some() {
            return Some(phrase.clone());
        }
    }
    let clauses = clauses(&text);
    clauses
        .iter()
        .find_map(|c| request_in_clause(c).or_else(|| rejects_the_bot(c)))
        .or_else(|| clauses.iter().find(|c| standalone(c)).map(|c| c.join(" ")))
}

// ---------------------------------------------------------------------------------------------
// Keywords
// ---------------------------------------------------------------------------------------------

/// Words that take the urgency out of the next keyword: "not urgent", "non-urgent", "how do I
/// mark a conversation urgent" (a question about the label, not an urgent message).
const NEGATIONS: &[&str] = &["not", "isnt", "non", "no", "never", "arent", "wasnt", "without"];
const ABOUT_THE_LABEL: &[&str] = &["mark", "tag", "label", "flag", "marked", "tagged", "labelled", "labeled", "flagged"];
/// After a keyword these make it a name in the product, not the visitor's situation: "the
/// refund field", "the urgent tag".
const NAMING_AFTER: &[&str] =
    &["field", "fields", "column", "columns", "tag", "tags", "label", "attribute", "property", "key", "parameter", "param"];

/// The first configured keyword in a message: whole words (or the plural), multi-word keywords
/// as phrases (`*` = up to three words), not right after a negation ("this isn't urgent").
pub fn keyword(text: &str, keywords: &[String]) -> Option<String> {
    let words = normalise(&strip_quotes(text));
    keywords
        .iter()
        .find(|k| {
            let phrase = normalise_phrase(k);
            let mut from = 0;
            while let Some((start, end)) = find_phrase(&words[from..], &phrase) {
                let start = from + start;
                let negated = (start.saturating_sub(2)..start).any(|i| NEGATIONS.contains(&words[i].as_str()))
                    || (start.saturating_sub(4)..start).any(|i| ABOUT_THE_LABEL.contains(&words[i].as_str()))
                    || words.get(from + end).is_some_and(|w| NAMING_AFTER.contains(&w.as_str()));
                if !negated {
                    return true;
                }
                from += end.max(1);
                if from >= words.len() {
                    break;
                }
            }
            false
        })
        .cloned()
}

// ---------------------------------------------------------------------------------------------
// Frustration
// ---------------------------------------------------------------------------------------------

/// Direct complaints about the bot's answers: each is a strong signal on its own.
const COMPLAINTS: &[&str] = &[
    "not what i asked",
    "not what i meant",
    "not what i wanted",
    "not my question",
    "you dont understand",
    "you do not understand",
    "youre not listening",
    "you are not listening",
    "arent listening",
    "not listening to me",
    "doesnt answer my",
    "didnt answer my",
    "does not answer my",
    "did not answer my",
    "dont answer my",
    "not helpful",
    "no help at all",
    "you are no help",
    "not helping",
    "keep saying",
    "keep repeating",
    "stop repeating",
    "just told you",
    "youre no help",
    "already told you",
    "i just said",
    "i already said",
    "already said that",
    "you already said",
    "same answer",
    "wrong answer",
    "thats wrong",
    "that is wrong",
    "nothing to do with my",
    "nothing to do with what i",
    "read my question",
    "read my message",
    "are you even reading",
    "are you even listening",
    "for the third time",
    "for the second time",
    "asked three times",
    "asked twice",
    "how many times",
    "waste of my time",
    "waste of time",
    "are you serious",
    "just answer the question",
];
/// Negative words: a weak signal alone ("this error is annoying"), a strong one aimed at the
/// bot or its answers ("useless bot", "your answers are garbage").
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
    "ugh",
    "rubbish",
    "crap",
    "horrible",
    "pathetic",
    "dumb",
    "seriously",
];
/// What a negative word may be aimed at for it to be a complaint about the service.
const TARGETS: &[&str] =
    &["bot", "chatbot", "answer", "answers", "reply", "replies", "chat", "you", "assistant", "support", "response", "responses"];

/// A frustration signal: what was seen, and how much it weighs (a handoff needs 2).
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    pub evidence: String,
    pub weight: u32,
}

/// Frustration signals in one message (with the previous visitor messages for repeats).
pub fn frustration_signals(text: &str, previous: &[String]) -> Vec<Signal> {
    let unquoted = strip_quotes(text);
    let words = normalise(&unquoted);
    let mut signals = Vec::new();
    let strong = |e: String| Signal { evidence: e, weight: 2 };
    let weak = |e: String| Signal { evidence: e, weight: 1 };
    if let Some(p) = COMPLAINTS.iter().find(|p| find_str(&words, p).is_some()) {
        signals.push(strong(format!("\"{p}\"")));
    }
    let mut negatives = 0;
    for (i, w) in words.iter().enumerate() {
        if !NEGATIVE.contains(&w.as_str()) {
            continue;
        }
        let aimed = (i.saturating_sub(3)..(i + 4).min(words.len())).any(|k| k != i && TARGETS.contains(&words[k].as_str()));
        if aimed && !signals.iter().any(|s: &Signal| s.weight == 2 && s.evidence.starts_with("complaint")) {
            signals.push(strong(format!("complaint about the bot: \"{w}\"")));
        } else if negatives < 2 {
            signals.push(weak(format!("negative word \"{w}\"")));
        }
        negatives += 1;
    }
    let letters: Vec<char> = unquoted.chars().filter(|c| c.is_alphabetic()).collect();
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    if letters.len() >= 8 && words.len() >= 2 && upper * 10 >= letters.len() * 9 {
        signals.push(weak("all caps".into()));
    }
    if ["!!", "?!", "!?", "??"].iter().any(|p| unquoted.contains(p)) {
        signals.push(weak("repeated punctuation".into()));
    }
    if find_str(&words, "so hard").is_some() || find_str(&words, "come on").is_some() {
        signals.push(weak("exasperation".into()));
    }
    let norm = words.join(" ");
    if words.len() >= 3 && previous.iter().any(|p| normalise(p).join(" ") == norm) {
        signals.push(weak("asked the same question again".into()));
    }
    signals
}

/// Whether frustration signals add up to a handoff: one strong signal (a direct complaint),
/// or two weaker ones together — never one weak signal alone.
pub fn frustrated(signals: &[Signal]) -> bool {
    signals.iter().map(|s| s.weight).sum::<u32>() >= 2
}

// ---------------------------------------------------------------------------------------------
// Triage
// ---------------------------------------------------------------------------------------------

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
        if frustrated(&signals) {
            return Some(Handoff { reason: HandoffReason::Frustration, evidence: signals.into_iter().map(|s| s.evidence).collect() });
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

    fn reason(m: &str) -> Option<HandoffReason> {
        triage(m, &[], &cfg()).map(|h| h.reason)
    }

    #[test]
    fn explicit_requests_fire_in_the_many_ways_people_ask() {
        for m in [
            "can I talk to someone",
            "real human please",
            "agent",
            "AGENT",
            "customer service",
            "live support",
            "I want to speak to a person",
            "Can you connect me with a human?",
            "I need a human",
            "let me talk to your team",
            "I'd like to talk to one of your engineers",
            "Hi, can I speak to a member of staff please",
            "transfer me to an agent",
            "put me through to sales",
            "get me a real person",
            "Is there a human I can talk to?",
            "is anyone from the team available to chat",
            "can someone from your team help me",
            "please have someone contact me",
            "how do I contact support?",
            "what's the fastest way to reach your support team",
            "I don't want to talk to a bot",
            "you're a bot, get me a human",
            "escalate this to a human",
            "I'd like a callback from your team",
            "need human help",
        ] {
            assert_eq!(reason(m), Some(HandoffReason::ExplicitRequest), "{m}");
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
            "how do I set the user agent string",
            "can visitors talk to a person from the widget?",
            "how can my customers reach a human through Baton",
            "does the bot hand off to a human?",
            "Am I talking to a real person?",
            "what does 'escalate' do in the API",
            "how do I escalate privileges for the deploy token",
            "is there an agent API?",
            "I need a support plan for 20 operators, what are the options?",
            "What are your customer service hours",
            "how do I get someone's conversation history via the API",
            "I need a callback function for new messages",
        ] {
            assert_ne!(reason(m), Some(HandoffReason::ExplicitRequest), "{m}");
        }
    }

    #[test]
    fn quoted_words_are_talked_about_not_used() {
        assert_eq!(strip_quotes("what does 'agent' mean, don't guess"), "what does   mean, don't guess");
        assert_eq!(strip_quotes(r#"show "not helpful" counts"#), "show   counts");
        assert_eq!(reason("How do I show 'not helpful' feedback counts?"), None);
    }

    #[test]
    fn extra_phrases_from_config_fire() {
        let mut c = cfg();
        c.explicit_phrases = vec!["hablar con una persona".into()];
        assert_eq!(triage("quiero hablar con una persona", &[], &c).unwrap().evidence, ["hablar con una persona"]);
    }

    #[test]
    fn keywords_match_whole_words_plurals_and_wildcards_but_not_negated() {
        assert_eq!(reason("I want a refund"), Some(HandoffReason::Keyword));
        assert_eq!(reason("how long do refunds take?"), Some(HandoffReason::Keyword));
        assert_eq!(reason("how are refunded items shown"), None);
        assert_eq!(reason("how do I debug the worker"), None);
        assert_eq!(reason("is the inbox down?"), Some(HandoffReason::Keyword));
        assert_eq!(reason("how do I scroll down to older messages"), None);
        assert_eq!(reason("not urgent, but how do I change the colour?"), None);
        assert_eq!(reason("this isn't urgent: can I export conversations?"), None);
        assert_eq!(triage("URGENT: inbox not loading", &[], &cfg()).unwrap().evidence, ["urgent"]);
    }

    #[test]
    fn frustration_needs_a_complaint_or_two_signals() {
        assert_eq!(reason("this is useless"), None, "one weak signal");
        assert_eq!(reason("HOW DO I DEPLOY"), None, "caps alone");
        assert_eq!(reason("great, thanks!!"), None, "punctuation alone");
        assert_eq!(reason("this error is annoying, how do I silence it?"), None);
        assert_eq!(reason("THIS IS USELESS"), Some(HandoffReason::Frustration));
        assert_eq!(reason("That's not what I asked"), Some(HandoffReason::Frustration));
        assert_eq!(reason("useless bot"), Some(HandoffReason::Frustration));
        let h = triage("THIS IS USELESS, NOT WHAT I ASKED", &[], &cfg()).unwrap();
        assert_eq!(h.reason, HandoffReason::Frustration);
        assert!(h.evidence.iter().any(|e| e.contains("not what i asked")), "{:?}", h.evidence);
        let prev = vec!["how do I deploy this".to_string()];
        assert_eq!(triage("how do I deploy this!!", &prev, &cfg()).unwrap().reason, HandoffReason::Frustration);
        assert_eq!(triage("how do I deploy this", &prev, &cfg()), None, "a repeat alone is one weak signal");
        let mut off = cfg();
        off.frustration = false;
        assert_eq!(triage("THIS IS USELESS", &[], &off), None);
    }

    #[test]
    fn explicit_request_wins_over_keyword_and_frustration() {
        assert_eq!(reason("this is useless, let me talk to a human"), Some(HandoffReason::ExplicitRequest));
        assert_eq!(reason("i need to speak to somebody asap about my account"), Some(HandoffReason::ExplicitRequest));
        assert_eq!(reason("I want a refund NOW!!!"), Some(HandoffReason::Keyword));
    }
}
