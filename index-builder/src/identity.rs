//! `index-builder identity sign|verify`: the signature a site's backend puts on a visitor's
//! identity (`baton_shared::identity`), to check a backend's output or to try the widget's
//! `data-user-*` attributes by hand. The secret comes from an environment variable, never the
//! command line (shell history).

use anyhow::{bail, Context, Result};
use baton_shared::identity::{self, IdentityClaim, UnsignedIdentity};
use std::collections::BTreeMap;

fn parse_fields(fields: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for f in fields {
        let (k, v) = f.split_once('=').with_context(|| format!("{f:?}: write each field as name=value, e.g. user_id=42"))?;
        if out.insert(k.to_string(), v.to_string()).is_some() {
            bail!("field {k:?} is given twice");
        }
    }
    Ok(out)
}

fn secret(var: &str) -> Result<String> {
    let s = std::env::var(var)
        .with_context(|| format!("set the identity secret in the environment variable {var} (or pass --secret-env NAME)"))?;
    if s.is_empty() {
        bail!("{var} is empty");
    }
    Ok(s)
}

/// Prints the payload that is signed, the signature, and the widget attributes that carry them.
pub fn sign(fields: &[String], secret_env: &str, json: bool) -> Result<()> {
    let claim = IdentityClaim { fields: parse_fields(fields)?, signature: None };
    claim.validate().map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let signature = identity::sign(secret(secret_env)?.as_bytes(), &claim.fields);
    if json {
        println!("{}", serde_json::to_string(&IdentityClaim { signature: Some(signature), ..claim })?);
        return Ok(());
    }
    println!("signed payload (fields sorted by name, one name=value per line):\n");
    for line in identity::signing_payload(&claim.fields).lines() {
        println!("  {line}");
    }
    println!("\nsignature: {signature}\n");
    println!("script tag attributes:");
    let mut attributes = BTreeMap::new();
    for (k, v) in &claim.fields {
        match k.as_str() {
            identity::USER_ID | identity::EMAIL | identity::NAME | identity::EXPIRES => {
                println!("  data-user-{}=\"{}\"", k.replace('_', "-"), v.replace('"', "&quot;"))
            }
            _ => {
                attributes.insert(k.clone(), v.clone());
            }
        }
    }
    if !attributes.is_empty() {
        println!("  data-user-attributes='{}'", serde_json::to_string(&attributes)?.replace('\'', "&#39;"));
    }
    println!("  data-user-signature=\"{signature}\"");
    Ok(())
}

/// Checks a signature as the worker does; exits non-zero with the worker's message if refused.
pub fn verify(fields: &[String], signature: &str, secret_env: &str) -> Result<()> {
    let claim = IdentityClaim { fields: parse_fields(fields)?, signature: Some(signature.to_string()) };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    match identity::verify(&claim, Some(secret(secret_env)?.as_bytes()), UnsignedIdentity::Refuse, secret_env, now) {
        Ok(id) => {
            println!("valid: user {} ({})", id.user_id, id.label());
            Ok(())
        }
        Err(e) => bail!("refused ({:?}): {}", e.code, e.message),
    }
}
