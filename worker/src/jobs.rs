//! A small durable job scheduler for a Durable Object, on its one alarm.
//!
//! A Durable Object has a single alarm, so every kind of delayed work (webhook deliveries now,
//! data retention later) shares it through this table:
//!
//! ```sql
//! jobs(id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT, due INTEGER /* ms */, attempts INTEGER, payload TEXT)
//! ```
//!
//! - `add` / `replace` write a job synchronously, so it commits together with the caller's other
//!   writes of the same step (an event and the webhook it causes are stored together or not at
//!   all). Call `arm` after them.
//! - `arm` points the alarm at the earliest due job (and is a no-op when it already does).
//! - The object's `alarm()` calls `run_due` with a dispatcher that matches on `Job::kind`; the
//!   dispatcher says what became of each job (`Next::Done`, or `Next::RetryAt(ms)`), and the
//!   alarm is re-armed for what is left. A job whose kind nobody knows is logged and dropped.
//!
//! Adding a kind (e.g. retention): pick a `kind` string, `jobs::replace(&sql, "retention", due,
//! "")` wherever the due time changes, and add an arm to the object's dispatcher. Nothing here
//! changes. Jobs run at least once: a crash after the work but before `Done` is recorded runs it
//! again, so make each kind idempotent.

use serde::Deserialize;
use std::future::Future;
use worker::{SqlStorage, Storage};

/// Jobs handled per alarm; the rest wait for the next one (set at once when they are due).
const BATCH: usize = 20;

/// One scheduled job.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    /// How many times it ran before and asked to be retried.
    pub attempts: u32,
    /// The kind's own data (JSON, usually).
    pub payload: String,
}

/// What became of a job after it ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Finished (or given up): removed.
    Done,
    /// Run it again at this time (ms); `attempts` goes up by one.
    RetryAt(i64),
}

pub fn ensure_schema(sql: &SqlStorage) -> worker::Result<()> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, due INTEGER NOT NULL, \
         attempts INTEGER NOT NULL DEFAULT 0, payload TEXT NOT NULL)",
        None,
    )?;
    sql.exec("CREATE INDEX IF NOT EXISTS jobs_due ON jobs(due)", None)?;
    Ok(())
}

/// Schedules a job. Synchronous: it commits with the caller's other writes of this step.
pub fn add(sql: &SqlStorage, kind: &str, due: i64, payload: &str) -> worker::Result<()> {
    sql.exec("INSERT INTO jobs (kind, due, payload) VALUES (?, ?, ?)", vec![kind.into(), due.into(), payload.into()])?;
    Ok(())
}

/// Schedules the one job of `kind`, replacing any pending one (for "once, at the latest due
/// time" work such as retention).
pub fn replace(sql: &SqlStorage, kind: &str, due: i64, payload: &str) -> worker::Result<()> {
    sql.exec("DELETE FROM jobs WHERE kind = ?", vec![kind.into()])?;
    add(sql, kind, due, payload)
}

/// Whether a job of `kind` is pending.
pub fn exists(sql: &SqlStorage, kind: &str) -> worker::Result<bool> {
    let rows: Vec<serde_json::Value> = sql.exec("SELECT 1 AS x FROM jobs WHERE kind = ? LIMIT 1", vec![kind.into()])?.to_array()?;
    Ok(!rows.is_empty())
}

/// The earliest due time of any job.
pub fn next_due(sql: &SqlStorage) -> worker::Result<Option<i64>> {
    #[derive(Deserialize)]
    struct Row {
        due: Option<f64>,
    }
    let rows: Vec<Row> = sql.exec("SELECT MIN(due) AS due FROM jobs", None)?.to_array()?;
    Ok(rows.first().and_then(|r| r.due).map(|d| d as i64))
}

/// Points the object's alarm at the earliest due job, unless it already fires by then.
pub async fn arm(storage: &Storage) -> worker::Result<()> {
    let Some(due) = next_due(&storage.sql())? else {
        return Ok(());
    };
    match storage.get_alarm().await? {
        Some(at) if at <= due => Ok(()),
        _ => storage.set_alarm(worker::ScheduledTime::new(js_sys::Date::new(&(due as f64).into()))).await,
    }
}

/// The jobs due at `now`, earliest first (at most `BATCH`).
pub fn due(sql: &SqlStorage, now: i64) -> worker::Result<Vec<Job>> {
    #[derive(Deserialize)]
    struct Row {
        id: f64,
        kind: String,
        attempts: f64,
        payload: String,
    }
    let rows: Vec<Row> = sql
        .exec(
            "SELECT id, kind, attempts, payload FROM jobs WHERE due <= ? ORDER BY due, id LIMIT ?",
            vec![now.into(), (BATCH as i64).into()],
        )?
        .to_array()?;
    Ok(rows.into_iter().map(|r| Job { id: r.id as i64, kind: r.kind, attempts: r.attempts as u32, payload: r.payload }).collect())
}

/// Records what became of a job.
pub fn finish(sql: &SqlStorage, job: &Job, next: Next) -> worker::Result<()> {
    match next {
        Next::Done => sql.exec("DELETE FROM jobs WHERE id = ?", vec![job.id.into()])?,
        Next::RetryAt(at) => sql.exec("UPDATE jobs SET due = ?, attempts = attempts + 1 WHERE id = ?", vec![at.into(), job.id.into()])?,
    };
    Ok(())
}

/// Runs the due jobs one after another through `dispatch`, records each outcome as soon as it
/// is known, then re-arms the alarm for the rest. Called from the object's `alarm()`.
pub async fn run_due<F, Fut>(storage: &Storage, now: i64, dispatch: F) -> worker::Result<usize>
where
    F: Fn(Job) -> Fut,
    Fut: Future<Output = Next>,
{
    let sql = storage.sql();
    ensure_schema(&sql)?;
    let jobs = due(&sql, now)?;
    let n = jobs.len();
    for job in jobs {
        let next = dispatch(job.clone()).await;
        finish(&sql, &job, next)?;
    }
    arm(storage).await?;
    Ok(n)
}
