//! Baton answers questions about itself from its own docs (docs/, the demo site), through the
//! real worker: questions a site owner or operator would ask, the questions the demo page
//! suggests, docs/faq.md's questions asked in other words — each must cite the section that
//! answers it — and a follow-up that only makes sense after the question before it.

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

/// (question, the sections that answer it as `page#anchor`, `page#` for a page's opening): the
/// demo page's suggestions (web/demo.html), the questions new users asked it (issue 12), and
/// docs/faq.md's questions in other words — where the docs answer in two places, either counts.
const SECTIONS: &[(&str, &[&str])] = &[
    // web/demo.html suggests these.
    ("How do I embed the widget?", &["embedding.md#"]),
    ("What happens when I ask for a human?", &["handoff.md#", "handoff.md#what-the-visitor-sees"]),
    ("How are operator passwords stored?", &["faq.md#how-are-operator-passwords-stored", "security.md#operator-accounts-and-sessions"]),
    // New users asked these.
    ("How do I deploy Baton to production?", &["deployment.md#", "deployment.md#deploy-to-cloudflare"]),
    (
        "Can I restrict the widget to my own domain?",
        &["embedding.md#allowed-origins", "configuration.md#allowed-origins", "security.md#allowed-origins"],
    ),
    // docs/faq.md, in other words.
    ("Does Baton make things up?", &["faq.md#does-baton-make-up-answers", "#what-makes-it-different"]),
    ("Where are conversations stored?", &["faq.md#where-is-conversation-data-stored"]),
    ("How does Baton store the operators' passwords?", &["faq.md#how-are-operator-passwords-stored", "operators.md#operator-accounts"]),
    ("Can visitors see each other's conversations?", &["faq.md#can-visitors-read-other-conversations", "security.md#visitor-tokens"]),
    ("What languages does the chat widget support?", &["faq.md#which-languages-does-the-widget-speak", "embedding.md#options"]),
    (
        "Can one deployment answer for two docs sites?",
        &["faq.md#can-one-baton-deployment-serve-several-docs-sites", "deployment.md#serve-several-docs-sites"],
    ),
    ("How fast does Baton answer?", &["faq.md#how-fast-are-the-answers"]),
    ("Will the chat widget make my site slower?", &["faq.md#does-the-widget-slow-down-my-page", "embedding.md#"]),
    (
        "Can I try Baton on my own computer?",
        &["faq.md#can-i-run-baton-on-my-laptop", "quickstart.md#try-baton-locally", "deployment.md#run-it-locally"],
    ),
];

async fn ask(w: &Wrangler, question: &str) -> Value {
    let r = http().post(format!("{}/api/v1/sites/demo/ask", w.base())).json(&json!({ "question": question })).send().await.unwrap();
    assert_eq!(r.status(), 200, "{question}: {}", r.text().await.unwrap_or_default());
    r.json().await.unwrap()
}

/// The first citation as `page#anchor` ("" anchor: the page's opening).
fn section(answer: &Value) -> Option<String> {
    let c = answer["citations"].as_array()?.first()?;
    let url = c["url"].as_str()?;
    Some(format!("{}#{}", c["path"].as_str()?, url.split_once('#').map_or("", |(_, a)| a)))
}

fn report(question: &str, want: &str, answer: &Value) -> String {
    format!(
        "{question}\n  expected {want}, cited {:?}, confidence {}, handoff {}\n  {}",
        section(answer),
        answer["confidence"],
        answer["handoff"],
        answer["text"]
    )
}

#[tokio::test]
async fn questions_about_baton_cite_the_section_that_answers_them() {
    let w = Wrangler::start().await;
    let mut wrong = Vec::new();
    for (question, page) in QUESTIONS {
        let answer = ask(&w, question).await;
        let cited = section(&answer).unwrap_or_default();
        if answer["handoff"] != false || !cited.starts_with(&format!("{page}#")) {
            wrong.push(report(question, page, &answer));
            continue;
        }
        // The citation links to the public page (base_url "/docs" in docs/baton.toml).
        let url = answer["citations"][0]["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("/docs/{}", page.trim_end_matches(".md"))), "{question}: {url}");
    }
    for &(question, sections) in SECTIONS {
        let answer = ask(&w, question).await;
        let cited = section(&answer).unwrap_or_default();
        if answer["handoff"] != false || !sections.iter().any(|s| cited == *s || (s.starts_with('#') && cited.ends_with(s))) {
            wrong.push(report(question, &sections.join(" or "), &answer));
            continue;
        }
        // An answer a reader can read: it does not open with a bare code block or mid-thought.
        let text = answer["text"].as_str().unwrap();
        assert!(!text.starts_with("```"), "{question}: opens with a bare code block: {text}");
        let first = text.split_whitespace().next().unwrap_or("").to_lowercase();
        assert!(!["it", "this", "they", "these", "however,"].contains(&first.as_str()), "{question}: opens mid-thought: {text}");
    }
    let total = QUESTIONS.len() + SECTIONS.len();
    assert!(wrong.is_empty(), "{} of {total} answers cite another section:\n{}", wrong.len(), wrong.join("\n"));
}

/// The cross-reference "(see Embedding the widget)" in the docs stays a link in the answer.
#[tokio::test]
async fn a_follow_up_is_answered_in_the_context_of_the_conversation_and_links_survive() {
    let w = Wrangler::start().await;
    let (id, token) = create_conversation(&w, "demo").await;
    let mut visitor = Ws::visitor(&w, "demo", &id, &token, 0).await;

    visitor.message("q1", "How long are conversations kept?").await;
    let first = visitor.expect_event("bot_answer").await;
    assert_eq!(first["kind"]["handoff"], false, "{first}");
    let retention = first["kind"]["citations"][0]["url"].as_str().unwrap().to_string();
    assert!(retention.ends_with("/security#data-retention-and-deletion"), "{first}");

    // Alone, "can I change that?" says nothing the docs could match; after the question before
    // it, it asks how to change how long conversations are kept.
    visitor.message("q2", "can I change that?").await;
    let follow_up = visitor.expect_event("bot_answer").await;
    assert_eq!(follow_up["kind"]["handoff"], false, "{follow_up}");
    assert_eq!(follow_up["kind"]["citations"][0]["url"], retention.as_str(), "{follow_up}");
    assert!(follow_up["kind"]["text"].as_str().unwrap().contains("retention_days"), "{follow_up}");

    // A one-off question of the same words has no conversation to lean on: it is handed off.
    let alone = ask(&w, "can I change that?").await;
    assert_eq!(alone["handoff"], true, "{alone}");

    // Links between pages survive into answers, pointing at the public page.
    let answer = ask(&w, "What should I check when widget.js does not load?").await;
    let text = answer["text"].as_str().unwrap();
    assert!(text.contains("[Embedding the widget](/docs/embedding)"), "{text}");
}
