//! The `Inbox` object's part in issue 16 (a child module, so it sees the object's fields):
//!
//! - **Assignment**: after every row change, and when an operator comes online or back from
//!   away, `run_queue` asks `baton_shared::assign::plan` who gets the waiting conversations and
//!   queues an `assign` job for each; the job asks the conversation to record it
//!   (`assign::Command::Auto`), which refuses if the thread moved on. Until the conversation's
//!   row shows it, the decision is kept in `assigning` (it counts against the operator's
//!   capacity and is not planned twice).
//! - **Notifications**: `baton_shared::notify::notices` says who hears of a row change and how;
//!   each push to each device is a `push` job (`push.rs`), each email a `notify_email` job. The
//!   operators' choices (`notify_prefs`) and devices (`push_devices`) live here.
//!
//! Tables: `assigning(id, operator, at)`, `kv(k, v)` (the round robin's last operator, the
//! public origin), `push_devices(endpoint, operator, p256dh, auth, created_at)`,
//! `notify_prefs(operator, body)`, and the job scheduler's `jobs` on the object's alarm.

use super::*;
use crate::jobs::{self, Job, Next};
use baton_shared::assign::{self, Command};
use baton_shared::config::SiteConfig;
use baton_shared::notify::{self, Prefs, Settings, Subscription};
use std::rc::Rc;

/// Job kinds (see `Inbox::run_job`).
pub const ASSIGN_JOB: &str = "assign";
pub const NOTIFY_EMAIL_JOB: &str = "notify_email";
/// An assignment decided but not recorded by its conversation after this long is forgotten
/// (and planned again).
const IN_FLIGHT_MS: i64 = 30_000;
/// Header the worker sets on inbox requests: the public origin operators use (for links).
pub const ORIGIN_HEADER: &str = "x-baton-origin";

pub fn schema(sql: &SqlStorage) -> Result<(), Failure> {
    sql.exec("CREATE TABLE IF NOT EXISTS assigning (id TEXT PRIMARY KEY, operator TEXT NOT NULL, at INTEGER NOT NULL)", None)?;
    sql.exec("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)", None)?;
    sql.exec(
        "CREATE TABLE IF NOT EXISTS push_devices (endpoint TEXT PRIMARY KEY, operator TEXT NOT NULL, p256dh TEXT NOT NULL, \
         auth TEXT NOT NULL, created_at INTEGER NOT NULL)",
        None,
    )?;
    sql.exec("CREATE TABLE IF NOT EXISTS notify_prefs (operator TEXT PRIMARY KEY, body TEXT NOT NULL)", None)?;
    jobs::ensure_schema(sql)?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct AssignPayload {
    id: ConversationId,
    site: SiteId,
    operator: OperatorRef,
}

#[derive(Serialize, Deserialize)]
struct EmailPayload {
    to: String,
    site: SiteId,
    message: notify::Message,
}

fn now() -> i64 {
    Date::now().as_millis() as i64
}

impl Inbox {
    fn kv(&self, k: &str) -> Result<Option<String>, Failure> {
        #[derive(Deserialize)]
        struct Row {
            v: String,
        }
        let rows: Vec<Row> = self.sql().exec("SELECT v FROM kv WHERE k = ?", vec![k.into()])?.to_array()?;
        Ok(rows.into_iter().next().map(|r| r.v))
    }

    fn set_kv(&self, k: &str, v: &str) -> Result<(), Failure> {
        self.sql().exec("INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v", vec![k.into(), v.into()])?;
        Ok(())
    }

    /// Remembers the site and the public origin this object serves (from the worker's headers).
    pub(super) fn learn(&self, site: &SiteId, req: Option<&Request>) -> Result<(), Failure> {
        if self.kv("site")?.as_deref() != Some(site.as_str()) {
            self.set_kv("site", site.as_str())?;
        }
        if let Some(origin) = req.and_then(|r| r.headers().get(ORIGIN_HEADER).ok().flatten()) {
            if self.kv("origin")?.as_deref() != Some(origin.as_str()) {
                self.set_kv("origin", &origin)?;
            }
        }
        Ok(())
    }

    async fn config(&self) -> Option<Rc<SiteConfig>> {
        let site = SiteId::parse(&self.kv("site").ok().flatten()?).ok()?;
        assets::site_config(&self.env, &site).await.ok()
    }

    /// The row as stored now (before an update), as operators see it.
    pub(super) fn stored_row(&self, id: &ConversationId) -> Result<Option<ConversationSummary>, Failure> {
        Ok(self.bodies("SELECT body, '' AS search FROM rows WHERE id = ?", vec![id.as_str().into()])?.into_iter().next().map(|r| r.0))
    }

    /// A row from its conversation: stored, sent to the sockets, then notifications and the
    /// queue. Returns whether jobs were queued (the caller arms the alarm).
    pub(super) fn take_row(&self, row: ConversationSummary, config: Option<&SiteConfig>) -> Result<bool, Failure> {
        let before = self.stored_row(&row.id)?;
        let Some(row) = self.upsert(row)? else { return Ok(false) };
        self.broadcast(&InboxServerMsg::Row { row: row.clone() });
        if row.assignment.operator.is_some() || !matches!(row.ownership, Ownership::WaitingForHuman { .. }) {
            self.sql().exec("DELETE FROM assigning WHERE id = ?", vec![row.id.as_str().into()])?;
        }
        let Some(config) = config else { return Ok(false) };
        let notified = self.notify(config, before.as_ref(), &row)?;
        // The queue moves when a conversation joins it, or leaves a state that held a slot; a
        // bot's answer changes nothing for it.
        let moved = before.as_ref().is_none_or(|b| b.ownership.label() != row.ownership.label() || b.assignment != row.assignment);
        let planned = if moved { self.run_queue(config)? } else { 0 };
        Ok(notified + planned > 0)
    }

    /// Queues the notifications a row change causes; returns how many.
    fn notify(&self, config: &SiteConfig, before: Option<&ConversationSummary>, row: &ConversationSummary) -> Result<usize, Failure> {
        let prefs = self.all_prefs()?;
        let notices = notify::notices(before, row, &prefs);
        if notices.is_empty() {
            return Ok(0);
        }
        let inbox = if config.inbox_url.is_empty() {
            format!("{}/inbox", self.kv("origin")?.unwrap_or_default())
        } else {
            config.inbox_url.clone()
        };
        let sql = self.sql();
        let mut queued = 0;
        for n in notices {
            let message = notify::message(row, n.reason, &inbox);
            match n.channel {
                notify::Channel::Push => {
                    let text = serde_json::to_string(&message)?;
                    for subscription in self.devices(&n.operator)? {
                        let p = crate::push::Payload {
                            operator: n.operator.clone(),
                            subscription,
                            message: text.clone(),
                            topic: message.tag.clone(),
                        };
                        jobs::add(&sql, crate::push::JOB_KIND, now(), &serde_json::to_string(&p)?)?;
                        queued += 1;
                    }
                }
                notify::Channel::Email if config.email.enabled() => {
                    let p = EmailPayload { to: n.operator.clone(), site: row.site.clone(), message };
                    jobs::add(&sql, NOTIFY_EMAIL_JOB, now(), &serde_json::to_string(&p)?)?;
                    queued += 1;
                }
                notify::Channel::Email => {}
            }
        }
        Ok(queued)
    }

    /// Plans the waiting conversations (`assign::plan`) and queues an `assign` job for each
    /// decision; returns how many. Synchronous: two runs never interleave.
    pub(super) fn run_queue(&self, config: &SiteConfig) -> Result<usize, Failure> {
        if !config.assignment.auto {
            return Ok(0);
        }
        let sql = self.sql();
        let rows: Vec<ConversationSummary> = self
            .bodies("SELECT body, '' AS search FROM rows WHERE status IN ('waiting_for_human', 'human')", vec![])?
            .into_iter()
            .map(|r| r.0)
            .collect();
        if !rows.iter().any(assign::queued) {
            return Ok(0);
        }
        sql.exec("DELETE FROM assigning WHERE at < ?", vec![(now() - IN_FLIGHT_MS).into()])?;
        #[derive(Deserialize)]
        struct InFlight {
            id: String,
            operator: String,
        }
        let in_flight: Vec<(ConversationId, String)> = sql
            .exec("SELECT id, operator FROM assigning", None)?
            .to_array::<InFlight>()?
            .into_iter()
            .filter_map(|r| Some((ConversationId::parse(&r.id).ok()?, r.operator)))
            .collect();
        let last = self.kv("assign_last")?;
        let plan = assign::plan(&config.assignment, &rows, &in_flight, &self.presence(None), last.as_deref());
        for (id, operator) in &plan.assignments {
            sql.exec(
                "INSERT OR REPLACE INTO assigning (id, operator, at) VALUES (?, ?, ?)",
                vec![id.as_str().into(), operator.id.as_str().into(), now().into()],
            )?;
            let p = AssignPayload { id: id.clone(), site: config.site.clone(), operator: operator.clone() };
            jobs::add(&sql, ASSIGN_JOB, now(), &serde_json::to_string(&p)?)?;
        }
        if let Some(l) = &plan.last {
            if last.as_deref() != Some(l) {
                self.set_kv("assign_last", l)?;
            }
        }
        Ok(plan.assignments.len())
    }

    /// Someone came online or back from away: the queue may move.
    pub(super) async fn queue_moves(&self) {
        let Some(config) = self.config().await else { return };
        match self.run_queue(&config) {
            Ok(0) => {}
            Ok(_) => self.arm().await,
            Err(e) => console_error!("assignment queue: {e:?}"),
        }
    }

    pub(super) async fn arm(&self) {
        if let Err(e) = jobs::arm(&self.state.storage()).await {
            console_error!("inbox alarm not set: {e}");
        }
    }

    /// The object's jobs, by kind.
    pub(super) async fn run_job(&self, job: Job, now: i64) -> Next {
        match job.kind.as_str() {
            ASSIGN_JOB => self.assign_job(&job).await,
            crate::push::JOB_KIND => {
                let sent = crate::push::run(&self.env, &job, now).await;
                if let crate::push::Sent::Gone = sent {
                    if let Ok(p) = serde_json::from_str::<crate::push::Payload>(&job.payload) {
                        let _ = self.sql().exec("DELETE FROM push_devices WHERE endpoint = ?", vec![p.subscription.endpoint.into()]);
                    }
                }
                crate::push::next(&sent)
            }
            NOTIFY_EMAIL_JOB => self.email_job(&job, now).await,
            other => {
                console_error!("inbox job {} of unknown kind {other:?} dropped", job.id);
                Next::Done
            }
        }
    }

    /// Asks the conversation to record an automatic assignment; its row comes back at once.
    async fn assign_job(&self, job: &Job) -> Next {
        let Ok(p) = serde_json::from_str::<AssignPayload>(&job.payload) else { return Next::Done };
        let result: Result<Response, Failure> = async {
            let headers = Headers::new();
            headers.set(crate::conversation::SITE_HEADER, p.site.as_str())?;
            let mut init = RequestInit::new();
            let body = serde_json::to_string(&Command::Auto { operator: p.operator.clone() })?;
            init.with_method(Method::Post).with_headers(headers).with_body(Some(JsValue::from_str(&body)));
            let req = Request::new_with_init("https://conversation/assign", &init)?;
            Ok(self.env.durable_object("CONVERSATIONS")?.get_by_name(p.id.as_str())?.fetch_with_request(req).await?)
        }
        .await;
        let forget = || {
            let _ = self.sql().exec("DELETE FROM assigning WHERE id = ?", vec![p.id.as_str().into()]);
        };
        match result {
            Ok(mut resp) if resp.status_code() == 200 => {
                #[derive(Deserialize)]
                struct Reply {
                    row: ConversationSummary,
                }
                let config = self.config().await;
                match resp.json::<Reply>().await {
                    Ok(r) => {
                        if let Err(e) = self.take_row(r.row, config.as_deref()) {
                            console_error!("assigned row not stored: {e:?}");
                        }
                    }
                    Err(e) => console_error!("assignment reply unreadable: {e}"),
                }
                Next::Done
            }
            // Moved on meanwhile (taken, resolved, assigned): nothing to record.
            Ok(resp) if resp.status_code() == 409 || resp.status_code() == 404 => {
                forget();
                Next::Done
            }
            other => {
                let why = match other {
                    Ok(r) => format!("status {}", r.status_code()),
                    Err(e) => format!("{e:?}"),
                };
                if job.attempts < 3 {
                    console_error!("assignment of {} not recorded yet ({why}): retrying", p.id);
                    Next::RetryAt(now() + (1_000 << job.attempts))
                } else {
                    console_error!("assignment of {} given up ({why})", p.id);
                    forget();
                    Next::Done
                }
            }
        }
    }

    async fn email_job(&self, job: &Job, now: i64) -> Next {
        let Ok(p) = serde_json::from_str::<EmailPayload>(&job.payload) else { return Next::Done };
        let Ok(config) = assets::site_config(&self.env, &p.site).await else { return Next::RetryAt(now + 60_000) };
        let Some(out) = baton_shared::email::operator_notice(&config, &p.to, &p.message) else { return Next::Done };
        match crate::email::send(&self.env, &out).await {
            Ok(()) => Next::Done,
            Err(e) if job.attempts < 3 => {
                console_error!("handoff email to {} failed: {e}", p.to);
                Next::RetryAt(now + (30_000 << job.attempts))
            }
            Err(e) => {
                console_error!("handoff email to {} given up: {e}", p.to);
                Next::Done
            }
        }
    }

    // ---- operators' choices and devices ----

    fn all_prefs(&self) -> Result<Vec<(String, Prefs)>, Failure> {
        #[derive(Deserialize)]
        struct Row {
            operator: String,
            body: String,
        }
        let rows: Vec<Row> = self.sql().exec("SELECT operator, body FROM notify_prefs", None)?.to_array()?;
        Ok(rows.into_iter().filter_map(|r| Some((r.operator, serde_json::from_str(&r.body).ok()?))).collect())
    }

    fn devices(&self, operator: &str) -> Result<Vec<Subscription>, Failure> {
        #[derive(Deserialize)]
        struct Row {
            endpoint: String,
            p256dh: String,
            auth: String,
        }
        let rows: Vec<Row> = self
            .sql()
            .exec("SELECT endpoint, p256dh, auth FROM push_devices WHERE operator = ? ORDER BY created_at", vec![operator.into()])?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| Subscription { endpoint: r.endpoint, keys: notify::SubscriptionKeys { p256dh: r.p256dh, auth: r.auth } })
            .collect())
    }

    /// `/notifications` (GET: my settings; PUT: my choice), `/push/subscribe`,
    /// `/push/unsubscribe` — for the operator the worker authenticated.
    pub(super) async fn notifications_route(&self, req: &mut Request, path: &str) -> Handled {
        let me = operator_of(req)?;
        let sql = self.sql();
        match (req.method(), path) {
            (Method::Put, "/notifications") => {
                let prefs: Prefs = crate::http::body(req).await?;
                sql.exec(
                    "INSERT INTO notify_prefs (operator, body) VALUES (?, ?) ON CONFLICT(operator) DO UPDATE SET body = excluded.body",
                    vec![me.id.as_str().into(), serde_json::to_string(&prefs)?.into()],
                )?;
            }
            (Method::Post, "/push/subscribe") => {
                let sub: Subscription = crate::http::body(req).await?;
                sub.validate()?;
                sql.exec(
                    "INSERT INTO push_devices (endpoint, operator, p256dh, auth, created_at) VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT(endpoint) DO UPDATE SET operator = excluded.operator, p256dh = excluded.p256dh, auth = excluded.auth",
                    vec![sub.endpoint.as_str().into(), me.id.as_str().into(), sub.keys.p256dh.into(), sub.keys.auth.into(), now().into()],
                )?;
                // The oldest devices go beyond the limit.
                sql.exec(
                    "DELETE FROM push_devices WHERE operator = ? AND endpoint NOT IN \
                     (SELECT endpoint FROM push_devices WHERE operator = ? ORDER BY created_at DESC LIMIT ?)",
                    vec![me.id.as_str().into(), me.id.as_str().into(), (notify::MAX_DEVICES as i64).into()],
                )?;
            }
            (Method::Post, "/push/unsubscribe") => {
                #[derive(Deserialize)]
                struct Body {
                    endpoint: String,
                }
                let b: Body = crate::http::body(req).await?;
                sql.exec("DELETE FROM push_devices WHERE endpoint = ? AND operator = ?", vec![b.endpoint.into(), me.id.as_str().into()])?;
            }
            (Method::Get, "/notifications") => {}
            _ => return Err(api(ErrorCode::NotFound, "no such inbox route")),
        }
        let this = crate::http::query(req, "endpoint").unwrap_or_default();
        #[derive(Deserialize)]
        struct Row {
            endpoint: String,
            created_at: f64,
        }
        let devices = sql
            .exec("SELECT endpoint, created_at FROM push_devices WHERE operator = ? ORDER BY created_at", vec![me.id.as_str().into()])?
            .to_array::<Row>()?
            .into_iter()
            .map(|r| notify::Device {
                service: notify::service_of(&r.endpoint),
                created_at: r.created_at as i64,
                this_device: r.endpoint == this,
            })
            .collect();
        let prefs = self.all_prefs()?.into_iter().find(|(o, _)| *o == me.id).map(|(_, p)| p).unwrap_or_default();
        let config = self.config().await;
        let settings = Settings {
            prefs,
            devices,
            vapid_public_key: crate::push::key(&self.env).map(|k| k.public_key().to_string()).unwrap_or_default(),
            email_available: config.is_some_and(|c| c.email.enabled()),
        };
        json(200, &settings)
    }

    /// The site's operators (for assigning by hand), as colleagues see them.
    pub(super) fn team(&self, config: &SiteConfig) -> Vec<OperatorRef> {
        let mut team: Vec<OperatorRef> = crate::auth::accounts(&self.env)
            .into_iter()
            .filter(|a| a.site == config.site)
            .map(|a| config.operator_display(&OperatorRef { id: a.email, name: a.name }))
            .collect();
        team.sort_by(|a, b| a.name.cmp(&b.name));
        team
    }
}
