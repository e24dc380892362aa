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

/// Give a client a new API key (admin); the old key stops working at once. The new key is
/// in this response only.
#[utoipa::path(post, path = "/v1/clients/{client}/key", tag = "clients",
    security(("admin_token" = [])),
    params(("client" = String, Path, description = "The client id")),
    responses((status = 200, description = "{\"id\",\"api_key\"}"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn rotate_client_key(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(client): Segments<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = bioguard_core::ClientId::parse(&client)?;
    let created = st.service.rotate_client_key(&admin, &id).await?;
    Ok(Json(serde_json::json!({
        "id": created.id.to_string(),
        "api_key": created.expose_api_key(),
    })))
}

/// Register a capture device of this client with its Ed25519 public key.
#[utoipa::path(post, path = "/v1/devices", tag = "risk", request_body = crate::dto::DeviceRequest,
    security(("api_key" = [])),
    responses((status = 201, description = "{\"device\"}"), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn register_device(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    JsonBody(req): JsonBody<crate::dto::DeviceRequest>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
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
        Json(serde_json::json!({"device": id.as_str()})),
    ))
}

/// A one-time capture challenge for a purpose (60 seconds).
#[utoipa::path(post, path = "/v1/challenges", tag = "risk", request_body = crate::dto::ChallengeRequest,
    security(("api_key" = [])),
    responses((status = 201, description = "{\"challenge\",\"expires_at\"}"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn issue_challenge(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    JsonBody(req): JsonBody<crate::dto::ChallengeRequest>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let purpose = PurposeName::parse(&req.purpose)?;
    let (challenge, expires) = st.service.issue_challenge(&client, &purpose).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"challenge": challenge.as_str(),
            "expires_at": crate::dto::rfc3339(expires)})),
    ))
}
