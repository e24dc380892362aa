//! Biometric embeddings: the feature vectors a capture device's model produces.
//!
//! An [`Embedding`] is the most sensitive value bioguard handles. It has no `Debug`, no
//! `Display` and no `Clone`, so it cannot reach a log or be copied by accident; its memory is
//! overwritten with zeros when it is dropped; its values are read only through
//! [`Embedding::expose`].

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::ValidationError;

/// The smallest embedding dimension accepted.
pub const MIN_DIMENSION: usize = 2;
/// The largest embedding dimension accepted.
pub const MAX_DIMENSION: usize = 4096;

/// The number of values in an embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dimension(u16);

impl Dimension {
    /// Parses a dimension.
    pub fn new(n: u64) -> Result<Self, ValidationError> {
        if !(MIN_DIMENSION as u64..=MAX_DIMENSION as u64).contains(&n) {
            return Err(ValidationError::new(
                "dimension",
                format!("an integer from {MIN_DIMENSION} to {MAX_DIMENSION}"),
            ));
        }
        Ok(Self(n as u16))
    }

    /// The dimension as a count.
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

/// A checked embedding: the purpose's dimension, finite values, not all zero.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Embedding(Vec<f32>);

impl Embedding {
    /// Checks `values` against the purpose's `dimension`. The values are zeroed on failure too.
    pub fn parse(values: Vec<f32>, dimension: Dimension) -> Result<Self, ValidationError> {
        let e = Self(values);
        if e.0.is_empty() {
            return Err(ValidationError::new("embedding", "must not be empty"));
        }
        if e.0.len() != dimension.get() {
            return Err(ValidationError::new(
                "embedding",
                format!(
                    "this purpose takes {} values, {} were sent",
                    dimension.get(),
                    e.0.len()
                ),
            ));
        }
        if !e.0.iter().all(|v| v.is_finite()) {
            return Err(ValidationError::new(
                "embedding",
                "every value must be a finite 32-bit float",
            ));
        }
        if e.0.iter().all(|v| *v == 0.0) {
            return Err(ValidationError::new(
                "embedding",
                "all values are zero; send the model's output vector",
            ));
        }
        Ok(e)
    }

    /// The values. Callers must not copy them anywhere that outlives the call.
    pub fn expose(&self) -> &[f32] {
        &self.0
    }

    /// The number of values.
    pub fn dimension(&self) -> usize {
        self.0.len()
    }

    /// The canonical byte form used inside encrypted templates: little-endian f32 values.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(self.0.len() * 4));
        for v in &self.0 {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads the canonical byte form back. `None` if the length is not a multiple of 4 or the
    /// values do not form a valid embedding.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(4) {
            return None;
        }
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let dim = Dimension::new(values.len() as u64).ok()?;
        Self::parse(values, dim).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dim(n: u64) -> Dimension {
        Dimension::new(n).expect("valid dimension")
    }

    #[test]
    fn rejects_bad_vectors() {
        assert!(Embedding::parse(vec![], dim(2)).is_err());
        assert!(Embedding::parse(vec![1.0, 2.0], dim(3)).is_err());
        assert!(Embedding::parse(vec![1.0, f32::NAN], dim(2)).is_err());
        assert!(Embedding::parse(vec![1.0, f32::INFINITY], dim(2)).is_err());
        assert!(Embedding::parse(vec![0.0, 0.0], dim(2)).is_err());
        assert!(Embedding::parse(vec![0.0, 0.5], dim(2)).is_ok());
    }

    #[test]
    fn byte_form_round_trips() {
        let e = Embedding::parse(vec![0.25, -1.5, 3.0], dim(3)).expect("valid");
        let back = Embedding::from_bytes(&e.to_bytes()).expect("round trip");
        assert_eq!(back.expose(), e.expose());
        assert!(Embedding::from_bytes(&[1, 2, 3]).is_none());
    }

    #[test]
    fn errors_do_not_repeat_values() {
        let err = Embedding::parse(vec![0.123_456_7, 2.0], dim(3))
            .err()
            .expect("wrong dimension");
        assert!(!err.to_string().contains("0.123"));
    }
}
