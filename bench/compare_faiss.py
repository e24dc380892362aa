"""Side-by-side benchmark of bioguard's 1:N scan and FAISS, on codes that look like production's.

Run through bench/identify. For each gallery size, `bioguard bench make-codes` writes once:
protected codes of embeddings drawn from a Gaussian fitted to the real dev voices (centred
structured protection under one key, as a calibrated purpose protects), the real voice phrases
as probes (each with one genuine mate planted in the gallery), and the raw float embeddings of
both. Then:

1. Thresholds. The 1:N operating point is the largest distance at which the pooled impostor
   comparisons of all probes (every gallery code but the probe's mate) give a false match rate of
   at most --fmr per comparison, read from FAISS's exact k-NN distances. The calibrated
   verification threshold (--verify-distance, 684 bits at 2048 from `bioguard calibrate` on the
   dev voices) is run too, as a stress case: there almost every head is within the threshold.
2. Agreement. For each threshold, bioguard's complete result lists (every code within the
   threshold, best first, ties in storage order) must equal FAISS `range_search`'s for every
   probe, or the run stops.
3. Speed. Single queries and batches of 64, on 1 and 2 threads, alternating engine by engine in
   each repeat; medians. FAISS runs both its modes (k-NN with k=5 and range search) and the
   better one is the baseline. Equal parallelism: on 2 threads a FAISS single query runs over an
   `IndexBinaryShards` of two halves searched in parallel (one thread each); a FAISS batch
   spreads its queries over 2 OpenMP threads; bioguard splits the gallery between 2 threads.
4. Bandwidth. `bioguard bench bandwidth` (median of runs, as the scans) on the same thread
   counts; bioguard's read rate counts the bytes its scan actually reads (every code's first
   segment, and later segments while a code is still within the threshold; measured per probe).
5. The unprotected baseline, at equal accuracy: FAISS `IndexFlatIP` over the raw normalised
   float embeddings, with its cosine threshold at the same per-comparison false match rate; the
   share of mates each side finds is reported next to the speeds.

`--uniform` adds uniformly random codes as a labelled extra: they flatter any filter.
"""

import argparse
import concurrent.futures
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import faiss
import numpy as np

BIN = os.path.join("target", "release", "bioguard")
DATA = os.path.join("bench", ".data")
K = 5


def run(args):
    out = subprocess.run([BIN, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    keep = ["popcnt", "avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vpopcntdq"]
                    return [k for k in keep if k in flags]
    except OSError:
        pass
    return []


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def pooled_threshold(index, xq, mates, fmr, n, binary):
    """The strictest-side threshold whose pooled impostor false match rate is at most `fmr`.

    Binary: the largest distance t with count(impostor distance <= t) <= fmr * comparisons.
    Float (inner product): the smallest similarity s with count(impostor similarity >= s) <=
    fmr * comparisons. Returns (threshold, measured rate, impostor comparisons).
    """
    q = len(xq)
    comparisons = q * (n - 1)
    allowed = int(math.floor(fmr * comparisons))
    k = min(n, max(16, allowed + 2))
    faiss.omp_set_num_threads(2)
    dist, ids = index.search(xq, k)
    pooled = []
    for p in range(q):
        for d, i in zip(dist[p].tolist(), ids[p].tolist()):
            if i != mates[p]:
                pooled.append(d)
    if binary:
        pooled.sort()
        # The (allowed)-th smallest impostor distance must be excluded: t = that - 1.
        t = int(pooled[allowed]) - 1
        count = sum(1 for d in pooled if d <= t)
    else:
        pooled.sort(reverse=True)
        t = float(np.nextafter(np.float32(pooled[allowed]), np.float32(2.0)))
        count = sum(1 for d in pooled if d >= t)
    return t, count / comparisons, comparisons


def mates_found(index, xq, mates, threshold, binary):
    faiss.omp_set_num_threads(2)
    if binary:
        lims, _, ids = index.range_search(xq, threshold + 1)
    else:
        lims, _, ids = index.range_search(xq, threshold)
    found = 0
    for p in range(len(xq)):
        if mates[p] in set(ids[lims[p]:lims[p + 1]].tolist()):
            found += 1
    return found / len(xq)


def check_agreement(index, xq, codes, probes, bits, threshold, tag):
    """bioguard's full result lists against FAISS range_search, probe by probe."""
    path = os.path.join(DATA, f"results-{tag}.json")
    run(["bench", "identify", "--codes", codes, "--probes", probes, "--bits", str(bits),
         "--threads", "2", "--queries", "1", "--repeats", "1", "--max-distance", str(threshold),
         "--limit", "1000000", "--results", path])
    with open(path) as f:
        ours = json.load(f)
    faiss.omp_set_num_threads(2)
    lims, dist, ids = index.range_search(xq, threshold + 1)  # FAISS's radius is exclusive
    total = 0
    for p in range(len(xq)):
        theirs = sorted(zip(dist[lims[p]:lims[p + 1]].tolist(), ids[lims[p]:lims[p + 1]].tolist()))
        mine = [(d, i) for i, d in ours[p]]
        if mine != theirs:
            sys.exit(f"MISMATCH at {tag}, probe {p}: bioguard {len(mine)} results, FAISS "
                     f"{len(theirs)}; first bioguard {mine[:3]}, first FAISS {theirs[:3]}")
        total += len(mine)
    os.remove(path)
    return total


def ours(codes, probes, bits, threads, batch, queries, threshold):
    return run(["bench", "identify", "--codes", codes, "--probes", probes, "--bits", str(bits),
                "--threads", str(threads), "--batch", str(batch), "--queries", str(queries),
                "--repeats", "1", "--max-distance", str(threshold), "--limit", str(K)])


def timed(search, xq, batch, queries):
    start = time.perf_counter()
    done = 0
    while done < queries:
        search(xq[np.arange(done, done + batch) % len(xq)])
        done += batch
    return done / (time.perf_counter() - start)


def faiss_modes(index, shards, xq, threads, batch, queries, radius):
    """queries/s of FAISS k-NN and range search at this parallelism."""
    if threads > 1 and batch == 1:
        # IndexBinaryShards has no range search: the halves are searched by a pool of
        # `threads` Python threads instead (FAISS releases the GIL while it searches).
        faiss.omp_set_num_threads(1)
        knn = timed(lambda q: shards[0].search(q, K), xq, batch, queries)
        rng = timed(lambda q: list(shards[2].map(lambda s: s.range_search(q, radius), shards[1])),
                    xq, batch, queries)
        return knn, rng
    faiss.omp_set_num_threads(threads)
    knn = timed(lambda q: index.search(q, K), xq, batch, queries)
    rng = timed(lambda q: index.range_search(q, radius), xq, batch, queries)
    return knn, rng


def make_shards(xb, bits, parts):
    shards = faiss.IndexBinaryShards(bits, True, True)  # threaded, successive ids
    subs = []
    per = (len(xb) + parts - 1) // parts
    for s in range(parts):
        sub = faiss.IndexBinaryFlat(bits)
        sub.add(xb[s * per:(s + 1) * per])
        subs.append(sub)
        shards.add_shard(sub)
    return shards, subs


def bench_codes(a, n, bits, codes, probes, thresholds, label, bandwidth, rows):
    xb = np.fromfile(codes, dtype=np.uint8).reshape(n, bits // 8)
    xq = np.fromfile(probes, dtype=np.uint8).reshape(-1, bits // 8)
    index = faiss.IndexBinaryFlat(bits)
    index.add(xb)
    sharded, subs = make_shards(xb, bits, 2)
    pool = concurrent.futures.ThreadPoolExecutor(2)
    shards = (sharded, subs, pool)
    del xb
    for name, t in thresholds:
        total = check_agreement(index, xq, codes, probes, bits, t, f"{n}-{name}")
        print(f"  {label}, {name} threshold {t} bits: both engines return the same "
              f"{total} matches over {len(xq)} probes ({total / len(xq):.1f} per probe)",
              flush=True)
        for threads in a.threads:
            for batch in (1, 64):
                queries = a.queries if batch == 1 else 64 * max(1, a.queries // 64)
                mine, knn, rng, last = [], [], [], None
                for _ in range(a.repeats):
                    last = ours(codes, probes, bits, threads, batch, queries, t)
                    mine.append(last["queries_per_second"])
                    fk, fr = faiss_modes(index, shards, xq, threads, batch, queries, t + 1)
                    knn.append(fk)
                    rng.append(fr)
                m, fk, fr = (statistics.median(v) for v in (mine, knn, rng))
                base = max(fk, fr)
                row = {
                    "data": label, "codes": n, "bits": bits, "threshold": name,
                    "max_distance": t, "threads": threads, "batch": batch,
                    "queries_per_run": queries, "repeats": a.repeats,
                    "bioguard_qps": m, "bioguard_runs": mine, "faiss_knn_qps": fk,
                    "faiss_range_qps": fr, "faiss_best_mode": "knn" if fk >= fr else "range",
                    "ratio_vs_best_faiss": m / base, "bioguard_kernel": last["kernel"],
                    "index_bytes_per_code": last["index_bytes_per_code"],
                    "share_of_code_bytes_read": last["share_of_code_bytes_read"],
                    "faiss_parallelism": ("two halves in parallel: IndexBinaryShards (knn), "
                                          "a pool of 2 threads (range)"
                                          if threads > 1 and batch == 1 else
                                          f"OpenMP over queries, {threads} thread(s)"),
                }
                extra = ""
                if batch == 1:
                    read = last["bytes_read_per_query"] * m / 1e9
                    row["bytes_read_per_query"] = last["bytes_read_per_query"]
                    row["read_gb_per_second"] = read
                    row["percent_of_bandwidth"] = 100 * read / bandwidth[threads]
                    row["faiss_percent_of_bandwidth"] = 100 * base * n * bits / 8 / 1e9 / bandwidth[threads]
                    extra = (f"  reads {read:.1f} GB/s = {row['percent_of_bandwidth']:.0f}% of "
                             f"bandwidth (FAISS {row['faiss_percent_of_bandwidth']:.0f}%), "
                             f"{100 * last['share_of_code_bytes_read']:.0f}% of code bytes read")
                rows.append(row)
                print(f"  {n:>8} codes {name:>6} {threads} thr batch {batch:>2}: bioguard "
                      f"{m:8.1f} q/s  FAISS knn {fk:8.1f} range {fr:8.1f}  ratio "
                      f"{m / base:5.2f}x{extra}", flush=True)
    pool.shutdown()
    del index, shards, sharded, subs


def bench_flat(a, n, floats, bits, codes, probes, t_bits, ours_found, mates, rows):
    """The unprotected baseline: IndexFlatIP over raw floats at the same false match rate."""
    xf = np.fromfile(floats, dtype=np.float32)
    xfq = np.fromfile(floats + ".probes", dtype=np.float32)
    d = len(xfq) // a.queries
    xf = xf.reshape(-1, d)
    xfq = xfq.reshape(-1, d)
    flat = faiss.IndexFlatIP(d)
    flat.add(xf)
    del xf
    cos_t, cos_fmr, _ = pooled_threshold(flat, xfq, mates, a.fmr, n, binary=False)
    flat_found = mates_found(flat, xfq, mates, cos_t, binary=False)
    print(f"  raw floats: cosine threshold {cos_t:.4f} (measured FMR {cos_fmr:.2e}), mates "
          f"found {100 * flat_found:.1f}%; protected codes at {t_bits} bits: mates found "
          f"{100 * ours_found:.1f}%", flush=True)
    # One thread each: FAISS's flat index parallelises over queries only, so a single query
    # would run on one thread whatever it is given.
    for threads in [1]:
        for batch in (1, 64):
            queries = a.queries if batch == 1 else 64 * max(1, a.queries // 64)
            mine, fl_range, fl_knn = [], [], []
            for _ in range(a.repeats):
                mine.append(ours(codes, probes, bits, threads, batch, queries, t_bits)["queries_per_second"])
                faiss.omp_set_num_threads(threads)
                fl_range.append(timed(lambda q: flat.range_search(q, cos_t), xfq, batch, queries))
                fl_knn.append(timed(lambda q: flat.search(q, K), xfq, batch, queries))
            m = statistics.median(mine)
            f = max(statistics.median(fl_range), statistics.median(fl_knn))
            rows.append({"data": "real-distribution", "codes": n, "baseline": "IndexFlatIP raw floats",
                         "threads": threads, "batch": batch, "bioguard_qps": m, "flat_ip_qps": f,
                         "ratio_vs_flat_ip": m / f, "cosine_threshold": cos_t,
                         "max_distance": t_bits, "mates_found_protected": ours_found,
                         "mates_found_raw": flat_found})
            print(f"  {n:>8} floats {threads} thr batch {batch:>2}: bioguard {m:8.1f} q/s  "
                  f"IndexFlatIP {f:8.1f}  ratio {m / f:5.2f}x", flush=True)
    del flat


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1000000")
    p.add_argument("--bits", default="2048")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--queries", type=int, default=64, help="probes written and per timed run")
    p.add_argument("--fmr", type=float, default=1e-6,
                   help="per-comparison false match rate of the 1:N operating point")
    p.add_argument("--verify-distance", type=int, default=684,
                   help="the calibrated verification threshold at 2048 bits (stress case)")
    p.add_argument("--flat", action="store_true", help="also run IndexFlatIP on raw floats")
    p.add_argument("--uniform", action="store_true", help="also run uniform codes (labelled)")
    p.add_argument("--json", default=os.path.join("bench", "results", "identify.json"))
    a = p.parse_args()
    a.threads = [int(t) for t in a.threads.split(",")]
    sizes = [int(s) for s in a.sizes.split(",")]
    os.makedirs(DATA, exist_ok=True)
    os.makedirs(os.path.dirname(a.json), exist_ok=True)

    env = {"faiss": faiss.__version__, "faiss_compile_options": faiss.get_compile_options(),
           "faiss_simd_level": faiss.SIMDConfig.get_level_name(),
           "numpy": np.__version__, "python": sys.version.split()[0], "cpu": cpu_model(),
           "cpu_flags": cpu_flags()}
    print(json.dumps(env))
    bandwidth = {}
    for t in a.threads:
        b = run(["bench", "bandwidth", "--threads", str(t), "--repeats", "7"])
        bandwidth[t] = b["read_gb_per_second"]
        print(f"memory read bandwidth, {t} thread(s): median {b['read_gb_per_second']:.1f} GB/s "
              f"(best {b['best_gb_per_second']:.1f})", flush=True)

    rows = []
    thresholds_used = {}
    for bits in [int(b) for b in a.bits.split(",")]:
        for n in sizes:
            stem = os.path.join(DATA, f"voice-{bits}-{n}")
            codes, probes, floats = stem + ".codes", stem + ".probes", stem + ".f32"
            print(f"\n== {n:,} real-distribution {bits}-bit codes", flush=True)
            args = ["bench", "make-codes", "--distribution", "voice", "--n", str(n),
                    "--bits", str(bits), "--queries", str(a.queries), "--codes", codes,
                    "--probes", probes]
            if a.flat and bits == 2048:
                args += ["--floats", floats]
            made = run(args)
            mates = made["mates"]
            index = faiss.IndexBinaryFlat(bits)
            index.add(np.fromfile(codes, dtype=np.uint8).reshape(n, bits // 8))
            xq = np.fromfile(probes, dtype=np.uint8).reshape(-1, bits // 8)
            t_1n, fmr_1n, comparisons = pooled_threshold(index, xq, mates, a.fmr, n, binary=True)
            found = mates_found(index, xq, mates, t_1n, binary=True)
            del index
            print(f"  1:N operating point: {t_1n} bits (measured FMR {fmr_1n:.2e} over "
                  f"{comparisons:,} impostor comparisons), mates found {100 * found:.1f}%",
                  flush=True)
            thresholds = [("1:N", t_1n)]
            if bits == 2048:
                thresholds.append(("verify", a.verify_distance))
            thresholds_used[f"{bits}-{n}"] = {"1:N": t_1n, "fmr_measured": fmr_1n,
                                             "mates_found": found}
            bench_codes(a, n, bits, codes, probes, thresholds, "real-distribution", bandwidth, rows)
            if a.flat and bits == 2048:
                bench_flat(a, n, floats, bits, codes, probes, t_1n, found, mates, rows)
                os.remove(floats)
                os.remove(floats + ".probes")
            if a.uniform:
                ucodes, uprobes = stem + ".ucodes", stem + ".uprobes"
                run(["bench", "make-codes", "--distribution", "uniform", "--n", str(n),
                     "--bits", str(bits), "--queries", str(a.queries), "--codes", ucodes,
                     "--probes", uprobes])
                print(f"  synthetic extra: uniformly random codes (they flatter filters)")
                bench_codes(a, n, bits, ucodes, uprobes, [("1:N", t_1n)],
                            "synthetic-uniform", bandwidth, rows)
                os.remove(ucodes)
                os.remove(uprobes)
            os.remove(codes)
            os.remove(probes)

    with open(a.json, "w") as f:
        json.dump({"environment": env, "bandwidth_gb_per_second_median": bandwidth,
                   "thresholds": thresholds_used, "fmr": a.fmr, "k": K, "rows": rows}, f, indent=2)
    print(f"\nwritten {a.json}")
    print("\n| data | codes | bits | threshold | threads | batch | bioguard q/s | FAISS best q/s (mode) | ratio | read, % of bandwidth |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "ratio_vs_best_faiss" not in r:
            continue
        bw = f"{r['percent_of_bandwidth']:.0f}%" if r["batch"] == 1 else "-"
        base = max(r["faiss_knn_qps"], r["faiss_range_qps"])
        print(f"| {r['data']} | {r['codes']:,} | {r['bits']} | {r['threshold']} ({r['max_distance']}) | "
              f"{r['threads']} | {r['batch']} | {r['bioguard_qps']:.1f} | {base:.1f} ({r['faiss_best_mode']}) | "
              f"{r['ratio_vs_best_faiss']:.2f}x | {bw} |")
    flat = [r for r in rows if "ratio_vs_flat_ip" in r]
    if flat:
        print("\n| codes | threads | batch | bioguard q/s | IndexFlatIP q/s | ratio |")
        print("|---|---|---|---|---|---|")
        for r in flat:
            print(f"| {r['codes']:,} | {r['threads']} | {r['batch']} | {r['bioguard_qps']:.1f} | "
                  f"{r['flat_ip_qps']:.1f} | {r['ratio_vs_flat_ip']:.2f}x |")


if __name__ == "__main__":
    main()
