"""Golden values from bob.measure 6.1.1 for bioguard's error-rate code.

For each fixture score file (CSV: score,genuine[,group]) in the output folder, writes
<name>.golden.json with bob.measure's farfrr, far_threshold, frr_threshold, eer_threshold,
eer, det and ppndf, and utils.confidence_for_indicator_variable for a table of counts.
Fixture files are created first when missing: a hand-made one with ties, a seeded synthetic
one (labelled synthetic) and one of real voice scores from ../shared/data.
"""

import json
import os
import sys

import numpy
import bob.measure
from bob.measure.utils import confidence_for_indicator_variable

OUT = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
VOICE = os.path.join(HERE, "..", "..", "shared", "data", "voice-embeddings-dev.jsonl")


def write_scores(path, header, rows):
    with open(path, "w") as f:
        f.write(header)
        f.write("score,genuine,group\n")
        for score, genuine, group in rows:
            f.write(f"{score},{genuine},{group}\n")


def make_ties(path):
    # Scores on a coarse grid so that many impostor and genuine scores coincide, and
    # thresholds fall exactly on scores.
    rows = []
    for i in range(40):
        rows.append((round(0.05 * (i % 12), 2), 0, "a" if i % 2 else "b"))
    for i in range(25):
        rows.append((round(0.3 + 0.05 * (i % 9), 2), 1, "a" if i % 3 else "b"))
    write_scores(path, "# hand-made scores with ties (fairness-golden/generate.py)\n", rows)


def make_synthetic(path):
    rng = numpy.random.default_rng(19795)
    rows = []
    for group, imp_mean in (("a", 0.50), ("b", 0.56)):
        for s in rng.normal(imp_mean, 0.08, 10_000):
            rows.append((f"{s:.4f}", 0, group))
        for s in rng.normal(0.82, 0.08, 1_000):
            rows.append((f"{s:.4f}", 1, group))
    write_scores(
        path,
        "# synthetic: seeded normal scores rounded to 4 decimals, not from any matcher\n",
        rows,
    )


def short_source(package):
    # "asterisk-core-sounds-en-wav" -> "asterisk-en", "klettres-data" -> "klettres".
    for prefix, short in (("asterisk-core-sounds-", "asterisk-"), ("asterisk-prompt-", "asterisk-")):
        if package.startswith(prefix):
            package = short + package[len(prefix):]
    for suffix in ("-wav", "-data", "-armelle"):
        if package.endswith(suffix):
            package = package[: -len(suffix)]
    return package


def make_voice(path):
    items = []
    with open(VOICE) as f:
        for line in f:
            v = json.loads(line)
            if v["sample"].startswith("phrase/"):
                items.append((v["subject"], v["source"], numpy.array(v["embedding"], dtype=numpy.float64)))
    rows = []
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            a, b = items[i], items[j]
            genuine = a[0] == b[0]
            # Every genuine pair, every second impostor pair (to keep the fixture small).
            if not genuine and (i + j) % 2:
                continue
            cos = float(a[2] @ b[2] / (numpy.linalg.norm(a[2]) * numpy.linalg.norm(b[2])))
            rows.append((f"{cos:.6f}", int(genuine), short_source(a[1])))
    write_scores(
        path,
        "# real: cosine scores of the voice phrases in shared/data (Resemblyzer), group = source package of the first sample, shortened\n",
        rows,
    )


def load(path):
    neg, pos = [], []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or line.startswith("score"):
                continue
            score, genuine = line.strip().split(",")[:2]
            (pos if genuine == "1" else neg).append(float(score))
    return numpy.array(neg), numpy.array(pos)


def golden(neg, pos):
    both = numpy.sort(numpy.concatenate([neg, pos]))
    thresholds = sorted(
        set(
            [float(both[0]) - 1.0, float(both[-1]) + 1.0]
            + [float(both[int(q * (len(both) - 1))]) for q in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)]
            + [float(numpy.median(neg)), float(numpy.median(pos))]
        )
    )
    rates = [0.0, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.25, 0.5, 1.0]
    det = bob.measure.det(neg, pos, 100, -8)
    counts = [(0, 10), (1, 10), (5, 20), (10, 10), (3, 1000), (17, 20000), (250, 2117)]
    return {
        "farfrr": [[t, *map(float, bob.measure.farfrr(neg, pos, t))] for t in thresholds],
        "far_threshold": [[r, float(bob.measure.far_threshold(neg, pos, r))] for r in rates],
        "frr_threshold": [[r, float(bob.measure.frr_threshold(neg, pos, r))] for r in rates],
        "eer_threshold": float(bob.measure.eer_threshold(neg, pos)),
        "eer": float(bob.measure.eer(neg, pos)),
        "det_100": [list(map(float, det[0])), list(map(float, det[1]))],
        "ppndf": [[p, float(bob.measure.ppndf(numpy.array([p]))[0])]
                  for p in (0.0, 1e-9, 1e-3, 0.01, 0.08, 0.1, 0.42, 0.5, 0.92, 0.95, 0.999, 1.0)],
        "confidence_for_indicator_variable": [
            [x, n, alpha, *map(float, confidence_for_indicator_variable(x, n, alpha))]
            for (x, n) in counts for alpha in (0.05, 0.1)
        ],
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    makers = {"ties.csv": make_ties, "synthetic-normal.csv": make_synthetic, "voice-phrases.csv": make_voice}
    for name, make in makers.items():
        path = os.path.join(OUT, name)
        if not os.path.exists(path):
            make(path)
        neg, pos = load(path)
        g = golden(neg, pos)
        g["bob_measure_version"] = "6.1.1"
        g["fixture"] = name
        with open(os.path.join(OUT, name.replace(".csv", ".golden.json")), "w") as f:
            json.dump(g, f, indent=1)
            f.write("\n")
        print(f"{name}: {len(neg)} impostor, {len(pos)} genuine scores; golden values written")


main()
