//! A cache of unwrapped data keys in front of a remote key provider (an HSM or OpenBao), so
//! that every verification does not cost a round trip.
//!
//! Entries live at most the configured time and are zeroized when they leave (the keys are
//! [`Key256`], which zeroes itself on drop). The cache is looked up by a hash of the key
//! reference, the associated data and the wrapped bytes together, so a wrapped key moved to
//! another context misses the cache and fails at the provider as it should. Wrapping, and
//! every version operation, go straight to the provider.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::{Aad, KekRef, Key256, KeyError, KeyProvider, WrappedKey};

/// A [`KeyProvider`] that remembers unwrapped keys for a while.
pub struct CachedKeys {
    inner: std::sync::Arc<dyn KeyProvider>,
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<[u8; 32], (Key256, Instant)>>,
}

impl CachedKeys {
    /// Caches `inner`'s unwrapped keys for `ttl`, at most `max_entries` at a time.
    pub fn new(inner: std::sync::Arc<dyn KeyProvider>, ttl: Duration, max_entries: usize) -> Self {
        Self {
            inner,
            ttl,
            max_entries: max_entries.max(1),
            entries: Mutex::default(),
        }
    }

    fn lookup_key(wrapped: &WrappedKey, aad: &Aad) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"bioguard/key-cache/v1\0");
        h.update(wrapped.kek.to_string().as_bytes());
        h.update((aad.as_bytes().len() as u64).to_be_bytes());
        h.update(aad.as_bytes());
        h.update(&wrapped.ciphertext);
        h.finalize().into()
    }

    /// Drops every cached key now.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[async_trait]
impl KeyProvider for CachedKeys {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn current(&self) -> KekRef {
        self.inner.current()
    }

    fn versions(&self) -> Vec<KekRef> {
        self.inner.versions()
    }

    async fn refresh(&self) -> Result<(), KeyError> {
        self.inner.refresh().await
    }

    async fn rotate(&self) -> Result<KekRef, KeyError> {
        self.inner.rotate().await
    }

    async fn destroy(&self, version: u32) -> Result<(), KeyError> {
        // Keys unwrapped under the destroyed version must not outlive it here.
        self.clear();
        self.inner.destroy(version).await
    }

    async fn wrap(&self, key: &Key256, aad: &Aad) -> Result<WrappedKey, KeyError> {
        self.inner.wrap(key, aad).await
    }

    async fn unwrap(&self, wrapped: &WrappedKey, aad: &Aad) -> Result<Key256, KeyError> {
        let id = Self::lookup_key(wrapped, aad);
        let now = Instant::now();
        {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            match entries.get(&id) {
                Some((key, at)) if now.duration_since(*at) < self.ttl => {
                    return Key256::from_slice(key.expose())
                        .ok_or(KeyError::Crypto(crate::CryptoError::Integrity));
                }
                Some(_) => {
                    entries.remove(&id);
                }
                None => {}
            }
        }
        let key = self.inner.unwrap(wrapped, aad).await?;
        let copy = Key256::from_slice(key.expose())
            .ok_or(KeyError::Crypto(crate::CryptoError::Integrity))?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.max_entries {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| now.duration_since(*at) < ttl);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(id, (copy, now));
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let waker = std::task::Waker::noop();
        match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the local key provider awaited"),
        }
    }

    #[test]
    fn the_cached_provider_passes_the_conformance_suite_and_forgets_after_its_time() {
        let dir = std::env::temp_dir().join(format!(
            "bioguard-cachetest-{}",
            crate::hex_encode(&crate::random_array::<8>().expect("rng"))
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let (local, _) = crate::LocalKeyFile::open_or_create(&dir.join("k")).expect("key");
        let cached = CachedKeys::new(std::sync::Arc::new(local), Duration::from_millis(50), 4);
        let report = block_on(crate::conformance::check(&cached, 20)).expect("conforms");
        assert_eq!(report.passed.len(), 8);
        let aad = Aad::new("t");
        let key = Key256::random().expect("rng");
        let w = block_on(cached.wrap(&key, &aad)).expect("wrap");
        block_on(cached.unwrap(&w, &aad)).expect("unwrap");
        assert!(cached.entries.lock().expect("lock").len() <= 4, "bounded");
        std::thread::sleep(Duration::from_millis(60));
        // Expired entries are dropped when met.
        block_on(cached.unwrap(&w, &aad)).expect("unwrap");
        let rotation = block_on(crate::conformance::check_rotation(&cached)).expect("rotates");
        assert_eq!(rotation.len(), 6);
        std::fs::remove_dir_all(dir).expect("cleanup");
    }
}
