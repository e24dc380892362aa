//! The HTTP API of bioguard: `app(state) -> Router`, so tests drive it without a socket.
//!
//! Handlers are thin: authenticate (first, so unauthenticated callers learn nothing), parse
//! the path and body into domain types, call one service use case, shape the response.
//! Every failure is an [`ApiError`] with a JSON body; panics are caught and answered as 500
//! without detail. The access log records the route template (`/v1/subjects/{subject}`),
//! never the concrete path, because paths carry subject identifiers.

mod dto;
mod error;
mod extract;
#[doc(hidden)]
pub mod fuzzing;
mod html;
pub mod listen;
mod openapi;
mod pages;
mod routes;
#[doc(hidden)]
pub mod telemetry;
pub mod tls;
pub mod webhooks;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use bioguard_service::Service;
use tracing::Instrument;

pub use error::{ApiError, ErrorBody};
pub use html::{escape_html, transparency_html};
pub use listen::{HttpLimits, serve};
pub use openapi::openapi_json;
pub use telemetry::MeteredKeys;

/// The default request body limit: 256 KiB, room for a 4096-value embedding in JSON.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The service.
    pub service: Service,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How often this process sweeps expired templates, published with the retention
    /// schedule (`None`: no sweeper runs in this process).
    pub retention_sweep_secs: Option<u64>,
    /// Whether the portal's cookie is marked `Secure` (the service speaks HTTPS itself, or a
    /// proxy does in front of it).
    pub secure_cookies: bool,
    /// The offset from UTC, in minutes, in which pages write times for people (the region the
    /// deployment serves; 0: UTC).
    pub display_offset_minutes: i32,
    /// Timeouts, the connection bound and the per-address limit.
    pub http: HttpLimits,
    /// The per-address buckets of routes without credentials, on this node.
    pub per_ip: std::sync::Arc<bioguard_service::RateLimits<std::net::IpAddr>>,
}

impl AppState {
    /// State with the default body limit.
    pub fn new(service: Service) -> Self {
        Self {
            service,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            retention_sweep_secs: None,
            secure_cookies: false,
            display_offset_minutes: 0,
            http: HttpLimits::default(),
            per_ip: std::sync::Arc::new(bioguard_service::RateLimits::at(
                HttpLimits::default().public_per_ip,
            )),
        }
    }
}

/// The route template a response came from, for the access log.
#[derive(Clone)]
struct RouteTemplate(String);

async fn tag_route(matched: MatchedPath, req: Request, next: Next) -> Response {
    let route = matched.as_str().to_owned();
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(RouteTemplate(route));
    resp
}

async fn access_log(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let id = bioguard_crypto::random_array::<8>()
        .map(|b| bioguard_crypto::hex_encode(&b))
        .unwrap_or_else(|_| "0000000000000000".into());
    let span = tracing::info_span!("request", request_id = %id);
    let mut resp = bioguard_service::with_request_id(id.clone(), next.run(req))
        .instrument(span.clone())
        .await;
    let route = resp
        .extensions()
        .get::<RouteTemplate>()
        .map_or("(no route)", |r| r.0.as_str())
        .to_owned();
    let status = resp.status().as_u16();
    telemetry::request(
        telemetry::method_label(&method),
        if route == "(no route)" {
            "unmatched"
        } else {
            &route
        },
        status,
        start.elapsed().as_secs_f64(),
    );
    span.in_scope(|| {
        tracing::info!(
            %method,
            route,
            status,
            ms = start.elapsed().as_millis() as u64,
            "request"
        );
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// A path that names nothing: a page for browsers (outside `/v1/`), the JSON error for API
/// clients.
async fn not_found(State(st): State<AppState>, req: Request) -> Response {
    let html = !req.uri().path().starts_with("/v1/")
        && req
            .headers()
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    if html {
        pages::not_found_page(req.headers(), &st)
    } else {
        ApiError::route_not_found().into_response()
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        crate::error::ErrorCode::MethodNotAllowed,
        "this endpoint does not accept that method; GET /openapi.json lists the methods",
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        crate::error::ErrorCode::Internal,
        "internal error; the operator can find the detail in the service log",
    )
    .into_response()
}

/// The application router.
pub fn app(state: AppState) -> Router {
    telemetry::install();
    let limit = state.max_body_bytes;
    routes::router()
        .route("/openapi.json", axum::routing::get(openapi::serve))
        .merge(pages::router(state.clone()))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            listen::bound_request,
        ))
        .route_layer(middleware::from_fn(tag_route))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(middleware::from_fn(access_log))
}

/// How long graceful shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
