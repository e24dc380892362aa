//! Galleries: protected codes held in memory for 1:N search.
//!
//! Each code is cut into *segments* (512 bits for most code lengths), and the same segment of
//! every code lies end to end in one vector: the gallery is stored segment by segment, not
//! code by code. A search streams the first segment of a block of codes, adds the second
//! segment's distance only for the codes still within the threshold, and so on. The distance
//! over the segments read so far is a lower bound of the full distance, so the result is
//! exact; how much is read depends on the threshold. At a strict 1:N threshold almost every
//! code stops after its first segment (a quarter of a 2048-bit code), because an unrelated
//! code differs in about half of any segment's bits; at a loose verification threshold most
//! codes are read in full. Real protected codes are not uniformly random (issue 20), so the
//! scan decides as it goes, per block and segment: when many codes of the block are still in,
//! it streams the whole segment (sequential reads); when few are, it reads just theirs.
//!
//! The scan is split into contiguous ranges, one per thread. A batch of probes is scanned
//! block by block: each block is read from memory once and compared with every probe while it
//! sits in cache, which makes the batch compute-bound instead of memory-bound.
//!
//! Memory: the code bytes plus one entry of type `T` per code; vectors grow by a sixteenth at
//! a time rather than doubling, so spare capacity stays under about 7%.

use crate::{CodeBits, Kernel, ProtectedCode};

/// Codes compared per kernel call in a single-probe scan (64 KiB of 512-bit segments).
const BLOCK: usize = 4096;
/// Codes per block in a batch scan: every segment of a block (64 KiB of 2048-bit codes) stays
/// in a 512 KiB L2 cache with room for the probes.
const BATCH_BLOCK: usize = 256;
/// Galleries smaller than this are scanned on one thread: starting threads would cost more.
const PARALLEL_MIN: usize = 16 * 1024;
/// A segment is streamed for the whole block when at least 1 in `DENSE` codes is still in;
/// below that, just those codes are read. (Switching at 1 in 2 read a third less on real codes
/// at the 1:N threshold, yet was slower: 78 against 89 queries/s on one probe, 261 against 470
/// in batches, as listed reads cost instructions and defeat the prefetcher.)
const DENSE: usize = 4;

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
    /// Words per segment; the last segment may be shorter (always a multiple of 4).
    segment_words: usize,
    /// `segments[s]` holds segment `s` of every code, code after code.
    segments: Vec<Vec<u64>>,
    entries: Vec<T>,
}

/// The segment length for a code length: 512 bits (one AVX-512 register) up to 2048-bit codes,
/// a quarter of the code beyond, and 256 bits for 512-bit codes so that they have two.
fn segment_words(bits: CodeBits) -> usize {
    let w = bits.words();
    if w <= 8 { 4 } else { (w / 16 * 4).max(8) }
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

/// Working buffers of one scanning thread.
struct Scratch {
    /// Distance so far of each code of the block.
    distance: Vec<u32>,
    /// One segment's distances, when a segment is streamed.
    segment: Vec<u32>,
    /// The codes of the block (offsets in it) still within the threshold.
    alive: Vec<u32>,
}

impl Scratch {
    fn new() -> Self {
        Self {
            distance: vec![0; BLOCK],
            segment: vec![0; BLOCK],
            alive: Vec::with_capacity(BLOCK),
        }
    }
}

impl<T: Copy + Send + Sync> Gallery<T> {
    /// An empty gallery of `bits`-bit codes.
    pub fn new(bits: CodeBits) -> Self {
        Self::with_capacity(bits, 0)
    }

    /// An empty gallery with room for `n` codes.
    pub fn with_capacity(bits: CodeBits, n: usize) -> Self {
        let sw = segment_words(bits);
        let segments = (0..bits.words().div_ceil(sw))
            .map(|s| Vec::with_capacity(n * sw.min(bits.words() - s * sw)))
            .collect();
        Self {
            bits,
            segment_words: sw,
            segments,
            entries: Vec::with_capacity(n),
        }
    }

    /// The words of the code that segment `s` holds.
    fn span(&self, s: usize) -> std::ops::Range<usize> {
        let start = s * self.segment_words;
        start..(start + self.segment_words).min(self.bits.words())
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
            let more = (self.entries.len() / 16).max(64);
            self.entries.reserve_exact(more);
            for s in 0..self.segments.len() {
                let len = self.span(s).len();
                self.segments[s].reserve_exact(more * len);
            }
        }
        for s in 0..self.segments.len() {
            let span = self.span(s);
            self.segments[s].extend_from_slice(&code.words()[span]);
        }
        self.entries.push(entry);
        true
    }

    /// Removes every code whose entry matches; returns how many. The removed code's words are
    /// overwritten (by the last code, then truncated away and zeroed).
    pub fn remove_where(&mut self, mut matches: impl FnMut(&T) -> bool) -> usize {
        let lens: Vec<usize> = (0..self.segments.len())
            .map(|s| self.span(s).len())
            .collect();
        let mut removed = 0;
        let mut i = 0;
        while i < self.entries.len() {
            if matches(&self.entries[i]) {
                let last = self.entries.len() - 1;
                self.entries.swap_remove(i);
                for (v, &w) in self.segments.iter_mut().zip(&lens) {
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

    /// The words of the `i`-th code (its segments joined), for tests and checks.
    pub fn code(&self, i: usize) -> Vec<u64> {
        let mut c = Vec::with_capacity(self.bits.words());
        for (s, v) in self.segments.iter().enumerate() {
            let w = self.span(s).len();
            c.extend_from_slice(&v[i * w..(i + 1) * w]);
        }
        c
    }

    /// The entries, in storage order.
    pub fn entries(&self) -> &[T] {
        &self.entries
    }

    /// Bytes held: code and entry storage, including spare capacity.
    pub fn memory_bytes(&self) -> usize {
        self.segments.iter().map(Vec::capacity).sum::<usize>() * 8
            + self.entries.capacity() * std::mem::size_of::<T>()
    }

    /// Compares codes `b..e` with `probe` segment by segment, leaving in `scratch.alive` the
    /// block offsets of the codes within `max_distance` (their distances in
    /// `scratch.distance`). Returns the code bytes it read.
    fn scan_block(
        &self,
        kernel: Kernel,
        probe: &[u64],
        (b, e): (usize, usize),
        max_distance: u32,
        fuse: bool,
        scratch: &mut Scratch,
    ) -> usize {
        let len = e - b;
        let Scratch {
            distance,
            segment,
            alive,
        } = scratch;
        let distance = &mut distance[..len];
        let mut read = 0;
        // While many codes of the block are still in, each segment is streamed for the whole
        // block, added onto the distances so far, and only counted; once few are, the codes
        // still in are listed and read one by one. A code out stays out: distances only grow.
        let mut listed = false;
        let mut left = 0;
        let mut s = 0;
        while s < self.segments.len() {
            let span = self.span(s);
            let w = span.len();
            let q = &probe[span];
            let block = &self.segments[s][b * w..e * w];
            if s == 0 {
                kernel.distances(q, block, distance);
                read += len * w;
            } else if !listed && left * DENSE >= len {
                // A batch (`fuse`) whose codes nearly all passed the segments so far: the
                // threshold is loose for a segment, so the next one will hardly prune either;
                // both are added in one pass, finishing each code once.
                let next = self.span(s + 1);
                if fuse && left * 8 >= len * 7 && !next.is_empty() {
                    let n = next.len();
                    let q2 = &probe[next];
                    kernel.add_distances_parts(
                        [q, q2],
                        [block, &self.segments[s + 1][b * n..e * n]],
                        distance,
                    );
                    read += len * (w + n);
                    s += 1;
                } else {
                    kernel.add_distances(q, block, distance);
                    read += len * w;
                }
            } else {
                if !listed {
                    kernel.list_within(distance, max_distance, alive);
                    listed = true;
                }
                read += alive.len() * w;
                let segment = &mut segment[..alive.len()];
                segment.fill(0);
                kernel.add_distances_at(q, block, alive, segment);
                let mut m = 0;
                for j in 0..alive.len() {
                    let k = alive[j] as usize;
                    let d = distance[k] + segment[j];
                    distance[k] = d;
                    alive[m] = k as u32;
                    m += usize::from(d <= max_distance);
                }
                alive.truncate(m);
            }
            left = if listed {
                alive.len()
            } else {
                kernel.count_within(distance, max_distance)
            };
            if left == 0 {
                alive.clear();
                return read * 8;
            }
            s += 1;
        }
        if !listed {
            kernel.list_within(distance, max_distance, alive);
        }
        read * 8
    }

    /// The code bytes a single-probe search of `probe` reads (all first segments, and the
    /// later segments of the codes still within the threshold). For reports of the bytes a
    /// scan actually reads.
    pub fn bytes_read(&self, kernel: Kernel, probe: &ProtectedCode, max_distance: u32) -> usize {
        if probe.words().len() != self.bits.words() {
            return 0;
        }
        let mut scratch = Scratch::new();
        let mut read = 0;
        let mut b = 0;
        while b < self.len() {
            let e = (b + BLOCK).min(self.len());
            read += self.scan_block(
                kernel,
                probe.words(),
                (b, e),
                max_distance,
                false,
                &mut scratch,
            );
            b = e;
        }
        read
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
        // A batch is bound by instructions, not memory: it may fuse segments (see scan_block).
        let (block, fuse) = if probes.len() == 1 {
            (BLOCK, false)
        } else {
            (BATCH_BLOCK, true)
        };
        let scan = |start: usize| -> Vec<Hits> {
            let end = (start + per).min(n);
            let mut hits: Vec<Hits> = probes.iter().map(|_| Hits::new(limit)).collect();
            let mut scratch = Scratch::new();
            let mut b = start;
            while b < end {
                let e = (b + block).min(end);
                for (probe, h) in probes.iter().zip(hits.iter_mut()) {
                    self.scan_block(
                        kernel,
                        probe.words(),
                        (b, e),
                        max_distance,
                        fuse,
                        &mut scratch,
                    );
                    for k in &scratch.alive {
                        let k = *k as usize;
                        h.push(scratch.distance[k], b + k);
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
        // 512 bits: two 256-bit segments. 2048 bits: four 512-bit segments, where a batch at a
        // loose threshold fuses two segments per pass (and, between, lists codes).
        for (bits, thresholds) in [(512u64, vec![230u32]), (2048, vec![700, 980, 1100])] {
            let b = CodeBits::new(bits).expect("valid");
            let w = b.words();
            let mut g = Gallery::new(b);
            for i in 0..20_000u32 {
                g.insert(&code(u64::from(i) + 7, w), i);
            }
            let probes: Vec<ProtectedCode> = (0..9)
                .map(|i| flip(&code(i * 31 + 7, w), 40 + i as usize))
                .collect();
            for max in thresholds {
                for threads in [1, 2] {
                    for k in Kernel::available() {
                        let batch = g.search_batch(k, &probes, max, 7, threads);
                        for (p, r) in probes.iter().zip(&batch) {
                            assert_eq!(r, &naive(&g, p, max, 7), "{bits} {max} {}", k.name());
                        }
                    }
                }
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
    fn segments_rejoin_and_every_threshold_stays_exact() {
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
            // From strict (codes stop after the first segment) to loose (nearly every code is
            // read in full), through thresholds where blocks switch between streaming a segment
            // and reading code by code.
            for sixteenths in [4u32, 7, 8, 9, 16] {
                let max = (bits as u32) * sixteenths / 16;
                for threads in [1, 2] {
                    for k in Kernel::available() {
                        assert_eq!(
                            g.search(k, &probe, max, 50, threads),
                            naive(&g, &probe, max, 50),
                            "{bits} bits, threshold {max}, {}",
                            k.name()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_strict_threshold_reads_only_first_segments_and_a_loose_one_everything() {
        let bits = CodeBits::DEFAULT;
        let mut g = Gallery::new(bits);
        for i in 0..5000u32 {
            g.insert(&code(u64::from(i), 32), i);
        }
        let probe = code(77_777, 32);
        let all = 5000 * 256;
        // Unrelated codes differ in about 256 of a segment's 512 bits.
        assert_eq!(g.bytes_read(Kernel::best(), &probe, 100), all / 4);
        assert_eq!(g.bytes_read(Kernel::best(), &probe, 2048), all);
        let middle = g.bytes_read(Kernel::best(), &probe, 700);
        assert!(middle > all / 4 && middle < all, "{middle}");
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
        let raw = 256.0 + 16.0;
        assert!(
            per / raw <= 1.07,
            "{per} bytes per 256-byte code and 16-byte entry"
        );
    }
}
