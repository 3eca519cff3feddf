//! Verified visitor identity on a real worker (wrangler dev): the host page's signed identity
//! and context reach the operator's briefing and the inbox search; forged, re-keyed and
//! tampered signatures are refused with `identity_invalid`; a verified user resumes the thread
//! from "another device" (a fresh token), an unsigned claim never does; sign-out revokes one
//! token; export and erase by user id. Signatures are computed by the test with the `hmac`
//! crate, as a site's backend would (docs/identity.md), not with Baton's code.

use baton_tests::*;
use serde_json::{json, Value};

const SITE: &str = "widget-test";

fn ann() -> [(&'static str, &'static str); 4] {
    [("user_id", "u-42"), ("email", "ann@example.com"), ("name", "Ann Lee"), ("plan", "enterprise")]
}

async fn post(w: &Wrangler, path: &str, token: Option<&str>, cookie: Option<&str>, body: &Value) -> (u16, Value) {
    let mut r = http().post(format!("{}/api/v1/sites/{SITE}/{path}", w.base())).json(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    let r = r.send().await.expect("post");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(w: &Wrangler, path: &str, token: Option<&str>, cookie: Option<&str>) -> (u16, Value) {
    let mut r = http().get(format!("{}/api/v1/sites/{SITE}/{path}", w.base()));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    let r = r.send().await.expect("get");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_signed_identity_reaches_the_briefing_a_forged_one_is_refused_and_the_user_resumes_elsewhere() {
    let w = Wrangler::start().await;
    let (id, token) = create_conversation(&w, SITE).await;
    let mut visitor = Ws::visitor(&w, SITE, &id, &token, 0).await;
    let identify = |client_id: &str, identity: Value| json!({"type": "identify", "client_id": client_id, "identity": identity});
    let refused = |code: &str, field: &str, frame: &Value| frame["type"] == "error" && frame["code"] == code && frame["field"] == field;

    // Forgeries: a field changed after signing, another key, a signature of the right shape.
    let mut tampered = signed_identity(&ann(), IDENTITY_SECRET);
    tampered["plan"] = json!("free");
    let forgeries = [tampered, signed_identity(&ann(), "not-the-sites-secret"), json!({"user_id": "u-42", "signature": "0".repeat(64)})];
    for (i, forged) in forgeries.into_iter().enumerate() {
        let cid = format!("forged{i}");
        visitor.send(&identify(&cid, forged)).await;
        let e = visitor.expect(|m| m["client_id"] == cid.as_str()).await;
        assert!(refused("identity_invalid", "identity.signature", &e), "{e}");
    }
    // Over HTTP too, with the status the README gives.
    let forged = signed_identity(&[("user_id", "u-42")], "guess");
    let (status, body) = post(&w, &format!("conversations/{id}/commands"), Some(&token), None, &identify("h0", forged)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("identity_invalid")), "{body}");

    // An unsigned claim is kept as unverified (the site's default); the signed one verifies it.
    visitor.send(&identify("u0", json!({"user_id": "u-42", "name": "Ann?"}))).await;
    visitor.ack("u0").await;
    visitor.send(&identify("s1", signed_identity(&ann(), IDENTITY_SECRET))).await;
    visitor.ack("s1").await;
    // What she is doing in the product, then her question.
    visitor.send(&json!({"type": "context", "context": {"feature": "page editor", "document": "Pricing page"}})).await;
    visitor.message("m1", "can I talk to a person please").await;
    visitor.ack("m1").await;
    // Another user in the same conversation: refused (one conversation, one person).
    visitor.send(&identify("s2", signed_identity(&[("user_id", "u-43")], IDENTITY_SECRET))).await;
    let e = visitor.expect(|m| m["client_id"] == "s2").await;
    assert_eq!(e["code"], "identity_invalid", "{e}");

    // The operator's briefing says who she is, verified, and what she is doing.
    let cookie = login(&w, SITE, "cy@example.com", "cy-password-1").await;
    let events = operator_events(&w, SITE, &id, &cookie).await;
    let k = kinds(&events);
    let at = |t: &str| k.iter().position(|x| x == t).unwrap_or_else(|| panic!("no {t} in {k:?}"));
    assert!(at("identified") < at("visitor_message") && at("context_changed") < at("visitor_message"), "{k:?}");
    assert_eq!(k.iter().filter(|x| *x == "identified").count(), 2, "unverified, then verified: {k:?}");
    let handoff = &events[at("handoff_requested")]["kind"];
    let who = &handoff["briefing"]["identity"];
    assert_eq!((who["user_id"].as_str(), who["verified"].as_bool()), (Some("u-42"), Some(true)), "{handoff}");
    assert_eq!((who["name"].as_str(), who["attributes"]["plan"].as_str()), (Some("Ann Lee"), Some("enterprise")));
    assert_eq!(handoff["briefing"]["context"]["feature"], "page editor");
    assert!(handoff["briefing"]["summary"].as_str().unwrap().contains("Ann Lee (verified)"));
    // The visitor's own view carries neither.
    let seen = kinds(&visitor_events(&w, SITE, &id, &token, 0).await);
    assert!(!seen.iter().any(|k| k == "identified" || k == "context_changed"), "{seen:?}");
    // The inbox finds her by an attribute, and the row says verified.
    let (status, page) = get(&w, "inbox/rows?view=all&q=enterprise", None, Some(&cookie)).await;
    assert_eq!(status, 200);
    let rows = page["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{page}");
    assert_eq!((rows[0]["identity"]["verified"].as_bool(), rows[0]["visitor_email"].as_str()), (Some(true), Some("ann@example.com")));

    // Another device: the signed identity resumes her thread with a token of its own.
    let (status, resumed) = post(&w, "identity/resume", None, None, &signed_identity(&ann(), IDENTITY_SECRET)).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["conversation_id"], id.as_str());
    let token2 = resumed["visitor_token"].as_str().unwrap().to_string();
    assert_ne!(token2, token);
    assert!(kinds(&visitor_events(&w, SITE, &id, &token2, 0).await).contains(&"visitor_message".to_string()));
    // Never with a forged, an unsigned, or another user's identity.
    for claim in [signed_identity(&ann(), "guess"), json!({"user_id": "u-42"}), signed_identity(&[("user_id", "u-99")], IDENTITY_SECRET)] {
        let (status, body) = post(&w, "identity/resume", None, None, &claim).await;
        assert!(matches!(status, 403 | 404), "{claim} → {status} {body}");
        assert!(body["error"]["code"] == "identity_invalid" || body["error"]["code"] == "unknown_conversation", "{body}");
    }
    // An expired signature: refused, with what to do.
    let expired = signed_identity(&[("user_id", "u-42"), ("expires", "1000")], IDENTITY_SECRET);
    let (status, body) = post(&w, "identity/resume", None, None, &expired).await;
    assert_eq!((status, body["error"]["field"].as_str()), (403, Some("identity.expires")), "{body}");

    // Sign-out on the second device revokes its token only.
    let (status, _) = post(&w, &format!("conversations/{id}/signout"), Some(&token2), None, &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(get(&w, &format!("conversations/{id}/events"), Some(&token2), None).await.0, 401);
    assert_eq!(get(&w, &format!("conversations/{id}/events"), Some(&token), None).await.0, 200);

    // Data protection by user id: export, then erase everything about u-42.
    let (status, export) = get(&w, "users/u-42/export", None, Some(&cookie)).await;
    assert_eq!(status, 200, "{export}");
    let convs = export["conversations"].as_array().unwrap();
    assert_eq!(convs.len(), 1);
    assert_eq!(convs[0]["conversation"]["id"], id.as_str());
    assert!(kinds(convs[0]["events"].as_array().unwrap()).contains(&"identified".to_string()));
    let r = http().delete(format!("{}/api/v1/sites/{SITE}/users/u-42", w.base())).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let erased: Value = r.json().await.unwrap();
    assert_eq!(erased["erased"], json!([id]));
    assert_eq!(visitor.closed().await.map(|c| c.0), Some(4404), "the visitor's socket is told and closed");
    assert_eq!(get(&w, &format!("conversations/{id}/events"), Some(&token), None).await.0, 404);
    let (status, body) = post(&w, "identity/resume", None, None, &signed_identity(&ann(), IDENTITY_SECRET)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_conversation")));
    let (_, export) = get(&w, "users/u-42/export", None, Some(&cookie)).await;
    assert_eq!(export["conversations"], json!([]));
    // Visitors cannot reach these routes.
    assert_eq!(get(&w, "users/u-42/export", None, None).await.0, 401);
}
