//! Protection keys and the transforms built from them, cached per (purpose, key version).
//!
//! A purpose's protection key is a random 256-bit seed, stored wrapped by the key provider
//! and bound to (purpose, version), with the matcher it drives: the transform, and the centre
//! of the purpose's calibration when it has one (`docs/adr/0024-centred-protection-and-code-size.md`). The
//! transform derived from it is held in memory, built on first use; the cache can always be
//! rebuilt from the database, so nodes share nothing but the database and the key provider.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bioguard_core::{Centre, Matcher, Purpose, PurposeId, Transform, ValidationError};
use bioguard_crypto::{Aad, KekRef, Key256, KeyProvider, WrappedKey};
use bioguard_engine::Protector;
use bioguard_store::{ProtectionKey, PurposeStore, SealedKey};

use crate::error::ServiceError;

pub(crate) fn aad(purpose: &PurposeId, version: u32) -> Aad {
    Aad::new("bioguard/protection-key/v1")
        .field(purpose.as_str().as_bytes())
        .field(&version.to_be_bytes())
}

/// The matcher a new protection key of `purpose` drives: today's transform, centred on the
/// mean its calibration record carries, if any.
pub(crate) fn matcher_for(purpose: &Purpose) -> Result<Matcher, ValidationError> {
    let centre = match &purpose.calibration {
        Some(text) => {
            let record: serde_json::Value = serde_json::from_str(text)
                .map_err(|_| ValidationError::new("calibration", "a JSON object"))?;
            Centre::from_calibration(&record, purpose.dimension)?
        }
        None => None,
    };
    Ok(Matcher {
        transform: Transform::DEFAULT,
        centre,
    })
}

/// A fresh protection key for `purpose` at `version`, wrapped for storage, with the matcher
/// it drives.
pub(crate) async fn new_protection_key(
    keys: &dyn KeyProvider,
    purpose: &Purpose,
    version: u32,
) -> Result<ProtectionKey, ServiceError> {
    let matcher = matcher_for(purpose)?;
    let seed = Key256::random()?;
    let wrapped = keys.wrap(&seed, &aad(&purpose.id, version)).await?;
    Ok(ProtectionKey {
        sealed: SealedKey {
            kek: wrapped.kek.to_string(),
            wrapped: wrapped.ciphertext,
        },
        matcher,
    })
}

/// The transforms in use, by purpose and key version.
#[derive(Default)]
pub(crate) struct ProtectionCache {
    transforms: Mutex<HashMap<(PurposeId, u32), Arc<Protector>>>,
    /// Held while a transform is built: on a node's first requests, many arrive at once for
    /// the same purpose, and one build serves them all (measured on a node that joined a
    /// cluster under load: p99 about 250 ms in its first seconds, from concurrent builds).
    building: tokio::sync::Mutex<()>,
}

impl ProtectionCache {
    /// The transform of `purpose` under key `version`, unwrapping the key on first use.
    pub(crate) async fn get(
        &self,
        store: &dyn PurposeStore,
        keys: &dyn KeyProvider,
        purpose: &Purpose,
        version: u32,
    ) -> Result<Arc<Protector>, ServiceError> {
        let k = (purpose.id.clone(), version);
        if let Some(t) = self.lock().get(&k) {
            return Ok(Arc::clone(t));
        }
        let _building = self.building.lock().await;
        if let Some(t) = self.lock().get(&k) {
            // Built while this request waited.
            return Ok(Arc::clone(t));
        }
        let ProtectionKey { sealed, matcher } = store
            .protection_key(&purpose.id, version)
            .await?
            .ok_or(ServiceError::ReenrolmentRequired)?;
        let kek: KekRef = sealed.kek.parse().map_err(|()| ServiceError::Integrity)?;
        let seed = keys
            .unwrap(
                &WrappedKey {
                    kek,
                    ciphertext: sealed.wrapped,
                },
                &aad(&purpose.id, version),
            )
            .await?;
        let dim = purpose.dimension.get();
        let bits = purpose.code_bits;
        // Deriving a Gaussian matrix is a few milliseconds of AES and arithmetic: keep it off
        // the async workers.
        let transform =
            tokio::task::spawn_blocking(move || Protector::new(seed.expose(), bits, dim, &matcher))
                .await
                .map_err(|e| ServiceError::Internal(format!("deriving a transform failed: {e}")))?
                .ok_or(ServiceError::Integrity)?;
        let transform = Arc::new(transform);
        self.lock().insert(k, Arc::clone(&transform));
        Ok(transform)
    }

    /// Forgets every transform of `purpose` (after its key was rotated).
    pub(crate) fn forget(&self, purpose: &PurposeId) {
        self.lock().retain(|(p, _), _| p != purpose);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(PurposeId, u32), Arc<Protector>>> {
        // A panic while holding this lock leaves a map that is still valid.
        self.transforms.lock().unwrap_or_else(|e| e.into_inner())
    }
}
