//! A small, dependency-free JSON codec for the frames the visitor's widget speaks.
//!
//! Why not serde_json in the widget: serde's derived `Deserialize` for the internally tagged,
//! flattened protocol enums (`ServerMsg`, `EventKind`, `Answer`) buffers every frame into its
//! `Content` tree and compiles to well over 100 KB of wasm — more than the rest of the widget.
//! This module reads and writes the same JSON by hand, for the visitor's view of the protocol
//! only, in a few KB. The tests prove it agrees with serde on every frame a visitor can see.
//!
//! Decoding is forgiving in the way serde is (`#[serde(default)]` fields may be missing, unknown
//! fields are ignored) and never panics on any input; an unknown frame or event type is reported
//! as [`Decoded::Skipped`] so a newer server can add types without breaking older widgets.

use crate::protocol::*;
use std::collections::BTreeMap;
use std::fmt::{self, Write};

/// A parsed JSON value. Objects keep their keys in document order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

/// Where a text stopped being JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset of the first byte that does not fit.
    pub at: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}", self.at)
    }
}

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: u32 = 64;

static NULL: Json = Json::Null;

impl Json {
    pub fn parse(text: &str) -> Result<Json, JsonError> {
        let mut p = Parser { b: text.as_bytes(), i: 0, depth: 0 };
        let v = p.value()?;
        p.ws();
        if p.i != p.b.len() {
            return Err(p.err());
        }
        Ok(v)
    }

    /// The member `key` of an object, or `Null` (missing key, or not an object).
    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn string(&self) -> Option<String> {
        self.as_str().map(str::to_string)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A non-negative whole number.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Num(n) if *n >= 0.0 && n.fract() == 0.0 && *n < 1.8e19 => Some(*n as u64),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Num(n) if n.fract() == 0.0 && n.abs() < 9.2e18 => Some(*n as i64),
            _ => None,
        }
    }

    /// The items of an array (none if this is not an array).
    pub fn items(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            _ => &[],
        }
    }

    /// The value as JSON text.
    pub fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => write_number(*n, out),
            Json::Str(s) => quote(s, out),
            Json::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Obj(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    quote(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

/// Whole numbers exactly; others with up to 6 decimals. (Rust's float formatting would add
/// ~15 KB to the wasm, and the widget only ever writes whole numbers.)
fn write_number(n: f64, out: &mut String) {
    if !n.is_finite() {
        return out.push_str("null");
    }
    if n.fract() == 0.0 && n.abs() < 9.2e18 {
        let _ = write!(out, "{}", n as i64);
        return;
    }
    if n < 0.0 {
        out.push('-');
    }
    let micros = (n.abs() * 1e6).round() as u64;
    let _ = write!(out, "{}.{:06}", micros / 1_000_000, micros % 1_000_000);
    while out.ends_with('0') {
        out.pop();
    }
    if out.ends_with('.') {
        out.pop();
    }
}

/// Writes `s` as a JSON string, escaping exactly what serde_json escapes.
pub fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    depth: u32,
}

impl Parser<'_> {
    fn err(&self) -> JsonError {
        JsonError { at: self.i }
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, lit: &[u8]) -> Result<(), JsonError> {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(self.err())
        }
    }

    fn value(&mut self) -> Result<Json, JsonError> {
        self.ws();
        match self.peek().ok_or_else(|| self.err())? {
            b'n' => self.eat(b"null").map(|_| Json::Null),
            b't' => self.eat(b"true").map(|_| Json::Bool(true)),
            b'f' => self.eat(b"false").map(|_| Json::Bool(false)),
            b'"' => self.string().map(Json::Str),
            b'[' => {
                self.nest()?;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                } else {
                    loop {
                        items.push(self.value()?);
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err(self.err()),
                        }
                    }
                }
                self.depth -= 1;
                Ok(Json::Arr(items))
            }
            b'{' => {
                self.nest()?;
                let mut members = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        if self.peek() != Some(b'"') {
                            return Err(self.err());
                        }
                        let k = self.string()?;
                        self.ws();
                        self.eat(b":")?;
                        let v = self.value()?;
                        members.push((k, v));
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err(self.err()),
                        }
                    }
                }
                self.depth -= 1;
                Ok(Json::Obj(members))
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(self.err()),
        }
    }

    fn nest(&mut self) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err());
        }
        self.i += 1;
        Ok(())
    }

    /// Numbers by hand: the standard float parser brings ~10 KB of tables into the wasm, and
    /// the protocol's numbers are whole (seqs, times) or coarse (confidence).
    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.i;
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        let mut mantissa: u64 = 0;
        let mut exp10: i32 = 0;
        let mut digits = 0;
        let mut digit = |p: &mut Self, frac: bool| {
            let d = (p.b[p.i] - b'0') as u64;
            if mantissa < 1_000_000_000_000_000_000 {
                mantissa = mantissa * 10 + d;
                if frac {
                    exp10 -= 1;
                }
            } else if !frac {
                exp10 += 1;
            }
            p.i += 1;
        };
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            digit(self, false);
            digits += 1;
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            let before = digits;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                digit(self, true);
                digits += 1;
            }
            if digits == before {
                return Err(self.err());
            }
        }
        if digits == 0 {
            return Err(JsonError { at: start });
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            let eneg = match self.peek() {
                Some(b'-') => {
                    self.i += 1;
                    true
                }
                Some(b'+') => {
                    self.i += 1;
                    false
                }
                _ => false,
            };
            let mut e: i32 = 0;
            let mut any = false;
            while let Some(c @ b'0'..=b'9') = self.peek() {
                e = (e * 10 + (c - b'0') as i32).min(10_000);
                self.i += 1;
                any = true;
            }
            if !any {
                return Err(self.err());
            }
            exp10 += if eneg { -e } else { e };
        }
        // One multiplication or division of exact values: correctly rounded for the numbers the
        // protocol carries (integers below 2^53, decimals with few digits).
        let m = mantissa as f64;
        let v = if exp10 >= 0 { m * 10f64.powi(exp10) } else { m / 10f64.powi(-exp10) };
        Ok(Json::Num(if neg { -v } else { v }))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0;
        for _ in 0..4 {
            let c = self.peek().ok_or_else(|| self.err())?;
            let d = (c as char).to_digit(16).ok_or_else(|| self.err())?;
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.i += 1; // the opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            while self.i < self.b.len() && self.b[self.i] != b'"' && self.b[self.i] != b'\\' && self.b[self.i] >= 0x20 {
                self.i += 1;
            }
            // The input is a &str and we stopped at ASCII bytes: this slice is valid UTF-8.
            out.push_str(std::str::from_utf8(&self.b[start..self.i]).map_err(|_| self.err())?);
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or_else(|| self.err())?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) && self.b[self.i..].starts_with(b"\\u") {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    self.i = save;
                                    0xFFFD
                                }
                            } else {
                                hi
                            };
                            out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                        }
                        _ => {
                            self.i -= 1;
                            return Err(self.err());
                        }
                    }
                }
                _ => return Err(self.err()),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing frames
// ---------------------------------------------------------------------------------------------

/// A JSON object being written, member by member.
struct Obj(String);

impl Obj {
    fn typed(ty: &str) -> Obj {
        let mut o = Obj(String::from("{"));
        o.str("type", ty);
        o
    }

    fn key(&mut self, k: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        quote(k, &mut self.0);
        self.0.push(':');
    }

    fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        quote(v, &mut self.0);
        self
    }

    fn opt_str(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.str(k, v),
            None => self.raw(k, "null"),
        }
    }

    fn num(&mut self, k: &str, v: u64) -> &mut Self {
        self.key(k);
        let _ = write!(self.0, "{v}");
        self
    }

    fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.raw(k, if v { "true" } else { "false" })
    }

    fn raw(&mut self, k: &str, json: &str) -> &mut Self {
        self.key(k);
        self.0.push_str(json);
        self
    }

    fn end(&mut self) -> String {
        self.0.push('}');
        std::mem::take(&mut self.0)
    }
}

fn page_json(p: &Page) -> String {
    Obj(String::from("{")).str("url", &p.url).str("title", &p.title).end()
}

/// A client frame as JSON, exactly as `serde_json::to_string` writes it (up to key order).
pub fn encode_client_msg(m: &ClientMsg) -> String {
    let ty = match m {
        ClientMsg::Hello { .. } => "hello",
        ClientMsg::Message { .. } => "message",
        ClientMsg::RequestHuman { .. } => "request_human",
        ClientMsg::Page { .. } => "page",
        ClientMsg::SubmitFields { .. } => "submit_fields",
        ClientMsg::Feedback { .. } => "feedback",
        ClientMsg::Typing { .. } => "typing",
        ClientMsg::TakeOver { .. } => "take_over",
        ClientMsg::Note { .. } => "note",
        ClientMsg::AddTag { .. } => "add_tag",
        ClientMsg::RemoveTag { .. } => "remove_tag",
        ClientMsg::HandBack { .. } => "hand_back",
        ClientMsg::Resolve { .. } => "resolve",
        ClientMsg::Reopen { .. } => "reopen",
        ClientMsg::Leave { .. } => "leave",
        ClientMsg::Ping => "ping",
        ClientMsg::Identify { .. } => "identify",
        ClientMsg::Context { .. } => "context",
        ClientMsg::Rate { .. } => "rate",
        // Made by the worker, never sent by a client (and never read from one).
        ClientMsg::Identified { .. } => "identified",
        ClientMsg::Attached { .. } => "attached",
    };
    let mut o = Obj::typed(ty);
    if let Some(id) = m.client_id() {
        o.str("client_id", id);
    }
    match m {
        ClientMsg::Hello { token, after } => {
            o.opt_str("token", token.as_deref()).num("after", *after);
        }
        ClientMsg::Message { text, .. } | ClientMsg::Note { text, .. } => {
            o.str("text", text);
        }
        ClientMsg::Page { page } => {
            o.raw("page", &page_json(page));
        }
        ClientMsg::SubmitFields { action, values, .. } => {
            let obj = Json::Obj(values.iter().map(|(k, v)| (k.clone(), Json::Str(v.clone()))).collect());
            o.str("action", action).raw("values", &obj.to_text());
        }
        ClientMsg::Feedback { answer_seq, helpful, .. } => {
            o.num("answer_seq", *answer_seq).bool("helpful", *helpful);
        }
        ClientMsg::Typing { on } => {
            o.bool("on", *on);
        }
        ClientMsg::AddTag { tag, .. } | ClientMsg::RemoveTag { tag, .. } => {
            o.str("tag", tag);
        }
        ClientMsg::Rate { score, comment, .. } => {
            o.num("score", *score as u64).str("comment", comment);
        }
        // Nothing but the type and the client id.
        ClientMsg::RequestHuman { .. }
        | ClientMsg::TakeOver { .. }
        | ClientMsg::HandBack { .. }
        | ClientMsg::Resolve { .. }
        | ClientMsg::Reopen { .. }
        | ClientMsg::Leave { .. }
        | ClientMsg::Ping => {}
        // `identify` and `context` carry the host page's own object: the widget writes those
        // frames around the page's JSON as it is (widget/src/session/identity.rs).
        ClientMsg::Identify { .. } | ClientMsg::Context { .. } => {}
        // Made by the worker, never sent by a client.
        ClientMsg::Identified { .. } | ClientMsg::Attached { .. } => {}
    }
    o.end()
}

/// The body of `POST /api/v1/sites/:site/conversations`.
pub fn encode_create_conversation(c: &CreateConversation) -> String {
    let page = c.page.as_ref().map(page_json);
    Obj(String::from("{")).raw("page", page.as_deref().unwrap_or("null")).opt_str("lang", c.lang.as_deref()).end()
}

// ---------------------------------------------------------------------------------------------
// Reading frames
// ---------------------------------------------------------------------------------------------

/// A server frame as the widget understands it.
// Made once per frame and matched at once: boxing the big variant would only add code.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    Msg(ServerMsg),
    /// Not a frame this version knows (a newer server's), or not visitor-visible. `seq` is set
    /// when it was an event: the widget still counts it, so it resumes after it.
    Skipped {
        seq: Option<u64>,
    },
}

/// Reads a frame from the conversation socket (the visitor's view of it).
pub fn decode_server_msg(text: &str) -> Decoded {
    let Ok(v) = Json::parse(text) else {
        return Decoded::Skipped { seq: None };
    };
    let msg = match v.get("type").as_str().unwrap_or("") {
        "welcome" => (|| {
            Some(ServerMsg::Welcome {
                conversation_id: ConversationId::parse(v.get("conversation_id").as_str()?).ok()?,
                role: if v.get("role").as_str()? == "operator" { Role::Operator } else { Role::Visitor },
                ownership: ownership(v.get("ownership"))?,
                last_seq: v.get("last_seq").as_u64()?,
                operators_online: v.get("operators_online").as_bool()?,
            })
        })(),
        "event" => {
            let e = v.get("event");
            return match event(e) {
                Some(event) => Decoded::Msg(ServerMsg::Event { event }),
                None => Decoded::Skipped { seq: e.get("seq").as_u64() },
            };
        }
        "ack" => (|| Some(ServerMsg::Ack { client_id: v.get("client_id").string()?, seq: v.get("seq").as_u64()? }))(),
        "typing" => (|| {
            let w = v.get("who");
            let who = match w.get("kind").as_str()? {
                "bot" => Typist::Bot,
                "visitor" => Typist::Visitor,
                "operator" => Typist::Operator { name: w.get("name").string()? },
                _ => return None,
            };
            Some(ServerMsg::Typing { who, on: v.get("on").as_bool()? })
        })(),
        "error" => error_body(&v).map(|error| ServerMsg::Error { error, client_id: v.get("client_id").string() }),
        "pong" => Some(ServerMsg::Pong),
        _ => None,
    };
    msg.map(Decoded::Msg).unwrap_or(Decoded::Skipped { seq: None })
}

/// Every `ErrorCode` by its JSON name. A code this table lacks (added by a newer server) reads
/// as `Internal`; its message still says what happened.
const ERROR_CODES: [(ErrorCode, &str); 20] = [
    (ErrorCode::BadRequest, "bad_request"),
    (ErrorCode::InvalidField, "invalid_field"),
    (ErrorCode::UnknownCommand, "unknown_command"),
    (ErrorCode::UnknownSite, "unknown_site"),
    (ErrorCode::UnknownConversation, "unknown_conversation"),
    (ErrorCode::NotFound, "not_found"),
    (ErrorCode::MethodNotAllowed, "method_not_allowed"),
    (ErrorCode::Unauthorized, "unauthorized"),
    (ErrorCode::Forbidden, "forbidden"),
    (ErrorCode::OriginNotAllowed, "origin_not_allowed"),
    (ErrorCode::RateLimited, "rate_limited"),
    (ErrorCode::TooLarge, "too_large"),
    (ErrorCode::TooManyConnections, "too_many_connections"),
    (ErrorCode::IndexUnavailable, "index_unavailable"),
    (ErrorCode::Conflict, "conflict"),
    (ErrorCode::InvalidState, "invalid_state"),
    (ErrorCode::Internal, "internal"),
    (ErrorCode::IdentityInvalid, "identity_invalid"),
    (ErrorCode::UnsupportedType, "unsupported_type"),
    (ErrorCode::UnknownAttachment, "unknown_attachment"),
];

/// `{code, message, field?, retry_after?}` (an error frame, or the `error` of an HTTP body).
fn error_body(v: &Json) -> Option<ErrorBody> {
    let code = v.get("code").as_str()?;
    Some(ErrorBody {
        code: ERROR_CODES.iter().find(|(_, n)| *n == code).map(|(c, _)| *c).unwrap_or(ErrorCode::Internal),
        message: v.get("message").string()?,
        field: v.get("field").string(),
        retry_after: v.get("retry_after").as_u64().map(|n| n.min(u32::MAX as u64) as u32),
    })
}

/// An HTTP error body, `{"error": {...}}`.
pub fn decode_api_error(text: &str) -> Option<ErrorBody> {
    error_body(Json::parse(text).ok()?.get("error"))
}

/// The reply to `POST .../conversations`.
pub fn decode_conversation_created(text: &str) -> Option<ConversationCreated> {
    let v = Json::parse(text).ok()?;
    Some(ConversationCreated {
        conversation_id: ConversationId::parse(v.get("conversation_id").as_str()?).ok()?,
        visitor_token: v.get("visitor_token").string()?,
    })
}

/// The reply to `GET .../widget`.
pub fn decode_widget_settings(text: &str) -> Option<WidgetSettings> {
    let v = Json::parse(text).ok()?;
    Some(WidgetSettings {
        site: SiteId::parse(v.get("site").as_str()?).ok()?,
        name: v.get("name").string()?,
        greeting: v.get("greeting").string()?,
        color: v.get("color").string(),
        words: {
            // Inserted one by one: `collect()` would sort first, and the widget would carry a
            // sort for this one map.
            let mut words = BTreeMap::new();
            if let Json::Obj(list) = v.get("words") {
                for (k, w) in list {
                    if let Some(w) = w.string() {
                        words.insert(k.clone(), w);
                    }
                }
            }
            words
        },
    })
}

fn ownership(v: &Json) -> Option<Ownership> {
    Some(match v.get("state").as_str()? {
        "bot" => Ownership::Bot,
        "waiting_for_human" => Ownership::WaitingForHuman { since: v.get("since").as_i64()? },
        "human" => Ownership::Human { operator: operator(v.get("operator"))? },
        "resolved" => Ownership::Resolved { at: v.get("at").as_i64()? },
        _ => return None,
    })
}

fn operator(v: &Json) -> Option<OperatorRef> {
    Some(OperatorRef { id: v.get("id").string()?, name: v.get("name").string()? })
}

/// An optional operator: `null` or missing is `Some(None)`, a malformed one is `None`.
fn opt_operator(v: &Json) -> Option<Option<OperatorRef>> {
    match v {
        Json::Null => Some(None),
        v => operator(v).map(Some),
    }
}

fn page(v: &Json) -> Option<Page> {
    Some(Page { url: v.get("url").string()?, title: v.get("title").string().unwrap_or_default() })
}

fn opt_page(v: &Json) -> Option<Option<Page>> {
    match v {
        Json::Null => Some(None),
        v => page(v).map(Some),
    }
}

fn strings(v: &Json) -> Vec<String> {
    v.items().iter().filter_map(Json::string).collect()
}

fn citation(v: &Json) -> Option<Citation> {
    Some(Citation {
        title: v.get("title").string()?,
        heading: v.get("heading").string().unwrap_or_default(),
        url: v.get("url").string()?,
        path: v.get("path").string().unwrap_or_default(),
    })
}

fn form(v: &Json) -> Option<ActionForm> {
    let fields = v
        .get("fields")
        .items()
        .iter()
        .map(|f| {
            Some(FieldSpec {
                name: f.get("name").string()?,
                label: f.get("label").string()?.into(),
                kind: match f.get("type").as_str() {
                    Some("email") => FieldKind::Email,
                    Some("number") => FieldKind::Number,
                    Some("select") => FieldKind::Select,
                    _ => FieldKind::Text,
                },
                required: f.get("required").as_bool().unwrap_or(false),
                options: strings(f.get("options")),
                pattern: f.get("pattern").string(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(ActionForm { action: v.get("action").string()?, title: v.get("title").string()?, fields })
}

const HANDOFF_REASONS: [(HandoffReason, &str); 7] = [
    (HandoffReason::ExplicitRequest, "explicit_request"),
    (HandoffReason::Button, "button"),
    (HandoffReason::Keyword, "keyword"),
    (HandoffReason::LowConfidence, "low_confidence"),
    (HandoffReason::RepeatedLowConfidence, "repeated_low_confidence"),
    (HandoffReason::Frustration, "frustration"),
    (HandoffReason::Urgent, "urgent"),
];

/// One event of the visitor's view; `None` for types a visitor never sees or this version
/// does not know.
fn event(v: &Json) -> Option<Event> {
    let k = v.get("kind");
    let kind = match k.get("type").as_str()? {
        "started" => EventKind::Started {
            site: SiteId::parse(k.get("site").as_str()?).ok()?,
            page: opt_page(k.get("page"))?,
            lang: k.get("lang").string(),
        },
        "visitor_message" => EventKind::VisitorMessage { text: k.get("text").string()? },
        "bot_answer" => EventKind::BotAnswer {
            question_seq: k.get("question_seq").as_u64()?,
            answer: Answer {
                text: k.get("text").string()?,
                citations: k.get("citations").items().iter().map(citation).collect::<Option<_>>()?,
                confidence: match k.get("confidence") {
                    Json::Num(n) => *n as f32,
                    _ => return None,
                },
                handoff: k.get("handoff").as_bool()?,
            },
        },
        "handoff_requested" => {
            let h = k.get("handoff");
            let reason = h.get("reason").as_str()?;
            EventKind::HandoffRequested {
                handoff: Handoff { reason: HANDOFF_REASONS.iter().find(|(_, n)| *n == reason)?.0, evidence: strings(h.get("evidence")) },
                // Not read: visitors are sent none (`EventKind::visitor_kind`, asked below).
                briefing: Briefing::default(),
                operators_online: k.get("operators_online").as_bool()?,
                form: match k.get("form") {
                    Json::Null => None,
                    f => Some(form(f)?),
                },
                notice: k.get("notice").string().unwrap_or_default(),
            }
        }
        "form_requested" => EventKind::FormRequested { form: form(k.get("form"))? },
        "fields_collected" => {
            let Json::Obj(members) = k.get("values") else { return None };
            let mut values = BTreeMap::new();
            for (name, v) in members {
                values.insert(name.clone(), v.string()?);
            }
            EventKind::FieldsCollected { action: k.get("action").string()?, values }
        }
        "operator_joined" => EventKind::OperatorJoined { operator: operator(k.get("operator"))? },
        "operator_left" => EventKind::OperatorLeft { operator: operator(k.get("operator"))? },
        "assigned" => EventKind::Assigned { operator: operator(k.get("operator"))?, by: opt_operator(k.get("by"))? },
        "operator_message" => EventKind::OperatorMessage { operator: operator(k.get("operator"))?, text: k.get("text").string()? },
        "page_changed" => EventKind::PageChanged { page: page(k.get("page"))? },
        "handed_back" => EventKind::HandedBack { operator: operator(k.get("operator"))? },
        "resolved" => EventKind::Resolved { operator: opt_operator(k.get("operator"))? },
        "reopened" => EventKind::Reopened { operator: opt_operator(k.get("operator"))? },
        "feedback" => EventKind::Feedback { answer_seq: k.get("answer_seq").as_u64()?, helpful: k.get("helpful").as_bool()? },
        "attachment_added" => {
            let a = k.get("attachment");
            EventKind::AttachmentAdded {
                attachment: Attachment {
                    id: a.get("id").string()?,
                    name: a.get("name").string()?,
                    content_type: a.get("content_type").string()?,
                    size: a.get("size").as_u64()?,
                },
                operator: opt_operator(k.get("operator"))?,
            }
        }
        "rated" => EventKind::Rated {
            score: k.get("score").as_u64().filter(|s| *s <= 5)? as u8,
            comment: k.get("comment").string().unwrap_or_default(),
        },
        // The operators-only kinds are never sent to a visitor (`reads_event` below lists them),
        // so they are not read; anything else is newer than us.
        _ => return None,
    };
    // What a visitor sees is decided in one place: a kind it may not see is skipped, a
    // redacted one (who assigned it, a handoff's evidence) is reduced as the worker does.
    let redacted = match kind.visitor_kind()? {
        std::borrow::Cow::Owned(k) => Some(k),
        std::borrow::Cow::Borrowed(_) => None,
    };
    let kind = redacted.unwrap_or(kind);
    Some(Event { seq: v.get("seq").as_u64()?, at: v.get("at").as_i64()?, client_id: v.get("client_id").string(), kind })
}

// ---------------------------------------------------------------------------------------------
// What the codec covers
// ---------------------------------------------------------------------------------------------
//
// The decoders above dispatch on JSON type names, which no compiler can check against the
// protocol's enums. These matches can: each lists every variant with no wildcard, so a new
// variant of `EventKind`, `ServerMsg`, `ErrorCode` or `HandoffReason` does not compile until it
// is decided here — and the agreement tests below then check, for every variant serde knows,
// that the decoder reads what serde writes. Only the tests call them: they cost the widget
// nothing.

/// Whether `event` reads this kind: exactly the kinds a visitor may see
/// (`EventKind::visitor_kind`); the operators-only ones are never sent to a visitor.
#[cfg_attr(not(test), allow(dead_code))]
fn reads_event(kind: &EventKind) -> bool {
    match kind {
        EventKind::Started { .. }
        | EventKind::VisitorMessage { .. }
        | EventKind::BotAnswer { .. }
        | EventKind::HandoffRequested { .. }
        | EventKind::FormRequested { .. }
        | EventKind::FieldsCollected { .. }
        | EventKind::OperatorJoined { .. }
        | EventKind::OperatorLeft { .. }
        | EventKind::OperatorMessage { .. }
        | EventKind::PageChanged { .. }
        | EventKind::HandedBack { .. }
        | EventKind::Resolved { .. }
        | EventKind::Reopened { .. }
        | EventKind::Feedback { .. }
        | EventKind::AttachmentAdded { .. }
        | EventKind::Rated { .. }
        | EventKind::Assigned { .. } => true,
        EventKind::PrivateNote { .. }
        | EventKind::TagAdded { .. }
        | EventKind::TagRemoved { .. }
        | EventKind::Identified { .. }
        | EventKind::ContextChanged { .. }
        | EventKind::Unassigned { .. } => false,
    }
}

/// The type name `decode_server_msg` reads each frame under (it reads them all).
#[cfg_attr(not(test), allow(dead_code))]
fn server_msg_type(m: &ServerMsg) -> &'static str {
    match m {
        ServerMsg::Welcome { .. } => "welcome",
        ServerMsg::Event { .. } => "event",
        ServerMsg::Ack { .. } => "ack",
        ServerMsg::Typing { .. } => "typing",
        ServerMsg::Error { .. } => "error",
        ServerMsg::Pong => "pong",
    }
}

/// The row of `ERROR_CODES` each code is read from.
#[cfg_attr(not(test), allow(dead_code))]
fn error_code_row(c: ErrorCode) -> usize {
    match c {
        ErrorCode::BadRequest => 0,
        ErrorCode::InvalidField => 1,
        ErrorCode::UnknownCommand => 2,
        ErrorCode::UnknownSite => 3,
        ErrorCode::UnknownConversation => 4,
        ErrorCode::NotFound => 5,
        ErrorCode::MethodNotAllowed => 6,
        ErrorCode::Unauthorized => 7,
        ErrorCode::Forbidden => 8,
        ErrorCode::OriginNotAllowed => 9,
        ErrorCode::RateLimited => 10,
        ErrorCode::TooLarge => 11,
        ErrorCode::TooManyConnections => 12,
        ErrorCode::IndexUnavailable => 13,
        ErrorCode::Conflict => 14,
        ErrorCode::InvalidState => 15,
        ErrorCode::Internal => 16,
        ErrorCode::IdentityInvalid => 17,
        ErrorCode::UnsupportedType => 18,
        ErrorCode::UnknownAttachment => 19,
    }
}

/// The row of `HANDOFF_REASONS` each reason is read from.
#[cfg_attr(not(test), allow(dead_code))]
fn handoff_reason_row(r: HandoffReason) -> usize {
    match r {
        HandoffReason::ExplicitRequest => 0,
        HandoffReason::Button => 1,
        HandoffReason::Keyword => 2,
        HandoffReason::LowConfidence => 3,
        HandoffReason::RepeatedLowConfidence => 4,
        HandoffReason::Frustration => 5,
        HandoffReason::Urgent => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> OperatorRef {
        OperatorRef { id: "ann@example.com".into(), name: "Ann \"the\" Operator".into() }
    }

    fn form_fixture() -> ActionForm {
        ActionForm {
            action: "order".into(),
            title: "Which order?".into(),
            fields: vec![
                FieldSpec {
                    name: "order".into(),
                    label: "Order number".into(),
                    kind: FieldKind::Text,
                    required: true,
                    options: vec![],
                    pattern: Some(r"^[A-Z]{2}\d{6}$".into()),
                },
                FieldSpec {
                    name: "plan".into(),
                    label: "Plan".into(),
                    kind: FieldKind::Select,
                    required: false,
                    options: vec!["Free".into(), "Pro".into()],
                    pattern: None,
                },
                FieldSpec {
                    name: "email".into(),
                    label: "Email".into(),
                    kind: FieldKind::Email,
                    required: true,
                    options: vec![],
                    pattern: None,
                },
                FieldSpec {
                    name: "n".into(),
                    label: "How many".into(),
                    kind: FieldKind::Number,
                    required: false,
                    options: vec![],
                    pattern: None,
                },
            ],
        }
    }

    /// An example of every event kind (`the_examples_cover_every_variant_serde_knows` checks
    /// that none is missing), several of some, as the operators see them.
    fn every_event() -> Vec<Event> {
        let kinds = vec![
            EventKind::Started {
                site: SiteId::parse("demo").unwrap(),
                page: Some(Page { url: "https://x.test/a?b=1#c".into(), title: "A — “B”".into() }),
                lang: Some("de".into()),
            },
            EventKind::Started { site: SiteId::parse("demo").unwrap(), page: None, lang: None },
            EventKind::VisitorMessage { text: "hi <img src=x onerror=alert(1)> \u{1F600}\n\ttab \\ \" \u{1}".into() },
            EventKind::BotAnswer {
                question_seq: 2,
                answer: Answer {
                    text: "Use `x`.\n\n- a\n- b".into(),
                    citations: vec![Citation {
                        title: "FAQ".into(),
                        heading: "Passwords".into(),
                        url: "/docs/faq#passwords".into(),
                        path: "faq.md".into(),
                    }],
                    confidence: 0.73,
                    handoff: false,
                },
            },
            EventKind::BotAnswer {
                question_seq: 4,
                answer: Answer { text: "I don't know.".into(), citations: vec![], confidence: 0.0, handoff: true },
            },
            EventKind::HandoffRequested {
                handoff: Handoff { reason: HandoffReason::RepeatedLowConfidence, evidence: vec!["secret".into()] },
                briefing: Briefing { summary: "secret".into(), ..Default::default() },
                operators_online: false,
                form: Some(form_fixture()),
                notice: "Nobody is online right now.".into(),
            },
            EventKind::HandoffRequested {
                handoff: Handoff { reason: HandoffReason::Button, evidence: vec![] },
                briefing: Briefing::default(),
                operators_online: true,
                form: None,
                notice: String::new(),
            },
            EventKind::FormRequested { form: form_fixture() },
            EventKind::FieldsCollected {
                action: "order".into(),
                values: [("order".to_string(), "AB123456".to_string()), ("email".to_string(), "a@b.co".to_string())].into(),
            },
            EventKind::OperatorJoined { operator: op() },
            EventKind::OperatorLeft { operator: op() },
            EventKind::Assigned { operator: op(), by: Some(op()) },
            EventKind::Unassigned { operator: op(), by: None },
            EventKind::OperatorMessage { operator: op(), text: "<script>alert(1)</script>".into() },
            EventKind::PageChanged { page: Page { url: "https://x.test/b".into(), title: String::new() } },
            EventKind::HandedBack { operator: op() },
            EventKind::Resolved { operator: Some(op()) },
            EventKind::Resolved { operator: None },
            EventKind::Reopened { operator: None },
            EventKind::Feedback { answer_seq: 3, helpful: true },
            EventKind::AttachmentAdded {
                attachment: Attachment {
                    id: "0f".repeat(16),
                    name: "Screenshot \"1\".png".into(),
                    content_type: "image/png".into(),
                    size: 48_213,
                },
                operator: None,
            },
            EventKind::AttachmentAdded {
                attachment: Attachment { id: "a1".repeat(16), name: "invoice.pdf".into(), content_type: "application/pdf".into(), size: 1 },
                operator: Some(op()),
            },
            EventKind::Rated { score: 5, comment: "Quick and kind — thanks".into() },
            EventKind::Rated { score: 1, comment: String::new() },
            EventKind::Assigned { operator: op(), by: None },
            // Operators only.
            EventKind::Identified {
                identity: VisitorIdentity { user_id: "42".into(), email: None, name: None, attributes: BTreeMap::new(), verified: true },
            },
            EventKind::ContextChanged { context: [("plan".to_string(), "pro".to_string())].into() },
            EventKind::PrivateNote { operator: op(), text: "VIP, be nice".into() },
            EventKind::TagAdded { tag: "billing".into(), source: TagSource::Rule },
            EventKind::TagAdded { tag: "vip".into(), source: TagSource::Operator { operator: op() } },
            EventKind::TagRemoved { tag: "billing".into(), operator: op() },
        ];
        kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| Event {
                seq: i as u64 + 1,
                at: 1_763_700_000_000 + i as i64,
                client_id: (i % 2 == 0).then(|| format!("c{i}")),
                kind,
            })
            .collect()
    }

    /// Every event a visitor can be sent, as `Event::for_visitor` shapes it.
    fn visitor_events() -> Vec<Event> {
        every_event().iter().filter_map(Event::for_visitor).collect()
    }

    /// The JSON name of every variant of `T`, as serde itself lists them: the derived
    /// `Deserialize` names them all in its error for an unknown one (`probe`). No hand-written
    /// list, so a new variant cannot be left out of the agreement tests.
    fn serde_names<T: serde::de::DeserializeOwned + std::fmt::Debug>(probe: &str) -> std::collections::BTreeSet<String> {
        let err = serde_json::from_str::<T>(probe).unwrap_err().to_string();
        let listed = err.split_once("expected one of ").unwrap_or_else(|| panic!("{err}")).1;
        listed.split('`').skip(1).step_by(2).map(str::to_string).collect()
    }

    fn json_type<T: serde::Serialize>(v: &T) -> String {
        serde_json::to_value(v).unwrap()["type"].as_str().unwrap().to_string()
    }

    fn server_frames() -> Vec<ServerMsg> {
        vec![
            ServerMsg::Welcome {
                conversation_id: ConversationId::from_random([7; 16]),
                role: Role::Visitor,
                ownership: Ownership::Human { operator: op() },
                last_seq: 12,
                operators_online: true,
            },
            ServerMsg::Welcome {
                conversation_id: ConversationId::from_random([8; 16]),
                role: Role::Operator,
                ownership: Ownership::WaitingForHuman { since: 1_763_700_000_000 },
                last_seq: 0,
                operators_online: false,
            },
            ServerMsg::Welcome {
                conversation_id: ConversationId::from_random([9; 16]),
                role: Role::Visitor,
                ownership: Ownership::Resolved { at: 1_763_700_000_001 },
                last_seq: 3,
                operators_online: false,
            },
            ServerMsg::Welcome {
                conversation_id: ConversationId::from_random([10; 16]),
                role: Role::Visitor,
                ownership: Ownership::Bot,
                last_seq: 1,
                operators_online: true,
            },
            ServerMsg::Event { event: visitor_events().remove(0) },
            ServerMsg::Ack { client_id: "abc".into(), seq: 9 },
            ServerMsg::Typing { who: Typist::Operator { name: "Ann".into() }, on: true },
            ServerMsg::Typing { who: Typist::Bot, on: false },
            ServerMsg::Typing { who: Typist::Visitor, on: true },
            ServerMsg::Error {
                error: ErrorBody { code: ErrorCode::RateLimited, message: "slow down".into(), field: None, retry_after: Some(5) },
                client_id: Some("c1".into()),
            },
            ServerMsg::Error { error: ErrorBody::field("email", "Email must be an email address"), client_id: None },
            ServerMsg::Pong,
        ]
    }

    #[test]
    fn the_examples_cover_every_variant_serde_knows() {
        let kinds: std::collections::BTreeSet<String> = every_event().iter().map(|e| e.kind.type_name().to_string()).collect();
        assert_eq!(kinds, serde_names::<EventKind>(r#"{"type":"?"}"#));
        for e in every_event() {
            assert_eq!(json_type(&e.kind), e.kind.type_name());
        }
        let frames: std::collections::BTreeSet<String> = server_frames().iter().map(|m| server_msg_type(m).to_string()).collect();
        assert_eq!(frames, serde_names::<ServerMsg>(r#"{"type":"?"}"#));
        for m in server_frames() {
            assert_eq!(json_type(&m), server_msg_type(&m));
        }
        // `identify` and `context` are written around the host page's JSON by the widget
        // (`identified` and `attached` are made by the worker, never read from a client, so
        // serde does not list them): every other frame is in `client_frames`.
        let mut written: std::collections::BTreeSet<String> = client_frames().iter().map(json_type).collect();
        written.extend(["identify", "context"].map(String::from));
        assert_eq!(written, serde_names::<ClientMsg>(r#"{"type":"?"}"#));
    }

    #[test]
    fn reads_every_event_kind_as_a_visitor_may_see_it() {
        for e in every_event() {
            let seen = e.for_visitor();
            assert_eq!(reads_event(&e.kind), seen.is_some(), "{}", e.kind.type_name());
            let expected = match seen {
                Some(event) => Decoded::Msg(ServerMsg::Event { event }),
                None => Decoded::Skipped { seq: Some(e.seq) },
            };
            // The visitor's bytes, and the operators' bytes too: the decoder asks the same
            // rule, so even a frame the worker failed to redact shows no more than it should.
            for sent in [e.for_visitor().unwrap_or_else(|| e.clone()), e.clone()] {
                let text = serde_json::to_string(&ServerMsg::Event { event: sent }).unwrap();
                assert_eq!(decode_server_msg(&text), expected, "{text}");
            }
        }
    }

    #[test]
    fn reads_every_error_code_and_handoff_reason_serde_knows() {
        let codes = serde_names::<ErrorCode>(r#""?""#);
        assert_eq!(codes.len(), ERROR_CODES.len());
        for name in codes {
            let code: ErrorCode = serde_json::from_value(serde_json::Value::String(name.clone())).unwrap();
            assert_eq!(ERROR_CODES[error_code_row(code)], (code, name.as_str()));
            let frame = format!(r#"{{"type":"error","code":"{name}","message":"m"}}"#);
            assert!(matches!(decode_server_msg(&frame), Decoded::Msg(ServerMsg::Error { error, .. }) if error.code == code), "{frame}");
        }
        let reasons = serde_names::<HandoffReason>(r#""?""#);
        assert_eq!(reasons.len(), HANDOFF_REASONS.len());
        for name in reasons {
            let reason: HandoffReason = serde_json::from_value(serde_json::Value::String(name.clone())).unwrap();
            assert_eq!(HANDOFF_REASONS[handoff_reason_row(reason)], (reason, name.as_str()));
            let e = Event {
                seq: 1,
                at: 0,
                client_id: None,
                kind: EventKind::HandoffRequested {
                    handoff: Handoff { reason, evidence: vec![] },
                    briefing: Briefing::default(),
                    operators_online: true,
                    form: None,
                    notice: String::new(),
                },
            };
            let msg = ServerMsg::Event { event: e };
            assert_eq!(decode_server_msg(&serde_json::to_string(&msg).unwrap()), Decoded::Msg(msg));
        }
    }

    #[test]
    fn reads_every_visitor_event_as_serde_writes_it() {
        for e in visitor_events() {
            let msg = ServerMsg::Event { event: e };
            let text = serde_json::to_string(&msg).unwrap();
            assert_eq!(decode_server_msg(&text), Decoded::Msg(msg), "{text}");
        }
    }

    #[test]
    fn reads_every_server_frame_as_serde_writes_it() {
        for msg in server_frames() {
            let text = serde_json::to_string(&msg).unwrap();
            assert_eq!(decode_server_msg(&text), Decoded::Msg(msg), "{text}");
        }
    }

    #[test]
    fn unknown_and_private_events_are_skipped_but_counted() {
        let note =
            r#"{"type":"event","event":{"seq":7,"at":1,"kind":{"type":"private_note","operator":{"id":"a","name":"A"},"text":"x"}}}"#;
        assert_eq!(decode_server_msg(note), Decoded::Skipped { seq: Some(7) });
        let future = r#"{"type":"event","event":{"seq":8,"at":1,"kind":{"type":"hologram","x":1}}}"#;
        assert_eq!(decode_server_msg(future), Decoded::Skipped { seq: Some(8) });
        assert_eq!(decode_server_msg(r#"{"type":"teleport"}"#), Decoded::Skipped { seq: None });
        assert_eq!(decode_server_msg("not json"), Decoded::Skipped { seq: None });
        // A newer error code still carries its message.
        let e = decode_server_msg(r#"{"type":"error","code":"quota_exceeded","message":"try tomorrow"}"#);
        assert!(
            matches!(e, Decoded::Msg(ServerMsg::Error { error, .. }) if error.code == ErrorCode::Internal && error.message == "try tomorrow")
        );
    }

    /// Every frame the widget writes with `encode_client_msg`.
    fn client_frames() -> Vec<ClientMsg> {
        let mut values = BTreeMap::new();
        values.insert("email".to_string(), "a@b.co".to_string());
        values.insert("note".to_string(), "line\nbreak \"q\"".to_string());
        vec![
            ClientMsg::Hello { token: Some("t0k".into()), after: 42 },
            ClientMsg::Hello { token: None, after: 0 },
            ClientMsg::Message { client_id: "c1".into(), text: "ünïcode \u{1F600} <b> \\ \u{7f} \u{1f}".into() },
            ClientMsg::RequestHuman { client_id: "c2".into() },
            ClientMsg::Page { page: Page { url: "https://x.test/?q=\"1\"".into(), title: "T".into() } },
            ClientMsg::SubmitFields { client_id: "c3".into(), action: "email".into(), values },
            ClientMsg::Feedback { client_id: "c4".into(), answer_seq: 3, helpful: false },
            ClientMsg::Typing { on: true },
            ClientMsg::TakeOver { client_id: "c5".into() },
            ClientMsg::Note { client_id: "c6".into(), text: "n".into() },
            ClientMsg::AddTag { client_id: "c7".into(), tag: "vip".into() },
            ClientMsg::RemoveTag { client_id: "c8".into(), tag: "vip".into() },
            ClientMsg::HandBack { client_id: "c9".into() },
            ClientMsg::Resolve { client_id: "c10".into() },
            ClientMsg::Reopen { client_id: "c11".into() },
            ClientMsg::Leave { client_id: "c12".into() },
            ClientMsg::Ping,
            ClientMsg::Rate { client_id: "c15".into(), score: 3, comment: "ok".into() },
        ]
    }

    #[test]
    fn writes_every_client_frame_as_serde_does() {
        for m in client_frames() {
            let ours: serde_json::Value = serde_json::from_str(&encode_client_msg(&m)).unwrap();
            assert_eq!(ours, serde_json::to_value(&m).unwrap());
            assert_eq!(serde_json::from_value::<ClientMsg>(ours).unwrap(), m);
        }
        for c in [
            CreateConversation { page: Some(Page { url: "u".into(), title: "t".into() }), lang: Some("de".into()) },
            CreateConversation::default(),
        ] {
            let ours: serde_json::Value = serde_json::from_str(&encode_create_conversation(&c)).unwrap();
            assert_eq!(ours, serde_json::to_value(&c).unwrap());
        }
    }

    #[test]
    fn reads_http_bodies() {
        let created = ConversationCreated { conversation_id: ConversationId::from_random([1; 16]), visitor_token: "tok".into() };
        assert_eq!(decode_conversation_created(&serde_json::to_string(&created).unwrap()), Some(created));
        let err = ApiError::from(ErrorBody::new(ErrorCode::OriginNotAllowed, "add it to allowed_origins"));
        assert_eq!(decode_api_error(&serde_json::to_string(&err).unwrap()), Some(err.error));
        let s = WidgetSettings {
            site: SiteId::parse("demo").unwrap(),
            name: "Docs".into(),
            greeting: "Hi".into(),
            color: Some("#ff0000".into()),
            words: BTreeMap::new(),
        };
        assert_eq!(decode_widget_settings(&serde_json::to_string(&s).unwrap()), Some(s.clone()));
        let german = WidgetSettings { words: crate::i18n::panel::DE.to_map(), ..s };
        assert_eq!(decode_widget_settings(&serde_json::to_string(&german).unwrap()), Some(german));
        assert_eq!(decode_conversation_created("{}"), None);
    }

    #[test]
    fn json_values_round_trip_and_match_serde() {
        let samples = [
            r#"{"a":[1,-2,3.5,1e3,-0.25,1E-2,0],"b":{"c":null,"d":true,"e":false},"s":"\u00e9\ud83d\ude00\n\"\\/"}"#,
            r#"  [ ]  "#,
            r#"{}"#,
            r#""\u0000x""#,
            r#"12345678901234"#,
        ];
        for s in samples {
            let ours = Json::parse(s).unwrap();
            let theirs: serde_json::Value = serde_json::from_str(s).unwrap();
            // Same values as serde reads (numbers compared as numbers: 1e3 == 1000.0)...
            assert_eq!(Json::parse(&theirs.to_string()).unwrap(), ours, "{s}");
            // ...and what we write reads back the same.
            assert_eq!(Json::parse(&ours.to_text()).unwrap(), ours, "{s}");
        }
        assert_eq!(Json::parse("0.73").unwrap(), Json::Num(0.73));
        assert_eq!(Json::Num(-2.5).to_text(), "-2.5");
        assert_eq!(Json::Num(0.125).to_text(), "0.125");
        assert_eq!(Json::Num(f64::NAN).to_text(), "null");
        assert_eq!(Json::parse("1763700000123").unwrap().as_i64(), Some(1_763_700_000_123));
        // A lone surrogate becomes U+FFFD rather than an error or a panic.
        assert_eq!(Json::parse(r#""\ud800x""#).unwrap(), Json::Str("\u{FFFD}x".into()));
    }

    #[test]
    fn bad_json_is_a_typed_error_never_a_panic() {
        for s in ["", "{", "[1,]", "{\"a\"}", "{\"a\":1,}", "tru", "\"abc", "\"\\x\"", "01x", "-", "1.", "1e", "[1 2]", "\"a\nb\"", "nul"] {
            assert!(Json::parse(s).is_err(), "{s:?} should not parse");
        }
        assert_eq!(Json::parse("[1, x]").unwrap_err(), JsonError { at: 4 });
        let deep = "[".repeat(10_000);
        assert!(Json::parse(&deep).is_err());
        // Truncations of a real frame at every byte: errors, not panics.
        let frame = serde_json::to_string(&ServerMsg::Event { event: visitor_events()[3].clone() }).unwrap();
        for i in 0..frame.len() {
            if frame.is_char_boundary(i) {
                let _ = decode_server_msg(&frame[..i]);
            }
        }
    }
}
