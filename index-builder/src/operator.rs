//! `index-builder operator add`: the password hash for an operator account, in the format the
//! worker checks (`pbkdf2-sha256:<iterations>:<salt hex>:<hash hex>`).

use anyhow::{bail, Context, Result};
use baton_shared::protocol::{hex, SiteId};
use sha2::Sha256;
use std::io::BufRead;

/// PBKDF2 rounds: the most workerd's WebCrypto takes (the worker derives natively, a few ms per
/// sign-in), and far more work for an attacker per guess.
pub const ITERATIONS: u32 = 100_000;

pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, ITERATIONS, &mut out);
    Ok(format!("pbkdf2-sha256:{ITERATIONS}:{}:{}", hex(&salt), hex(&out)))
}

pub fn add(site: &str, email: &str, name: &str, password: Option<String>, json_only: bool) -> Result<()> {
    let site = SiteId::parse(site).map_err(|e| anyhow::anyhow!("--site: {}", e.message))?;
    if !baton_shared::conversation::is_email(email) {
        bail!("--email {email:?} is not an email address");
    }
    let password = match password {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("cannot read the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if password.chars().count() < 10 {
        bail!("the password must be at least 10 characters");
    }
    let entry = serde_json::json!({ "site": site, "email": email.to_lowercase(), "name": name, "password": hash_password(&password)? });
    if json_only {
        println!("{entry}");
    } else {
        println!("Add this entry to the JSON array in the BATON_OPERATORS secret:\n\n  {entry}\n");
        println!("e.g.  npx wrangler secret put BATON_OPERATORS   (paste the whole array: [{entry}, ...])");
        println!("locally: put BATON_OPERATORS='[...]' in .dev.vars");
    }
    Ok(())
}
