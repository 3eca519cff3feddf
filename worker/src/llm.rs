//! Optional LLM phrasing of answers (an OpenAI-compatible `POST {base}/chat/completions`).
//! Off unless `BATON_LLM_BASE_URL` and `BATON_LLM_API_KEY` are set (secrets or vars);
//! `BATON_LLM_MODEL` picks the model. What is sent and what is accepted is decided in
//! `baton_shared::engine::rephrase`; here we only carry the bytes. Any failure (network,
//! status, timeout, bad JSON) falls back to the extractive answer — and so does a site whose
//! budget of calls (`[limits] llm_calls_per_site`) is spent: each call is paid for upstream.

use crate::limiter;
use baton_shared::config::SiteConfig;
use baton_shared::engine::{rephrase, Engine};
use baton_shared::protocol::{Answer, SiteId};
use worker::{Env, Fetch, Headers, Method, Request, RequestInit};

/// How long the endpoint may take before the extractive answer is used instead.
const TIMEOUT_MS: u32 = 8000;
/// Passages sent with the question: the answer's section and the next best ones.
const PASSAGES: usize = 3;
const DEFAULT_MODEL: &str = "gpt-4o-mini";

pub struct Llm {
    base_url: String,
    api_key: String,
    model: String,
}

fn setting(env: &Env, name: &str) -> Option<String> {
    let v = env.secret(name).map(|s| s.to_string()).or_else(|_| env.var(name).map(|v| v.to_string())).ok()?;
    let v = v.trim().to_string();
    (!v.is_empty()).then_some(v)
}

impl Llm {
    /// The configured endpoint, if any.
    pub fn from_env(env: &Env) -> Option<Llm> {
        Some(Llm {
            base_url: setting(env, "BATON_LLM_BASE_URL")?.trim_end_matches('/').to_string(),
            api_key: setting(env, "BATON_LLM_API_KEY")?,
            model: setting(env, "BATON_LLM_MODEL").unwrap_or_else(|| DEFAULT_MODEL.to_string()),
        })
    }

    async fn complete(&self, body: &rephrase::ChatRequest) -> Result<rephrase::ChatResponse, String> {
        let headers = Headers::new();
        headers.set("content-type", "application/json").map_err(|e| e.to_string())?;
        headers.set("authorization", &format!("Bearer {}", self.api_key)).map_err(|e| e.to_string())?;
        let json = serde_json::to_string(body).map_err(|e| e.to_string())?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(json.into()));
        let req = Request::new_with_init(&format!("{}/chat/completions", self.base_url), &init).map_err(|e| e.to_string())?;
        let signal = worker::AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(TIMEOUT_MS));
        let mut resp = Fetch::Request(req).send_with_signal(&signal).await.map_err(|e| e.to_string())?;
        if resp.status_code() != 200 {
            return Err(format!("status {}", resp.status_code()));
        }
        resp.json().await.map_err(|e| e.to_string())
    }
}

/// The answer to a question asked after `previous` (the visitor's earlier messages, oldest
/// first; empty for a one-off question): extractive, rephrased when an endpoint is configured
/// and the site's budget of calls allows.
pub async fn answer(env: &Env, engine: &Engine, question: &str, previous: &[String], site: &SiteId, config: &SiteConfig) -> Answer {
    let response = engine.respond_in(question, previous, PASSAGES);
    let Some(llm) = Llm::from_env(env) else {
        return response.answer;
    };
    if !rephrase::wanted(&response.answer) {
        return response.answer;
    }
    let budget = limiter::Limit::memory("llm-site", config.limits.llm_calls_per_site.rule());
    match limiter::take(env, &budget, site.as_str(), 1).await {
        Ok(d) if d.allowed => {}
        Ok(_) => {
            worker::console_log!("site {site}: LLM budget (limits.llm_calls_per_site) spent for now; answering extractively");
            return response.answer;
        }
        // Unlike the other limits, this one fails closed: an outage of the limiter must not
        // turn into an unbounded bill.
        Err(e) => {
            worker::console_error!("LLM budget unavailable ({e:?}); answering extractively");
            return response.answer;
        }
    }
    let body = rephrase::request(&llm.model, question, &response.answer, &engine.passages(&response, PASSAGES));
    match llm.complete(&body).await {
        Ok(reply) => rephrase::accept(response.answer, &reply),
        Err(why) => {
            worker::console_error!("LLM rephrasing failed ({why}); answering extractively");
            response.answer
        }
    }
}

/// Whether answers are rephrased (so worth computing before a conversation's decision).
pub fn configured(env: &Env) -> bool {
    Llm::from_env(env).is_some()
}
