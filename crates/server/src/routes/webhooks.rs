//! Webhook endpoints, their delivery log and replays: registered by a client for itself,
//! read, replayed and disabled by that client or the operator.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bioguard_core::{ClientId, ValidationError};
use bioguard_service::{ReplayTarget, ServiceError, WebhookReader};

use crate::ApiError;
use crate::AppState;
use crate::dto::{
    ReplayBody, ReplayRequest, WebhookBody, WebhookCreatedBody, WebhookMessageBody,
    WebhookMessagesBody, WebhookRequest, WebhooksBody,
};
use crate::error::ErrorBody;
use crate::extract::{AdminAuth, Caller, ClientAuth, JsonBody, Segments};
use crate::routes::common::ApiResult;

/// The operator, or a client for its own endpoints; anyone else is refused.
fn reader(caller: &Caller) -> Result<WebhookReader<'_>, ApiError> {
    match caller {
        Caller::Admin(a) => Ok(WebhookReader::Operator(a)),
        Caller::Client(c) => Ok(WebhookReader::Owner(c)),
        Caller::Anyone => Err(ServiceError::Unauthenticated.into()),
    }
}

/// Messages the delivery log shows at most.
const LOG_LIMIT: u64 = 500;

/// Register an endpoint for this client's own events. The signing secret is in this
/// response only. Only the client itself registers its endpoints: its events name its
/// subjects by its own identifiers.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks",
    request_body = WebhookRequest, security(("api_key" = [])),
    responses((status = 201, description = "The endpoint, with its secret", body = WebhookCreatedBody),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn create_webhook(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    JsonBody(req): JsonBody<WebhookRequest>,
) -> ApiResult<(StatusCode, Json<WebhookCreatedBody>)> {
    let created = st
        .service
        .create_webhook(&client, &req.url, req.events.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookCreatedBody {
            endpoint: WebhookBody::from(&created.endpoint),
            secret: created.secret.as_str().to_owned(),
        }),
    ))
}

/// This client's own webhook endpoints.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    security(("api_key" = [])),
    responses((status = 200, description = "The endpoints, oldest first", body = WebhooksBody),
              (status = 401, body = ErrorBody)))]
pub(crate) async fn own_webhooks(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
) -> ApiResult<Json<WebhooksBody>> {
    let all = st.service.own_webhooks(&client).await?;
    Ok(Json(WebhooksBody {
        webhooks: all.iter().map(WebhookBody::from).collect(),
    }))
}

/// A client's webhook endpoints (admin).
#[utoipa::path(get, path = "/v1/clients/{client}/webhooks", tag = "webhooks",
    security(("admin_token" = [])),
    params(("client" = String, Path, description = "The client id")),
    responses((status = 200, description = "The endpoints, oldest first", body = WebhooksBody),
              (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "`client_not_found`"),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn list_webhooks(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(client): Segments<String>,
) -> ApiResult<Json<WebhooksBody>> {
    let client = ClientId::parse(&client)?;
    let all = st.service.webhooks_of(&admin, &client).await?;
    Ok(Json(WebhooksBody {
        webhooks: all.iter().map(WebhookBody::from).collect(),
    }))
}

/// One webhook endpoint (the operator, or the client it belongs to).
#[utoipa::path(get, path = "/v1/webhooks/{webhook}", tag = "webhooks",
    security(("admin_token" = []), ("api_key" = [])),
    params(("webhook" = String, Path, description = "The endpoint id")),
    responses((status = 200, description = "The endpoint", body = WebhookBody),
              (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "`webhook_not_found`")))]
pub(crate) async fn get_webhook(
    State(st): State<AppState>,
    caller: Caller,
    Segments(id): Segments<String>,
) -> ApiResult<Json<WebhookBody>> {
    let e = st.service.webhook(reader(&caller)?, &id).await?;
    Ok(Json(WebhookBody::from(&e)))
}

/// Disable a webhook endpoint (the operator, or its client): nothing more is sent to it; its
/// log stays.
#[utoipa::path(delete, path = "/v1/webhooks/{webhook}", tag = "webhooks",
    security(("admin_token" = []), ("api_key" = [])),
    params(("webhook" = String, Path, description = "The endpoint id")),
    responses((status = 200, description = "The endpoint, disabled", body = WebhookBody),
              (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "`webhook_not_found`")))]
pub(crate) async fn disable_webhook(
    State(st): State<AppState>,
    caller: Caller,
    Segments(id): Segments<String>,
) -> ApiResult<Json<WebhookBody>> {
    let e = st.service.disable_webhook(reader(&caller)?, &id).await?;
    Ok(Json(WebhookBody::from(&e)))
}

/// An endpoint's delivery log (the operator, or its client): its newest messages with their
/// last attempt, never a payload.
#[utoipa::path(get, path = "/v1/webhooks/{webhook}/messages", tag = "webhooks",
    security(("admin_token" = []), ("api_key" = [])),
    params(("webhook" = String, Path, description = "The endpoint id"),
           ("limit" = Option<u64>, Query, description = "At most this many (default and maximum 500)")),
    responses((status = 200, description = "The messages, newest first", body = WebhookMessagesBody),
              (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "`webhook_not_found`"),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn webhook_messages(
    State(st): State<AppState>,
    caller: Caller,
    Segments(id): Segments<String>,
    q: Result<
        axum::extract::Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult<Json<WebhookMessagesBody>> {
    let q = crate::routes::common::query(q)?;
    let limit = match q.get("limit") {
        None => LOG_LIMIT,
        Some(_) => crate::routes::common::param(&q, "limit")?,
    };
    if limit == 0 || limit > LOG_LIMIT {
        return Err(ValidationError::new("limit", "between 1 and 500").into());
    }
    let all = st
        .service
        .webhook_messages(reader(&caller)?, &id, usize::try_from(limit).unwrap_or(500))
        .await?;
    Ok(Json(WebhookMessagesBody {
        messages: all.iter().map(WebhookMessageBody::from).collect(),
    }))
}

/// Send messages again (the operator, or the endpoint's client), with their ids: one
/// message, or every message to the endpoint since a time. Delivered ones included;
/// receivers drop ids they have seen.
#[utoipa::path(post, path = "/v1/webhooks/{webhook}/replay", tag = "webhooks",
    request_body = ReplayRequest, security(("admin_token" = []), ("api_key" = [])),
    params(("webhook" = String, Path, description = "The endpoint id")),
    responses((status = 200, description = "How many were queued", body = ReplayBody),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "`webhook_not_found`"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn replay_webhook(
    State(st): State<AppState>,
    caller: Caller,
    Segments(id): Segments<String>,
    JsonBody(req): JsonBody<ReplayRequest>,
) -> ApiResult<Json<ReplayBody>> {
    let endpoint = st.service.webhook(reader(&caller)?, &id).await?;
    let target = match (req.message, req.since) {
        // A message of another endpoint is not this endpoint's to replay (not found).
        (Some(message), None) => ReplayTarget::Message {
            id: message,
            endpoint: Some(endpoint.id),
        },
        (None, Some(since)) => ReplayTarget::Endpoint {
            id: endpoint.id,
            since: bioguard_service::parse_since(&since)?,
        },
        _ => {
            return Err(ValidationError::new(
                "message",
                "give either `message` (one message's id) or `since` (an RFC 3339 time)",
            )
            .into());
        }
    };
    let queued = st.service.replay_webhooks(&target).await?;
    Ok(Json(ReplayBody { queued }))
}
