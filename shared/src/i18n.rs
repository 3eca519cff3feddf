//! The visitor's language.
//!
//! - [`Lang`]: the languages Baton speaks to visitors (English, German, French, Spanish). The
//!   widget's loader picks one from `data-lang` or the browser's languages; the conversation
//!   keeps the one it was started in.
//! - [`Localized`]: a site string from `baton.toml` in one language or several
//!   (`greeting = "Hi!"`, or `greeting.en = "Hi!"` + `greeting.de = "Hallo!"`).
//! - [`words`]: what the engine itself tells visitors (handoff notices, the built-in email form,
//!   "I couldn't find that in the docs"), per language.
//! - [`panel`]: the widget's own words (buttons, states), in the same languages.

pub mod panel;

use crate::protocol::ErrorBody;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// A language visitors can be spoken to in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    #[default]
    En,
    De,
    Fr,
    Es,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::En, Lang::De, Lang::Fr, Lang::Es];

    /// A language tag (`de`, `de-AT`, `FR`, `es_419`) → the language, if Baton speaks it.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("");
        Lang::ALL.into_iter().find(|l| primary.eq_ignore_ascii_case(l.code()))
    }

    /// Like `parse`, English when the tag is missing or not spoken.
    pub fn of(tag: Option<&str>) -> Lang {
        tag.and_then(Lang::parse).unwrap_or_default()
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Fr => "fr",
            Lang::Es => "es",
        }
    }
}

/// A site string in one language or several. In `baton.toml` either a plain string (written in
/// English, the default language) or a table by language code:
///
/// ```toml
/// greeting.en = "Hi! Ask me about the docs."
/// greeting.de = "Hallo! Frag mich zur Doku."
/// ```
///
/// In JSON the same: a string, or an object by language. In the index (postcard) a pair.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Localized {
    /// The fallback: the plain string, or the table's `en` entry (else its first).
    pub text: String,
    /// The table's entries by language code (empty for a plain string).
    pub by_lang: BTreeMap<String, String>,
}

impl Localized {
    pub fn new(text: impl Into<String>) -> Localized {
        Localized { text: text.into(), by_lang: BTreeMap::new() }
    }

    /// One string per language; the fallback is the `en` entry, else the first.
    pub fn table(entries: &[(&str, &str)]) -> Localized {
        let by_lang: BTreeMap<String, String> = entries.iter().map(|(l, t)| (l.to_string(), t.to_string())).collect();
        Localized::from_map(by_lang)
    }

    fn from_map(by_lang: BTreeMap<String, String>) -> Localized {
        let text = by_lang.get("en").or_else(|| by_lang.values().next()).cloned().unwrap_or_default();
        Localized { text, by_lang }
    }

    /// The string written for `lang`, if there is one (a plain string is English).
    pub fn exact(&self, lang: Lang) -> Option<&str> {
        match self.by_lang.get(lang.code()) {
            Some(t) => Some(t),
            None if self.by_lang.is_empty() && lang == Lang::En => Some(&self.text),
            None => None,
        }
    }

    /// The string for `lang`, else the fallback (for names and titles: better in another
    /// language than missing).
    pub fn get(&self, lang: Lang) -> &str {
        self.exact(lang).unwrap_or(&self.text)
    }

    /// A plain string: this one's text for `lang` (what a visitor is sent).
    pub fn resolved(&self, lang: Lang) -> Localized {
        Localized::new(self.get(lang))
    }

    pub fn is_blank(&self) -> bool {
        self.text.trim().is_empty() && self.by_lang.values().all(|t| t.trim().is_empty())
    }

    /// Every language code is one Baton speaks, and no entry is empty.
    pub fn validate(&self, key: &str) -> Result<(), ErrorBody> {
        for (code, text) in &self.by_lang {
            if Lang::parse(code).map(Lang::code) != Some(code.as_str()) {
                let codes: Vec<&str> = Lang::ALL.iter().map(|l| l.code()).collect();
                return Err(ErrorBody::field(
                    &format!("{key}.{code}"),
                    format!("{} is not a language the widget speaks: write one of {}", crate::protocol::quoted(code), codes.join(", ")),
                ));
            }
            if text.trim().is_empty() {
                return Err(ErrorBody::field(&format!("{key}.{code}"), "empty: give the text, or leave this language out"));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Localized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<&str> for Localized {
    fn from(s: &str) -> Self {
        Localized::new(s)
    }
}

impl From<String> for Localized {
    fn from(s: String) -> Self {
        Localized::new(s)
    }
}

/// The binary form (postcard): both parts, always.
#[derive(Serialize, Deserialize)]
struct Pair {
    text: String,
    by_lang: BTreeMap<String, String>,
}

impl Serialize for Localized {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if !s.is_human_readable() {
            return Pair { text: self.text.clone(), by_lang: self.by_lang.clone() }.serialize(s);
        }
        if self.by_lang.is_empty() {
            s.serialize_str(&self.text)
        } else {
            self.by_lang.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Localized {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if !d.is_human_readable() {
            let p = Pair::deserialize(d)?;
            return Ok(Localized { text: p.text, by_lang: p.by_lang });
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Localized;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, or a table of strings by language (en = \"…\", de = \"…\")")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Localized, E> {
                Ok(Localized::new(v))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Localized, M::Error> {
                let mut by_lang = BTreeMap::new();
                while let Some((k, v)) = m.next_entry::<String, String>()? {
                    by_lang.insert(k, v);
                }
                if by_lang.is_empty() {
                    return Err(de::Error::custom("an empty table: give at least one language, e.g. en = \"…\""));
                }
                Ok(Localized::from_map(by_lang))
            }
        }
        d.deserialize_any(V)
    }
}

/// What the engine says to visitors, in one language. `{email}` and `{time}` are filled in.
pub struct Words {
    /// The handoff notice while someone from the team is online.
    pub handoff_online: &'static str,
    /// Nobody online, the visitor's email is known.
    pub handoff_offline_email_known: &'static str,
    /// Nobody online, a form in the thread asks for the email.
    pub handoff_offline_ask_email: &'static str,
    /// When nobody online will reply if the site did not say (in this language).
    pub reply_time: &'static str,
    pub email_form_title: &'static str,
    pub email_label: &'static str,
    /// The honest answer when the docs don't have it.
    pub dont_know: &'static str,
}

pub const EN: Words = Words {
    handoff_online: "Connecting you with the team — they'll see this whole conversation.",
    handoff_offline_email_known:
        "Nobody from the team is online right now. We'll reply to {email} {time} — they'll see this whole conversation.",
    handoff_offline_ask_email:
        "Nobody from the team is online right now. Leave your email and we'll reply {time} — they'll see this whole conversation.",
    reply_time: "within one business day",
    email_form_title: "Where should the team reply?",
    email_label: "Email",
    dont_know: "I couldn't find that in the docs, so I won't guess. A person from the team can help with this one.",
};

pub const DE: Words = Words {
    handoff_online: "Wir verbinden dich mit dem Team — es sieht die ganze Unterhaltung.",
    handoff_offline_email_known: "Gerade ist niemand aus dem Team online. Wir antworten an {email} {time} — das Team sieht die ganze Unterhaltung.",
    handoff_offline_ask_email: "Gerade ist niemand aus dem Team online. Hinterlass deine E-Mail-Adresse, dann antworten wir {time} — das Team sieht die ganze Unterhaltung.",
    reply_time: "innerhalb eines Werktags",
    email_form_title: "Wohin soll das Team antworten?",
    email_label: "E-Mail-Adresse",
    dont_know: "Das habe ich in der Doku nicht gefunden, also rate ich nicht. Jemand aus dem Team kann dir dabei helfen.",
};

pub const FR: Words = Words {
    handoff_online: "Nous vous mettons en relation avec l'équipe — elle verra toute la conversation.",
    handoff_offline_email_known: "Personne de l'équipe n'est en ligne pour le moment. Nous répondrons à {email} {time} — l'équipe verra toute la conversation.",
    handoff_offline_ask_email: "Personne de l'équipe n'est en ligne pour le moment. Laissez votre e-mail et nous répondrons {time} — l'équipe verra toute la conversation.",
    reply_time: "sous un jour ouvré",
    email_form_title: "Où l'équipe doit-elle vous répondre ?",
    email_label: "E-mail",
    dont_know: "Je n'ai pas trouvé cela dans la documentation, je préfère donc ne pas deviner. Une personne de l'équipe peut vous aider.",
};

pub const ES: Words = Words {
    handoff_online: "Te estamos conectando con el equipo: verá toda la conversación.",
    handoff_offline_email_known:
        "Ahora mismo no hay nadie del equipo en línea. Responderemos a {email} {time}; el equipo verá toda la conversación.",
    handoff_offline_ask_email:
        "Ahora mismo no hay nadie del equipo en línea. Déjanos tu correo y responderemos {time}; el equipo verá toda la conversación.",
    reply_time: "en un día laborable",
    email_form_title: "¿Dónde debe responderte el equipo?",
    email_label: "Correo electrónico",
    dont_know: "No encontré eso en la documentación, así que no voy a adivinar. Una persona del equipo puede ayudarte.",
};

pub fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::De => &DE,
        Lang::Fr => &FR,
        Lang::Es => &ES,
    }
}

/// The built-in reply time ("within one business day") in every language: the default of
/// `handoff.offline_reply_time`.
pub fn default_reply_time() -> Localized {
    let entries: Vec<(&str, &str)> = Lang::ALL.iter().map(|l| (l.code(), words(*l).reply_time)).collect();
    Localized::table(&entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_pick_a_spoken_language() {
        assert_eq!(Lang::parse("de-AT"), Some(Lang::De));
        assert_eq!(Lang::parse("FR"), Some(Lang::Fr));
        assert_eq!(Lang::parse("es_419"), Some(Lang::Es));
        assert_eq!(Lang::parse("it"), None);
        assert_eq!(Lang::parse("deu"), None);
        assert_eq!(Lang::of(None), Lang::En);
        assert_eq!(Lang::of(Some("pt-BR")), Lang::En);
    }

    #[test]
    fn a_plain_string_is_english_and_a_table_is_per_language() {
        let plain: Localized = serde_json::from_str(r#""Hi!""#).unwrap();
        assert_eq!(plain.exact(Lang::En), Some("Hi!"));
        assert_eq!(plain.exact(Lang::De), None);
        assert_eq!(plain.get(Lang::De), "Hi!");
        assert_eq!(serde_json::to_string(&plain).unwrap(), r#""Hi!""#);

        let t: Localized = serde_json::from_str(r#"{"de":"Hallo!","en":"Hi!"}"#).unwrap();
        assert_eq!((t.get(Lang::De), t.get(Lang::Fr), t.exact(Lang::Fr)), ("Hallo!", "Hi!", None));
        assert_eq!(serde_json::from_str::<Localized>(&serde_json::to_string(&t).unwrap()).unwrap(), t);
        // No English entry: the first one is the fallback.
        let t: Localized = serde_json::from_str(r#"{"fr":"Salut","de":"Hallo"}"#).unwrap();
        assert_eq!((t.text.as_str(), t.exact(Lang::En)), ("Hallo", None));
        assert!(serde_json::from_str::<Localized>("{}").is_err());
        // What a visitor is sent is one plain string.
        assert_eq!(serde_json::to_string(&t.resolved(Lang::Fr)).unwrap(), r#""Salut""#);
    }

    #[test]
    fn table_keys_must_be_spoken_languages() {
        assert!(Localized::table(&[("en", "Hi"), ("de", "Hallo")]).validate("greeting").is_ok());
        let e = Localized::table(&[("en", "Hi"), ("it", "Ciao")]).validate("greeting").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("greeting.it"));
        assert!(e.message.contains("en, de, fr, es"), "{}", e.message);
        let e = Localized::table(&[("DE", "Hallo")]).validate("greeting").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("greeting.DE"));
        let e = Localized::table(&[("en", " ")]).validate("greeting").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("greeting.en"));
    }

    #[test]
    fn every_language_says_every_notice_with_its_blanks() {
        for l in Lang::ALL {
            let w = words(l);
            assert!(w.handoff_offline_email_known.contains("{email}") && w.handoff_offline_email_known.contains("{time}"), "{l:?}");
            assert!(w.handoff_offline_ask_email.contains("{time}") && !w.handoff_offline_ask_email.contains("{email}"), "{l:?}");
            for s in [w.handoff_online, w.reply_time, w.email_form_title, w.email_label, w.dont_know] {
                assert!(!s.is_empty(), "{l:?}");
            }
        }
        assert_eq!(default_reply_time().get(Lang::De), "innerhalb eines Werktags");
    }
}
