//! The matching engine: protection transforms, protected codes, Hamming kernels, galleries
//! for 1:N search, and error-rate evaluation.
//!
//! Everything here is pure and deterministic: keys come in as bytes, embeddings as checked
//! [`bioguard_core::Embedding`] values; nothing is read from or written to the outside.

mod code;
pub mod eval;
pub mod fairness;
mod index;
mod kernels;
mod matcher;
mod projection;
mod structured;

pub use bioguard_core::CodeBits;
pub use code::ProtectedCode;
pub use index::{Candidate, Gallery};
pub use kernels::Kernel;
pub use matcher::Protector;
pub use projection::{IndexOfMax, SignProjection};
pub use structured::HadamardSigns;

/// Cosine similarity of two vectors of equal length, accumulated in f64: the raw-embedding
/// baseline that calibration and the protection study compare against.
///
/// Returns 0 when either vector has zero norm or the lengths differ.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    // sqrt(na * nb) rather than sqrt(na) * sqrt(nb): for identical vectors it is exactly na,
    // so a vector compared with itself scores exactly 1.
    (dot / (na * nb).sqrt()).clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_basics() {
        assert!((cosine_similarity(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!(cosine_similarity(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-12);
        assert!((cosine_similarity(&[1.0, 0.0], &[-1.0, 0.0]) + 1.0).abs() < 1e-12);
        assert_eq!(cosine_similarity(&[1.0], &[1.0, 2.0]), 0.0);
        assert_eq!(cosine_similarity(&[0.6, 0.8], &[0.6, 0.8]), 1.0);
    }
}
