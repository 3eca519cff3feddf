//! HTTP plumbing: typed JSON errors, JSON bodies with size limits, CORS.

use baton_shared::protocol::{ApiError, ErrorBody, ErrorCode, MAX_FRAME_BYTES};
use futures_util::StreamExt;
use serde::{de::DeserializeOwned, Serialize};
use worker::{Headers, Request, Response};

/// Why a request failed: a typed API error for the client, or an internal failure (logged,
/// answered with a generic 500 that leaks nothing).
#[derive(Debug)]
pub enum Failure {
    Api(ErrorBody),
    Internal(String),
}

impl From<ErrorBody> for Failure {
    fn from(e: ErrorBody) -> Self {
        Failure::Api(e)
    }
}

impl From<worker::Error> for Failure {
    fn from(e: worker::Error) -> Self {
        Failure::Internal(e.to_string())
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure::Internal(format!("json: {e}"))
    }
}

pub type Handled = Result<Response, Failure>;

pub fn api(code: ErrorCode, message: impl Into<String>) -> Failure {
    Failure::Api(ErrorBody::new(code, message))
}

/// The JSON error response for a failure.
pub fn error_response(f: Failure) -> Response {
    let body = match f {
        Failure::Api(e) => e,
        Failure::Internal(why) => {
            worker::console_error!("internal error: {why}");
            ErrorBody::new(ErrorCode::Internal, "something went wrong on our side; try again")
        }
    };
    let status = body.code.http_status();
    let retry = body.retry_after;
    let json = serde_json::to_string(&ApiError::from(body)).unwrap_or_else(|_| r#"{"error":{"code":"internal","message":"error"}}"#.into());
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json; charset=utf-8");
    let _ = headers.set("cache-control", "no-store");
    let _ = headers.set("x-content-type-options", "nosniff");
    if let Some(s) = retry {
        let _ = headers.set("retry-after", &s.to_string());
    }
    Response::builder().with_status(status).with_headers(headers).fixed(json.into_bytes())
}

pub fn json<T: Serialize>(status: u16, value: &T) -> Handled {
    let body = serde_json::to_vec(value)?;
    let headers = Headers::new();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    // A browser must never take an API answer for HTML or script, whatever is inside.
    headers.set("x-content-type-options", "nosniff")?;
    Ok(Response::builder().with_status(status).with_headers(headers).fixed(body))
}

/// Maps a serde error to the error a client can act on: an unknown `type` is
/// `unknown_command`; anything else is `bad_request` with serde's precise words.
pub fn decode_error(e: &serde_json::Error, what: &str) -> ErrorBody {
    let msg = e.to_string();
    if msg.contains("unknown variant") {
        ErrorBody::new(ErrorCode::UnknownCommand, format!("{what}: {msg}"))
    } else {
        ErrorBody::new(ErrorCode::BadRequest, format!("{what} is not valid: {msg}"))
    }
}

/// Parses JSON from bytes, with the size limit every body and frame shares.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ErrorBody> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(ErrorBody::new(ErrorCode::TooLarge, format!("{what} is {} bytes; the limit is {MAX_FRAME_BYTES}", bytes.len())));
    }
    if std::str::from_utf8(bytes).is_err() {
        return Err(ErrorBody::new(ErrorCode::BadRequest, format!("{what} is not valid UTF-8")));
    }
    serde_json::from_slice(bytes).map_err(|e| decode_error(&e, what))
}

/// Reads a request body of at most `max` bytes. A declared `Content-Length` over it is refused
/// before reading; a chunked body is read piece by piece and refused as soon as it passes the
/// limit — never read whole first (a client could stream forever).
pub async fn read_capped(req: &mut Request, max: usize) -> Result<Vec<u8>, Failure> {
    let too_large = |n: &dyn std::fmt::Display| api(ErrorCode::TooLarge, format!("the body is {n} bytes; the limit is {max}"));
    if let Some(len) = req.headers().get("content-length")?.and_then(|l| l.parse::<usize>().ok()) {
        if len > max {
            return Err(too_large(&len));
        }
        // A declared length within the limit is the whole body (the runtime holds the client
        // to it): one read instead of a stream's chunk by chunk, each a trip through JS.
        let body = req.bytes().await?;
        return if body.len() > max { Err(too_large(&body.len())) } else { Ok(body) };
    }
    let mut body = Vec::new();
    let Ok(mut stream) = req.stream() else {
        return Ok(body); // no body at all
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > max {
            return Err(too_large(&format!("more than {max}")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads a JSON request body (refusing oversized ones before reading them whole).
pub async fn body<T: DeserializeOwned>(req: &mut Request) -> Result<T, Failure> {
    let bytes = read_capped(req, MAX_FRAME_BYTES).await?;
    Ok(parse_json(&bytes, "the request body")?)
}

/// Reads an optional JSON body: empty means `T::default()`.
pub async fn body_or_default<T: DeserializeOwned + Default>(req: &mut Request) -> Result<T, Failure> {
    let bytes = read_capped(req, MAX_FRAME_BYTES).await?;
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    Ok(parse_json(&bytes, "the request body")?)
}

/// Adds CORS headers for an allowed cross-origin caller. Builds a fresh response: a response
/// fetched from a Durable Object has immutable headers, and setting them would fail (silently,
/// before: forwarded answers reached the page without `Access-Control-Allow-Origin`). The body
/// is passed on as it is (a stream stays a stream). WebSocket upgrades are returned untouched.
pub fn with_cors(resp: Response, origin: Option<&str>) -> Response {
    let Some(o) = origin else {
        return resp;
    };
    if resp.status_code() == 101 {
        return resp;
    }
    let status = resp.status_code();
    // `Headers::clone` makes a new, mutable `Headers` with the same entries.
    let headers = resp.headers().clone();
    let _ = headers.set("access-control-allow-origin", o);
    if !headers.get("vary").ok().flatten().is_some_and(|v| v.contains("Origin")) {
        let _ = headers.append("vary", "Origin");
    }
    let _ = headers.set("access-control-expose-headers", "retry-after");
    let (_, body) = resp.into_parts();
    Response::builder().with_status(status).with_headers(headers).body(body)
}

/// The answer to a HEAD request: the GET's status and headers, no body. (A fresh response: one
/// from a Durable Object has immutable headers.)
pub fn without_body(resp: Response) -> Response {
    if resp.status_code() == 101 {
        return resp;
    }
    let status = resp.status_code();
    let headers = resp.headers().clone();
    Response::builder().with_status(status).with_headers(headers).empty()
}

/// Answer to a CORS preflight from an allowed origin.
pub fn preflight(origin: &str) -> Response {
    let headers = Headers::new();
    let _ = headers.set("access-control-allow-origin", origin);
    let _ = headers.set("access-control-allow-methods", "GET, POST, OPTIONS");
    let _ = headers.set("access-control-allow-headers", "content-type, authorization");
    let _ = headers.set("access-control-max-age", "86400");
    let _ = headers.set("vary", "Origin");
    let _ = headers.set("x-content-type-options", "nosniff");
    Response::builder().with_status(204).with_headers(headers).empty()
}

/// The bearer token of a request, if any.
pub fn bearer(req: &Request) -> Option<String> {
    let h = req.headers().get("authorization").ok()??;
    h.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

/// A query parameter.
pub fn query(req: &Request, key: &str) -> Option<String> {
    let url = req.url().ok()?;
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}
