//! XOR-popcount kernels: the Hamming distance between one query code and a block of codes;
//! and the sign-projection kernel that turns an embedding into a protected code.
//!
//! This is the only module in the workspace allowed to use `unsafe`: CPU-specific instructions
//! (POPCNT, AVX2, AVX-512 VPOPCNTDQ) are reached through functions compiled for those features,
//! which may only be called once the running CPU is known to have them. A [`Kernel`] can only be
//! obtained through [`Kernel::best`] or [`Kernel::available`], which check the CPU, so holding
//! one is the proof that its instructions exist; every `unsafe` block below relies on that.
//!
//! Release binaries stay portable (no `target-cpu=native`): the choice is made at run time.
//! Every variant is tested equal to the portable one.

#![allow(unsafe_code)]

/// Which implementation a [`Kernel`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Imp {
    /// Plain Rust; `count_ones` without assuming any CPU feature.
    Portable,
    /// The x86-64 POPCNT instruction, one 64-bit word at a time.
    #[cfg(target_arch = "x86_64")]
    Popcnt,
    /// AVX2: nibble lookup with `vpshufb` (Mula's method), 256 bits at a time.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512 with the VPOPCNTDQ extension: 512 bits and one popcount instruction at a time.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// A Hamming-distance kernel the running CPU supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernel(Imp);

impl Kernel {
    /// The portable kernel, available everywhere.
    pub fn portable() -> Self {
        Kernel(Imp::Portable)
    }

    /// Every kernel this CPU supports, slowest first.
    pub fn available() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut out = vec![Kernel(Imp::Portable)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("popcnt") {
                out.push(Kernel(Imp::Popcnt));
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                out.push(Kernel(Imp::Avx2));
            }
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
            {
                out.push(Kernel(Imp::Avx512));
            }
        }
        out
    }

    /// The fastest kernel this CPU supports (detected once).
    pub fn best() -> Self {
        static BEST: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| {
            *Self::available()
                .last()
                .expect("the portable kernel is always available")
        })
    }

    /// The kernel's name, for reports.
    pub fn name(self) -> &'static str {
        match self.0 {
            Imp::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Imp::Popcnt => "popcnt",
            #[cfg(target_arch = "x86_64")]
            Imp::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Imp::Avx512 => "avx512-vpopcntdq",
        }
    }

    /// Writes into `out[i]` the Hamming distance between `query` and the `i`-th code of
    /// `codes` (codes of `query.len()` words, stored one after another).
    ///
    /// # Panics
    /// If `query` is empty or its length is not a multiple of 4 words (256 bits), or if
    /// `codes.len() != out.len() * query.len()`.
    pub fn distances(self, query: &[u64], codes: &[u64], out: &mut [u32]) {
        self.run::<false>(query, codes, out);
    }

    /// [`Kernel::distances`], adding each distance to what `out[i]` holds instead of
    /// overwriting it: the distance over a further segment of codes stored segment by segment.
    ///
    /// # Panics
    /// As [`Kernel::distances`].
    pub fn add_distances(self, query: &[u64], codes: &[u64], out: &mut [u32]) {
        self.run::<true>(query, codes, out);
    }

    fn run<const ADD: bool>(self, query: &[u64], codes: &[u64], out: &mut [u32]) {
        let words = query.len();
        assert!(
            words > 0 && words.is_multiple_of(4),
            "codes are a positive multiple of 256 bits"
        );
        assert_eq!(codes.len(), out.len() * words, "one output per code");
        match self.0 {
            Imp::Portable => portable::<ADD>(query, codes, out),
            // SAFETY: a `Kernel` holding `Popcnt` is only made by `available`, after
            // `is_x86_feature_detected!("popcnt")` returned true on this CPU.
            #[cfg(target_arch = "x86_64")]
            Imp::Popcnt => unsafe { x86::popcnt::<ADD>(query, codes, out) },
            // SAFETY: as above, for "avx2"; the slice lengths were checked above, which is
            // what the function's unchecked loads rely on.
            #[cfg(target_arch = "x86_64")]
            Imp::Avx2 => unsafe { x86::avx2::<ADD>(query, codes, out) },
            // SAFETY: as above, for "avx512f" and "avx512vpopcntdq".
            #[cfg(target_arch = "x86_64")]
            Imp::Avx512 => unsafe { x86::avx512::<ADD>(query, codes, out) },
        }
    }

    /// [`Kernel::add_distances`] over two consecutive segments at once: adds to `out[i]` the
    /// distance between `query[0]` and code i's part in `parts[0]` plus that between
    /// `query[1]` and its part in `parts[1]`. Each code is finished once instead of twice, which
    /// is what a batch, bound by instructions rather than memory, gains.
    ///
    /// # Panics
    /// As [`Kernel::distances`], for each part.
    pub fn add_distances_parts(self, query: [&[u64]; 2], parts: [&[u64]; 2], out: &mut [u32]) {
        for (q, c) in query.iter().zip(parts) {
            assert!(
                !q.is_empty() && q.len().is_multiple_of(4),
                "codes are a positive multiple of 256 bits"
            );
            assert_eq!(c.len(), out.len() * q.len(), "one output per code");
        }
        match self.0 {
            // SAFETY: a `Kernel` holding `Avx512` is only made after AVX-512F and VPOPCNTDQ were
            // detected; both parts were checked above to be 8 words per code.
            #[cfg(target_arch = "x86_64")]
            Imp::Avx512 if query[0].len() == 8 && query[1].len() == 8 => unsafe {
                x86::avx512_two::<true>(query, parts, out)
            },
            _ => {
                for (q, c) in query.iter().zip(parts) {
                    self.add_distances(q, c, out);
                }
            }
        }
    }

    /// How many of `distances` are at most `max`: the codes of a block still in.
    pub fn count_within(self, distances: &[u32], max: u32) -> usize {
        match self.0 {
            // SAFETY: a `Kernel` holding `Avx512` is only made after AVX-512F was detected.
            #[cfg(target_arch = "x86_64")]
            Imp::Avx512 => unsafe { x86::count_within_avx512(distances, max) },
            _ => count_within_portable(distances, max),
        }
    }

    /// Replaces `alive` with the offsets `i` whose `distances[i]` is at most `max`, in order.
    pub fn list_within(self, distances: &[u32], max: u32, alive: &mut Vec<u32>) {
        alive.clear();
        alive.resize(distances.len(), 0);
        let m = match self.0 {
            // SAFETY: as above; `alive` is as long as `distances`.
            #[cfg(target_arch = "x86_64")]
            Imp::Avx512 => unsafe { x86::list_within_avx512(distances, max, alive) },
            _ => list_within_portable(distances, max, alive),
        };
        alive.truncate(m);
    }

    /// Adds to `out[j]` the distance between `query` and code `at[j]` of `codes` (codes of
    /// `query.len()` words one after another), for codes picked here and there in a block:
    /// each is asked from memory a few codes ahead, since the hardware cannot guess them.
    ///
    /// # Panics
    /// If an index in `at` is past the end of `codes`, or `out` is shorter than `at`.
    pub fn add_distances_at(self, query: &[u64], codes: &[u64], at: &[u32], out: &mut [u32]) {
        const AHEAD: usize = 8;
        let w = query.len();
        for (j, k) in at.iter().enumerate() {
            if let Some(next) = at.get(j + AHEAD) {
                let start = *next as usize * w;
                prefetch(&codes[start..start + w]);
            }
            let k = *k as usize;
            out[j] += self.distance(query, &codes[k * w..(k + 1) * w]);
        }
    }

    /// The Hamming distance between two codes of equal length.
    pub fn distance(self, a: &[u64], b: &[u64]) -> u32 {
        let mut out = [0u32];
        self.distances(a, b, &mut out);
        out[0]
    }
}

/// Asks for the cache lines of `words` ahead of their use; a hint only.
fn prefetch(words: &[u64]) {
    #[cfg(target_arch = "x86_64")]
    for line in words.chunks(8) {
        // SAFETY: SSE is part of x86-64, and a prefetch reads nothing architecturally; the
        // address is inside `words`.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr() as *const i8
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = words;
}

/// Rows of a projection matrix handled together: one bit each, half a code word.
pub(crate) const PROJECTION_GROUP: usize = 32;

/// Sets bit `j` of `words` when row `j` of a projection matrix has a non-negative dot product
/// with `x`. `grouped` holds the matrix in groups of [`PROJECTION_GROUP`] rows, each stored
/// column by column (`grouped[g * 32 * dim + k * 32 + r]` is row `32 g + r`, column `k`), so
/// that the 32 sums of a group advance together over contiguous memory.
///
/// Every row is summed in the same order (column 0 first) with a separate multiply and add,
/// whatever instructions run it, so the code is the same bit for bit on every CPU.
///
/// # Panics
/// If `x` is not `dim` long or `grouped` and `words` do not hold the same number of rows.
pub(crate) fn project_signs(grouped: &[f32], dim: usize, x: &[f32], words: &mut [u64]) {
    assert_eq!(x.len(), dim, "one value per column");
    assert_eq!(
        grouped.len(),
        words.len() * 64 * dim,
        "one matrix row per code bit"
    );
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: `avx2()` returned true: this CPU has AVX2.
        unsafe { x86::project_signs(grouped, dim, x, words) };
        return;
    }
    project_signs_portable(grouped, dim, x, words);
}

/// For each byte, the IEEE sign-bit masks of its eight bits (bit i set: value i negated).
static SIGN_MASKS: [[u32; 8]; 256] = sign_masks();

const fn sign_masks() -> [[u32; 8]; 256] {
    let mut t = [[0u32; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let mut i = 0;
        while i < 8 {
            if (b >> i) & 1 == 1 {
                t[b][i] = 1 << 31;
            }
            i += 1;
        }
        b += 1;
    }
    t
}

/// Flips the sign of value i where bit i of `signs` is set: an xor of the IEEE sign bit (no
/// multiply rounds anything), eight values at a time from a byte's masks, so the compiler
/// makes each group one vector xor.
#[inline(always)]
fn flip(v: &mut [f32], signs: &[u64]) {
    for (chunk, w) in v.chunks_exact_mut(64).zip(signs) {
        for (k, eight) in chunk.chunks_exact_mut(8).enumerate() {
            let masks = &SIGN_MASKS[((w >> (8 * k)) & 0xff) as usize];
            for (a, m) in eight.iter_mut().zip(masks) {
                *a = f32::from_bits(a.to_bits() ^ m);
            }
        }
    }
}

/// The (unnormalised) Walsh-Hadamard transform in place (length a power of two, at least
/// 8): the first three stages eight values at a time, then butterflies over whole halves, so
/// that the compiler vectorises every stage. Adds and subtracts only, in a fixed order: the
/// result is the same bit for bit whatever instructions run it. The scale does not change a
/// sign.
#[inline(always)]
fn fwht(v: &mut [f32]) {
    for c in v.chunks_exact_mut(8) {
        let b = [
            c[0] + c[1],
            c[0] - c[1],
            c[2] + c[3],
            c[2] - c[3],
            c[4] + c[5],
            c[4] - c[5],
            c[6] + c[7],
            c[6] - c[7],
        ];
        let d = [
            b[0] + b[2],
            b[1] + b[3],
            b[0] - b[2],
            b[1] - b[3],
            b[4] + b[6],
            b[5] + b[7],
            b[4] - b[6],
            b[5] - b[7],
        ];
        for i in 0..4 {
            c[i] = d[i] + d[i + 4];
            c[i + 4] = d[i] - d[i + 4];
        }
    }
    let mut h = 8;
    while h < v.len() {
        for block in v.chunks_exact_mut(2 * h) {
            let (lo, hi) = block.split_at_mut(h);
            for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
                let (x, y) = (*a, *b);
                *a = x + y;
                *b = x - y;
            }
        }
        h *= 2;
    }
}

/// Rounds of sign flips and Walsh-Hadamard transforms over `v` (the structured transform's
/// blocks, `structured.rs`): round r flips by `signs[r * n / 64..(r + 1) * n / 64]`, n the
/// length of `v`. The same operations on every CPU (AVX2 only widens them), so codes agree
/// bit for bit.
///
/// # Panics
/// If `v`'s length is not a power of two of at least 64, or `signs` not whole rounds.
pub(crate) fn hadamard_rounds(v: &mut [f32], signs: &[u64]) {
    assert!(
        v.len().is_power_of_two() && v.len() >= 64,
        "a block is a power of two of at least 64 values"
    );
    assert!(
        signs.len().is_multiple_of(v.len() / 64),
        "whole rounds of signs"
    );
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: `avx2()` returned true: this CPU has AVX2.
        unsafe { x86::hadamard_rounds(v, signs) };
        return;
    }
    hadamard_rounds_portable(v, signs);
}

/// One round of the transpose: the transform, then the flips (the reconstruction study).
pub(crate) fn fwht_then_flip(v: &mut [f32], signs: &[u64]) {
    fwht(v);
    flip(v, signs);
}

#[inline(always)]
fn hadamard_rounds_portable(v: &mut [f32], signs: &[u64]) {
    for round in signs.chunks_exact(v.len() / 64) {
        flip(v, round);
        fwht(v);
    }
}
#[cfg(target_arch = "x86_64")]
fn avx2() -> bool {
    static AVX2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVX2.get_or_init(|| std::arch::is_x86_feature_detected!("avx2"))
}

fn project_signs_portable(grouped: &[f32], dim: usize, x: &[f32], words: &mut [u64]) {
    for w in words.iter_mut() {
        *w = 0;
    }
    for (g, group) in grouped.chunks_exact(PROJECTION_GROUP * dim).enumerate() {
        let mut bits = 0u64;
        // Eight rows at a time, so the sums stay in one vector register.
        for part in 0..PROJECTION_GROUP / 8 {
            let mut acc = [0f32; 8];
            for (column, &xk) in group.chunks_exact(PROJECTION_GROUP).zip(x) {
                let w = &column[part * 8..part * 8 + 8];
                for r in 0..8 {
                    acc[r] += w[r] * xk;
                }
            }
            for (r, a) in acc.iter().enumerate() {
                if *a >= 0.0 {
                    bits |= 1 << (part * 8 + r);
                }
            }
        }
        words[g / 2] |= bits << ((g % 2) * PROJECTION_GROUP);
    }
}

fn portable<const ADD: bool>(query: &[u64], codes: &[u64], out: &mut [u32]) {
    for (code, o) in codes.chunks_exact(query.len()).zip(out.iter_mut()) {
        let d: u32 = query
            .iter()
            .zip(code)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        put::<ADD>(o, d);
    }
}

fn count_within_portable(distances: &[u32], max: u32) -> usize {
    distances.iter().map(|d| u32::from(*d <= max)).sum::<u32>() as usize
}

/// Branch-free: a third of the codes may pass at random, which branches would mispredict.
/// `alive` is as long as `distances`; returns how many offsets it now starts with.
fn list_within_portable(distances: &[u32], max: u32, alive: &mut [u32]) -> usize {
    let mut m = 0;
    for (k, d) in distances.iter().enumerate() {
        alive[m] = k as u32;
        m += usize::from(*d <= max);
    }
    m
}

/// Stores or adds one result.
#[inline(always)]
fn put<const ADD: bool>(o: &mut u32, d: u32) {
    if ADD { *o += d } else { *o = d }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// The structured transform's rounds compiled for AVX2: the portable code, which the
    /// compiler widens to eight lanes here.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn hadamard_rounds(v: &mut [f32], signs: &[u64]) {
        super::hadamard_rounds_portable(v, signs);
    }

    /// The projection with AVX2: the portable loop's operations in the same order (a multiply,
    /// then an add, per row and column), eight rows to an instruction, a group's 32 sums in
    /// four registers.
    ///
    /// # Safety
    /// The CPU must have AVX2; `grouped` must hold `words.len() * 64` rows of `x.len() == dim`
    /// columns (the caller asserts both lengths; the loads below rely on them).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn project_signs(grouped: &[f32], dim: usize, x: &[f32], words: &mut [u64]) {
        for w in words.iter_mut() {
            *w = 0;
        }
        let zero = _mm256_setzero_ps();
        for (g, group) in grouped
            .chunks_exact(super::PROJECTION_GROUP * dim)
            .enumerate()
        {
            let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
            let p = group.as_ptr();
            for (k, &xk) in x.iter().enumerate() {
                let v = _mm256_set1_ps(xk);
                // SAFETY: `group` holds `32 * dim` values and `k < dim`, so the 32 values
                // from `32 * k` are inside it.
                unsafe {
                    let c = p.add(k * super::PROJECTION_GROUP);
                    a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(c), v));
                    a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(c.add(8)), v));
                    a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_loadu_ps(c.add(16)), v));
                    a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_loadu_ps(c.add(24)), v));
                }
            }
            // Ordered, non-signalling `>=`: false for NaN, true for -0.0, as in Rust.
            let mask = |a: __m256| _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(a, zero)) as u64;
            let bits = mask(a0) | mask(a1) << 8 | mask(a2) << 16 | mask(a3) << 24;
            words[g / 2] |= bits << ((g % 2) * super::PROJECTION_GROUP);
        }
    }

    /// The portable loop compiled with POPCNT available, so `count_ones` is one instruction.
    #[target_feature(enable = "popcnt")]
    pub(super) fn popcnt<const ADD: bool>(query: &[u64], codes: &[u64], out: &mut [u32]) {
        for (code, o) in codes.chunks_exact(query.len()).zip(out.iter_mut()) {
            let mut acc = [0u32; 4];
            for (q, c) in query.chunks_exact(4).zip(code.chunks_exact(4)) {
                for k in 0..4 {
                    acc[k] += (q[k] ^ c[k]).count_ones();
                }
            }
            super::put::<ADD>(o, acc.iter().sum());
        }
    }

    /// Popcount by nibble lookup (Mula, Kurz, Lemire 2018): split each byte into nibbles,
    /// look both up in a 16-entry table with `vpshufb`, add, and sum bytes with `vpsadbw`.
    /// Four codes are finished together, so their four partial sums are folded into one
    /// vector of totals with two shuffles instead of four separate horizontal sums. The common
    /// code lengths get loops the compiler unrolls completely.
    #[target_feature(enable = "avx2")]
    pub(super) fn avx2<const ADD: bool>(query: &[u64], codes: &[u64], out: &mut [u32]) {
        match query.len() / 4 {
            1 => avx2_n::<1, ADD>(query, codes, out),
            2 => avx2_n::<2, ADD>(query, codes, out),
            3 => avx2_n::<3, ADD>(query, codes, out),
            4 => avx2_n::<4, ADD>(query, codes, out),
            5 => avx2_n::<5, ADD>(query, codes, out),
            8 => avx2_n::<8, ADD>(query, codes, out),
            10 => avx2_n::<10, ADD>(query, codes, out),
            16 => avx2_n::<16, ADD>(query, codes, out),
            _ => avx2_n::<0, ADD>(query, codes, out),
        }
    }

    /// `CHUNKS` 256-bit chunks per code, or any number (at most 31) when `CHUNKS` is 0.
    #[target_feature(enable = "avx2")]
    fn avx2_n<const CHUNKS: usize, const ADD: bool>(query: &[u64], codes: &[u64], out: &mut [u32]) {
        let words = query.len();
        let chunks = if CHUNKS == 0 { words / 4 } else { CHUNKS };
        // Each byte of a chunk's count is at most 8, so up to 31 chunks (7936 bits, beyond
        // any code length) add up without overflowing a byte.
        assert!(chunks <= 31, "codes longer than 7936 bits");
        let table = _mm256_setr_epi8(
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2,
            3, 3, 4,
        );
        let low = _mm256_set1_epi8(0x0f);
        let zero = _mm256_setzero_si256();
        let q = query.as_ptr() as *const __m256i;
        // The byte-wise popcount of code i XOR query, as four 64-bit lane sums.
        let lane_sums = |i: usize| -> __m256i {
            // SAFETY: `distances` checked codes.len() == out.len() * words and callers pass
            // i < out.len(), so code i spans `chunks` whole 256-bit chunks inside `codes`.
            let c = unsafe { codes.as_ptr().add(i * words) } as *const __m256i;
            let mut bytes = zero;
            for k in 0..chunks {
                // SAFETY: k < chunks, so both 32-byte reads lie inside `query` and code i;
                // `loadu` has no alignment requirement.
                let (a, b) =
                    unsafe { (_mm256_loadu_si256(q.add(k)), _mm256_loadu_si256(c.add(k))) };
                let x = _mm256_xor_si256(a, b);
                let lo = _mm256_and_si256(x, low);
                let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(x), low);
                let n = _mm256_add_epi8(
                    _mm256_shuffle_epi8(table, lo),
                    _mm256_shuffle_epi8(table, hi),
                );
                bytes = _mm256_add_epi8(bytes, n);
            }
            _mm256_sad_epu8(bytes, zero)
        };
        let n = out.len();
        let mut i = 0;
        while i + 4 <= n {
            let (s0, s1, s2, s3) = (
                lane_sums(i),
                lane_sums(i + 1),
                lane_sums(i + 2),
                lane_sums(i + 3),
            );
            // [a0+a1, b0+b1, a2+a3, b2+b3] and the same for c, d ...
            let ab = _mm256_add_epi64(_mm256_unpacklo_epi64(s0, s1), _mm256_unpackhi_epi64(s0, s1));
            let cd = _mm256_add_epi64(_mm256_unpacklo_epi64(s2, s3), _mm256_unpackhi_epi64(s2, s3));
            // ... then low halves plus high halves: [a, b, c, d].
            let t = _mm256_add_epi64(
                _mm256_permute2x128_si256::<0x20>(ab, cd),
                _mm256_permute2x128_si256::<0x31>(ab, cd),
            );
            super::put::<ADD>(&mut out[i], _mm256_extract_epi64::<0>(t) as u32);
            super::put::<ADD>(&mut out[i + 1], _mm256_extract_epi64::<1>(t) as u32);
            super::put::<ADD>(&mut out[i + 2], _mm256_extract_epi64::<2>(t) as u32);
            super::put::<ADD>(&mut out[i + 3], _mm256_extract_epi64::<3>(t) as u32);
            i += 4;
        }
        while i < n {
            let s = lane_sums(i);
            let total = _mm256_extract_epi64::<0>(s)
                + _mm256_extract_epi64::<1>(s)
                + _mm256_extract_epi64::<2>(s)
                + _mm256_extract_epi64::<3>(s);
            super::put::<ADD>(&mut out[i], total as u32);
            i += 1;
        }
    }

    /// One `vpopcntq` per 512 bits, a trailing 256-bit half loaded under a mask. Eight codes
    /// are finished together: their eight vectors of lane counts fold into one vector of eight
    /// totals with three rounds of shuffles and adds (instead of eight horizontal sums), which
    /// is stored as eight 32-bit results at once. The common lengths get fully unrolled loops.
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    pub(super) fn avx512<const ADD: bool>(query: &[u64], codes: &[u64], out: &mut [u32]) {
        match query.len().div_ceil(8) {
            1 => avx512_n::<1, ADD>(query, codes, out),
            2 => avx512_n::<2, ADD>(query, codes, out),
            3 => avx512_n::<3, ADD>(query, codes, out),
            4 => avx512_n::<4, ADD>(query, codes, out),
            _ => avx512_n::<0, ADD>(query, codes, out),
        }
    }

    /// Sixteen distances compared at once.
    #[target_feature(enable = "avx512f")]
    pub(super) fn count_within_avx512(distances: &[u32], max: u32) -> usize {
        let limit = _mm512_set1_epi32(max as i32);
        let mut count = 0;
        let mut chunks = distances.chunks_exact(16);
        for c in &mut chunks {
            // SAFETY: `c` is 16 u32 long: one 64-byte read inside it.
            let v = unsafe { _mm512_loadu_si512(c.as_ptr() as *const __m512i) };
            count += _mm512_cmple_epu32_mask(v, limit).count_ones() as usize;
        }
        count + super::count_within_portable(chunks.remainder(), max)
    }

    /// Sixteen distances compared at once, the offsets of those within written together
    /// with one compressing store.
    #[target_feature(enable = "avx512f")]
    pub(super) fn list_within_avx512(distances: &[u32], max: u32, alive: &mut [u32]) -> usize {
        assert!(alive.len() >= distances.len(), "room for every offset");
        let limit = _mm512_set1_epi32(max as i32);
        let step = _mm512_set1_epi32(16);
        let mut offsets = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let mut m = 0;
        let mut chunks = distances.chunks_exact(16);
        for c in &mut chunks {
            // SAFETY: `c` is 16 u32 long: one 64-byte read inside it.
            let v = unsafe { _mm512_loadu_si512(c.as_ptr() as *const __m512i) };
            let within = _mm512_cmple_epu32_mask(v, limit);
            // SAFETY: the store writes `within.count_ones()` u32 from `alive[m]`; m counts the
            // offsets kept so far, which are fewer than those seen, so it stays inside `alive`.
            unsafe {
                _mm512_mask_compressstoreu_epi32(
                    alive.as_mut_ptr().add(m) as *mut _,
                    within,
                    offsets,
                )
            };
            m += within.count_ones() as usize;
            offsets = _mm512_add_epi32(offsets, step);
        }
        let done = distances.len() - chunks.remainder().len();
        for (k, d) in chunks.remainder().iter().enumerate() {
            alive[m] = (done + k) as u32;
            m += usize::from(*d <= max);
        }
        m
    }

    /// How far ahead of the code being compared the AVX-512 kernel asks for memory: 32 cache
    /// lines, enough to cover the memory latency of a sequential scan.
    const PREFETCH_WORDS: usize = 256;

    /// `CHUNKS` 512-bit chunks per code (the last possibly half used), or any number when 0.
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    fn avx512_n<const CHUNKS: usize, const ADD: bool>(
        query: &[u64],
        codes: &[u64],
        out: &mut [u32],
    ) {
        let words = query.len();
        let chunks = if CHUNKS == 0 {
            words.div_ceil(8)
        } else {
            CHUNKS
        };
        // Words are a multiple of 4, so the last chunk is whole or its low half.
        let last: __mmask8 = if words.is_multiple_of(8) { 0xff } else { 0x0f };
        let q = query.as_ptr() as *const i64;
        let lane_sums = |i: usize| -> __m512i {
            // SAFETY: `distances` checked codes.len() == out.len() * words and callers pass
            // i < out.len(), so code i is `words` words inside `codes`.
            let c = unsafe { codes.as_ptr().add(i * words) } as *const i64;
            let mut acc = _mm512_setzero_si512();
            for k in 0..chunks {
                // A hint to fetch the code this far ahead; `wrapping_add` because the address
                // may lie past the gallery (a prefetch never faults).
                _mm_prefetch::<_MM_HINT_T0>(c.wrapping_add(8 * k + PREFETCH_WORDS) as *const i8);
                // SAFETY: chunk k starts at word 8k < words of both `query` and code i; a
                // whole chunk lies inside both, and the mask of a half chunk leaves out the
                // words past their end (masked lanes are not read).
                let (a, b) = unsafe {
                    if k + 1 < chunks || last == 0xff {
                        (
                            _mm512_loadu_si512(q.add(8 * k) as *const __m512i),
                            _mm512_loadu_si512(c.add(8 * k) as *const __m512i),
                        )
                    } else {
                        (
                            _mm512_maskz_loadu_epi64(last, q.add(8 * k)),
                            _mm512_maskz_loadu_epi64(last, c.add(8 * k)),
                        )
                    }
                };
                acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(a, b)));
            }
            acc
        };
        assert!(chunks <= 127, "codes longer than 65,024 bits");
        finish::<ADD>(out, lane_sums);
    }

    /// Two 512-bit segments per code, each in its own vector (a gallery's consecutive
    /// segments), counted together so that each code is finished once.
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    pub(super) fn avx512_two<const ADD: bool>(
        query: [&[u64]; 2],
        parts: [&[u64]; 2],
        out: &mut [u32],
    ) {
        let (q0, q1) = (
            query[0].as_ptr() as *const __m512i,
            query[1].as_ptr() as *const __m512i,
        );
        let lane_sums = |i: usize| -> __m512i {
            // SAFETY: `add_distances_parts` checked that both query parts are 8 words and that
            // each part holds 8 words per output, and i < out.len(): every 64-byte read lies
            // inside its slice.
            let (a0, b0, a1, b1) = unsafe {
                (
                    _mm512_loadu_si512(q0),
                    _mm512_loadu_si512(parts[0].as_ptr().add(8 * i) as *const __m512i),
                    _mm512_loadu_si512(q1),
                    _mm512_loadu_si512(parts[1].as_ptr().add(8 * i) as *const __m512i),
                )
            };
            _mm512_add_epi64(
                _mm512_popcnt_epi64(_mm512_xor_si512(a0, b0)),
                _mm512_popcnt_epi64(_mm512_xor_si512(a1, b1)),
            )
        };
        finish::<ADD>(out, lane_sums);
    }

    /// Writes (or adds) into `out[i]` the sum of the lanes of `lane_sums(i)`, for every i.
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    fn finish<const ADD: bool>(out: &mut [u32], lane_sums: impl Fn(usize) -> __m512i) {
        // Eight codes' lane counts are packed four to a vector, each in a 16-bit field of every
        // 64-bit lane (callers keep a code's total under 2^16, so fields never carry into each
        // other), then the lanes are summed with three shuffles: fewer than summing eight
        // vectors apart, on the port that shuffles and population counts share.
        let pack = |s: &[__m512i]| {
            _mm512_add_epi64(
                _mm512_add_epi64(s[0], _mm512_slli_epi64::<16>(s[1])),
                _mm512_add_epi64(_mm512_slli_epi64::<32>(s[2]), _mm512_slli_epi64::<48>(s[3])),
            )
        };
        let n = out.len();
        let mut i = 0;
        while i + 8 <= n {
            let s: [__m512i; 8] = std::array::from_fn(|j| lane_sums(i + j));
            let (p0, p1) = (pack(&s[..4]), pack(&s[4..]));
            // Per 128-bit lane: [p0's two lanes summed, p1's two lanes summed] ...
            let x = _mm512_add_epi64(_mm512_unpacklo_epi64(p0, p1), _mm512_unpackhi_epi64(p0, p1));
            // ... then the four 128-bit lanes summed into each.
            let y = _mm512_add_epi64(x, _mm512_shuffle_i64x2::<0x4e>(x, x));
            let z = _mm512_add_epi64(y, _mm512_shuffle_i64x2::<0xb1>(y, y));
            // Eight 16-bit totals, codes i .. i + 8 in order, widened to 32 bits.
            let mut totals = _mm256_cvtepu16_epi32(_mm512_castsi512_si128(z));
            let o = out[i..i + 8].as_mut_ptr() as *mut __m256i;
            if ADD {
                // SAFETY: `o` points at eight u32 inside `out` (sliced just above).
                totals = _mm256_add_epi32(totals, unsafe { _mm256_loadu_si256(o) });
            }
            // SAFETY: as above: the eight 32-bit stores lie inside `out`.
            unsafe { _mm256_storeu_si256(o, totals) };
            i += 8;
        }
        while i < n {
            super::put::<ADD>(&mut out[i], _mm512_reduce_add_epi64(lane_sums(i)) as u32);
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator for test inputs.
    fn words(seed: u64, n: usize) -> Vec<u64> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect()
    }

    fn check_all_kernels(query: &[u64], codes: &[u64]) {
        let n = codes.len() / query.len();
        let mut expected = vec![0u32; n];
        portable::<false>(query, codes, &mut expected);
        for k in Kernel::available() {
            let mut got = vec![u32::MAX; n];
            k.distances(query, codes, &mut got);
            assert_eq!(got, expected, "kernel {} differs from portable", k.name());
            // Adding onto earlier values, as a further segment does.
            let mut sums: Vec<u32> = (0..n as u32).map(|i| i * 7).collect();
            k.add_distances(query, codes, &mut sums);
            let want: Vec<u32> = expected
                .iter()
                .zip(0u32..)
                .map(|(d, i)| d + i * 7)
                .collect();
            assert_eq!(sums, want, "kernel {} adds wrongly", k.name());
            // Two parts at once: the query and codes split in halves, stored apart.
            if query.len().is_multiple_of(8) {
                let h = query.len() / 2;
                let (first, second): (Vec<u64>, Vec<u64>) = (
                    codes
                        .chunks_exact(query.len())
                        .flat_map(|c| c[..h].to_vec())
                        .collect(),
                    codes
                        .chunks_exact(query.len())
                        .flat_map(|c| c[h..].to_vec())
                        .collect(),
                );
                let mut sums: Vec<u32> = (0..n as u32).collect();
                k.add_distances_parts([&query[..h], &query[h..]], [&first, &second], &mut sums);
                let want: Vec<u32> = expected.iter().zip(0u32..).map(|(d, i)| d + i).collect();
                assert_eq!(sums, want, "kernel {} adds parts wrongly", k.name());
            }
            let at: Vec<u32> = (0..n as u32).rev().step_by(3).collect();
            let mut picked = vec![1u32; at.len()];
            k.add_distances_at(query, codes, &at, &mut picked);
            let want: Vec<u32> = at.iter().map(|i| expected[*i as usize] + 1).collect();
            assert_eq!(picked, want, "kernel {} picks wrongly", k.name());
        }
    }

    #[test]
    fn every_kernel_counts_and_lists_the_codes_within() {
        for n in [0usize, 5, 16, 33, 1024] {
            let d: Vec<u32> = words(n as u64, n)
                .iter()
                .map(|w| (w % 600) as u32)
                .collect();
            for max in [0u32, 250, 599, u32::MAX] {
                let want: Vec<u32> = (0..n as u32).filter(|i| d[*i as usize] <= max).collect();
                for k in Kernel::available() {
                    assert_eq!(k.count_within(&d, max), want.len(), "{}", k.name());
                    let mut got = vec![9; 3];
                    k.list_within(&d, max, &mut got);
                    assert_eq!(got, want, "{}", k.name());
                }
            }
        }
    }

    #[test]
    fn portable_is_right_on_known_values() {
        let q = vec![0u64; 4];
        let codes = [vec![0u64; 4], vec![u64::MAX; 4], vec![1, 3, 7, 0]].concat();
        let mut out = vec![0; 3];
        portable::<false>(&q, &codes, &mut out);
        assert_eq!(out, [0, 256, 6]);
    }

    #[test]
    fn every_kernel_equals_portable_on_random_codes() {
        for w in (4..=64).step_by(4) {
            // Block lengths around the kernels' groups of four and eight codes.
            for n in [0usize, 1, 7, 8, 9, 16, 97] {
                let q = words(w as u64, w);
                let codes = words(7 + w as u64 + n as u64, w * n);
                check_all_kernels(&q, &codes);
            }
        }
    }

    #[test]
    fn every_kernel_equals_portable_on_edge_cases() {
        for w in [4usize, 8, 32, 64] {
            let zeros = vec![0u64; w];
            let ones = vec![u64::MAX; w];
            let alternating = vec![0xAAAA_AAAA_AAAA_AAAAu64; w];
            let single: Vec<u64> = (0..w)
                .map(|i| if i == w - 1 { 1 << 63 } else { 0 })
                .collect();
            let codes = [
                zeros.clone(),
                ones.clone(),
                alternating.clone(),
                single.clone(),
            ]
            .concat();
            for q in [&zeros, &ones, &alternating, &single] {
                check_all_kernels(q, &codes);
            }
            // The maximum distance (every bit differs) must not overflow any accumulator.
            for k in Kernel::available() {
                assert_eq!(k.distance(&zeros, &ones), 64 * w as u32, "{}", k.name());
            }
        }
    }

    #[test]
    fn the_projection_kernel_on_this_cpu_equals_the_portable_one() {
        let dim = 128;
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        };
        let grouped: Vec<f32> = (0..2048 * dim).map(|_| next()).collect();
        for _ in 0..16 {
            let x: Vec<f32> = (0..dim).map(|_| next()).collect();
            let mut fast = vec![0u64; 32];
            let mut slow = vec![0u64; 32];
            project_signs(&grouped, dim, &x, &mut fast);
            project_signs_portable(&grouped, dim, &x, &mut slow);
            assert_eq!(fast, slow);
            assert!(fast.iter().any(|w| *w != 0) && fast.iter().any(|w| *w != u64::MAX));
        }
    }

    #[test]
    fn the_hadamard_rounds_on_this_cpu_equal_the_portable_ones_and_the_textbook_transform() {
        // The textbook transform of e_3 is the row 3 of H_8: +-1 by the parity of i & 3.
        let mut e = [0f32; 64];
        e[3] = 1.0;
        fwht(&mut e);
        for (i, v) in e.iter().enumerate() {
            let want = if (i & 3).count_ones() % 2 == 0 {
                1.0
            } else {
                -1.0
            };
            assert_eq!(*v, want, "{i}");
        }
        let mut state = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for n in [64usize, 256, 1024] {
            let signs: Vec<u64> = (0..3 * n / 64).map(|_| next()).collect();
            let x: Vec<f32> = (0..n)
                .map(|_| (next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
                .collect();
            let (mut fast, mut slow) = (x.clone(), x.clone());
            hadamard_rounds(&mut fast, &signs);
            hadamard_rounds_portable(&mut slow, &signs);
            assert_eq!(fast, slow, "n {n}");
            // Each round is orthogonal up to sqrt(n).
            let norm = |v: &[f32]| v.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>();
            let ratio = norm(&fast) / norm(&x) / (n as f64).powi(3);
            assert!((ratio - 1.0).abs() < 1e-4, "n {n}: {ratio}");
        }
    }

    #[test]
    fn empty_block_is_fine() {
        for k in Kernel::available() {
            k.distances(&[0; 4], &[], &mut []);
        }
    }

    #[test]
    #[should_panic(expected = "multiple of 256 bits")]
    fn odd_lengths_are_refused() {
        Kernel::best().distances(&[0; 3], &[0; 3], &mut [0]);
    }

    #[test]
    fn best_is_the_last_available() {
        assert_eq!(Some(&Kernel::best()), Kernel::available().last());
        eprintln!(
            "kernels on this CPU: {:?}",
            Kernel::available()
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
        );
    }
}
