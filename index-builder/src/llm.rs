//! `ask --llm-base-url`: the optional rephrasing, from the command line, so a site owner can see
//! what the worker would answer with the same endpoint. The request and what of the reply is
//! accepted are `baton_shared::engine::rephrase`'s, exactly as in the worker.

use baton_shared::engine::{rephrase, Engine, Response};
use baton_shared::protocol::Answer;
use std::time::Duration;

/// Passages sent with the question (as in the worker).
const PASSAGES: usize = 3;

pub struct Llm {
    base_url: String,
    api_key: String,
    model: String,
    agent: ureq::Agent,
}

impl Llm {
    pub fn new(base_url: &str, api_key: String, model: String) -> Llm {
        let config = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(30))).build();
        Llm { base_url: base_url.trim_end_matches('/').to_string(), api_key, model, agent: config.into() }
    }

    fn complete(&self, body: &rephrase::ChatRequest) -> Result<rephrase::ChatResponse, String> {
        let url = format!("{}/chat/completions", self.base_url);
        let mut resp = self
            .agent
            .post(&url)
            .header("authorization", &format!("Bearer {}", self.api_key))
            .send_json(body)
            .map_err(|e| format!("{url}: {e}"))?;
        resp.body_mut().read_json().map_err(|e| format!("{url}: the reply is not a chat completion ({e})"))
    }

    /// The response's answer, rephrased when worth it; on failure the extractive answer and a
    /// warning on stderr.
    pub fn rephrase(&self, engine: &Engine, question: &str, response: &Response) -> Answer {
        if !rephrase::wanted(&response.answer) {
            return response.answer.clone();
        }
        let body = rephrase::request(&self.model, question, &response.answer, &engine.passages(response, PASSAGES));
        match self.complete(&body) {
            Ok(reply) => rephrase::accept(response.answer.clone(), &reply),
            Err(why) => {
                eprintln!("warning: LLM rephrasing failed ({why}); answering extractively");
                response.answer.clone()
            }
        }
    }
}
