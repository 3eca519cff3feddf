//! Baton answers questions about itself from its own docs (docs/, the demo site): ten questions
//! a site owner or operator would ask, each answered through the real worker's
//! `POST /api/v1/sites/demo/ask` with the page that answers it cited first.

use baton_tests::*;
use serde_json::{json, Value};

/// (question, the page that answers it)
const QUESTIONS: [(&str, &str); 10] = [
    ("How do I try Baton locally?", "quickstart.md"),
    ("Does the conversation continue when the visitor goes to another page?", "embedding.md"),
    ("What does confidence_threshold do in baton.toml?", "configuration.md"),
    ("When does the bot hand a conversation over to a human?", "handoff.md"),
    ("How do I take over a conversation as an operator?", "operators.md"),
    ("How do I verify the webhook signature?", "webhooks.md"),
    ("What does the visitor token protect?", "security.md"),
    ("How do I use my own domain for Baton?", "deployment.md"),
    ("How can I rebuild the index automatically with GitHub Actions?", "ci.md"),
    ("Why is the chat widget not showing on my site?", "troubleshooting.md"),
];

#[tokio::test]
async fn ten_questions_about_baton_cite_the_page_that_answers_them() {
    let w = Wrangler::start().await;
    let mut wrong = Vec::new();
    for (question, page) in QUESTIONS {
        let r = http().post(format!("{}/api/v1/sites/demo/ask", w.base())).json(&json!({ "question": question })).send().await.unwrap();
        assert_eq!(r.status(), 200, "{question}: {}", r.text().await.unwrap_or_default());
        let answer: Value = r.json().await.unwrap();
        let cited: Vec<&str> = answer["citations"].as_array().unwrap().iter().filter_map(|c| c["path"].as_str()).collect();
        if answer["handoff"] != false || cited.first() != Some(&page) {
            wrong.push(format!(
                "{question}\n  expected {page}, cited {cited:?}, confidence {}, handoff {}\n  {}",
                answer["confidence"], answer["handoff"], answer["text"]
            ));
            continue;
        }
        // The citation links to the public page (base_url "/docs" in docs/baton.toml).
        let url = answer["citations"][0]["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("/docs/{}", page.trim_end_matches(".md"))), "{question}: {url}");
    }
    assert!(wrong.is_empty(), "{} of {} answers cite another page:\n{}", wrong.len(), QUESTIONS.len(), wrong.join("\n"));
}
