//! [`HadamardSigns`]: a structured orthogonal sign transform, the one new protection keys use
//! (`docs/adr/0024-centred-protection-and-code-size.md`).
//!
//! The code is cut into blocks of `n` bits, `n` the embedding dimension rounded up to a power
//! of two and at least 256. Block b is the signs of H D3 H D2 H D1 x, where x is the embedding
//! padded with zeros to `n` values, each Dk a diagonal of secret random signs drawn from the
//! key for that block and H the Walsh-Hadamard transform. Each block is an orthogonal map of
//! the embedding, so its bits estimate the angle between two embeddings as a Gaussian
//! projection's do (with less variance between keys, measured in the ADR), and no matrix is
//! stored: the key's signs, one bit each (3 n bits per block), are the whole state. A probe
//! costs O(n log n) per block and touches under 1 KiB of key at 2048 bits, where the Gaussian
//! transform streams a 2 MiB matrix.
//!
//! The signs are key material: zeroed on drop, no `Debug`. The transformed values would
//! reveal the embedding to anyone holding the signs, so they live only in a scratch buffer
//! that is zeroed after use.

use aes::Aes256;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::kernels::hadamard_rounds;
use crate::{CodeBits, ProtectedCode};

/// Rounds of sign flips and transforms per block.
const ROUNDS: usize = 3;
/// The smallest block, in bits.
const MIN_BLOCK: usize = 256;
/// The counter domain of the sign stream (the Gaussian transform uses 1, Index-of-Max 2).
const DOMAIN: u64 = 3;

/// Signs of structured orthogonal blocks.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct HadamardSigns {
    #[zeroize(skip)]
    bits: CodeBits,
    dim: usize,
    /// The block length n.
    block: usize,
    /// Per block, per round, n sign bits (1 flips the value), packed in words.
    signs: Vec<u64>,
}

impl HadamardSigns {
    /// The transform for `dim`-value embeddings and `bits`-bit codes under `key`.
    pub fn new(key: &[u8; 32], bits: CodeBits, dim: usize) -> Self {
        let block = dim.next_power_of_two().max(MIN_BLOCK);
        let blocks = bits.bits().div_ceil(block);
        let words = blocks * ROUNDS * block / 64;
        // AES-256 in counter mode, the high half of the counter naming this stream.
        let cipher = Aes256::new(key.into());
        let mut signs = Vec::with_capacity(words);
        let mut counter = u128::from(DOMAIN) << 64;
        while signs.len() < words {
            let mut b = counter.to_le_bytes().into();
            counter += 1;
            cipher.encrypt_block(&mut b);
            let bytes: [u8; 16] = b.into();
            for half in bytes.chunks_exact(8) {
                let mut w = [0u8; 8];
                w.copy_from_slice(half);
                signs.push(u64::from_le_bytes(w));
            }
        }
        signs.truncate(words);
        Self {
            bits,
            dim,
            block,
            signs,
        }
    }

    /// The code length.
    pub fn bits(&self) -> CodeBits {
        self.bits
    }

    /// The embedding dimension this transform takes.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The bytes of key state a probe reads.
    pub fn key_bytes(&self) -> usize {
        self.signs.len() * 8
    }

    /// The transpose of the transform applied to a code's signs (+-1): the best estimate of
    /// the (centred) embedding's direction for someone who holds the key and the code. For the
    /// reconstruction study only; the caller should not keep it longer than needed.
    pub fn reconstruct(&self, code: &ProtectedCode) -> Vec<f32> {
        let n = self.block;
        let total = self.bits.bits();
        let mut est = vec![0f32; self.dim];
        let mut v = vec![0f32; n];
        for (b, rounds) in self.signs.chunks_exact(ROUNDS * n / 64).enumerate() {
            // +-1 by the block's bits; bits past the code's end carry nothing.
            for (i, a) in v.iter_mut().enumerate() {
                let j = b * n + i;
                *a = if j >= total {
                    0.0
                } else if code.words()[j / 64] >> (j % 64) & 1 == 1 {
                    1.0
                } else {
                    -1.0
                };
            }
            // M = H D3 H D2 H D1, so M^T = D1 H D2 H D3 H: the rounds in reverse, each a
            // transform then its flips (H is symmetric, D diagonal).
            for round in rounds.chunks_exact(n / 64).rev() {
                crate::kernels::fwht_then_flip(&mut v, round);
            }
            for (e, a) in est.iter_mut().zip(&v) {
                *e += a;
            }
        }
        est
    }

    /// The code of `x` (already centred, if the matcher centres). `None` if its length is not
    /// this transform's dimension.
    pub fn protect_values(&self, x: &[f32]) -> Option<ProtectedCode> {
        if x.len() != self.dim {
            return None;
        }
        let n = self.block;
        let total = self.bits.bits();
        let mut words = vec![0u64; self.bits.words()];
        let mut v = vec![0f32; n];
        for (b, rounds) in self.signs.chunks_exact(ROUNDS * n / 64).enumerate() {
            v[..self.dim].copy_from_slice(x);
            v[self.dim..].fill(0.0);
            hadamard_rounds(&mut v, rounds);
            // This block's bits: b * n onwards, the last block cut at the code's end.
            let first = b * n;
            let take = n.min(total - first);
            for (w, chunk) in v[..take].chunks_exact(64).enumerate() {
                let mut word = 0u64;
                for (i, a) in chunk.iter().enumerate() {
                    word |= u64::from(*a >= 0.0) << i;
                }
                words[first / 64 + w] = word;
            }
        }
        v.zeroize();
        Some(ProtectedCode::from_words(words))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kernel;

    fn unit(seed: u64, dim: usize) -> Vec<f32> {
        // A small deterministic generator: xorshift, then centred uniforms.
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let v: Vec<f64> = (0..dim)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect();
        let n = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        v.into_iter().map(|a| (a / n) as f32).collect()
    }

    #[test]
    fn the_transform_is_orthogonal() {
        // Norms survive three rounds (H scales by sqrt(n) each time).
        let x = unit(3, 256);
        let mut v = x.clone();
        let t = HadamardSigns::new(&[4; 32], CodeBits::new(512).expect("valid"), 256);
        hadamard_rounds(&mut v, &t.signs[..ROUNDS * 4]);
        let norm = v.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>().sqrt();
        assert!((norm / 256f64.powf(1.5) - 1.0).abs() < 1e-4, "{norm}");
    }

    #[test]
    fn same_key_same_code_other_key_unrelated_code() {
        let bits = CodeBits::DEFAULT;
        let x = unit(1, 256);
        let a = HadamardSigns::new(&[1; 32], bits, 256)
            .protect_values(&x)
            .expect("valid");
        let a2 = HadamardSigns::new(&[1; 32], bits, 256)
            .protect_values(&x)
            .expect("valid");
        let b = HadamardSigns::new(&[2; 32], bits, 256)
            .protect_values(&x)
            .expect("valid");
        assert!(a == a2);
        let d = Kernel::best().distance(a.words(), b.words());
        assert!((900..1150).contains(&d), "{d}");
    }

    #[test]
    fn hamming_distance_tracks_the_angle_at_every_shape() {
        // Dimensions below, at and above a block, and a code that ends inside a block.
        for (dim, bits) in [(128usize, 2048u64), (256, 2048), (512, 1280), (100, 768)] {
            let bits = CodeBits::new(bits).expect("valid");
            let t = HadamardSigns::new(&[9; 32], bits, dim);
            let x = unit(11, dim);
            let noise = unit(12, dim);
            for mix in [0.1f32, 0.5, 1.0, 2.0] {
                let y: Vec<f32> = x.iter().zip(&noise).map(|(a, b)| a + mix * b).collect();
                let cos = crate::cosine_similarity(&x, &y);
                let a = t.protect_values(&x).expect("valid");
                let b = t.protect_values(&y).expect("valid");
                assert_eq!(a.bits(), bits.bits());
                let d = Kernel::best().distance(a.words(), b.words());
                let expected = bits.bits() as f64 * cos.acos() / std::f64::consts::PI;
                let sd = (bits.bits() as f64).sqrt() / 2.0;
                assert!(
                    (f64::from(d) - expected).abs() < 6.0 * sd,
                    "dim {dim} bits {bits:?} mix {mix}: {d} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn the_key_holder_reconstructs_the_direction_and_a_wrong_key_does_not() {
        let bits = CodeBits::DEFAULT;
        let t = HadamardSigns::new(&[5; 32], bits, 100);
        let wrong = HadamardSigns::new(&[6; 32], bits, 100);
        let x = unit(21, 100);
        let code = t.protect_values(&x).expect("valid");
        let good = crate::cosine_similarity(&t.reconstruct(&code), &x);
        let bad = crate::cosine_similarity(&wrong.reconstruct(&code), &x);
        assert!(good > 0.7, "{good}");
        assert!(bad.abs() < 0.3, "{bad}");
    }

    #[test]
    fn the_key_is_bits_not_a_matrix() {
        let t = HadamardSigns::new(&[1; 32], CodeBits::DEFAULT, 256);
        assert_eq!(t.key_bytes(), 8 * 3 * 256 / 8);
        assert!(t.protect_values(&unit(1, 255)).is_none());
    }
}
