//! The chat panel's own words (buttons, states, notices), per language — beside [`super::words`],
//! the engine's. English is compiled into the widget; the other languages reach it with the
//! widget settings the loader fetches while the panel downloads (`WidgetSettings::words`), so
//! a visitor's download carries one language, not four. `{name}` is replaced by an operator's
//! name.

use super::Lang;
use std::collections::BTreeMap;

/// Declares [`PanelWords`] and what moves it between the worker and the widget: by field name,
/// so a widget and a worker from different deploys still agree on every word they both know.
macro_rules! panel_words {
    ($( $(#[$doc:meta])* $name:ident, )*) => {
        /// The panel's words in one language.
        pub struct PanelWords {
            $( $(#[$doc])* pub $name: &'static str, )*
        }

        impl PanelWords {
            /// Every word with its field name.
            pub fn entries(&self) -> Vec<(&'static str, &'static str)> {
                vec![$( (stringify!($name), self.$name) ),*]
            }

            /// Every word by its field name, as `WidgetSettings::words` carries them.
            pub fn to_map(&self) -> BTreeMap<String, String> {
                self.entries().into_iter().map(|(k, w)| (k.to_string(), w.to_string())).collect()
            }

            /// The words `get` finds by field name, each missing one from `fallback`. The
            /// strings are leaked into `'static`: the widget does this once per page.
            pub fn from_lookup(fallback: &'static PanelWords, get: &mut dyn FnMut(&str) -> Option<String>) -> PanelWords {
                PanelWords { $( $name: word(get, stringify!($name), fallback.$name), )* }
            }
        }
    };
}

/// One word of [`PanelWords::from_lookup`]; not inlined, so the widget has one copy, not one
/// per word.
#[inline(never)]
fn word(get: &mut dyn FnMut(&str) -> Option<String>, name: &str, fallback: &'static str) -> &'static str {
    get(name).map(|s| &*String::leak(s)).unwrap_or(fallback)
}

panel_words! {
    title,
    greeting,
    talk_to_human,
    /// Shown instead of the button while the team has been asked.
    waiting_for_team,
    /// Shown instead of the button while a person has the thread.
    with_you,
    close,
    conversation,
    placeholder,
    send,
    you,
    assistant,
    queued,
    reconnecting,
    offline,
    /// The page's origin may not use this site's chat (`allowed_origins`).
    unavailable,
    from,
    helpful,
    yes,
    no,
    handoff_online,
    handoff_offline,
    joined,
    /// Under "{name} joined": what changed for the visitor.
    joined_note,
    /// A conversation assigned to an operator who has not joined yet (issue 16).
    assigned,
    left,
    handed_back,
    resolved,
    typing,
    thinking,
    submit,
    form_sent,
    required,
    bad_email,
    bad_number,
    bad_choice,
    bad_value,
    code,
    copy,
    copied,
    rate_limited,
    too_large,
    too_many_tabs,
    no_answers,
    erased,
    failed,
    attach,
    rate_prompt,
    rate_bad,
    rate_okay,
    rate_good,
    rate_comment,
    rate_thanks,
}

pub static EN: PanelWords = PanelWords {
    title: "Ask the docs",
    greeting: "Hi! Ask me anything about the docs — or talk to a person.",
    talk_to_human: "Talk to a human",
    waiting_for_team: "You're in line — the team sees this whole conversation.",
    with_you: "{name} is with you",
    close: "Close chat",
    conversation: "Conversation",
    placeholder: "Ask a question…",
    send: "Send",
    you: "You:",
    assistant: "Assistant:",
    queued: "Waiting to send",
    reconnecting: "Reconnecting…",
    offline: "Can't reach the chat right now. Retrying…",
    unavailable: "The chat isn't available on this page.",
    from: "From:",
    helpful: "Was this helpful?",
    yes: "Yes, helpful",
    no: "No, not helpful",
    handoff_online: "Connecting you with the team — they'll see this whole conversation.",
    handoff_offline: "Nobody from the team is online right now. They'll see this whole conversation and reply.",
    joined: "{name} joined",
    joined_note: "You're talking to a person now.",
    assigned: "{name} will be with you shortly.",
    left: "{name} left",
    handed_back: "You're back with the docs assistant.",
    resolved: "This conversation was resolved. Write again any time.",
    typing: "{name} is typing…",
    thinking: "Looking in the docs…",
    submit: "Send",
    form_sent: "Thanks — sent.",
    required: "Please fill this in.",
    bad_email: "Enter an email address like name@example.com.",
    bad_number: "Enter a number.",
    bad_choice: "Pick one of the options.",
    bad_value: "This doesn't look right — check the format.",
    code: "Code",
    copy: "Copy",
    copied: "Copied",
    rate_limited: "You're sending messages quickly — we'll send this one in a moment.",
    too_large: "That message is too long. Please shorten it.",
    too_many_tabs: "This chat is open in too many tabs. Close one and it will reconnect.",
    no_answers: "Answers from the docs are unavailable right now — you can still talk to a person.",
    erased: "This conversation no longer exists. Write again to start a new one.",
    failed: "That didn't work. Please try again.",
    attach: "Attach a screenshot or PDF",
    rate_prompt: "How was the help?",
    rate_bad: "Bad",
    rate_okay: "Okay",
    rate_good: "Good",
    rate_comment: "Anything to add? (optional)",
    rate_thanks: "Thanks for rating the help.",
};

pub static DE: PanelWords = PanelWords {
    title: "Frag die Doku",
    greeting: "Hallo! Frag mich alles zur Dokumentation — oder sprich mit einem Menschen.",
    talk_to_human: "Mit einem Menschen sprechen",
    waiting_for_team: "Du bist in der Warteschlange — das Team sieht die ganze Unterhaltung.",
    with_you: "{name} ist für dich da",
    close: "Chat schließen",
    conversation: "Unterhaltung",
    placeholder: "Stell eine Frage…",
    send: "Senden",
    you: "Du:",
    assistant: "Assistent:",
    queued: "Wird gesendet, sobald verbunden",
    reconnecting: "Verbindung wird wiederhergestellt…",
    offline: "Der Chat ist gerade nicht erreichbar. Neuer Versuch läuft…",
    unavailable: "Der Chat ist auf dieser Seite nicht verfügbar.",
    from: "Quelle:",
    helpful: "War das hilfreich?",
    yes: "Ja, hilfreich",
    no: "Nein, nicht hilfreich",
    handoff_online: "Wir verbinden dich mit dem Team — es sieht die ganze Unterhaltung.",
    handoff_offline: "Gerade ist niemand aus dem Team online. Es sieht die ganze Unterhaltung und antwortet.",
    joined: "{name} ist dabei",
    joined_note: "Du schreibst jetzt mit einem Menschen.",
    assigned: "{name} ist gleich für dich da.",
    left: "{name} hat den Chat verlassen",
    handed_back: "Du bist wieder beim Doku-Assistenten.",
    resolved: "Diese Unterhaltung ist erledigt. Schreib jederzeit wieder.",
    typing: "{name} schreibt…",
    thinking: "Suche in der Doku…",
    submit: "Senden",
    form_sent: "Danke — gesendet.",
    required: "Bitte fülle das aus.",
    bad_email: "Gib eine E-Mail-Adresse wie name@example.com ein.",
    bad_number: "Gib eine Zahl ein.",
    bad_choice: "Wähle eine der Möglichkeiten.",
    bad_value: "Das sieht nicht richtig aus — prüf das Format.",
    code: "Code",
    copy: "Kopieren",
    copied: "Kopiert",
    rate_limited: "Du schreibst gerade sehr schnell — wir senden diese Nachricht gleich.",
    too_large: "Diese Nachricht ist zu lang. Bitte kürze sie.",
    too_many_tabs: "Dieser Chat ist in zu vielen Tabs offen. Schließ einen, dann verbindet er sich neu.",
    no_answers: "Antworten aus der Doku sind gerade nicht verfügbar — du kannst aber mit einem Menschen sprechen.",
    erased: "Diese Unterhaltung gibt es nicht mehr. Schreib einfach neu, um eine neue zu beginnen.",
    failed: "Das hat nicht geklappt. Bitte versuch es noch einmal.",
    attach: "Screenshot oder PDF anhängen",
    rate_prompt: "Wie war die Hilfe?",
    rate_bad: "Schlecht",
    rate_okay: "Okay",
    rate_good: "Gut",
    rate_comment: "Möchtest du etwas ergänzen? (optional)",
    rate_thanks: "Danke für deine Bewertung.",
};

pub static FR: PanelWords = PanelWords {
    title: "Demandez à la doc",
    greeting: "Bonjour ! Posez-moi vos questions sur la documentation — ou parlez à une personne.",
    talk_to_human: "Parler à une personne",
    waiting_for_team: "Vous êtes dans la file — l'équipe voit toute la conversation.",
    with_you: "{name} est avec vous",
    close: "Fermer le chat",
    conversation: "Conversation",
    placeholder: "Posez une question…",
    send: "Envoyer",
    you: "Vous :",
    assistant: "Assistant :",
    queued: "En attente d'envoi",
    reconnecting: "Reconnexion…",
    offline: "Le chat est injoignable pour le moment. Nouvelle tentative…",
    unavailable: "Le chat n'est pas disponible sur cette page.",
    from: "Source :",
    helpful: "Cette réponse vous a-t-elle aidé ?",
    yes: "Oui, utile",
    no: "Non, pas utile",
    handoff_online: "Nous vous mettons en relation avec l'équipe — elle verra toute la conversation.",
    handoff_offline: "Personne de l'équipe n'est en ligne pour le moment. Elle verra toute la conversation et vous répondra.",
    joined: "{name} a rejoint la conversation",
    assigned: "{name} va vous répondre dans un instant.",
    joined_note: "Vous parlez maintenant à une personne.",
    left: "{name} a quitté la conversation",
    handed_back: "Vous êtes de retour avec l'assistant de la documentation.",
    resolved: "Cette conversation est résolue. Écrivez-nous quand vous voulez.",
    typing: "{name} écrit…",
    thinking: "Recherche dans la documentation…",
    submit: "Envoyer",
    form_sent: "Merci — c'est envoyé.",
    required: "Veuillez remplir ce champ.",
    bad_email: "Saisissez une adresse e-mail comme nom@example.com.",
    bad_number: "Saisissez un nombre.",
    bad_choice: "Choisissez l'une des options.",
    bad_value: "Cela ne semble pas correct — vérifiez le format.",
    code: "Code",
    copy: "Copier",
    copied: "Copié",
    rate_limited: "Vous envoyez des messages très vite — celui-ci partira dans un instant.",
    too_large: "Ce message est trop long. Merci de le raccourcir.",
    too_many_tabs: "Ce chat est ouvert dans trop d'onglets. Fermez-en un et il se reconnectera.",
    no_answers: "Les réponses de la documentation sont indisponibles pour le moment — vous pouvez toujours parler à une personne.",
    erased: "Cette conversation n'existe plus. Écrivez à nouveau pour en commencer une autre.",
    failed: "Cela n'a pas fonctionné. Veuillez réessayer.",
    attach: "Joindre une capture d'écran ou un PDF",
    rate_prompt: "Comment s'est passée l'aide ?",
    rate_bad: "Mauvaise",
    rate_okay: "Correcte",
    rate_good: "Bonne",
    rate_comment: "Quelque chose à ajouter ? (facultatif)",
    rate_thanks: "Merci pour votre évaluation.",
};

pub static ES: PanelWords = PanelWords {
    title: "Pregunta a la documentación",
    greeting: "¡Hola! Pregúntame lo que quieras sobre la documentación, o habla con una persona.",
    talk_to_human: "Hablar con una persona",
    waiting_for_team: "Estás en la cola: el equipo ve toda la conversación.",
    with_you: "{name} está contigo",
    close: "Cerrar el chat",
    conversation: "Conversación",
    placeholder: "Haz una pregunta…",
    send: "Enviar",
    you: "Tú:",
    assistant: "Asistente:",
    queued: "Pendiente de envío",
    reconnecting: "Reconectando…",
    offline: "No podemos conectar con el chat ahora mismo. Reintentando…",
    unavailable: "El chat no está disponible en esta página.",
    from: "Fuente:",
    helpful: "¿Te ha sido útil?",
    yes: "Sí, útil",
    no: "No, no es útil",
    handoff_online: "Te estamos conectando con el equipo: verá toda la conversación.",
    handoff_offline: "Ahora mismo no hay nadie del equipo en línea. Verá toda la conversación y te responderá.",
    joined: "{name} se ha unido",
    assigned: "{name} te atenderá en breve.",
    joined_note: "Ahora hablas con una persona.",
    left: "{name} ha salido del chat",
    handed_back: "Vuelves a estar con el asistente de la documentación.",
    resolved: "Esta conversación se ha resuelto. Escríbenos cuando quieras.",
    typing: "{name} está escribiendo…",
    thinking: "Buscando en la documentación…",
    submit: "Enviar",
    form_sent: "Gracias, enviado.",
    required: "Rellena este campo.",
    bad_email: "Escribe un correo como nombre@example.com.",
    bad_number: "Escribe un número.",
    bad_choice: "Elige una de las opciones.",
    bad_value: "Esto no parece correcto: revisa el formato.",
    code: "Código",
    copy: "Copiar",
    copied: "Copiado",
    rate_limited: "Estás enviando mensajes muy rápido: enviaremos este en un momento.",
    too_large: "Ese mensaje es demasiado largo. Acórtalo, por favor.",
    too_many_tabs: "Este chat está abierto en demasiadas pestañas. Cierra una y se volverá a conectar.",
    no_answers: "Las respuestas de la documentación no están disponibles ahora mismo; aún puedes hablar con una persona.",
    erased: "Esta conversación ya no existe. Escribe de nuevo para empezar otra.",
    failed: "No ha funcionado. Inténtalo de nuevo.",
    attach: "Adjuntar una captura de pantalla o un PDF",
    rate_prompt: "¿Qué tal la ayuda?",
    rate_bad: "Mala",
    rate_okay: "Regular",
    rate_good: "Buena",
    rate_comment: "¿Algo que añadir? (opcional)",
    rate_thanks: "Gracias por valorar la ayuda.",
};

/// The catalogue for a language.
pub fn panel_words(lang: Lang) -> &'static PanelWords {
    match lang {
        Lang::En => &EN,
        Lang::De => &DE,
        Lang::Fr => &FR,
        Lang::Es => &ES,
    }
}

/// What the widget settings carry for a visitor speaking `lang` (`WidgetSettings::words`):
/// nothing for English, which the widget has compiled in.
pub fn for_settings(lang: Lang) -> BTreeMap<String, String> {
    match lang {
        Lang::En => BTreeMap::new(),
        lang => panel_words(lang).to_map(),
    }
}

/// The panel's words from the settings' `words`: English for every word they lack (a worker
/// from another deploy may know fewer or more).
pub fn from_settings(words: &BTreeMap<String, String>) -> PanelWords {
    PanelWords::from_lookup(&EN, &mut |k| words.get(k).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_cross_by_name_and_fall_back_to_english() {
        assert!(for_settings(Lang::En).is_empty(), "the widget has English compiled in");
        let mut sent = for_settings(Lang::De);
        sent.remove("send");
        let got = from_settings(&sent);
        assert_eq!(got.title, "Frag die Doku");
        assert_eq!(got.rate_thanks, DE.rate_thanks);
        assert_eq!(got.send, EN.send, "a word the worker did not send stays English");
    }

    #[test]
    fn every_language_translates_the_panel() {
        for lang in [Lang::De, Lang::Fr, Lang::Es] {
            let same: Vec<_> =
                panel_words(lang).entries().into_iter().zip(EN.entries()).filter(|(a, b)| a.1 == b.1).map(|(a, _)| a.0).collect();
            // Words that are the same in both languages on purpose.
            let same: Vec<_> = same.into_iter().filter(|k| !["conversation", "code", "rate_okay"].contains(k)).collect();
            assert!(same.is_empty(), "{lang:?} leaves {same:?} in English");
        }
    }
}
