//! [`Protector`]: a protection key's matcher made concrete: the keyed transform of its
//! [`Matcher`] record, with the centre subtracted first when the record has one.

use bioguard_core::{Embedding, Matcher, Transform};
use zeroize::Zeroizing;

use crate::projection::SignProjection;
use crate::structured::HadamardSigns;
use crate::{CodeBits, ProtectedCode};

/// The keyed transform.
enum Keyed {
    Gaussian(SignProjection),
    Hadamard(HadamardSigns),
}

/// Turns embeddings into protected codes the way one protection key version does.
pub struct Protector {
    keyed: Keyed,
    centre: Option<Vec<f32>>,
    bits: CodeBits,
    dim: usize,
}

impl Protector {
    /// The protector of `matcher` under `key`. `None` if the matcher's centre is not of
    /// dimension `dim`.
    pub fn new(key: &[u8; 32], bits: CodeBits, dim: usize, matcher: &Matcher) -> Option<Self> {
        let centre = match &matcher.centre {
            Some(c) if c.values().len() != dim => return None,
            Some(c) => Some(c.values().to_vec()),
            None => None,
        };
        let keyed = match matcher.transform {
            Transform::GaussianSign => Keyed::Gaussian(SignProjection::new(key, bits, dim)),
            Transform::HadamardSign => Keyed::Hadamard(HadamardSigns::new(key, bits, dim)),
        };
        Some(Self {
            keyed,
            centre,
            bits,
            dim,
        })
    }

    /// The code length.
    pub fn bits(&self) -> CodeBits {
        self.bits
    }

    /// Whether a centre is subtracted before the transform.
    pub fn centred(&self) -> bool {
        self.centre.is_some()
    }

    /// Protects an embedding. `None` if its dimension is not this matcher's.
    pub fn protect(&self, e: &Embedding) -> Option<ProtectedCode> {
        self.protect_values(e.expose())
    }

    /// Protects raw values (evaluation and benchmarks). `None` if their length is not this
    /// matcher's dimension.
    pub fn protect_values(&self, x: &[f32]) -> Option<ProtectedCode> {
        if x.len() != self.dim {
            return None;
        }
        let centred;
        let x = match &self.centre {
            Some(c) => {
                centred = Zeroizing::new(x.iter().zip(c).map(|(a, m)| a - m).collect::<Vec<f32>>());
                &centred[..]
            }
            None => x,
        };
        match &self.keyed {
            Keyed::Gaussian(p) => p.protect_values(x),
            Keyed::Hadamard(h) => h.protect_values(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bioguard_core::{Centre, Dimension};

    #[test]
    fn the_legacy_matcher_gives_the_gaussian_transforms_codes() {
        let bits = CodeBits::new(512).expect("valid");
        let x: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin()).collect();
        let p = Protector::new(&[3; 32], bits, 16, &Matcher::LEGACY).expect("valid");
        let g = SignProjection::new(&[3; 32], bits, 16);
        assert!(p.protect_values(&x) == g.protect_values(&x));
        assert!(!p.centred());
    }

    #[test]
    fn a_centred_matcher_transforms_the_difference_from_the_centre() {
        let bits = CodeBits::new(512).expect("valid");
        let d = Dimension::new(16).expect("valid");
        let x: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin()).collect();
        let m: Vec<f32> = (0..16).map(|i| (i as f32 * 0.11).cos() / 4.0).collect();
        let centre = Centre::new(m.clone(), 30, d).expect("valid");
        let matcher = Matcher {
            transform: Transform::HadamardSign,
            centre: Some(centre),
        };
        let p = Protector::new(&[3; 32], bits, 16, &matcher).expect("valid");
        let plain = HadamardSigns::new(&[3; 32], bits, 16);
        let diff: Vec<f32> = x.iter().zip(&m).map(|(a, b)| a - b).collect();
        assert!(p.protect_values(&x) == plain.protect_values(&diff));
        assert!(p.protect_values(&x) != plain.protect_values(&x));
        // A centre of another dimension is refused.
        assert!(Protector::new(&[3; 32], bits, 8, &matcher).is_none());
    }
}
