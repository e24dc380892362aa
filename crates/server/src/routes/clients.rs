//! Clients (admin) and their capture devices and challenges (client).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bioguard_core::{PurposeName, ValidationError};

use crate::AppState;
use crate::dto::{ClientCreatedBody, ClientRequest, grant_bodies};
use crate::error::ErrorBody;
use crate::extract::{AdminAuth, ClientAuth, JsonBody, Segments};
use crate::routes::common::ApiResult;

/// Create a client with grants (admin). The API key is in this response only.
#[utoipa::path(post, path = "/v1/clients", tag = "clients", request_body = ClientRequest,
    security(("admin_token" = [])),
    responses(
        (status = 201, body = ClientCreatedBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "`tenant_not_found`"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn create_client(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    JsonBody(req): JsonBody<ClientRequest>,
) -> ApiResult<(StatusCode, Json<ClientCreatedBody>)> {
    let definition = req.parse()?;
    let created = st.service.create_client(&admin, definition.clone()).await?;
    Ok((
        StatusCode::CREATED,
        Json(ClientCreatedBody {
            id: created.id.to_string(),
            name: definition.name.as_str().to_owned(),
            tenant: definition.tenant.to_string(),
            grants: grant_bodies(&definition.grants),
            subject_rights: definition.rights.iter().map(|r| r.as_str()).collect(),
            api_key: created.expose_api_key().to_owned(),
        }),
    ))
}

/// Every client with its grants, subject rights and status (admin): who may verify whom for
/// what. `?tenant=` narrows to one tenant's clients.
#[utoipa::path(get, path = "/v1/clients", tag = "clients",
    security(("admin_token" = [])),
    params(("tenant" = Option<String>, Query, description = "Only this tenant's clients")),
    responses((status = 200, description = "The clients, in id order", body = crate::dto::ClientsBody),
              (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "`tenant_not_found`"),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn list_clients(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    q: Result<
        axum::extract::Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult<Json<crate::dto::ClientsBody>> {
    let q = crate::routes::common::query(q)?;
    let tenant = crate::routes::common::tenant_query(&q)?;
    let all = st.service.clients(&admin, tenant.as_ref()).await?;
    Ok(Json(crate::dto::ClientsBody {
        clients: all.iter().map(crate::dto::ClientBody::from).collect(),
    }))
}

/// One client with its grants, subject rights and status (admin).
#[utoipa::path(get, path = "/v1/clients/{client}", tag = "clients",
    security(("admin_token" = [])),
    params(("client" = String, Path, description = "The client id")),
    responses((status = 200, description = "The client", body = crate::dto::ClientBody),
              (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "`client_not_found`"),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn get_client(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(client): Segments<String>,
) -> ApiResult<Json<crate::dto::ClientBody>> {
    let id = bioguard_core::ClientId::parse(&client)?;
    let c = st.service.client(&admin, &id).await?;
    Ok(Json(crate::dto::ClientBody::from(&c)))
}

/// Give a client a new API key (admin); the old key stops working at once. The new key is
/// in this response only.
#[utoipa::path(post, path = "/v1/clients/{client}/key", tag = "clients",
    security(("admin_token" = [])),
    params(("client" = String, Path, description = "The client id")),
    responses((status = 200, description = "The client's new key", body = crate::dto::ClientKeyBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn rotate_client_key(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(client): Segments<String>,
) -> ApiResult<Json<crate::dto::ClientKeyBody>> {
    let id = bioguard_core::ClientId::parse(&client)?;
    let created = st.service.rotate_client_key(&admin, &id).await?;
    Ok(Json(crate::dto::ClientKeyBody {
        id: created.id.to_string(),
        api_key: created.expose_api_key().to_owned(),
    }))
}

/// Register a capture device of this client with its Ed25519 public key.
#[utoipa::path(post, path = "/v1/devices", tag = "risk", request_body = crate::dto::DeviceRequest,
    security(("api_key" = [])),
    responses((status = 201, description = "The device, registered", body = crate::dto::DeviceCreatedBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn register_device(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    JsonBody(req): JsonBody<crate::dto::DeviceRequest>,
) -> ApiResult<(StatusCode, Json<crate::dto::DeviceCreatedBody>)> {
    let key: [u8; 32] = B64
        .decode(req.public_key.as_bytes())
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| {
            ValidationError::new("public_key", "32 bytes of Ed25519 public key, base64")
        })?;
    let id = st.service.register_device(&client, &req.name, &key).await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::dto::DeviceCreatedBody {
            device: id.as_str().to_owned(),
        }),
    ))
}

/// A one-time capture challenge for a purpose (60 seconds).
#[utoipa::path(post, path = "/v1/challenges", tag = "risk", request_body = crate::dto::ChallengeRequest,
    security(("api_key" = [])),
    responses((status = 201, description = "A fresh challenge", body = crate::dto::ChallengeBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn issue_challenge(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    JsonBody(req): JsonBody<crate::dto::ChallengeRequest>,
) -> ApiResult<(StatusCode, Json<crate::dto::ChallengeBody>)> {
    let purpose = PurposeName::parse(&req.purpose)?;
    let (challenge, expires) = st.service.issue_challenge(&client, &purpose).await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::dto::ChallengeBody {
            challenge: challenge.as_str().to_owned(),
            expires_at: crate::dto::rfc3339(expires),
        }),
    ))
}
