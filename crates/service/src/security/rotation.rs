//! Key-encryption-key rotation: a new version in the key manager, then every wrapped key in
//! the database (service secrets, protection keys, data keys) rewrapped under it, online.
//!
//! Each key is unwrapped under its old version and wrapped under the new one, and replaced
//! only if the row is still what was read (compare and swap), so enrolments, withdrawals and
//! erasures running at the same time are never undone. Verification and identification keep
//! working throughout: a node that meets a version it does not know re-reads its key manager.
//! An interrupted rotation is resumed by running it again without creating a version.

use bioguard_core::KekUsage;
use bioguard_crypto::{KekRef, WrappedKey};
use bioguard_store::{SealedKey, WrappedRow};

use crate::abuse::auth::Admin;
use crate::error::ServiceError;
use crate::facade::Service;
use crate::security::{protection, secrets, templates};

/// Keys rewrapped per page.
const PAGE: u32 = 256;

/// How many wrapped keys each key-encryption key version wraps, and the versions the key
/// manager holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// Keys wrapped, by key-encryption key.
    pub usage: Vec<KekUsage>,
    /// The versions the key manager holds.
    pub versions: Vec<String>,
}

/// What a rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// The key-encryption key everything is wrapped under now.
    pub current: String,
    /// Keys rewrapped.
    pub rewrapped: u64,
    /// Keys changed by someone else while being rewrapped (retried).
    pub raced: u64,
    /// Keys still not on the current version (e.g. wrapped under a destroyed version).
    pub left: u64,
}

impl Service {
    /// Rotates the key-encryption key (`new_version`: create one first; otherwise resume) and
    /// rewraps every wrapped key under the current version. `progress` gets (done, left).
    ///
    /// With a risk group registered, creating a version needs a `key.rotate` proposal;
    /// resuming does not.
    pub async fn rotate_keys(
        &self,
        _admin: &Admin,
        new_version: bool,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<RotationReport, ServiceError> {
        if new_version && self.db.governance.risk_group().await?.is_some() {
            return Err(ServiceError::QuorumRequired);
        }
        self.rotate_keys_now(new_version, progress).await
    }

    /// The rotation itself, approved or ungated.
    pub(crate) async fn rotate_keys_now(
        &self,
        new_version: bool,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<RotationReport, ServiceError> {
        let before = self.keys.current();
        if new_version {
            self.keys.rotate().await?;
        } else {
            self.keys.refresh().await?;
        }
        let current = self.keys.current();
        let target = current.to_string();
        let mut report = RotationReport {
            current: target.clone(),
            ..RotationReport::default()
        };
        let total: u64 = self
            .db
            .keys
            .kek_usage()
            .await?
            .iter()
            .filter(|u| u.kek != target)
            .map(|u| u.keys)
            .sum();
        let mut stuck: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
        loop {
            let rows = self
                .db
                .keys
                .wrapped_not_on(&target, PAGE + stuck.len() as u32)
                .await?;
            let rows: Vec<WrappedRow> = rows
                .into_iter()
                .filter(|r| !stuck.contains(&r.sealed().wrapped))
                .collect();
            if rows.is_empty() {
                break;
            }
            for row in rows {
                match self.rewrap(&row).await {
                    Ok(true) => report.rewrapped += 1,
                    Ok(false) => report.raced += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "a wrapped key could not be rewrapped");
                        stuck.insert(row.sealed().wrapped.clone());
                    }
                }
            }
            progress(report.rewrapped, total.saturating_sub(report.rewrapped));
        }
        report.left = stuck.len() as u64;
        let mut leaf = self.leaf("keys.rotate", "admin");
        leaf.decision = Some(
            if report.left == 0 {
                "complete"
            } else {
                "incomplete"
            }
            .into(),
        );
        leaf.detail = vec![
            ("from".into(), before.to_string()),
            ("to".into(), target),
            ("rewrapped".into(), report.rewrapped.to_string()),
            ("left".into(), report.left.to_string()),
        ];
        self.db.ledger.append_audit(&leaf).await?;
        tracing::info!(
            rewrapped = report.rewrapped,
            left = report.left,
            "key rotation done"
        );
        Ok(report)
    }

    /// Unwraps one key under its version and stores it wrapped under the current one.
    async fn rewrap(&self, row: &WrappedRow) -> Result<bool, ServiceError> {
        let aad = match row {
            WrappedRow::DataKey {
                subject,
                purpose,
                id,
                ..
            } => templates::key_aad(subject, purpose, id),
            WrappedRow::ProtectionKey {
                purpose, version, ..
            } => protection::aad(purpose, *version),
            WrappedRow::SystemSecret { name, .. } => secrets::aad(name),
        };
        let sealed = row.sealed();
        let kek: KekRef = sealed.kek.parse().map_err(|()| {
            ServiceError::Internal("a wrapped key names an unreadable key reference".into())
        })?;
        let key = self
            .keys
            .unwrap(
                &WrappedKey {
                    kek,
                    ciphertext: sealed.wrapped.clone(),
                },
                &aad,
            )
            .await?;
        let wrapped = self.keys.wrap(&key, &aad).await?;
        Ok(self
            .db
            .keys
            .replace_wrap(
                row,
                &SealedKey {
                    kek: wrapped.kek.to_string(),
                    wrapped: wrapped.ciphertext,
                },
            )
            .await?)
    }

    /// Re-reads the key manager's versions (another process may have rotated).
    pub async fn refresh_keys(&self) -> Result<(), ServiceError> {
        Ok(self.keys.refresh().await?)
    }

    /// How many wrapped keys each key-encryption key version wraps, and the versions the key
    /// manager holds.
    pub async fn key_status(&self) -> Result<KeyStatus, ServiceError> {
        self.keys.refresh().await?;
        Ok(KeyStatus {
            usage: self.db.keys.kek_usage().await?,
            versions: self
                .keys
                .versions()
                .iter()
                .map(ToString::to_string)
                .collect(),
        })
    }

    /// Destroys a key-encryption key version once nothing in the database is wrapped under it.
    /// Every backup of the database taken before the rotation then holds keys that can never
    /// be unwrapped (unless a copy of that key version survives elsewhere).
    /// With a risk group registered, this needs a `key.destroy_version` proposal instead.
    pub async fn destroy_key_version(
        &self,
        _admin: &Admin,
        version: u32,
    ) -> Result<(), ServiceError> {
        if self.db.governance.risk_group().await?.is_some() {
            return Err(ServiceError::QuorumRequired);
        }
        self.destroy_key_version_now(version).await
    }

    /// Destroys a key version (the checks, then the key manager), approved or ungated.
    pub(crate) async fn destroy_key_version_now(&self, version: u32) -> Result<(), ServiceError> {
        self.keys.refresh().await?;
        let Some(kek) = self
            .keys
            .versions()
            .into_iter()
            .find(|k| k.version == version)
        else {
            return Err(ServiceError::Invalid(bioguard_core::ValidationError::new(
                "version",
                "the key manager holds no such version",
            )));
        };
        if kek == self.keys.current() {
            return Err(ServiceError::Conflict(
                "rotation to a newer version (this is the current one)",
            ));
        }
        let used: u64 = self
            .db
            .keys
            .kek_usage()
            .await?
            .iter()
            .filter(|u| u.kek == kek.to_string())
            .map(|u| u.keys)
            .sum();
        if used > 0 {
            return Err(ServiceError::KeyVersionInUse(used));
        }
        self.keys.destroy(version).await?;
        let mut leaf = self.leaf("keys.destroy", "admin");
        leaf.decision = Some("destroyed".into());
        leaf.detail = vec![("version".into(), kek.to_string())];
        self.db.ledger.append_audit(&leaf).await?;
        tracing::warn!(version = %kek, "key-encryption key version destroyed");
        Ok(())
    }
}
