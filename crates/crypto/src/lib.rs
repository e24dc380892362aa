//! Cryptography for bioguard: envelope encryption of templates, key-encryption-key providers,
//! keyed pseudonyms and token digests, and the secret types that carry keys.
//!
//! Layout of the envelope (see `docs/adr/0002-envelope-encryption.md`):
//! - every (subject, purpose) pair has its own random 256-bit *data key*; withdrawing consent
//!   destroys that one key;
//! - templates are sealed with AES-256-GCM-SIV under the data key, with associated data that
//!   binds the ciphertext to its subject pseudonym, purpose, template id and key version;
//! - data keys are stored only wrapped by a *key-encryption key* held by a [`KeyProvider`]
//!   (a local key file, an HSM over PKCS#11, or OpenBao transit), itself bound to the same
//!   context.
//!
//! Secrets are newtypes without `Debug` or `Clone` that zero their memory on drop.

mod aad;
mod aead;
mod cache;
pub mod conformance;
mod error;
mod hex;
mod local;
mod mac;
mod openbao;
mod pkcs11;
mod provider;
mod random;
mod secret;

pub use aad::Aad;
pub use aead::{open, seal};
pub use cache::CachedKeys;
pub use error::{CryptoError, KeyError};
pub use hex::{hex_decode, hex_encode};
pub use local::LocalKeyFile;
pub use mac::MacKey;
pub use openbao::{OpenBaoConfig, OpenBaoTransit};
pub use pkcs11::{Pkcs11Config, Pkcs11Provider};
pub use provider::{KekRef, KeyProvider, WrappedKey};
pub use random::{random_array, random_token};
pub use secret::Key256;
