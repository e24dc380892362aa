//! Protected codes: the binary form templates take after the protection transform.

use bioguard_core::CodeBits;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A protected code. No `Debug` and no `Clone`: a code is not the biometric, but two codes
/// under one key reveal whether they come from the same person. Zeroed on drop.
#[derive(Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct ProtectedCode(Vec<u64>);

impl ProtectedCode {
    /// A code from its words.
    pub fn from_words(words: Vec<u64>) -> Self {
        Self(words)
    }

    /// The code's words.
    pub fn words(&self) -> &[u64] {
        &self.0
    }

    /// The length in bits.
    pub fn bits(&self) -> usize {
        self.0.len() * 64
    }

    /// The canonical byte form (little-endian words), for sealing.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut out = zeroize::Zeroizing::new(Vec::with_capacity(self.0.len() * 8));
        for w in &self.0 {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Reads the byte form back; `None` unless it is a valid code length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        CodeBits::new(bytes.len() as u64 * 8)?;
        Some(Self(
            bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_form_round_trips() {
        let c = ProtectedCode::from_words((0..8).map(|i| i * 0x0101_0101).collect());
        assert!(ProtectedCode::from_bytes(&c.to_bytes()) == Some(c));
        assert!(ProtectedCode::from_bytes(&[0; 10]).is_none());
    }
}
