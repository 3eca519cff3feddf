//! What a client can send: any bytes as a conversation or inbox frame. A frame that decodes
//! is validated and decided against a fresh conversation as a visitor and as an operator —
//! the same code the Conversation object runs. Must never panic.
#![no_main]
use baton_shared::config::SiteConfig;
use baton_shared::conversation::{decide, Actor, ConversationState, Ctx};
use baton_shared::protocol::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<InboxClientMsg>(data);
    let _ = serde_json::from_slice::<CreateConversation>(data);
    let _ = serde_json::from_slice::<LoginRequest>(data);
    let Ok(msg) = serde_json::from_slice::<ClientMsg>(data) else { return };
    let config = SiteConfig::default();
    let state = ConversationState::new(ConversationId::from_random([7; 16]), SiteId::parse("demo").expect("valid"), 0);
    for online in [true, false] {
        let ctx = Ctx { now: 1, config: &config, engine: None, operators_online: online, prepared_answer: None };
        let _ = decide(&state, &Actor::Visitor, &msg, &ctx);
        let op = Actor::Operator { operator: OperatorRef { id: "a@b.co".into(), name: "A".into() } };
        let _ = decide(&state, &op, &msg, &ctx);
    }
});
