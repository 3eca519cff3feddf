//! Files in a conversation: a screenshot of the broken page, an invoice as PDF.
//!
//! Rules, so the worker only carries bytes:
//! - **What**: PNG, JPEG, WebP, GIF and PDF, recognised from the file's first bytes
//!   ([`sniff`]), never from its name or the browser's content type. Anything else — SVG (a
//!   script in an image's clothing), HTML, executables, a `.png` that is really something
//!   else — is refused with `unsupported_type`.
//! - **How big**: per file and per conversation, from `[attachments]` in `baton.toml`
//!   ([`check_size`]); over either, `too_large`.
//! - **Under which name**: the visitor's file name, cleaned ([`file_name`]) and given the
//!   extension of its real type.
//! - **Served how**: with its real content type, `X-Content-Type-Options: nosniff`, a
//!   `Content-Disposition` ([`content_disposition`]: images inline, PDFs as downloads) and a
//!   sandboxing CSP, so no browser ever renders one as a page.
//! - **To whom**: the conversation's visitor (its token) and its site's operators (session) —
//!   checked by the `Conversation` object, which finds the attachment in its own log
//!   ([`find`]); another conversation's token never reaches it.
//! - **How long**: stored in R2 under the conversation ([`object_key`]), erased with it.

use crate::protocol::{ErrorBody, ErrorCode};
use serde::{Deserialize, Serialize};

/// The types Baton accepts, as recognised from their bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    Png,
    Jpeg,
    Webp,
    Gif,
    Pdf,
}

impl FileType {
    pub fn content_type(self) -> &'static str {
        match self {
            FileType::Png => "image/png",
            FileType::Jpeg => "image/jpeg",
            FileType::Webp => "image/webp",
            FileType::Gif => "image/gif",
            FileType::Pdf => "application/pdf",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            FileType::Png => "png",
            FileType::Jpeg => "jpg",
            FileType::Webp => "webp",
            FileType::Gif => "gif",
            FileType::Pdf => "pdf",
        }
    }

    pub fn is_image(self) -> bool {
        self != FileType::Pdf
    }
}

/// The type of a file from its first bytes (magic numbers), or `None` if it is none of the
/// accepted ones.
pub fn sniff(bytes: &[u8]) -> Option<FileType> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some(FileType::Png)
    } else if starts(b"\xFF\xD8\xFF") {
        Some(FileType::Jpeg)
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some(FileType::Gif)
    } else if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some(FileType::Webp)
    } else if starts(b"%PDF-") {
        Some(FileType::Pdf)
    } else {
        None
    }
}

/// A stored file, as events carry it. `id` names it under its conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// 32 lowercase hex digits (random).
    pub id: String,
    /// Cleaned, with the extension of its real type.
    pub name: String,
    pub content_type: String,
    /// Bytes.
    pub size: u64,
}

/// Reply to `POST /api/v1/sites/:site/conversations/:id/attachments`: the stored file and the
/// seq of its `attachment_added` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    pub attachment: Attachment,
    pub seq: u64,
}

impl Attachment {
    pub fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }
}

/// An attachment id: 32 lowercase hex digits (never a path).
pub fn is_attachment_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where the bytes live in the bucket: one prefix per conversation, so erasing it is one
/// listing away.
pub fn object_key(site: &str, conversation: &str, id: &str) -> String {
    format!("{}{id}", conversation_prefix(site, conversation))
}

pub fn conversation_prefix(site: &str, conversation: &str) -> String {
    format!("attachments/{site}/{conversation}/")
}

/// Longest file name kept, in characters (before the extension).
const NAME_CHARS: usize = 80;

/// The name to store and send back: the last path segment, letters, digits and a few safe
/// marks (others become `_`), at most `NAME_CHARS` characters, with the real type's extension
/// (`invoice.png` that is a PDF becomes `invoice.pdf`).
pub fn file_name(given: &str, kind: FileType) -> String {
    let base = given.rsplit(['/', '\\']).next().unwrap_or("");
    let stem = base.rsplit_once('.').map_or(base, |(stem, _)| stem);
    let mut clean: String = stem
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | ' ' | '(' | ')' | '.') { c } else { '_' })
        .take(NAME_CHARS)
        .collect();
    clean = clean.trim_matches(|c: char| c == '.' || c == ' ').to_string();
    if clean.is_empty() {
        clean = if kind.is_image() { "image".into() } else { "document".into() };
    }
    format!("{clean}.{}", kind.extension())
}

/// `Content-Disposition`: images inline (thumbnails), PDFs as a download; the name as an
/// ASCII fallback and RFC 5987 UTF-8.
pub fn content_disposition(a: &Attachment) -> String {
    let kind = if a.is_image() { "inline" } else { "attachment" };
    let ascii: String = a.name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.() ".contains(c) { c } else { '_' }).collect();
    let mut encoded = String::new();
    for b in a.name.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The headers that keep a served file a file (besides its content type and disposition).
pub const SERVE_HEADERS: [(&str, &str); 3] = [
    ("x-content-type-options", "nosniff"),
    ("content-security-policy", "default-src 'none'; sandbox"),
    // Never kept by any cache: once a conversation is erased, its files are gone everywhere.
    ("cache-control", "private, no-store"),
];

/// Limits of `[attachments]` in `baton.toml`, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub enabled: bool,
    pub max_file_bytes: u64,
    pub max_conversation_bytes: u64,
}

/// Checks an upload before it is stored: attachments on, the file within its limit, and the
/// conversation's files (`used` bytes so far) within theirs.
pub fn check_size(limits: Limits, size: u64, used: u64) -> Result<(), ErrorBody> {
    if !limits.enabled {
        return Err(ErrorBody::new(ErrorCode::Forbidden, "this site does not take attachments"));
    }
    if size == 0 {
        return Err(ErrorBody::field("file", "the file is empty"));
    }
    let mb = |b: u64| format!("{:.1} MB", b as f64 / 1_048_576.0);
    if size > limits.max_file_bytes {
        return Err(ErrorBody {
            code: ErrorCode::TooLarge,
            message: format!(
                "the file is {}; files may be up to {}: send a smaller one (crop the screenshot?)",
                mb(size),
                mb(limits.max_file_bytes)
            ),
            field: Some("file".into()),
            retry_after: None,
        });
    }
    if used + size > limits.max_conversation_bytes {
        return Err(ErrorBody {
            code: ErrorCode::TooLarge,
            message: format!("this conversation's files may total {}; {} are used", mb(limits.max_conversation_bytes), mb(used)),
            field: Some("file".into()),
            retry_after: None,
        });
    }
    Ok(())
}

/// Checks the bytes' type; the error names what the file was called and what is accepted.
pub fn check_type(given_name: &str, bytes: &[u8]) -> Result<FileType, ErrorBody> {
    sniff(bytes).ok_or_else(|| ErrorBody {
        code: ErrorCode::UnsupportedType,
        message: format!(
            "{} is not a PNG, JPEG, WebP or GIF image nor a PDF (judged by its content, not its name): attach a screenshot or a PDF",
            crate::protocol::quoted(given_name.rsplit(['/', '\\']).next().unwrap_or(""))
        ),
        field: Some("file".into()),
        retry_after: None,
    })
}

/// The attachment `id` among a conversation's, or `unknown_attachment`.
pub fn find<'a>(attachments: &'a [Attachment], id: &str) -> Result<&'a Attachment, ErrorBody> {
    attachments
        .iter()
        .find(|a| a.id == id)
        .ok_or_else(|| ErrorBody::new(ErrorCode::UnknownAttachment, "no such attachment in this conversation: it may have been erased"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff(PNG), Some(FileType::Png));
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), Some(FileType::Jpeg));
        assert_eq!(sniff(b"GIF89a\x01\0"), Some(FileType::Gif));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some(FileType::Webp));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some(FileType::Pdf));
        // What must never be served back: SVG (scripts), HTML, a RIFF that is a WAV, nothing.
        assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>"), None);
        assert_eq!(sniff(b"<?xml version=\"1.0\"?><svg/>"), None);
        assert_eq!(sniff(b"<!doctype html><script>alert(1)</script>"), None);
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"\x89PN"), None);
        assert_eq!(sniff(b""), None);
        let e = check_type("shot.png", b"<html>").unwrap_err();
        assert_eq!((e.code, e.code.http_status()), (ErrorCode::UnsupportedType, 415));
        assert!(e.message.contains("shot.png"), "{}", e.message);
    }

    #[test]
    fn names_are_cleaned_and_carry_the_real_extension() {
        assert_eq!(file_name("Screenshot 2026-11-02 at 10.41.03.png", FileType::Png), "Screenshot 2026-11-02 at 10.41.03.png");
        assert_eq!(file_name("invoice.png", FileType::Pdf), "invoice.pdf", "a PDF named .png is a PDF");
        assert_eq!(file_name("../../etc/passwd", FileType::Png), "passwd.png");
        assert_eq!(file_name("C:\\Users\\x\\shot.jpeg", FileType::Jpeg), "shot.jpg");
        assert_eq!(file_name("a\"b<c>\r\n.gif", FileType::Gif), "a_b_c___.gif");
        assert_eq!(file_name("", FileType::Png), "image.png");
        assert_eq!(file_name(".pdf", FileType::Pdf), "document.pdf");
        assert_eq!(file_name(&"x".repeat(500), FileType::Webp).len(), NAME_CHARS + 5);
    }

    #[test]
    fn dispositions_quote_safely() {
        let a = |name: &str, ct: &str| Attachment { id: "0".repeat(32), name: name.into(), content_type: ct.into(), size: 1 };
        assert_eq!(content_disposition(&a("shot.png", "image/png")), "inline; filename=\"shot.png\"; filename*=UTF-8''shot.png");
        assert_eq!(
            content_disposition(&a("Rechnung März.pdf", "application/pdf")),
            "attachment; filename=\"Rechnung M_rz.pdf\"; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf"
        );
    }

    #[test]
    fn sizes_are_limited_per_file_and_per_conversation() {
        let l = Limits { enabled: true, max_file_bytes: 1000, max_conversation_bytes: 2500 };
        assert!(check_size(l, 1000, 0).is_ok());
        assert_eq!(check_size(l, 1001, 0).unwrap_err().code, ErrorCode::TooLarge);
        assert_eq!(check_size(l, 600, 2000).unwrap_err().code, ErrorCode::TooLarge);
        assert_eq!(check_size(l, 0, 0).unwrap_err().code, ErrorCode::InvalidField);
        assert_eq!(check_size(Limits { enabled: false, ..l }, 1, 0).unwrap_err().code, ErrorCode::Forbidden);
    }

    #[test]
    fn attachments_are_found_by_id_in_their_own_conversation() {
        let a = Attachment { id: "ab".repeat(16), name: "x.png".into(), content_type: "image/png".into(), size: 3 };
        assert!(find(std::slice::from_ref(&a), &a.id).is_ok());
        assert_eq!(find(&[a], &"cd".repeat(16)).unwrap_err().code, ErrorCode::UnknownAttachment);
        assert!(is_attachment_id(&"0f".repeat(16)));
        assert!(!is_attachment_id("../x"));
        assert_eq!(object_key("demo", "c1", "a1"), "attachments/demo/c1/a1");
    }
}
