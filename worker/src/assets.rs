//! Static assets (the `ASSETS` binding): pages, the widget and inbox bundles, and per-site
//! data — `sites/<site>/site.json` (config) and `sites/<site>/index.idx` (answers), plus the
//! embedding model. Site data is kept per isolate in bounded caches (`shared::cache`): configs,
//! engines (by the bytes of their index files) and models, least recently used first out. An
//! index or model is used where it lies — the fetched bytes are the tables — and a failed load
//! is remembered for `RETRY_FAILED_LOAD_MS` instead of being fetched again by every question.

use crate::http::{api, Failure, Handled};
use baton_shared::cache::{Bounded, Lookup};
use baton_shared::config::SiteConfig;
use baton_shared::engine::embed::Model;
use baton_shared::engine::Engine;
use baton_shared::index::{self, Blob, Header, Index};
use baton_shared::protocol::{ErrorBody, ErrorCode, SiteId};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen_futures::JsFuture;
use worker::{Date, EncodeBody, Env, Headers, Request, Response};

/// Engines kept per isolate: at most this many sites, and this many bytes of index files (an
/// isolate has 128 MB; the model takes 8 MB; a 10k-chunk index 14 MB).
const MAX_ENGINES: usize = 8;
const MAX_ENGINE_BYTES: usize = 64 << 20;
/// A site's config is small; a deployment may serve many sites.
const MAX_CONFIGS: usize = 256;
/// Sites normally share one model; two covers a model change in progress.
const MAX_MODELS: usize = 2;
/// How long a failed index or model load is remembered before the next question tries again:
/// a corrupt or missing file cannot change within a deployment, a failed fetch might.
const RETRY_FAILED_LOAD_MS: f64 = 30_000.0;

thread_local! {
    // One isolate serves many requests; loading the index per request would cost milliseconds.
    static CONFIGS: RefCell<Bounded<Rc<SiteConfig>>> = const { RefCell::new(Bounded::new(MAX_CONFIGS, usize::MAX)) };
    static ENGINES: RefCell<Bounded<Rc<Engine>>> = const { RefCell::new(Bounded::new(MAX_ENGINES, MAX_ENGINE_BYTES)) };
    static MODELS: RefCell<Bounded<Arc<Model>>> = const { RefCell::new(Bounded::new(MAX_MODELS, usize::MAX)) };
}

fn now_ms() -> f64 {
    Date::now().as_millis() as f64
}

thread_local! {
    static LOAD_PHASES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Where a cold load's time went, as a `Server-Timing` value, when the deployment sets
/// `BATON_LOAD_TIMING` (the in-worker benchmark does). A Worker's clock stands still during
/// computation and moves on I/O, so each mark first yields to a zero-delay timer: the clock then
/// reads the time the computation ended. Off, marks cost nothing.
struct LoadTiming {
    on: bool,
    start: f64,
    last: f64,
    phases: Vec<(&'static str, f64)>,
}

impl LoadTiming {
    fn new(env: &Env) -> LoadTiming {
        let now = now_ms();
        LoadTiming { on: env.var("BATON_LOAD_TIMING").is_ok(), start: now, last: now, phases: Vec::new() }
    }

    async fn mark(&mut self, phase: &'static str) {
        if self.on {
            worker::Delay::from(std::time::Duration::ZERO).await;
            let now = now_ms();
            self.phases.push((phase, now - self.last));
            self.last = now;
        }
    }

    /// Records the phases (and, with `total`, the whole) for `take_load_timing`.
    fn publish(self, total: Option<&'static str>) {
        if self.on {
            let mut v: Vec<String> = self.phases.iter().map(|(p, ms)| format!("{p};dur={ms}")).collect();
            if let Some(name) = total {
                v.push(format!("{name};dur={}", self.last - self.start));
            }
            LOAD_PHASES.with(|t| t.borrow_mut().extend(v));
        }
    }
}

/// The `Server-Timing` of the loads this request caused, if any and timing is on.
pub fn take_load_timing() -> Option<String> {
    let phases = LOAD_PHASES.with(|t| std::mem::take(&mut *t.borrow_mut()));
    (!phases.is_empty()).then(|| phases.join(", "))
}

async fn fetch_asset(env: &Env, path: &str) -> Result<Option<Response>, Failure> {
    let resp = env.assets("ASSETS")?.fetch(format!("https://assets.local/{path}"), None).await?;
    match resp.status_code() {
        200 => Ok(Some(resp)),
        404 => Ok(None),
        status => Err(Failure::Internal(format!("asset {path}: status {status}"))),
    }
}

/// Fetches an asset's bytes; `None` if there is no such file. The body is read as one
/// `ArrayBuffer` and copied once into wasm memory (reading it as a stream costs a promise and
/// a copy per chunk, and regrows the buffer: tens of milliseconds for an index).
pub async fn bytes(env: &Env, path: &str) -> Result<Option<Vec<u8>>, Failure> {
    let Some(resp) = fetch_asset(env, path).await? else { return Ok(None) };
    let resp: web_sys::Response = resp.into();
    let js = |e: wasm_bindgen::JsValue| Failure::Internal(format!("asset {path}: {e:?}"));
    let buffer = JsFuture::from(resp.array_buffer().map_err(js)?).await.map_err(js)?;
    Ok(Some(js_sys::Uint8Array::new(&buffer).to_vec()))
}

/// The first bytes of an asset (at least `n`, or all of a shorter file): the body is read
/// chunk by chunk and dropped once there are enough.
async fn prefix(env: &Env, path: &str, n: usize) -> Result<Option<Vec<u8>>, Failure> {
    use futures_util::StreamExt;
    let Some(mut resp) = fetch_asset(env, path).await? else { return Ok(None) };
    let mut stream = resp.stream()?;
    let mut out = Vec::new();
    while out.len() < n {
        match stream.next().await {
            Some(chunk) => out.extend_from_slice(&chunk?),
            None => break,
        }
    }
    Ok(Some(out))
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
    if let Lookup::Hit(c) = CONFIGS.with(|m| m.borrow_mut().get(site.as_str(), now_ms())) {
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
    CONFIGS.with(|m| m.borrow_mut().insert(site.as_str(), config.clone(), 0));
    Ok(config)
}

fn unavailable() -> ErrorBody {
    ErrorBody::new(ErrorCode::IndexUnavailable, "answers from the docs are unavailable right now; you can still talk to a person")
}

/// The answer engine of a site, or `index_unavailable` (with the reason logged once per retry
/// period).
pub async fn engine(env: &Env, site: &SiteId) -> Result<Rc<Engine>, ErrorBody> {
    match ENGINES.with(|m| m.borrow_mut().get(site.as_str(), now_ms())) {
        Lookup::Hit(e) => return Ok(e),
        Lookup::Failed(_) => return Err(unavailable()),
        Lookup::Miss => {}
    }
    match load_engine(env, site).await {
        Ok(e) => {
            let e = Rc::new(e);
            ENGINES.with(|m| m.borrow_mut().insert(site.as_str(), e.clone(), e.index().file_bytes));
            Ok(e)
        }
        Err(why) => {
            worker::console_error!("index for site {site} unavailable (next try in {} s): {why}", RETRY_FAILED_LOAD_MS / 1e3);
            ENGINES.with(|m| m.borrow_mut().fail(site.as_str(), why, now_ms() + RETRY_FAILED_LOAD_MS));
            Err(unavailable())
        }
    }
}

async fn load_engine(env: &Env, site: &SiteId) -> Result<Engine, String> {
    let mut timing = LoadTiming::new(env);
    let path = format!("sites/{site}/index.idx");
    // The file's first bytes name the model and how many part files follow the head, so a
    // cold isolate fetches the head, its parts and the model at the same time.
    let first = prefix(env, &path, 4096).await.map_err(|e| format!("{e:?}"))?.ok_or_else(|| format!("no {path}"))?;
    let header = Index::peek_header(&first).map_err(|e| format!("{path}: {e}"))?;
    let names: Vec<String> =
        std::iter::once(path.clone()).chain((1..=Index::peek_part_count(&first)).map(|n| index::part_file_name(&path, n))).collect();
    timing.mark("index-header").await;
    let files = futures_util::future::join_all(names.iter().map(|name| bytes(env, name)));
    let (files, model) = futures_util::future::join(files, model(env, &header.model_id)).await;
    let mut files = files.into_iter().zip(&names).map(|(f, name)| match f {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(format!("no {name}")),
        Err(e) => Err(format!("{name}: {e:?}")),
    });
    let head = files.next().expect("the head is first")?;
    let parts = files.map(|f| f.map(Blob::from)).collect::<Result<Vec<_>, _>>()?;
    timing.mark("fetch-index-and-model").await;
    let index = Index::read_head(head).and_then(|head| Index::from_head(head, parts)).map_err(|e| format!("{path}: {e}"))?;
    timing.mark("open-index").await;
    let engine = Engine::new(index, model?).map_err(|e| e.to_string());
    timing.publish(Some("load"));
    engine
}

/// The header of a site's index, read from the first bytes of the file alone.
async fn index_header(env: &Env, site: &SiteId) -> Result<Header, String> {
    let path = format!("sites/{site}/index.idx");
    let raw = prefix(env, &path, 4096).await.map_err(|e| format!("{e:?}"))?.ok_or_else(|| format!("no {path}"))?;
    Index::peek_header(&raw).map_err(|e| format!("{path}: {e}"))
}

/// The embedding model a site's index was built with — without loading the index when its
/// engine is not in memory (the `Inbox` needs the model to group questions, not the answers).
pub async fn site_model(env: &Env, site: &SiteId) -> Result<Arc<Model>, String> {
    let loaded = ENGINES.with(|m| match m.borrow_mut().get(site.as_str(), now_ms()) {
        Lookup::Hit(e) => Some(e.index().header.model_id.clone()),
        _ => None,
    });
    let id = match loaded {
        Some(id) => id,
        None => index_header(env, site).await?.model_id,
    };
    model(env, &id).await
}

/// The embedding model `id` (cached per isolate), e.g. for grouping questions by meaning.
pub async fn model(env: &Env, id: &str) -> Result<Arc<Model>, String> {
    match MODELS.with(|m| m.borrow_mut().get(id, now_ms())) {
        Lookup::Hit(m) => return Ok(m),
        Lookup::Failed(why) => return Err(why),
        Lookup::Miss => {}
    }
    let path = format!("model/{}", index::model_file_name(id));
    let mut timing = LoadTiming::new(env);
    let loaded = async {
        let raw = bytes(env, &path).await.map_err(|e| format!("{e:?}"))?.ok_or_else(|| format!("no {path}"))?;
        timing.mark("fetch-model").await;
        let model = index::model_from_bytes(raw).map_err(|e| format!("{path}: {e}"));
        timing.mark("open-model").await;
        model
    }
    .await;
    timing.publish(None);
    match loaded {
        Ok(m) => {
            let m = Arc::new(m);
            MODELS.with(|c| c.borrow_mut().insert(id, m.clone(), 0));
            Ok(m)
        }
        Err(why) => {
            MODELS.with(|c| c.borrow_mut().fail(id, why.clone(), now_ms() + RETRY_FAILED_LOAD_MS));
            Err(why)
        }
    }
}
