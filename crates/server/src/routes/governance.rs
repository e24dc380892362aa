//! The risk group and its proposals.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bioguard_core::ProposalId;
use bioguard_service::ServiceError;

use crate::error::ErrorBody;
use crate::extract::{AdminAuth, JsonBody, Segments};
use crate::routes::common::ApiResult;
use crate::{ApiError, AppState};

/// Register the risk group (admin, once): members' Ed25519 keys and the quorum M of N that
/// every sensitive change then needs. Later changes are `group.change` proposals.
#[utoipa::path(post, path = "/v1/governance/group", tag = "governance",
    request_body = crate::dto::GroupBody, security(("admin_token" = [])),
    responses((status = 201, body = crate::dto::GroupBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn register_group(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    JsonBody(req): JsonBody<crate::dto::GroupBody>,
) -> ApiResult<(StatusCode, Json<crate::dto::GroupBody>)> {
    let group = req.parse()?;
    st.service
        .register_risk_group(&admin, group.clone())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::dto::GroupBody::from_group(&group)),
    ))
}

/// The risk group (public: anyone may check who must approve sensitive changes).
#[utoipa::path(get, path = "/v1/governance/group", tag = "governance",
    responses((status = 200, body = crate::dto::GroupBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_group(
    State(st): State<AppState>,
) -> ApiResult<Json<crate::dto::GroupBody>> {
    let g = st.service.risk_group().await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            crate::error::ErrorCode::NoRiskGroup,
            "no risk group is registered",
        )
    })?;
    Ok(Json(crate::dto::GroupBody::from_group(&g)))
}

/// Propose a sensitive change (admin). Members sign the returned `payload`.
#[utoipa::path(post, path = "/v1/proposals", tag = "governance",
    request_body = crate::dto::ProposalRequest, security(("admin_token" = [])),
    responses((status = 201, body = crate::dto::ProposalBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn make_proposal(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    JsonBody(req): JsonBody<crate::dto::ProposalRequest>,
) -> ApiResult<(StatusCode, Json<crate::dto::ProposalBody>)> {
    let action = req.action.parse()?;
    let p = st
        .service
        .propose(&admin, action, req.ttl_secs.unwrap_or(7 * 86_400))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::dto::ProposalBody::new(&p, origin(&st))),
    ))
}

/// A proposal, its payload and its approvals (public).
#[utoipa::path(get, path = "/v1/proposals/{id}", tag = "governance",
    params(("id" = String, Path, description = "The proposal id")),
    responses((status = 200, body = crate::dto::ProposalBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_proposal(
    State(st): State<AppState>,
    Segments(id): Segments<String>,
) -> ApiResult<Json<crate::dto::ProposalBody>> {
    let id = ProposalId::parse(&id).map_err(|_| ServiceError::ProposalNotFound)?;
    let p = st.service.proposal(&id).await?;
    Ok(Json(crate::dto::ProposalBody::new(&p, origin(&st))))
}

/// Add a member's approval: an Ed25519 signature over the payload, or a passkey assertion
/// over the proposal's `passkey_challenge` (the proof is the credential). The change is
/// applied when the quorum is reached.
#[utoipa::path(post, path = "/v1/proposals/{id}/approvals", tag = "governance",
    request_body = crate::dto::ApprovalRequest,
    params(("id" = String, Path, description = "The proposal id")),
    responses((status = 200, body = crate::dto::ApprovalBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 410, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn approve_proposal(
    State(st): State<AppState>,
    Segments(id): Segments<String>,
    JsonBody(req): JsonBody<crate::dto::ApprovalRequest>,
) -> ApiResult<Json<crate::dto::ApprovalBody>> {
    let approval = req.parse()?;
    let id = ProposalId::parse(&id).map_err(|_| ServiceError::ProposalNotFound)?;
    let out = st.service.approve(&id, approval).await?;
    Ok(Json(crate::dto::ApprovalBody {
        approvals: out.approvals,
        quorum: out.quorum,
        status: out.status.as_str().to_owned(),
        result: out.result,
    }))
}

/// The origin passkey approvals are made for.
fn origin(st: &AppState) -> Option<&str> {
    st.service
        .relying_party()
        .map(bioguard_ledger::webauthn::RelyingParty::origin)
}
