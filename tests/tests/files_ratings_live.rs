//! Files and ratings on a real worker (wrangler dev, R2 as it runs locally): a screenshot is
//! typed by its bytes and served as a file, only to its conversation's visitor and operators;
//! SVG, a disguised page and oversized files are refused with typed errors; erasing the
//! conversation erases the files (and the bytes leave R2's storage). A rating waits for a
//! resolve and reaches the insights, per operator.

use baton_tests::browser::eventually;
use baton_tests::*;
use serde_json::{json, Value};
use std::path::Path;

const SITE: &str = "widget-test";

/// An 8×8 red PNG.
pub const PNG: &[u8] = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x08\x00\x00\x00\x08\x08\x02\x00\x00\x00\x4b\x6d\x29\xdc\x00\x00\x00\x12\x49\x44\x41\x54\x78\x9c\x63\xf8\xcf\xc0\x80\x15\x61\x17\x1d\xb4\x12\x00\x28\xff\x3f\xc1\x6e\xec\xdf\x61\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

enum Who<'a> {
    Visitor(&'a str),
    Operator(&'a str),
}

fn url(w: &Wrangler, conversation: &str, rest: &str, who: &Who) -> String {
    let sep = if rest.contains('?') { '&' } else { '?' };
    let base = format!("{}/api/v1/sites/{SITE}/conversations/{conversation}/{rest}", w.base());
    match who {
        Who::Visitor(_) => base,
        Who::Operator(_) => format!("{base}{sep}as=operator"),
    }
}

fn auth(r: reqwest::RequestBuilder, who: &Who) -> reqwest::RequestBuilder {
    match who {
        Who::Visitor(t) => r.bearer_auth(t),
        Who::Operator(c) => r.header("cookie", *c),
    }
}

async fn upload(w: &Wrangler, conversation: &str, who: &Who<'_>, name: &str, bytes: Vec<u8>) -> (u16, Value) {
    let r = auth(http().post(url(w, conversation, &format!("attachments?name={name}"), who)), who)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn fetch(w: &Wrangler, conversation: &str, attachment: &str, who: &Who<'_>) -> reqwest::Response {
    auth(http().get(url(w, conversation, &format!("attachments/{attachment}"), who)), who).send().await.expect("fetch")
}

/// Bytes of every file under `dir` (R2's local blobs live under the state directory).
fn blob_bytes(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(blob_bytes(&p));
            } else if let Ok(b) = std::fs::read(&p) {
                out.push(b);
            }
        }
    }
    out
}

#[tokio::test]
async fn files_are_typed_by_their_bytes_served_only_to_their_conversation_and_erased_with_it() {
    let w = Wrangler::start().await;
    let (id, token) = create_conversation(&w, SITE).await;
    let (other, other_token) = create_conversation(&w, SITE).await;
    let cookie = login(&w, SITE, "cy@example.com", "cy-password-1").await;
    let mut operator = Ws::operator(&w, SITE, &id, &cookie, 0).await;
    let visitor = Who::Visitor(&token);

    // A screenshot, named by the browser: stored, and the operator sees it at once.
    let (status, up) = upload(&w, &id, &visitor, "Screenshot%202026.png", PNG.to_vec()).await;
    assert_eq!(status, 201, "{up}");
    let a = up["attachment"].clone();
    assert_eq!(
        (a["content_type"].as_str(), a["name"].as_str(), a["size"].as_u64()),
        (Some("image/png"), Some("Screenshot 2026.png"), Some(PNG.len() as u64))
    );
    let aid = a["id"].as_str().unwrap().to_string();
    let ev = operator.expect_event("attachment_added").await;
    assert_eq!((ev["kind"]["attachment"]["id"].as_str(), ev["kind"]["operator"].is_null()), (Some(aid.as_str()), true));

    // Served to its visitor as a file: real type, nosniff, a disposition, no scripts.
    let r = fetch(&w, &id, &aid, &visitor).await;
    assert_eq!(r.status(), 200);
    let h = |k: &str| r.headers().get(k).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    assert_eq!(h("content-type"), "image/png");
    assert_eq!(h("x-content-type-options"), "nosniff");
    assert!(h("content-disposition").starts_with("inline; filename=\"Screenshot 2026.png\""), "{}", h("content-disposition"));
    assert!(h("content-security-policy").contains("sandbox"));
    assert!(h("cache-control").contains("no-store"));
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    // ...and to the site's operators (session cookie, as the inbox's <img> sends it).
    assert_eq!(fetch(&w, &id, &aid, &Who::Operator(&cookie)).await.status(), 200);
    // Never to another conversation's token, nor through another conversation.
    let r = fetch(&w, &id, &aid, &Who::Visitor(&other_token)).await;
    assert_eq!(r.status(), 401);
    let r = fetch(&w, &other, &aid, &Who::Visitor(&other_token)).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "unknown_attachment");
    let r = fetch(&w, &id, &"0".repeat(32), &visitor).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "unknown_attachment");

    // Typed by content: SVG, a page dressed as a PNG, and too much are refused, with codes.
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#.to_vec();
    for (name, bytes, status, code) in [
        ("logo.svg", svg, 415, "unsupported_type"),
        ("shot.png", b"<!doctype html><script>alert(1)</script>".to_vec(), 415, "unsupported_type"),
        ("big.png", [PNG, &vec![0u8; 1_048_576]].concat(), 413, "too_large"),
    ] {
        let (s, body) = upload(&w, &id, &visitor, name, bytes).await;
        assert_eq!((s, body["error"]["code"].as_str()), (status, Some(code)), "{name}: {body}");
    }
    // A PDF named like an image is a PDF; an operator's file takes the thread like a reply.
    let pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".to_vec();
    let (status, up) = upload(&w, &id, &Who::Operator(&cookie), "invoice.png", pdf.clone()).await;
    assert_eq!(status, 201, "{up}");
    assert_eq!(
        (up["attachment"]["name"].as_str(), up["attachment"]["content_type"].as_str()),
        (Some("invoice.pdf"), Some("application/pdf"))
    );
    let r = fetch(&w, &id, up["attachment"]["id"].as_str().unwrap(), &visitor).await;
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"), "PDFs download");
    let k = kinds(&operator_events(&w, SITE, &id, &cookie).await);
    assert_eq!(&k[k.len() - 2..], ["operator_joined", "attachment_added"]);
    // The conversation's total (2 MiB here) is a limit too: two files of 1 MB fit beside the
    // small ones, a third does not.
    let near = [PNG, &vec![0u8; 1_000_000]].concat();
    assert_eq!(upload(&w, &id, &visitor, "a.png", near.clone()).await.0, 201);
    assert_eq!(upload(&w, &id, &visitor, "b.png", near.clone()).await.0, 201);
    let (s, body) = upload(&w, &id, &visitor, "c.png", near).await;
    assert_eq!((s, body["error"]["code"].as_str()), (413, Some("too_large")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("conversation"), "{body}");

    // Erased with the conversation: refused from then on, and the bytes leave R2's storage.
    let marker = |b: &Vec<u8>| b.windows(PNG.len()).any(|w| w == PNG);
    assert!(blob_bytes(&w.state).iter().any(marker), "the screenshot is in the local R2 storage: {}", w.state.display());
    let r = http().delete(format!("{}/api/v1/sites/{SITE}/conversations/{id}", w.base())).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(fetch(&w, &id, &aid, &visitor).await.status(), 404);
    assert_eq!(fetch(&w, &id, &aid, &Who::Operator(&cookie)).await.status(), 404);
    // (The local R2 may remove a deleted object's blob just after answering.)
    eventually("the screenshot's bytes to leave R2's storage", || async { (!blob_bytes(&w.state).iter().any(marker)).then_some(()) }).await;
}

#[tokio::test]
async fn a_rating_waits_for_the_resolve_and_reaches_insights() {
    let w = Wrangler::start().await;
    let (id, token) = create_conversation(&w, SITE).await;
    let cookie = login(&w, SITE, "cy@example.com", "cy-password-1").await;
    let command = |body: Value| {
        let (w, id, token) = (&w, &id, &token);
        async move {
            let r = http()
                .post(format!("{}/api/v1/sites/{SITE}/conversations/{id}/commands", w.base()))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let rate =
        |client_id: &str, score: u8, comment: &str| json!({"type": "rate", "client_id": client_id, "score": score, "comment": comment});
    assert_eq!(command(json!({"type": "request_human", "client_id": "h"})).await.0, 200);
    let (status, body) = command(rate("r0", 5, "")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("invalid_state")), "not resolved yet: {body}");
    let mut op = Ws::operator(&w, SITE, &id, &cookie, 0).await;
    op.message("o1", "Hi, Cy here — sorted.").await;
    op.ack("o1").await;
    op.send(&json!({"type": "resolve", "client_id": "z"})).await;
    op.ack("z").await;
    assert_eq!(command(rate("r1", 9, "")).await.1["error"]["field"], "score");
    assert_eq!(command(rate("r2", 1, "slow")).await.0, 200);
    let (status, body) = command(rate("r3", 5, "Cy fixed it")).await;
    assert_eq!(status, 200, "{body}");
    op.expect(|m| m["type"] == "event" && m["event"]["kind"]["type"] == "rated" && m["event"]["kind"]["score"] == 5).await;

    // The inbox row (and with it the insights) follows the conversation a moment later.
    let get = |path: String| {
        let cookie = cookie.clone();
        async move { http().get(path).header("cookie", cookie).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let insights = eventually("the rating in insights", || async {
        let i = get(format!("{}/api/v1/sites/{SITE}/insights?days=7", w.base())).await;
        (i["satisfaction"]["good"] == 1).then_some(i)
    })
    .await;
    let s = &insights["satisfaction"];
    assert_eq!((s["ratings"].as_u64(), s["bad"].as_u64(), s["csat"].as_f64()), (Some(1), Some(0), Some(1.0)), "re-rated: one rating {s}");
    assert_eq!((s["by_operator"][0]["label"].as_str(), s["by_operator"][0]["ratings"].as_u64()), (Some("Cy"), Some(1)));
    assert_eq!(s["by_reason"][0]["key"], "button");
    assert_eq!(s["comments"][0]["comment"], "Cy fixed it");
    let page = get(format!("{}/api/v1/sites/{SITE}/inbox/rows?view=all", w.base())).await;
    assert_eq!(page["rows"][0]["rating"], 5, "the list shows it");
}
