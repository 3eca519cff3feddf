//! The embedding-model loader on untrusted bytes (raw and sealed bodies); a model that loads
//! must embed any text without panicking.
#![no_main]
use baton_shared::index;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = index::model_from_bytes(data);
    // The sealed body reaches the section table, the meta decoder and the tables' checks.
    let sealed = index::write_raw(index::MODEL_MAGIC, index::MODEL_FORMAT_VERSION, "fuzz", None, data.to_vec());
    if let Ok(m) = index::model_from_bytes(&sealed) {
        let _ = m.embed("Ünïcode text, with punctuation! and 中文 too");
    }
});
