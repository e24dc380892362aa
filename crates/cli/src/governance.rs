//! The risk group's tools for members: a key pair, signing a proposal's payload, and
//! checking a proposal's approvals offline.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, SigningKey};

/// `governance keygen`: a new member key, its seed in `out` (0600), its public key printed.
pub fn keygen(out: &std::path::Path) -> anyhow::Result<()> {
    let seed = zeroize::Zeroizing::new(bioguard_crypto::random_array::<32>()?);
    let key = SigningKey::from_bytes(&seed);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("cannot create {} (it must not exist yet)", out.display()))?;
    let text = zeroize::Zeroizing::new(format!(
        "# bioguard risk-group member key (Ed25519 seed); keep it private\n{}\n",
        bioguard_crypto::hex_encode(&*seed)
    ));
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    println!("{}", B64.encode(key.verifying_key().to_bytes()));
    eprintln!(
        "wrote the private key to {}; register the public key above with the risk group",
        out.display()
    );
    Ok(())
}

/// `approve`: signs a proposal's payload with a member key; prints the approval body.
pub fn approve(
    key: &std::path::Path,
    proposal: &std::path::Path,
    member: &str,
) -> anyhow::Result<()> {
    let mode = std::fs::metadata(key)
        .with_context(|| format!("cannot read {}", key.display()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by other users (mode {mode:04o}); run `chmod 600` on it",
            key.display()
        );
    }
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(key)?);
    let hex = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .context("the key file holds no key")?;
    let seed: [u8; 32] = bioguard_crypto::hex_decode(hex)
        .and_then(|b| b.try_into().ok())
        .context("the key is not 64 hex digits")?;
    let signer = SigningKey::from_bytes(&seed);
    let raw = std::fs::read_to_string(proposal)
        .with_context(|| format!("cannot read {}", proposal.display()))?;
    // The JSON answer of POST or GET /v1/proposals, or the payload itself.
    let answer: Option<serde_json::Value> = serde_json::from_str(&raw).ok();
    let payload = match answer.as_ref().and_then(|v| v["payload"].as_str()) {
        Some(p) => p.to_owned(),
        None => raw.trim_end_matches('\n').to_owned(),
    };
    let parsed: serde_json::Value =
        serde_json::from_str(&payload).context("the proposal payload is not JSON")?;
    if parsed["type"] != "bioguard-proposal" {
        bail!("this is not a bioguard proposal payload; refusing to sign it");
    }
    eprintln!(
        "signing proposal {} to {} (expires at Unix time {})",
        parsed["id"], parsed["action"], parsed["expires_at"]
    );
    let sig = signer.sign(payload.as_bytes());
    println!(
        "{}",
        serde_json::json!({"member": member, "signature": B64.encode(sig.to_bytes())})
    );
    Ok(())
}

/// `governance verify`: checks every approval of a proposal document against a group
/// document; fails unless the quorum is reached by valid approvals of distinct members.
pub fn verify(
    proposal: &std::path::Path,
    group: &std::path::Path,
    origin: Option<&str>,
) -> anyhow::Result<()> {
    let read = |path: &std::path::Path, what: &str| -> anyhow::Result<serde_json::Value> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} file {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not JSON; save the answer of GET /v1/{}",
                path.display(),
                if what == "group" {
                    "governance/group"
                } else {
                    "proposals/{id}"
                }
            )
        })
    };
    let p = read(proposal, "proposal")?;
    let g = read(group, "group")?;
    let report =
        bioguard_service::verify_proposal_document(&p, &g, origin).map_err(anyhow::Error::msg)?;
    println!("proposal {} ({})", report.proposal, report.action);
    for m in &report.valid {
        println!("  valid    {m}");
    }
    for (m, why) in &report.refused {
        println!("  refused  {m}: {why}");
    }
    println!(
        "{} valid approvals of distinct members; the quorum is {}",
        report.valid.len(),
        report.quorum
    );
    if !report.reached {
        bail!("the approvals do not reach the quorum");
    }
    println!("OK: the quorum approved this proposal");
    Ok(())
}
