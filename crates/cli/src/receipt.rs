//! `bioguard receipt verify`: checks a consent receipt or deletion certificate offline.

use anyhow::{Context, bail};
use bioguard_ledger::DocumentVerifier;
use serde_json::Value;

/// Reads the token from `file`: the compact JWS itself, or a JSON answer holding it under
/// `receipt` or `certificate`.
fn read_token(file: &std::path::Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = text.trim();
    if text.starts_with('{') {
        let v: Value = serde_json::from_str(text)
            .with_context(|| format!("{} is JSON but not valid", file.display()))?;
        for k in ["receipt", "certificate"] {
            if let Some(t) = v.get(k).and_then(Value::as_str) {
                return Ok(t.to_owned());
            }
        }
        bail!(
            "{} holds no \"receipt\" or \"certificate\" field; give the compact JWS itself",
            file.display()
        );
    }
    Ok(text.to_owned())
}

/// The verifiers in a JWKS or a single JWK.
fn verifiers(jwks: &Value) -> anyhow::Result<Vec<DocumentVerifier>> {
    let keys: Vec<&Value> = match jwks.get("keys").and_then(Value::as_array) {
        Some(keys) => keys.iter().collect(),
        None => vec![jwks],
    };
    let out: Vec<DocumentVerifier> = keys
        .into_iter()
        .filter_map(|k| DocumentVerifier::from_jwk(k).ok())
        .collect();
    if out.is_empty() {
        bail!("the key set holds no Ed25519 key");
    }
    Ok(out)
}

/// `receipt verify`.
pub fn verify(
    file: &std::path::Path,
    jwks: Option<&std::path::Path>,
    server: Option<&str>,
) -> anyhow::Result<()> {
    let token = read_token(file)?;
    let keys: Value = match (jwks, server) {
        (Some(path), None) => serde_json::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        )
        .with_context(|| format!("{} is not JSON", path.display()))?,
        (None, Some(server)) => serde_json::from_str(&crate::http::get(server, "/v1/keys")?)
            .context("the service's /v1/keys is not JSON")?,
        _ => bail!("give the published keys with --jwks FILE or --server URL"),
    };
    let mut last = None;
    for v in verifiers(&keys)? {
        match v.verify(&token) {
            Ok(doc) => {
                println!("{}", serde_json::to_string_pretty(&doc.payload)?);
                println!("{} verifies (key {})", doc.typ, v.kid());
                return Ok(());
            }
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => bail!("the document does not verify: {e}"),
        None => bail!("the document does not verify"),
    }
}
