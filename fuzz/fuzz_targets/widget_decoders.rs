//! The widget's hand-written JSON decoder and Markdown renderer on arbitrary server text.
//! Must never panic, and Markdown links must stay safe.
#![no_main]
use baton_shared::{markdown, wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = wire::decode_server_msg(text);
    let _ = wire::decode_api_error(text);
    let _ = wire::decode_conversation_created(text);
    let _ = wire::decode_widget_settings(text);
    let _ = markdown::parse(text);
    if let Some(href) = markdown::safe_href(text) {
        let lower = href.trim_start().to_ascii_lowercase();
        assert!(!lower.starts_with("javascript:") && !lower.starts_with("data:") && !lower.starts_with("vbscript:"), "{href}");
    }
});
