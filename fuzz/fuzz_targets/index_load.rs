//! The index loader on untrusted bytes: raw files (magic, header, checksum) and — more
//! usefully — arbitrary bodies sealed with a valid header, so the section table, the postcard
//! decoders, the tables' size checks and a search over whatever loads are exercised (the seeds
//! are the demo index's body). Must never panic.
#![no_main]
use baton_shared::engine::embed::Model;
use baton_shared::engine::Engine;
use baton_shared::index::{self, Index};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

/// A toy model with the real model's 256 dimensions, so a mutated demo index still pairs with
/// it and gets searched.
fn model() -> Arc<Model> {
    static M: OnceLock<Arc<Model>> = OnceLock::new();
    M.get_or_init(|| {
        let tokens: Vec<String> = ["[PAD]", "[UNK]", "deploy", "widget", "##s", "human"].iter().map(|s| s.to_string()).collect();
        let matrix: Vec<f32> = (0..tokens.len() * 256).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
        Arc::new(Model::from_f32("fuzz".into(), &tokens, 256, &matrix, "[UNK]").expect("toy model"))
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    let _ = Index::from_bytes(data);
    let _ = Index::peek_header(data);
    let sealed = index::write_raw(index::INDEX_MAGIC, index::INDEX_FORMAT_VERSION, "fuzz", None, data.to_vec());
    if let Ok(idx) = Index::from_bytes(sealed) {
        if let Ok(engine) = Engine::new(idx, model()) {
            let _ = engine.answer("how do I deploy the widgets");
        }
    }
});
