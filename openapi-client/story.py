"""The README's walkthrough, through a Python client generated from bioguard's OpenAPI document.

Usage: story.py BASE_URL ADMIN_TOKEN (the generated package `bioguard_client` on sys.path).
Every step checks the typed answer, so a document that misdescribes a body, a status or an
enum fails here: the generated client parses each response with the document's schemas.
"""

import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from bioguard_client import AuthenticatedClient, Client
from bioguard_client.api.clients import create_client
from bioguard_client.api.consents import grant_consent, withdraw_consent
from bioguard_client.api.meta import health
from bioguard_client.api.purposes import create_purpose, list_purposes
from bioguard_client.api.subjects import erase_subject, subject_report, subject_summary
from bioguard_client.api.templates import enroll
from bioguard_client.api.verification import verify
from bioguard_client.models import (
    ClientCreatedBody,
    ClientRequest,
    ConsentBody,
    ConsentRequest,
    ConsentStatus,
    DecisionBody,
    EnrolmentBody,
    ErasureBody,
    ErrorBody,
    ErrorCode,
    GrantBody,
    HealthBody,
    Operation,
    NoticeRequest,
    PurposeBody,
    PurposeRequest,
    Required,
    RetentionBody,
    RiskBand,
    SubjectBody,
    SubjectReport,
    SubjectRight,
    TemplateRequest,
    VerifyRequest,
    WithdrawalBody,
)


def expect(step, response, status, kind):
    """The parsed body of `response`, which must have `status` and parse as `kind`."""
    parsed = response.parsed
    if response.status_code != status or not isinstance(parsed, kind):
        sys.exit(
            f"step {step}: expected {status} {kind.__name__}, got {response.status_code} "
            f"{type(parsed).__name__}: {response.content[:300]!r}"
        )
    print(f"step {step}: {status} {kind.__name__}")
    return parsed


def main():
    base, admin_token = sys.argv[1], sys.argv[2]
    anonymous = Client(base_url=base, raise_on_unexpected_status=True)
    admin = AuthenticatedClient(base_url=base, token=admin_token, raise_on_unexpected_status=True)

    h = expect("0 health", health.sync_detailed(client=anonymous), 200, HealthBody)
    assert h.status == "ok", h

    # 1. The vendor declares a purpose; anyone may list purposes.
    purpose = PurposeRequest(
        id="payment",
        description="Pay at the till by looking at the camera",
        operations=[Operation.ENROLL, Operation.VERIFY],
        dimension=4,
        threshold=0.7,
        retention=RetentionBody(max_days_since_enrolment=365, max_days_since_last_use=90),
        notice=NoticeRequest(
            text="We use a protected code made from your face only to let you pay at our tills.",
            controller="Corner Shop Ltd",
            jurisdiction="EU: GDPR",
        ),
    )
    p = expect("1 purpose", create_purpose.sync_detailed(client=admin, body=purpose), 201, PurposeBody)
    assert p.operations == [Operation.ENROLL, Operation.VERIFY], p.operations
    listed = list_purposes.sync_detailed(client=anonymous)
    if listed.status_code != 200 or not any(x.id == "payment" for x in listed.parsed):
        sys.exit(f"step 1: the purpose is not listed: {listed.content[:300]!r}")

    # 2. A client with grants and the subject rights its steps use; its key is shown once.
    shop = ClientRequest(
        name="shop",
        grants=[GrantBody(purpose="payment", operations=[Operation.ENROLL, Operation.VERIFY])],
        subject_rights=[SubjectRight.READ, SubjectRight.ERASE],
    )
    created = expect("2 client", create_client.sync_detailed(client=admin, body=shop), 201, ClientCreatedBody)
    key = AuthenticatedClient(base_url=base, token=created.api_key, raise_on_unexpected_status=True)

    # 3. Enrolment without consent is refused, and the client is told to offer its fallback.
    alice = TemplateRequest(embedding=[0.1, 0.2, 0.3, 0.4])
    refused = expect(
        "3 no consent",
        enroll.sync_detailed("alice", "payment", client=key, body=alice),
        403,
        ErrorBody,
    )
    assert refused.error.code == ErrorCode.CONSENT_REQUIRED, refused.error.code
    assert refused.error.fallback == Required.REQUIRED, refused.error.fallback

    # 4. Alice consents under notice v1.
    consent = ConsentRequest(notice_version="v1", method="in-app")
    c = expect(
        "4 consent",
        grant_consent.sync_detailed("alice", "payment", client=key, body=consent),
        201,
        ConsentBody,
    )
    assert c.status == ConsentStatus.GRANTED, c.status

    # 5. Alice enrols.
    expect("5 enrol", enroll.sync_detailed("alice", "payment", client=key, body=alice), 201, EnrolmentBody)

    # 6. A new capture of Alice matches; someone else's does not. No score.
    probe = VerifyRequest(subject="alice", purpose="payment", embedding=[0.11, 0.19, 0.31, 0.4])
    yes = expect("6 verify", verify.sync_detailed(client=key, body=probe), 200, DecisionBody)
    assert yes.match is True and isinstance(yes.risk, RiskBand), yes
    other = VerifyRequest(subject="alice", purpose="payment", embedding=[0.4, -0.3, 0.2, -0.1])
    no = expect("6 verify impostor", verify.sync_detailed(client=key, body=other), 200, DecisionBody)
    assert no.match is False, no
    assert "score" not in no.to_dict(), no

    # 7. What is held about Alice, and her full report.
    held = expect("7 summary", subject_summary.sync_detailed("alice", client=key), 200, SubjectBody)
    assert held.purposes == ["payment"], held.purposes
    report = expect("7 report", subject_report.sync_detailed("alice", client=key), 200, SubjectReport)
    assert [t.purpose for t in report.templates] == ["payment"], report.templates
    assert any(u.operation == "verify" for u in report.history), report.history

    # 8. Alice withdraws: the template and its key are destroyed; verification is refused for
    #    want of consent and asks for the non-biometric alternative.
    w = expect("8 withdraw", withdraw_consent.sync_detailed("alice", "payment", client=key), 200, WithdrawalBody)
    assert w.template_destroyed is True, w
    gone = expect("8 verify after", verify.sync_detailed(client=key, body=probe), 403, ErrorBody)
    assert gone.error.code == ErrorCode.CONSENT_REQUIRED, gone.error.code
    assert gone.error.fallback == Required.REQUIRED, gone.error.fallback

    # 9. Alice asks to be forgotten.
    expect("9 erase", erase_subject.sync_detailed("alice", client=key), 200, ErasureBody)
    expect("9 nothing held", subject_summary.sync_detailed("alice", client=key), 404, ErrorBody)
    print("the README story ran through the generated client")
    check_metrics(base)


def check_metrics(base):
    """/metrics parses with prometheus-client's parser and counts the story's own calls."""
    with urllib.request.urlopen(f"{base}/metrics") as r:
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
        text = r.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }

    def value(name, **labels):
        return samples.get((name, tuple(sorted(labels.items()))), 0)

    assert value("bioguard_decisions_total", purpose="payment", operation="verify", outcome="match") == 1, text
    assert value("bioguard_decisions_total", purpose="payment", operation="verify", outcome="no_match") == 1, text
    assert value("bioguard_http_requests_total", method="POST", route="/v1/verify", status="200") == 2, text
    assert value("bioguard_refusals_total", code="consent_required") == 2, text
    assert families["bioguard_http_request_duration_seconds"].type == "histogram", families
    assert value("bioguard_ledger_leaves") > 0, text
    assert value("bioguard_key_provider_duration_seconds_count", provider="local", op="wrap") >= 1, text
    assert value("bioguard_commit_batch_size_count") >= 1, text
    # No label carries the subject's id or a key.
    assert "alice" not in text, "a subject id reached /metrics"
    print(f"/metrics: {len(families)} families parsed by prometheus-client")


if __name__ == "__main__":
    main()
