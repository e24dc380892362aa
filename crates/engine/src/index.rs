//! Galleries: protected codes held in memory for 1:N search.
//!
//! Each code is stored in two parts: a *head* of about five eighths of its bits, and the rest,
//! the *tail*. Heads lie end to end in one vector, tails in another. A search streams the
//! heads sequentially and reads a code's tail only when the head alone is within the
//! threshold. This is exact, because the distance over the head is a lower bound of the full
//! distance; and it is cheap, because for unrelated codes the head distance is about half the
//! head's bits, far above any useful threshold, so almost no tail is read. A single-probe scan
//! is bound by memory bandwidth, so reading five eighths of the bytes makes it that much
//! faster than any full scan can be.
//!
//! The scan is split into contiguous ranges, one per thread. A batch of probes is scanned
//! block by block: each block of heads is read from memory once and compared with every probe
//! while it sits in cache, which makes the batch compute-bound instead of memory-bound.
//!
//! Memory: the code bytes plus one entry of type `T` per code; vectors grow by an eighth at a
//! time rather than doubling, so spare capacity stays under about 13%.

use crate::{CodeBits, Kernel, ProtectedCode};

/// Codes compared per kernel call in a single-probe scan (256 KiB of 2048-bit codes).
const BLOCK: usize = 1024;
/// Codes per block in a batch scan: small enough to stay in a 512 KiB L2 cache with room for
/// the probes.
const BATCH_BLOCK: usize = 256;
/// Galleries smaller than this are scanned on one thread: starting threads would cost more.
const PARALLEL_MIN: usize = 16 * 1024;

/// A search result: the entry stored with a code and its Hamming distance to the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<T> {
    /// What was stored with the code.
    pub entry: T,
    /// The Hamming distance between probe and code, in bits.
    pub distance: u32,
}

/// The codes of one gallery and an entry (the caller's handle) per code.
pub struct Gallery<T> {
    bits: CodeBits,
    /// Words of each code in `heads`; the rest are in `tails`.
    head_words: usize,
    heads: Vec<u64>,
    tails: Vec<u64>,
    entries: Vec<T>,
}

/// The head length for a code length: five eighths of the words, down to a multiple of four
/// (256 bits, the kernels' unit), at least four, leaving at least four for the tail.
fn head_words(bits: CodeBits) -> usize {
    let w = bits.words();
    ((w * 5 / 8) / 4 * 4).clamp(4, w - 4)
}

impl<T> std::fmt::Debug for Gallery<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gallery")
            .field("bits", &self.bits.bits())
            .field("len", &self.entries.len())
            .finish()
    }
}

/// Hits of one probe, kept to the `limit` best.
struct Hits {
    limit: usize,
    hits: Vec<(u32, usize)>,
}

impl Hits {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            hits: Vec::new(),
        }
    }

    fn push(&mut self, distance: u32, index: usize) {
        self.hits.push((distance, index));
        if self.hits.len() >= 4 * self.limit.max(16) {
            self.trim();
        }
    }

    fn trim(&mut self) {
        if self.hits.len() > self.limit {
            self.hits.select_nth_unstable(self.limit);
            self.hits.truncate(self.limit);
        }
    }

    fn merge(mut parts: Vec<Hits>, limit: usize) -> Vec<(u32, usize)> {
        let mut all: Vec<(u32, usize)> = parts.iter_mut().flat_map(|h| h.hits.drain(..)).collect();
        all.sort_unstable();
        all.truncate(limit);
        all
    }
}

impl<T: Copy + Send + Sync> Gallery<T> {
    /// An empty gallery of `bits`-bit codes.
    pub fn new(bits: CodeBits) -> Self {
        Self::with_capacity(bits, 0)
    }

    /// An empty gallery with room for `n` codes.
    pub fn with_capacity(bits: CodeBits, n: usize) -> Self {
        let h = head_words(bits);
        Self {
            bits,
            head_words: h,
            heads: Vec::with_capacity(n * h),
            tails: Vec::with_capacity(n * (bits.words() - h)),
            entries: Vec::with_capacity(n),
        }
    }

    /// The code length.
    pub fn bits(&self) -> CodeBits {
        self.bits
    }

    /// The number of codes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the gallery holds no code.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a code. Returns false (and adds nothing) if its length is not the gallery's.
    pub fn insert(&mut self, code: &ProtectedCode, entry: T) -> bool {
        if code.bits() != self.bits.bits() {
            return false;
        }
        if self.entries.len() == self.entries.capacity() {
            let more = (self.entries.len() / 8).max(64);
            self.entries.reserve_exact(more);
            self.heads.reserve_exact(more * self.head_words);
            self.tails
                .reserve_exact(more * (self.bits.words() - self.head_words));
        }
        let (head, tail) = code.words().split_at(self.head_words);
        self.heads.extend_from_slice(head);
        self.tails.extend_from_slice(tail);
        self.entries.push(entry);
        true
    }

    /// Removes every code whose entry matches; returns how many. The removed code's words are
    /// overwritten (by the last code, then truncated away and zeroed).
    pub fn remove_where(&mut self, mut matches: impl FnMut(&T) -> bool) -> usize {
        let (hw, tw) = (self.head_words, self.bits.words() - self.head_words);
        let mut removed = 0;
        let mut i = 0;
        while i < self.entries.len() {
            if matches(&self.entries[i]) {
                let last = self.entries.len() - 1;
                self.entries.swap_remove(i);
                for (v, w) in [(&mut self.heads, hw), (&mut self.tails, tw)] {
                    if i != last {
                        v.copy_within(last * w..(last + 1) * w, i * w);
                    }
                    for word in &mut v[last * w..] {
                        *word = 0;
                    }
                    v.truncate(last * w);
                }
                removed += 1;
            } else {
                i += 1;
            }
        }
        removed
    }

    /// The words of the `i`-th code (head and tail joined), for tests and checks.
    pub fn code(&self, i: usize) -> Vec<u64> {
        let (hw, tw) = (self.head_words, self.bits.words() - self.head_words);
        let mut c = self.heads[i * hw..(i + 1) * hw].to_vec();
        c.extend_from_slice(&self.tails[i * tw..(i + 1) * tw]);
        c
    }

    /// The entries, in storage order.
    pub fn entries(&self) -> &[T] {
        &self.entries
    }

    /// Bytes held: code and entry storage, including spare capacity.
    pub fn memory_bytes(&self) -> usize {
        (self.heads.capacity() + self.tails.capacity()) * 8
            + self.entries.capacity() * std::mem::size_of::<T>()
    }

    /// The bits of each code a scan always reads (the head).
    pub fn head_bits(&self) -> usize {
        self.head_words * 64
    }

    /// How many codes' heads are within `max_distance` of `probe`'s: the tails a search of
    /// `probe` reads. For measuring the bytes a scan actually reads.
    pub fn heads_within(&self, kernel: Kernel, probe: &ProtectedCode, max_distance: u32) -> usize {
        let hw = self.head_words;
        if probe.words().len() != self.bits.words() {
            return 0;
        }
        let mut out = vec![0u32; BLOCK];
        let mut count = 0;
        for heads in self.heads.chunks(BLOCK * hw) {
            let out = &mut out[..heads.len() / hw];
            kernel.distances(&probe.words()[..hw], heads, out);
            count += out.iter().filter(|d| **d <= max_distance).count();
        }
        count
    }

    /// The codes within `max_distance` bits of `probe`, best first (ties in storage order),
    /// at most `limit`, scanning on up to `threads` threads.
    pub fn search(
        &self,
        kernel: Kernel,
        probe: &ProtectedCode,
        max_distance: u32,
        limit: usize,
        threads: usize,
    ) -> Vec<Candidate<T>> {
        self.search_batch(
            kernel,
            std::slice::from_ref(probe),
            max_distance,
            limit,
            threads,
        )
        .pop()
        .unwrap_or_default()
    }

    /// [`Gallery::search`] for many probes at once, one result list per probe.
    pub fn search_batch(
        &self,
        kernel: Kernel,
        probes: &[ProtectedCode],
        max_distance: u32,
        limit: usize,
        threads: usize,
    ) -> Vec<Vec<Candidate<T>>> {
        let w = self.bits.words();
        if probes.is_empty() || limit == 0 || probes.iter().any(|p| p.words().len() != w) {
            return probes.iter().map(|_| Vec::new()).collect();
        }
        let n = self.len();
        let threads = if n < PARALLEL_MIN {
            1
        } else {
            threads.clamp(1, 64)
        };
        let per = n.div_ceil(threads).max(1);
        let (hw, tw) = (self.head_words, w - self.head_words);
        let scan = |start: usize| -> Vec<Hits> {
            let end = (start + per).min(n);
            let mut hits: Vec<Hits> = probes.iter().map(|_| Hits::new(limit)).collect();
            let mut out = vec![0u32; BLOCK];
            let block = if probes.len() == 1 {
                BLOCK
            } else {
                BATCH_BLOCK
            };
            let mut b = start;
            while b < end {
                let e = (b + block).min(end);
                let heads = &self.heads[b * hw..e * hw];
                for (probe, h) in probes.iter().zip(hits.iter_mut()) {
                    let (probe_head, probe_tail) = probe.words().split_at(hw);
                    let out = &mut out[..e - b];
                    kernel.distances(probe_head, heads, out);
                    for (k, d) in out.iter().enumerate() {
                        // The head distance is a lower bound: most codes stop here.
                        if *d <= max_distance {
                            let i = b + k;
                            let tail = &self.tails[i * tw..(i + 1) * tw];
                            let d = d + kernel.distance(probe_tail, tail);
                            if d <= max_distance {
                                h.push(d, i);
                            }
                        }
                    }
                }
                b = e;
            }
            hits
        };
        let parts: Vec<Vec<Hits>> = if threads == 1 {
            vec![scan(0)]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| t * per)
                    .filter(|start| *start < n)
                    .map(|start| s.spawn(move || scan(start)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect()
            })
        };
        // parts[thread][probe] -> per probe, merge across threads.
        let mut per_probe: Vec<Vec<Hits>> = probes.iter().map(|_| Vec::new()).collect();
        for part in parts {
            for (p, h) in part.into_iter().enumerate() {
                per_probe[p].push(h);
            }
        }
        per_probe
            .into_iter()
            .map(|hs| {
                Hits::merge(hs, limit)
                    .into_iter()
                    .map(|(distance, i)| Candidate {
                        entry: self.entries[i],
                        distance,
                    })
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(seed: u64, words: usize) -> ProtectedCode {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        ProtectedCode::from_words(
            (0..words)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                })
                .collect(),
        )
    }

    fn flip(c: &ProtectedCode, nbits: usize) -> ProtectedCode {
        let mut w = c.words().to_vec();
        for b in 0..nbits {
            w[b / 64] ^= 1 << (b % 64);
        }
        ProtectedCode::from_words(w)
    }

    /// The reference answer: every code's distance, filtered and sorted.
    fn naive(
        g: &Gallery<u32>,
        probe: &ProtectedCode,
        max: u32,
        limit: usize,
    ) -> Vec<Candidate<u32>> {
        let mut all: Vec<(u32, usize)> = (0..g.len())
            .map(|i| (Kernel::portable().distance(probe.words(), &g.code(i)), i))
            .filter(|(d, _)| *d <= max)
            .collect();
        all.sort_unstable();
        all.truncate(limit);
        all.into_iter()
            .map(|(distance, i)| Candidate {
                entry: g.entries()[i],
                distance,
            })
            .collect()
    }

    #[test]
    fn search_finds_planted_near_codes_best_first() {
        let bits = CodeBits::DEFAULT;
        let mut g = Gallery::new(bits);
        for i in 0..40_000u32 {
            assert!(g.insert(&code(u64::from(i), 32), i));
        }
        let probe = code(999_999, 32);
        g.insert(&flip(&probe, 10), 1_000_010);
        g.insert(&flip(&probe, 3), 1_000_003);
        g.insert(&flip(&probe, 200), 1_000_200);
        for threads in [1, 2, 3] {
            for k in Kernel::available() {
                let r = g.search(k, &probe, 300, 5, threads);
                let got: Vec<_> = r.iter().map(|c| (c.entry, c.distance)).collect();
                assert_eq!(
                    got,
                    [(1_000_003, 3), (1_000_010, 10), (1_000_200, 200)],
                    "{}",
                    k.name()
                );
                assert_eq!(r, naive(&g, &probe, 300, 5));
            }
        }
        assert_eq!(g.search(Kernel::best(), &probe, 300, 2, 2).len(), 2);
        assert!(g.search(Kernel::best(), &probe, 2, 5, 2).is_empty());
    }

    #[test]
    fn batch_equals_single_searches() {
        let bits = CodeBits::new(512).expect("valid");
        let mut g = Gallery::new(bits);
        for i in 0..20_000u32 {
            g.insert(&code(u64::from(i) + 7, 8), i);
        }
        let probes: Vec<ProtectedCode> = (0..9)
            .map(|i| flip(&code(i * 31 + 7, 8), 40 + i as usize))
            .collect();
        for threads in [1, 2] {
            let batch = g.search_batch(Kernel::best(), &probes, 230, 7, threads);
            for (p, r) in probes.iter().zip(&batch) {
                assert_eq!(r, &naive(&g, p, 230, 7));
            }
        }
    }

    #[test]
    fn removal_keeps_the_others() {
        let bits = CodeBits::new(512).expect("valid");
        let mut g = Gallery::new(bits);
        for i in 0..100u32 {
            g.insert(&code(u64::from(i), 8), i);
        }
        assert_eq!(g.remove_where(|e| e % 10 == 0), 10);
        assert_eq!(g.len(), 90);
        for i in [1u32, 55, 99] {
            let r = g.search(Kernel::best(), &code(u64::from(i), 8), 0, 3, 1);
            assert_eq!(
                r,
                vec![Candidate {
                    entry: i,
                    distance: 0
                }]
            );
        }
        assert!(g.search(Kernel::best(), &code(50, 8), 0, 3, 1).is_empty());
    }

    #[test]
    fn head_and_tail_rejoin_and_permissive_thresholds_stay_exact() {
        for bits in [512u64, 768, 1024, 2048, 4096] {
            let b = CodeBits::new(bits).expect("valid");
            let w = b.words();
            let mut g = Gallery::new(b);
            for i in 0..3000u32 {
                g.insert(&code(u64::from(i) + 11, w), i);
            }
            for i in [0usize, 1234, 2999] {
                assert_eq!(g.code(i), code(i as u64 + 11, w).words(), "{bits}");
            }
            g.remove_where(|e| e % 7 == 3);
            let probe = code(5, w);
            // A threshold above half the bits: nearly every head survives, tails are read.
            let loose = (bits as u32) * 9 / 16;
            for threads in [1, 2] {
                assert_eq!(
                    g.search(Kernel::best(), &probe, loose, 50, threads),
                    naive(&g, &probe, loose, 50),
                    "{bits}"
                );
            }
        }
    }

    #[test]
    fn wrong_lengths_are_refused() {
        let mut g: Gallery<u32> = Gallery::new(CodeBits::DEFAULT);
        assert!(!g.insert(&code(1, 8), 1));
        assert!(g.search(Kernel::best(), &code(1, 8), 100, 5, 1).is_empty());
    }

    #[test]
    fn memory_stays_within_an_eighth_of_the_codes() {
        let bits = CodeBits::DEFAULT;
        let mut g: Gallery<[u8; 16]> = Gallery::new(bits);
        for i in 0..5000u64 {
            g.insert(&code(i, 32), [0; 16]);
        }
        let per = g.memory_bytes() as f64 / g.len() as f64;
        let raw = 256.0;
        assert!(per / raw <= 1.25, "{per} bytes per 256-byte code");
    }
}
