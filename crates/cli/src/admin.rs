//! `bioguard admin`: the operator's own credential.

use std::fs;

use anyhow::Context;

use crate::config::Config;
use crate::serve::{open_existing, write_secret_file};

/// `admin token rotate`: a new admin token replaces the old one (which stops working at once,
/// on every node) and is written to `<data-dir>/admin.token`. Needs the installation's
/// database and key provider, not the old token: this is also how a lost token is recovered.
///
/// The new token is written to `admin.token.new` before the database changes and renamed
/// over `admin.token` after, so an interruption leaves the token in one of the two files
/// (or, before the change, nothing changed); running the command again is always safe.
pub async fn rotate_token(cfg: Config) -> anyhow::Result<()> {
    let (service, store) = open_existing(&cfg).await?;
    let path = cfg.data_dir.join("admin.token");
    let staged = cfg.data_dir.join("admin.token.new");
    if staged.exists() {
        fs::remove_file(&staged)
            .with_context(|| format!("cannot remove the leftover {}", staged.display()))?;
    }
    let token = service.rotate_admin_token().await;
    let token = match token {
        Ok(t) => t,
        Err(e) => {
            store.close().await;
            return Err(e).context("the admin token was not changed");
        }
    };
    let written = write_secret_file(&staged, &format!("{}\n", token.as_str()))
        .and_then(|()| fs::rename(&staged, &path))
        .and_then(|()| fs::File::open(&cfg.data_dir)?.sync_all());
    store.close().await;
    written.with_context(|| {
        format!(
            "the admin token was changed but could not be written to {} (look for {}); \
             run `bioguard admin token rotate` again to get a new one",
            path.display(),
            staged.display()
        )
    })?;
    tracing::info!(path = %path.display(), "admin token rotated; the previous one no longer works");
    println!(
        "a new admin token is in {}; the previous token no longer works",
        path.display()
    );
    Ok(())
}

/// What `webhooks replay` was asked to send again.
pub fn replay_target(
    message: Option<String>,
    endpoint: Option<String>,
    since: Option<String>,
) -> anyhow::Result<bioguard_service::ReplayTarget> {
    match (message, endpoint, since) {
        (Some(m), None, None) => Ok(bioguard_service::ReplayTarget::Message {
            id: m,
            endpoint: None,
        }),
        (None, Some(id), Some(since)) => Ok(bioguard_service::ReplayTarget::Endpoint {
            id,
            since: bioguard_service::parse_since(&since)
                .map_err(|e| anyhow::anyhow!("--since: {e}"))?,
        }),
        _ => anyhow::bail!(
            "say what to send again: --message <msg_...>, or --endpoint <wh_...> with --since <RFC 3339 time>"
        ),
    }
}

/// `webhooks replay`: makes messages due again; the running service's delivery loop sends
/// them within a second (or the next `serve` does).
pub async fn replay_webhooks(
    cfg: Config,
    target: bioguard_service::ReplayTarget,
) -> anyhow::Result<()> {
    let (service, store) = open_existing(&cfg).await?;
    let done = service.replay_webhooks(&target).await;
    store.close().await;
    let n = done.context("nothing was queued")?;
    println!("{n} webhook message(s) queued again; the running service sends them within a second");
    Ok(())
}
