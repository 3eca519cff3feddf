//! Who the visitor is and what they are doing, as the host page says: `data-user-*` on the
//! script tag, `window.Baton.identify({...})`, `.reset()`, `.setContext({...})`.
//!
//! - The identity goes to the server as an `identify` frame — the page's object as JSON, as it
//!   is — queued first in the outbox of a new conversation so it is stored before the first
//!   question (and reaches the briefing). The server checks the shape and the signature
//!   (`identity_invalid` names the field, and the panel shows it); checking here too would only
//!   cost the widget bytes.
//! - A thread belongs to one user: the stored conversation remembers the user id it was
//!   identified with. Another user drops it from this browser and revokes its token; a signed
//!   identity with no stored thread asks the server for the user's latest one
//!   (`POST …/identity/resume`: another device).
//! - Context is sent like the page: when it changed, once online.

use super::upload::post;
use super::*;

/// The page's identity: its JSON (a flat object of strings), its user id, whether signed.
#[derive(Clone, PartialEq)]
pub(super) struct Claim {
    json: String,
    user: String,
    signed: bool,
}

impl Claim {
    fn of(json: String) -> Option<Claim> {
        let v = Json::parse(&json).ok()?;
        Some(Claim { user: v.get("user_id").string()?, signed: v.get("signature").as_str().is_some(), json })
    }
}

/// The identity in the script tag's `data-user-*` attributes, if any.
fn from_dataset(data: &JsValue) -> Option<Claim> {
    let get = |k: &str| js_sys::Reflect::get(data, &JsValue::from_str(k)).ok().and_then(|v| v.as_string());
    get("userId")?;
    // Custom attributes (a JSON object), then the known fields.
    let mut members = match get("userAttributes").map(|a| Json::parse(&a)) {
        Some(Ok(Json::Obj(m))) => m,
        _ => Vec::new(),
    };
    for (attr, name) in
        [("userId", "user_id"), ("userEmail", "email"), ("userName", "name"), ("userExpires", "expires"), ("userSignature", "signature")]
    {
        if let Some(v) = get(attr) {
            members.push((name.into(), Json::Str(v)));
        }
    }
    Claim::of(Json::Obj(members).to_text())
}

/// A page's object as JSON text (`None` if it is not an object).
fn json_of(v: &JsValue) -> Option<String> {
    v.is_object().then(|| js_sys::JSON::stringify(v).ok()?.as_string()).flatten()
}

impl Session {
    /// Reads the script tag's identity, runs the calls the page queued before the panel was
    /// loaded, and puts the real `identify`, `reset` and `setContext` on `window.Baton`.
    pub fn init_identity(self: &Rc<Self>, data: &JsValue, baton: Option<JsValue>) {
        // A sign-out on a page where the chat never loaded (the loader remembered it).
        let flag = format!("{}:reset", self.key());
        if storage().and_then(|s| s.get_item(&flag).ok().flatten()).is_some() {
            store(&flag, None);
            self.reset();
        }
        // The tag's identity first; a later identify() or reset() of the page wins.
        if let Some(c) = from_dataset(data) {
            self.set_identity(c);
        }
        let Some(b) = baton else { return };
        let queued = js_sys::Reflect::get(&b, &"q".into()).ok().and_then(|q| q.dyn_into::<js_sys::Array>().ok());
        for call in queued.iter().flat_map(|q| q.iter()) {
            if let Ok(call) = call.dyn_into::<js_sys::Array>() {
                self.call(&call.get(0).as_string().unwrap_or_default(), &call.get(1));
            }
        }
        let _ = js_sys::Reflect::set(&b, &"q".into(), &js_sys::Array::new());
        for name in ["identify", "reset", "setContext"] {
            let this = self.clone();
            let f = Closure::<dyn Fn(JsValue)>::new(move |arg: JsValue| this.call(name, &arg));
            let _ = js_sys::Reflect::set(&b, &name.into(), f.as_ref());
            f.forget();
        }
    }

    fn call(self: &Rc<Self>, name: &str, arg: &JsValue) {
        match (name, json_of(arg)) {
            ("reset", _) => self.reset(),
            ("identify", Some(j)) => match Claim::of(j) {
                Some(c) => self.set_identity(c),
                None => self.ui.notice.set(Some("identify: user_id (a string) is missing".into())),
            },
            ("setContext", Some(j)) => {
                *self.context.borrow_mut() = Some(j);
                self.send_context();
            }
            _ => self.ui.notice.set(Some(format!("{name}: pass an object"))),
        }
    }

    /// The page says who the visitor is.
    fn set_identity(self: &Rc<Self>, claim: Claim) {
        // A thread of another signed-in user is not this visitor's: it leaves this browser.
        // (No identity at all is not a sign-out: a single-page app may identify later; a
        // sign-out is `reset()`.)
        let stored = self.saved.borrow().as_ref().map(|s| s.user.clone());
        if matches!(&stored, Some(u) if !u.is_empty() && *u != claim.user) {
            self.reset();
        }
        *self.identity.borrow_mut() = Some(claim.clone());
        if self.saved.borrow().is_some() {
            self.queue_identify(false);
        } else if claim.signed {
            self.resume(claim);
        }
    }

    /// Queues the `identify` frame unless this thread already has this identity (`front`: as
    /// the first frame of a new conversation).
    pub(super) fn queue_identify(self: &Rc<Self>, front: bool) {
        let Some(claim) = self.identity.borrow().clone() else { return };
        match self.saved.borrow_mut().as_mut() {
            Some(s) if s.sent != claim.json => {
                s.user = claim.user;
                s.sent = claim.json.clone();
            }
            _ => return,
        }
        self.save_saved();
        let id = random_id();
        // The page's JSON as it is: the server reads it as an `IdentityClaim`.
        let frame = format!(r#"{{"type":"identify","client_id":"{id}","identity":{}}}"#, claim.json);
        let mut outbox = self.outbox.borrow_mut();
        let at = if front { 0 } else { outbox.len() };
        outbox.insert(at, Queued { id, frame: frame.clone(), text: None, action: None });
        drop(outbox);
        self.save_outbox();
        if !front && self.online() {
            self.send_raw(&frame);
        }
    }

    /// A signed identity without a thread here: continue the user's latest one, if any.
    fn resume(self: &Rc<Self>, claim: Claim) {
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let init = post(&JsValue::from_str(&claim.json), None);
            let Some((200, text)) = fetch_text(&this.site_url("identity/resume"), &init).await else { return };
            let Some(c) = wire::decode_conversation_created(&text) else { return };
            // Still the same visitor, and nothing started meanwhile.
            if this.identity.borrow().as_ref() != Some(&claim) || this.saved.borrow().is_some() || this.creating.get() {
                return;
            }
            *this.saved.borrow_mut() =
                Some(Saved { conversation_id: c.conversation_id.to_string(), token: c.visitor_token, user: claim.user, sent: claim.json });
            this.save_saved();
            this.connect();
        });
    }

    /// Sign-out (`window.Baton.reset()`): this browser's access to the thread ends — its token
    /// is revoked on the server and forgotten here, and the panel starts empty.
    pub fn reset(self: &Rc<Self>) {
        *self.identity.borrow_mut() = None;
        let saved = self.saved.borrow_mut().take();
        if let Some(saved) = saved {
            let init = post(&JsValue::NULL, Some(&saved.token));
            let url = self.site_url(&format!("conversations/{}/signout", saved.conversation_id));
            wasm_bindgen_futures::spawn_local(async move {
                let _ = fetch_text(&url, &init).await;
            });
        }
        self.generation.set(self.generation.get() + 1);
        if let Some(ws) = self.socket.borrow_mut().take() {
            let _ = ws.close();
        }
        store(&self.key(), None);
        self.outbox.borrow_mut().clear();
        self.uploads.borrow_mut().clear();
        self.save_outbox();
        self.last_seq.set(0);
        *self.context_sent.borrow_mut() = None;
        let ui = self.ui;
        ui.events.set(Vec::new());
        ui.pending.set(Vec::new());
        ui.ownership.set(Ownership::Bot);
        ui.link.set(Link::Idle);
    }

    /// Sends the page's context when it changed since it was last sent (the server keeps it
    /// across reconnects; a reload sends it once more, and the server ignores a repeat).
    pub(super) fn send_context(&self) {
        let Some(context) = self.context.borrow().clone() else { return };
        if !self.online() || self.context_sent.borrow().as_ref() == Some(&context) {
            return;
        }
        self.send_raw(&format!(r#"{{"type":"context","context":{context}}}"#));
        *self.context_sent.borrow_mut() = Some(context);
    }

    /// Writes `{conversation_id, token, user, sent}` to `localStorage`.
    pub(super) fn save_saved(&self) {
        let body = self.saved.borrow().as_ref().map(|s| {
            Json::Obj(vec![
                ("conversation_id".into(), Json::Str(s.conversation_id.clone())),
                ("token".into(), Json::Str(s.token.clone())),
                ("user".into(), Json::Str(s.user.clone())),
                ("sent".into(), Json::Str(s.sent.clone())),
            ])
            .to_text()
        });
        store(&self.key(), body.as_deref());
    }
}
