"""Sets up a bioguard node for the load benchmark: a purpose allowing enrol, verify and
identify (dimension 256, centred on the mean of the real voice embeddings in
../shared/data, threshold 0.498: what `bioguard calibrate` gives there at FMR 1e-3), a client,
and N subjects enrolled in gallery "g".

The subjects' templates are the real voice embeddings of ../shared/data (Resemblyzer, 1,538
clips of 21 speakers), reused in turn when N is larger, each with a little Gaussian noise so
that no two are equal: the production distribution (non-negative values sharing a large common
direction), not uniform vectors. Probes: four in five are the subject's own embedding with fresh
noise (genuine), one in five is another subject's (impostor). The lockout is set high
(1,000 failures in 30 s) so that impostor probes keep exercising the failure path without
locking subjects out for the rest of the run. Writes the client key and the request bodies.

Usage: setup.py BASE_URL ADMIN_TOKEN N OUT_DIR   (BIOGUARD_SHARED_DATA: the data folder)
"""
import http.client, json, math, os, random, sys, urllib.parse

base, admin, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
u = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
here = os.path.dirname(os.path.abspath(__file__))
data = os.environ.get("BIOGUARD_SHARED_DATA", os.path.join(here, "../../../shared/data"))
voices = [json.loads(l) for l in open(os.path.join(data, "voice-embeddings-dev.jsonl"))]
real = [v["embedding"] for v in voices]
dim = len(real[0])

def call(method, path, token, body):
    conn.request(method, path, json.dumps(body), {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    if r.status >= 300:
        sys.exit(f"{method} {path}: {r.status} {body[:300]!r}")
    return json.loads(body) if body else None

def noisy(base, seed, sigma):
    rnd = random.Random(repr(seed))
    v = [x + rnd.gauss(0, sigma) for x in base]
    s = math.sqrt(sum(x * x for x in v))
    return [round(x / s, 6) for x in v]

def template(i):
    return noisy(real[i % len(real)], ("t", i), 0.01)

def probe(i, k):
    # One in five an impostor: another subject's template with noise.
    if k % 5 == 4:
        return noisy(real[(i + 1 + k) % len(real)], ("i", i, k), 0.01)
    return noisy(real[i % len(real)], ("p", i, k), 0.01)

centre = [round(sum(v[d] for v in real) / len(real), 7) for d in range(dim)]
speakers = len({v["subject"] for v in voices})
calibration = {"source": "voice-embeddings-dev.jsonl (load benchmark)", "target_fmr": 0.001,
               "threshold": 0.498, "centre": {"subjects": speakers, "values": centre}}
call("POST", "/v1/purposes", admin, {"id": "pay", "description": "Pay at the till (load benchmark: real voice embeddings, noisy probes)",
     "operations": ["enroll", "verify", "identify"], "dimension": dim, "max_gallery_size": 1000000,
     "threshold": 0.498, "calibration": calibration,
     "risk": {"lockout_failures": 1000, "lockout_window_secs": 30},
     "retention": {"max_days_since_enrolment": 30},
     "notice": {"text": "Load benchmark on real voice embeddings", "controller": "whoever runs this benchmark",
                "jurisdiction": "none: a benchmark, no person is enrolled"}})
key = call("POST", "/v1/clients", admin, {"name": "till", "grants": [{"purpose": "pay", "operations": ["enroll", "verify", "identify"]}]})["api_key"]
for i in range(n):
    call("PUT", f"/v1/subjects/s{i}/consents/pay", key, {"notice_version": "v1", "method": "kiosk"})
    call("PUT", f"/v1/subjects/s{i}/templates/pay", key, {"embedding": template(i), "galleries": ["g"]})
with open(f"{out}/key", "w") as f:
    f.write(key)
lines = [json.dumps({"subject": f"s{i}", "purpose": "pay", "embedding": probe(i, k)}, separators=(",", ":"))
         for k in range(5) for i in range(n)]
random.Random(7).shuffle(lines)  # impostors spread through the file, not in one stretch
with open(f"{out}/verify.jsonl", "w") as f:
    f.write("\n".join(lines) + "\n")
with open(f"{out}/identify.jsonl", "w") as f:
    for i in range(0, n, max(1, n // 200)):
        f.write(json.dumps({"purpose": "pay", "gallery": "g", "embedding": probe(i, 0)}, separators=(",", ":")) + "\n")
