//! The panel's words, per language. The loader picks the language (`data-lang`, else the
//! browser's) and has its own two launcher labels; everything the panel shows is here.
//! `{name}` is replaced by an operator's name.

pub struct Strings {
    pub title: &'static str,
    pub greeting: &'static str,
    pub talk_to_human: &'static str,
    pub close: &'static str,
    pub conversation: &'static str,
    pub placeholder: &'static str,
    pub send: &'static str,
    pub you: &'static str,
    pub assistant: &'static str,
    pub queued: &'static str,
    pub reconnecting: &'static str,
    pub offline: &'static str,
    pub from: &'static str,
    pub helpful: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub handoff_online: &'static str,
    pub handoff_offline: &'static str,
    pub joined: &'static str,
    /// A conversation assigned to an operator who has not joined yet (issue 16).
    pub assigned: &'static str,
    pub left: &'static str,
    pub handed_back: &'static str,
    pub resolved: &'static str,
    pub typing: &'static str,
    pub thinking: &'static str,
    pub submit: &'static str,
    pub form_sent: &'static str,
    pub rate_limited: &'static str,
    pub too_large: &'static str,
    pub too_many_tabs: &'static str,
}

pub static EN: Strings = Strings {
    title: "Ask the docs",
    greeting: "Hi! Ask me anything about the docs — or talk to a person.",
    talk_to_human: "Talk to a human",
    close: "Close chat",
    conversation: "Conversation",
    placeholder: "Ask a question…",
    send: "Send",
    you: "You:",
    assistant: "Assistant:",
    queued: "Waiting to send",
    reconnecting: "Reconnecting…",
    offline: "Can't reach the chat right now. Retrying…",
    from: "From:",
    helpful: "Was this helpful?",
    yes: "Yes, helpful",
    no: "No, not helpful",
    handoff_online: "Connecting you with the team — they'll see this whole conversation.",
    handoff_offline: "Nobody from the team is online right now. They'll see this whole conversation and reply.",
    joined: "{name} joined",
    assigned: "{name} will be with you shortly.",
    left: "{name} left",
    handed_back: "You're back with the docs assistant.",
    resolved: "This conversation was resolved. Write again any time.",
    typing: "{name} is typing…",
    thinking: "Looking in the docs…",
    submit: "Send",
    form_sent: "Thanks — sent.",
    rate_limited: "You're sending messages quickly — we'll send this one in a moment.",
    too_large: "That message is too long. Please shorten it.",
    too_many_tabs: "This chat is open in too many tabs. Close one and it will reconnect.",
};

pub static DE: Strings = Strings {
    title: "Frag die Doku",
    greeting: "Hallo! Frag mich alles zur Dokumentation — oder sprich mit einem Menschen.",
    talk_to_human: "Mit einem Menschen sprechen",
    close: "Chat schließen",
    conversation: "Unterhaltung",
    placeholder: "Stell eine Frage…",
    send: "Senden",
    you: "Du:",
    assistant: "Assistent:",
    queued: "Wird gesendet, sobald verbunden",
    reconnecting: "Verbindung wird wiederhergestellt…",
    offline: "Der Chat ist gerade nicht erreichbar. Neuer Versuch läuft…",
    from: "Quelle:",
    helpful: "War das hilfreich?",
    yes: "Ja, hilfreich",
    no: "Nein, nicht hilfreich",
    handoff_online: "Wir verbinden dich mit dem Team — es sieht die ganze Unterhaltung.",
    handoff_offline: "Gerade ist niemand aus dem Team online. Es sieht die ganze Unterhaltung und antwortet.",
    joined: "{name} ist dabei",
    assigned: "{name} ist gleich für dich da.",
    left: "{name} hat den Chat verlassen",
    handed_back: "Du bist wieder beim Doku-Assistenten.",
    resolved: "Diese Unterhaltung ist erledigt. Schreib jederzeit wieder.",
    typing: "{name} schreibt…",
    thinking: "Suche in der Doku…",
    submit: "Senden",
    form_sent: "Danke — gesendet.",
    rate_limited: "Du schreibst gerade sehr schnell — wir senden diese Nachricht gleich.",
    too_large: "Diese Nachricht ist zu lang. Bitte kürze sie.",
    too_many_tabs: "Dieser Chat ist in zu vielen Tabs offen. Schließ einen, dann verbindet er sich neu.",
};

/// The catalogue for a language tag (`de`, `de-AT`, …); English otherwise.
pub fn strings(lang: &str) -> &'static Strings {
    if lang.get(..2).is_some_and(|l| l.eq_ignore_ascii_case("de")) {
        &DE
    } else {
        &EN
    }
}

/// `template` with `{name}` replaced.
pub fn with_name(template: &str, name: &str) -> String {
    template.replace("{name}", name)
}
