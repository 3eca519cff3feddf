//! The panel's words. They live in `baton_shared::i18n::panel` (the worker sends a non-English
//! visitor theirs with the widget settings); English is the one compiled in here.

pub use baton_shared::i18n::panel::{PanelWords, EN};

/// `template` with `{name}` replaced.
pub fn with_name(template: &str, name: &str) -> String {
    template.replace("{name}", name)
}
