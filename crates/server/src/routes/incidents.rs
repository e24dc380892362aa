//! Incidents (admin) and their actions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bioguard_core::IncidentId;
use bioguard_service::ServiceError;

use crate::AppState;
use crate::error::ErrorBody;
use crate::extract::{AdminAuth, JsonBody, Segments};
use crate::routes::common::ApiResult;

/// Open an incident (admin).
#[utoipa::path(post, path = "/v1/incidents", tag = "risk", request_body = crate::dto::IncidentRequest,
    security(("admin_token" = [])),
    responses((status = 201, body = crate::dto::IncidentBody), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn open_incident(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    JsonBody(req): JsonBody<crate::dto::IncidentRequest>,
) -> ApiResult<(StatusCode, Json<crate::dto::IncidentBody>)> {
    let i = st
        .service
        .open_incident(
            &admin,
            req.kind.as_deref().unwrap_or("operator"),
            &req.summary,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::dto::IncidentBody::from(&i)),
    ))
}

/// An incident and its timeline (admin).
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "risk", security(("admin_token" = [])),
    params(("id" = String, Path, description = "The incident id")),
    responses((status = 200, body = crate::dto::IncidentBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn get_incident(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(id): Segments<String>,
) -> ApiResult<Json<crate::dto::IncidentBody>> {
    let id = IncidentId::parse(&id).map_err(|_| ServiceError::IncidentNotFound)?;
    let i = st.service.incident(&admin, &id).await?;
    let n = st.service.incident_notifications(&id).await?;
    Ok(Json(
        crate::dto::IncidentBody::from(&i).with_notifications(&n),
    ))
}

/// Act on an open incident (admin): suspend or reinstate a client, revoke a purpose's
/// protection key version (every template under it stops matching; its subjects are owed a
/// notification within 72 hours), record notifications as sent, add a note, close it.
#[utoipa::path(post, path = "/v1/incidents/{id}/actions", tag = "risk",
    request_body = crate::dto::IncidentActionRequest, security(("admin_token" = [])),
    params(("id" = String, Path, description = "The incident id")),
    responses((status = 200, body = crate::dto::IncidentBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn incident_action(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(id): Segments<String>,
    JsonBody(req): JsonBody<crate::dto::IncidentActionRequest>,
) -> ApiResult<Json<crate::dto::IncidentBody>> {
    let id = IncidentId::parse(&id).map_err(|_| ServiceError::IncidentNotFound)?;
    let action = bioguard_core::IncidentAction::parse(
        &req.action,
        req.client.as_deref(),
        req.purpose.as_deref(),
        req.device.as_deref(),
        req.note.as_deref(),
    )?;
    let i = st.service.incident_action(&admin, &id, action).await?;
    let n = st.service.incident_notifications(&id).await?;
    Ok(Json(
        crate::dto::IncidentBody::from(&i).with_notifications(&n),
    ))
}
