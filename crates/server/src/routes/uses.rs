//! Uses of templates: 1:1 verification and 1:N identification.

use axum::Json;
use axum::extract::State;
use bioguard_core::{PurposeName, ValidationError};

use crate::dto::{
    DEFAULT_MAX_CANDIDATES, DecisionBody, IdentificationBody, IdentifyBatchBody,
    IdentifyBatchRequestBody, IdentifyRequestBody, VerifyRequest,
};
use crate::error::ErrorBody;
use crate::extract::{ClientAuth, ClientKey, JsonBody};
use crate::routes::common::{ApiResult, subject_and_purpose};
use crate::{ApiError, AppState};

/// Verify a probe against a subject's template (1:1). Answers the decision only, never a
/// score.
#[utoipa::path(post, path = "/v1/verify", tag = "verification", request_body = VerifyRequest,
    security(("api_key" = [])),
    responses(
        (status = 200, body = DecisionBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "`no_grant` or `consent_required`"),
        (status = 404, body = ErrorBody, description = "`purpose_not_found` or `not_enrolled`"),
        (status = 409, body = ErrorBody, description = "`reenrolment_required`: the template predates a key rotation"),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 423, body = ErrorBody, description = "`biometrics_locked`: the person locked their biometrics"),
        (status = 500, body = ErrorBody, description = "`integrity_failure`: the stored template was altered or moved")))]
pub(crate) async fn verify(
    State(st): State<AppState>,
    ClientKey(key): ClientKey,
    body: Result<JsonBody<VerifyRequest>, ApiError>,
) -> ApiResult<Json<DecisionBody>> {
    // The key is checked in the service's one read, which needs the body's subject and
    // purpose; a body that cannot be used is explained only to an authenticated caller.
    let parsed = body.and_then(|JsonBody(req)| {
        let (subject, purpose) = subject_and_purpose(&req.subject, &req.purpose)?;
        Ok((subject, purpose, req.embedding, req.capture))
    });
    let (subject, purpose, embedding, capture) = match parsed {
        Ok(p) => p,
        Err(e) => {
            st.service.authenticate_client(&key).await?;
            return Err(e);
        }
    };
    let capture = capture.map(crate::dto::CaptureBody::into_capture);
    let d = st
        .service
        .verify(&key, &subject, &purpose, embedding, capture.as_ref())
        .await?;
    Ok(Json(DecisionBody {
        matched: d.outcome.matched(),
        decision_id: d.id.to_string(),
        risk: d.risk.band().as_str(),
        step_up: d.step_up.then_some("required"),
    }))
}

fn max_candidates(n: Option<u64>) -> Result<usize, ValidationError> {
    let n = n.unwrap_or(DEFAULT_MAX_CANDIDATES);
    usize::try_from(n)
        .ok()
        .filter(|n| (1..=bioguard_service::MAX_CANDIDATES).contains(n))
        .ok_or_else(|| {
            ValidationError::new(
                "max_candidates",
                format!("from 1 to {}", bioguard_service::MAX_CANDIDATES),
            )
        })
}

/// Identify a probe in a gallery (1:N): the subjects above threshold, best first, each with
/// a live consent for the purpose. No scores.
#[utoipa::path(post, path = "/v1/identify", tag = "identification",
    request_body = IdentifyRequestBody, security(("api_key" = [])),
    responses(
        (status = 200, body = IdentificationBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "`no_grant` or `operation_not_allowed`"),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "invalid probe, or `gallery_too_large`")))]
pub(crate) async fn identify(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    JsonBody(req): JsonBody<IdentifyRequestBody>,
) -> ApiResult<Json<IdentificationBody>> {
    let request = bioguard_service::IdentifyRequest {
        purpose: PurposeName::parse(&req.purpose)?,
        gallery: bioguard_core::GalleryName::parse(&req.gallery)?,
        max_candidates: max_candidates(req.max_candidates)?,
        probes: vec![req.embedding],
        capture: req.capture.map(crate::dto::CaptureBody::into_capture),
    };
    let mut out = st.service.identify(&client, request).await?;
    let one = out.pop().ok_or_else(|| {
        ApiError::from(bioguard_service::ServiceError::Internal("no result".into()))
    })?;
    Ok(Json(IdentificationBody::from(&one)))
}

/// Identify a batch of probes in one gallery.
#[utoipa::path(post, path = "/v1/identify/batch", tag = "identification",
    request_body = IdentifyBatchRequestBody, security(("api_key" = [])),
    responses(
        (status = 200, body = IdentifyBatchBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn identify_batch(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    JsonBody(req): JsonBody<IdentifyBatchRequestBody>,
) -> ApiResult<Json<IdentifyBatchBody>> {
    let request = bioguard_service::IdentifyRequest {
        purpose: PurposeName::parse(&req.purpose)?,
        gallery: bioguard_core::GalleryName::parse(&req.gallery)?,
        max_candidates: max_candidates(req.max_candidates)?,
        probes: req.embeddings,
        capture: None,
    };
    let out = st.service.identify(&client, request).await?;
    Ok(Json(IdentifyBatchBody {
        results: out.iter().map(IdentificationBody::from).collect(),
    }))
}
