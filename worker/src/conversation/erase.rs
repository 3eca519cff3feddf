//! Erasing a conversation: by the site's retention period (the `retention` job) or on request
//! (`/erase`). The inbox row goes first, then every byte of storage, then the sockets.

use super::*;

pub(super) const RETENTION_JOB: &str = "retention";

impl Conversation {
    /// The retention period of the site (`BATON_RETENTION_DAY_MS` shortens a day, for tests).
    pub(super) fn day_ms(&self) -> i64 {
        self.env.var("BATON_RETENTION_DAY_MS").ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(retention::DAY_MS)
    }

    /// The retention job: erase once the site's period has passed since the last event, else
    /// look again then.
    pub(super) async fn retention_job(&self, now: i64) -> Next {
        let Ok(st) = self.load() else {
            return Next::Done;
        };
        let config = match assets::site_config(&self.env, &st.site).await {
            Ok(c) => c,
            Err(e) => {
                console_error!("retention: no site config, looking again in an hour: {e:?}");
                return Next::RetryAt(now + 3_600_000);
            }
        };
        match retention::step(st.updated_at, config.retention_days, self.day_ms(), now) {
            // Off for the site: the next wake schedules the job again (`check_jobs`).
            retention::Step::Keep => Next::Done,
            retention::Step::CheckAt(at) => Next::RetryAt(at),
            retention::Step::Erase => {
                self.erase_due.set(true);
                Next::Done
            }
        }
    }

    /// Erases the conversation: its row leaves the inbox, then every byte of its storage (log,
    /// token hash, jobs, alarm) is deleted, and its sockets are closed with the reason. The
    /// inbox goes first: if it cannot be told, nothing is erased and the caller retries.
    pub(super) async fn erase(&self, by_retention: bool) -> Result<(), Failure> {
        let st = self.load()?;
        // Its files (R2) and its place in its user's list go first, with the inbox row.
        self.erase_files(&st).await?;
        self.unlink_user(&st).await?;
        let body = serde_json::json!({ "id": st.id }).to_string();
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(JsValue::from_str(&body)));
        let req = Request::new_with_init("https://inbox/remove", &init)?;
        let mut resp = self.env.durable_object("INBOX")?.get_by_name(st.site.as_str())?.fetch_with_request(req).await?;
        if resp.status_code() != 200 {
            return Err(Failure::Internal(format!("the inbox answered {} to the removal: {}", resp.status_code(), resp.text().await?)));
        }
        let storage = self.state.storage();
        storage.delete_alarm().await?;
        storage.delete_all().await?;
        *self.cache.borrow_mut() = None;
        *self.visitor_bucket.borrow_mut() = None;
        self.schema.set(false);
        self.snapshot_seq.set(0);
        self.jobs_checked.set(false);
        let notice = conversation::erased_notice(by_retention);
        for ws in self.state.get_websockets() {
            send(&ws, &ServerMsg::Error { error: notice.clone(), client_id: None });
            let _ = ws.close(Some(notice.code.close_code()), Some("conversation erased"));
        }
        Ok(())
    }
}
