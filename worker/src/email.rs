//! Email through Cloudflare's `send_email` binding (`EMAIL` in wrangler.toml; Cloudflare Email
//! Service in production, simulated by `wrangler dev`, which logs each message and writes its
//! text and HTML to files). What is sent, to whom and when is decided in
//! `baton_shared::email`; the addresses and headers arrive checked.

use baton_shared::email::{address, header_text, Outgoing};
use wasm_bindgen::JsValue;
use worker::{EmailAddress, Env, SendEmailBuilder};

/// The binding's name in wrangler.toml.
pub const BINDING: &str = "EMAIL";

/// Sends one email; the error says what went wrong (logged by the caller, which retries).
pub async fn send(env: &Env, out: &Outgoing) -> Result<(), String> {
    // Checked again here: whatever builds an `Outgoing`, nothing unchecked reaches a header.
    let to = address(&out.to).map_err(|e| e.message)?;
    let from = address(&out.from).map_err(|e| e.message)?;
    let has_binding = js_sys::Reflect::get(env.as_ref(), &JsValue::from_str(BINDING)).is_ok_and(|v| !v.is_undefined());
    if !has_binding {
        return Err(format!("no send_email binding {BINDING}: add [[send_email]] name = \"{BINDING}\" to wrangler.toml"));
    }
    let binding = env.send_email(BINDING).map_err(|e| e.to_string())?;
    let headers = js_sys::Object::new();
    for (name, value) in &out.headers {
        let ok_name = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok_name {
            return Err(format!("header name {name:?} refused"));
        }
        js_sys::Reflect::set(&headers, &JsValue::from_str(name), &JsValue::from_str(&header_text(value, 900)))
            .map_err(|e| format!("{e:?}"))?;
    }
    let message = SendEmailBuilder::builder_with_email_address_and_str(
        &EmailAddress::new(&header_text(&out.from_name, 80), &from),
        &to,
        &header_text(&out.subject, 200),
    )
    .text(&out.text)
    .html(&out.html)
    .headers(wasm_bindgen::JsCast::unchecked_ref(&headers))
    .build();
    binding.send_with_builder(&message).await.map(|_| ()).map_err(|e| format!("{e:?}"))
}
