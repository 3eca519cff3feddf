//! Static assets (the `ASSETS` binding): pages, the widget and inbox bundles, and per-site
//! data — `sites/<site>/site.json` (config) and `sites/<site>/index.idx` (answers), plus the
//! embedding model. Site data is parsed once per isolate and kept in memory.

use crate::http::{api, Failure, Handled};
use baton_shared::config::SiteConfig;
use baton_shared::engine::embed::Model;
use baton_shared::engine::Engine;
use baton_shared::index::{self, Index};
use baton_shared::protocol::{ErrorBody, ErrorCode, SiteId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use worker::{EncodeBody, Env, Headers, Request, Response};

thread_local! {
    // One isolate serves many requests; parsing the index per request would cost milliseconds.
    static CONFIGS: RefCell<HashMap<String, Rc<SiteConfig>>> = RefCell::new(HashMap::new());
    static ENGINES: RefCell<HashMap<String, Rc<Engine>>> = RefCell::new(HashMap::new());
    static MODELS: RefCell<HashMap<String, Arc<Model>>> = RefCell::new(HashMap::new());
}

/// Fetches an asset's bytes; `None` if there is no such file.
pub async fn bytes(env: &Env, path: &str) -> Result<Option<Vec<u8>>, Failure> {
    let mut resp = env.assets("ASSETS")?.fetch(format!("https://assets.local/{path}"), None).await?;
    if resp.status_code() == 404 {
        return Ok(None);
    }
    if resp.status_code() != 200 {
        return Err(Failure::Internal(format!("asset {path}: status {}", resp.status_code())));
    }
    Ok(Some(resp.bytes().await?))
}

/// The visitor's `Accept-Encoding`: `cf.clientAcceptEncoding` where the platform rewrote the
/// header, else the header.
fn client_accept_encoding(req: &Request) -> Result<Option<String>, Failure> {
    let cf = js_sys::Reflect::get(req.inner(), &"cf".into()).ok().filter(|v| v.is_object());
    let original = cf.and_then(|cf| js_sys::Reflect::get(&cf, &"clientAcceptEncoding".into()).ok()).and_then(|v| v.as_string());
    Ok(match original {
        Some(o) => Some(o),
        None => req.headers().get("accept-encoding")?,
    })
}

/// How long browsers and CDNs may keep a file.
#[derive(Clone, Copy)]
pub enum Cache {
    /// Content-hashed file names: never changes.
    Immutable,
    /// Stable URLs customers embed (`/widget.js`): short, so releases reach pages quickly.
    Short,
    /// HTML pages.
    NoCache,
}

/// Serves a static file with its content type, cache policy and CORS for cross-origin
/// loading, brotli-compressed when the client accepts it and a `.br` twin exists.
pub async fn serve(env: &Env, req: &Request, path: &str, content_type: &str, cache: Cache) -> Handled {
    // The client's own header (Cloudflare rewrites `Accept-Encoding` for the worker and keeps
    // the visitor's in `cf.clientAcceptEncoding`), negotiated by q-values.
    let accepts_br = baton_shared::http::prefers_brotli(client_accept_encoding(req)?.as_deref());
    let fetcher = env.assets("ASSETS")?;
    let mut encoded = false;
    let mut resp = None;
    if accepts_br {
        let r = fetcher.fetch(format!("https://assets.local/{path}.br"), None).await?;
        if r.status_code() == 200 {
            resp = Some(r);
            encoded = true;
        }
    }
    let mut resp = match resp {
        Some(r) => r,
        None => fetcher.fetch(format!("https://assets.local/{path}"), None).await?,
    };
    if resp.status_code() == 404 {
        return Err(api(ErrorCode::NotFound, format!("no file /{path}")));
    }
    let body = resp.bytes().await?;
    let headers = Headers::new();
    headers.set("content-type", content_type)?;
    headers.set("access-control-allow-origin", "*")?;
    // Lets a page measure what it received (Resource Timing's encodedBodySize) cross-origin.
    headers.set("timing-allow-origin", "*")?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("vary", "Accept-Encoding")?;
    headers.set(
        "cache-control",
        match cache {
            Cache::Immutable => "public, max-age=31536000, immutable",
            Cache::Short => "public, max-age=300",
            Cache::NoCache => "no-cache",
        },
    )?;
    let mut builder = Response::builder().with_status(200).with_headers(headers);
    if encoded {
        builder = builder.with_header("content-encoding", "br")?.with_encode_body(EncodeBody::Manual);
    }
    Ok(builder.fixed(body))
}

/// The files a page path may be built as (`index-builder build --pages dist/pages`):
/// `/docs/faq` → `pages/docs/faq.html`, then `pages/docs/faq/index.html`; `/docs/` →
/// `pages/docs/index.html`; `/guide.html` as it is. Nothing for paths that could climb out.
pub fn page_files(path: &str) -> Vec<String> {
    let ok = path.starts_with('/')
        && !path.contains("//")
        && path.split('/').all(|seg| seg != ".." && seg != "." && !seg.starts_with('.'))
        && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b));
    if !ok || path == "/" {
        return Vec::new();
    }
    if path.ends_with(".html") {
        vec![format!("pages{path}")]
    } else if path.ends_with('/') {
        vec![format!("pages{path}index.html")]
    } else {
        vec![format!("pages{path}.html"), format!("pages{path}/index.html")]
    }
}

/// Serves the page built for `path`, or a clear 404.
pub async fn serve_page(env: &Env, req: &Request, path: &str) -> Handled {
    for file in page_files(path) {
        match serve(env, req, &file, "text/html; charset=utf-8", Cache::NoCache).await {
            Err(Failure::Api(e)) if e.code == ErrorCode::NotFound => continue,
            other => return other,
        }
    }
    Err(api(ErrorCode::NotFound, format!("no page {path}")))
}

/// A site's configuration, or `unknown_site`.
pub async fn site_config(env: &Env, site: &SiteId) -> Result<Rc<SiteConfig>, Failure> {
    if let Some(c) = CONFIGS.with(|m| m.borrow().get(site.as_str()).cloned()) {
        return Ok(c);
    }
    let Some(raw) = bytes(env, &format!("sites/{site}/site.json")).await? else {
        return Err(api(ErrorCode::UnknownSite, format!("no site \"{site}\" here: check data-site in the script tag")));
    };
    let config: SiteConfig = serde_json::from_slice(&raw).map_err(|e| Failure::Internal(format!("sites/{site}/site.json: {e}")))?;
    if &config.site != site {
        return Err(Failure::Internal(format!("sites/{site}/site.json is for site {}", config.site)));
    }
    let config = Rc::new(config);
    CONFIGS.with(|m| m.borrow_mut().insert(site.to_string(), config.clone()));
    Ok(config)
}

/// The answer engine of a site, or `index_unavailable` (with the reason logged).
pub async fn engine(env: &Env, site: &SiteId) -> Result<Rc<Engine>, ErrorBody> {
    if let Some(e) = ENGINES.with(|m| m.borrow().get(site.as_str()).cloned()) {
        return Ok(e);
    }
    match load_engine(env, site).await {
        Ok(e) => {
            let e = Rc::new(e);
            ENGINES.with(|m| m.borrow_mut().insert(site.to_string(), e.clone()));
            Ok(e)
        }
        Err(why) => {
            worker::console_error!("index for site {site} unavailable: {why}");
            Err(ErrorBody::new(
                ErrorCode::IndexUnavailable,
                "answers from the docs are unavailable right now; you can still talk to a person",
            ))
        }
    }
}

async fn load_engine(env: &Env, site: &SiteId) -> Result<Engine, String> {
    let raw = bytes(env, &format!("sites/{site}/index.idx")).await.map_err(|e| format!("{e:?}"))?.ok_or("no index.idx")?;
    let index = Index::from_bytes(&raw).map_err(|e| e.to_string())?;
    let model = model(env, &index.header.model_id).await?;
    Engine::new(index, model).map_err(|e| e.to_string())
}

/// The embedding model `id` (cached per isolate), e.g. for grouping questions by meaning.
pub async fn model(env: &Env, id: &str) -> Result<Arc<Model>, String> {
    if let Some(m) = MODELS.with(|m| m.borrow().get(id).cloned()) {
        return Ok(m);
    }
    let path = format!("model/{}", index::model_file_name(id));
    let raw = bytes(env, &path).await.map_err(|e| format!("{e:?}"))?.ok_or_else(|| format!("no {path}"))?;
    let m = Arc::new(index::model_from_bytes(&raw).map_err(|e| format!("{path}: {e}"))?);
    MODELS.with(|c| c.borrow_mut().insert(id.to_string(), m.clone()));
    Ok(m)
}
