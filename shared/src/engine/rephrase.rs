//! Optional generative phrasing: an OpenAI-compatible chat endpoint rewrites the extractive
//! answer from the retrieved passages only, keeping the engine's citations and confidence.
//!
//! This module decides what is sent and what is accepted; the worker (or the CLI) only carries
//! the bytes. Nothing here runs unless an endpoint is configured: by default, and in every test
//! but the one against a local fake server, answers are purely extractive.

use crate::index::Chunk;
use crate::protocol::Answer;
use serde::{Deserialize, Serialize};

/// What the model answers when the passages do not contain the answer.
pub const NO_ANSWER: &str = "NO_ANSWER";
/// A rephrased answer longer than this (characters) is not used: the model rambled.
pub const MAX_CHARS: usize = 900;
/// How much of each passage is sent.
const PASSAGE_CHARS: usize = 2000;

const SYSTEM_PROMPT: &str = "You answer a website visitor's question using ONLY the documentation passages provided. \
Answer in at most three short sentences, in the visitor's language, with any command or code copied exactly. \
Do not add facts, links or advice that are not in the passages. \
If the passages do not answer the question, reply with exactly NO_ANSWER.";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// The body of `POST {base_url}/chat/completions`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub temperature: f32,
    pub max_tokens: u32,
}

/// The part of the endpoint's reply Baton reads.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ChatResponse {
    pub choices: Vec<ChatChoice>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ChatChoice {
    pub message: ChatMessage,
}

/// Whether an answer is worth rephrasing: only confident, cited answers are; a handoff stays
/// the honest "I don't know".
pub fn wanted(answer: &Answer) -> bool {
    !answer.handoff && !answer.citations.is_empty()
}

/// The request for one question: the system rules, the passages (the answer's sections), the
/// extractive answer as a hint, and the question.
pub fn request(model: &str, question: &str, answer: &Answer, passages: &[&Chunk]) -> ChatRequest {
    let mut context = String::new();
    for (i, p) in passages.iter().enumerate() {
        let text: String = p.text.chars().take(PASSAGE_CHARS).collect();
        context.push_str(&format!("[{}] {}\n{}\n\n", i + 1, p.breadcrumb, text));
    }
    let user = format!("Documentation passages:\n\n{context}Most relevant excerpt:\n{}\n\nVisitor's question: {question}", answer.text);
    ChatRequest {
        model: model.to_string(),
        messages: vec![
            ChatMessage { role: "system".into(), content: SYSTEM_PROMPT.into() },
            ChatMessage { role: "user".into(), content: user },
        ],
        temperature: 0.0,
        max_tokens: 300,
    }
}

/// The answer to show: the model's text with the extractive answer's citations and confidence,
/// or the extractive answer itself when the reply is empty, too long, or says NO_ANSWER.
pub fn accept(extractive: Answer, reply: &ChatResponse) -> Answer {
    let Some(text) = reply.choices.first().map(|c| c.message.content.trim()) else {
        return extractive;
    };
    if text.is_empty() || text.contains(NO_ANSWER) || text.chars().count() > MAX_CHARS {
        return extractive;
    }
    Answer { text: text.to_string(), ..extractive }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Citation;

    fn answer() -> Answer {
        Answer {
            text: "Passwords are stored as PBKDF2 hashes.".into(),
            citations: vec![Citation {
                title: "FAQ".into(),
                heading: "Passwords".into(),
                url: "/docs/faq#passwords".into(),
                path: "faq.md".into(),
            }],
            confidence: 0.9,
            handoff: false,
        }
    }

    fn reply(text: &str) -> ChatResponse {
        ChatResponse { choices: vec![ChatChoice { message: ChatMessage { role: "assistant".into(), content: text.into() } }] }
    }

    #[test]
    fn the_request_carries_the_passages_and_the_question() {
        let chunk = Chunk {
            path: "faq.md".into(),
            url: "/docs/faq".into(),
            title: "FAQ".into(),
            heading: "Passwords".into(),
            breadcrumb: "FAQ › Passwords".into(),
            text: "Operator passwords are hashed with PBKDF2.".into(),
        };
        let r = request("m", "How are passwords stored?", &answer(), &[&chunk]);
        assert_eq!(r.model, "m");
        assert!(r.messages[0].content.contains("ONLY"));
        assert!(r.messages[1].content.contains("[1] FAQ › Passwords\nOperator passwords are hashed with PBKDF2."));
        assert!(r.messages[1].content.ends_with("Visitor's question: How are passwords stored?"));
    }

    #[test]
    fn replies_keep_citations_or_fall_back() {
        let a = accept(answer(), &reply(" They are PBKDF2 hashes. "));
        assert_eq!(a.text, "They are PBKDF2 hashes.");
        assert_eq!(a.citations, answer().citations);
        assert_eq!(a.confidence, 0.9);
        assert_eq!(accept(answer(), &reply("NO_ANSWER")), answer());
        assert_eq!(accept(answer(), &reply("")), answer());
        assert_eq!(accept(answer(), &reply(&"x".repeat(MAX_CHARS + 1))), answer());
        assert_eq!(accept(answer(), &ChatResponse { choices: vec![] }), answer());
        assert!(!wanted(&crate::engine::dont_know(0.1)));
        assert!(wanted(&answer()));
    }
}
