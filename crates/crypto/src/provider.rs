use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;

use crate::{Aad, Key256, KeyError};

/// Names one key-encryption key: the provider kind, the key's fingerprint and its version.
///
/// Text form: `<provider>:v<version>:<key id>`, e.g. `local:v1:3fa2c1d09a8b7c6d`. It is stored
/// next to every wrapped key, so a node can say exactly which key it would need.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KekRef {
    /// The provider kind (`local`, later `pkcs11`, `openbao`).
    pub provider: String,
    /// The key version within the provider.
    pub version: u32,
    /// A public fingerprint of the key (never the key).
    pub key_id: String,
}

impl fmt::Display for KekRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:v{}:{}", self.provider, self.version, self.key_id)
    }
}

impl FromStr for KekRef {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let mut parts = s.splitn(3, ':');
        let provider = parts.next().filter(|p| !p.is_empty()).ok_or(())?;
        let version = parts
            .next()
            .and_then(|v| v.strip_prefix('v'))
            .and_then(|v| v.parse().ok())
            .ok_or(())?;
        let key_id = parts.next().filter(|k| !k.is_empty()).ok_or(())?;
        Ok(Self {
            provider: provider.to_owned(),
            version,
            key_id: key_id.to_owned(),
        })
    }
}

/// A data key encrypted under a key-encryption key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// The key-encryption key that wrapped it.
    pub kek: KekRef,
    /// The wrapped bytes (opaque to everyone but the provider).
    pub ciphertext: Vec<u8>,
}

/// Holds key-encryption keys and wraps and unwraps data keys with them.
///
/// The trait is async and names key versions because the providers to come (an HSM over
/// PKCS#11, OpenBao transit) are remote, slow compared with local AES, and rotate keys.
/// `aad` binds a wrapped key to its context (subject pseudonym, purpose, data key id): a
/// wrapped key moved to another context fails to unwrap.
#[async_trait]
pub trait KeyProvider: Send + Sync {
    /// The provider kind, as in [`KekRef::provider`].
    fn kind(&self) -> &'static str;

    /// The key-encryption key that wraps new data keys.
    fn current(&self) -> KekRef;

    /// Every version this provider holds, oldest first.
    fn versions(&self) -> Vec<KekRef>;

    /// Re-reads the versions from the key manager: another process may have rotated or
    /// destroyed one. Unwrapping under a version not held calls this once by itself.
    async fn refresh(&self) -> Result<(), KeyError>;

    /// Creates a new key-encryption key version and makes it current.
    async fn rotate(&self) -> Result<KekRef, KeyError>;

    /// Destroys a version that is not the current one. Irreversible: whatever is still
    /// wrapped under it (in the database, or in any backup of it) can never be unwrapped.
    async fn destroy(&self, version: u32) -> Result<(), KeyError>;

    /// Wraps `key` under the current key-encryption key.
    async fn wrap(&self, key: &Key256, aad: &Aad) -> Result<WrappedKey, KeyError>;

    /// Unwraps a key wrapped by [`KeyProvider::wrap`] with the same `aad`.
    async fn unwrap(&self, wrapped: &WrappedKey, aad: &Aad) -> Result<Key256, KeyError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kek_ref_text_form() {
        let r: KekRef = "local:v3:abcdef".parse().expect("valid");
        assert_eq!(r.version, 3);
        assert_eq!(r.to_string(), "local:v3:abcdef");
        for bad in ["", "local", "local:3:x", "local:v3:", ":v1:x", "local:vx:y"] {
            assert!(bad.parse::<KekRef>().is_err(), "{bad}");
        }
    }
}
