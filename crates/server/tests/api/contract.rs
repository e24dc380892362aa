//! The API contract, step by step.

use axum::http::StatusCode;
use serde_json::json;

use crate::harness::{Harness, near, synthetic};

crate::on_both_backends!(
    consent_enrol_verify_withdraw,
    purposes_are_public_and_default_threshold_applies,
    renewed_consent_supersedes_the_old_notice,
    erasure_removes_everything,
    odd_but_valid_subject_ids_are_distinct_people,
    openapi_and_health,
    genuine_and_impostor_on_real_voice_embeddings,
    a_centred_purpose_matches_real_voices_at_its_calibrated_threshold,
);

async fn consent_enrol_verify_withdraw(h: &Harness) {
    h.purpose("payment", 16).await;
    let key = h.client(&[("payment", &["enroll", "verify"])]).await;
    let alice = synthetic(1, 16);

    let r = h.enroll(&key, "alice", "payment", &alice).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "consent_required")
    );
    assert_eq!(r.json["error"]["fallback"], "required");

    let r = h.consent(&key, "alice", "payment").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.json["status"], "granted");
    assert_eq!(r.json["notice_version"], "v1");
    let r2 = h.consent(&key, "alice", "payment").await;
    assert_eq!(r2.status, StatusCode::OK);
    assert_eq!(r2.json["id"], r.json["id"]);

    let r = h.enroll(&key, "alice", "payment", &alice).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.json["replaced"], false);
    let r = h.enroll(&key, "alice", "payment", &near(&alice, 9)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["replaced"], true);

    let g = h.verify(&key, "alice", "payment", &near(&alice, 2)).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.raw);
    assert_eq!(g.json["match"], true);
    assert!(g.json.get("score").is_none(), "no score is ever returned");
    let i = h.verify(&key, "alice", "payment", &synthetic(77, 16)).await;
    assert_eq!(i.json["match"], false);
    assert_ne!(g.json["decision_id"], i.json["decision_id"]);
    assert!(
        g.json["decision_id"]
            .as_str()
            .expect("id")
            .starts_with("dec_")
    );

    let r = h.verify(&key, "bob", "payment", &alice).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "consent_required")
    );
    h.consent(&key, "bob", "payment").await;
    let r = h.verify(&key, "bob", "payment", &alice).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "not_enrolled")
    );

    let s = h.send("GET", "/v1/subjects/alice", Some(&key), None).await;
    assert_eq!(s.status, StatusCode::OK);
    assert_eq!(s.json["purposes"], json!(["payment"]));
    assert_eq!(s.json["templates"][0]["purpose"], "payment");
    assert!(s.json["templates"][0]["last_used_at"].is_string());
    assert_eq!(s.json["consents"].as_array().expect("array").len(), 1);
    for forbidden in ["embedding", "sealed", "wrapped", "pseudonym"] {
        assert!(
            !s.raw.contains(forbidden),
            "subject view exposes {forbidden}: {}",
            s.raw
        );
    }

    let w = h
        .send(
            "DELETE",
            "/v1/subjects/alice/consents/payment",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(w.status, StatusCode::OK, "{}", w.raw);
    assert_eq!(w.json["template_destroyed"], true);
    assert_eq!(w.json["consent"]["status"], "withdrawn");
    let r = h.verify(&key, "alice", "payment", &alice).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "consent_required")
    );
    let r = h
        .send(
            "DELETE",
            "/v1/subjects/alice/consents/payment",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "consent_not_found")
    );
    let s = h.send("GET", "/v1/subjects/alice", Some(&key), None).await;
    assert_eq!(s.json["templates"], json!([]));
    assert_eq!(s.json["consents"][0]["status"], "withdrawn");
}

async fn purposes_are_public_and_default_threshold_applies(h: &Harness) {
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "door", "description": "Open the office door",
                   "operations": ["verify", "enroll"], "dimension": 8,
                   "retention": {"max_days_since_enrolment": 30, "max_days_since_last_use": 7}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.json["threshold"], 0.8);
    let list = h.send("GET", "/v1/purposes", None, None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json[0]["id"], "door");
    assert_eq!(list.json[0]["operations"], json!(["enroll", "verify"]));
    assert_eq!(list.json[0]["retention"]["max_days_since_last_use"], 7);
    assert_eq!(list.json[0]["code_bits"], 2048);
    assert_eq!(list.json[0]["protection_key_version"], 1);

    // A calibrated purpose keeps the record its threshold came from.
    let record = json!({"source": "voice-embeddings-dev.jsonl", "target_fmr": 0.001,
                        "threshold": 0.7968, "fnmr": 0.24});
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "voice", "description": "Call-centre voice check",
                   "operations": ["enroll", "verify"], "dimension": 256, "threshold": 0.7968,
                   "code_bits": 4096, "calibration": record,
                   "retention": {"max_days_since_enrolment": 30}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.json["calibration"], record);
    assert_eq!(r.json["code_bits"], 4096);
    for (bad, field) in [
        (json!({"calibration": "0.79"}), "calibration"),
        (json!({"code_bits": 1000}), "code_bits"),
        (json!({"max_gallery_size": 10}), "max_gallery_size"),
    ] {
        let mut body = json!({"id": "bad", "description": "x", "operations": ["verify"],
                              "dimension": 8, "retention": {"max_days_since_enrolment": 1}});
        for (k, v) in bad.as_object().expect("object") {
            body[k] = v.clone();
        }
        let r = h.json("POST", "/v1/purposes", &h.admin, body).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            "{}",
            r.raw
        );
        assert_eq!(r.json["error"]["field"], field, "{}", r.raw);
    }
}

async fn renewed_consent_supersedes_the_old_notice(h: &Harness) {
    h.purpose("payment", 4).await;
    let key = h.client(&[("payment", &["enroll"])]).await;
    h.consent(&key, "carol", "payment").await;
    let n = h
        .json(
            "POST",
            "/v1/purposes/payment/notices",
            &h.admin,
            json!({"text": "Pay by face; now also at partner shops", "controller": "Shop Ltd",
                   "material": false}),
        )
        .await;
    assert_eq!(n.status, StatusCode::CREATED, "{}", n.raw);
    let r = h
        .json(
            "PUT",
            "/v1/subjects/carol/consents/payment",
            &key,
            json!({"notice_version": "v2", "method": "web"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let s = h.send("GET", "/v1/subjects/carol", Some(&key), None).await;
    let statuses: Vec<_> = s.json["consents"]
        .as_array()
        .expect("array")
        .iter()
        .map(|c| (c["notice_version"].clone(), c["status"].clone()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (json!("v1"), json!("superseded")),
            (json!("v2"), json!("granted"))
        ]
    );
}

async fn erasure_removes_everything(h: &Harness) {
    h.purpose("payment", 4).await;
    h.purpose("door", 4).await;
    let key = h
        .client(&[("payment", &["enroll", "verify"]), ("door", &["enroll"])])
        .await;
    for p in ["payment", "door"] {
        h.consent(&key, "dave", p).await;
        assert_eq!(
            h.enroll(&key, "dave", p, &synthetic(5, 4)).await.status,
            StatusCode::CREATED
        );
    }
    h.consent(&key, "erin", "payment").await;
    let r = h
        .send("DELETE", "/v1/subjects/dave", Some(&key), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    for (k, v) in [
        ("erased", json!(true)),
        ("templates_deleted", json!(2)),
        ("data_keys_destroyed", json!(2)),
        ("consents_deleted", json!(2)),
    ] {
        assert_eq!(r.json[k], v, "{}", r.raw);
    }
    assert!(r.json["certificate"].is_string() && r.json["ledger_index"].is_u64());
    // Nothing is held about him any more: not even the key that named him in the ledger.
    let s = h.send("GET", "/v1/subjects/dave", Some(&key), None).await;
    assert_eq!(
        (s.status, s.code()),
        (StatusCode::NOT_FOUND, "subject_not_found"),
        "{}",
        s.raw
    );
    let r = h.verify(&key, "dave", "payment", &synthetic(5, 4)).await;
    assert_eq!(r.code(), "consent_required");
    let s = h.send("GET", "/v1/subjects/erin", Some(&key), None).await;
    assert_eq!(s.json["purposes"], json!(["payment"]));
}

async fn odd_but_valid_subject_ids_are_distinct_people(h: &Harness) {
    h.purpose("payment", 4).await;
    let key = h.client(&[("payment", &["enroll", "verify"])]).await;
    // Percent-encoded path separators, dot segments and quotes are plain characters of an
    // opaque identifier: each names its own subject and reaches nothing else.
    let ids = [
        ("a%2Fb", "a/b"),
        ("..%2F..%2Fetc", "../../etc"),
        ("o'brien%22x", "o'brien\"x"),
        ("a%5Cb", "a\\b"),
    ];
    for (n, (path, raw)) in ids.iter().enumerate() {
        assert_eq!(
            h.consent(&key, path, "payment").await.status,
            StatusCode::CREATED
        );
        let e = synthetic(100 + n as u64, 4);
        assert_eq!(
            h.enroll(&key, path, "payment", &e).await.status,
            StatusCode::CREATED
        );
        let v = h.verify(&key, raw, "payment", &e).await;
        assert_eq!(v.json["match"], true, "{raw}: {}", v.raw);
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT subject) FROM templates")
        .fetch_one(h.store.pool())
        .await
        .expect("count");
    assert_eq!(n, ids.len() as i64);
}

async fn openapi_and_health(h: &Harness) {
    let r = h.send("GET", "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.json["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.")
    );
    for path in [
        "/v1/purposes",
        "/v1/clients",
        "/v1/subjects/{subject}/consents/{purpose}",
        "/v1/subjects/{subject}/templates/{purpose}",
        "/v1/verify",
        "/v1/subjects/{subject}",
        "/healthz",
    ] {
        assert!(r.json["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    // Every response is described (OpenAPI requires it) and every JSON answer has a schema
    // with something in it, so that generated clients parse it (the full validation and a
    // generated client's run are in `openapi-client/run`).
    let paths = r.json["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            for (status, resp) in op["responses"].as_object().expect("responses") {
                let at = format!("{method} {path} {status}");
                let what = resp["description"].as_str().unwrap_or_default();
                assert!(!what.trim().is_empty(), "{at} has no description");
                if let Some(schema) = resp.pointer("/content/application~1json/schema") {
                    assert!(
                        schema.get("$ref").is_some()
                            || schema.get("items").is_some()
                            || schema.get("properties").is_some()
                            || path == "/openapi.json",
                        "{at} answers JSON without a schema: {schema}"
                    );
                }
            }
        }
    }
    assert!(r.json["servers"][0]["url"].is_string(), "no servers");
    let codes = r.json.pointer("/components/schemas/ErrorCode/enum");
    assert!(
        codes
            .and_then(|c| c.as_array())
            .is_some_and(|c| c.len() > 40)
    );
    let hz = h.send("GET", "/healthz", None, None).await;
    assert_eq!(hz.status, StatusCode::OK);
    assert_eq!(hz.json["database"], h.db.kind());
    let ready = h.send("GET", "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.raw);
    assert_eq!(ready.json["database"], h.db.kind());
    assert_eq!(
        h.send("GET", "/livez", None, None).await.status,
        StatusCode::OK
    );

    // /metrics counts this request's route (the recorder is the process's, shared by the
    // tests running beside this one, so counts only grow) and names routes by template.
    let count = |text: &str| -> f64 {
        text.lines()
            .filter(|l| {
                l.starts_with("bioguard_http_requests_total{")
                    && l.contains("route=\"/livez\"")
                    && l.contains("status=\"200\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let before = h.send("GET", "/metrics", None, None).await.raw;
    h.send("GET", "/livez", None, None).await;
    let after = h.send("GET", "/metrics", None, None).await.raw;
    assert!(count(&after) >= count(&before) + 1.0, "{after}");
    assert!(
        after.contains("# TYPE bioguard_http_requests_total counter"),
        "{after}"
    );
    assert!(after.contains("# TYPE bioguard_http_request_duration_seconds histogram"));
    h.send("GET", "/v1/subjects/someone-s-id", None, None).await;
    let later = h.send("GET", "/metrics", None, None).await.raw;
    assert!(!later.contains("someone-s-id"), "a path reached a label");
    assert!(
        later.contains("route=\"/v1/subjects/{subject}\""),
        "{later}"
    );
}

/// Real embeddings from `../shared/data` (Resemblyzer voice embeddings of real speakers):
/// enrol one five-clip phrase per speaker, then verify other phrases of the same and other
/// speakers at the calibrated threshold of 0.80. Skipped with a notice when the data folder
/// is absent.
async fn genuine_and_impostor_on_real_voice_embeddings(h: &Harness) {
    let Some(phrases) = crate::storage::voice_phrases() else {
        return;
    };
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "voice", "description": "Call-centre voice check",
                   "operations": ["enroll", "verify"], "dimension": 256, "threshold": 0.80,
                   "retention": {"max_days_since_enrolment": 365}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let key = h.client(&[("voice", &["enroll", "verify"])]).await;
    let speakers: Vec<&String> = phrases.keys().take(8).collect();
    for s in &speakers {
        h.consent(&key, s, "voice").await;
        let r = h.enroll(&key, s, "voice", &phrases[*s][0]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    }
    let (mut genuine, mut genuine_ok, mut impostor, mut impostor_ok) = (0, 0, 0, 0);
    for s in &speakers {
        for probe in phrases[*s].iter().skip(1).take(3) {
            genuine += 1;
            genuine_ok +=
                usize::from(h.verify(&key, s, "voice", probe).await.json["match"] == true);
        }
        for other in speakers.iter().filter(|o| *o != s).take(3) {
            impostor += 1;
            impostor_ok += usize::from(
                h.verify(&key, s, "voice", &phrases[*other][1]).await.json["match"] == false,
            );
        }
    }
    eprintln!(
        "real voice data: {genuine_ok}/{genuine} genuine accepted, {impostor_ok}/{impostor} impostors rejected"
    );
    // EER on this data is about 5% at the phrase level: most genuine pairs pass, and at
    // FMR 1e-3 essentially every impostor pair is refused.
    assert!(genuine_ok * 10 >= genuine * 6, "{genuine_ok}/{genuine}");
    assert!(impostor_ok * 10 >= impostor * 9, "{impostor_ok}/{impostor}");
}

/// A purpose declared with a centred calibration record (ADR 0024): the record's centre is
/// the mean of the real voice phrases of all 21 speakers and its threshold the one
/// `bioguard calibrate` measures for the centred matcher (0.498 at FMR 1e-3); the purpose takes
/// that threshold, its codes are made from centred embeddings, and genuine and impostor
/// probes get the decisions they should. A centre of too few subjects is refused by name.
async fn a_centred_purpose_matches_real_voices_at_its_calibrated_threshold(h: &Harness) {
    let Some(all) = crate::storage::voice_phrases_of_speakers_with(1) else {
        return;
    };
    let n = all.values().map(Vec::len).sum::<usize>() as f64;
    let mut centre = vec![0f64; 256];
    for e in all.values().flatten() {
        for (c, v) in centre.iter_mut().zip(e) {
            *c += f64::from(*v) / n;
        }
    }
    let record = |subjects: usize| {
        json!({"transform": "hadamard-sign", "threshold": 0.4982, "target_fmr": 0.001,
               "centre": {"subjects": subjects, "values": centre}})
    };
    let body = |id: &str, subjects: usize| {
        json!({"id": id, "description": "Call-centre voice check",
               "operations": ["enroll", "verify"], "dimension": 256,
               "retention": {"max_days_since_enrolment": 365}, "calibration": record(subjects)})
    };
    let r = h
        .json("POST", "/v1/purposes", &h.admin, body("voice-few", 5))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);
    assert_eq!(
        r.json["error"]["field"], "calibration.centre.subjects",
        "{}",
        r.raw
    );
    let r = h
        .json("POST", "/v1/purposes", &h.admin, body("voice", all.len()))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.json["threshold"], 0.4982, "{}", r.raw);
    assert_eq!(r.json["matcher"]["transform"], "hadamard-sign", "{}", r.raw);
    assert_eq!(r.json["matcher"]["centred"], true, "{}", r.raw);
    let phrases = crate::storage::voice_phrases().expect("read above");
    let key = h.client(&[("voice", &["enroll", "verify"])]).await;
    let speakers: Vec<&String> = phrases.keys().take(8).collect();
    for s in &speakers {
        h.consent(&key, s, "voice").await;
        let r = h.enroll(&key, s, "voice", &phrases[*s][0]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    }
    let (mut genuine, mut genuine_ok, mut impostor, mut impostor_ok) = (0, 0, 0, 0);
    for s in &speakers {
        for probe in phrases[*s].iter().skip(1).take(3) {
            genuine += 1;
            genuine_ok +=
                usize::from(h.verify(&key, s, "voice", probe).await.json["match"] == true);
        }
        for other in speakers.iter().filter(|o| *o != s).take(3) {
            impostor += 1;
            impostor_ok += usize::from(
                h.verify(&key, s, "voice", &phrases[*other][1]).await.json["match"] == false,
            );
        }
    }
    eprintln!(
        "centred matcher on real voices: {genuine_ok}/{genuine} genuine accepted, \
         {impostor_ok}/{impostor} impostors rejected"
    );
    assert!(genuine_ok * 10 >= genuine * 7, "{genuine_ok}/{genuine}");
    assert!(impostor_ok * 10 >= impostor * 9, "{impostor_ok}/{impostor}");
}
