"""Sets up a bioguard node for the load benchmark: a purpose allowing enrol, verify and
identify (dimension 128), a client, and N synthetic subjects enrolled in gallery "g"
(synthetic embeddings, labelled so). Writes the client key and the request bodies.

Usage: setup.py BASE_URL ADMIN_TOKEN N OUT_DIR
"""
import http.client, json, math, random, sys, urllib.parse

base, admin, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
u = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

def call(method, path, token, body):
    conn.request(method, path, json.dumps(body), {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        sys.exit(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data) if data else None

def embedding(i):
    rnd = random.Random(i)
    v = [rnd.gauss(0, 1) for _ in range(128)]
    s = math.sqrt(sum(x * x for x in v))
    return [round(x / s, 6) for x in v]

call("POST", "/v1/purposes", admin, {"id": "pay", "description": "Pay at the till (load benchmark, synthetic)",
     "operations": ["enroll", "verify", "identify"], "dimension": 128, "max_gallery_size": 1000000,
     "retention": {"max_days_since_enrolment": 30}})
key = call("POST", "/v1/clients", admin, {"name": "till", "grants": [{"purpose": "pay", "operations": ["enroll", "verify", "identify"]}]})["api_key"]
for i in range(n):
    call("PUT", f"/v1/subjects/s{i}/consents/pay", key, {"notice_version": "v1", "method": "kiosk"})
    call("PUT", f"/v1/subjects/s{i}/templates/pay", key, {"embedding": embedding(i), "galleries": ["g"]})
with open(f"{out}/key", "w") as f:
    f.write(key)
with open(f"{out}/verify.jsonl", "w") as f:
    for i in range(n):
        f.write(json.dumps({"subject": f"s{i}", "purpose": "pay", "embedding": embedding(i)}, separators=(",", ":")) + "\n")
with open(f"{out}/identify.jsonl", "w") as f:
    for i in range(0, n, max(1, n // 200)):
        f.write(json.dumps({"purpose": "pay", "gallery": "g", "embedding": embedding(i)}, separators=(",", ":")) + "\n")
