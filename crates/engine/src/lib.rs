//! Matchers: how a probe embedding is compared with an enrolled template.
//!
//! The service reaches matching only through the [`Matcher`] trait, so that the baseline
//! cosine matcher here can be replaced by a matcher over protected templates without the
//! layers above changing. Everything in this crate is pure and deterministic.

use bioguard_core::{Embedding, Threshold};

/// The outcome of one comparison. The score never leaves the service: clients see the
/// decision only, so that scores cannot be used to climb towards a match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// The similarity score, in the matcher's own scale.
    pub score: f64,
    /// Whether the score reaches the threshold.
    pub is_match: bool,
}

/// Compares a probe with a reference template under a purpose's threshold.
pub trait Matcher: Send + Sync {
    /// A short name for the matcher, recorded with decisions.
    fn name(&self) -> &'static str;

    /// Compares `probe` with `reference`. Both have the purpose's dimension.
    fn compare(&self, probe: &Embedding, reference: &Embedding, threshold: Threshold)
    -> Comparison;
}

/// The baseline matcher: cosine similarity of the raw embeddings.
#[derive(Debug, Default, Clone, Copy)]
pub struct CosineMatcher;

impl Matcher for CosineMatcher {
    fn name(&self) -> &'static str {
        "cosine"
    }

    fn compare(
        &self,
        probe: &Embedding,
        reference: &Embedding,
        threshold: Threshold,
    ) -> Comparison {
        let score = cosine_similarity(probe.expose(), reference.expose());
        Comparison {
            score,
            is_match: score >= threshold.get(),
        }
    }
}

/// Cosine similarity of two vectors of equal length, accumulated in f64.
///
/// Returns 0 when either vector has zero norm or the lengths differ; checked embeddings are
/// never all zero and always have the purpose's dimension, so neither happens in practice.
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
    use bioguard_core::Dimension;

    fn emb(v: &[f32]) -> Embedding {
        Embedding::parse(v.to_vec(), Dimension::new(v.len() as u64).expect("dim")).expect("valid")
    }

    #[test]
    fn cosine_basics() {
        assert!((cosine_similarity(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!(cosine_similarity(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-12);
        assert!((cosine_similarity(&[1.0, 0.0], &[-1.0, 0.0]) + 1.0).abs() < 1e-12);
        assert_eq!(cosine_similarity(&[1.0], &[1.0, 2.0]), 0.0);
    }

    #[test]
    fn threshold_is_inclusive() {
        let m = CosineMatcher;
        let t = Threshold::new(1.0).expect("valid");
        assert!(m.compare(&emb(&[0.6, 0.8]), &emb(&[0.6, 0.8]), t).is_match);
        let t = Threshold::new(0.9).expect("valid");
        assert!(!m.compare(&emb(&[1.0, 0.0]), &emb(&[0.0, 1.0]), t).is_match);
    }
}
