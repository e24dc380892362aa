//! `bioguard bench`: measurements of the 1:N engine, driven by `bench/identify` which runs
//! FAISS side by side on the same codes.
//!
//! - `bench make-codes`: writes a gallery of codes and a set of probes to two files (raw
//!   little-endian words, as FAISS's binary indexes read them). By default the codes look like
//!   production's (`realcodes.rs`: protected embeddings with the real voices' distribution,
//!   real probes with planted mates); `--distribution uniform` writes random bits with three
//!   planted near neighbours per probe, a labelled extra that flatters any filter.
//! - `bench identify`: loads those files into a gallery and times single-probe searches and
//!   batches, printing one JSON line with the bytes a scan actually reads; `--results` writes
//!   every probe's matches so that another engine's can be compared with them.
//! - `bench bandwidth`: the machine's sequential memory read bandwidth (median of runs), the
//!   ceiling for a single-probe scan.
//! - `bench projection`: one probe into a protected code with the structured transform,
//!   against the Gaussian projection and its row-by-row baseline.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use bioguard_core::CodeBits;
use bioguard_engine::{Gallery, Kernel, ProtectedCode};

/// SplitMix64, for reproducible codes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

pub(crate) fn write_words(path: &Path, words: &[u64]) -> anyhow::Result<()> {
    write_le(path, words.iter().map(|w| w.to_le_bytes()))
}

/// Writes each item's little-endian bytes, one after another, to a new file at `path`.
pub(crate) fn write_le<const N: usize>(
    path: &Path,
    items: impl IntoIterator<Item = [u8; N]>,
) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    for bytes in items {
        f.write_all(&bytes)?;
    }
    f.flush()?;
    Ok(())
}

fn read_words(path: &Path) -> anyhow::Result<Vec<u64>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .read_to_end(&mut bytes)?;
    if bytes.len() % 8 != 0 {
        bail!("{} is not a whole number of 64-bit words", path.display());
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

fn code_bits(bits: u64) -> anyhow::Result<CodeBits> {
    CodeBits::new(bits).context("--bits must be a multiple of 256 from 512 to 4096")
}

/// `bench make-codes`.
pub fn make_codes(
    n: usize,
    bits: u64,
    queries: usize,
    codes: &Path,
    probes: &Path,
    seed: u64,
) -> anyhow::Result<()> {
    let w = code_bits(bits)?.words();
    if n < 4 * queries {
        bail!("--n must be at least four times --queries");
    }
    let mut rng = Rng(seed);
    let mut all: Vec<u64> = (0..n * w).map(|_| rng.next()).collect();
    let qs: Vec<u64> = (0..queries * w).map(|_| rng.next()).collect();
    // Three near neighbours per probe, 80 to 400 bits away, at random places in the gallery.
    for q in 0..queries {
        for _ in 0..3 {
            let slot = (rng.next() % n as u64) as usize;
            let flips = 80 + (rng.next() % 320) as usize;
            let mut code = qs[q * w..(q + 1) * w].to_vec();
            for _ in 0..flips {
                let bit = (rng.next() % (w as u64 * 64)) as usize;
                code[bit / 64] ^= 1 << (bit % 64);
            }
            all[slot * w..(slot + 1) * w].copy_from_slice(&code);
        }
    }
    write_words(codes, &all)?;
    write_words(probes, &qs)?;
    println!(
        "{}",
        serde_json::json!({"codes": n, "probes": queries, "bits": bits, "seed": seed,
                           "data": "synthetic: uniformly random codes, 3 planted neighbours per probe"})
    );
    Ok(())
}

/// Options of `bench identify`.
#[derive(clap::Args)]
pub struct IdentifyArgs {
    #[arg(long, value_name = "FILE")]
    pub codes: PathBuf,
    #[arg(long, value_name = "FILE")]
    pub probes: PathBuf,
    #[arg(long, default_value_t = 2048)]
    pub bits: u64,
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Probes per search call (1: single queries).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Probes per timed run.
    #[arg(long, default_value_t = 64)]
    pub queries: usize,
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Largest Hamming distance that counts as a match (519 bits is cosine 0.7 at 2048).
    #[arg(long, default_value_t = 519)]
    pub max_distance: u32,
    /// Candidates kept per probe.
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
    /// Force a kernel (portable, popcnt, avx2, avx512-vpopcntdq) instead of the best.
    #[arg(long)]
    pub kernel: Option<String>,
    /// Also write every probe's results (`[[index, distance], ...]` per probe, best first) as
    /// JSON, so that another engine's can be compared with them.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// `bench identify`: prints one JSON line with the median queries per second.
pub fn identify(a: IdentifyArgs) -> anyhow::Result<()> {
    let bits = code_bits(a.bits)?;
    let w = bits.words();
    let words = read_words(&a.codes)?;
    let probe_words = read_words(&a.probes)?;
    if words.len() % w != 0 || probe_words.len() % w != 0 || probe_words.is_empty() {
        bail!("the files do not hold whole {}-bit codes", bits.bits());
    }
    let n = words.len() / w;
    let mut g: Gallery<u32> = Gallery::with_capacity(bits, n);
    for (i, c) in words.chunks_exact(w).enumerate() {
        g.insert(&ProtectedCode::from_words(c.to_vec()), i as u32);
    }
    drop(words);
    let probes: Vec<ProtectedCode> = probe_words
        .chunks_exact(w)
        .map(|c| ProtectedCode::from_words(c.to_vec()))
        .collect();
    let kernel = match &a.kernel {
        None => Kernel::best(),
        Some(name) => *Kernel::available()
            .iter()
            .find(|k| k.name() == name)
            .with_context(|| {
                format!(
                    "kernel {name} is not available here; available: {:?}",
                    Kernel::available()
                        .iter()
                        .map(|k| k.name())
                        .collect::<Vec<_>>()
                )
            })?,
    };
    let batch = a.batch.max(1);
    let queries = a.queries.max(batch);
    let mut rates = Vec::new();
    let mut hits = 0usize;
    // One untimed pass warms caches and page tables.
    let _ = g.search(kernel, &probes[0], a.max_distance, a.limit, a.threads);
    for _ in 0..a.repeats.max(1) {
        let start = Instant::now();
        let mut done = 0;
        while done < queries {
            let chunk: Vec<ProtectedCode> = (0..batch)
                .map(|i| {
                    ProtectedCode::from_words(probes[(done + i) % probes.len()].words().to_vec())
                })
                .collect();
            let r = if batch == 1 {
                vec![g.search(kernel, &chunk[0], a.max_distance, a.limit, a.threads)]
            } else {
                g.search_batch(kernel, &chunk, a.max_distance, a.limit, a.threads)
            };
            hits += r.iter().map(Vec::len).sum::<usize>();
            done += batch;
        }
        rates.push(done as f64 / start.elapsed().as_secs_f64());
    }
    let qps = median(rates.clone());
    let bytes_per_query = (n * w * 8) as f64;
    // What a single-probe scan actually reads: every code's first segment, and the later
    // segments while a code is still within the threshold (an untimed pass over the probes).
    let read_per_query = probes
        .iter()
        .map(|p| g.bytes_read(kernel, p, a.max_distance) as f64)
        .sum::<f64>()
        / probes.len() as f64;
    if let Some(path) = &a.results {
        let all: Vec<Vec<[u64; 2]>> = probes
            .iter()
            .map(|p| {
                g.search(kernel, p, a.max_distance, a.limit, a.threads)
                    .iter()
                    .map(|c| [u64::from(c.entry), u64::from(c.distance)])
                    .collect()
            })
            .collect();
        std::fs::write(path, serde_json::to_string(&all)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "{}",
        serde_json::json!({
            "engine": "bioguard",
            "kernel": kernel.name(),
            "codes": n,
            "bits": bits.bits(),
            "threads": a.threads,
            "batch": batch,
            "queries_per_second": qps,
            "runs": rates,
            "scanned_gb_per_second": if batch == 1 { qps * bytes_per_query / 1e9 } else { f64::NAN },
            "bytes_read_per_query": read_per_query,
            "share_of_code_bytes_read": read_per_query / bytes_per_query,
            "read_gb_per_second": if batch == 1 { qps * read_per_query / 1e9 } else { f64::NAN },
            "index_bytes_per_code": g.memory_bytes() as f64 / n as f64,
            "raw_bytes_per_code": w * 8,
            "hits_per_query": hits as f64 / (queries * a.repeats.max(1)) as f64,
        })
    );
    Ok(())
}

/// `bench bandwidth`: several sequential reads of a 1 GiB buffer on `threads` threads; the
/// median is reported (as the scans' rates are), with every run and the best. Sums 64-bit
/// words so the compiler cannot skip the reads.
pub fn bandwidth(threads: usize, mib: usize, repeats: usize) -> anyhow::Result<()> {
    let words = mib * 1024 * 1024 / 8;
    let buf: Vec<u64> = (0..words as u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect();
    let threads = threads.max(1);
    let mut runs = Vec::new();
    let mut sink = 0u64;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let per = words.div_ceil(threads);
        let sum: u64 = std::thread::scope(|s| {
            let hs: Vec<_> = buf
                .chunks(per)
                .map(|part| {
                    s.spawn(move || {
                        // Four independent sums keep several loads in flight.
                        let mut acc = [0u64; 4];
                        for c in part.chunks_exact(4) {
                            for k in 0..4 {
                                acc[k] = acc[k].wrapping_add(c[k]);
                            }
                        }
                        acc.iter().fold(0u64, |a, b| a.wrapping_add(*b))
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap_or(0))
                .fold(0u64, u64::wrapping_add)
        });
        sink = sink.wrapping_add(sum);
        let gbs = (words * 8) as f64 / start.elapsed().as_secs_f64() / 1e9;
        runs.push(gbs);
    }
    let best = runs.iter().copied().fold(0f64, f64::max);
    println!(
        "{}",
        serde_json::json!({"threads": threads, "read_gb_per_second": median(runs.clone()),
                           "best_gb_per_second": best, "runs": runs, "buffer_mib": mib,
                           "checksum": sink % 1000})
    );
    Ok(())
}

/// The baseline for `bench projection`: each row's dot product summed in eight lanes, row after
/// row over a row-major matrix (the engine's kernel before the grouped one).
fn row_by_row_signs(rows: &[f32], dim: usize, x: &[f32], words: &mut [u64]) {
    for (j, row) in rows.chunks_exact(dim).enumerate() {
        let whole = dim / 8 * 8;
        let mut lanes = [0f32; 8];
        for (ca, cb) in row[..whole].chunks_exact(8).zip(x[..whole].chunks_exact(8)) {
            for k in 0..8 {
                lanes[k] += ca[k] * cb[k];
            }
        }
        let mut sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
            + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        for (a, b) in row[whole..].iter().zip(&x[whole..]) {
            sum += a * b;
        }
        if sum >= 0.0 {
            words[j / 64] |= 1 << (j % 64);
        }
    }
}

/// `bench projection`: microseconds per probe, median of `runs`, for the engine's grouped
/// kernel and the row-by-row baseline, on the same synthetic unit embeddings; and how many
/// code bits the two disagree on (rounding: the sums are added in different orders).
pub fn projection(dimension: usize, bits: u64, probes: usize, runs: usize) -> anyhow::Result<()> {
    use bioguard_core::{Dimension, Embedding};
    use bioguard_engine::SignProjection;
    if dimension == 0 || probes == 0 || runs == 0 {
        bail!("--dimension, --probes and --runs must be at least 1");
    }
    let bits = code_bits(bits)?;
    let dim = Dimension::new(dimension as u64).map_err(|e| anyhow::anyhow!("--dimension: {e}"))?;
    let mut rng = Rng(2026);
    let transform = SignProjection::new(&[7; 32], bits, dimension);
    let rows: Vec<f32> = transform.rows().flatten().collect();
    let mut inputs = Vec::with_capacity(probes.min(1000));
    for _ in 0..probes.min(1000) {
        let v: Vec<f32> = (0..dimension)
            .map(|_| (rng.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect();
        let n = v
            .iter()
            .map(|a| a * a)
            .sum::<f32>()
            .sqrt()
            .max(f32::MIN_POSITIVE);
        inputs.push(v.into_iter().map(|a| a / n).collect::<Vec<f32>>());
    }
    let (mut grouped_us, mut baseline_us, mut differing) = (Vec::new(), Vec::new(), 0u64);
    // The structured transform new protection keys use (ADR 0024).
    let hadamard = bioguard_engine::HadamardSigns::new(&[7; 32], bits, dimension);
    let mut hadamard_us = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let mut sink = 0u64;
        for i in 0..probes {
            let e = Embedding::parse(inputs[i % inputs.len()].clone(), dim)
                .map_err(|e| anyhow::anyhow!("synthetic embedding: {e}"))?;
            let code = transform
                .protect(&e)
                .context("the transform takes this dimension")?;
            sink ^= code.words()[0];
        }
        grouped_us.push(start.elapsed().as_secs_f64() * 1e6 / probes as f64);
        let start = Instant::now();
        for i in 0..probes {
            let x = inputs[i % inputs.len()].clone();
            let mut words = vec![0u64; bits.words()];
            row_by_row_signs(&rows, dimension, &x, &mut words);
            sink ^= words[0];
        }
        baseline_us.push(start.elapsed().as_secs_f64() * 1e6 / probes as f64);
        let start = Instant::now();
        for i in 0..probes {
            let code = hadamard
                .protect_values(&inputs[i % inputs.len()])
                .context("the transform takes this dimension")?;
            sink ^= code.words()[0];
        }
        hadamard_us.push(start.elapsed().as_secs_f64() * 1e6 / probes as f64);
        std::hint::black_box(sink);
    }
    for x in &inputs {
        let e = Embedding::parse(x.clone(), dim).map_err(|e| anyhow::anyhow!("{e}"))?;
        let code = transform.protect(&e).context("dimension")?;
        let mut words = vec![0u64; bits.words()];
        row_by_row_signs(&rows, dimension, x, &mut words);
        differing += Kernel::portable().distance(code.words(), &words) as u64;
    }
    let (g, b) = (median(grouped_us), median(baseline_us));
    println!(
        "{}",
        serde_json::json!({
            "data": "synthetic unit embeddings",
            "dimension": dimension,
            "bits": bits.bits(),
            "probes": probes,
            "runs": runs,
            "grouped_us_per_probe": (g * 100.0).round() / 100.0,
            "row_by_row_us_per_probe": (b * 100.0).round() / 100.0,
            "speedup": (b / g * 100.0).round() / 100.0,
            "hadamard_us_per_probe": (median(hadamard_us) * 100.0).round() / 100.0,
            "hadamard_key_bytes": hadamard.key_bytes(),
            "gaussian_matrix_bytes": bits.bits() as usize * dimension * 4,
            "bits_differing": differing,
            "bits_compared": inputs.len() * bits.bits(),
        })
    );
    Ok(())
}
