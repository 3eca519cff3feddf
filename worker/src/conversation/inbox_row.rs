//! The conversation's row in its site's `Inbox`: sent detached after each change (at most one
//! update in flight, the newest state), with a durable safety job behind it; and the `Inbox`
//! asked who is online right before a frame that may hand off.

use super::*;

/// The inbox row is updated at most once per this many milliseconds: a change after a quiet
/// spell goes out at once, the changes of a busy thread together (the newest state).
pub(super) const INBOX_MIN_INTERVAL_MS: i64 = 100;

/// The inbox row is also brought up to date by a job this long after a change (`INBOX_JOB`):
/// the immediate update runs detached and in memory, so a crash, an eviction or a failed call
/// to the `Inbox` would otherwise leave the row stale until the next change.
pub(super) const INBOX_SAFETY_MS: i64 = 2_000;

/// Job kinds of this object (see `jobs.rs`; webhooks have their own, `webhooks::JOB_KIND`).
pub(super) const INBOX_JOB: &str = "inbox_row";

/// The inbox row update: at most one in flight (or waiting) per conversation (`busy`); a change
/// made while one is in flight (`dirty`) is sent after it, with the newest state.
#[derive(Default)]
pub(super) struct InboxSync {
    pub(super) busy: Cell<bool>,
    pub(super) dirty: Cell<bool>,
    /// When the last update started (ms).
    pub(super) last_sent: Cell<i64>,
    /// `last_seq` of the newest state the `Inbox` confirmed (0 since a wake): the safety job
    /// skips the call when it is current.
    pub(super) synced_seq: Cell<u64>,
}

/// Sends a conversation's row to its site's `Inbox`; returns whether operators are online.
pub(super) async fn post_row(env: &Env, st: &ConversationState) -> Result<bool, Failure> {
    let body = serde_json::to_string(&st.summary())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(JsValue::from_str(&body)));
    let req = Request::new_with_init("https://inbox/upsert", &init)?;
    let stub = env.durable_object("INBOX")?.get_by_name(st.site.as_str())?;
    let mut resp = stub.fetch_with_request(req).await?;
    #[derive(Deserialize)]
    struct Reply {
        operators_online: bool,
    }
    Ok(resp.json::<Reply>().await?.operators_online)
}

impl Conversation {
    /// Asks the site's `Inbox` whether an operator is online now (right before a handoff, so
    /// the visitor is told the truth). If the inbox cannot be reached: the last answer, or no.
    pub(super) async fn presence_now(&self, site: &SiteId) -> bool {
        let result: Result<bool, Failure> = async {
            let stub = self.env.durable_object("INBOX")?.get_by_name(site.as_str())?;
            let mut resp = stub.fetch_with_str("https://inbox/presence").await?;
            #[derive(Deserialize)]
            struct Reply {
                operators_online: bool,
            }
            Ok(resp.json::<Reply>().await?.operators_online)
        }
        .await;
        match result {
            Ok(online) => {
                self.operators_online.set(Some(online));
                online
            }
            Err(e) => {
                console_error!("inbox presence failed: {e:?}");
                self.operators_online.get().unwrap_or(false)
            }
        }
    }

    /// Brings the site's inbox row up to date, off the critical path: the update runs detached,
    /// so this frame's handler returns at once and the socket's next frame is not held behind
    /// a round trip to the `Inbox` (a socket's frames are handled one at a time, see `turns`).
    /// The `INBOX_JOB` stored with each change is the durable fallback.
    /// At most one update is in flight, and at most one starts per `INBOX_MIN_INTERVAL_MS`;
    /// changes made meanwhile go out together, with the newest state.
    pub(super) fn sync_inbox(&self) {
        let sync = self.inbox.clone();
        if sync.busy.get() {
            sync.dirty.set(true);
            return;
        }
        sync.busy.set(true);
        let (cache, env, online) = (self.cache.clone(), self.env.clone(), self.operators_online.clone());
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                // A busy thread: let the changes of the rest of the interval gather, then send
                // the newest state once.
                let wait = sync.last_sent.get() + INBOX_MIN_INTERVAL_MS - now_ms();
                if wait > 0 {
                    Delay::from(std::time::Duration::from_millis(wait as u64)).await;
                }
                sync.dirty.set(false);
                let Some(st) = cache.borrow().clone() else { break };
                sync.last_sent.set(now_ms());
                match post_row(&env, &st).await {
                    Ok(o) => {
                        online.set(Some(o));
                        sync.synced_seq.set(sync.synced_seq.get().max(st.last_seq));
                    }
                    Err(e) => console_error!("inbox update failed: {e:?}"),
                }
                if !sync.dirty.get() {
                    break;
                }
            }
            sync.busy.set(false);
        });
    }

    /// The inbox row's safety net: sends the newest state unless the `Inbox` already has it.
    pub(super) async fn inbox_job(&self, job: &Job, now: i64) -> Next {
        let Ok(st) = self.load() else {
            return Next::Done;
        };
        if self.inbox.synced_seq.get() >= st.last_seq {
            return Next::Done;
        }
        match post_row(&self.env, &st).await {
            Ok(online) => {
                self.operators_online.set(Some(online));
                self.inbox.synced_seq.set(self.inbox.synced_seq.get().max(st.last_seq));
                Next::Done
            }
            Err(e) => {
                console_error!("inbox row job failed (try {}): {e:?}", job.attempts + 1);
                Next::RetryAt(now + (1_000 << job.attempts.min(8)))
            }
        }
    }
}
