"""Runs a bioguard service, has it issue consent receipts and a deletion certificate, and
checks every one with jwcrypto against the published JSON Web Key Set: each must verify,
carry the expected fields, and fail after a one-byte change."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from jwcrypto import jwk, jws


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, token=None, body=None):
    req = urllib.request.Request(base + path, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, data, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def check(keyset, token, typ):
    """Verifies with jwcrypto; returns the payload."""
    sig = jws.JWS()
    sig.deserialize(token)
    header = sig.jose_header
    sig.verify(keyset.get_key(header["kid"]), alg="EdDSA")
    assert header["alg"] == "EdDSA" and header["typ"] == typ, header
    # Any one-byte change must fail.
    failures = 0
    for i in range(0, len(token), max(1, len(token) // 40)):
        if token[i] == ".":
            continue
        altered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
        try:
            bad = jws.JWS()
            bad.deserialize(altered)
            bad.verify(keyset.get_key(header["kid"]), alg="EdDSA")
        except Exception:
            failures += 1
            continue
        # base64url's last character can carry unused bits; only that may still verify.
        if i != len(token) - 1:
            raise AssertionError(f"a change at byte {i} still verified")
    assert failures > 30, failures
    return json.loads(sig.payload)


def main():
    binary = sys.argv[1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as work:
        env = dict(os.environ, BIOGUARD_LOG="warn")
        proc = subprocess.Popen(
            [binary, "serve", "--data-dir", os.path.join(work, "data"), "--listen", f"127.0.0.1:{port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(300):
                try:
                    if call(base, "GET", "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            else:
                raise SystemExit("the service did not start")
            admin = open(os.path.join(work, "data", "admin.token")).read().strip()
            st, _ = call(base, "POST", "/v1/purposes", admin, {
                "id": "door", "description": "Office door", "operations": ["enroll", "verify"],
                "dimension": 4, "retention": {"max_days_since_enrolment": 30},
                "notice": {"text": "Open the office door by face", "controller": "Office Doors Ltd",
                           "jurisdiction": "EU: GDPR"}})
            assert st == 201, st
            st, client = call(base, "POST", "/v1/clients", admin, {
                "name": "door-reader", "subject_rights": ["erase"],
                "grants": [{"purpose": "door", "operations": ["enroll", "verify"]}]})
            key = client["api_key"]
            st, keys = call(base, "GET", "/v1/keys")
            assert st == 200, st
            keyset = jwk.JWKSet.from_json(json.dumps(keys))
            st, given = call(base, "PUT", "/v1/subjects/dana/consents/door", key,
                             {"notice_version": "v1", "method": "kiosk"})
            assert st == 201, (st, given)
            p = check(keyset, given["receipt"], "bioguard-consent-receipt+jwt")
            assert p["record_id"] == given["id"] and p["event"]["type"] == "given", p
            for field in ["schema_version", "principal", "notice", "purpose", "data_types",
                          "controller", "storage_location", "retention", "jurisdiction",
                          "recipients", "withdrawal_method", "event"]:
                assert field in p, field
            assert "dana" not in json.dumps(p)
            st, _ = call(base, "PUT", "/v1/subjects/dana/templates/door", key,
                         {"embedding": [0.1, 0.2, 0.3, 0.4]})
            assert st == 201, st
            st, withdrawn = call(base, "DELETE", "/v1/subjects/dana/consents/door", key)
            assert st == 200, st
            w = check(keyset, withdrawn["receipt"], "bioguard-consent-receipt+jwt")
            assert w["event"]["type"] == "withdrawn" and w["record_id"] == p["record_id"], w
            call(base, "PUT", "/v1/subjects/erin/consents/door", key, {"notice_version": "v1", "method": "kiosk"})
            call(base, "PUT", "/v1/subjects/erin/templates/door", key, {"embedding": [0.4, 0.3, 0.2, 0.1]})
            st, erased = call(base, "DELETE", "/v1/subjects/erin", key)
            assert st == 200, st
            c = check(keyset, erased["certificate"], "bioguard-deletion-certificate+jwt")
            assert c["destroyed"]["templates"] == 1 and c["destroyed"]["data_keys"] == 1, c
            assert c["ledger_index"] == erased["ledger_index"], c
            print("jwcrypto verified 2 consent receipts and 1 deletion certificate, "
                  "and refused every one-byte change")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
