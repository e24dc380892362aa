//! `bioguard receipt verify`: checks a consent receipt or deletion certificate offline.

use anyhow::{Context, bail};
use bioguard_ledger::DocumentVerifier;
use serde_json::Value;

/// Reads the token from `file`: the compact JWS itself, or a JSON answer holding it under
/// `receipt` or `certificate` (which then says what the document must be).
fn read_token(file: &std::path::Path) -> anyhow::Result<(String, Option<&'static str>)> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = text.trim();
    if text.starts_with('{') {
        let v: Value = serde_json::from_str(text)
            .with_context(|| format!("{} is JSON but not valid", file.display()))?;
        for (k, typ) in [
            ("receipt", bioguard_ledger::RECEIPT_TYPE),
            ("certificate", bioguard_ledger::CERTIFICATE_TYPE),
        ] {
            if let Some(t) = v.get(k).and_then(Value::as_str) {
                return Ok((t.to_owned(), Some(typ)));
            }
        }
        bail!(
            "{} holds no \"receipt\" or \"certificate\" field; give the compact JWS itself",
            file.display()
        );
    }
    Ok((text.to_owned(), None))
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

/// What `--type` names.
fn expected(kind: Option<&str>) -> anyhow::Result<Option<&'static str>> {
    Ok(match kind {
        None => None,
        Some("receipt") => Some(bioguard_ledger::RECEIPT_TYPE),
        Some("certificate") => Some(bioguard_ledger::CERTIFICATE_TYPE),
        Some(other) => bail!("--type {other}: give receipt or certificate"),
    })
}

/// `receipt verify`: the document must be of the type `kind` names, or that its JSON field
/// names, or else one of the two bioguard documents (and the output says which).
pub fn verify(
    file: &std::path::Path,
    jwks: Option<&std::path::Path>,
    server: Option<&str>,
    kind: Option<&str>,
) -> anyhow::Result<()> {
    let (token, from_field) = read_token(file)?;
    let want = expected(kind)?;
    if let (Some(w), Some(f)) = (want, from_field)
        && w != f
    {
        bail!("{} holds a {f}, not a {w}", file.display());
    }
    let accepted: Vec<&str> = match want.or(from_field) {
        Some(t) => vec![t],
        None => vec![
            bioguard_ledger::RECEIPT_TYPE,
            bioguard_ledger::CERTIFICATE_TYPE,
        ],
    };
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
        match v.verify(&token, &accepted) {
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
