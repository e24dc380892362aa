//! Public facts about the service: health, the OpenAPI document, the retention schedule,
//! the transparency report and the keys that check signed documents.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use bioguard_core::ValidationError;

use crate::dto::HealthBody;
use crate::error::ErrorBody;
use crate::routes::common::{ApiResult, query};
use crate::{ApiError, AppState};

/// Health: the service answers and its database is reachable.
#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses((status = 200, body = HealthBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn health(State(st): State<AppState>) -> ApiResult<Json<HealthBody>> {
    st.service.ping().await?;
    Ok(Json(HealthBody {
        status: "ok",
        database: st.service.backend().as_str(),
    }))
}

/// Metrics in the Prometheus text format: requests and latency by route and status,
/// decisions by purpose and outcome, refusals by code, key-provider latency, group-commit
/// sizes, the ledger's size and the newest kept checkpoint's age. No label names a subject,
/// client, key or token.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4",
               body = String, content_type = "text/plain; version=0.0.4")))]
pub(crate) async fn metrics(State(st): State<AppState>) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render(&st.service).await,
    )
}

/// Liveness: the process answers. Checks nothing else; restart the service when it fails.
#[utoipa::path(get, path = "/livez", tag = "meta",
    responses((status = 200, description = "The process answers", body = crate::dto::LiveBody)))]
pub(crate) async fn live() -> Json<crate::dto::LiveBody> {
    Json(crate::dto::LiveBody { status: "ok" })
}

/// Readiness: the service can do its work. The database answers and the key provider wraps
/// and unwraps a throwaway key; 503 names the part that is down. Send traffic only to ready
/// nodes.
#[utoipa::path(get, path = "/readyz", tag = "meta",
    responses((status = 200, description = "Ready", body = crate::dto::ReadyBody),
              (status = 503, description = "Not ready: the message names the database or the key provider",
               body = ErrorBody)))]
pub(crate) async fn ready(State(st): State<AppState>) -> ApiResult<Json<crate::dto::ReadyBody>> {
    st.service.ready().await?;
    Ok(Json(crate::dto::ReadyBody {
        status: "ready",
        database: st.service.backend().as_str(),
        key_provider: st.service.key_provider(),
    }))
}

/// The retention schedule every purpose follows and the service enforces (public).
#[utoipa::path(get, path = "/v1/retention-schedule", tag = "purposes",
    params(("format" = Option<crate::dto::enums::Format>, Query,
            description = "json (default) or html; without it, a client asking for text/html gets HTML")),
    responses((status = 200, description = "JSON, or an HTML page with format=html",
               content((crate::dto::ScheduleBody = "application/json"), (String = "text/html"))),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn retention_schedule(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    q: Result<
        axum::extract::Query<HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let q = query(q)?;
    let html = match q.get("format").map(String::as_str) {
        Some("html") => true,
        Some("json") => false,
        Some(_) => {
            return Err(ValidationError::new("format", "expected json or html").into());
        }
        None => headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html")),
    };
    let purposes = st.service.purposes().await?;
    let controllers = st.service.controllers().await?;
    let body = crate::dto::ScheduleBody {
        enforcement: "Every template past its purpose's limit is deleted with its data key \
                      (crypto-shredding) at the next sweep, and each deletion is recorded in \
                      the audit ledger as retention.delete."
            .into(),
        sweep_interval_seconds: st.retention_sweep_secs,
        purposes: purposes
            .iter()
            .map(|p| crate::dto::ScheduleEntry::of(p, &controllers))
            .collect(),
    };
    if !html {
        return Ok(Json(body).into_response());
    }
    let mut page = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Retention schedule</title></head><body><h1>Retention schedule</h1>",
    );
    page.push_str(&format!(
        "<p>{}</p>",
        crate::html::escape_html(&body.enforcement)
    ));
    if let Some(s) = body.sweep_interval_seconds {
        page.push_str(&format!(
            "<p>Expired templates are swept every {s} seconds.</p>"
        ));
    }
    page.push_str(
        "<table><thead><tr><th>Purpose</th><th>Controller</th><th>Description</th><th>Rule</th></tr></thead><tbody>",
    );
    for e in &body.purposes {
        page.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            crate::html::escape_html(&e.purpose),
            crate::html::escape_html(&e.controller),
            crate::html::escape_html(&e.description),
            crate::html::escape_html(&e.rule)
        ));
    }
    page.push_str("</tbody></table></body></html>");
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response())
}

/// The transparency report: counts of enrolments, uses, consents, deletions by cause, risk
/// refusals, incidents and notifications, derived from the audit ledger (public). JSON, or
/// HTML with `?format=html`.
#[utoipa::path(get, path = "/v1/transparency", tag = "meta",
    params(("format" = Option<crate::dto::enums::Format>, Query, description = "json (default) or html")),
    responses((status = 200, description = "The report (JSON; HTML with `format=html`)",
                content((bioguard_service::TransparencyReport = "application/json"),
                        (String = "text/html"))),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn transparency(
    State(st): State<AppState>,
    q: Result<
        axum::extract::Query<HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let q = query(q)?;
    let report = st.service.transparency().await?;
    match q.get("format").map(String::as_str) {
        None | Some("json") => Ok(Json(report).into_response()),
        Some("html") => Ok((
            [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
            crate::html::transparency_html(&report),
        )
            .into_response()),
        Some(_) => Err(ValidationError::new("format", "expected json or html").into()),
    }
}

/// The public keys that check consent receipts and deletion certificates (a JSON Web Key
/// Set; Ed25519, RFC 8037).
#[utoipa::path(get, path = "/v1/keys", tag = "meta",
    responses((status = 200, description = "JSON Web Key Set", body = bioguard_service::Jwks)))]
pub(crate) async fn document_keys(State(st): State<AppState>) -> Json<bioguard_service::Jwks> {
    Json(st.service.document_keys())
}
