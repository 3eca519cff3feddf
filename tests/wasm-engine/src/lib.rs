//! The answer engine alone in wasm, built like the worker (`+simd128`, release), driven by
//! `scripts/bench-wasm.mjs` in node's V8 — the engine workerd runs. It times answers with a
//! clock that advances (in Workers it does not during CPU work), so the engine's own cost in
//! wasm can be told apart from the worker's routing, limiter and HTTP around it.
//!
//! The exports speak raw memory: `buffer(len)` hands out `len` bytes to fill, and each other
//! export takes ownership of a buffer it is given.

use baton_shared::engine::embed::Model;
use baton_shared::engine::Engine;
use baton_shared::index::{self, Blob, Index};
use std::cell::RefCell;
use std::sync::Arc;

thread_local! {
    static MODEL: RefCell<Option<Arc<Model>>> = const { RefCell::new(None) };
    static PARTS: RefCell<Vec<Blob>> = const { RefCell::new(Vec::new()) };
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// `len` bytes for the caller to fill, then pass to one of the other exports.
#[no_mangle]
pub extern "C" fn buffer(len: usize) -> *mut u8 {
    let mut v = std::mem::ManuallyDrop::new(Vec::<u8>::with_capacity(len));
    v.as_mut_ptr()
}

/// # Safety
/// `ptr` and `len` come from one `buffer(len)` call, filled, not used again.
unsafe fn owned(ptr: *mut u8, len: usize) -> Vec<u8> {
    Vec::from_raw_parts(ptr, len, len)
}

/// Loads the embedding model file; 0 on success.
///
/// # Safety
/// As [`owned`].
#[no_mangle]
pub unsafe extern "C" fn load_model(ptr: *mut u8, len: usize) -> i32 {
    match index::model_from_bytes(Blob::from(owned(ptr, len))) {
        Ok(m) => {
            MODEL.with(|x| *x.borrow_mut() = Some(Arc::new(m)));
            0
        }
        Err(_) => 1,
    }
}

/// Adds an index part file (`index.idx.1`, … in order), before `load_index`.
///
/// # Safety
/// As [`owned`].
#[no_mangle]
pub unsafe extern "C" fn add_part(ptr: *mut u8, len: usize) {
    PARTS.with(|p| p.borrow_mut().push(Blob::from(owned(ptr, len))));
}

/// Opens the index head with the parts added, over the model loaded; 0 on success.
///
/// # Safety
/// As [`owned`].
#[no_mangle]
pub unsafe extern "C" fn load_index(ptr: *mut u8, len: usize) -> i32 {
    let parts = PARTS.with(|p| std::mem::take(&mut *p.borrow_mut()));
    let Some(model) = MODEL.with(|m| m.borrow().clone()) else { return 1 };
    let engine = Index::read_head(Blob::from(owned(ptr, len)))
        .and_then(|head| Index::from_head(head, parts))
        .map_err(|e| e.to_string())
        .and_then(|index| Engine::new(index, model).map_err(|e| e.to_string()));
    match engine {
        Ok(e) => {
            ENGINE.with(|x| *x.borrow_mut() = Some(e));
            0
        }
        Err(_) => 2,
    }
}

/// Answers a UTF-8 question as `/ask` does (3 passages, no earlier turns); returns how many were cited, or -1.
///
/// # Safety
/// As [`owned`].
#[no_mangle]
pub unsafe extern "C" fn ask(ptr: *mut u8, len: usize) -> i32 {
    let Ok(question) = String::from_utf8(owned(ptr, len)) else { return -1 };
    ENGINE.with(|e| match e.borrow().as_ref() {
        Some(engine) => engine.respond_in(&question, &[], 3).hits.len() as i32,
        None => -1,
    })
}
