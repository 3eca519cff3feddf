//! Files from the visitor (picker, paste, drop): shown as pending at once, uploaded when the
//! conversation exists (a file can be the first thing a visitor sends), refused files explained
//! in the server's words (too big, not an image or PDF). And the way back: a file of the
//! thread, fetched with the conversation's token, as an object URL for a thumbnail or a link.
//!
//! What is accepted is the server's decision (`baton_shared::attachments`): the picker only
//! suggests the types.

use super::*;

/// A file waiting for its conversation.
pub struct Upload {
    id: String,
    file: web_sys::File,
}

impl Session {
    /// Attaches a file.
    pub fn attach(self: &Rc<Self>, file: web_sys::File) {
        let id = random_id();
        self.ui.pending.update(|p| p.push((id.clone(), format!("📎 {}", file.name()))));
        self.ui.notice.set(None);
        self.uploads.borrow_mut().push(Upload { id, file });
        if self.saved.borrow().is_some() {
            self.flush_uploads();
        } else {
            self.create();
        }
    }

    /// Uploads the waiting files (called again once a new conversation exists).
    pub(super) fn flush_uploads(self: &Rc<Self>) {
        let Some(saved) = self.saved.borrow().clone() else { return };
        let uploads: Vec<Upload> = self.uploads.borrow_mut().drain(..).collect();
        for u in uploads {
            let this = self.clone();
            let url = self.site_url(&format!(
                "conversations/{}/attachments?name={}&client_id={}",
                saved.conversation_id,
                encode(&u.file.name()),
                u.id
            ));
            let init = post(&u.file, Some(&saved.token));
            wasm_bindgen_futures::spawn_local(async move {
                let result = fetch_text(&url, &init).await;
                this.ui.pending.update(|p| p.retain(|(c, _)| *c != u.id));
                let notice = match result {
                    Some((status, _)) if status < 300 => return,
                    Some((_, text)) => match wire::decode_api_error(&text) {
                        Some(e) if e.code == ErrorCode::RateLimited => this.t.rate_limited.to_string(),
                        Some(e) => e.message,
                        None => this.t.offline.to_string(),
                    },
                    None => this.t.offline.to_string(),
                };
                this.ui.notice.set(Some(notice));
            });
        }
    }

    /// A file of this conversation as an object URL (`None` if it cannot be fetched: erased,
    /// or the network). The token goes in a header, never in a URL.
    pub async fn file_url(self: Rc<Self>, attachment_id: String) -> Option<String> {
        let saved = self.saved.borrow().clone()?;
        let init = post(&JsValue::NULL, Some(&saved.token));
        init.set_method("GET");
        let url = self.site_url(&format!("conversations/{}/attachments/{attachment_id}", saved.conversation_id));
        let w = web_sys::window()?;
        let resp: web_sys::Response = JsFuture::from(w.fetch_with_str_and_init(&url, &init)).await.ok()?.unchecked_into();
        if !resp.ok() {
            return None;
        }
        let blob: web_sys::Blob = JsFuture::from(resp.blob().ok()?).await.ok()?.unchecked_into();
        web_sys::Url::create_object_url_with_blob(&blob).ok()
    }
}

/// A POST of `body` (JSON text, a file, or nothing) with the conversation's token, if given.
pub(super) fn post(body: &JsValue, token: Option<&str>) -> web_sys::RequestInit {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    if !body.is_null() {
        init.set_body(body);
    }
    if let Ok(h) = web_sys::Headers::new() {
        let _ = h.set("content-type", if body.is_string() { "application/json" } else { "application/octet-stream" });
        if let Some(t) = token {
            let _ = h.set("authorization", &format!("Bearer {t}"));
        }
        init.set_headers(&h);
    }
    init
}

/// Percent-encodes a query value (unreserved characters stay).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push_str(&hex(&[b]));
        }
    }
    out
}
