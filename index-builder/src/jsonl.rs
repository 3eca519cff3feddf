//! JSON Lines on stdin → JSON Lines on stdout, the interface of `ask` and `triage` (and of the
//! benchmarks that drive them): blank lines are skipped, a line that does not parse is an error
//! naming its line number and the expected shape.

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use std::io::{BufRead, Write};

/// Reads each stdin line as a `T`, writes what `f` answers as one line; flushes at the end.
pub fn map_stdin<T: DeserializeOwned>(expected: &str, mut f: impl FnMut(T) -> Result<serde_json::Value>) -> Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout());
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = line.context("cannot read stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let item: T = serde_json::from_str(&line).with_context(|| format!("stdin line {}: expected {expected}", n + 1))?;
        writeln!(out, "{}", f(item)?)?;
    }
    out.flush()?;
    Ok(())
}
