//! The protection transforms: keyed, non-invertible maps from an embedding to a binary code.
//!
//! [`SignProjection`] (the one the service uses; see `docs/adr/0006-template-protection.md`):
//! a secret Gaussian matrix W of `bits` rows, generated from a 256-bit key; bit j of the code is
//! 1 when row j of W has a non-negative dot product with the embedding. Hamming distance
//! between codes estimates the angle between embeddings (Charikar 2002), so matching keeps
//! cosine's accuracy, while the code keeps only `bits` signs of secret projections.
//!
//! [`IndexOfMax`] (measured, not used by the service): Gaussian-random-projection
//! Index-of-Max hashing (Jin et al. 2018), one-hot encoded so that the same Hamming kernels
//! score it.
//!
//! The matrices are key material: zeroed on drop, no `Debug`. Projected values (W x) would
//! reveal the embedding to anyone holding W, so they never leave a register.

use aes::Aes256;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use bioguard_core::Embedding;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::kernels::{PROJECTION_GROUP, project_signs};
use crate::{CodeBits, ProtectedCode};

/// A deterministic stream of standard normal values from a 256-bit key: AES-256 in counter
/// mode gives uniform 64-bit values, Box-Muller turns pairs of them into normals.
struct GaussianStream {
    cipher: Aes256,
    counter: u128,
    spare: Option<f64>,
}

impl GaussianStream {
    fn new(key: &[u8; 32], domain: u64) -> Self {
        Self {
            cipher: Aes256::new(key.into()),
            // The high half of the counter block names the use, so one key never yields the
            // same stream for two purposes of the stream.
            counter: u128::from(domain) << 64,
            spare: None,
        }
    }

    fn uniform_pair(&mut self) -> (f64, f64) {
        let mut block = self.counter.to_le_bytes().into();
        self.counter += 1;
        self.cipher.encrypt_block(&mut block);
        let bytes: [u8; 16] = block.into();
        let a = u64::from_le_bytes(bytes[..8].try_into().unwrap_or([0; 8]));
        let b = u64::from_le_bytes(bytes[8..].try_into().unwrap_or([0; 8]));
        // 53-bit uniforms in (0, 1]: never 0, so the logarithm is finite.
        let u = |x: u64| ((x >> 11) + 1) as f64 / (1u64 << 53) as f64;
        (u(a), u(b))
    }

    fn next(&mut self) -> f64 {
        if let Some(s) = self.spare.take() {
            return s;
        }
        let (u1, u2) = self.uniform_pair();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        self.spare = Some(r * t.sin());
        r * t.cos()
    }
}

/// A dot product summed in eight independent lanes (then the lanes in a fixed order), so that
/// the compiler can use vector instructions; deterministic for given inputs.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let whole = a.len().min(b.len()) / 8 * 8;
    let mut lanes = [0f32; 8];
    for (ca, cb) in a[..whole].chunks_exact(8).zip(b[..whole].chunks_exact(8)) {
        for k in 0..8 {
            lanes[k] += ca[k] * cb[k];
        }
    }
    let mut sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    for (x, y) in a[whole..].iter().zip(&b[whole..]) {
        sum += x * y;
    }
    sum
}

/// Sign of a secret random projection.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SignProjection {
    #[zeroize(skip)]
    bits: CodeBits,
    dim: usize,
    /// The matrix in groups of 32 rows, each group column by column (see
    /// `kernels::project_signs`).
    grouped: Vec<f32>,
}

impl SignProjection {
    /// The transform for `dim`-value embeddings and `bits`-bit codes under `key`.
    pub fn new(key: &[u8; 32], bits: CodeBits, dim: usize) -> Self {
        // The stream gives the matrix row by row; each value goes straight to its place.
        let mut g = GaussianStream::new(key, 1);
        let mut grouped = vec![0f32; bits.bits() * dim];
        for j in 0..bits.bits() {
            let (group, r) = (j / PROJECTION_GROUP, j % PROJECTION_GROUP);
            for k in 0..dim {
                grouped[group * PROJECTION_GROUP * dim + k * PROJECTION_GROUP + r] =
                    g.next() as f32;
            }
        }
        Self { bits, dim, grouped }
    }

    /// The code length.
    pub fn bits(&self) -> CodeBits {
        self.bits
    }

    /// The embedding dimension this transform takes.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The row vectors, for the reconstruction study (an attacker who holds the key). Each
    /// row is a copy; the caller should not keep it longer than needed.
    pub fn rows(&self) -> impl Iterator<Item = Vec<f32>> + '_ {
        (0..self.bits.bits()).map(move |j| {
            let (group, r) = (j / PROJECTION_GROUP, j % PROJECTION_GROUP);
            let base = group * PROJECTION_GROUP * self.dim + r;
            (0..self.dim)
                .map(|k| self.grouped[base + k * PROJECTION_GROUP])
                .collect()
        })
    }

    /// Protects an embedding. `None` if its dimension is not this transform's.
    pub fn protect(&self, e: &Embedding) -> Option<ProtectedCode> {
        self.protect_values(e.expose())
    }

    /// The code of `x` (already centred, if the matcher centres). `None` if its length is not
    /// this transform's dimension.
    pub fn protect_values(&self, x: &[f32]) -> Option<ProtectedCode> {
        if x.len() != self.dim {
            return None;
        }
        let mut words = vec![0u64; self.bits.words()];
        project_signs(&self.grouped, self.dim, x, &mut words);
        Some(ProtectedCode::from_words(words))
    }
}

/// Gaussian-random-projection Index-of-Max hashing, one-hot encoded: `hashes` groups of `width`
/// projections; each group contributes the one-hot index of its largest projection.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct IndexOfMax {
    hashes: usize,
    width: usize,
    dim: usize,
    matrix: Vec<f32>,
}

impl IndexOfMax {
    /// `hashes * width` must be a valid code length.
    pub fn new(key: &[u8; 32], hashes: usize, width: usize, dim: usize) -> Option<Self> {
        CodeBits::new((hashes * width) as u64)?;
        let mut g = GaussianStream::new(key, 2);
        let matrix = (0..hashes * width * dim).map(|_| g.next() as f32).collect();
        Some(Self {
            hashes,
            width,
            dim,
            matrix,
        })
    }

    /// The code length in bits.
    pub fn bits(&self) -> usize {
        self.hashes * self.width
    }

    /// The projection rows of one hash group.
    pub fn group(&self, h: usize) -> impl Iterator<Item = &[f32]> {
        self.matrix[h * self.width * self.dim..(h + 1) * self.width * self.dim]
            .chunks_exact(self.dim)
    }

    /// Protects an embedding. `None` if its dimension is not this transform's.
    pub fn protect(&self, e: &Embedding) -> Option<ProtectedCode> {
        let x = e.expose();
        if x.len() != self.dim {
            return None;
        }
        let mut words = vec![0u64; self.bits() / 64];
        for h in 0..self.hashes {
            let mut best = (0usize, f32::NEG_INFINITY);
            for (i, row) in self.group(h).enumerate() {
                let d = dot(row, x);
                if d > best.1 {
                    best = (i, d);
                }
            }
            let bit = h * self.width + best.0;
            words[bit / 64] |= 1 << (bit % 64);
        }
        Some(ProtectedCode::from_words(words))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kernel;
    use bioguard_core::Dimension;

    fn emb(v: Vec<f32>) -> Embedding {
        let d = Dimension::new(v.len() as u64).expect("dim");
        Embedding::parse(v, d).expect("valid")
    }

    fn unit(seed: u64, dim: usize) -> Vec<f32> {
        let mut g = GaussianStream::new(&[seed as u8; 32], seed);
        let v: Vec<f64> = (0..dim).map(|_| g.next()).collect();
        let n = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        v.into_iter().map(|a| (a / n) as f32).collect()
    }

    #[test]
    fn the_grouped_kernel_gives_the_signs_of_row_by_row_sums() {
        // Each row summed column 0 first with a separate multiply and add: the order the
        // kernel promises, so the codes must agree bit for bit.
        for (bits, dim) in [(512u64, 7usize), (2048, 128), (1024, 512), (4096, 33)] {
            let bits = CodeBits::new(bits).expect("bits");
            let p = SignProjection::new(&[5; 32], bits, dim);
            for seed in 0..8 {
                let x = unit(seed + 100, dim);
                let code = p.protect(&emb(x.clone())).expect("dim");
                for (j, row) in p.rows().enumerate() {
                    let mut sum = 0f32;
                    for (w, v) in row.iter().zip(&x) {
                        sum += w * v;
                    }
                    let bit = code.words()[j / 64] >> (j % 64) & 1 == 1;
                    assert_eq!(bit, sum >= 0.0, "bits {bits:?} dim {dim} row {j}");
                }
            }
        }
    }

    #[test]
    fn rows_come_in_stream_order() {
        // Row j, column k is value j * dim + k of the key's stream.
        let p = SignProjection::new(&[8; 32], CodeBits::new(512).expect("bits"), 5);
        let mut g = GaussianStream::new(&[8; 32], 1);
        for row in p.rows() {
            for w in row {
                assert_eq!(w, g.next() as f32);
            }
        }
    }

    #[test]
    fn gaussian_stream_has_unit_variance() {
        let mut g = GaussianStream::new(&[3; 32], 1);
        let xs: Vec<f64> = (0..200_000).map(|_| g.next()).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
    }

    #[test]
    fn same_key_same_code_other_key_other_code() {
        let bits = CodeBits::DEFAULT;
        let x = emb(unit(1, 64));
        let a = SignProjection::new(&[1; 32], bits, 64)
            .protect(&x)
            .expect("dim");
        let a2 = SignProjection::new(&[1; 32], bits, 64)
            .protect(&x)
            .expect("dim");
        let b = SignProjection::new(&[2; 32], bits, 64)
            .protect(&x)
            .expect("dim");
        assert!(a == a2);
        let d = Kernel::best().distance(a.words(), b.words());
        // Unrelated codes differ in about half their bits.
        assert!((900..1150).contains(&d), "{d}");
    }

    #[test]
    fn hamming_distance_tracks_the_angle() {
        let bits = CodeBits::DEFAULT;
        let p = SignProjection::new(&[9; 32], bits, 128);
        let x = unit(11, 128);
        let noise = unit(12, 128);
        for mix in [0.1f32, 0.5, 1.0, 2.0] {
            let y: Vec<f32> = x.iter().zip(&noise).map(|(a, b)| a + mix * b).collect();
            let cos = bioguard_engine_cos(&x, &y);
            let d = Kernel::best().distance(
                p.protect(&emb(x.clone())).expect("dim").words(),
                p.protect(&emb(y)).expect("dim").words(),
            );
            let expected = bits.bits() as f64 * cos.acos() / std::f64::consts::PI;
            // Binomial standard deviation is at most sqrt(2048)/2 = 23 bits.
            assert!(
                (f64::from(d) - expected).abs() < 5.0 * 23.0,
                "{mix}: {d} vs {expected}"
            );
        }
    }

    fn bioguard_engine_cos(a: &[f32], b: &[f32]) -> f64 {
        crate::cosine_similarity(a, b)
    }

    #[test]
    fn wrong_dimension_is_refused() {
        let p = SignProjection::new(&[1; 32], CodeBits::DEFAULT, 8);
        assert!(p.protect(&emb(unit(1, 16))).is_none());
        let i = IndexOfMax::new(&[1; 32], 256, 8, 8).expect("valid");
        assert!(i.protect(&emb(unit(1, 16))).is_none());
    }

    #[test]
    fn index_of_max_is_one_hot() {
        let i = IndexOfMax::new(&[1; 32], 256, 8, 32).expect("valid");
        let c = i.protect(&emb(unit(5, 32))).expect("dim");
        assert_eq!(c.words().iter().map(|w| w.count_ones()).sum::<u32>(), 256);
        for h in 0..256 {
            let byte = (c.words()[h / 8] >> ((h % 8) * 8)) & 0xff;
            assert_eq!(byte.count_ones(), 1);
        }
    }
}
