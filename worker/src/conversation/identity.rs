//! The `Conversation` object's side of visitor identity: `identify` frames are checked here
//! (the signature against the site's secret: `crate::identity::verify_claim`) and become the
//! worker-made `identified`; the conversation is linked to its user's `Visitor` object (so the
//! user can resume it elsewhere, and be exported or erased by user id); further visitor tokens
//! for a verified user's other devices; sign-out, which revokes the token of one browser.
//!
//! Tokens: the first one is `meta.token_hash` (made at creation); those given to a verified
//! user's other devices live in `tokens` (hashes only, like the first).

use super::*;
use baton_shared::identity as rules;

/// `POST /tokens` from the worker: a verified user resumes this conversation on a new device.
#[derive(Serialize, Deserialize)]
pub struct AddToken {
    pub user_id: String,
    pub token_hash: String,
}

/// `POST /erase_user` from the worker: erase this conversation if it is this user's.
#[derive(Serialize, Deserialize)]
pub struct EraseUser {
    pub user_id: String,
}

impl Conversation {
    /// Frames that need more than `decide`: an `identify` is verified and linked, and turns
    /// into `identified`. Every other frame passes as it is.
    pub(super) async fn prepare(&self, actor: &Actor, msg: ClientMsg) -> Result<ClientMsg, Failure> {
        let ClientMsg::Identify { client_id, identity } = msg else {
            return Ok(msg);
        };
        if *actor != Actor::Visitor {
            return Err(api(ErrorCode::Forbidden, "only the visitor's page can say who the visitor is"));
        }
        let st = self.load()?;
        let config = assets::site_config(&self.env, &st.site).await?;
        let identity = crate::identity::verify_claim(&self.env, &config, &identity)?;
        // Linked before it is stored (so a crash in between leaves a link the checks skip, never
        // a conversation its user cannot find); only when this conversation would take it.
        if rules::may_identify(st.identity.as_ref(), &identity)? {
            crate::identity::link(&self.env, &st.site, &identity.user_id, &st.id, identity.verified).await?;
        }
        Ok(ClientMsg::Identified { client_id, identity })
    }

    /// Whether `hash` is one of the tokens given to a verified user's other devices.
    pub(super) fn extra_token_matches(&self, hash: &str) -> Result<bool, Failure> {
        #[derive(Deserialize)]
        struct Row {
            hash: String,
        }
        if !self.has_tokens_table()? {
            return Ok(false);
        }
        let rows: Vec<Row> = self.sql().exec("SELECT hash FROM tokens", None)?.to_array()?;
        Ok(rows.iter().any(|r| subtle::ConstantTimeEq::ct_eq(r.hash.as_bytes(), hash.as_bytes()).into()))
    }

    fn has_tokens_table(&self) -> Result<bool, Failure> {
        if !self.has_schema()? {
            return Ok(false);
        }
        let t: Vec<serde_json::Value> =
            self.sql().exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'tokens'", None)?.to_array()?;
        Ok(!t.is_empty())
    }

    /// `POST /tokens`: only for the verified user this conversation belongs to.
    pub(super) async fn add_token(&self, req: &mut Request) -> Handled {
        let add: AddToken = crate::http::body(req).await?;
        let st = self.load()?;
        rules::may_resume(st.identity.as_ref(), &add.user_id)?;
        let sql = self.sql();
        sql.exec("CREATE TABLE IF NOT EXISTS tokens (hash TEXT PRIMARY KEY, at INTEGER NOT NULL)", None)?;
        sql.exec("INSERT OR IGNORE INTO tokens (hash, at) VALUES (?, ?)", vec![add.token_hash.into(), now_ms().into()])?;
        json(200, &serde_json::json!({ "ok": true }))
    }

    /// `POST /signout` with a visitor token: that token stops working (the host page signed
    /// its user out: `window.Baton.reset()`). Other devices keep theirs.
    pub(super) fn signout(&self, req: &Request) -> Handled {
        self.load()?;
        if self.http_actor(req)? != Actor::Visitor {
            return Err(api(ErrorCode::Forbidden, "sign-out is for the visitor's browser"));
        }
        let hash = crate::http::bearer(req).map(|t| token_hash(&t)).unwrap_or_default();
        if self.meta("token_hash")?.as_deref() == Some(hash.as_str()) {
            self.sql().exec("DELETE FROM meta WHERE k = 'token_hash'", None)?;
        }
        if self.has_tokens_table()? {
            self.sql().exec("DELETE FROM tokens WHERE hash = ?", vec![hash.into()])?;
        }
        json(200, &serde_json::json!({ "ok": true }))
    }

    /// `GET /identity` for operators: who this conversation belongs to (exports by user).
    pub(super) fn identity_of(&self, req: &Request) -> Handled {
        let st = self.load()?;
        conversation::may_erase(&self.http_actor(req)?)?;
        json(200, &st.identity)
    }

    /// `POST /erase_user`: a data-protection request for a user reaches each of their
    /// conversations; each is erased only if it is that user's (verified or only claimed).
    pub(super) async fn erase_for_user(&self, req: &mut Request) -> Handled {
        let actor = self.http_actor(req)?;
        conversation::may_erase(&actor)?;
        let e: EraseUser = crate::http::body(req).await?;
        let st = self.load()?;
        if st.identity.as_ref().map(|i| i.user_id.as_str()) != Some(e.user_id.as_str()) {
            return Err(api(ErrorCode::UnknownConversation, "this conversation is not that user's"));
        }
        self.erase(false).await?;
        json(200, &serde_json::json!({ "ok": true, "erased": st.id }))
    }

    /// Before an erase: the user's `Visitor` object forgets this conversation.
    pub(super) async fn unlink_user(&self, st: &ConversationState) -> Result<(), Failure> {
        match &st.identity {
            Some(i) => crate::identity::unlink(&self.env, &st.site, &i.user_id, &st.id).await,
            None => Ok(()),
        }
    }
}
