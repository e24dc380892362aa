use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{CryptoError, random_array};

/// A 256-bit secret key. No `Debug`, no `Clone`; zeroed on drop; read through [`Key256::expose`].
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Key256([u8; 32]);

impl Key256 {
    /// A fresh random key.
    pub fn random() -> Result<Self, CryptoError> {
        Ok(Self(random_array()?))
    }

    /// A key from its 32 bytes (a derived key).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key from its bytes. `None` unless there are exactly 32.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(arr))
    }

    /// The key bytes. Use them for a cryptographic operation and nothing else.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}
