//! The object's storage: the tables (`events`, `meta`, `jobs`), the log appended in one
//! statement per frame, the state loaded from the snapshot plus the events after it, and the
//! visitor's token checked against its hash.

use super::*;

/// The folded state is written to `meta` once per this many events (and at creation).
pub(super) const SNAPSHOT_EVERY: u64 = 32;

/// An event as stored, with its stored JSON (sent to operators as it is).
pub(super) struct Stored {
    pub(super) event: Event,
    pub(super) body: String,
}

/// The snapshot in `meta`: the folded state up to `state.last_seq`.
pub(super) fn snapshot_key() -> &'static str {
    "state"
}

impl Conversation {
    pub(super) fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    pub(super) fn ensure_schema(&self) -> Result<(), Failure> {
        let sql = self.sql();
        // `client_id` holds the sender-scoped key (`Actor::client_key`); the event body keeps the
        // client's own id.
        sql.exec(
            "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, client_id TEXT, body TEXT NOT NULL)",
            None,
        )?;
        sql.exec("CREATE UNIQUE INDEX IF NOT EXISTS events_client_id ON events(client_id) WHERE client_id IS NOT NULL", None)?;
        sql.exec("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)", None)?;
        jobs::ensure_schema(&sql)?;
        self.schema.set(true);
        Ok(())
    }

    pub(super) fn has_schema(&self) -> Result<bool, Failure> {
        if !self.schema.get() {
            let tables: Vec<serde_json::Value> =
                self.sql().exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'", None)?.to_array()?;
            self.schema.set(!tables.is_empty());
        }
        Ok(self.schema.get())
    }

    pub(super) fn meta(&self, key: &str) -> Result<Option<String>, Failure> {
        #[derive(Deserialize)]
        struct Row {
            v: String,
        }
        if !self.has_schema()? {
            return Ok(None);
        }
        let rows: Vec<Row> = self.sql().exec("SELECT v FROM meta WHERE k = ?", vec![key.into()])?.to_array()?;
        Ok(rows.into_iter().next().map(|r| r.v))
    }

    pub(super) fn set_meta(&self, key: &str, value: &str) -> Result<(), Failure> {
        self.sql()
            .exec("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v", vec![key.into(), value.into()])?;
        Ok(())
    }

    /// The conversation's state, or `unknown_conversation` if it was never created (or erased):
    /// the snapshot plus every event after it, folded.
    pub(super) fn load(&self) -> Result<ConversationState, Failure> {
        if let Some(s) = self.cache.borrow().as_ref() {
            return Ok(s.clone());
        }
        let Some(raw) = self.meta(snapshot_key())? else {
            return Err(api(ErrorCode::UnknownConversation, "no such conversation: start a new one"));
        };
        let mut s: ConversationState = serde_json::from_str(&raw)?;
        self.snapshot_seq.set(s.last_seq);
        for e in self.events_after(s.last_seq)? {
            s.apply(&e);
        }
        *self.cache.borrow_mut() = Some(s.clone());
        Ok(s)
    }

    /// Whether the state after a step is to be written as the snapshot (enough events have
    /// piled up since the last; the snapshot only saves folding after a wake).
    pub(super) fn snapshot_due(&self, s: &ConversationState) -> bool {
        s.last_seq >= self.snapshot_seq.get() + SNAPSHOT_EVERY
    }

    /// Appends a frame's events in one statement, so they are stored all together or not at
    /// all (a resent client id fails the whole statement on the unique index). One event: plain
    /// bindings; several: one JSON array, because a statement takes at most 100 bindings.
    pub(super) fn insert(&self, events: &[Stored], client_key: Option<&str>) -> Result<(), Failure> {
        let key = client_key.map(str::to_string);
        if let [one] = events {
            let e = &one.event;
            self.sql().exec(
                "INSERT INTO events (seq, at, client_id, body) VALUES (?, ?, ?, ?)",
                vec![(e.seq as i64).into(), e.at.into(), key.into(), one.body.as_str().into()],
            )?;
            return Ok(());
        }
        let rows: Vec<serde_json::Value> = events
            .iter()
            .enumerate()
            .map(|(i, s)| serde_json::json!([s.event.seq, s.event.at, if i == 0 { key.clone() } else { None }, s.body]))
            .collect();
        self.sql().exec(
            "INSERT INTO events (seq, at, client_id, body) \
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]') \
             FROM json_each(?)",
            vec![serde_json::to_string(&rows)?.into()],
        )?;
        Ok(())
    }

    pub(super) fn events_after(&self, after: u64) -> Result<Vec<Event>, Failure> {
        #[derive(Deserialize)]
        struct Row {
            body: String,
        }
        let after = after.min(i64::MAX as u64) as i64;
        let rows: Vec<Row> = self.sql().exec("SELECT body FROM events WHERE seq > ? ORDER BY seq", vec![after.into()])?.to_array()?;
        rows.into_iter().map(|r| serde_json::from_str(&r.body).map_err(Failure::from)).collect()
    }

    pub(super) fn seq_of_client_key(&self, key: &str) -> Result<Option<u64>, Failure> {
        #[derive(Deserialize)]
        struct Row {
            seq: f64,
        }
        let rows: Vec<Row> = self.sql().exec("SELECT seq FROM events WHERE client_id = ?", vec![key.into()])?.to_array()?;
        Ok(rows.first().map(|r| r.seq as u64))
    }

    pub(super) fn token_matches(&self, token: &str) -> Result<bool, Failure> {
        let stored = self.meta("token_hash")?.unwrap_or_default();
        let given = token_hash(token);
        let first: bool = !stored.is_empty() && subtle::ConstantTimeEq::ct_eq(stored.as_bytes(), given.as_bytes()).into();
        // Or one given to a verified user's other device (identity.rs), or minted from an
        // email link (issue 16).
        Ok(first || self.extra_token_matches(&given)? || self.link_token_matches(token)?)
    }

    /// The seq this frame's client id was stored as, if it was (a resend).
    pub(super) fn stored_seq(&self, actor: &Actor, msg: &ClientMsg) -> Result<Option<u64>, Failure> {
        match msg.client_id() {
            Some(c) => self.seq_of_client_key(&actor.client_key(c)),
            None => Ok(None),
        }
    }
}
