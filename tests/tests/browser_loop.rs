//! The loop in real browsers: a visitor opens the widget on the demo page (one script tag),
//! asks, sees a cited answer, asks for a human; in a second browser the operator signs in to
//! the inbox, sees the conversation appear, takes over and replies; the visitor sees the reply.
//! Screenshots of both windows go to target/screenshots/.

use baton_tests::browser::{eventually, Browser};
use baton_tests::*;
use fantoccini::key::Key;
use fantoccini::Locator;

#[tokio::test]
async fn visitor_and_operator_in_two_browsers() {
    let w = Wrangler::start().await;
    let operator = Browser::start(1280, 800).await;
    let visitor = Browser::start(1024, 768).await;

    // The operator signs in first, so the visitor is told someone is online.
    operator.client.goto(&format!("{}/inbox", w.base())).await.unwrap();
    let email = operator.client.wait().at_most(WAIT).for_element(Locator::Css("input[name=email]")).await.unwrap();
    email.send_keys("ann@example.com").await.unwrap();
    operator.client.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("ann-password-1").await.unwrap();
    operator.client.find(Locator::Css("form.login button")).await.unwrap().click().await.unwrap();
    operator.client.wait().at_most(WAIT).for_element(Locator::Css(".top .me")).await.unwrap();

    // The visitor opens the widget on the demo page and asks.
    visitor.client.goto(&format!("{}/", w.base())).await.unwrap();
    let widget = visitor.widget().await;
    widget.find(Locator::Css(".launcher")).await.unwrap().click().await.unwrap();
    let input = eventually("the chat input", || async { widget.find(Locator::Css("textarea")).await.ok() }).await;
    input.send_keys("How are operator passwords stored?").await.unwrap();
    input.send_keys(&Key::Enter.to_string()).await.unwrap();
    let source = eventually("a cited answer", || async { widget.find(Locator::Css(".msg.bot .sources a")).await.ok() }).await;
    assert!(source.text().await.unwrap().contains("FAQ"), "cites the FAQ section");
    assert_eq!(source.attr("target").await.unwrap().as_deref(), Some("_blank"));
    let answer = widget.find(Locator::Css(".msg.bot[data-seq] .text")).await.unwrap().text().await.unwrap();
    assert!(answer.contains("PBKDF2"), "{answer}");

    // Asks for a human.
    widget.find(Locator::Css("button.human")).await.unwrap().click().await.unwrap();
    eventually("the handoff notice", || async {
        let t = widget.find(Locator::Css(".system")).await.ok()?.text().await.ok()?;
        t.contains("Connecting you with the team").then_some(())
    })
    .await;
    visitor.screenshot("loop-visitor-waiting").await;

    // The inbox shows it, waiting; the operator opens it and sees the whole thread.
    let row = operator.client.wait().at_most(WAIT).for_element(Locator::Css(".row[data-status=waiting_for_human]")).await.unwrap();
    row.click().await.unwrap();
    eventually("the thread in the inbox", || async {
        let t = operator.client.find(Locator::Css(".events")).await.ok()?.text().await.ok()?;
        (t.contains("How are operator passwords stored?") && t.contains("PBKDF2")).then_some(())
    })
    .await;
    operator.client.find(Locator::Css("button.take-over")).await.unwrap().click().await.unwrap();
    let reply = operator.client.find(Locator::Css(".reply textarea")).await.unwrap();
    reply.send_keys("Hi! Ann here — happy to help.").await.unwrap();
    reply.send_keys(&Key::Enter.to_string()).await.unwrap();
    operator.screenshot("loop-inbox").await;

    // The visitor sees the operator join and reply, live, in the same panel.
    let msg = eventually("the operator's reply in the widget", || async {
        let t = widget.find(Locator::Css(".msg.operator")).await.ok()?.text().await.ok()?;
        t.contains("Ann here").then_some(t)
    })
    .await;
    assert!(msg.contains("Ann"));
    let joined = widget.find(Locator::Css(".joined strong")).await.unwrap().text().await.unwrap();
    assert_eq!(joined, "Ann joined");
    visitor.screenshot("loop-visitor-reply").await;

    visitor.close().await;
    operator.close().await;
}
