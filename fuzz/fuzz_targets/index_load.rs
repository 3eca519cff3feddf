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

/// A toy model named `id` with `dims` dimensions: the one a (mutated) index and its handoff
/// classifier say they were built with, so the engine accepts the pair and gets searched.
fn model(id: &str, dims: usize) -> Arc<Model> {
    static M: OnceLock<std::sync::Mutex<Option<(String, usize, Arc<Model>)>>> = OnceLock::new();
    let cache = M.get_or_init(|| std::sync::Mutex::new(None));
    let mut cache = cache.lock().unwrap();
    if let Some((i, d, m)) = cache.as_ref() {
        if i == id && *d == dims {
            return m.clone();
        }
    }
    let tokens: Vec<String> = ["[PAD]", "[UNK]", "deploy", "widget", "##s", "human"].iter().map(|s| s.to_string()).collect();
    let matrix: Vec<f32> = (0..tokens.len() * dims).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
    let m = Arc::new(Model::from_f32(id.into(), &tokens, dims, &matrix, "[UNK]").expect("toy model"));
    *cache = Some((id.to_string(), dims, m.clone()));
    m
}

fuzz_target!(|data: &[u8]| {
    let _ = Index::from_bytes(data);
    let _ = Index::peek_header(data);
    let sealed = index::write_raw(index::INDEX_MAGIC, index::INDEX_FORMAT_VERSION, "fuzz", None, data.to_vec());
    let Ok(idx) = Index::from_bytes(sealed) else { return };
    // Sealed again under the model its classifier names, with a model of those dimensions.
    let (id, dims) = (idx.body.handoff.model_id.clone(), idx.body.handoff.dims as usize);
    if !(1..=1024).contains(&dims) {
        return;
    }
    let sealed = index::write_raw(index::INDEX_MAGIC, index::INDEX_FORMAT_VERSION, &id, None, data.to_vec());
    if let Ok(idx) = Index::from_bytes(sealed) {
        if let Ok(engine) = Engine::new(idx, model(&id, dims)) {
            let _ = engine.answer("how do I deploy the widgets");
        }
    }
});
