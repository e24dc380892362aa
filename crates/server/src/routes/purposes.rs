//! Purposes (admin): declaring them, their notices, thresholds through the fairness gate,
//! and revoking a protection key.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bioguard_core::PurposeId;

use crate::AppState;
use crate::dto::{MatcherBody, MatcherRequest, PurposeBody, PurposeRequest, RotationBody};
use crate::error::ErrorBody;
use crate::extract::{AdminAuth, Caller, JsonBody, Segments};
use crate::routes::common::{ApiResult, REPORT_BODY_BYTES};

/// Declare a purpose (admin).
#[utoipa::path(post, path = "/v1/purposes", tag = "purposes", request_body = PurposeRequest,
    security(("admin_token" = [])),
    responses(
        (status = 201, body = PurposeBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "`tenant_not_found`"),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_purpose(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    JsonBody(mut req): JsonBody<PurposeRequest, REPORT_BODY_BYTES>,
) -> ApiResult<(StatusCode, Json<PurposeBody>)> {
    // The report is hashed and kept exactly as its JSON is written here.
    let report = req
        .fairness_report
        .take()
        .map(bioguard_core::JsonText::into_string);
    let definition = req.parse()?;
    let created = match report {
        None => st.service.create_purpose(&admin, definition).await?,
        Some(r) => {
            st.service
                .create_purpose_with_report(&admin, definition, r)
                .await?
        }
    };
    Ok((StatusCode::CREATED, Json(PurposeBody::from(&created))))
}

/// List the declared purposes. Public (purposes are declared to everyone, each with its
/// tenant as controller); with a client key, only the client's own tenant's purposes; with
/// the admin token and `?tenant=`, one tenant's.
#[utoipa::path(get, path = "/v1/purposes", tag = "purposes",
    params(("tenant" = Option<String>, Query, description = "Only this tenant's purposes")),
    responses((status = 200, body = Vec<PurposeBody>), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn list_purposes(
    State(st): State<AppState>,
    caller: Caller,
    q: Result<
        axum::extract::Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult<Json<Vec<PurposeBody>>> {
    let q = crate::routes::common::query(q)?;
    let tenant = crate::routes::common::tenant_query(&q)?;
    let mut all = match &caller {
        Caller::Client(client) => st.service.purposes_of(client).await?,
        Caller::Admin(_) | Caller::Anyone => st.service.purposes().await?,
    };
    if let Some(t) = tenant {
        all.retain(|p| p.purpose.id.belongs_to(&t));
    }
    Ok(Json(all.iter().map(PurposeBody::from).collect()))
}

/// One declared purpose (public, as in the list): its operations, threshold, retention,
/// protection key version, fairness state and controller. The operator's form of the id
/// (`tenant:name` for another tenant's purposes).
#[utoipa::path(get, path = "/v1/purposes/{purpose}", tag = "purposes",
    params(("purpose" = String, Path, description = "The purpose id")),
    responses((status = 200, description = "The purpose", body = PurposeBody),
              (status = 404, body = ErrorBody, description = "`purpose_not_found`"),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn get_purpose(
    State(st): State<AppState>,
    Segments(purpose): Segments<String>,
) -> ApiResult<Json<PurposeBody>> {
    let purpose = PurposeId::parse(&purpose)?;
    let p = st.service.purpose(&purpose).await?;
    Ok(Json(PurposeBody::from(&p)))
}

/// Retire a purpose (admin): from now on it takes no new consents or enrolments (409
/// `purpose_retired`, with the fallback flag); templates it holds keep being used until its
/// retention rule deletes them. It narrows and destroys nothing, so it needs no quorum; it is
/// recorded in the ledger. Retiring a retired purpose changes nothing and answers the same.
#[utoipa::path(post, path = "/v1/purposes/{purpose}/retirement", tag = "purposes",
    security(("admin_token" = [])),
    params(("purpose" = String, Path, description = "The purpose id")),
    responses((status = 200, description = "The purpose, retired", body = PurposeBody),
              (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "`purpose_not_found`"),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn retire_purpose(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(purpose): Segments<String>,
) -> ApiResult<Json<PurposeBody>> {
    let purpose = PurposeId::parse(&purpose)?;
    let p = st.service.retire_purpose(&admin, &purpose).await?;
    Ok(Json(PurposeBody::from(&p)))
}

/// Activate a new threshold for a purpose (admin): only with a fairness report for the
/// purpose's matcher at that threshold, recent enough and within the purpose's fairness
/// policy. A refusal (422 `fairness_gate`) is recorded in the ledger with its findings; the
/// risk group can then override it with a `fairness.override` proposal.
#[utoipa::path(post, path = "/v1/purposes/{purpose}/matcher", tag = "purposes",
    request_body = MatcherRequest, security(("admin_token" = [])),
    params(("purpose" = String, Path, description = "The purpose")),
    responses(
        (status = 200, body = MatcherBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn activate_matcher(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(purpose): Segments<String>,
    JsonBody(req): JsonBody<MatcherRequest, REPORT_BODY_BYTES>,
) -> ApiResult<Json<MatcherBody>> {
    let purpose = PurposeId::parse(&purpose)?;
    let a = st
        .service
        .activate_matcher(
            &admin,
            &purpose,
            req.threshold,
            req.fairness_report
                .map(bioguard_core::JsonText::into_string),
        )
        .await?;
    Ok(Json(MatcherBody {
        purpose: a.purpose.to_string(),
        threshold: a.threshold,
        fairness: crate::dto::FairnessStateBody::from(&a.state),
    }))
}

/// Publish the next version of a purpose's privacy notice (admin). A material version makes
/// earlier consents insufficient for enrolment, and for verification after
/// `reconsent_days`.
#[utoipa::path(post, path = "/v1/purposes/{purpose}/notices", tag = "purposes",
    request_body = crate::dto::NoticeRequest, security(("admin_token" = [])),
    params(("purpose" = String, Path, description = "The purpose id")),
    responses((status = 201, body = crate::dto::NoticeBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn publish_notice(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(purpose): Segments<String>,
    JsonBody(req): JsonBody<crate::dto::NoticeRequest>,
) -> ApiResult<(StatusCode, Json<crate::dto::NoticeBody>)> {
    let purpose = PurposeId::parse(&purpose)?;
    let n = st
        .service
        .publish_notice(&admin, &purpose, req.into_spec().draft())
        .await?;
    Ok((StatusCode::CREATED, Json(crate::dto::NoticeBody::from(&n))))
}

/// Every version of a purpose's privacy notice, oldest first (public).
#[utoipa::path(get, path = "/v1/purposes/{purpose}/notices", tag = "purposes",
    params(("purpose" = String, Path, description = "The purpose id")),
    responses((status = 200, body = Vec<crate::dto::NoticeBody>),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn list_notices(
    State(st): State<AppState>,
    Segments(purpose): Segments<String>,
) -> ApiResult<Json<Vec<crate::dto::NoticeBody>>> {
    let purpose = PurposeId::parse(&purpose)?;
    let all = st.service.notices(&purpose).await?;
    Ok(Json(all.iter().map(crate::dto::NoticeBody::from).collect()))
}

/// Rotate a purpose's protection key (admin). Every code made under the previous key stops
/// matching and the previous key is destroyed: subjects must enrol again.
#[utoipa::path(post, path = "/v1/purposes/{purpose}/protection-key", tag = "purposes",
    security(("admin_token" = [])),
    params(("purpose" = String, Path, description = "The purpose id")),
    responses((status = 200, body = RotationBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn rotate_protection_key(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(purpose): Segments<String>,
) -> ApiResult<Json<RotationBody>> {
    let purpose = PurposeId::parse(&purpose)?;
    let r = st.service.rotate_protection_key(&admin, &purpose).await?;
    Ok(Json(RotationBody {
        purpose: purpose.to_string(),
        protection_key_version: r.version,
        note: "templates made under earlier keys no longer match; enrol those subjects again",
    }))
}
