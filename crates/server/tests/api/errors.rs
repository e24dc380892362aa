//! Every error rule of the contract: status, error code, JSON body, and no change to stored
//! data after any rejection.

use axum::http::StatusCode;
use serde_json::json;

use crate::harness::{Harness, LIMIT, Reply, synthetic};

crate::on_both_backends!(
    every_rejection_leaves_the_database_unchanged,
    unauthenticated_responses_are_identical,
);

/// Sets up a purpose, a client with enroll+verify, one with verify only, and an enrolled
/// subject, so that each rejection below is the only thing wrong with its request.
async fn setup(h: &Harness) -> (String, String) {
    h.purpose("payment", 4).await;
    h.purpose("door", 4).await;
    let full = h.client(&[("payment", &["enroll", "verify"])]).await;
    let verify_only = h.client(&[("door", &["verify"])]).await;
    h.consent(&full, "alice", "payment").await;
    assert_eq!(
        h.enroll(&full, "alice", "payment", &synthetic(1, 4))
            .await
            .status,
        StatusCode::CREATED
    );
    (full, verify_only)
}

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    token: Option<String>,
    body: Option<String>,
    content_type: Option<&'static str>,
    status: StatusCode,
    code: &'static str,
}

fn case(name: &'static str, method: &'static str, path: &str, token: &str, body: &str) -> Case {
    Case {
        name,
        method,
        path: path.to_owned(),
        token: (!token.is_empty()).then(|| token.to_owned()),
        body: (!body.is_empty()).then(|| body.to_owned()),
        content_type: Some("application/json"),
        status: StatusCode::OK,
        code: "",
    }
}

impl Case {
    fn expect(mut self, status: StatusCode, code: &'static str) -> Self {
        self.status = status;
        self.code = code;
        self
    }
    fn content_type(mut self, ct: Option<&'static str>) -> Self {
        self.content_type = ct;
        self
    }
}

fn purpose_body(id: &str) -> String {
    json!({"id": id, "description": "x", "operations": ["verify"], "dimension": 4,
           "retention": {"max_days_since_enrolment": 10}})
    .to_string()
}

async fn every_rejection_leaves_the_database_unchanged(h: &Harness) {
    let (full, verify_only) = setup(h).await;
    let admin = h.admin.clone();
    let e4 = json!([0.5, 0.25, -0.125, 0.0625]);
    let verify = |subject: &str, purpose: &str, emb: serde_json::Value| {
        json!({"subject": subject, "purpose": purpose, "embedding": emb}).to_string()
    };
    let long_subject = "s".repeat(129);
    let long_purpose = "p".repeat(65);
    let huge = format!(
        "{{\"embedding\":[{}]}}",
        vec!["0.123456"; LIMIT / 8].join(",")
    );
    use StatusCode as S;
    let cases = vec![
        // 400: malformed JSON.
        case("truncated json", "POST", "/v1/verify", &full, "{\"subject\":").expect(S::BAD_REQUEST, "malformed_json"),
        case("not json", "POST", "/v1/purposes", &admin, "purpose=payment").expect(S::BAD_REQUEST, "malformed_json"),
        case("NaN literal", "POST", "/v1/verify", &full, "{\"subject\":\"alice\",\"purpose\":\"payment\",\"embedding\":[NaN,1,1,1]}").expect(S::BAD_REQUEST, "malformed_json"),
        case("empty body", "PUT", "/v1/subjects/alice/templates/payment", &full, "").expect(S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").content_type(None),
        // 401: credentials.
        case("no credentials", "POST", "/v1/verify", "", &verify("alice", "payment", e4.clone())).expect(S::UNAUTHORIZED, "unauthenticated"),
        case("wrong key", "POST", "/v1/verify", "bgc_0000000000000000000000000000000000000000000000000000000000000000", &verify("alice", "payment", e4.clone())).expect(S::UNAUTHORIZED, "unauthenticated"),
        case("admin token on a client route", "PUT", "/v1/subjects/alice/templates/payment", &admin, &json!({"embedding": e4}).to_string()).expect(S::UNAUTHORIZED, "unauthenticated"),
        case("client key on an admin route", "POST", "/v1/purposes", &full, &purpose_body("x1")).expect(S::UNAUTHORIZED, "unauthenticated"),
        case("unauthenticated erase", "DELETE", "/v1/subjects/alice", "", "").expect(S::UNAUTHORIZED, "unauthenticated"),
        // 403: grants and consent.
        case("no verify grant", "POST", "/v1/verify", &full, &verify("alice", "door", e4.clone())).expect(S::FORBIDDEN, "no_grant"),
        case("no enroll grant", "PUT", "/v1/subjects/alice/templates/door", &verify_only, &json!({"embedding": e4}).to_string()).expect(S::FORBIDDEN, "no_grant"),
        case("consent for a purpose without grant", "PUT", "/v1/subjects/alice/consents/door", &full, "{\"notice_version\":\"v1\",\"method\":\"web\"}").expect(S::FORBIDDEN, "no_grant"),
        case("no consent", "POST", "/v1/verify", &full, &verify("bob", "payment", e4.clone())).expect(S::FORBIDDEN, "consent_required"),
        case("enrol without consent", "PUT", "/v1/subjects/bob/templates/payment", &full, &json!({"embedding": e4}).to_string()).expect(S::FORBIDDEN, "consent_required"),
        // 404: missing things.
        case("unknown purpose", "POST", "/v1/verify", &full, &verify("alice", "nosuch", e4.clone())).expect(S::NOT_FOUND, "purpose_not_found"),
        case("consent to unknown purpose", "PUT", "/v1/subjects/alice/consents/nosuch", &full, "{\"notice_version\":\"v1\",\"method\":\"web\"}").expect(S::NOT_FOUND, "purpose_not_found"),
        case("withdraw what was never given", "DELETE", "/v1/subjects/bob/consents/payment", &full, "").expect(S::NOT_FOUND, "consent_not_found"),
        case("unknown route", "GET", "/v1/nothing", &full, "").expect(S::NOT_FOUND, "not_found"),
        case("raw slash in a subject", "PUT", "/v1/subjects/a/b/templates/payment", &full, &json!({"embedding": e4}).to_string()).expect(S::NOT_FOUND, "not_found"),
        // 405, 409, 413, 415.
        case("wrong method", "PATCH", "/v1/verify", &full, "").expect(S::METHOD_NOT_ALLOWED, "method_not_allowed"),
        case("duplicate purpose", "POST", "/v1/purposes", &admin, &purpose_body("payment")).expect(S::CONFLICT, "conflict"),
        case("body over the limit", "PUT", "/v1/subjects/alice/templates/payment", &full, &huge).expect(S::PAYLOAD_TOO_LARGE, "body_too_large"),
        case("text/plain body", "POST", "/v1/verify", &full, &verify("alice", "payment", e4.clone())).content_type(Some("text/plain")).expect(S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        // 422: unknown fields.
        case("unknown field in verify", "POST", "/v1/verify", &full, "{\"subject\":\"alice\",\"purpose\":\"payment\",\"embedding\":[1,1,1,1],\"score\":1}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("unknown field in template", "PUT", "/v1/subjects/alice/templates/payment", &full, "{\"embedding\":[1,1,1,1],\"image\":\"x\"}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("unknown field in consent", "PUT", "/v1/subjects/alice/consents/payment", &full, "{\"notice_version\":\"v1\",\"method\":\"web\",\"forever\":true}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("unknown field in purpose", "POST", "/v1/purposes", &admin, "{\"id\":\"x2\",\"description\":\"x\",\"operations\":[\"verify\"],\"dimension\":4,\"retention\":{\"max_days_since_enrolment\":1,\"forever\":true}}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("unknown field in client", "POST", "/v1/clients", &admin, "{\"name\":\"x\",\"grants\":[],\"admin\":true}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        // 422: embeddings.
        case("wrong dimension", "POST", "/v1/verify", &full, &verify("alice", "payment", json!([1.0, 2.0, 3.0]))).expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("empty embedding", "PUT", "/v1/subjects/alice/templates/payment", &full, "{\"embedding\":[]}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("non-finite value", "POST", "/v1/verify", &full, "{\"subject\":\"alice\",\"purpose\":\"payment\",\"embedding\":[1e39,1,1,1]}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("all zeros", "PUT", "/v1/subjects/alice/templates/payment", &full, "{\"embedding\":[0,0,0,0]}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("string in embedding", "PUT", "/v1/subjects/alice/templates/payment", &full, "{\"embedding\":[0.5,\"0.731\",1,1]}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("missing embedding", "POST", "/v1/verify", &full, "{\"subject\":\"alice\",\"purpose\":\"payment\"}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        // 422: identifiers, over-long and odd.
        case("over-long subject in path", "PUT", &format!("/v1/subjects/{long_subject}/consents/payment"), &full, "{\"notice_version\":\"v1\",\"method\":\"web\"}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("over-long subject in body", "POST", "/v1/verify", &full, &verify(&long_subject, "payment", e4.clone())).expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("over-long purpose", "POST", "/v1/verify", &full, &verify("alice", &long_purpose, e4.clone())).expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("over-long purpose id on create", "POST", "/v1/purposes", &admin, &purpose_body(&long_purpose)).expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("non-ASCII subject in path", "PUT", "/v1/subjects/jos%C3%A9/consents/payment", &full, "{\"notice_version\":\"v1\",\"method\":\"web\"}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("non-ASCII subject in body", "POST", "/v1/verify", &full, &verify("jos\u{e9}", "payment", e4.clone())).expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("space in subject", "DELETE", "/v1/subjects/a%20b", &full, "").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("NUL in subject", "GET", "/v1/subjects/a%00b", &full, "").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("invalid UTF-8 in path", "GET", "/v1/subjects/%FF%FE", &full, "").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("path separator in purpose", "PUT", "/v1/subjects/alice/consents/pay%2Fment", &full, "{\"notice_version\":\"v1\",\"method\":\"web\"}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("quote in purpose", "POST", "/v1/verify", &full, &verify("alice", "pay\"ment", e4.clone())).expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("non-ASCII purpose id", "POST", "/v1/purposes", &admin, &purpose_body("paiement-\u{e9}")).expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("uppercase purpose id", "POST", "/v1/purposes", &admin, &purpose_body("Payment")).expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("odd notice version", "PUT", "/v1/subjects/alice/consents/payment", &full, "{\"notice_version\":\"../v1\",\"method\":\"web\"}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        // 422: purpose and client rules.
        case("threshold out of range", "POST", "/v1/purposes", &admin, "{\"id\":\"x3\",\"description\":\"x\",\"operations\":[\"verify\"],\"dimension\":4,\"threshold\":1.5,\"retention\":{\"max_days_since_enrolment\":1}}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("dimension as text", "POST", "/v1/purposes", &admin, "{\"id\":\"x4\",\"description\":\"x\",\"operations\":[\"verify\"],\"dimension\":\"256\",\"retention\":{\"max_days_since_enrolment\":1}}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("dimension too large", "POST", "/v1/purposes", &admin, "{\"id\":\"x5\",\"description\":\"x\",\"operations\":[\"verify\"],\"dimension\":5000,\"retention\":{\"max_days_since_enrolment\":1}}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("retention of zero days", "POST", "/v1/purposes", &admin, "{\"id\":\"x6\",\"description\":\"x\",\"operations\":[\"verify\"],\"dimension\":4,\"retention\":{\"max_days_since_enrolment\":0}}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("unknown operation", "POST", "/v1/purposes", &admin, "{\"id\":\"x7\",\"description\":\"x\",\"operations\":[\"delete\"],\"dimension\":4,\"retention\":{\"max_days_since_enrolment\":1}}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("identify without a gallery limit", "POST", "/v1/purposes", &admin, "{\"id\":\"x8\",\"description\":\"x\",\"operations\":[\"identify\"],\"dimension\":4,\"retention\":{\"max_days_since_enrolment\":1}}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("grant for an unknown purpose", "POST", "/v1/clients", &admin, "{\"name\":\"x\",\"grants\":[{\"purpose\":\"nosuch\",\"operations\":[\"verify\"]}]}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("grant beyond the purpose", "POST", "/v1/clients", &admin, "{\"name\":\"x\",\"grants\":[{\"purpose\":\"door\",\"operations\":[\"identify\"]}]}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
        case("empty client name", "POST", "/v1/clients", &admin, "{\"name\":\"  \",\"grants\":[]}").expect(S::UNPROCESSABLE_ENTITY, "invalid_request"),
    ];

    for c in cases {
        let before = h.snapshot().await;
        let r: Reply = h
            .send_with(
                c.method,
                &c.path,
                c.token.as_deref(),
                c.body.as_deref(),
                c.content_type,
            )
            .await;
        assert_eq!(r.status, c.status, "{}: {}", c.name, r.raw);
        assert_eq!(r.code(), c.code, "{}: {}", c.name, r.raw);
        assert!(
            r.json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}: an error body with a message: {}",
            c.name,
            r.raw
        );
        assert_eq!(
            before,
            h.snapshot().await,
            "{}: the database changed",
            c.name
        );
        // Rejections never repeat an embedding value back.
        assert!(
            !r.raw.contains("0.731") && !r.raw.contains("0.125"),
            "{}: {}",
            c.name,
            r.raw
        );
    }
}

async fn unauthenticated_responses_are_identical(h: &Harness) {
    let (full, _) = setup(h).await;
    // Verification checks its key in the same read as the rest, after the body is parsed:
    // a body it cannot use must still be answered 401, the same as a good one.
    let bodies = [
        json!({"subject": "alice", "purpose": "payment", "embedding": [1, 1, 1, 1]}).to_string(),
        "{not json".to_owned(),
        json!({"subject": "", "purpose": "payment", "embedding": [1]}).to_string(),
        json!({"subject": "alice", "purpose": "nosuch", "embedding": [1, 1, 1, 1]}).to_string(),
        json!({"subject": "alice"}).to_string(),
    ];
    let mut replies = Vec::new();
    for body in &bodies {
        for auth in [
            None,
            Some("Basic YWxpY2U6c2VjcmV0".to_owned()),
            Some("Bearer".to_owned()),
            Some("Bearer short".to_owned()),
            Some(format!("Bearer {}x", full)),
            Some(format!("Bearer {}", h.admin)),
            Some(
                "Bearer bgc_\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"
                    .to_owned(),
            ),
        ] {
            let mut req = axum::http::Request::builder()
                .method("POST")
                .uri("/v1/verify")
                .header("content-type", "application/json");
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let r = h
                .send_request(
                    req.body(axum::body::Body::from(body.clone()))
                        .expect("request"),
                )
                .await;
            replies.push((r.status, r.raw));
        }
    }
    assert_eq!(replies[0].0, StatusCode::UNAUTHORIZED);
    for r in &replies[1..] {
        assert_eq!(r, &replies[0]);
    }
    // With the right key, the same bodies are explained.
    let expected = [
        StatusCode::BAD_REQUEST,
        StatusCode::UNPROCESSABLE_ENTITY,
        StatusCode::NOT_FOUND,
        StatusCode::UNPROCESSABLE_ENTITY,
    ];
    for (body, status) in bodies[1..].iter().zip(expected) {
        let r = h
            .send_request(
                axum::http::Request::builder()
                    .method("POST")
                    .uri("/v1/verify")
                    .header("content-type", "application/json")
                    .header("authorization", format!("Bearer {full}"))
                    .body(axum::body::Body::from(body.clone()))
                    .expect("request"),
            )
            .await;
        assert_eq!(r.status, status, "{body}: {}", r.raw);
    }
}
