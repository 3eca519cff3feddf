//! The HTML pages (the inbox, its webhook log, the demo pages) with their security headers: a
//! Content-Security-Policy that lets a page run only its own scripts — the files it loads from
//! this origin, its wasm, and its inline `<script>` by hash — talk only to this origin, and never
//! be framed (`frame-ancestors 'none'`: no clickjacking of the inbox's buttons).
//!
//! The inline scripts' hashes are computed from the page as served, once per isolate, so the
//! policy always matches the build (the inbox's inline script names the content-hashed bundle).

use crate::assets::{self, Cache};
use crate::http::Handled;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;
use worker::{Env, Request};

thread_local! {
    static POLICIES: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

/// Serves `file` (an HTML page from the static assets) with its security headers.
pub async fn serve(env: &Env, req: &Request, file: &str) -> Handled {
    let resp = assets::serve(env, req, file, "text/html; charset=utf-8", Cache::NoCache).await?;
    let policy = policy(env, file).await?;
    secure(resp, &policy)
}

/// Serves a docs page built by `index-builder build --pages` (any GET no other route takes)
/// with the same headers. Built pages carry no inline script (the widget is one `<script
/// src>`), so their policy allows none: raw HTML in a doc cannot run script here.
pub async fn serve_doc(env: &Env, req: &Request, path: &str) -> Handled {
    let resp = assets::serve_page(env, req, path).await?;
    secure(resp, &policy_for(""))
}

fn secure(mut resp: worker::Response, policy: &str) -> Handled {
    let headers = resp.headers_mut();
    headers.set("content-security-policy", policy)?;
    headers.set("x-frame-options", "DENY")?;
    headers.set("referrer-policy", "same-origin")?;
    // A page is for this origin only: no other site may read it with CORS.
    headers.delete("access-control-allow-origin")?;
    Ok(resp)
}

async fn policy(env: &Env, file: &str) -> Result<String, crate::http::Failure> {
    if let Some(p) = POLICIES.with(|m| m.borrow().get(file).cloned()) {
        return Ok(p);
    }
    let html = assets::bytes(env, file).await?.unwrap_or_default();
    let p = policy_for(&String::from_utf8_lossy(&html));
    POLICIES.with(|m| m.borrow_mut().insert(file.to_string(), p.clone()));
    Ok(p)
}

/// The policy of a page: its inline scripts allowed by their SHA-256.
/// `'wasm-unsafe-eval'` lets the page compile its own wasm (nothing else is evaluated);
/// `'unsafe-inline'` styles: the pages and their wasm apps set styles inline (no script runs
/// from a style).
pub fn policy_for(html: &str) -> String {
    let hashes: String = inline_scripts(html).map(|s| format!(" 'sha256-{}'", STANDARD.encode(Sha256::digest(s.as_bytes())))).collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// The bodies of `<script>` elements without `src` (our own pages: no comments or CDATA tricks).
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script").skip(1).filter_map(|rest| {
        let (attrs, after) = rest.split_once('>')?;
        let (body, _) = after.split_once("</script>")?;
        (!attrs.contains("src=")).then_some(body)
    })
}
