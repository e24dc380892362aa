//! Tenants (admin): the relying-party organisations that share this deployment.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bioguard_core::{TenantId, TenantName};

use crate::AppState;
use crate::dto::{TenantBody, TenantRequest};
use crate::error::ErrorBody;
use crate::extract::{AdminAuth, JsonBody};
use crate::routes::common::ApiResult;

/// Create a tenant (admin): one relying-party organisation, the controller of the people
/// its clients serve. Its clients, purposes, galleries and subjects are its own.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = TenantRequest,
    security(("admin_token" = [])),
    responses(
        (status = 201, body = TenantBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_tenant(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    JsonBody(req): JsonBody<TenantRequest>,
) -> ApiResult<(StatusCode, Json<TenantBody>)> {
    let id = TenantId::parse(&req.id)?;
    let name = TenantName::parse(&req.name)?;
    let created = st.service.create_tenant(&admin, id, name).await?;
    Ok((StatusCode::CREATED, Json(TenantBody::from(&created))))
}

/// List the tenants (admin), the default one included.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", security(("admin_token" = [])),
    responses((status = 200, body = Vec<TenantBody>), (status = 401, body = ErrorBody)))]
pub(crate) async fn list_tenants(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
) -> ApiResult<Json<Vec<TenantBody>>> {
    let all = st.service.tenants(&admin).await?;
    Ok(Json(all.iter().map(TenantBody::from).collect()))
}
