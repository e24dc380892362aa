//! Compensation claims, their reviewers and the reserve.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bioguard_core::ClaimId;
use bioguard_service::ServiceError;

use crate::AppState;
use crate::error::ErrorBody;
use crate::extract::{AdminAuth, ClientAuth, JsonBody, Segments};
use crate::routes::common::{ApiResult, bearer_of};

/// File a compensation claim on a decision (client key). 404 for an unknown decision.
#[utoipa::path(post, path = "/v1/claims", tag = "claims", request_body = crate::dto::ClaimRequest,
    security(("api_key" = [])),
    responses((status = 201, description = "The claim, filed", body = crate::dto::ClaimBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn file_claim(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    JsonBody(req): JsonBody<crate::dto::ClaimRequest>,
) -> ApiResult<(StatusCode, Json<crate::dto::ClaimBody>)> {
    let c = st
        .service
        .file_claim(
            &client,
            &req.decision_id,
            &req.currency,
            req.amount,
            &req.reason,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(crate::dto::ClaimBody::of(&c))))
}

/// A claim with its evidence pack (the filing client's key, or the admin token for review).
#[utoipa::path(get, path = "/v1/claims/{id}", tag = "claims",
    params(("id" = String, Path, description = "The claim id")),
    responses((status = 200, description = "The claim and its evidence pack", body = crate::dto::ClaimBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_claim(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    Segments(id): Segments<String>,
) -> ApiResult<Json<crate::dto::ClaimBody>> {
    let token = bearer_of(&headers);
    let viewer = if token.starts_with("bga_") {
        st.service.authenticate_admin(token).await.map(|_| None)?
    } else if token.starts_with("bgr_") {
        st.service
            .authenticate_reviewer(token)
            .await
            .map(|_| None)?
    } else {
        Some(st.service.authenticate_client(token).await?)
    };
    let id = ClaimId::parse(&id).map_err(|_| ServiceError::ClaimNotFound)?;
    let claim = st.service.claim(&id).await?;
    if let Some(client) = viewer
        && client.record().id != claim.client
    {
        return Err(ServiceError::ClaimNotFound.into());
    }
    let evidence = st.service.claim_evidence(&claim).await?;
    Ok(Json(crate::dto::ClaimBody {
        evidence: Some(evidence),
        ..crate::dto::ClaimBody::of(&claim)
    }))
}

/// Approve (and pay from the reserve) or deny a claim (a reviewer's token).
#[utoipa::path(post, path = "/v1/claims/{id}/decision", tag = "claims",
    request_body = crate::dto::ClaimDecisionRequest,
    params(("id" = String, Path, description = "The claim id")),
    responses((status = 200, description = "The claim, decided", body = crate::dto::ClaimBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn decide_claim(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    Segments(id): Segments<String>,
    JsonBody(req): JsonBody<crate::dto::ClaimDecisionRequest>,
) -> ApiResult<Json<crate::dto::ClaimBody>> {
    let reviewer = st
        .service
        .authenticate_reviewer(bearer_of(&headers))
        .await?;
    let id = ClaimId::parse(&id).map_err(|_| ServiceError::ClaimNotFound)?;
    let c = st
        .service
        .decide_claim(&reviewer, &id, req.approve, &req.reason)
        .await?;
    Ok(Json(crate::dto::ClaimBody::of(&c)))
}

/// Add funds to the compensation reserve (admin).
#[utoipa::path(post, path = "/v1/reserve/topups", tag = "claims",
    request_body = crate::dto::TopupRequest, security(("admin_token" = [])),
    responses((status = 201, description = "The balances after the top-up", body = crate::dto::BalancesBody), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn reserve_topup(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    JsonBody(req): JsonBody<crate::dto::TopupRequest>,
) -> ApiResult<(StatusCode, Json<crate::dto::BalancesBody>)> {
    st.service
        .reserve_topup(
            &admin,
            &req.currency,
            req.amount,
            req.memo.as_deref().unwrap_or("top-up"),
        )
        .await?;
    let b = st.service.reserve_balances(&admin).await?;
    Ok((StatusCode::CREATED, Json(crate::dto::BalancesBody::of(&b))))
}

/// The compensation reserve's balances by account and currency (admin).
#[utoipa::path(get, path = "/v1/reserve", tag = "claims", security(("admin_token" = [])),
    responses((status = 200, description = "The balances", body = crate::dto::BalancesBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn reserve_balances(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
) -> ApiResult<Json<crate::dto::BalancesBody>> {
    let b = st.service.reserve_balances(&admin).await?;
    Ok(Json(crate::dto::BalancesBody::of(&b)))
}

/// Add a claim reviewer (admin). The token is in this answer only.
#[utoipa::path(post, path = "/v1/reviewers", tag = "claims", security(("admin_token" = [])),
    request_body = crate::dto::ReviewerRequest,
    responses((status = 201, description = "The reviewer, with its token", body = crate::dto::ReviewerCreatedBody),
              (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_reviewer(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    JsonBody(req): JsonBody<crate::dto::ReviewerRequest>,
) -> ApiResult<(StatusCode, Json<crate::dto::ReviewerCreatedBody>)> {
    let (id, token) = st.service.create_reviewer(&admin, &req.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::dto::ReviewerCreatedBody {
            id: id.as_str().to_owned(),
            name: req.name,
            token: token.as_str().to_owned(),
        }),
    ))
}
