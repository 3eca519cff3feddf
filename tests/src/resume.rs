//! Clients that outlive their connections, for the fault and reconnect-storm tests.
//!
//! A [`Session`] is one client — a visitor's tab, an operator's open thread — across any number
//! of sockets. It keeps every event it was sent, the frames it sent (each with a client id) and
//! the acks it got. `connect` says `hello` after the last seq it saw and, once welcomed, resends
//! every frame not yet acknowledged with the same client id: what the widget and the inbox app
//! do. The checks then compare what each session saw with the conversation's log.

use crate::{Stream, Wrangler, WAIT};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Acks counted across sessions, so a test can act (e.g. crash the worker) once some of the
/// frames in flight are acknowledged and the rest are not.
#[derive(Default)]
pub struct Activity {
    acks: AtomicUsize,
    notify: Notify,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity::default())
    }

    pub fn acks(&self) -> usize {
        self.acks.load(Ordering::SeqCst)
    }

    /// Waits until `n` acks have arrived in all (bounded by `WAIT`).
    pub async fn wait_acks(&self, n: usize) {
        let wait = async {
            loop {
                let notified = self.notify.notified();
                if self.acks() >= n {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(WAIT, wait).await.is_err() {
            panic!("only {} of {n} acks arrived within the wait", self.acks());
        }
    }
}

#[derive(Clone, Debug)]
pub enum Who {
    Visitor { token: String },
    Operator { cookie: String },
}

struct Conn {
    sink: SplitSink<Stream, Message>,
    rx: mpsc::UnboundedReceiver<Value>,
    reader: tokio::task::JoinHandle<()>,
}

/// One client of one conversation, across reconnects.
pub struct Session {
    pub name: String,
    pub site: String,
    pub id: String,
    pub who: Who,
    /// Every event frame's `event`, in the order received, over every connection.
    pub seen: Vec<Value>,
    /// client id → seq, from acks.
    pub acks: HashMap<String, u64>,
    /// Frames that change the log, in the order first sent: (client id, frame).
    pub sent: Vec<(String, Value)>,
    /// Error frames received (a test of the happy path expects none).
    pub errors: Vec<Value>,
    /// Acks that named another seq than an earlier ack for the same client id.
    pub conflicting_acks: Vec<(String, u64, u64)>,
    /// Resent frames whose ack named a seq this session had already seen (stored before the
    /// connection went, but the ack did not arrive).
    pub resent_already_stored: usize,
    /// Frames resent after a reconnect, in all.
    pub resent: usize,
    resent_ids: HashSet<String>,
    /// `last_seq` of the latest welcome.
    welcome_last_seq: u64,
    conn: Option<Conn>,
    activity: Arc<Activity>,
}

impl Session {
    pub fn visitor(name: &str, site: &str, id: &str, token: &str, activity: &Arc<Activity>) -> Session {
        Session::new(name, site, id, Who::Visitor { token: token.to_string() }, activity)
    }

    pub fn operator(name: &str, site: &str, id: &str, cookie: &str, activity: &Arc<Activity>) -> Session {
        Session::new(name, site, id, Who::Operator { cookie: cookie.to_string() }, activity)
    }

    fn new(name: &str, site: &str, id: &str, who: Who, activity: &Arc<Activity>) -> Session {
        Session {
            name: name.to_string(),
            site: site.to_string(),
            id: id.to_string(),
            who,
            seen: Vec::new(),
            acks: HashMap::new(),
            sent: Vec::new(),
            errors: Vec::new(),
            conflicting_acks: Vec::new(),
            resent_already_stored: 0,
            resent: 0,
            resent_ids: HashSet::new(),
            welcome_last_seq: 0,
            conn: None,
            activity: activity.clone(),
        }
    }

    pub fn is_visitor(&self) -> bool {
        matches!(self.who, Who::Visitor { .. })
    }

    /// The last seq this session saw (what it says `hello` after).
    pub fn last_seq(&self) -> u64 {
        self.seen.last().and_then(|e| e["seq"].as_u64()).unwrap_or(0)
    }

    /// Client ids sent and not acknowledged yet, in send order.
    pub fn unacked(&self) -> Vec<String> {
        self.sent.iter().filter(|(c, _)| !self.acks.contains_key(c)).map(|(c, _)| c.clone()).collect()
    }

    pub fn connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Opens a socket, says hello after the last seq seen, waits for the welcome, then resends
    /// every unacknowledged frame (same client ids, same order).
    pub async fn connect(&mut self, w: &Wrangler) {
        assert!(self.conn.is_none(), "{}: already connected", self.name);
        let path = format!("{}/api/v1/sites/{}/conversations/{}/ws", w.ws_base(), self.site, self.id);
        let mut req = match &self.who {
            Who::Visitor { .. } => path.into_client_request().unwrap(),
            Who::Operator { cookie } => {
                let mut r = format!("{path}?as=operator").into_client_request().unwrap();
                r.headers_mut().insert("cookie", cookie.parse().unwrap());
                r
            }
        };
        req.headers_mut().insert("user-agent", "baton-tests".parse().unwrap());
        let (stream, _) = match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async_with_config(req, None, true)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => panic!("{}: socket refused: {e}", self.name),
            Err(_) => panic!("{}: no socket within the wait", self.name),
        };
        let (sink, mut source) = stream.split();
        let (tx, rx) = mpsc::unbounded_channel();
        let activity = self.activity.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(m)) = source.next().await {
                let Message::Text(t) = m else { continue };
                let v: Value = serde_json::from_str(&t).expect("JSON frame");
                let ack = v["type"] == "ack";
                if tx.send(v).is_err() {
                    break;
                }
                if ack {
                    activity.acks.fetch_add(1, Ordering::SeqCst);
                    activity.notify.notify_waiters();
                }
            }
        });
        self.conn = Some(Conn { sink, rx, reader });
        let hello = match &self.who {
            Who::Visitor { token } => json!({"type": "hello", "token": token, "after": self.last_seq()}),
            Who::Operator { .. } => json!({"type": "hello", "after": self.last_seq()}),
        };
        self.write(&hello).await.unwrap_or_else(|e| panic!("{}: hello not sent: {e}", self.name));
        let welcome = self.wait_frame("the welcome", |f| f["type"] == "welcome").await;
        self.welcome_last_seq = welcome["last_seq"].as_u64().expect("welcome's last_seq");
        let pending: Vec<(String, Value)> = self.sent.iter().filter(|(c, _)| !self.acks.contains_key(c)).cloned().collect();
        for (client_id, frame) in pending {
            self.resent += 1;
            self.resent_ids.insert(client_id);
            self.write(&frame).await.unwrap_or_else(|e| panic!("{}: resend failed: {e}", self.name));
        }
    }

    /// Sends a frame that changes the log (it must carry a `client_id`). If the socket is gone,
    /// the frame waits for the next `connect`.
    pub async fn send(&mut self, frame: Value) {
        let client_id = frame["client_id"].as_str().expect("frame with a client id").to_string();
        assert!(!self.sent.iter().any(|(c, _)| *c == client_id), "{}: client id {client_id} sent twice", self.name);
        self.sent.push((client_id, frame.clone()));
        if self.conn.is_some() && self.write(&frame).await.is_err() {
            self.drop_connection();
        }
    }

    async fn write(&mut self, frame: &Value) -> Result<(), String> {
        let conn = self.conn.as_mut().ok_or("not connected")?;
        conn.sink.send(Message::Text(frame.to_string().into())).await.map_err(|e| e.to_string())
    }

    fn process(&mut self, f: Value) {
        match f["type"].as_str() {
            Some("event") => self.seen.push(f["event"].clone()),
            Some("ack") => {
                let client_id = f["client_id"].as_str().unwrap_or_default().to_string();
                let seq = f["seq"].as_u64().unwrap_or(0);
                match self.acks.get(&client_id) {
                    Some(&first) if first != seq => self.conflicting_acks.push((client_id, first, seq)),
                    Some(_) => {}
                    None => {
                        // A resent frame acknowledged with a seq the object already had when it
                        // welcomed this connection: stored before, only the ack was lost.
                        if self.resent_ids.contains(&client_id) && seq <= self.welcome_last_seq {
                            self.resent_already_stored += 1;
                        }
                        self.acks.insert(client_id, seq);
                    }
                }
            }
            Some("error") => self.errors.push(f),
            _ => {}
        }
    }

    /// Takes in every frame already received, without waiting.
    pub fn pump(&mut self) {
        let mut frames = Vec::new();
        if let Some(conn) = self.conn.as_mut() {
            while let Ok(f) = conn.rx.try_recv() {
                frames.push(f);
            }
        }
        for f in frames {
            self.process(f);
        }
    }

    /// Reads frames until `pred` holds for a frame; panics if the socket ends or nothing comes.
    async fn wait_frame(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let conn = self.conn.as_mut().unwrap_or_else(|| panic!("{}: not connected, waiting for {what}", self.name));
            let f = match tokio::time::timeout(WAIT, conn.rx.recv()).await {
                Ok(Some(f)) => f,
                Ok(None) => panic!("{}: socket ended while waiting for {what}", self.name),
                Err(_) => panic!("{}: {what} did not arrive within the wait", self.name),
            };
            let hit = pred(&f);
            self.process(f.clone());
            if hit {
                return f;
            }
        }
    }

    /// Reads frames until `done(self)` holds; panics if the socket ends or nothing comes.
    pub async fn wait_until(&mut self, what: &str, done: impl Fn(&Session) -> bool) {
        self.pump();
        while !done(self) {
            let conn = self.conn.as_mut().unwrap_or_else(|| panic!("{}: not connected, waiting for {what}", self.name));
            match tokio::time::timeout(WAIT, conn.rx.recv()).await {
                Ok(Some(f)) => self.process(f),
                Ok(None) => panic!("{}: socket ended while waiting for {what}", self.name),
                Err(_) => panic!("{}: {what} did not happen within the wait (last seq {})", self.name, self.last_seq()),
            }
        }
    }

    /// Waits until every frame sent so far is acknowledged.
    pub async fn wait_acked(&mut self) {
        self.wait_until("every ack", |s| s.unacked().is_empty()).await;
    }

    /// Waits until this session has seen `seq` (the last of its view of the log).
    pub async fn wait_seen(&mut self, seq: u64) {
        self.wait_until(&format!("seq {seq}"), |s| s.last_seq() >= seq).await;
    }

    /// The connection goes away abruptly (no close frame, like a network drop): what was already
    /// received counts as seen, anything still in flight is lost to this client.
    pub fn drop_connection(&mut self) {
        self.pump();
        if let Some(conn) = self.conn.take() {
            conn.reader.abort();
            drop(conn.sink);
        }
    }

    /// After the worker died: takes in what arrived before the socket ended, then forgets it.
    pub async fn drain(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        let mut frames = Vec::new();
        loop {
            match tokio::time::timeout(WAIT, conn.rx.recv()).await {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(_) => panic!("{}: the socket did not end after the worker died", self.name),
            }
        }
        conn.reader.abort();
        for f in frames {
            self.process(f);
        }
    }

    /// The conversation's log as this session may see it (visitor view or the whole log).
    pub async fn log_view(&self, w: &Wrangler) -> Vec<Value> {
        match &self.who {
            Who::Visitor { token } => crate::visitor_events(w, &self.site, &self.id, token, 0).await,
            Who::Operator { cookie } => crate::operator_events(w, &self.site, &self.id, cookie).await,
        }
    }

    /// What this session saw is exactly its view of the log: every event once, in order, no
    /// gaps, the same bytes; every frame it sent is acknowledged with the seq of the one event
    /// that carries its client id; no ack contradicts another; no error frame.
    pub fn check(&self, view: &[Value], log: &[Value]) {
        let name = &self.name;
        assert!(self.errors.is_empty(), "{name}: error frames: {:#?}", self.errors);
        assert!(self.conflicting_acks.is_empty(), "{name}: acks that contradict each other: {:?}", self.conflicting_acks);
        let seen: Vec<u64> = self.seen.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        let want: Vec<u64> = view.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(seen, want, "{name}: the seqs received over every connection are not the log's, once each, in order");
        for (got, want) in self.seen.iter().zip(view) {
            assert_eq!(got, want, "{name}: an event received differs from the stored one");
        }
        for (client_id, _) in &self.sent {
            let seq = *self.acks.get(client_id).unwrap_or_else(|| panic!("{name}: {client_id} never acknowledged"));
            let carriers: Vec<u64> =
                log.iter().filter(|e| e["client_id"] == client_id.as_str()).map(|e| e["seq"].as_u64().unwrap()).collect();
            assert_eq!(carriers, [seq], "{name}: {client_id} acked as {seq} must be stored exactly once, as that event");
        }
        // One socket's frames are stored in the order they were sent.
        let order: Vec<&str> =
            log.iter().filter_map(|e| e["client_id"].as_str()).filter(|c| self.sent.iter().any(|(s, _)| s == c)).collect();
        let sent: Vec<&str> = self.sent.iter().map(|(c, _)| c.as_str()).filter(|c| order.contains(c)).collect();
        assert_eq!(order, sent, "{name}: its frames were stored in another order than sent");
    }
}

/// The log itself is whole: seqs 1, 2, 3… with no gap, and no client id twice.
pub fn check_log(log: &[Value]) {
    let seqs: Vec<u64> = log.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=log.len() as u64).collect::<Vec<_>>(), "the log's seqs are not 1, 2, 3…");
    let mut ids = HashSet::new();
    for e in log {
        if let Some(c) = e["client_id"].as_str() {
            assert!(ids.insert(c), "client id {c} stored twice: {e}");
        }
    }
}
