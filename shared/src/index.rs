//! The on-disk formats: the answer index (`*.idx`) and the embedding model (`*.model`).
//!
//! Both are one file: `magic (8 bytes) | header length (u32 LE) | header | body`, where header
//! and body are postcard. The header names the format version, the model and the docs commit,
//! and carries an xxh3 checksum of the body, so a truncated, corrupted, foreign or outdated file
//! is refused with a clear message instead of being half-read.

use crate::config::SiteConfig;
use crate::engine::bm25::Bm25;
use crate::engine::embed::{Model, Vector};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fmt;

pub const INDEX_MAGIC: &[u8; 8] = b"BATONIDX";
pub const MODEL_MAGIC: &[u8; 8] = b"BATONMDL";
/// Bump on every change to `IndexBody` or its parts.
/// 3: the site config (inside the body) gained `inbox_url` and `webhooks`.
pub const INDEX_FORMAT_VERSION: u32 = 3;
pub const MODEL_FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format_version: u32,
    /// The embedding model the vectors were made with.
    pub model_id: String,
    /// `git rev-parse HEAD` of the docs, when they are in a git repository.
    pub docs_commit: Option<String>,
    pub body_len: u64,
    pub checksum: u64,
}

/// A section of a doc page: the unit of retrieval and citation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Source file, relative to the docs folder.
    pub path: String,
    /// Public URL with the heading anchor.
    pub url: String,
    /// Page title.
    pub title: String,
    /// Section heading ("" for text before the first heading).
    pub heading: String,
    /// "Page › Section › Subsection".
    pub breadcrumb: String,
    /// The section's text: paragraphs, `- ` list items and fenced code blocks, blank-line separated.
    pub text: String,
}

#[derive(Serialize, Deserialize)]
pub struct IndexBody {
    pub config: SiteConfig,
    pub chunks: Vec<Chunk>,
    pub bm25: Bm25,
    /// One embedding per chunk (exact cosine for every fused candidate).
    pub vectors: Vec<Vector>,
    /// The same embeddings in an HNSW graph, for semantic candidates; the value is the chunk.
    pub hnsw: instant_distance::HnswMap<Vector, u32>,
}

/// Why an index or model file cannot be used, and what to do about it.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadError {
    /// Shorter than its header says: an interrupted copy or upload.
    Truncated,
    /// Not a Baton file of this kind at all.
    Foreign { expected: &'static str },
    /// Written by another version of index-builder.
    Version { found: u32, expected: u32 },
    /// The bytes changed after they were written.
    Checksum,
    /// The index was built with another embedding model than the one loaded.
    ModelMismatch { index: String, loaded: String },
    /// Decodes, but the parts do not fit together.
    Corrupt(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Truncated => write!(f, "the file is truncated: copy it again or rebuild it with `index-builder build`"),
            LoadError::Foreign { expected } => write!(f, "this is not a Baton {expected} file: check the path"),
            LoadError::Version { found, expected } => write!(
                f,
                "format version {found}, but this Baton reads version {expected}: rebuild it with the matching `index-builder build`"
            ),
            LoadError::Checksum => write!(f, "the checksum does not match (the file is corrupted): rebuild it with `index-builder build`"),
            LoadError::ModelMismatch { index, loaded } => {
                write!(f, "the index was built with model {index:?} but {loaded:?} is loaded: rebuild the index with this model")
            }
            LoadError::Corrupt(why) => write!(f, "the file is corrupted ({why}): rebuild it with `index-builder build`"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Writes `magic | header | body` with a checksum.
pub fn write_container<T: Serialize>(
    magic: &[u8; 8],
    format_version: u32,
    model_id: &str,
    docs_commit: Option<String>,
    body: &T,
) -> Vec<u8> {
    let body = postcard::to_allocvec(body).expect("postcard serialisation of in-memory data cannot fail");
    let header = Header {
        format_version,
        model_id: model_id.to_string(),
        docs_commit,
        body_len: body.len() as u64,
        checksum: xxhash_rust::xxh3::xxh3_64(&body),
    };
    let header = postcard::to_allocvec(&header).expect("header serialises");
    let mut out = Vec::with_capacity(12 + header.len() + body.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&body);
    out
}

/// Reads and verifies the header; returns it and the body bytes.
pub fn read_header<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
    expected_version: u32,
    what: &'static str,
) -> Result<(Header, &'a [u8]), LoadError> {
    if bytes.len() < 12 {
        return Err(if magic.starts_with(&bytes[..bytes.len().min(8)]) && !bytes.is_empty() {
            LoadError::Truncated
        } else {
            LoadError::Foreign { expected: what }
        });
    }
    if &bytes[..8] != magic {
        return Err(LoadError::Foreign { expected: what });
    }
    let hlen = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
    let rest = &bytes[12..];
    if rest.len() < hlen {
        return Err(LoadError::Truncated);
    }
    let header: Header = postcard::from_bytes(&rest[..hlen]).map_err(|e| LoadError::Corrupt(format!("header: {e}")))?;
    if header.format_version != expected_version {
        return Err(LoadError::Version { found: header.format_version, expected: expected_version });
    }
    let body = &rest[hlen..];
    if (body.len() as u64) < header.body_len {
        return Err(LoadError::Truncated);
    }
    if body.len() as u64 != header.body_len {
        return Err(LoadError::Corrupt("trailing bytes after the body".into()));
    }
    if xxhash_rust::xxh3::xxh3_64(body) != header.checksum {
        return Err(LoadError::Checksum);
    }
    Ok((header, body))
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, LoadError> {
    postcard::from_bytes(body).map_err(|e| LoadError::Corrupt(e.to_string()))
}

/// A loaded, verified index.
pub struct Index {
    pub header: Header,
    pub body: IndexBody,
}

impl Index {
    pub fn to_bytes(body: &IndexBody, model_id: &str, docs_commit: Option<String>) -> Vec<u8> {
        write_container(INDEX_MAGIC, INDEX_FORMAT_VERSION, model_id, docs_commit, body)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Index, LoadError> {
        let (header, body) = read_header(bytes, INDEX_MAGIC, INDEX_FORMAT_VERSION, "index")?;
        let body: IndexBody = decode(body)?;
        body.bm25.check().map_err(LoadError::Corrupt)?;
        let n = body.chunks.len();
        if body.bm25.docs() != n || body.vectors.len() != n || body.hnsw.values.iter().any(|&v| v as usize >= n) {
            return Err(LoadError::Corrupt("chunk tables disagree".into()));
        }
        Ok(Index { header, body })
    }
}

/// The file name a model is published under ("potion-base-8M@bf8b0566/int8" →
/// "potion-base-8M-bf8b0566-int8.model"): the worker finds the model an index names by it.
pub fn model_file_name(id: &str) -> String {
    let mut s: String = id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect();
    s.push_str(".model");
    s
}

pub fn model_to_bytes(model: &Model) -> Vec<u8> {
    write_container(MODEL_MAGIC, MODEL_FORMAT_VERSION, &model.id, None, model)
}

pub fn model_from_bytes(bytes: &[u8]) -> Result<Model, LoadError> {
    let (header, body) = read_header(bytes, MODEL_MAGIC, MODEL_FORMAT_VERSION, "model")?;
    let model: Model = decode(body)?;
    if model.id != header.model_id {
        return Err(LoadError::Corrupt("model id disagrees with its header".into()));
    }
    model.check().map_err(LoadError::Corrupt)?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_refuses_damage() {
        let bytes = write_container(MODEL_MAGIC, 1, "m", None, &vec![1u32, 2, 3]);
        assert!(read_header(&bytes, MODEL_MAGIC, 1, "model").is_ok());
        assert_eq!(read_header(&bytes[..bytes.len() - 1], MODEL_MAGIC, 1, "model").unwrap_err(), LoadError::Truncated);
        assert_eq!(read_header(&bytes, INDEX_MAGIC, 1, "index").unwrap_err(), LoadError::Foreign { expected: "index" });
        assert_eq!(read_header(&bytes, MODEL_MAGIC, 2, "model").unwrap_err(), LoadError::Version { found: 1, expected: 2 });
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(read_header(&bad, MODEL_MAGIC, 1, "model").unwrap_err(), LoadError::Checksum);
        assert!(read_header(b"", MODEL_MAGIC, 1, "model").is_err());
        assert!(read_header(b"BATONMDL", MODEL_MAGIC, 1, "model").is_err());
    }
}
