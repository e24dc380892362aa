//! Protection keys and the transforms built from them, cached per (purpose, key version).
//!
//! A purpose's protection key is a random 256-bit seed, stored wrapped by the key provider
//! and bound to (purpose, version). The sign-projection matrix derived from it is held in
//! memory, built on first use; the cache can always be rebuilt from the database, so nodes
//! share nothing but the database and the key provider.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bioguard_core::{Purpose, PurposeId};
use bioguard_crypto::{Aad, KekRef, Key256, KeyProvider, WrappedKey};
use bioguard_engine::SignProjection;
use bioguard_store::{PurposeStore, SealedKey};

use crate::error::ServiceError;

pub(crate) fn aad(purpose: &PurposeId, version: u32) -> Aad {
    Aad::new("bioguard/protection-key/v1")
        .field(purpose.as_str().as_bytes())
        .field(&version.to_be_bytes())
}

/// A fresh protection key for `purpose` at `version`, wrapped for storage.
pub(crate) async fn new_protection_key(
    keys: &dyn KeyProvider,
    purpose: &PurposeId,
    version: u32,
) -> Result<SealedKey, ServiceError> {
    let seed = Key256::random()?;
    let wrapped = keys.wrap(&seed, &aad(purpose, version)).await?;
    Ok(SealedKey {
        kek: wrapped.kek.to_string(),
        wrapped: wrapped.ciphertext,
    })
}

/// The transforms in use, by purpose and key version.
#[derive(Default)]
pub(crate) struct ProtectionCache {
    transforms: Mutex<HashMap<(PurposeId, u32), Arc<SignProjection>>>,
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
    ) -> Result<Arc<SignProjection>, ServiceError> {
        let k = (purpose.id.clone(), version);
        if let Some(t) = self.lock().get(&k) {
            return Ok(Arc::clone(t));
        }
        let _building = self.building.lock().await;
        if let Some(t) = self.lock().get(&k) {
            // Built while this request waited.
            return Ok(Arc::clone(t));
        }
        let sealed = store
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
        // Deriving the matrix is a few milliseconds of AES and arithmetic: keep it off the
        // async workers.
        let transform =
            tokio::task::spawn_blocking(move || SignProjection::new(seed.expose(), bits, dim))
                .await
                .map_err(|e| ServiceError::Internal(format!("deriving a transform failed: {e}")))?;
        let transform = Arc::new(transform);
        self.lock().insert(k, Arc::clone(&transform));
        Ok(transform)
    }

    /// Forgets every transform of `purpose` (after its key was rotated).
    pub(crate) fn forget(&self, purpose: &PurposeId) {
        self.lock().retain(|(p, _), _| p != purpose);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(PurposeId, u32), Arc<SignProjection>>> {
        // A panic while holding this lock leaves a map that is still valid.
        self.transforms.lock().unwrap_or_else(|e| e.into_inner())
    }
}
