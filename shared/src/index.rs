//! The on-disk formats: the answer index (`*.idx`) and the embedding model (`*.model`), both
//! used where they lie.
//!
//! One container for both:
//!
//! ```text
//! magic (8) | header length (u32 LE) | header (postcard) + zero padding | body
//! body = entry count (u32 LE) | count × (kind u32, part u32, offset u64, length u64) | sections
//! ```
//!
//! The header names the format version, the model and the docs commit, and carries an xxh3
//! checksum of the body, so a truncated, corrupted, foreign or outdated file is refused with a
//! clear message instead of being half-read. The body starts at a multiple of 64 bytes in the
//! file and every section at a multiple of 64 from it: the big tables (int8 embedding rows,
//! codes, the tokenizer's hash table, chunk records) are read in place, as the bytes came from
//! disk or the asset fetch — loading is a checksum and a few bounds checks, not a decode-and-
//! copy. Small parts (the site config, BM25, the model's id) are postcard in a `META` section;
//! each chunk is a postcard record of its own, decoded on first use.
//!
//! A body larger than [`PART_BYTES`] continues in part files (`index.idx.1`, `index.idx.2`, …):
//! Workers serve no asset over 25 MiB, and a 100k-chunk index is 145 MB. The head's `PARTS`
//! section holds each part's length and xxh3, so a part is verified like the head; a section
//! too big for one part is stored as several pieces of the same kind, cut at a size its reader
//! can use in place (whole rows, whole codes). In memory, the parts may follow the head in one
//! buffer ([`Index::to_bytes`]) or come as separate files ([`Index::to_parts`]).
use crate::config::SiteConfig;
use crate::engine::bm25::Bm25;
use crate::engine::embed::Model;
use crate::engine::handoff_classifier::HandoffClassifier;
use crate::engine::vectors::Vectors;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fmt;
use std::sync::{Arc, OnceLock};

pub const INDEX_MAGIC: &[u8; 8] = b"BATONIDX";
pub const MODEL_MAGIC: &[u8; 8] = b"BATONMDL";
/// Bump on every change to the index layout or its parts. 2: the HNSW is stored once (the
/// vectors come from its points); 3: the conversation rules' config; 4: `inbox_url` and
/// `webhooks` in the site config; 5: sections read in place (int8 rows instead of an HNSW,
/// one record per chunk); 6: the handoff classifier (with the site's examples) and
/// `handoff.examples` in the config; 7: the text analysis changed (camelCase parts, links kept
/// as Markdown with their targets out of the terms), so an older index would match questions
/// differently; 8: `[limits]` for `/ask`, LLM calls and sign-in, `per_hour` rates; 9: site
/// strings per language (`i18n::Localized`) in the site config; 10: `identity` and
/// `attachments` in the site config; 11: `assignment` and `email` in the site config; 12: the
/// terms of "-ification" words meet their verbs ("notifications" ~ "notified"), so an older
/// index would match questions differently.
pub const INDEX_FORMAT_VERSION: u32 = 12;
/// 2: sections read in place, with a stored token hash table.
pub const MODEL_FORMAT_VERSION: u32 = 2;

/// Sections start at multiples of this (from the body's start, itself aligned in the file), so
/// every table is aligned for SIMD loads and cache lines when the buffer is.
pub const SECTION_ALIGN: usize = 64;

/// Section kinds. A file has each at most once; a reader refuses a file missing one it needs.
pub mod kind {
    /// postcard: `IndexBody`'s small parts, or the model's id and sizes.
    pub const META: u32 = 1;
    /// (n + 1) × u32: chunk `i`'s record is `CHUNK_RECORDS[offsets[i]..offsets[i + 1]]`.
    pub const CHUNK_OFFSETS: u32 = 2;
    /// postcard `Chunk` records, back to back, in deflated blocks of whole records (raw deflate).
    pub const CHUNK_RECORDS: u32 = 3;
    /// postcard `vectors::Layout`: dimensions, count, and the centre of the 1-bit codes.
    pub const VECTOR_LAYOUT: u32 = 4;
    /// n × dims int8: one embedding row per chunk (or per token, in the model).
    pub const ROWS: u32 = 5;
    /// n × f32: each row's scale (value = q × scale).
    pub const SCALES: u32 = 6;
    /// n × dims / 8 bytes: each chunk's 1-bit code (only in indexes past the exact-search size).
    pub const CODES: u32 = 7;
    /// The model's tokens, concatenated (UTF-8).
    pub const VOCAB: u32 = 8;
    /// (n + 1) × u32: token `i` is `VOCAB[offsets[i]..offsets[i + 1]]`.
    pub const VOCAB_OFFSETS: u32 = 9;
    /// 2^k × u32: the token → id hash table (open addressing, `u32::MAX` = empty).
    pub const TOKEN_SLOTS: u32 = 10;
    /// (length u64, xxh3 u64) of each part file after the head, in order (always in the head).
    pub const PARTS: u32 = 11;
    /// postcard `bm25::Layout`: the BM25 tables' sizes and the mean document length.
    pub const BM25_LAYOUT: u32 = 12;
    /// BM25's sorted terms, concatenated.
    pub const BM25_TERMS: u32 = 13;
    /// (T + 1) × u32: where each term starts in `BM25_TERMS`.
    pub const BM25_TERM_OFFSETS: u32 = 14;
    /// (T + 1) × u32: where each term's postings start in `BM25_POSTINGS`.
    pub const BM25_POSTING_OFFSETS: u32 = 15;
    /// T × u32: each term's document frequency.
    pub const BM25_DF: u32 = 16;
    /// Each term's postings: (document delta, term frequency) LEB128 varints.
    pub const BM25_POSTINGS: u32 = 17;
    /// N × u32: each document's weighted length.
    pub const BM25_DOC_LEN: u32 = 18;
    /// (B + 1) × (first chunk u32, offset u32): block `b` holds chunks `first[b]..first[b + 1]`,
    /// deflated in `CHUNK_RECORDS[offset[b]..offset[b + 1]]`.
    pub const CHUNK_BLOCKS: u32 = 19;
}

/// The most bytes one file of a container holds (Workers serve assets of up to 25 MiB).
pub const PART_BYTES: usize = 24 << 20;

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

/// Immutable file bytes that loaded tables point into: shared, never copied.
#[derive(Clone)]
pub struct Blob(BlobBytes);

#[derive(Clone)]
enum BlobBytes {
    Shared(Arc<Vec<u8>>),
    Static(&'static [u8]),
}

impl Blob {
    /// Bytes compiled into the program (`include_bytes!`): used in place, without a copy.
    pub fn from_static(bytes: &'static [u8]) -> Blob {
        Blob(BlobBytes::Static(bytes))
    }

    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            BlobBytes::Shared(v) => v,
            BlobBytes::Static(s) => s,
        }
    }
}

impl Default for Blob {
    fn default() -> Self {
        Blob::from_static(&[])
    }
}

impl From<Vec<u8>> for Blob {
    fn from(v: Vec<u8>) -> Blob {
        Blob(BlobBytes::Shared(Arc::new(v)))
    }
}

impl From<Arc<Vec<u8>>> for Blob {
    fn from(v: Arc<Vec<u8>>) -> Blob {
        Blob(BlobBytes::Shared(v))
    }
}

/// Borrowed bytes are copied once (pass a `Vec<u8>` to avoid it).
impl From<&[u8]> for Blob {
    fn from(v: &[u8]) -> Blob {
        Blob::from(v.to_vec())
    }
}

impl From<&Vec<u8>> for Blob {
    fn from(v: &Vec<u8>) -> Blob {
        Blob::from(v.clone())
    }
}

/// A byte range of a [`Blob`]: one table of a loaded file (or of one built in memory).
#[derive(Clone, Default)]
pub struct Section {
    blob: Blob,
    start: usize,
    end: usize,
}

impl Section {
    /// A section owning freshly built bytes.
    pub fn owned(bytes: Vec<u8>) -> Section {
        let end = bytes.len();
        Section { blob: Blob::from(bytes), start: 0, end }
    }

    pub fn bytes(&self) -> &[u8] {
        // In range by construction (`Sections::get` checks every entry against the blob).
        self.blob.as_slice().get(self.start..self.end).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The `i`-th little-endian u32 of the section (0 past its end).
    pub fn u32_at(&self, i: usize) -> u32 {
        u32_at(self.bytes(), i)
    }

    /// The `i`-th little-endian f32 of the section (0 past its end).
    pub fn f32_at(&self, i: usize) -> f32 {
        f32::from_bits(self.u32_at(i))
    }
}

/// The `i`-th little-endian u32 of `bytes` (0 past the end). Tables are read through this, so a
/// table needs no alignment and no copy, and a bad index reads 0 instead of panicking.
pub fn u32_at(bytes: &[u8], i: usize) -> u32 {
    match bytes.get(i * 4..i * 4 + 4) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

/// Little-endian bytes of u32 values (how tables are written).
pub fn u32_bytes(values: impl IntoIterator<Item = u32>) -> Vec<u8> {
    values.into_iter().flat_map(u32::to_le_bytes).collect()
}

/// Little-endian bytes of f32 values.
pub fn f32_bytes(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
    values.into_iter().flat_map(f32::to_le_bytes).collect()
}

/// A verified file's sections, each in the head or a part, in file order.
pub struct Sections {
    entries: Vec<(u32, Section)>,
}

impl Sections {
    /// Every section's kind and length, in file order (pieces of one section separately).
    pub fn sizes(&self) -> Vec<(u32, usize)> {
        self.entries.iter().map(|(k, s)| (*k, s.len())).collect()
    }

    /// The pieces of a section, in order (none if the file has no such section).
    pub fn pieces(&self, kind: u32) -> Vec<Section> {
        self.entries.iter().filter(|(k, _)| *k == kind).map(|(_, s)| s.clone()).collect()
    }

    /// A section stored in one piece, if the file has it.
    pub fn get(&self, kind: u32) -> Result<Option<Section>, LoadError> {
        match self.pieces(kind).as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.clone())),
            _ => Err(LoadError::Corrupt(format!("section {kind} is in pieces"))),
        }
    }

    /// A section the file must have, in one piece.
    pub fn require(&self, kind: u32, what: &str) -> Result<Section, LoadError> {
        self.get(kind)?.ok_or_else(|| LoadError::Corrupt(format!("no {what} section")))
    }

    /// A section the file must have, its pieces joined into one buffer (a copy: for sections
    /// that are decoded anyway).
    pub fn joined(&self, kind: u32, what: &str) -> Result<Vec<u8>, LoadError> {
        let pieces = self.pieces(kind);
        if pieces.is_empty() {
            return Err(LoadError::Corrupt(format!("no {what} section")));
        }
        Ok(pieces.iter().flat_map(|p| p.bytes().iter().copied()).collect())
    }
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
    /// The head names part files that were not given (`index.idx.1`, …).
    MissingParts { expected: usize, found: usize },
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
            LoadError::MissingParts { expected, found } => write!(
                f,
                "the index continues in {expected} part file(s) (index.idx.1, …) but {found} came with it: copy every index.idx* file of the build"
            ),
        }
    }
}

impl std::error::Error for LoadError {}

const TABLE_ENTRY: usize = 24;
/// More entries than any Baton file has: a table claiming more is not ours.
const MAX_ENTRIES: usize = 1024;
/// The head's body holds a little less than a part: its header comes first.
const HEADER_ROOM: usize = 4096;

fn align_up(n: usize) -> usize {
    n.div_ceil(SECTION_ALIGN) * SECTION_ALIGN
}

/// One section to write: its kind, its bytes, and the unit it may be cut at when it does not
/// fit in one part (1: anywhere; a row's length for rows; 0: never — it must fit).
pub struct SectionOut<'a> {
    pub kind: u32,
    pub bytes: &'a [u8],
    pub cut: usize,
}

impl<'a> SectionOut<'a> {
    pub fn new(kind: u32, bytes: &'a [u8], cut: usize) -> SectionOut<'a> {
        SectionOut { kind, bytes, cut }
    }
}

/// Lays sections out in a head and as many parts as they need: `[head, part 1, …]`, each at
/// most [`PART_BYTES`] (a section that must not be cut and does not fit makes a bigger file).
pub fn write_parts(
    magic: &[u8; 8],
    format_version: u32,
    model_id: &str,
    docs_commit: Option<String>,
    sections: &[SectionOut],
) -> Vec<Vec<u8>> {
    write_parts_of(PART_BYTES, HEADER_ROOM, magic, format_version, model_id, docs_commit, sections)
}

/// `write_parts` with another part size (tests use small ones).
fn write_parts_of(
    part_bytes: usize,
    header_room: usize,
    magic: &[u8; 8],
    format_version: u32,
    model_id: &str,
    docs_commit: Option<String>,
    sections: &[SectionOut],
) -> Vec<Vec<u8>> {
    let head_body_bytes = part_bytes - header_room;
    // Pieces of at most half a part, so parts fill up well.
    let mut pieces: Vec<(u32, &[u8])> = Vec::new();
    for s in sections {
        if s.bytes.len() <= head_body_bytes / 2 || s.cut == 0 {
            pieces.push((s.kind, s.bytes));
        } else {
            let step = (head_body_bytes / 2 / s.cut).max(1) * s.cut;
            pieces.extend(s.bytes.chunks(step).map(|c| (s.kind, c)));
        }
    }
    let parts_at = align_up(4 + TABLE_ENTRY * (pieces.len() + 1));
    // (kind, part, offset) of each piece, after the head's table and its `PARTS` section (whose
    // size depends on the layout: laid out again in the rare case the room kept was too small).
    let mut reserved = 16 * 4;
    let (placed, part) = loop {
        let mut placed: Vec<(u32, usize, usize)> = Vec::with_capacity(pieces.len());
        let (mut part, mut end) = (0usize, align_up(parts_at + reserved));
        for (kind, bytes) in &pieces {
            let limit = if part == 0 { head_body_bytes } else { part_bytes };
            // A new part when this one is full — unless it is an empty part (a piece that was
            // not allowed to be cut then makes a file of its own, however big).
            if end + bytes.len() > limit && (part == 0 || end > 0) {
                part += 1;
                end = 0;
            }
            placed.push((*kind, part, end));
            end = align_up(end + bytes.len());
        }
        if part * 16 <= reserved {
            break (placed, part);
        }
        reserved = part * 16;
    };
    let mut files: Vec<Vec<u8>> = vec![Vec::new(); part + 1];
    for ((_, bytes), (_, p, offset)) in pieces.iter().zip(&placed) {
        let f = &mut files[*p];
        f.resize(*offset, 0);
        f.extend_from_slice(bytes);
    }
    let parts: Vec<u8> = files[1..]
        .iter()
        .flat_map(|f| (f.len() as u64).to_le_bytes().into_iter().chain(xxhash_rust::xxh3::xxh3_64(f).to_le_bytes()))
        .collect();
    let mut head = Vec::with_capacity(files[0].len().max(parts_at + parts.len()));
    head.extend_from_slice(&((pieces.len() + 1) as u32).to_le_bytes());
    let entry = |head: &mut Vec<u8>, kind: u32, part: usize, offset: usize, len: usize| {
        head.extend_from_slice(&kind.to_le_bytes());
        head.extend_from_slice(&(part as u32).to_le_bytes());
        head.extend_from_slice(&(offset as u64).to_le_bytes());
        head.extend_from_slice(&(len as u64).to_le_bytes());
    };
    entry(&mut head, kind::PARTS, 0, parts_at, parts.len());
    for ((_, bytes), (kind, p, offset)) in pieces.iter().zip(&placed) {
        entry(&mut head, *kind, *p, *offset, bytes.len());
    }
    head.resize(parts_at, 0);
    head.extend_from_slice(&parts);
    let rest = std::mem::take(&mut files[0]);
    if rest.len() > head.len() {
        head.extend_from_slice(&rest[head.len()..]);
    }
    files[0] = write_raw(magic, format_version, model_id, docs_commit, head);
    files
}

/// Writes sections as one file: the head followed by its parts, if any.
pub fn write_sections(
    magic: &[u8; 8],
    format_version: u32,
    model_id: &str,
    docs_commit: Option<String>,
    sections: &[SectionOut],
) -> Vec<u8> {
    write_parts(magic, format_version, model_id, docs_commit, sections).concat()
}

/// A small single-file container (`magic | header | postcard body`, no section table): the
/// handoff classifier's file.
pub fn write_container<T: Serialize>(
    magic: &[u8; 8],
    format_version: u32,
    model_id: &str,
    docs_commit: Option<String>,
    body: &T,
) -> Vec<u8> {
    let body = postcard::to_allocvec(body).expect("postcard serialisation of in-memory data cannot fail");
    write_raw(magic, format_version, model_id, docs_commit, body)
}

/// Verifies a [`write_container`] file (magic, version, length, checksum) and returns its header
/// and body bytes. Never panics, whatever the bytes.
pub fn read_container<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
    expected_version: u32,
    what: &'static str,
) -> Result<(Header, &'a [u8]), LoadError> {
    let (header, start) = read_header(bytes, magic, expected_version, what)?;
    let body =
        usize::try_from(header.body_len).ok().and_then(|len| bytes.get(start..start.checked_add(len)?)).ok_or(LoadError::Truncated)?;
    if xxhash_rust::xxh3::xxh3_64(body) != header.checksum {
        return Err(LoadError::Checksum);
    }
    Ok((header, body))
}

/// Wraps already-encoded body bytes in a valid header (right length and checksum), padded so
/// the body starts at a multiple of [`SECTION_ALIGN`]. The fuzz targets use it to get past the
/// checksum and exercise the section table and the checks behind it.
pub fn write_raw(magic: &[u8; 8], format_version: u32, model_id: &str, docs_commit: Option<String>, body: Vec<u8>) -> Vec<u8> {
    let header = Header {
        format_version,
        model_id: model_id.to_string(),
        docs_commit,
        body_len: body.len() as u64,
        checksum: xxhash_rust::xxh3::xxh3_64(&body),
    };
    let mut header = postcard::to_allocvec(&header).expect("header serialises");
    // postcard ignores trailing bytes: the zeros after the header only align the body.
    header.resize(align_up(12 + header.len()) - 12, 0);
    let mut out = Vec::with_capacity(12 + header.len() + body.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&body);
    out
}

/// Reads the header (magic, version) from the first bytes of a file.
fn read_header(bytes: &[u8], magic: &[u8; 8], expected_version: u32, what: &'static str) -> Result<(Header, usize), LoadError> {
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
    let header_bytes = bytes.get(12..12usize.saturating_add(hlen)).ok_or(LoadError::Truncated)?;
    // The version first, alone: a file of another version is named as such even if the rest
    // of its header has another shape.
    let (version, _) = postcard::take_from_bytes::<u32>(header_bytes).map_err(|e| LoadError::Corrupt(format!("header: {e}")))?;
    if version != expected_version {
        return Err(LoadError::Version { found: version, expected: expected_version });
    }
    let header: Header = postcard::from_bytes(header_bytes).map_err(|e| LoadError::Corrupt(format!("header: {e}")))?;
    Ok((header, 12 + hlen))
}

/// A file's verified head: its header and section table. Part files, if the head names any,
/// are checked against it when given to [`Head::open`].
pub struct Head {
    pub header: Header,
    blob: Blob,
    body_start: usize,
    /// (kind, part, offset, length)
    entries: Vec<(u32, u32, u64, u64)>,
    /// Each part's (length, xxh3).
    parts: Vec<(u64, u64)>,
}

impl Head {
    /// Verifies the head of a file (magic, version, length, checksum) and reads its section
    /// table. Bytes after the head's body are taken as its parts, in order (see `open`).
    pub fn read(blob: Blob, magic: &[u8; 8], expected_version: u32, what: &'static str) -> Result<Head, LoadError> {
        let bytes = blob.as_slice();
        let (header, body_start) = read_header(bytes, magic, expected_version, what)?;
        let rest = (bytes.len() - body_start) as u64;
        if rest < header.body_len {
            return Err(LoadError::Truncated);
        }
        let body = &bytes[body_start..body_start + header.body_len as usize];
        if xxhash_rust::xxh3::xxh3_64(body) != header.checksum {
            return Err(LoadError::Checksum);
        }
        let bad = |why: &str| LoadError::Corrupt(format!("section table: {why}"));
        let count = u32_at(body, 0) as usize;
        if body.len() < 4 || count > MAX_ENTRIES || body.len() < 4 + count * TABLE_ENTRY {
            return Err(bad("it does not fit in the file"));
        }
        let entries: Vec<(u32, u32, u64, u64)> = body[4..4 + count * TABLE_ENTRY]
            .chunks_exact(TABLE_ENTRY)
            .map(|e| {
                let u64_at = |at: usize| u64::from_le_bytes(e[at..at + 8].try_into().expect("8 bytes"));
                (u32_at(e, 0), u32_at(e, 1), u64_at(8), u64_at(16))
            })
            .collect();
        let mut parts = Vec::new();
        if let Some(&(_, part, offset, len)) = entries.iter().find(|e| e.0 == kind::PARTS) {
            let table = body.get(offset as usize..offset.saturating_add(len) as usize).filter(|_| part == 0 && len % 16 == 0);
            let table = table.ok_or_else(|| bad("the parts table is malformed"))?;
            parts = table
                .chunks_exact(16)
                .map(|p| (u64::from_le_bytes(p[..8].try_into().expect("8 bytes")), u64::from_le_bytes(p[8..].try_into().expect("8 bytes"))))
                .collect();
        }
        if entries.iter().any(|e| e.1 as usize > parts.len()) {
            return Err(bad("a section is in a part the file does not have"));
        }
        // After the body: nothing (parts come separately), or exactly the parts.
        let in_parts: u64 = parts.iter().map(|p| p.0).sum();
        if rest > header.body_len && rest < header.body_len + in_parts {
            return Err(LoadError::Truncated);
        }
        if rest != header.body_len && rest != header.body_len + in_parts {
            return Err(LoadError::Corrupt("trailing bytes after the body".into()));
        }
        Ok(Head { header, blob, body_start, entries, parts })
    }

    /// How many part files follow the head.
    pub fn part_count(&self) -> usize {
        self.parts.len()
    }

    /// Checks the parts (given, or following the head in its own buffer when `parts` is empty)
    /// and every section's place in them.
    pub fn open(self, parts: Vec<Blob>) -> Result<Sections, LoadError> {
        let body_end = self.body_start + self.header.body_len as usize;
        let mut files: Vec<Section> = vec![Section { blob: self.blob.clone(), start: self.body_start, end: body_end }];
        if parts.is_empty() {
            let mut at = body_end;
            for &(len, _) in &self.parts {
                let end = at.checked_add(len as usize).filter(|&e| e <= self.blob.as_slice().len());
                let end = end.ok_or(LoadError::MissingParts { expected: self.parts.len(), found: files.len() - 1 })?;
                files.push(Section { blob: self.blob.clone(), start: at, end });
                at = end;
            }
        } else {
            if parts.len() != self.parts.len() {
                return Err(LoadError::MissingParts { expected: self.parts.len(), found: parts.len() });
            }
            files.extend(parts.into_iter().map(|b| {
                let end = b.as_slice().len();
                Section { blob: b, start: 0, end }
            }));
        }
        for (file, &(len, sum)) in files[1..].iter().zip(&self.parts) {
            if (file.len() as u64) < len {
                return Err(LoadError::Truncated);
            }
            if file.len() as u64 != len || xxhash_rust::xxh3::xxh3_64(file.bytes()) != sum {
                return Err(LoadError::Checksum);
            }
        }
        let table_end = (4 + self.entries.len() * TABLE_ENTRY) as u64;
        let mut entries = Vec::with_capacity(self.entries.len());
        for &(kind, part, offset, len) in &self.entries {
            let file = &files[part as usize];
            let end = offset.checked_add(len).filter(|&e| e <= file.len() as u64);
            let end = end.ok_or_else(|| LoadError::Corrupt("section table: a section ends past its file".into()))?;
            if (part == 0 && offset < table_end) || offset as usize % SECTION_ALIGN != 0 {
                return Err(LoadError::Corrupt("section table: a section overlaps the table or is not aligned".into()));
            }
            entries.push((kind, Section { blob: file.blob.clone(), start: file.start + offset as usize, end: file.start + end as usize }));
        }
        Ok(Sections { entries })
    }
}

/// Verifies a whole file (head and parts, in one buffer) and reads its sections.
pub fn read_sections(blob: Blob, magic: &[u8; 8], expected_version: u32, what: &'static str) -> Result<(Header, Sections), LoadError> {
    let head = Head::read(blob, magic, expected_version, what)?;
    let header = head.header.clone();
    Ok((header, head.open(Vec::new())?))
}

/// The name of part `n` (from 1) of a file: `index.idx` → `index.idx.1`.
pub fn part_file_name(file: &str, n: usize) -> String {
    format!("{file}.{n}")
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, LoadError> {
    postcard::from_bytes(bytes).map_err(|e| LoadError::Corrupt(format!("{what}: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("postcard serialisation of in-memory data cannot fail")
}

/// A section of a doc page: the unit of retrieval and citation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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

/// Bytes stored as one or more pieces (a section cut to fit part files), read where they lie.
#[derive(Clone, Default)]
pub struct Pieces {
    pieces: Vec<Section>,
    /// The offset of each piece's first byte in the whole.
    starts: Vec<usize>,
    len: usize,
}

impl Pieces {
    pub fn new(pieces: Vec<Section>) -> Pieces {
        let mut starts = Vec::with_capacity(pieces.len());
        let mut len = 0;
        for p in &pieces {
            starts.push(len);
            len += p.len();
        }
        Pieces { pieces, starts, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Each piece's bytes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.pieces.iter().map(Section::bytes)
    }

    /// Bytes `from..to` of the whole as the slices of the pieces that hold them, in order.
    pub fn slices(&self, from: usize, to: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let (from, to) = (from.min(to).min(self.len), to.min(self.len));
        self.pieces.iter().zip(&self.starts).filter_map(move |(p, &start)| {
            let (a, b) = (from.max(start) - start, to.min(start + p.len()).saturating_sub(start));
            (a < b).then(|| p.bytes().get(a..b)).flatten()
        })
    }

    /// Bytes `from..to` of the whole: borrowed when one piece holds them, else copied together.
    pub fn range(&self, from: usize, to: usize) -> Option<std::borrow::Cow<'_, [u8]>> {
        if from > to || to > self.len {
            return None;
        }
        let first = self.starts.partition_point(|&s| s <= from).saturating_sub(1);
        let piece = self.pieces.get(first)?;
        let local = from - self.starts[first];
        if local + (to - from) <= piece.len() {
            return piece.bytes().get(local..local + (to - from)).map(std::borrow::Cow::Borrowed);
        }
        let mut out = Vec::with_capacity(to - from);
        for (p, &start) in self.pieces.iter().zip(&self.starts).skip(first) {
            let (a, b) = (from.max(start) - start, to.min(start + p.len()).saturating_sub(start));
            if a < b {
                out.extend_from_slice(p.bytes().get(a..b)?);
            }
        }
        Some(std::borrow::Cow::Owned(out))
    }
}

/// Uncompressed bytes of records per deflated block: small enough that reading one chunk
/// inflates little (≈ 20 records), big enough to compress (2.1× on the synthetic corpus,
/// 2.4× on Baton's docs; 4 KB blocks: 1.9× and 2.1×).
const CHUNK_BLOCK_BYTES: usize = 16 << 10;
/// The most a block may inflate to: a file claiming more is refused (no allocation bombs).
const MAX_CHUNK_BLOCK_BYTES: usize = 4 << 20;

/// The chunks of an index, by id. Loaded from a file, the chunks of a block are inflated and
/// decoded the first time one of them is read, and kept: an answer reads a handful, and
/// decoding all of them (half the file's bytes) was most of a cold start.
#[derive(Default)]
pub struct Chunks(ChunkStore);

enum ChunkStore {
    Decoded(Vec<Chunk>),
    Stored {
        /// (n + 1): chunk `i`'s record is bytes `offsets[i]..offsets[i + 1]` of the records
        /// uncompressed.
        offsets: Vec<u32>,
        /// (B + 1) (first chunk, deflated offset) pairs.
        blocks: Vec<(u32, u32)>,
        deflated: Pieces,
        decoded: Box<[OnceLock<Chunk>]>,
    },
}

impl Default for ChunkStore {
    fn default() -> Self {
        ChunkStore::Decoded(Vec::new())
    }
}

impl From<Vec<Chunk>> for Chunks {
    fn from(chunks: Vec<Chunk>) -> Chunks {
        Chunks(ChunkStore::Decoded(chunks))
    }
}

impl Chunks {
    pub fn len(&self) -> usize {
        match &self.0 {
            ChunkStore::Decoded(v) => v.len(),
            ChunkStore::Stored { decoded, .. } => decoded.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> Option<&Chunk> {
        match &self.0 {
            ChunkStore::Decoded(v) => v.get(i),
            ChunkStore::Stored { offsets, blocks, deflated, decoded } => {
                let slot = decoded.get(i)?;
                if let Some(c) = slot.get() {
                    return Some(c);
                }
                // Inflate the chunk's block and keep every chunk of it (neighbours are often
                // read together: they are sections of one page). The tables were checked at
                // load; a block that does not inflate or a record that does not decode can only
                // come from a file forged with a valid checksum: it reads as empty sections.
                let b = blocks.partition_point(|&(first, _)| first as usize <= i).saturating_sub(1);
                let ((first, from), (end, to)) = (blocks[b], blocks[b + 1]);
                let base = offsets[first as usize] as usize;
                let mut block = vec![0u8; offsets[end as usize] as usize - base];
                let inflated = miniz_oxide::inflate::decompress_slice_iter_to_slice(
                    &mut block,
                    deflated.slices(from as usize, to as usize),
                    false,
                    true,
                );
                let whole = inflated == Ok(block.len());
                for c in first as usize..end as usize {
                    let record = block.get(offsets[c] as usize - base..offsets[c + 1] as usize - base).filter(|_| whole);
                    let _ = decoded[c].set(record.and_then(|r| postcard::from_bytes(r).ok()).unwrap_or_default());
                }
                slot.get()
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Chunk> + '_ {
        (0..self.len()).filter_map(move |i| self.get(i))
    }

    /// The three sections that store them: offsets, blocks, deflated records.
    fn encode(&self) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let mut offsets = vec![0u32];
        let mut records = Vec::new();
        for c in self.iter() {
            records.extend_from_slice(&encode(c));
            offsets.push(records.len() as u32);
        }
        let (mut blocks, mut deflated, mut first) = (Vec::new(), Vec::new(), 0usize);
        while first < self.len() {
            let mut end = first + 1;
            while end < self.len() && (offsets[end + 1] - offsets[first]) as usize <= CHUNK_BLOCK_BYTES {
                end += 1;
            }
            blocks.extend([first as u32, deflated.len() as u32]);
            let block = &records[offsets[first] as usize..offsets[end] as usize];
            deflated.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(block, 6));
            first = end;
        }
        blocks.extend([self.len() as u32, deflated.len() as u32]);
        (u32_bytes(offsets), u32_bytes(blocks), deflated)
    }

    fn load(offsets: &[u8], blocks: &[u8], deflated: Pieces) -> Result<Chunks, LoadError> {
        let bad = || LoadError::Corrupt("chunk tables do not fit together".into());
        let u32s = |b: &[u8]| b.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes"))).collect::<Vec<u32>>();
        if offsets.len() < 4 || offsets.len() % 4 != 0 || blocks.len() < 8 || blocks.len() % 8 != 0 {
            return Err(bad());
        }
        let offsets = u32s(offsets);
        let blocks: Vec<(u32, u32)> = u32s(blocks).chunks_exact(2).map(|p| (p[0], p[1])).collect();
        let n = offsets.len() - 1;
        let (last_chunk, last_byte) = *blocks.last().expect("one at least");
        let rising = offsets[0] == 0 && offsets.windows(2).all(|w| w[0] <= w[1]);
        // `rising` first: the block sizes below subtract offsets.
        let blocks_ok = rising
            && blocks[0] == (0, 0)
            && (n == 0 || blocks.len() >= 2)
            && blocks.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
            && last_chunk as usize == n
            && last_byte as usize == deflated.len()
            && blocks.windows(2).all(|w| (offsets[w[1].0 as usize] - offsets[w[0].0 as usize]) as usize <= MAX_CHUNK_BLOCK_BYTES);
        if !rising || !blocks_ok {
            return Err(bad());
        }
        let decoded = (0..n).map(|_| OnceLock::new()).collect();
        Ok(Chunks(ChunkStore::Stored { offsets, blocks, deflated, decoded }))
    }
}

impl std::ops::Index<usize> for Chunks {
    type Output = Chunk;

    fn index(&self, i: usize) -> &Chunk {
        self.get(i).unwrap_or_else(|| panic!("chunk {i} of {}", self.len()))
    }
}

/// Everything an index holds. `config` (and any other plain field) travels as postcard in the
/// `META` section; the chunks, BM25 and the embeddings have sections of their own, read in place.
#[derive(Serialize, Deserialize)]
pub struct IndexBody {
    pub config: SiteConfig,
    #[serde(skip)]
    pub chunks: Chunks,
    #[serde(skip)]
    pub bm25: Bm25,
    /// Every chunk's embedding, as int8 rows searched where they lie.
    #[serde(skip)]
    pub vectors: Vectors,
    /// The handoff classifier: the shipped weights plus the site's own examples
    /// (`engine::handoff_classifier`), checked at load like everything else.
    pub handoff: HandoffClassifier,
    /// The first chunk of each page, ascending (a page's sections are adjacent): the engine
    /// scores pages as documents without decoding every chunk record at load.
    pub page_starts: Vec<u32>,
}

impl IndexBody {
    /// A body over `chunks` (a page's sections adjacent), with its page table.
    pub fn new(config: SiteConfig, chunks: Vec<Chunk>, bm25: Bm25, vectors: Vectors, handoff: HandoffClassifier) -> IndexBody {
        let page_starts = (0..chunks.len()).filter(|&i| i == 0 || chunks[i - 1].path != chunks[i].path).map(|i| i as u32).collect();
        IndexBody { config, chunks: chunks.into(), bm25, vectors, handoff, page_starts }
    }
}

/// A loaded, verified index.
pub struct Index {
    pub header: Header,
    pub body: IndexBody,
    /// The bytes of its files, for the worker's cache accounting.
    pub file_bytes: usize,
}

impl Index {
    /// The index's files: the head (`index.idx`) and, past [`PART_BYTES`], its parts
    /// (`index.idx.1`, …).
    pub fn to_parts(body: &IndexBody, model_id: &str, docs_commit: Option<String>) -> Vec<Vec<u8>> {
        Index::to_parts_of(PART_BYTES, HEADER_ROOM, body, model_id, docs_commit)
    }

    /// `to_parts` with files of at most `part_bytes` (benchmarks compare part sizes).
    pub fn to_parts_sized(body: &IndexBody, model_id: &str, docs_commit: Option<String>, part_bytes: usize) -> Vec<Vec<u8>> {
        Index::to_parts_of(part_bytes.max(2 * HEADER_ROOM), HEADER_ROOM, body, model_id, docs_commit)
    }

    fn to_parts_of(part_bytes: usize, header_room: usize, body: &IndexBody, model_id: &str, docs_commit: Option<String>) -> Vec<Vec<u8>> {
        let meta = encode(body);
        let (offsets, blocks, records) = body.chunks.encode();
        let vectors = body.vectors.encode();
        let bm25 = body.bm25.encode();
        let mut sections = vec![
            SectionOut::new(kind::META, &meta, 1),
            SectionOut::new(kind::CHUNK_OFFSETS, &offsets, 4),
            SectionOut::new(kind::CHUNK_BLOCKS, &blocks, 8),
            SectionOut::new(kind::CHUNK_RECORDS, &records, 1),
        ];
        sections.extend(bm25.iter().chain(&vectors).map(|(k, b, cut)| SectionOut::new(*k, b, *cut)));
        write_parts_of(part_bytes, header_room, INDEX_MAGIC, INDEX_FORMAT_VERSION, model_id, docs_commit, &sections)
    }

    /// The index as one buffer: the head followed by its parts (what `from_bytes` reads).
    pub fn to_bytes(body: &IndexBody, model_id: &str, docs_commit: Option<String>) -> Vec<u8> {
        Index::to_parts(body, model_id, docs_commit).concat()
    }

    /// Verifies and opens an index where it lies: the head, followed in the same buffer by its
    /// parts if it has any (pass a `Vec<u8>`: it is kept, not copied). Never panics, whatever
    /// the bytes.
    pub fn from_bytes(bytes: impl Into<Blob>) -> Result<Index, LoadError> {
        Index::from_head(Index::read_head(bytes)?, Vec::new())
    }

    /// Verifies an index file's head; `part_count` then says how many part files to fetch.
    pub fn read_head(bytes: impl Into<Blob>) -> Result<Head, LoadError> {
        Head::read(bytes.into(), INDEX_MAGIC, INDEX_FORMAT_VERSION, "index")
    }

    /// Opens an index from its verified head and its part files (`index.idx.1`, … in order;
    /// none when the head has none or they follow it in its own buffer).
    pub fn from_head(head: Head, parts: Vec<Blob>) -> Result<Index, LoadError> {
        let file_bytes = head.blob.as_slice().len() + parts.iter().map(|p| p.as_slice().len()).sum::<usize>();
        let header = head.header.clone();
        let sections = head.open(parts)?;
        let mut body: IndexBody = decode(&sections.joined(kind::META, "meta")?, "meta")?;
        body.bm25 = Bm25::load(&sections)?;
        body.bm25.check().map_err(LoadError::Corrupt)?;
        body.config.validate().map_err(|e| LoadError::Corrupt(format!("site config: {}", e.message)))?;
        body.chunks = Chunks::load(
            &sections.joined(kind::CHUNK_OFFSETS, "chunk offsets")?,
            &sections.joined(kind::CHUNK_BLOCKS, "chunk blocks")?,
            Pieces::new(sections.pieces(kind::CHUNK_RECORDS)),
        )?;
        body.vectors = Vectors::load(&sections)?;
        let n = body.chunks.len();
        if body.bm25.docs() != n || body.vectors.len() != n {
            return Err(LoadError::Corrupt("chunk tables disagree".into()));
        }
        body.handoff.check().map_err(LoadError::Corrupt)?;
        let ascending = body.page_starts.windows(2).all(|w| w[0] < w[1]);
        let in_range = body.page_starts.last().is_none_or(|&l| (l as usize) < n);
        if !ascending || !in_range || (n > 0 && body.page_starts.first() != Some(&0)) {
            return Err(LoadError::Corrupt("the page table disagrees with the chunks".into()));
        }
        Ok(Index { header, body, file_bytes })
    }

    /// Reads only the header of an index file (e.g. the first bytes of a download) to learn
    /// its model: nothing is verified beyond magic and version.
    pub fn peek_header(prefix: &[u8]) -> Result<Header, LoadError> {
        read_header(prefix, INDEX_MAGIC, INDEX_FORMAT_VERSION, "index").map(|(h, _)| h)
    }

    /// How many part files follow an index's head, read from its first bytes (the section
    /// table and the `PARTS` section come first) without verifying anything: to fetch the
    /// parts together with the head. 0 when the prefix does not tell; `from_head` checks.
    pub fn peek_part_count(prefix: &[u8]) -> usize {
        let Ok((_, start)) = read_header(prefix, INDEX_MAGIC, INDEX_FORMAT_VERSION, "index") else { return 0 };
        let body = prefix.get(start..).unwrap_or(&[]);
        let count = (u32_at(body, 0) as usize).min(MAX_ENTRIES);
        body.get(4..4 + count * TABLE_ENTRY)
            .and_then(|t| t.chunks_exact(TABLE_ENTRY).find(|e| u32_at(e, 0) == kind::PARTS))
            .map_or(0, |e| (u64::from_le_bytes(e[16..24].try_into().expect("8 bytes")) / 16) as usize)
    }

    /// The `k` chunks whose embeddings are closest to `query` (a unit vector of the model's
    /// dimensions), best first, with their cosine similarity.
    pub fn nearest(&self, query: &[f32], k: usize) -> Vec<(u32, f32)> {
        self.body.vectors.nearest(query, k)
    }

    /// Cosine similarity of chunk `chunk`'s embedding with a unit vector.
    pub fn cosine(&self, chunk: u32, query: &[f32]) -> f32 {
        self.body.vectors.cosine(chunk as usize, query)
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
    let meta = encode(model);
    let mut sections = vec![SectionOut::new(kind::META, &meta, 0)];
    sections.extend(model.sections().into_iter().map(|(k, b)| SectionOut::new(k, b, 0)));
    write_sections(MODEL_MAGIC, MODEL_FORMAT_VERSION, &model.id, None, &sections)
}

/// Verifies and opens a model where it lies (pass a `Vec<u8>` or [`Blob::from_static`]).
pub fn model_from_bytes(bytes: impl Into<Blob>) -> Result<Model, LoadError> {
    let (header, sections) = read_sections(bytes.into(), MODEL_MAGIC, MODEL_FORMAT_VERSION, "model")?;
    let mut model: Model = decode(sections.require(kind::META, "meta")?.bytes(), "meta")?;
    if model.id != header.model_id {
        return Err(LoadError::Corrupt("model id disagrees with its header".into()));
    }
    model.attach(&sections)?;
    model.check().map_err(LoadError::Corrupt)?;
    Ok(model)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::bm25::WeightedDoc;
    use crate::engine::{embed, text, Engine};
    use std::sync::Arc;

    fn sealed(magic: &[u8; 8], version: u32, sections: &[(u32, &[u8])]) -> Vec<u8> {
        let out: Vec<SectionOut> = sections.iter().map(|(k, b)| SectionOut::new(*k, b, 0)).collect();
        write_sections(magic, version, "m", None, &out)
    }

    fn open(bytes: &[u8], magic: &[u8; 8], version: u32) -> Result<Sections, LoadError> {
        read_sections(Blob::from(bytes), magic, version, "model").map(|(_, s)| s)
    }

    #[test]
    fn container_refuses_damage() {
        let bytes = sealed(MODEL_MAGIC, 1, &[(kind::META, b"abc"), (kind::ROWS, &[7; 100])]);
        assert!(open(&bytes, MODEL_MAGIC, 1).is_ok());
        assert_eq!(open(&bytes[..bytes.len() - 1], MODEL_MAGIC, 1).err(), Some(LoadError::Truncated));
        assert_eq!(open(&bytes[..40], MODEL_MAGIC, 1).err(), Some(LoadError::Truncated));
        assert_eq!(open(&bytes, INDEX_MAGIC, 1).err(), Some(LoadError::Foreign { expected: "model" }));
        assert_eq!(open(&bytes, MODEL_MAGIC, 2).err(), Some(LoadError::Version { found: 1, expected: 2 }));
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(open(&bad, MODEL_MAGIC, 1).err(), Some(LoadError::Checksum));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(open(&longer, MODEL_MAGIC, 1), Err(LoadError::Corrupt(_))), "trailing bytes");
        assert!(open(b"", MODEL_MAGIC, 1).is_err());
        assert!(open(b"BATONMDL", MODEL_MAGIC, 1).is_err());
    }

    #[test]
    fn sections_are_aligned_and_found_where_written() {
        let rows: Vec<u8> = (0..=255).collect();
        let bytes = sealed(INDEX_MAGIC, 9, &[(kind::META, b"x"), (kind::ROWS, &rows)]);
        let sections = open(&bytes, INDEX_MAGIC, 9).unwrap();
        assert_eq!(sections.require(kind::ROWS, "rows").unwrap().bytes(), rows.as_slice());
        let offset = bytes.windows(256).position(|w| w == rows.as_slice()).unwrap();
        assert_eq!(offset % SECTION_ALIGN, 0, "a table starts on a 64-byte line of the file");
        assert!(sections.get(kind::CODES).unwrap().is_none());
        assert!(matches!(sections.require(kind::CODES, "codes"), Err(LoadError::Corrupt(_))));
        assert_eq!(sections.sizes().iter().filter(|(k, _)| *k != kind::PARTS).count(), 2);
    }

    /// A body whose table says what the test wants, sealed with a valid checksum.
    fn forged(entries: &[(u32, u32, u64, u64)], body_len: usize) -> Vec<u8> {
        let mut b = (entries.len() as u32).to_le_bytes().to_vec();
        for &(kind, part, offset, len) in entries {
            b.extend_from_slice(&kind.to_le_bytes());
            b.extend_from_slice(&part.to_le_bytes());
            b.extend_from_slice(&offset.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
        }
        b.resize(body_len, 0);
        write_raw(INDEX_MAGIC, 9, "m", None, b)
    }

    #[test]
    fn forged_section_tables_are_refused() {
        let opens = |b: Vec<u8>| open(&b, INDEX_MAGIC, 9).is_ok();
        assert!(opens(forged(&[(1, 0, 64, 10)], 256)));
        assert!(!opens(forged(&[(1, 0, 64, 1000)], 256)), "past the end");
        assert!(!opens(forged(&[(1, 0, 64, u64::MAX)], 256)), "overflow");
        assert!(!opens(forged(&[(1, 0, 0, 10)], 256)), "over the table");
        assert!(!opens(forged(&[(1, 0, 65, 10)], 256)), "unaligned");
        assert!(!opens(forged(&[(1, 3, 64, 10)], 256)), "in a part the file does not have");
        assert!(!opens(forged(&[(kind::PARTS, 0, 64, 7)], 256)), "a parts table of half entries");
        assert!(!opens(forged(&[(kind::PARTS, 0, 64, 16)], 256)), "a part that is missing");
        assert!(opens(forged(&[], 64)));
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.resize(64, 0);
        assert!(open(&write_raw(INDEX_MAGIC, 9, "m", None, huge), INDEX_MAGIC, 9).is_err());
        // A piece-wise section is refused where one piece is expected.
        let two = forged(&[(5, 0, 64, 8), (5, 0, 128, 8)], 256);
        let sections = open(&two, INDEX_MAGIC, 9).unwrap();
        assert_eq!(sections.pieces(5).len(), 2);
        assert!(sections.get(5).is_err());
        assert_eq!(sections.joined(5, "rows").unwrap().len(), 16);
    }

    /// A small real index over the toy model's words.
    pub(crate) fn small_body() -> IndexBody {
        body_of(&["deploy the widget", "publish widgets", "cat unrelated", "deploy cat", "widget cat publish"])
    }

    fn body_of(texts: &[&str]) -> IndexBody {
        let model = embed::tests::toy_model();
        body_over(&model, HandoffClassifier::uniform(&model.id, model.dims), texts)
    }

    /// A body of one-section pages (`0.md`, `1.md`, …) over `texts`, embedded with `model`.
    pub(crate) fn body_over(model: &Model, handoff: HandoffClassifier, texts: &[&str]) -> IndexBody {
        let chunks: Vec<Chunk> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Chunk {
                path: format!("{i}.md"),
                url: format!("/docs/{i}"),
                title: format!("Page {i}"),
                heading: String::new(),
                breadcrumb: format!("Page {i}"),
                text: t.to_string(),
            })
            .collect();
        let terms: Vec<Vec<String>> = chunks.iter().map(|c| text::terms(&c.text)).collect();
        let bm25 = Bm25::build(&terms.iter().map(|t| WeightedDoc { parts: vec![(t.as_slice(), 1)] }).collect::<Vec<_>>());
        let embeddings: Vec<Vec<f32>> = chunks.iter().map(|c| model.embed(&c.text)).collect();
        let vectors = Vectors::build(&embeddings, model.dims as usize, true);
        IndexBody::new(SiteConfig::default(), chunks, bm25, vectors, handoff)
    }

    #[test]
    fn a_built_index_loads_and_answers() {
        let body = small_body();
        let bytes = Index::to_bytes(&body, "toy", None);
        assert_eq!(Index::to_parts(&body, "toy", None).len(), 1, "a small index is one file");
        let index = Index::from_bytes(bytes.clone()).unwrap();
        assert_eq!(index.body.vectors.len(), 5);
        assert_eq!(index.body.chunks.len(), 5);
        assert_eq!(index.body.chunks[3], body.chunks[3], "a chunk reads back as written");
        assert_eq!(index.body.chunks.iter().count(), 5);
        assert_eq!(Index::peek_header(&bytes[..64]).unwrap().model_id, "toy");
        let engine = Engine::new(index, Arc::new(embed::tests::toy_model())).unwrap();
        let hits = engine.search("deploy", 3);
        assert!(hits.iter().any(|h| h.chunk == 0), "{hits:?}");
    }

    #[test]
    fn a_big_index_continues_in_verified_part_files() {
        let words = ["deploy the widget", "publish widgets", "cat unrelated", "deploy cat", "widget cat publish"];
        let texts: Vec<String> = (0..300).map(|i| format!("{} {} number {i}", words[i % 5], words[i * 7 % 5])).collect();
        let body = body_of(&texts.iter().map(String::as_str).collect::<Vec<_>>());
        // Parts of 2 KB: the big sections are cut into pieces (the 1.2 KB of rows at whole rows).
        let parts = Index::to_parts_of(2048, 256, &body, "toy", None);
        assert!(parts.len() > 5, "{} parts", parts.len());
        assert!(parts.iter().all(|p| p.len() <= 2048), "{:?}", parts.iter().map(Vec::len).collect::<Vec<_>>());
        let (_, sections) = read_sections(Blob::from(parts.concat()), INDEX_MAGIC, INDEX_FORMAT_VERSION, "index").unwrap();
        assert!(sections.pieces(kind::ROWS).len() > 1 && sections.pieces(kind::BM25_POSTINGS).len() > 1);
        let reads_like = |index: Index| {
            assert_eq!(index.body.chunks.iter().cloned().collect::<Vec<_>>(), body.chunks.iter().cloned().collect::<Vec<_>>());
            let q = embed::tests::toy_model().embed("deploy widgets");
            assert_eq!(index.nearest(&q, 3), body.vectors.nearest(&q, 3));
            let terms = vec!["deploy".to_string(), "number".to_string()];
            assert_eq!(index.body.bm25.search(&terms, 5), body.bm25.search(&terms, 5));
        };
        // As separate files…
        let head = Index::read_head(parts[0].clone()).unwrap();
        assert_eq!(head.part_count(), parts.len() - 1);
        reads_like(Index::from_head(head, parts[1..].iter().cloned().map(Blob::from).collect()).unwrap());
        // …or one after the other in one buffer.
        reads_like(Index::from_bytes(parts.concat()).unwrap());
        // A missing, damaged, reordered or foreign part is named as such.
        let with = |files: Vec<Vec<u8>>| {
            Index::from_head(Index::read_head(parts[0].clone()).unwrap(), files.into_iter().map(Blob::from).collect()).err()
        };
        assert_eq!(
            with(parts[1..parts.len() - 1].to_vec()),
            Some(LoadError::MissingParts { expected: parts.len() - 1, found: parts.len() - 2 })
        );
        assert_eq!(Index::from_bytes(parts[0].clone()).err(), Some(LoadError::MissingParts { expected: parts.len() - 1, found: 0 }));
        assert_eq!(Index::peek_part_count(&parts[0][..parts[0].len().min(4096)]), parts.len() - 1, "told by the first bytes");
        assert_eq!(Index::peek_part_count(&Index::to_bytes(&body, "toy", None)), 0);
        assert_eq!(Index::peek_part_count(b"BATONIDX"), 0);
        let mut damaged = parts[1..].to_vec();
        damaged[0][7] ^= 1;
        assert_eq!(with(damaged), Some(LoadError::Checksum));
        let mut swapped = parts[1..].to_vec();
        swapped.swap(0, 1);
        assert!(matches!(with(swapped), Some(LoadError::Checksum | LoadError::Truncated)));
        let mut short = parts[1..].to_vec();
        short[1].pop();
        assert_eq!(with(short), Some(LoadError::Truncated));
    }

    #[test]
    fn an_old_index_is_refused_by_version() {
        // Format 4's header had the same fields: its version is read, not guessed.
        let old = write_raw(INDEX_MAGIC, 4, "toy", None, vec![1, 2, 3]);
        assert_eq!(Index::from_bytes(old.clone()).err(), Some(LoadError::Version { found: 4, expected: INDEX_FORMAT_VERSION }));
        assert_eq!(Index::peek_header(&old).err(), Some(LoadError::Version { found: 4, expected: INDEX_FORMAT_VERSION }));
    }

    #[test]
    fn chunk_tables_that_do_not_fit_are_refused() {
        let deflated = || Pieces::new(vec![Section::owned(vec![0; 10])]);
        let one_block = u32_bytes([0, 0, 2, 10]);
        assert!(Chunks::load(&u32_bytes([0, 4, 10]), &one_block, deflated()).is_ok());
        assert!(Chunks::load(&u32_bytes([0, 11, 10]), &one_block, deflated()).is_err(), "not monotone");
        assert!(Chunks::load(&u32_bytes([1, 4, 10]), &one_block, deflated()).is_err(), "not from 0");
        assert!(Chunks::load(&[0; 3], &one_block, deflated()).is_err(), "not u32s");
        assert!(Chunks::load(&u32_bytes([0, 4, 10]), &u32_bytes([0, 0, 2, 9]), deflated()).is_err(), "short of the records");
        assert!(Chunks::load(&u32_bytes([0, 4, 10]), &u32_bytes([0, 0, 3, 10]), deflated()).is_err(), "past the chunks");
        assert!(Chunks::load(&u32_bytes([0, 4, 10]), &u32_bytes([0, 0, 1, 4, 1, 10, 2, 10]), deflated()).is_err(), "a block twice");
        let huge = u32_bytes([0, u32::MAX / 2, u32::MAX]);
        assert!(Chunks::load(&huge, &u32_bytes([0, 0, 2, 10]), deflated()).is_err(), "a block inflating to gigabytes");
        // Blocks that do not inflate, and records that do not decode, read as empty sections.
        let chunks = Chunks::load(&u32_bytes([0, 4, 10]), &one_block, Pieces::new(vec![Section::owned(vec![0xff; 10])])).unwrap();
        assert_eq!(chunks[1], Chunk::default());
        let garbage = miniz_oxide::deflate::compress_to_vec(&[0xff; 10], 6);
        let n = garbage.len() as u32;
        let chunks = Chunks::load(&u32_bytes([0, 4, 10]), &u32_bytes([0, 0, 2, n]), Pieces::new(vec![Section::owned(garbage)])).unwrap();
        assert_eq!(chunks[0], Chunk::default());
    }

    #[test]
    fn chunks_read_back_through_their_blocks() {
        let texts: Vec<String> = (0..200).map(|i| format!("section {i}: {}", "some words to compress ".repeat(i % 40))).collect();
        let chunks: Vec<Chunk> =
            texts.iter().enumerate().map(|(i, t)| Chunk { path: format!("{i}.md"), text: t.clone(), ..Chunk::default() }).collect();
        let (offsets, blocks, deflated) = Chunks::from(chunks.clone()).encode();
        assert!(blocks.len() / 8 > 3, "several blocks");
        let raw = u32_at(&offsets, offsets.len() / 4 - 1) as usize;
        assert!(deflated.len() * 3 < raw, "compressed: {} of {raw} bytes", deflated.len());
        // In one piece, or cut anywhere across pieces.
        let whole = Chunks::load(&offsets, &blocks, Pieces::new(vec![Section::owned(deflated.clone())])).unwrap();
        let cut = deflated.len() / 3;
        let pieces = Pieces::new(vec![Section::owned(deflated[..cut].to_vec()), Section::owned(deflated[cut..].to_vec())]);
        let split = Chunks::load(&offsets, &blocks, pieces).unwrap();
        for i in [199, 0, 57, 58, 120] {
            assert_eq!(whole[i], chunks[i]);
            assert_eq!(split[i], chunks[i]);
        }
        assert_eq!(split.iter().cloned().collect::<Vec<_>>(), chunks);
    }

    #[test]
    fn a_record_across_two_pieces_reads_whole() {
        let pieces = Pieces::new(vec![Section::owned(b"abc".to_vec()), Section::owned(b"defg".to_vec()), Section::owned(b"h".to_vec())]);
        assert_eq!(pieces.range(1, 2).unwrap().as_ref(), b"b");
        assert!(matches!(pieces.range(3, 7).unwrap(), std::borrow::Cow::Borrowed(_)));
        assert_eq!(pieces.range(2, 8).unwrap().as_ref(), b"cdefgh");
        assert_eq!(pieces.range(0, 0).unwrap().as_ref(), b"");
        assert!(pieces.range(5, 9).is_none());
        assert!(pieces.range(5, 4).is_none());
    }

    #[test]
    fn damaged_index_bytes_never_panic() {
        // Flip bytes inside the body and re-seal the checksum, so the table, the decoders and the
        // checks (not the checksum) meet the damage; loading and searching must never panic.
        let bytes = Index::to_bytes(&small_body(), "toy", None);
        let (_, body_start) = read_header(&bytes, INDEX_MAGIC, INDEX_FORMAT_VERSION, "index").unwrap();
        let body = bytes[body_start..].to_vec();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let model = Arc::new(embed::tests::toy_model());
        let mut loaded = 0;
        for _ in 0..600 {
            let mut b = body.clone();
            for _ in 0..1 + next() % 3 {
                let i = (next() % b.len() as u64) as usize;
                b[i] = next() as u8;
            }
            if next() % 8 == 0 {
                b.truncate((next() % b.len() as u64) as usize);
            }
            let bytes = write_raw(INDEX_MAGIC, INDEX_FORMAT_VERSION, "toy", None, b);
            if let Ok(index) = Index::from_bytes(bytes) {
                loaded += 1;
                if let Ok(engine) = Engine::new(index, model.clone()) {
                    let _ = engine.answer("deploy the widgets");
                }
            }
        }
        assert!(loaded > 0, "some damage (inside texts, scales) still loads, and is searched");
    }
}
