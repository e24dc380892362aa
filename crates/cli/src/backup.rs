//! `bioguard backup` and `bioguard restore`: a consistent copy of an installation's embedded
//! database, taken while it serves, with a manifest that binds it to a signed checkpoint of
//! its audit ledger; and a restore that checks the copy against that checkpoint before it
//! finishes.
//!
//! The master key is not copied unless asked for with `--include-master-key`: a backup and
//! the key that opens it kept in one place are one theft away from everything. The admin
//! token is never copied; after a restore, `bioguard admin token rotate` issues a new one.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use bioguard_service::Service;
use bioguard_store::SqlStore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Config, KeyProviderConfig};
use crate::serve::{open_keys, require_installation};

/// The manifest's format.
const FORMAT: &str = "bioguard-backup-1";
const DB: &str = "bioguard.db";
const KEY: &str = "master.key";
const MANIFEST: &str = "manifest.json";

/// What a backup holds and what it must match.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    bioguard_version: String,
    created_at: String,
    database: FileEntry,
    /// The audit ledger as the copy holds it: a checkpoint signed by the installation's log
    /// key over the copy's whole ledger, and the key that checks it.
    ledger: LedgerEntry,
    /// The key provider whose key-encryption keys open the copy's wrapped keys.
    key_provider: String,
    kek_versions: Vec<String>,
    /// Whether `master.key` is in the backup (only with `--include-master-key`).
    master_key_included: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct FileEntry {
    name: String,
    bytes: u64,
    sha256: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct LedgerEntry {
    origin: String,
    size: u64,
    checkpoint: String,
    verifier_key: String,
}

fn sha256_file(path: &Path) -> anyhow::Result<(u64, String)> {
    use std::io::Read;
    let mut f = fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((bytes, bioguard_crypto::hex_encode(&h.finalize())))
}

fn private_dir(path: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Opens a service over the SQLite file at `db` with the key provider `keys`.
async fn open_copy(
    db: &Path,
    keys: Arc<dyn bioguard_crypto::KeyProvider>,
) -> anyhow::Result<(Service, SqlStore)> {
    let store = SqlStore::open_sqlite(db)
        .await
        .with_context(|| format!("cannot open {}", db.display()))?;
    match Service::open(Arc::new(store.clone()), keys).await {
        Ok(s) => Ok((s, store)),
        Err(e) => {
            store.close().await;
            Err(e).context("the copy cannot be opened with this key provider")
        }
    }
}

/// `backup --out DIR`: snapshot, sign, describe. Safe while `serve` runs.
pub async fn backup(cfg: Config, out: PathBuf, include_key: bool) -> anyhow::Result<()> {
    if cfg.database_url.is_some() {
        bail!(
            "this installation keeps its data in PostgreSQL: back it up with \
             `pg_dump --format=custom --file bioguard.pgdump <URL>` (docs/deploy.md, Backup)"
        );
    }
    require_installation(&cfg)?;
    if include_key && !matches!(cfg.keys, KeyProviderConfig::Local) {
        bail!("--include-master-key is for a local key file; the keys are in the key manager");
    }
    if out.exists() && fs::read_dir(&out)?.next().is_some() {
        bail!("{} is not empty; name a new or empty folder", out.display());
    }
    private_dir(&out)?;
    let db = out.join(DB);
    // The key provider is opened once (an HSM session is not opened twice), and no service is
    // built over the live database: the snapshot needs only its store.
    let keys = open_keys(&cfg).await?;
    let live_path = cfg.data_dir.join(DB);
    let live = SqlStore::open_sqlite(&live_path)
        .await
        .with_context(|| format!("cannot open {}", live_path.display()))?;
    eprintln!("copying the database (a consistent snapshot; the service keeps serving) ...");
    let copied = live.snapshot_to(&db).await;
    live.close().await;
    copied.context("the snapshot failed")?;
    keys.refresh()
        .await
        .context("cannot read the key provider's versions")?;
    let versions: Vec<String> = keys.versions().iter().map(ToString::to_string).collect();
    let provider = keys.kind();
    fs::set_permissions(&db, fs::Permissions::from_mode(0o600))?;

    // The checkpoint is signed over the copy itself: exactly what a restore must find.
    eprintln!("signing a checkpoint of the copy's audit ledger ...");
    let (copy, copy_store) = open_copy(&db, keys).await?;
    let created_at = bioguard_core::rfc3339(copy.clock().now());
    let note = copy.audit_checkpoint().await;
    let (origin, verifier) = copy.audit_key();
    copy_store.close().await;
    let note = note.context("cannot sign a checkpoint of the copy")?;
    let checkpoint = verifier
        .open(&note)
        .map_err(|e| anyhow::anyhow!("the copy's checkpoint does not verify: {e}"))?;
    for leftover in ["-wal", "-shm"] {
        let _ = fs::remove_file(out.join(format!("{DB}{leftover}")));
    }
    let (bytes, sha256) = sha256_file(&db)?;
    if include_key {
        fs::copy(&cfg.key_file, out.join(KEY))
            .with_context(|| format!("cannot copy {}", cfg.key_file.display()))?;
        fs::set_permissions(out.join(KEY), fs::Permissions::from_mode(0o600))?;
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        bioguard_version: env!("CARGO_PKG_VERSION").into(),
        created_at,
        database: FileEntry {
            name: DB.into(),
            bytes,
            sha256,
        },
        ledger: LedgerEntry {
            origin,
            size: checkpoint.size,
            checkpoint: note,
            verifier_key: verifier.to_string(),
        },
        key_provider: provider.into(),
        kek_versions: versions,
        master_key_included: include_key,
    };
    fs::write(
        out.join(MANIFEST),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    fs::File::open(&out)?.sync_all()?;
    println!(
        "backed up to {}: {bytes} bytes of database, audit ledger of {} leaves (signed checkpoint in manifest.json){}",
        out.display(),
        checkpoint.size,
        if include_key {
            ", with the master key (keep this folder as safe as the key itself)"
        } else {
            "; the master key is NOT included: keep a copy of it (or the key manager's keys) elsewhere"
        }
    );
    Ok(())
}

/// `restore --from DIR --data-dir NEW`: check, copy, open, verify the ledger against the
/// manifest; on any failure nothing is left in NEW.
pub async fn restore(cfg: Config, from: PathBuf) -> anyhow::Result<()> {
    if cfg.database_url.is_some() {
        bail!(
            "restore writes an embedded SQLite installation; a PostgreSQL backup is restored \
             with pg_restore (docs/deploy.md, Backup)"
        );
    }
    let text = fs::read_to_string(from.join(MANIFEST)).with_context(|| {
        format!(
            "{} holds no {MANIFEST}: is it a bioguard backup?",
            from.display()
        )
    })?;
    let manifest: Manifest =
        serde_json::from_str(&text).context("manifest.json is not a bioguard backup manifest")?;
    if manifest.format != FORMAT {
        bail!(
            "unknown backup format {:?} (expected {FORMAT})",
            manifest.format
        );
    }
    let source = from.join(&manifest.database.name);
    let (bytes, sha256) = sha256_file(&source)?;
    if bytes != manifest.database.bytes || sha256 != manifest.database.sha256 {
        bail!(
            "{} does not match the manifest (sha256 {sha256}, expected {}): the backup is damaged",
            source.display(),
            manifest.database.sha256
        );
    }
    let db = cfg.data_dir.join(DB);
    if db.exists() {
        bail!(
            "{} already holds an installation; restore into a new data directory",
            cfg.data_dir.display()
        );
    }
    let mut created: Vec<PathBuf> = Vec::new();
    let result = restore_into(&cfg, &from, &manifest, &source, &db, &mut created).await;
    if result.is_err() {
        for path in created.iter().rev() {
            let _ = fs::remove_file(path);
        }
        for leftover in ["-wal", "-shm"] {
            let _ = fs::remove_file(cfg.data_dir.join(format!("{DB}{leftover}")));
        }
    }
    result
}

async fn restore_into(
    cfg: &Config,
    from: &Path,
    manifest: &Manifest,
    source: &Path,
    db: &Path,
    created: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    private_dir(&cfg.data_dir)?;
    if matches!(cfg.keys, KeyProviderConfig::Local) && !cfg.key_file.exists() {
        if !manifest.master_key_included {
            bail!(
                "the backup holds no master key and {} does not exist: put the installation's \
                 master key there (or name it with --key-file)",
                cfg.key_file.display()
            );
        }
        fs::copy(from.join(KEY), &cfg.key_file)
            .with_context(|| format!("cannot copy the master key to {}", cfg.key_file.display()))?;
        created.push(cfg.key_file.clone());
        fs::set_permissions(&cfg.key_file, fs::Permissions::from_mode(0o600))?;
    }
    let staged = db.with_extension("db.restoring");
    fs::copy(source, &staged).with_context(|| format!("cannot write {}", staged.display()))?;
    created.push(staged.clone());
    fs::set_permissions(&staged, fs::Permissions::from_mode(0o600))?;
    fs::rename(&staged, db)?;
    created.push(db.to_path_buf());

    eprintln!("verifying the restored audit ledger against the backup's signed checkpoint ...");
    let (service, store) = open_copy(db, open_keys(cfg).await?).await?;
    let (origin, verifier) = service.audit_key();
    let now = service.audit_checkpoint().await;
    store.close().await;
    let now = now.context("cannot sign a checkpoint of the restored ledger")?;
    if origin != manifest.ledger.origin || verifier.to_string() != manifest.ledger.verifier_key {
        bail!("the restored database's audit log key is not the one the manifest names");
    }
    let promised = verifier
        .open(&manifest.ledger.checkpoint)
        .map_err(|e| anyhow::anyhow!("the manifest's checkpoint does not verify: {e}"))?;
    let found = verifier
        .open(&now)
        .map_err(|e| anyhow::anyhow!("the restored checkpoint does not verify: {e}"))?;
    if found.size != promised.size || found.root != promised.root {
        bail!(
            "the restored audit ledger ({} leaves) is not the one the backup signed ({} leaves): \
             the backup was altered",
            found.size,
            promised.size
        );
    }
    println!(
        "restored into {}: audit ledger of {} leaves matches the backup's signed checkpoint. \
         Run `bioguard admin token rotate --data-dir {}` for an admin token, then `bioguard serve`.",
        cfg.data_dir.display(),
        found.size,
        cfg.data_dir.display()
    );
    Ok(())
}
