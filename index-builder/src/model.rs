//! `index-builder model import`: turns the upstream potion-base-8M files into Baton's compact
//! int8 model file, after checking the upstream bytes are the ones we reviewed.

use anyhow::{bail, Context, Result};
use baton_shared::engine::embed::Model;
use baton_shared::engine::handoff_classifier::HandoffClassifier;
use baton_shared::index::{self, Blob};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The upstream revision and the digests of the files the model is made from.
pub const UPSTREAM: &str = "minishlab/potion-base-8M@bf8b056651a2c21b8d2565580b8569da283cab23";
pub const SAFETENSORS_SHA256: &str = "f65d0f325faadc1e121c319e2faa41170d3fa07d8c89abd48ca5358d9a223de2";
pub const TOKENIZER_SHA256: &str = "e67e803f624fb4d67dea1c730d06e1067e1b14d830e2c2202569e3ef0f70bb50";
pub const MODEL_ID: &str = "potion-base-8M@bf8b0566/int8";

/// The model shipped in this repository (regenerate with `./baton model`).
pub static BUNDLED: &[u8] = include_bytes!("../../model/potion-base-8M.int8.model");

/// The handoff classifier shipped in this repository (retrain with `index-builder handoff train`).
pub static BUNDLED_CLASSIFIER: &[u8] = include_bytes!("../../model/handoff.classifier");

/// The handoff classifier: a file, or the bundled one.
pub fn load_classifier(path: Option<&Path>) -> Result<HandoffClassifier> {
    let bytes;
    let data: &[u8] = match path {
        Some(p) => {
            bytes = std::fs::read(p).with_context(|| format!("cannot read handoff classifier {}", p.display()))?;
            &bytes
        }
        None => BUNDLED_CLASSIFIER,
    };
    HandoffClassifier::from_bytes(data)
        .map_err(|e| anyhow::anyhow!("handoff classifier {}: {e}", path.map(|p| p.display().to_string()).unwrap_or("(bundled)".into())))
}

pub fn load(path: Option<&Path>) -> Result<Model> {
    let blob = match path {
        Some(p) => Blob::from(std::fs::read(p).with_context(|| format!("cannot read model file {}", p.display()))?),
        // Used where it lies in the binary: no copy.
        None => Blob::from_static(BUNDLED),
    };
    index::model_from_bytes(blob)
        .map_err(|e| anyhow::anyhow!("model {}: {e}", path.map(|p| p.display().to_string()).unwrap_or("(bundled)".into())))
}

fn sha256_hex(bytes: &[u8]) -> String {
    baton_shared::protocol::hex(&Sha256::digest(bytes))
}

pub fn import(from: &Path, out: &Path) -> Result<()> {
    let st_path = from.join("model.safetensors");
    let tok_path = from.join("tokenizer.json");
    let st = std::fs::read(&st_path).with_context(|| format!("cannot read {}", st_path.display()))?;
    let digest = sha256_hex(&st);
    if digest != SAFETENSORS_SHA256 {
        bail!("{}: sha256 {digest} is not the reviewed upstream file ({SAFETENSORS_SHA256}); fetch {UPSTREAM}", st_path.display());
    }
    let tok_bytes = std::fs::read(&tok_path).with_context(|| format!("cannot read {}", tok_path.display()))?;
    let digest = sha256_hex(&tok_bytes);
    if digest != TOKENIZER_SHA256 {
        bail!("{}: sha256 {digest} is not the reviewed upstream file ({TOKENIZER_SHA256}); fetch {UPSTREAM}", tok_path.display());
    }
    let tok: serde_json::Value = serde_json::from_slice(&tok_bytes).with_context(|| format!("{}: not JSON", tok_path.display()))?;
    let model = &tok["model"];
    if model["type"] != "WordPiece" || model["continuing_subword_prefix"] != "##" {
        bail!("{}: expected a BERT WordPiece tokenizer", tok_path.display());
    }
    let vocab = model["vocab"].as_object().with_context(|| format!("{}: no model.vocab", tok_path.display()))?;
    let mut tokens = vec![String::new(); vocab.len()];
    for (t, id) in vocab {
        let id = id.as_u64().context("vocab ids are integers")? as usize;
        if id >= tokens.len() {
            bail!("{}: vocab id {id} out of range", tok_path.display());
        }
        tokens[id] = t.clone();
    }
    let tensors = safetensors::SafeTensors::deserialize(&st).context("model.safetensors does not parse")?;
    let emb = tensors.tensor("embeddings").context("model.safetensors has no 'embeddings' tensor")?;
    let shape = emb.shape();
    if shape.len() != 2 || shape[0] != tokens.len() || emb.dtype() != safetensors::Dtype::F32 {
        bail!("embeddings are {:?} {:?}, expected F32 [{}, dims]", emb.dtype(), shape, tokens.len());
    }
    let matrix: Vec<f32> = emb.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
    let unk = model["unk_token"].as_str().unwrap_or("[UNK]");
    let m = Model::from_f32(MODEL_ID.to_string(), &tokens, shape[1], &matrix, unk).map_err(anyhow::Error::msg)?;
    let bytes = index::model_to_bytes(&m);
    std::fs::write(out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "wrote {} ({} tokens × {} dims, {:.1} MB, sha256 {})",
        out.display(),
        tokens.len(),
        shape[1],
        bytes.len() as f64 / 1e6,
        sha256_hex(&bytes)
    );
    Ok(())
}

/// Copies the bundled model to `dir/<model file name>` (what the worker loads).
pub fn export(dir: &Path) -> Result<()> {
    let m = load(None)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(index::model_file_name(&m.id));
    std::fs::write(&path, BUNDLED).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
