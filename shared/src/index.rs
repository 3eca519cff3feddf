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
/// Bump on every change to `IndexBody` or its parts. 2: the HNSW is stored once (the vectors
/// come from its points); 3: the conversation rules' config; 4: `inbox_url` and `webhooks` in
/// the site config; 5: `assignment` and `email` in the site config.
pub const INDEX_FORMAT_VERSION: u32 = 5;
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
    /// The chunk embeddings in an instant-distance HNSW graph (value = chunk), as postcard
    /// bytes of its own: the loader checks the graph's shape (neighbour ids in range, …) before
    /// handing it to instant-distance, whose search would panic on out-of-range ids.
    #[serde(with = "serde_bytes")]
    pub hnsw: Vec<u8>,
}

/// The HNSW graph with the same serde shape as `instant_distance::HnswMap<Vector, u32>`, whose
/// fields are private: decoding into it first lets the loader check what the library trusts.
#[derive(Deserialize)]
struct HnswMapShape {
    hnsw: HnswShape,
    values: Vec<u32>,
}

#[derive(Deserialize)]
struct HnswShape {
    #[allow(dead_code)]
    ef_search: usize,
    points: Vec<Vector>,
    zero: Vec<Neighbours<64>>,
    layers: Vec<Vec<Neighbours<32>>>,
}

/// One node's neighbour ids (`u32::MAX` = none), serialised as a fixed-size tuple.
struct Neighbours<const N: usize>([u32; N]);

impl<'de, const N: usize> Deserialize<'de> for Neighbours<N> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const N: usize>;
        impl<'de, const N: usize> serde::de::Visitor<'de> for V<N> {
            type Value = Neighbours<N>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{N} neighbour ids")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut ids = [u32::MAX; N];
                for (i, slot) in ids.iter_mut().enumerate() {
                    *slot = seq.next_element()?.ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                Ok(Neighbours(ids))
            }
        }
        d.deserialize_tuple(N, V::<N>)
    }
}

const NO_NEIGHBOUR: u32 = u32::MAX;

/// Builds the stored form of the HNSW over `vectors` (one per chunk, in chunk order).
pub fn hnsw_bytes(hnsw: &instant_distance::HnswMap<Vector, u32>) -> Vec<u8> {
    postcard::to_allocvec(hnsw).expect("postcard serialisation of in-memory data cannot fail")
}

/// Checks a stored HNSW against the chunk count; returns the embedding of every chunk (in
/// chunk order) and the graph, ready to search without panicking.
fn load_hnsw(bytes: &[u8], chunks: usize) -> Result<(Vec<Vector>, instant_distance::HnswMap<Vector, u32>), LoadError> {
    let bad = |why: &str| LoadError::Corrupt(format!("HNSW graph: {why}"));
    let shape: HnswMapShape = postcard::from_bytes(bytes).map_err(|e| bad(&e.to_string()))?;
    let HnswMapShape { hnsw: HnswShape { points, zero, layers, .. }, values } = shape;
    let n = points.len();
    if n != chunks || zero.len() != n || values.len() != n {
        return Err(bad("its size differs from the number of chunks"));
    }
    let in_range = |ids: &[u32], len: usize| ids.iter().all(|&id| id == NO_NEIGHBOUR || (id as usize) < len);
    if !zero.iter().all(|node| in_range(&node.0, n)) {
        return Err(bad("a neighbour id is out of range"));
    }
    // Upper layers shrink going up; a search enters the top one at point 0 and descends.
    let mut below = n;
    for layer in &layers {
        if layer.is_empty() || layer.len() > below || !layer.iter().all(|node| in_range(&node.0, layer.len())) {
            return Err(bad("an upper layer is malformed"));
        }
        below = layer.len();
    }
    let mut vectors: Vec<Option<Vector>> = vec![None; n];
    for (point, &chunk) in points.into_iter().zip(&values) {
        match vectors.get_mut(chunk as usize) {
            Some(slot @ None) => *slot = Some(point),
            _ => return Err(bad("its values are not one per chunk")),
        }
    }
    let vectors = vectors.into_iter().map(|v| v.expect("a permutation fills every slot")).collect();
    let graph = postcard::from_bytes(bytes).map_err(|e| bad(&e.to_string()))?;
    Ok((vectors, graph))
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
    write_raw(magic, format_version, model_id, docs_commit, body)
}

/// Wraps already-encoded body bytes in a valid header (right length and checksum). The fuzz
/// targets use it to get past the checksum and exercise the decoders and checks behind it.
pub fn write_raw(magic: &[u8; 8], format_version: u32, model_id: &str, docs_commit: Option<String>, body: Vec<u8>) -> Vec<u8> {
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
    /// Every chunk's embedding, by chunk (taken from the graph's points).
    pub vectors: Vec<Vector>,
    /// The decoded, checked HNSW graph.
    pub hnsw: instant_distance::HnswMap<Vector, u32>,
}

impl Index {
    pub fn to_bytes(body: &IndexBody, model_id: &str, docs_commit: Option<String>) -> Vec<u8> {
        write_container(INDEX_MAGIC, INDEX_FORMAT_VERSION, model_id, docs_commit, body)
    }

    /// Decodes and checks an index. Never panics, whatever the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Index, LoadError> {
        let (header, body) = read_header(bytes, INDEX_MAGIC, INDEX_FORMAT_VERSION, "index")?;
        let body: IndexBody = decode(body)?;
        body.bm25.check().map_err(LoadError::Corrupt)?;
        body.config.validate().map_err(|e| LoadError::Corrupt(format!("site config: {}", e.message)))?;
        let n = body.chunks.len();
        if body.bm25.docs() != n {
            return Err(LoadError::Corrupt("chunk tables disagree".into()));
        }
        let (vectors, hnsw) = load_hnsw(&body.hnsw, n)?;
        Ok(Index { header, body, vectors, hnsw })
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
    use crate::engine::bm25::WeightedDoc;
    use crate::engine::{embed, text, Engine};
    use std::sync::Arc;

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

    /// A small real index over the toy model's words.
    fn small_body() -> IndexBody {
        let model = embed::tests::toy_model();
        let texts = ["deploy the widget", "publish widgets", "cat unrelated", "deploy cat", "widget cat publish"];
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
        let vectors: Vec<Vector> = chunks.iter().map(|c| Vector::quantize(&model.embed(&c.text))).collect();
        let graph = instant_distance::Builder::default().seed(1).build(vectors, (0..chunks.len() as u32).collect());
        IndexBody { config: SiteConfig::default(), chunks, bm25, hnsw: hnsw_bytes(&graph) }
    }

    #[test]
    fn a_built_index_loads_and_answers() {
        let bytes = Index::to_bytes(&small_body(), "toy", None);
        let index = Index::from_bytes(&bytes).unwrap();
        assert_eq!(index.vectors.len(), 5);
        let engine = Engine::new(index, Arc::new(embed::tests::toy_model())).unwrap();
        let hits = engine.search("deploy", 3);
        assert!(hits.iter().any(|h| h.chunk == 0), "{hits:?}");
    }

    /// Serialisable twin of `HnswMapShape`, to write graphs instant-distance never would.
    #[derive(Serialize)]
    struct FakeGraph {
        ef_search: usize,
        points: Vec<Vector>,
        zero: Vec<FakeNode<64>>,
        layers: Vec<Vec<FakeNode<32>>>,
        values: Vec<u32>,
    }

    struct FakeNode<const N: usize>([u32; N]);

    impl<const N: usize> Serialize for FakeNode<N> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeTuple;
            let mut t = s.serialize_tuple(N)?;
            for id in &self.0 {
                t.serialize_element(id)?;
            }
            t.end()
        }
    }

    fn graph_bytes(g: &FakeGraph) -> Vec<u8> {
        // HnswMap = { hnsw: { ef_search, points, zero, layers }, values }: postcard has no
        // framing for nested structs, so the flat twin encodes the same bytes.
        postcard::to_allocvec(g).unwrap()
    }

    fn fake(n: usize) -> FakeGraph {
        let v = Vector::quantize(&[1.0, 0.0, 0.0, 0.0]);
        let mut node = [NO_NEIGHBOUR; 64];
        node[0] = 0;
        FakeGraph {
            ef_search: 10,
            points: vec![v; n],
            zero: (0..n).map(|_| FakeNode(node)).collect(),
            layers: vec![],
            values: (0..n as u32).collect(),
        }
    }

    #[test]
    fn graphs_with_bad_ids_are_refused_not_searched() {
        assert!(load_hnsw(&graph_bytes(&fake(3)), 3).is_ok());
        let mut g = fake(3);
        g.zero[1].0[1] = 7; // a neighbour that does not exist
        assert!(matches!(load_hnsw(&graph_bytes(&g), 3), Err(LoadError::Corrupt(_))));
        let mut g = fake(3);
        g.values = vec![0, 0, 1]; // two points claim chunk 0
        assert!(load_hnsw(&graph_bytes(&g), 3).is_err());
        let mut g = fake(3);
        let mut up = [NO_NEIGHBOUR; 32];
        up[0] = 2; // upper layer of one node pointing past itself
        g.layers = vec![vec![FakeNode(up)]];
        assert!(load_hnsw(&graph_bytes(&g), 3).is_err());
        g.layers = vec![vec![]]; // an empty upper layer: the search would enter at a missing node
        assert!(load_hnsw(&graph_bytes(&g), 3).is_err());
        assert!(load_hnsw(&graph_bytes(&fake(2)), 3).is_err(), "size mismatch");
        assert!(load_hnsw(b"\x01\x02", 3).is_err());
    }

    #[test]
    fn damaged_index_bytes_never_panic() {
        // Flip bytes inside the body and re-seal the checksum, so the decoder and the checks
        // (not the checksum) meet the damage; loading and searching must never panic.
        let body = postcard::to_allocvec(&small_body()).unwrap();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let model = Arc::new(embed::tests::toy_model());
        for _ in 0..400 {
            let mut b = body.clone();
            for _ in 0..1 + next() % 3 {
                let i = (next() % b.len() as u64) as usize;
                b[i] = next() as u8;
            }
            if next() % 8 == 0 {
                b.truncate((next() % b.len() as u64) as usize);
            }
            let bytes = write_raw(INDEX_MAGIC, INDEX_FORMAT_VERSION, "toy", None, b);
            if let Ok(index) = Index::from_bytes(&bytes) {
                if let Ok(engine) = Engine::new(index, model.clone()) {
                    let _ = engine.answer("deploy the widgets");
                }
            }
        }
    }
}
