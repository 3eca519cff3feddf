//! The `Conversation` object's files (R2, the `ATTACHMENTS` binding): store an upload, serve a
//! file to whoever may read the thread, erase them all with the conversation.
//!
//! What is accepted, how big, under which name and with which headers is decided by
//! `baton_shared::attachments`; here the bytes go in and out. Order: the bytes are stored
//! before the event that names them (an event never points at nothing), and a refused event
//! deletes them again.

use super::*;
use baton_shared::attachments::{self, Uploaded};

/// The R2 binding in wrangler.toml.
pub const BUCKET: &str = "ATTACHMENTS";

fn random_id() -> Result<String, Failure> {
    let mut b = [0u8; 16];
    getrandom02::getrandom(&mut b).map_err(|e| Failure::Internal(e.to_string()))?;
    Ok(hex(&b))
}

impl Conversation {
    /// `POST /attach?name=…&client_id=…` with the file's bytes as the body, from the visitor
    /// (token) or an operator (set by the worker). A resend under the same client id stores
    /// nothing new and answers with the first upload.
    pub(super) async fn attach(&self, req: &mut Request) -> Handled {
        let st = self.load()?;
        let actor = self.http_actor(req)?;
        let config = assets::site_config(&self.env, &st.site).await?;
        let limits = config.attachments.limits();
        let name = crate::http::query(req, "name").unwrap_or_default();
        if let Some(len) = req.headers().get("content-length")?.and_then(|l| l.parse::<u64>().ok()) {
            // Refused before reading: a 50 MB body costs the object nothing.
            attachments::check_size(limits, len, st.attachment_bytes)?;
        }
        let client_id = match crate::http::query(req, "client_id") {
            Some(c) if !c.is_empty() && c.len() <= MAX_CLIENT_ID_BYTES => c,
            Some(_) => return Err(Failure::Api(ErrorBody::field("client_id", format!("client_id must be 1-{MAX_CLIENT_ID_BYTES} bytes")))),
            None => random_id()?,
        };
        let bytes = req.bytes().await?;
        attachments::check_size(limits, bytes.len() as u64, st.attachment_bytes)?;
        let kind = attachments::check_type(&name, &bytes)?;
        let attachment = Attachment {
            id: random_id()?,
            name: attachments::file_name(&name, kind),
            content_type: kind.content_type().into(),
            size: bytes.len() as u64,
        };
        let msg = ClientMsg::Attached { client_id, attachment: attachment.clone() };
        if let Some(seq) = self.stored_seq(&actor, &msg)? {
            return self.uploaded(seq, 200);
        }
        let ip = req.headers().get(IP_HEADER)?;
        self.visitor_limits(&actor, &msg, ip.as_deref()).await?;

        let bucket = self.env.bucket(BUCKET)?;
        let key = attachments::object_key(st.site.as_str(), st.id.as_str(), &attachment.id);
        let meta = HttpMetadata { content_type: Some(attachment.content_type.clone()), ..Default::default() };
        bucket.put(key.clone(), bytes).http_metadata(meta).execute().await?;
        let applied = match self.apply(&actor, &msg).await {
            Ok(a) => a,
            Err(e) => {
                if let Err(d) = bucket.delete(key).await {
                    console_error!("attachment refused but its bytes not deleted: {d:?}");
                }
                return Err(e);
            }
        };
        if applied.events.is_empty() {
            // A resend that raced the first upload: keep the first file only.
            bucket.delete(key).await?;
            let seq = applied.ack.map(|(_, s)| s).unwrap_or_default();
            return self.uploaded(seq, 200);
        }
        self.broadcast(&applied.events)?;
        self.sync_inbox();
        self.charge_address_now(&actor, &msg, ip.as_deref()).await;
        let seq = applied.events.iter().find(|e| matches!(e.event.kind, EventKind::AttachmentAdded { .. })).map_or(0, |e| e.event.seq);
        json(201, &Uploaded { attachment, seq })
    }

    /// The reply for an upload stored as event `seq`.
    fn uploaded(&self, seq: u64, status: u16) -> Handled {
        let attachment = self
            .events_after(seq.saturating_sub(1))?
            .into_iter()
            .find_map(|e| match e.kind {
                EventKind::AttachmentAdded { attachment, .. } if e.seq >= seq => Some(attachment),
                _ => None,
            })
            .ok_or_else(|| Failure::Internal(format!("upload acknowledged as {seq} but no attachment there")))?;
        json(status, &Uploaded { attachment, seq })
    }

    /// `GET /attachments/:id`: the file, to the conversation's visitor or its site's operators,
    /// with headers that keep it a file (`attachments::SERVE_HEADERS`).
    pub(super) async fn serve_attachment(&self, req: &Request, id: &str) -> Handled {
        let st = self.load()?;
        self.http_actor(req)?;
        let a = attachments::find(&st.attachments, id)?;
        let key = attachments::object_key(st.site.as_str(), st.id.as_str(), &a.id);
        let Some(object) = self.env.bucket(BUCKET)?.get(key).execute().await? else {
            return Err(api(ErrorCode::UnknownAttachment, "this attachment's file is gone"));
        };
        let body = object.body().ok_or_else(|| Failure::Internal("attachment without a body".into()))?.response_body()?;
        let headers = Headers::new();
        headers.set("content-type", &a.content_type)?;
        headers.set("content-length", &a.size.to_string())?;
        headers.set("content-disposition", &attachments::content_disposition(a))?;
        for (k, v) in attachments::SERVE_HEADERS {
            headers.set(k, v)?;
        }
        Ok(Response::builder().with_status(200).with_headers(headers).body(body))
    }

    /// Deletes every file stored under this conversation (before the rest of it is erased;
    /// an error leaves everything in place, and the caller tries again).
    pub(super) async fn erase_files(&self, st: &ConversationState) -> Result<(), Failure> {
        let bucket = match self.env.bucket(BUCKET) {
            Ok(b) => b,
            // A deployment without the binding never stored a file.
            Err(_) if st.attachments.is_empty() => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let prefix = attachments::conversation_prefix(st.site.as_str(), st.id.as_str());
        loop {
            let listed = bucket.list().prefix(prefix.clone()).limit(1000).execute().await?;
            let keys: Vec<String> = listed.objects().iter().map(|o| o.key()).collect();
            if keys.is_empty() {
                return Ok(());
            }
            bucket.delete_multiple(keys).await?;
            if !listed.truncated() {
                return Ok(());
            }
        }
    }
}
