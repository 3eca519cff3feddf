//! When to hand a conversation to a human, from one visitor message (and the previous ones):
//! an explicit request for a person, a trigger keyword, or frustration. Low confidence is
//! decided with the engine's answer, in `conversation`; the button needs no words.
//!
//! Everything works on normalised words, never substrings, and on clauses, so that
//! "human-readable slug", "can I speak to the REST API", "can visitors talk to a person?" or
//! "what does 'escalate' do" do not fire. The rules are measured on a hand-labelled set with
//! `index-builder triage` (see `index-builder/tests/triage.rs`).

use crate::config::HandoffConfig;
use crate::engine::embed::Model;
use crate::engine::handoff_classifier::{Class, HandoffClassifier, Prediction};
use crate::protocol::{Handoff, HandoffReason};

// ---------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------

/// Lowercase words (letters and digits; apostrophes dropped, so "don't" → "dont"; hyphenated
/// words joined, so "human-readable" or "human-in-the-loop" name no human, and "e-mail" is
/// "email").
pub fn normalise(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’' || c == '-'))
        .map(|w| w.chars().filter(|c| !matches!(c, '\'' | '’' | '-')).flat_map(char::to_lowercase).collect::<String>())
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
/// bot, get me a human" is two clauses; the second asks for a person on its own. Each is
/// marked when it is hypothetical: opened by "if", or by "when" inside a
/// sentence ("what happens when I ask for a human?", "if I ask for an agent, …") — it tells
/// what would happen, it asks for nothing. ("When can I talk to someone?" is a question.)
fn clauses(text: &str) -> Vec<(Vec<String>, bool)> {
    let mut out = Vec::new();
    for part in
        text.split(|c: char| matches!(c, '.' | '?' | '!' | ';' | ':' | ',' | '\n' | '—' | '–' | '(' | ')')).flat_map(|c| c.split(" - "))
    {
        let mut clause = Vec::new();
        let mut hypothetical = false;
        for w in normalise(part) {
            if CONJUNCTIONS.contains(&w.as_str()) {
                if !clause.is_empty() {
                    out.push((std::mem::take(&mut clause), hypothetical));
                    hypothetical = w == "if" || w == "when";
                } else {
                    hypothetical = w == "if";
                }
            } else {
                clause.push(w);
            }
        }
        if !clause.is_empty() {
            out.push((clause, hypothetical));
        }
    }
    out
}

fn is(w: Option<&String>, set: &[&str]) -> bool {
    w.is_some_and(|w| set.contains(&w.as_str()))
}

/// Where `phrase` occurs in `words` (each phrase word must equal a word; `*` matches 0-3
/// words; the last word may carry a plural `s`/`es`). Returns (start, end) of the first match.
fn find_phrase<P: AsRef<str>>(words: &[String], phrase: &[P]) -> Option<(usize, usize)> {
    fn matches<P: AsRef<str>>(words: &[String], phrase: &[P], at: usize) -> Option<usize> {
        let Some((first, rest)) = phrase.split_first() else {
            return Some(at);
        };
        let first = first.as_ref();
        if first == "*" {
            return (0..=3).filter(|skip| at + skip <= words.len()).find_map(|skip| matches(words, rest, at + skip));
        }
        let w = words.get(at)?.as_str();
        let plural = |suffix: &str| w.len() == first.len() + suffix.len() && w.starts_with(first) && w.ends_with(suffix);
        let same = w == first || (rest.is_empty() && (plural("s") || plural("es")));
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

/// `find_phrase` for a phrase written in normalised words in the code ("not what i asked").
fn find_str(words: &[String], phrase: &str) -> Option<(usize, usize)> {
    let mut parts = [""; 8];
    let mut n = 0;
    for w in phrase.split(' ').take(8) {
        parts[n] = w;
        n += 1;
    }
    find_phrase(words, &parts[..n])
}

/// A message analysed once for every rule: its text without quoted spans, its words, its
/// clauses.
pub struct Parsed {
    pub unquoted: String,
    pub words: Vec<String>,
    clauses: Vec<Vec<String>>,
    /// The clauses that may ask for something (not the hypothetical ones).
    asking: Vec<usize>,
}

impl Parsed {
    pub fn new(text: &str) -> Parsed {
        let unquoted = strip_quotes(text);
        let marked = clauses(&unquoted);
        let asking = marked.iter().enumerate().filter(|(_, (_, h))| !h).map(|(i, _)| i).collect();
        Parsed { words: normalise(&unquoted), clauses: marked.into_iter().map(|(c, _)| c).collect(), asking, unquoted }
    }

    fn asking_clauses(&self) -> impl Iterator<Item = &Vec<String>> + '_ {
        self.asking.iter().map(|&i| &self.clauses[i])
    }
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
    "colleagues",
    "employees",
    "representatives",
    "reps",
    "managers",
    "advisor",
    "advisors",
    "adviser",
    "specialist",
    "specialists",
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

/// Words that ask for a way to reach someone later, not for a person now: "what's the number
/// to contact customer service?", "what hours can I reach support?".
const CONTACT_DETAILS: &[&str] = &[
    "number",
    "phone",
    "telephone",
    "email",
    "mail",
    "address",
    "hours",
    "hour",
    "time",
    "schedule",
    "opening",
    "open",
    "timetable",
    "fax",
    "free",
    "toll",
];

/// Whether the words before `verb` in a clause make it about someone else ("can visitors
/// talk to…", "how can my customers reach…"), ask who is answering ("am I talking to…") or ask
/// for contact details ("the number to contact support").
fn not_a_request(words: &[String], verb: usize) -> bool {
    if words.iter().enumerate().any(|(i, w)| i != verb && CONTACT_DETAILS.contains(&w.as_str())) {
        return true;
    }
    // "is there someone else you work for?" asks about the bot's maker.
    if find_str(words, "you work for").is_some() {
        return true;
    }
    let before = &words[..verb];
    if before.iter().any(|w| THIRD_PARTY.contains(&w.as_str())) {
        return true;
    }
    if before.iter().enumerate().any(|(i, w)| w == "customer" && !is(before.get(i + 1), &["service", "support", "care"])) {
        return true;
    }
    // "am I talking to a real person?" asks who answers, not for someone else.
    if before.windows(2).any(|p| p[0] == "am" && p[1] == "i") {
        return true;
    }
    // "no, you don't need to transfer me to a person", "never connect me with…" — but not "I
    // don't know how to talk to a person" (the negation is the knowing's).
    let negation = (verb.saturating_sub(4)..verb).rev().find(|&i| matches!(before[i].as_str(), "dont" | "never" | "not" | "without"));
    negation.is_some_and(|i| {
        !before[i + 1..]
            .iter()
            .any(|w| matches!(w.as_str(), "know" | "understand" | "see" | "find" | "sure" | "why" | "how" | "where" | "what"))
    }) || find_str(before, "no need").is_some()
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
            "want" | "wanna" | "need" | "like" | "prefer" | "rather" | "request" | "requesting" | "appreciate" => {
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
                    // "I'd prefer to explain this to a real person", "I want to discuss it with someone".
                    let telling = is(words.get(j), &["explain", "discuss", "describe", "show", "go", "walk", "sort", "settle", "raise"])
                        .then(|| (j + 1..(j + 6).min(n)).find(|&k| is(words.get(k), &["to", "with"])).and_then(|k| person_at(words, k + 1)))
                        .flatten();
                    callback.or_else(|| person_at(words, j)).or(telling)
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
                // "could someone from your side take a look at…": the person up to 7 words before.
                let who =
                    (v.saturating_sub(7)..v).rev().find(|&k| PERSON.contains(&words[k].as_str()) && (k + 1 == v || is_person(words, k)));
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

/// A request for a person the rules found: the words that make it one, and where from.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// One of the site's own phrases (`explicit_phrases`): taken as is.
    SitePhrase(String),
    /// The English clause rules: taken unless the classifier finds a request implausible
    /// (`HandoffClassifier::rule_floor`) — they were written on a few hundred messages.
    Clause(String),
    /// A message that is nothing but a person and politeness ("agent", "real human pls").
    Standalone(String),
    /// The Spanish, French or German lexicon: taken as is (the classifier reads English).
    OtherLanguage(String),
}

impl Request {
    pub fn words(&self) -> &str {
        match self {
            Request::SitePhrase(w) | Request::Clause(w) | Request::Standalone(w) | Request::OtherLanguage(w) => w,
        }
    }
}

/// Is this message a request for a person? Returns the words that make it one, as evidence.
pub fn explicit_request(text: &str, extra_phrases: &[String]) -> Option<String> {
    explicit_in(&Parsed::new(text), extra_phrases).map(|r| r.words().to_string())
}

/// A request no classifier can overrule: one of the site's phrases, or in another language.
pub fn certain_request(text: &str, extra_phrases: &[String]) -> Option<String> {
    match explicit_in(&Parsed::new(text), extra_phrases)? {
        Request::Clause(_) => None,
        r => Some(r.words().to_string()),
    }
}

fn explicit_in(m: &Parsed, extra_phrases: &[String]) -> Option<Request> {
    for phrase in extra_phrases {
        if find_phrase(&m.words, &normalise_phrase(phrase)).is_some() {
            return Some(Request::SitePhrase(phrase.clone()));
        }
    }
    // "is it a bot or a human being?" asks what answers: its last clause is no request.
    let either = m.words.iter().any(|w| w == "or") && is(m.words.first(), QUESTION_START);
    m.asking_clauses()
        .find_map(|c| request_in_clause(c).or_else(|| rejects_the_bot(c)))
        .map(Request::Clause)
        .or_else(|| m.asking_clauses().find(|c| !either && standalone(c)).map(|c| Request::Standalone(c.join(" "))))
        .or_else(|| request_in_other_language(&m.unquoted).map(Request::OtherLanguage))
}

// ---------------------------------------------------------------------------------------------
// Requests for a person in Spanish, French and German
// ---------------------------------------------------------------------------------------------

/// A curated lexicon per language: the training data and the embedding model are English, so
/// a visitor asking for a person in another language is recognised by words, not meaning. A
/// clause asks when it names a person *and* a way of asking (a verb of talking, contacting or
/// transferring, or "I want / I need"), and nothing in the message makes it a question about
/// people ("what happens when…", "can my users…").
struct Lexicon {
    language: &'static str,
    /// Words for someone one can be put through to (accents folded: "atención" → "atencion").
    person: &'static [&'static str],
    /// Verbs of talking to, contacting or being put through to someone (anywhere in the clause).
    talk: &'static [&'static str],
    /// "I want", "I need": they ask only with the person right after ("quiero una persona").
    want: &'static [&'static str],
    /// Words that make it a question about people or about the product.
    about: &'static [&'static str],
    /// Turning the bot down: "no quiero un bot".
    no_bot: &'static [&'static str],
    /// Words of the language that English never uses: one must occur ("agent", "person" or
    /// "support" alone are English too).
    markers: &'static [&'static str],
}

const LEXICONS: &[Lexicon] = &[
    Lexicon {
        language: "es",
        person: &[
            "persona",
            "humano",
            "humana",
            "agente",
            "asesor",
            "asesora",
            "operador",
            "operadora",
            "representante",
            "alguien",
            "empleado",
            "empleada",
            "ejecutivo",
            "ejecutiva",
            "encargado",
            "encargada",
            "tecnico",
            "tecnica",
        ],
        talk: &[
            "hablar",
            "hable",
            "hablo",
            "charlar",
            "chatear",
            "atender",
            "atienda",
            "atiende",
            "atenderme",
            "comunicar",
            "comunicarme",
            "comuniqueme",
            "contactar",
            "contactarme",
            "contacto",
            "pasar",
            "pasame",
            "paseme",
            "pasarme",
            "transferir",
            "transfiera",
            "transfierame",
            "transfiereme",
            "conectar",
            "conecteme",
            "conectame",
            "llamar",
            "llameme",
            "llamame",
        ],
        want: &["quiero", "quisiera", "necesito", "prefiero", "preferiria", "deseo", "pido"],
        about: &[
            "pasa",
            "sucede",
            "ocurre",
            "funciona",
            "usuarios",
            "clientes",
            "visitantes",
            "configurar",
            "configuro",
            "rol",
            "permisos",
        ],
        no_bot: &["no quiero * bot", "no quiero * robot", "no quiero * maquina", "nada de bots"],
        markers: &[
            "una", "quiero", "puedo", "puede", "hablar", "por", "favor", "el", "los", "las", "necesito", "alguien", "persona", "con", "me",
            "un", "quisiera", "podria", "usted", "atender", "humano",
        ],
    },
    Lexicon {
        language: "fr",
        person: &[
            "personne",
            "humain",
            "humaine",
            "agent",
            "conseiller",
            "conseillere",
            "operateur",
            "operatrice",
            "representant",
            "representante",
            "quelquun",
            "employe",
            "employee",
            "technicien",
            "technicienne",
            "interlocuteur",
        ],
        talk: &[
            "parler",
            "discuter",
            "joindre",
            "contacter",
            "passer",
            "passez",
            "relation",
            "transferer",
            "transferez",
            "appeler",
            "rappeler",
            "rappelez",
            "rappelle",
        ],
        want: &["veux", "voudrais", "souhaite", "souhaiterais", "besoin", "aimerais", "prefere", "prefererais", "demande", "avoir"],
        about: &["arrive", "fonctionne", "utilisateurs", "clients", "visiteurs", "configurer", "role", "permissions", "quand"],
        no_bot: &["pas * bot", "pas * robot", "plus * bot", "plus * robot"],
        markers: &[
            "je",
            "une",
            "avec",
            "parler",
            "veux",
            "voudrais",
            "moi",
            "suis",
            "pas",
            "svp",
            "quelquun",
            "besoin",
            "vous",
            "un",
            "puis",
            "aimerais",
            "humain",
            "conseiller",
        ],
    },
    Lexicon {
        language: "de",
        person: &[
            "mensch",
            "menschen",
            "person",
            "mitarbeiter",
            "mitarbeiterin",
            "berater",
            "beraterin",
            "agent",
            "agenten",
            "jemand",
            "jemandem",
            "jemanden",
            "kundenservice",
            "kundendienst",
            "ansprechpartner",
            "ansprechpartnerin",
        ],
        talk: &[
            "sprechen",
            "reden",
            "chatten",
            "verbinden",
            "verbinde",
            "verbindet",
            "weiterleiten",
            "erreichen",
            "erreiche",
            "kontaktieren",
            "kontaktiere",
            "anrufen",
            "zuruckrufen",
        ],
        want: &["mochte", "brauche", "hatte", "wurde", "bitte"],
        about: &[
            "passiert",
            "geschieht",
            "funktioniert",
            "benutzer",
            "nutzer",
            "kunden",
            "besucher",
            "einrichten",
            "konfigurieren",
            "rolle",
        ],
        no_bot: &["kein bot", "keinen bot", "kein chatbot", "keinen chatbot", "keinen roboter", "kein roboter"],
        markers: &[
            "ich",
            "mit",
            "einem",
            "einer",
            "einen",
            "bitte",
            "mich",
            "sprechen",
            "mochte",
            "kann",
            "nicht",
            "und",
            "jemandem",
            "menschen",
            "mensch",
            "mitarbeiter",
            "kein",
            "keinen",
            "sie",
            "wir",
        ],
    },
];

/// Lowercase words with accents folded ("atención" → "atencion"), for the other-language
/// lexicons.
fn folded_words(text: &str) -> Vec<String> {
    use unicode_normalization::UnicodeNormalization;
    normalise(text)
        .into_iter()
        .map(|w| w.nfd().filter(|c| !matches!(*c as u32, 0x0300..=0x036F)).collect::<String>())
        .map(|w| if w == "ß" { "ss".to_string() } else { w })
        .collect()
}

/// A request for a person in Spanish, French or German; returns "<language>: <words>".
fn request_in_other_language(text: &str) -> Option<String> {
    let all = folded_words(text);
    for lex in LEXICONS {
        if !all.iter().any(|w| lex.markers.contains(&w.as_str())) || all.iter().any(|w| lex.about.contains(&w.as_str())) {
            continue;
        }
        if let Some(p) = lex.no_bot.iter().find(|p| find_phrase(&all, &normalise_phrase(p)).is_some()) {
            return Some(format!("{}: {p}", lex.language));
        }
        for part in text.split(|c: char| matches!(c, '.' | '?' | '!' | ';' | ',' | '\n' | '¿' | '¡')) {
            let words = folded_words(part);
            // French "personne ne…" is "nobody".
            let person = |i: usize| {
                lex.person.contains(&words[i].as_str())
                    && !(lex.language == "fr" && words[i] == "personne" && is(words.get(i + 1), &["ne", "n"]))
            };
            let Some(p) = (0..words.len()).find(|&i| person(i)) else { continue };
            let talk = words.iter().position(|w| lex.talk.contains(&w.as_str()));
            let want = (p.saturating_sub(4)..p).find(|&i| lex.want.contains(&words[i].as_str()));
            if let Some(a) = talk.or(want) {
                let (from, to) = (p.min(a), p.max(a));
                return Some(format!("{}: {}", lex.language, words[from..=to].join(" ")));
            }
        }
    }
    None
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
const NAMING_AFTER: &[&str] = &[
    "field",
    "fields",
    "column",
    "columns",
    "tag",
    "tags",
    "label",
    "labels",
    "attribute",
    "property",
    "key",
    "parameter",
    "param",
    "flag",
    "flags",
    "status",
    "priority",
    "level",
    "option",
    "setting",
    "filter",
    "view",
    "queue",
];

/// The first configured keyword in a message: whole words (or the plural), multi-word keywords
/// as phrases (`*` = up to three words), not right after a negation ("this isn't urgent").
pub fn keyword<K: AsRef<str>>(text: &str, keywords: &[K]) -> Option<String> {
    keyword_in(&normalise(&strip_quotes(text)), keywords)
}

fn keyword_in<K: AsRef<str>>(words: &[String], keywords: &[K]) -> Option<String> {
    keywords
        .iter()
        .map(AsRef::as_ref)
        .find(|k| {
            let phrase = normalise_phrase(k);
            let mut from = 0;
            while let Some((start, end)) = find_phrase(&words[from..], &phrase) {
                let start = from + start;
                // "not down", and "is not down" for the phrase "is * down".
                let negated = (start.saturating_sub(2)..start).any(|i| NEGATIONS.contains(&words[i].as_str()))
                    || (start..from + end).any(|i| NEGATIONS.contains(&words[i].as_str()) && !phrase.contains(&words[i]))
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
        .map(str::to_string)
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
    "already told me",
    "told me that already",
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
    "asked this three times",
    "asked this twice",
    "asked this before",
    "asked this already",
    "already asked this",
    "going in circles",
    "going round in circles",
    "going around in circles",
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
    frustration_in(&Parsed::new(text), previous)
}

fn frustration_in(m: &Parsed, previous: &[String]) -> Vec<Signal> {
    let (unquoted, words) = (&m.unquoted, &m.words);
    let mut signals = Vec::new();
    let strong = |e: String| Signal { evidence: e, weight: 2 };
    let weak = |e: String| Signal { evidence: e, weight: 1 };
    if let Some(p) = COMPLAINTS.iter().find(|p| find_str(words, p).is_some()) {
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
    if find_str(words, "so hard").is_some() || find_str(words, "come on").is_some() {
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
// Lexical features (the classifier's inputs besides the embedding)
// ---------------------------------------------------------------------------------------------

/// The lexical features, in the classifier's input order. A mean of token vectors blurs
/// exactly what tells a request from a question about requests — who is the subject, whether
/// it is a question, negation — so these say it outright. Stored in the classifier file: a
/// classifier trained with other features is refused.
pub const LEXICAL_LEN: usize = 28;
pub const LEXICAL_FEATURES: [&str; LEXICAL_LEN] = [
    "rule_request",
    "person",
    "contact_verb",
    "question_start",
    "about_product",
    "third_party",
    "first_person",
    "second_person",
    "bot_word",
    "negation",
    "urgency_word",
    "incident_word",
    "stakes_word",
    "complaint",
    "negative_word",
    "negative_at_bot",
    "profanity",
    "repeat_word",
    "shouting",
    "exclamation",
    "question_mark",
    "length",
    "polite",
    "rejects_bot",
    "asks_identity",
    "question_about_bot",
    "time_pressure",
    "access_lost",
];

const CONTACT_VERBS: &[&str] = &[
    "talk",
    "talking",
    "speak",
    "speaking",
    "chat",
    "chatting",
    "contact",
    "reach",
    "connect",
    "connected",
    "transfer",
    "transferred",
    "call",
    "escalate",
    "escalated",
    "message",
    "phone",
    "forward",
    "forwarded",
];
const QUESTION_START: &[&str] = &[
    "how", "what", "why", "when", "where", "which", "who", "does", "do", "did", "is", "are", "was", "can", "could", "will", "would",
    "should", "may",
];
/// Words of a question about the product or its settings rather than a wish.
const ABOUT_PRODUCT: &[&str] = &[
    "happens",
    "happen",
    "happened",
    "works",
    "configure",
    "configured",
    "setup",
    "create",
    "add",
    "enable",
    "disable",
    "role",
    "roles",
    "permission",
    "permissions",
    "setting",
    "settings",
    "feature",
    "docs",
    "documentation",
    "api",
    "field",
    "option",
    "options",
    "button",
    "widget",
    "handoff",
    "inbox",
    "assign",
    "assigned",
    "notify",
    "notification",
    "routing",
    "answered",
    "staffed",
    "rename",
    "customize",
    "customise",
];
const FIRST_PERSON: &[&str] = &["i", "me", "my", "mine", "we", "us", "our", "im", "ive", "id", "ill", "myself"];
const SECOND_PERSON: &[&str] = &["you", "your", "youre", "yours", "u", "ur", "youve"];
const BOT_WORDS: &[&str] = &["bot", "bots", "chatbot", "robot", "ai", "machine", "automated", "assistant", "automatic"];
const NEGATION_WORDS: &[&str] =
    &["not", "no", "dont", "doesnt", "didnt", "cant", "cannot", "wont", "isnt", "arent", "wasnt", "never", "nothing", "nobody", "none"];
/// The visitor says it is urgent.
const URGENCY: &[&str] =
    &["urgent", "urgently", "asap", "emergency", "immediately", "critical", "quickly", "hurry", "priority", "blocker", "blocking"];
/// Outage words: the service stopped answering or was broken into (not "fails", which a
/// build or a test does every day).
const OUTAGE: &[&str] = &[
    "down",
    "outage",
    "offline",
    "unavailable",
    "unreachable",
    "500",
    "500s",
    "502",
    "502s",
    "503",
    "503s",
    "504",
    "504s",
    "crashed",
    "crashing",
    "hacked",
    "breached",
    "compromised",
    "wiped",
    "leaked",
];
/// Beside the outage words, what else says something broke, disappeared or was attacked
/// ([`is_incident`] is either).
const INCIDENT: &[&str] = &[
    "crash",
    "broken",
    "failing",
    "fails",
    "failed",
    "failure",
    "lost",
    "losing",
    "deleted",
    "gone",
    "missing",
    "corrupted",
    "breach",
    "leak",
    "leaking",
    "stolen",
    "unauthorized",
    "fraud",
    "fraudulent",
    "declined",
    "attack",
    "exposed",
    "disappeared",
    "vanished",
    "timeout",
    "timeouts",
    "timing",
    "dead",
    "overwritten",
    "locked",
    "erroring",
    "unusable",
    "403s",
    "404s",
];

/// Something stopped, broke, disappeared or was attacked.
fn is_incident(w: &str) -> bool {
    OUTAGE.contains(&w) || INCIDENT.contains(&w)
}
/// What is at stake: production, customers, money, today.
const STAKES: &[&str] = &[
    "production",
    "prod",
    "live",
    "customers",
    "users",
    "orders",
    "revenue",
    "money",
    "sales",
    "deadline",
    "today",
    "tonight",
    "launch",
    "everyone",
    "everything",
    "all",
    "site",
    "website",
    "business",
    "clients",
    "payments",
    "checkout",
];
const PROFANITY: &[&str] =
    &["fuck", "fucking", "fucked", "shit", "damn", "damnit", "crap", "hell", "wtf", "bullshit", "ffs", "goddamn", "screw"];
const REPEAT_WORDS: &[&str] = &["again", "still", "already", "same", "anymore", "yet", "repeat", "repeating"];
const POLITE: &[&str] = &["please", "pls", "plz", "thanks", "thank", "thx", "kindly"];

/// The lexical features of a message (`LEXICAL_FEATURES` order), each in [0, 1].
pub fn lexical_features(text: &str) -> [f32; LEXICAL_LEN] {
    let m = Parsed::new(text);
    lexical_in(&m, explicit_in(&m, &[]).is_some())
}

/// `lexical_features` of a parsed message whose rules' verdict is known.
pub fn lexical_in(m: &Parsed, rule_request: bool) -> [f32; LEXICAL_LEN] {
    let (unquoted, words, clauses) = (&m.unquoted, &m.words, &m.clauses);
    let has = |set: &[&str]| words.iter().any(|w| set.contains(&w.as_str()));
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    let person = (0..words.len()).any(|j| is_person(words, j));
    let negative_at = |i: usize| (i.saturating_sub(3)..(i + 4).min(words.len())).any(|k| k != i && TARGETS.contains(&words[k].as_str()));
    let negatives: Vec<usize> = (0..words.len()).filter(|&i| NEGATIVE.contains(&words[i].as_str())).collect();
    let letters: Vec<char> = unquoted.chars().filter(|c| c.is_alphabetic()).collect();
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    let starts_question = words.first().is_some_and(|w| QUESTION_START.contains(&w.as_str()));
    [
        b(rule_request),
        b(person),
        b(has(CONTACT_VERBS)),
        b(starts_question),
        b(has(ABOUT_PRODUCT)),
        b(has(THIRD_PARTY)),
        b(has(FIRST_PERSON)),
        b(has(SECOND_PERSON)),
        b(has(BOT_WORDS)),
        b(has(NEGATION_WORDS)),
        b(has(URGENCY)),
        b(words.iter().any(|w| is_incident(w))),
        b(has(STAKES)),
        b(COMPLAINTS.iter().any(|p| find_str(words, p).is_some())),
        b(!negatives.is_empty()),
        b(negatives.iter().any(|&i| negative_at(i))),
        b(words.iter().any(|w| PROFANITY.contains(&w.as_str()) || w.starts_with("fuck"))),
        b(has(REPEAT_WORDS)),
        b(letters.len() >= 8 && words.len() >= 2 && upper * 10 >= letters.len() * 9),
        b(unquoted.contains('!')),
        b(unquoted.contains('?')),
        (words.len().min(40) as f32) / 40.0,
        b(has(POLITE)),
        b(clauses.iter().any(|c| rejects_the_bot(c).is_some())),
        b(asks_identity(words)),
        b(starts_question && has(BOT_WORDS)),
        b(time_pressure(words)),
        b(access_lost(words)),
    ]
}

/// A deadline close by: "in 45 minutes", "the launch is today", "before tonight's release".
fn time_pressure(words: &[String]) -> bool {
    let soon = words.windows(3).any(|w| {
        w[0] == "in"
            && (w[1].chars().all(|c| c.is_ascii_digit()) || matches!(w[1].as_str(), "an" | "a" | "two" | "few"))
            && matches!(w[2].as_str(), "minutes" | "mins" | "min" | "hour" | "hours" | "hrs")
    });
    let today = words.iter().any(|w| matches!(w.as_str(), "today" | "tonight" | "tonights" | "deadline" | "now"));
    let event = words
        .iter()
        .any(|w| matches!(w.as_str(), "launch" | "launches" | "release" | "demo" | "live" | "deadline" | "keynote" | "campaign"));
    soon || (today && event)
}

/// Someone (or everyone) can no longer get in: "nobody can sign in", "we're locked out".
fn access_lost(words: &[String]) -> bool {
    let blocked = words.windows(2).any(|w| {
        matches!(w[0].as_str(), "cant" | "cannot" | "unable" | "can" | "couldnt")
            && matches!(w[1].as_str(), "login" | "log" | "sign" | "signin" | "access" | "get")
    }) && words
        .iter()
        .any(|w| matches!(w.as_str(), "nobody" | "noone" | "everyone" | "all" | "team" | "we" | "customers" | "users" | "cant" | "cannot"));
    blocked || find_str(words, "locked out").is_some() || find_str(words, "lost access").is_some()
}

/// "Are you a bot?", "am I talking to a person?", "is this a real human?": who answers, not a
/// wish for someone else.
fn asks_identity(words: &[String]) -> bool {
    let opening = matches!(
        (words.first().map(String::as_str), words.get(1).map(String::as_str)),
        (Some("are"), Some("you" | "these" | "the")) | (Some("am"), Some("i")) | (Some("is"), Some("this" | "it" | "that"))
    );
    opening
        && words.iter().any(|w| matches!(w.as_str(), "human" | "person" | "real" | "people" | "humans") || BOT_WORDS.contains(&w.as_str()))
}

/// Whether the classifier alone may call a message a request for a person. It must name a
/// person, a way of contacting one or the bot ("you're not listening" is no request), and not
/// be a question about who answers or about what others (visitors, the bot, the widget) can
/// do — "can my visitors talk to a human?", "can the bot talk like a human?". The clause rules
/// know those shapes and still catch the requests among them.
fn classifier_may_request(words: &[String]) -> bool {
    // A person ("agent", "someone"), the bot, a call back, "contact me", or talking to *a*
    // somebody ("speak with a eprson" — typos happen; "talk to Workers KV" names a thing).
    let names_a_way = words.iter().enumerate().any(|(i, w)| {
        let person = is_person(words, i);
        let w = w.as_str();
        person
            || BOT_WORDS.contains(&w)
            || matches!(w, "people" | "worker" | "callback")
            || (CONTACT_VERBS.contains(&w)
                && (is(words.get(i + 1), &["me", "us", "back"])
                    || (is(words.get(i + 1), &["to", "with"])
                        && is(words.get(i + 2), &["a", "an", "the", "some", "any", "one", "your", "somebody", "someone"]))))
    });
    // ...and a way of asking: a verb of contact or wish, or a message too short for one ("human
    // pls"). "Can I see which human agent replied?" asks about an agent, not for one.
    let asks = words.len() <= 4 || words.iter().any(|w| CONTACT_VERBS.contains(&w.as_str()) || ASKING.contains(&w.as_str()));
    let question = is(words.first(), QUESTION_START);
    let about_others = words
        .iter()
        .any(|w| THIRD_PARTY.contains(&w.as_str()) || matches!(w.as_str(), "bot" | "chatbot" | "assistant" | "ai" | "handoff" | "inbox"))
        || find_str(words, "you work for").is_some();
    names_a_way && asks && !asks_identity(words) && !(question && about_others)
}

/// Beside `CONTACT_VERBS`, the words with which people ask for someone (for
/// `classifier_may_request`): wishes and requests.
const ASKING: &[&str] = &[
    "get",
    "give",
    "want",
    "wanna",
    "need",
    "like",
    "prefer",
    "rather",
    "request",
    "requesting",
    "ask",
    "asking",
    "put",
    "pass",
    "send",
    "hand",
    "help",
    "assist",
    "assistance",
    "touch",
    "available",
    "there",
    "online",
    "around",
    "reply",
    "respond",
    "answer",
    "callback",
    "take",
    "look",
    "have",
    "email",
    "follow",
    "handle",
    "please",
    "pls",
    "plz",
    "appreciate",
    "explain",
    "discuss",
    "review",
    "check",
];

/// Whether the classifier alone may call a message frustration. A visitor who asks for
/// information ("this error is annoying, how do I silence it?", "is it stupid to run two
/// sites?") wants the answer: a negative word there is about their situation. Unless the
/// message also turns to the bot ("you", "your answers") — then the question may be the
/// complaint ("how many times…", "are you even reading…").
fn classifier_may_frustrate(m: &Parsed) -> bool {
    let at_the_bot = m.words.iter().any(|w| SECOND_PERSON.contains(&w.as_str()) || BOT_WORDS.contains(&w.as_str()));
    !asks_for_information(m) || at_the_bot
}

/// How sure the classifier must be to call a message an urgent incident on its own (0: its
/// threshold is enough; above 1: never). A message that asks for information ("how do I log
/// errors in production?", "is the payments plugin production ready?", "how do I show a 404
/// page when data is missing?") shares its words with the public urgent examples (lost cards,
/// failed payments, outages) while asking for the docs: it must be a clearly urgent one —
/// unless it states an outage of something live, a breach, a deadline, lost access or "right
/// now". A question for
/// contact details ("what is the hotline number?") must name something broken, lost or
/// attacked at all. And an error on the visitor's own machine ("a 500 when I run the dev server
/// locally") is a question for the docs, unless something live is at stake or a deadline
/// presses.
fn classifier_urgent_floor(m: &Parsed) -> f32 {
    const NEVER: f32 = 2.0;
    let w = &m.words;
    // "…what do we do right now?", "our API keys leaked": pressing, or broken into.
    let breach = m.asking_clauses().flatten().any(|x| matches!(x.as_str(), "hacked" | "breached" | "compromised" | "leaked" | "stolen"));
    let now = find_str(w, "right now").is_some() || find_str(w, "as soon as possible").is_some();
    let pressing = time_pressure(w) || access_lost(w) || breach || now;
    let on_their_machine = w.iter().any(|x| matches!(x.as_str(), "locally" | "local" | "localhost" | "dev" | "development"));
    if on_their_machine && !w.iter().any(|x| LIVE.contains(&x.as_str())) && !pressing {
        return NEVER;
    }
    if !asks_for_information(m) || pressing || live_outage(m).is_some() {
        return 0.0;
    }
    let incident = w.iter().any(|x| is_incident(x) || URGENCY.contains(&x.as_str()));
    if !incident && w.iter().any(|x| CONTACT_DETAILS.contains(&x.as_str())) {
        return NEVER;
    }
    QUESTION_URGENT_FLOOR
}

/// See `classifier_urgent_floor`; chosen on the handoff data's tune split.
const QUESTION_URGENT_FLOOR: f32 = 0.7;

/// A clause that asks for information: "how do I…", "what is…", "is there…", "can I…",
/// "any tips…".
fn asks_for_information(m: &Parsed) -> bool {
    m.clauses.iter().any(|c| {
        let first = c.first().map(String::as_str);
        let second = c.get(1).map(String::as_str);
        matches!(first, Some("how" | "what" | "whats" | "where" | "which" | "who"))
            || matches!((first, second), (Some("is" | "are"), Some("there" | "it")))
            || matches!((first, second), (Some("can" | "could" | "do" | "should" | "may"), Some("i" | "we")))
            || matches!((first, second), (Some("any"), Some("tips" | "idea" | "ideas" | "way")))
            || matches!(first, Some("does" | "is"))
    })
}

// ---------------------------------------------------------------------------------------------
// The conversation around a message
// ---------------------------------------------------------------------------------------------

/// What the conversation says about a new message: frustration often shows across turns, not
/// in one message ("how do I deploy?" twice, "still not working" after an answer).
#[derive(Clone, Copy, Debug, Default)]
pub struct Turns<'a> {
    /// The visitor's earlier messages, oldest first.
    pub previous: &'a [String],
    /// The bot answered the visitor's previous message (an answer, not "I couldn't find that").
    pub answered: bool,
    /// The visitor marked that answer unhelpful (thumbs down).
    pub thumbs_down: bool,
}

/// "still" is a complaint only when something still fails: "I still get the error", not "is
/// this still supported?".
const STILL_NEXT: &[&str] = &[
    "not",
    "no",
    "doesnt",
    "dont",
    "cant",
    "cannot",
    "isnt",
    "wont",
    "didnt",
    "fails",
    "failing",
    "broken",
    "the",
    "same",
    "getting",
    "get",
    "see",
    "seeing",
    "have",
    "having",
    "stuck",
    "nothing",
    "happening",
    "happens",
    "errors",
    "erroring",
    "crashing",
    "down",
    "wrong",
    "missing",
    "empty",
    "blank",
];
/// After an answer, these say the answer did not help ("I already tried that", "it didn't work").
const ANSWER_FAILED: &[&str] = &[
    "already tried",
    "tried that",
    "tried this",
    "tried it",
    "tried everything",
    "did that",
    "done that",
    "did not work",
    "didnt work",
    "does not work",
    "doesnt work",
    "not working",
    "still",
    "again",
    "same thing",
    "same answer",
    "same page",
    "same error",
    "doesnt help",
    "didnt help",
    "does not help",
    "did not help",
    "you said",
    "told me",
    "already read",
    "already checked",
    "already followed",
];
/// The visitor correcting the bot: "no, I meant the inbox", "not the widget, the API".
const CORRECTIONS: &[&str] =
    &["no", "nope", "not", "wrong", "thats not", "that is not", "i meant", "i mean", "i said", "i asked", "actually"];

/// Frustration the conversation shows around this message (each is enough on its own): the
/// same question again after an answer, a message after a thumbs-down, "still" / "again" /
/// "I already tried that" after an answer, a correction of the bot.
pub fn conversation_signals(text: &str, turns: &Turns) -> Vec<String> {
    conversation_in(&Parsed::new(text), turns)
}

fn conversation_in(m: &Parsed, turns: &Turns) -> Vec<String> {
    let mut out = Vec::new();
    if !turns.answered {
        return out;
    }
    let words = &m.words;
    if turns.thumbs_down {
        out.push("wrote again after a thumbs-down on the answer".into());
    }
    let set = |ws: &[String]| ws.iter().filter(|w| !matches!(w.as_str(), "a" | "an" | "the" | "i" | "to")).cloned().collect::<Vec<_>>();
    let mine = set(words);
    let repeated = mine.len() >= 2
        && turns.previous.iter().any(|p| {
            let theirs = set(&normalise(p));
            let shared = mine.iter().filter(|w| theirs.contains(w)).count();
            let union = mine.len() + theirs.iter().filter(|w| !mine.contains(w)).count();
            shared * 10 >= union * 8
        });
    if repeated {
        out.push("asked the same question again after an answer".into());
    }
    let failed = ANSWER_FAILED.iter().find(|p| match find_str(words, p) {
        // "still" only with a failure after it.
        Some((_, end)) if **p == "still" => is(words.get(end), STILL_NEXT),
        Some(_) => true,
        None => false,
    });
    if let Some(p) = failed {
        out.push(format!("\"{p}\" after an answer"));
    }
    let first_clause = m.clauses.first().map(Vec::as_slice).unwrap_or_default();
    let corrects = CORRECTIONS.iter().find(|c| {
        // "No, I meant…" / "not the widget, the inbox": at the very start of the message.
        let phrase: Vec<&str> = c.split(' ').collect();
        first_clause.len() >= phrase.len() && first_clause.iter().zip(&phrase).all(|(w, p)| w == p) && (phrase.len() > 1 || words.len() > 1)
    });
    if let Some(c) = corrects {
        out.push(format!("corrected the bot (\"{c}\")"));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Triage
// ---------------------------------------------------------------------------------------------

/// Words with which the visitor says it is urgent: handed off at once, unless negated ("not
/// urgent") or naming the label ("how do I tag a conversation urgent?").
pub const URGENCY_WORDS: &[&str] = &["urgent", "urgently", "asap", "emergency"];
/// Phrases of an incident under way, handed off as urgent the same way — unless in a how-to
/// question ("how do I show a banner during an outage?").
pub const INCIDENT_PHRASES: &[&str] = &["outage", "is * down", "are * down", "went down", "security incident", "data breach"];

/// The urgency words or incident phrases a message uses (the precise half of urgency; the
/// classifier sees the rest by meaning).
fn urgency_in(m: &Parsed) -> Option<String> {
    let w = &m.words;
    let how_to = is(w.first(), &["how"]) && is(w.get(1), &["do", "does", "can", "could", "should", "would", "to", "i"]);
    // "what happens during an outage?", "a banner for outages": the incident is a topic.
    let topic = find_str(w, "what happens").is_some()
        || w.iter().any(|x| matches!(x.as_str(), "during" | "prevent" | "avoid" | "handle" | "detect" | "history" | "banner"))
        || find_str(w, "in case of").is_some();
    if how_to || topic {
        return keyword_in(w, URGENCY_WORDS);
    }
    keyword_in(w, URGENCY_WORDS).or_else(|| keyword_in(w, INCIDENT_PHRASES)).or_else(|| live_outage(m))
}

/// What is live: the visitor's production and the people and money that depend on it.
const LIVE: &[&str] = &["production", "prod", "customers", "orders", "checkout", "payments", "revenue"];

/// An outage stated (not supposed, not negated) of something live: "production is returning
/// 502 on every request", "checkout has been offline since the deploy".
fn live_outage(m: &Parsed) -> Option<String> {
    let live = m.words.iter().find(|w| LIVE.contains(&w.as_str()))?;
    let outage = m.asking_clauses().find_map(|c| keyword_in(c, OUTAGE))?;
    Some(format!("{outage} ({live})"))
}

/// The learned half of the decision: the site's classifier and the embedding model it reads.
/// Absent when the site's index cannot be loaded; then the rules decide alone.
#[derive(Clone, Copy)]
pub struct Learned<'a> {
    pub model: &'a Model,
    pub classifier: &'a HandoffClassifier,
}

/// A triage with what it saw: the decision, and the classifier's view of the message.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    pub handoff: Option<Handoff>,
    pub prediction: Option<Prediction>,
}

/// Decides, from one visitor message and the conversation around it, whether to hand off
/// before the bot even tries. Order: a request for a person, an urgent incident, a site
/// keyword, frustration.
pub fn triage(text: &str, turns: &Turns, config: &HandoffConfig, learned: Option<Learned>) -> Option<Handoff> {
    assess(text, turns, config, learned).handoff
}

/// `triage`, with the classifier's probabilities (for `index-builder triage` and the bench).
pub fn assess(text: &str, turns: &Turns, config: &HandoffConfig, learned: Option<Learned>) -> Assessment {
    let m = Parsed::new(text);
    let request = explicit_in(&m, &config.explicit_phrases);
    let prediction = learned.map(|l| {
        let rule = match &request {
            Some(Request::SitePhrase(_)) => explicit_in(&m, &[]).is_some(),
            r => r.is_some(),
        };
        l.classifier.predict_features(l.model, &m.unquoted, &lexical_in(&m, rule))
    });
    let handoff = decide(&m, request, turns, config, learned, prediction.as_ref());
    Assessment { handoff, prediction }
}

/// The classifier's probability of an explicit request for the clause the English rules found
/// one in, read alone (0 when no clause has one).
fn asking_clause_probability(m: &Parsed, l: Learned) -> f32 {
    let Some(clause) = m.asking_clauses().find(|c| request_in_clause(c).is_some() || rejects_the_bot(c).is_some()) else {
        return 0.0;
    };
    let alone = Parsed::new(&clause.join(" "));
    let p = l.classifier.predict_features(l.model, &alone.unquoted, &lexical_in(&alone, true));
    p.probability(Class::ExplicitRequest)
}

fn decide(
    m: &Parsed,
    request: Option<Request>,
    turns: &Turns,
    config: &HandoffConfig,
    learned: Option<Learned>,
    p: Option<&Prediction>,
) -> Option<Handoff> {
    // A request for a person must name one (or a way of contacting one, or the bot): without,
    // the classifier's next choice stands ("you're not listening" is no request).
    let class = p.map(|p| match (p.class, learned) {
        (Class::ExplicitRequest, Some(l)) if !classifier_may_request(&m.words) => {
            let mut q = p.probabilities;
            q[Class::ExplicitRequest.index()] = 0.0;
            l.classifier.decide(&q)
        }
        (c, _) => c,
    });
    let says = |c: Class| class == Some(c);
    let handoff = |reason, evidence: Vec<String>| Some(Handoff { reason, evidence });
    // What the classifier saw, as the operator reads it.
    let learned_evidence = |c: Class| -> Vec<String> {
        let Some(p) = p else { return Vec::new() };
        let mut e = vec![format!("classifier: {} {:.2}", describe_class(c), p.probability(c))];
        if let (Some((i, cos)), Some(l)) = (p.example, learned) {
            if l.classifier.examples[i].class == c {
                e.push(format!("like the site's example “{}” ({cos:.2})", crate::state::truncate(&l.classifier.examples[i].text, 60)));
            }
        }
        e
    };

    if let Some(r) = request {
        let vetoed = match (&r, p, learned) {
            (Request::Clause(_), Some(p), Some(l)) => {
                // The classifier is also asked about the clause that asks, alone: a message that
                // describes a problem and then asks for a person ("The checkout does nothing —
                // can I talk to a person?") reads as a problem report as a whole.
                let floor = l.classifier.rule_floor;
                p.probability(Class::ExplicitRequest) < floor && asking_clause_probability(m, l) < floor
            }
            _ => false,
        };
        if !vetoed {
            return handoff(HandoffReason::ExplicitRequest, vec![r.words().to_string()]);
        }
    }
    if says(Class::ExplicitRequest) {
        return handoff(HandoffReason::ExplicitRequest, learned_evidence(Class::ExplicitRequest));
    }
    if let Some(w) = urgency_in(m) {
        return handoff(HandoffReason::Urgent, vec![w]);
    }
    if says(Class::Urgent) && p.is_some_and(|p| p.probability(Class::Urgent) >= classifier_urgent_floor(m)) {
        return handoff(HandoffReason::Urgent, learned_evidence(Class::Urgent));
    }
    if let Some(k) = keyword_in(&m.words, &config.keywords) {
        return handoff(HandoffReason::Keyword, vec![k]);
    }
    if config.frustration {
        let mut evidence = conversation_in(m, turns);
        let signals = frustration_in(m, turns.previous);
        let rules = frustrated(&signals);
        if rules {
            evidence.extend(signals.into_iter().map(|s| s.evidence));
        }
        if says(Class::Frustration) && classifier_may_frustrate(m) {
            evidence.extend(learned_evidence(Class::Frustration));
        }
        if !evidence.is_empty() {
            return handoff(HandoffReason::Frustration, evidence);
        }
    }
    None
}

/// What the precise rules alone find in a message (no site keywords, no conversation): the
/// training tunes the thresholds on the decision `combine` makes with them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RuleVerdicts {
    /// The English clause rules found a request (subject to the classifier's floor).
    pub clause_request: bool,
    /// The other-language lexicon found one.
    pub certain_request: bool,
    /// The classifier alone may call it a request (`classifier_may_request`).
    pub classifier_may_request: bool,
    /// The classifier alone may call it frustration (`classifier_may_frustrate`).
    pub classifier_may_frustrate: bool,
    /// How sure the classifier must be to call it urgent alone (`classifier_urgent_floor`).
    pub classifier_urgent_floor: f32,
    pub urgent: bool,
    pub frustration: bool,
}

pub fn rule_verdicts(text: &str) -> RuleVerdicts {
    let m = Parsed::new(text);
    let request = explicit_in(&m, &[]);
    RuleVerdicts {
        clause_request: matches!(request, Some(Request::Clause(_))),
        certain_request: matches!(request, Some(Request::OtherLanguage(_) | Request::Standalone(_))),
        classifier_may_request: classifier_may_request(&m.words),
        classifier_may_frustrate: classifier_may_frustrate(&m),
        classifier_urgent_floor: classifier_urgent_floor(&m),
        urgent: urgency_in(&m).is_some(),
        frustration: frustrated(&frustration_in(&m, &[])),
    }
}

/// The class `triage` decides from the rules' verdicts and the classifier's probabilities
/// (`to_class`: its thresholds), in `decide`'s order (without site keywords or conversation).
pub fn combine(rules: RuleVerdicts, p: &[f32; 4], rule_floor: f32, to_class: impl Fn(&[f32; 4]) -> Class) -> Class {
    let mut class = to_class(p);
    if class == Class::ExplicitRequest && !rules.classifier_may_request {
        let mut q = *p;
        q[Class::ExplicitRequest.index()] = 0.0;
        class = to_class(&q);
    }
    if rules.certain_request || (rules.clause_request && p[Class::ExplicitRequest.index()] >= rule_floor) || class == Class::ExplicitRequest
    {
        Class::ExplicitRequest
    } else if rules.urgent || (class == Class::Urgent && p[Class::Urgent.index()] >= rules.classifier_urgent_floor) {
        Class::Urgent
    } else if rules.frustration || (class == Class::Frustration && rules.classifier_may_frustrate) {
        Class::Frustration
    } else {
        Class::None
    }
}

fn describe_class(c: Class) -> &'static str {
    match c {
        Class::ExplicitRequest => "request for a person",
        Class::Urgent => "urgent incident",
        Class::Frustration => "frustration",
        Class::None => "none",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn cfg() -> HandoffConfig {
        HandoffConfig::default()
    }

    /// The rules alone (the index, and with it the classifier, could not be loaded).
    fn reason(m: &str) -> Option<HandoffReason> {
        triage(m, &Turns::default(), &cfg(), None).map(|h| h.reason)
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
            "I don't know how to reach a person here",
            "The card is declined and that's it, can I talk to somebody else?",
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
            // Asking what would happen is not asking.
            "What happens when I ask for a human?",
            "If I ask for an agent, does the bot stop answering?",
            // Contact details are for later, not a person now.
            "what's the phone number to contact customer service?",
            "what hours can I reach support?",
            // Negated.
            "No, you don't need to transfer me to a real person",
            "never connect me with sales, just answer",
            // Who answers.
            "is this a bot or a human being?",
        ] {
            assert_ne!(reason(m), Some(HandoffReason::ExplicitRequest), "{m}");
        }
    }

    #[test]
    fn requests_in_spanish_french_and_german_fire() {
        for m in [
            "¿Me puede atender una persona, por favor?",
            "quiero hablar con un humano",
            "Necesito hablar con alguien de soporte",
            "Je voudrais parler à un conseiller",
            "Est-ce que je peux parler avec quelqu'un ?",
            "je veux un humain svp",
            "Kann ich bitte mit einem Menschen sprechen?",
            "Verbinden Sie mich mit einem Mitarbeiter",
            "Ich möchte einen echten Menschen",
            "no quiero hablar con un bot",
        ] {
            let h = triage(m, &Turns::default(), &cfg(), None).unwrap_or_else(|| panic!("{m}"));
            assert_eq!(h.reason, HandoffReason::ExplicitRequest, "{m}");
            assert!(
                h.evidence[0].contains("es:") || h.evidence[0].contains("fr:") || h.evidence[0].contains("de:"),
                "{m}: {:?}",
                h.evidence
            );
        }
        for m in [
            "¿Qué pasa cuando pido hablar con una persona?",
            "¿Pueden mis usuarios hablar con un agente?",
            "Personne ne répond au téléphone",
            "Que se passe-t-il quand je demande un humain ?",
            "Was passiert, wenn ich einen Menschen verlange?",
            "Können meine Kunden mit einem Mitarbeiter sprechen?",
            // English that shares words with the lexicons.
            "will a person see my data?",
            "when will microsoft drop support for windows 7",
            "can an agent person be assigned?",
        ] {
            assert_ne!(reason(m), Some(HandoffReason::ExplicitRequest), "{m}");
        }
    }

    #[test]
    fn quoted_words_are_talked_about_not_used() {
        assert_eq!(strip_quotes("what does 'agent' mean, don't guess"), "what does   mean, don't guess");
        assert_eq!(strip_quotes(r#"show "not helpful" counts"#), "show   counts");
        assert_eq!(reason("How do I show 'not helpful' feedback counts?"), None);
        assert_eq!(reason("what does \"urgent\" do?"), None);
    }

    #[test]
    fn extra_phrases_from_config_fire() {
        let mut c = cfg();
        c.explicit_phrases = vec!["hablar con una persona".into()];
        assert_eq!(triage("quiero hablar con una persona", &Turns::default(), &c, None).unwrap().evidence, ["hablar con una persona"]);
    }

    #[test]
    fn keywords_match_whole_words_plurals_and_wildcards_but_not_negated() {
        assert_eq!(reason("I want a refund"), Some(HandoffReason::Keyword));
        assert_eq!(reason("how long do refunds take?"), Some(HandoffReason::Keyword));
        assert_eq!(reason("how are refunded items shown"), None);
        assert_eq!(reason("how do I debug the worker"), None);
        assert_eq!(reason("how do I scroll down to older messages"), None);
        let mut c = cfg();
        c.keywords = vec!["invoice".into(), "is * late".into()];
        let k = |m: &str| triage(m, &Turns::default(), &c, None).map(|h| h.reason);
        assert_eq!(k("where is my invoice"), Some(HandoffReason::Keyword));
        assert_eq!(k("the delivery is very late"), Some(HandoffReason::Keyword));
        assert_eq!(k("not an invoice question"), None);
        assert_eq!(k("I want a refund"), None, "the site's keywords replace the defaults");
    }

    #[test]
    fn urgency_words_and_incidents_hand_off_as_urgent_unless_negated_or_named() {
        for m in [
            "URGENT: inbox not loading",
            "please respond asap",
            "is the inbox down?",
            "We're having an outage since 9am",
            "possible data breach",
        ] {
            assert_eq!(reason(m), Some(HandoffReason::Urgent), "{m}");
        }
        assert_eq!(triage("URGENT: inbox not loading", &Turns::default(), &cfg(), None).unwrap().evidence, ["urgent"]);
        for m in [
            "not urgent, but how do I change the colour?",
            "this isn't urgent: can I export conversations?",
            "how do I mark a conversation urgent",
            "what does the urgent tag do?",
            "how do I show a banner during an outage?",
        ] {
            assert_eq!(reason(m), None, "{m}");
        }
        // The site's keywords don't turn urgency off.
        let c = HandoffConfig { keywords: vec![], ..cfg() };
        assert_eq!(triage("emergency!", &Turns::default(), &c, None).map(|h| h.reason), Some(HandoffReason::Urgent));
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
        let h = triage("THIS IS USELESS, NOT WHAT I ASKED", &Turns::default(), &cfg(), None).unwrap();
        assert_eq!(h.reason, HandoffReason::Frustration);
        assert!(h.evidence.iter().any(|e| e.contains("not what i asked")), "{:?}", h.evidence);
        let prev = vec!["how do I deploy this".to_string()];
        let asked = Turns { previous: &prev, ..Turns::default() };
        assert_eq!(triage("how do I deploy this!!", &asked, &cfg(), None).unwrap().reason, HandoffReason::Frustration);
        assert_eq!(triage("how do I deploy this", &asked, &cfg(), None), None, "a repeat without an answer in between");
        let mut off = cfg();
        off.frustration = false;
        assert_eq!(triage("THIS IS USELESS", &Turns::default(), &off, None), None);
    }

    #[test]
    fn the_conversation_shows_frustration_a_single_message_hides() {
        let prev = vec!["How do I deploy the worker?".to_string()];
        let answered = Turns { previous: &prev, answered: true, thumbs_down: false };
        let is_frustration = |m: &str, t: &Turns| triage(m, t, &cfg(), None).map(|h| h.reason) == Some(HandoffReason::Frustration);
        // The same question again, after an answer.
        assert!(is_frustration("how do I deploy the worker", &answered));
        // "still", "again", "I already tried that" after an answer.
        assert!(is_frustration("It still doesn't deploy", &answered));
        assert!(is_frustration("I already tried that", &answered));
        assert!(is_frustration("same error again", &answered));
        // Correcting the bot.
        assert!(is_frustration("No, I meant the Pages project", &answered));
        // A message after a thumbs-down on the answer.
        let disliked = Turns { thumbs_down: true, ..answered };
        assert!(is_frustration("ok, and what about environment variables?", &disliked));
        let h = triage("ok, and what about environment variables?", &disliked, &cfg(), None).unwrap();
        assert_eq!(h.evidence, ["wrote again after a thumbs-down on the answer"]);
        // The same messages without an answer before them are mild.
        let fresh = Turns { previous: &prev, answered: false, thumbs_down: false };
        for m in ["It still doesn't deploy", "I already tried that", "No, I meant the Pages project"] {
            assert!(!is_frustration(m, &fresh), "{m}");
        }
        // "still" without a failure after it, a new question: nothing.
        assert!(!is_frustration("is this still supported on Node 18?", &answered));
        assert!(!is_frustration("Thanks! How do I add a custom domain?", &answered));
    }

    #[test]
    fn explicit_request_wins_over_urgency_keyword_and_frustration() {
        assert_eq!(reason("this is useless, let me talk to a human"), Some(HandoffReason::ExplicitRequest));
        assert_eq!(reason("i need to speak to somebody asap about my account"), Some(HandoffReason::ExplicitRequest));
        assert_eq!(reason("I want a refund NOW!!!"), Some(HandoffReason::Keyword));
        assert_eq!(reason("urgent: I want a refund"), Some(HandoffReason::Urgent));
    }

    // -----------------------------------------------------------------------------------------
    // With the shipped classifier (model/ in the repository)
    // -----------------------------------------------------------------------------------------

    pub(crate) fn shipped() -> &'static (Model, HandoffClassifier) {
        static SHIPPED: std::sync::OnceLock<(Model, HandoffClassifier)> = std::sync::OnceLock::new();
        SHIPPED.get_or_init(|| {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../model/");
            let model =
                crate::index::model_from_bytes(&std::fs::read(format!("{dir}potion-base-8M.int8.model")).expect("model/ in the repo"))
                    .expect("the model loads");
            let classifier =
                HandoffClassifier::from_bytes(&std::fs::read(format!("{dir}handoff.classifier")).expect("model/handoff.classifier"))
                    .expect("the classifier loads");
            (model, classifier)
        })
    }

    fn learned_reason(m: &str) -> Option<HandoffReason> {
        let (model, classifier) = shipped();
        triage(m, &Turns::default(), &cfg(), Some(Learned { model, classifier })).map(|h| h.reason)
    }

    /// Messages of the kinds the rules alone let pass (issue 12). Unit-test material only: the
    /// figures that count are `./baton bench triage`'s, on held-out public data.
    #[test]
    fn the_classifier_sees_what_the_rules_miss() {
        for (m, want) in [
            ("Great, another answer that tells me nothing.", Some(HandoffReason::Frustration)),
            ("You already told me that, it did not work.", Some(HandoffReason::Frustration)),
            ("The production API has returned 500s since your last release and we are losing orders", Some(HandoffReason::Urgent)),
            ("I would prefer to explain this to a real person.", Some(HandoffReason::ExplicitRequest)),
            ("¿Me puede atender una persona, por favor?", Some(HandoffReason::ExplicitRequest)),
            ("Our payments have been failing all morning and customers can't check out", Some(HandoffReason::Urgent)),
            ("Our database was wiped and the launch is today", Some(HandoffReason::Urgent)),
            // A problem report that then asks for a person: the asking clause is read alone.
            ("The checkout button does nothing — can I talk to a person?", Some(HandoffReason::ExplicitRequest)),
        ] {
            assert_eq!(learned_reason(m), want, "{m}");
        }
        assert_eq!(reason("Our payments have been failing all morning and customers can't check out"), None, "the rules alone miss it");
        assert_eq!(reason("a human would understand this, please"), None, "the rules alone miss it");
        assert_eq!(learned_reason("a human would understand this, please"), Some(HandoffReason::ExplicitRequest));
    }

    #[test]
    fn the_classifier_tells_a_request_from_a_question_about_people() {
        for m in [
            "What happens when I ask for a human?",
            "Is this chat answered by humans?",
            "how do I create a support-agent role?",
            "Can the bot talk like a human?",
            "does my team get notified when a visitor asks for a person?",
            "How do I speak to Workers KV from Rust?",
            "Am I talking to a real person?",
        ] {
            assert_ne!(learned_reason(m), Some(HandoffReason::ExplicitRequest), "{m}");
        }
        for m in ["can I talk to someone", "I'd rather have a person look at this", "get me a human"] {
            assert_eq!(learned_reason(m), Some(HandoffReason::ExplicitRequest), "{m}");
        }
    }

    #[test]
    fn a_question_with_a_negative_word_is_answered_not_handed_off() {
        for m in [
            "this error is annoying, how do I silence it?",
            "Is it stupid to run two sites on one worker?",
            "how do I turn off frustration detection",
        ] {
            assert_eq!(learned_reason(m), None, "{m}");
        }
    }

    #[test]
    fn a_docs_question_with_incident_words_is_answered_an_outage_of_production_is_urgent() {
        // Questions that share their words with outages and lost cards, but ask for the docs.
        for m in [
            "How do I show a 404 page when data is missing?",
            "How do I log errors in production?",
            "Is the payments plugin production ready?",
            "I'm getting a 500 error when I run the dev server locally, what does that mean?",
        ] {
            assert_ne!(learned_reason(m), Some(HandoffReason::Urgent), "{m}");
        }
        // Stated incidents, some phrased as questions.
        for m in [
            "Production is returning 502 on every request since 10 minutes.",
            "Our API keys leaked on GitHub, what do we do right now?",
            "The admin panel is unreachable and we go live in one hour.",
        ] {
            assert_eq!(learned_reason(m), Some(HandoffReason::Urgent), "{m}");
        }
        // The rule alone: stated, of something live, not supposed or negated.
        assert_eq!(reason("checkout has been offline since the deploy"), Some(HandoffReason::Urgent));
        assert_eq!(reason("production is not down, I just want to know about caching"), None);
        assert_eq!(reason("what status does the API return if production is unreachable"), None);
    }

    #[test]
    fn plural_and_other_words_for_the_people_one_asks_for() {
        for m in ["Pass me to your colleagues please", "Puis-je avoir un conseiller s'il vous plaît ?"] {
            assert_eq!(learned_reason(m), Some(HandoffReason::ExplicitRequest), "{m}");
        }
    }

    #[test]
    fn the_evidence_says_what_the_classifier_saw() {
        let (model, classifier) = shipped();
        let a =
            assess("Our checkout is failing for every customer since 10am", &Turns::default(), &cfg(), Some(Learned { model, classifier }));
        let h = a.handoff.unwrap();
        assert_eq!(h.reason, HandoffReason::Urgent);
        assert!(h.evidence[0].starts_with("classifier: urgent incident "), "{:?}", h.evidence);
        let p = a.prediction.unwrap();
        assert!((p.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert_eq!(p.class, Class::Urgent);
    }

    #[test]
    fn a_site_example_decides_for_messages_close_to_it() {
        let (model, classifier) = shipped();
        let plain = Learned { model, classifier };
        let m = "The nightly Salesforce sync did not run";
        assert_eq!(triage(m, &Turns::default(), &cfg(), Some(plain)).map(|h| h.reason), None);
        let site = classifier.clone().with_examples(model, &[("the nightly sync to Salesforce didn't run".into(), Class::Urgent)]).unwrap();
        let h = triage(m, &Turns::default(), &cfg(), Some(Learned { model, classifier: &site })).unwrap();
        assert_eq!(h.reason, HandoffReason::Urgent);
        assert!(h.evidence.iter().any(|e| e.contains("site's example")), "{:?}", h.evidence);
        // Unrelated messages are untouched.
        assert_eq!(triage("How do I add a locale?", &Turns::default(), &cfg(), Some(Learned { model, classifier: &site })), None);
    }
}
