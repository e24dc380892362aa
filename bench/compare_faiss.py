"""Side-by-side benchmark of bioguard's 1:N scan and FAISS IndexBinaryFlat.

Run through bench/identify. For each gallery size the same codes (written once by
`bioguard bench make-codes`) are searched by both engines, alternating run by run so that
both see the same machine conditions; figures are medians. Synthetic data: uniformly random
2048-bit codes, with three planted near neighbours per probe.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import faiss
import numpy as np

BIN = os.path.join("target", "release", "bioguard")
DATA = os.path.join("bench", ".data")
BITS = 2048
MAX_DISTANCE = 519  # cosine 0.7 at 2048 bits: floor(2048 * acos(0.7) / pi)
K = 5


def run(args):
    out = subprocess.run([BIN, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def ours(codes, probes, threads, batch, queries):
    r = run(["bench", "identify", "--codes", codes, "--probes", probes, "--bits", str(BITS),
             "--threads", str(threads), "--batch", str(batch), "--queries", str(queries),
             "--repeats", "1", "--max-distance", str(MAX_DISTANCE), "--limit", str(K)])
    return r["queries_per_second"], r


def faiss_run(index, xq, threads, batch, queries, how):
    faiss.omp_set_num_threads(threads)
    start = time.perf_counter()
    done = 0
    while done < queries:
        chunk = xq[np.arange(done, done + batch) % len(xq)]
        if how == "knn":
            index.search(chunk, K)
        else:
            # FAISS's radius is exclusive; ours is inclusive.
            index.range_search(chunk, MAX_DISTANCE + 1)
        done += batch
    return done / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="100000,1000000,4000000")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", default=os.path.join("bench", "results", "identify.json"))
    a = p.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    threads = [int(t) for t in a.threads.split(",")]
    os.makedirs(DATA, exist_ok=True)
    os.makedirs(os.path.dirname(a.json), exist_ok=True)

    print(f"faiss {faiss.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")
    bandwidth = {}
    for t in threads:
        bandwidth[t] = run(["bench", "bandwidth", "--threads", str(t)])["read_gb_per_second"]
        print(f"memory read bandwidth, {t} thread(s): {bandwidth[t]:.1f} GB/s")

    rows = []
    for n in sizes:
        codes = os.path.join(DATA, f"codes-{n}.bin")
        probes = os.path.join(DATA, f"probes-{n}.bin")
        if not (os.path.exists(codes) and os.path.getsize(codes) == n * BITS // 8):
            print(f"writing {n} synthetic {BITS}-bit codes ...", flush=True)
            run(["bench", "make-codes", "--n", str(n), "--bits", str(BITS), "--queries", "64",
                 "--codes", codes, "--probes", probes])
        xb = np.fromfile(codes, dtype=np.uint8).reshape(n, BITS // 8)
        xq = np.fromfile(probes, dtype=np.uint8).reshape(-1, BITS // 8)
        index = faiss.IndexBinaryFlat(BITS)
        index.add(xb)
        del xb
        # Both engines must find the same neighbours.
        faiss.omp_set_num_threads(1)
        lims, dist, _ = index.range_search(xq[:1], MAX_DISTANCE + 1)
        print(f"{n} codes: FAISS finds {lims[1]} neighbours of probe 0 within {MAX_DISTANCE} bits "
              f"(distances {sorted(dist.tolist())})")
        for t in threads:
            for batch in (1, 64):
                queries = 64 if batch == 64 else (64 if n <= 100_000 else (16 if n <= 1_000_000 else 8))
                if batch == 64 and n <= 100_000:
                    queries = 256
                mine, theirs_knn, theirs_range, last = [], [], [], None
                for _ in range(a.repeats):
                    q, last = ours(codes, probes, t, batch, queries)
                    mine.append(q)
                    theirs_knn.append(faiss_run(index, xq, t, batch, queries, "knn"))
                    theirs_range.append(faiss_run(index, xq, t, batch, queries, "range"))
                m = statistics.median(mine)
                fk = statistics.median(theirs_knn)
                fr = statistics.median(theirs_range)
                base = max(fk, fr)
                row = {
                    "codes": n, "threads": t, "batch": batch, "queries_per_run": queries,
                    "repeats": a.repeats, "bioguard_qps": m, "faiss_knn_qps": fk,
                    "faiss_range_qps": fr, "ratio_vs_best_faiss": m / base,
                    "bioguard_kernel": last["kernel"],
                    "index_bytes_per_code": last["index_bytes_per_code"],
                }
                if batch == 1:
                    covered = m * n * BITS / 8 / 1e9
                    read = covered * 20 / 32  # heads (1280 of 2048 bits) are read; tails almost never
                    row["covered_gb_per_second"] = covered
                    row["read_gb_per_second"] = read
                    row["percent_of_bandwidth"] = 100 * read / bandwidth[t]
                    row["faiss_percent_of_bandwidth"] = 100 * base * n * BITS / 8 / 1e9 / bandwidth[t]
                rows.append(row)
                extra = ""
                if batch == 1:
                    extra = (f"  scan {row['covered_gb_per_second']:.1f} GB/s of codes, "
                             f"{row['read_gb_per_second']:.1f} GB/s read = "
                             f"{row['percent_of_bandwidth']:.0f}% of bandwidth "
                             f"(FAISS {row['faiss_percent_of_bandwidth']:.0f}%)")
                print(f"{n:>8} codes  {t} thr  batch {batch:>2}:  bioguard {m:8.1f} q/s   "
                      f"FAISS knn {fk:8.1f}  range {fr:8.1f}   ratio {m / base:5.2f}x{extra}",
                      flush=True)
        del index

    with open(a.json, "w") as f:
        json.dump({"bandwidth_gb_per_second": bandwidth, "rows": rows,
                   "faiss": faiss.__version__, "bits": BITS, "max_distance": MAX_DISTANCE,
                   "k": K, "data": "synthetic: uniformly random codes, 3 planted neighbours per probe"},
                  f, indent=2)
    print(f"\nwritten {a.json}")
    print("\n| codes | threads | batch | bioguard q/s | FAISS q/s (best of knn, range) | ratio | read, % of bandwidth |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        bw = f"{r['percent_of_bandwidth']:.0f}%" if r["batch"] == 1 else "-"
        print(f"| {r['codes']:,} | {r['threads']} | {r['batch']} | {r['bioguard_qps']:.1f} | "
              f"{max(r['faiss_knn_qps'], r['faiss_range_qps']):.1f} | {r['ratio_vs_best_faiss']:.2f}x | {bw} |")


if __name__ == "__main__":
    main()
