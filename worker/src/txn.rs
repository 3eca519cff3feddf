//! One synchronous SQLite transaction in a Durable Object: every write of a closure commits
//! together, or — if the closure returns an error, or a statement throws — none does.
//!
//! That is `ctx.storage.transactionSync(callback)`, which workers-rs 0.8.7 does not bind (its
//! `Storage::transaction` is the asynchronous one of the key-value API, and `BEGIN`/`COMMIT`/
//! `SAVEPOINT` are refused through `sql.exec` in a Durable Object). So it is called here through
//! JavaScript, with the closure lent to it for the duration of the call. Without it, the writes
//! of one step are only *coalesced*: a step that fails half-way still commits its first half.

use crate::http::Failure;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::Storage;

/// Runs `f` inside one transaction of `storage`; its result once committed, or its error after
/// rolling back. Never `await` inside: nothing else runs on the object meanwhile.
pub fn transaction<T>(storage: &Storage, f: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    let mut f = Some(f);
    let mut out: Option<Result<T, Failure>> = None;
    let mut body = || -> Result<JsValue, JsValue> {
        let Some(f) = f.take() else {
            return Err(JsValue::from_str("the transaction's body ran twice"));
        };
        let result = f();
        let failed = result.is_err();
        out = Some(result);
        // Throwing is what makes transactionSync roll back.
        if failed {
            Err(JsValue::from_str("rolled back"))
        } else {
            Ok(JsValue::UNDEFINED)
        }
    };
    let raw: &JsValue = storage.as_raw().as_ref();
    let run = js_sys::Reflect::get(raw, &JsValue::from_str("transactionSync"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or_else(|| Failure::Internal("storage.transactionSync is missing: the object needs SQLite storage".into()))?;
    let called = {
        let callback = Closure::<dyn FnMut() -> Result<JsValue, JsValue>>::borrow_mut(&mut body);
        run.call1(raw, callback.as_js_value())
    };
    match (out, called) {
        (Some(Err(e)), _) => Err(e),
        (Some(Ok(v)), Ok(_)) => Ok(v),
        (Some(Ok(_)), Err(e)) => Err(Failure::Internal(format!("the transaction did not commit: {e:?}"))),
        (None, Err(e)) => Err(Failure::Internal(format!("the transaction did not run: {e:?}"))),
        (None, Ok(_)) => Err(Failure::Internal("the transaction's body never ran".into())),
    }
}
