//! Extractors: credentials, JSON bodies and path segments, each failing with an [`ApiError`].
//!
//! Handlers list the credential extractor first, so an unauthenticated request is refused
//! before its body is read or parsed, and its mistakes are never explained to it. Verification
//! is the one exception to the order, not to the rule: it checks its key in the same database
//! read as the rest (its hot path), so it reads the body first, and answers any mistake in it
//! only after the key has been checked on its own.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use bioguard_service::{Admin, AuthenticatedClient};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use zeroize::{Zeroize, Zeroizing};

use crate::{ApiError, AppState};

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A request authenticated with a client API key.
pub struct ClientAuth(pub AuthenticatedClient);

impl FromRequestParts<AppState> for ClientAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // A missing header goes through the same check (and failure count) as a wrong key.
        let token = bearer(parts).unwrap_or("");
        Ok(Self(state.service.authenticate_client(token).await?))
    }
}

/// Who is asking, on an endpoint open to everyone that answers clients and the operator
/// more narrowly or more fully: a client (a key starting `bgc_`), the operator (any other
/// bearer token), or anyone (no credentials). Credentials that are given must be valid.
pub enum Caller {
    /// An authenticated client.
    Client(AuthenticatedClient),
    /// The operator.
    Admin(Admin),
    /// No credentials.
    Anyone,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match bearer(parts) {
            None => Ok(Self::Anyone),
            Some(t) if t.starts_with("bgc_") => {
                Ok(Self::Client(state.service.authenticate_client(t).await?))
            }
            Some(t) => Ok(Self::Admin(state.service.authenticate_admin(t).await?)),
        }
    }
}

/// A client API key not checked yet: for verification, which checks it in the same database
/// read as everything else it needs. Its handler must still refuse an unauthenticated request
/// before explaining any mistake in it (see `routes::verify`).
pub struct ClientKey(pub Zeroizing<String>);

impl FromRequestParts<AppState> for ClientKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        Ok(Self(Zeroizing::new(bearer(parts).unwrap_or("").to_owned())))
    }
}

/// A request authenticated with the admin token.
pub struct AdminAuth(pub Admin);

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).unwrap_or("");
        Ok(Self(state.service.authenticate_admin(token).await?))
    }
}

/// A JSON body, read up to the configured limit (413 beyond it), required to be
/// `application/json` (415 otherwise), parsed strictly (400 for malformed JSON, 422 for a
/// body that does not fit the schema). The raw bytes, which may hold an embedding, are
/// overwritten with zeros as soon as they are parsed. `MIN_LIMIT` raises the limit for
/// endpoints that take large documents (fairness reports).
pub struct JsonBody<T, const MIN_LIMIT: usize = 0>(pub T);

impl<T: DeserializeOwned, const MIN_LIMIT: usize> FromRequest<AppState> for JsonBody<T, MIN_LIMIT> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.max_body_bytes.max(MIN_LIMIT);
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                crate::error::ErrorCode::UnsupportedMediaType,
                "send the body as JSON with `content-type: application/json`",
            ));
        }
        let too_large = || {
            ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                crate::error::ErrorCode::BodyTooLarge,
                format!("the request body exceeds the limit of {limit} bytes"),
            )
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut body = req.into_body();
        let mut buf = Zeroizing::new(Vec::with_capacity(declared.unwrap_or(1024).min(limit)));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| body_read_error(&e))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(too_large());
                }
                buf.extend_from_slice(&data);
                if let Ok(mut owned) = data.try_into_mut() {
                    owned.as_mut().zeroize();
                }
            }
        }
        match serde_json::from_slice::<T>(&buf) {
            Ok(v) => Ok(Self(v)),
            Err(e) => Err(json_error(&e)),
        }
    }
}

/// Turns a serde_json error into 400 or 422 without repeating any value from the body:
/// serde's messages quote the offending value ("invalid type: floating point `0.12`"), and
/// that value may be part of an embedding.
pub(crate) fn json_error(e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let at = format!("line {} column {}", e.line(), e.column());
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::malformed(format!("the body is not well-formed JSON (at {at})"))
        }
        Category::Data => {
            let raw = e.to_string();
            let raw = raw
                .rsplit_once(" at line ")
                .map_or(raw.as_str(), |(m, _)| m);
            let message = if raw.starts_with("invalid type") || raw.starts_with("invalid value") {
                match raw.split_once(", expected ") {
                    Some((_, expected)) => {
                        format!("a value has the wrong type or range; expected {expected}")
                    }
                    None => "a value has the wrong type or range".to_owned(),
                }
            } else {
                // Unknown or missing fields and unknown variants: these name fields, not values.
                raw.to_owned()
            };
            ApiError::invalid(format!("{message} (at {at})"))
        }
    }
}

/// Reads path segments, turning a segment that is not valid UTF-8 into a 422.
pub struct Segments<T>(pub T);

impl<T> FromRequestParts<AppState> for Segments<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(_) => Err(ApiError::invalid(
                "a path segment is not valid UTF-8 after percent-decoding",
            )),
        }
    }
}

/// The error a body past its deadline gives its reader.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub(crate) struct BodyTimeout;

/// The status a body read error answers: 408 past the deadline, 400 otherwise.
pub(crate) fn body_read_error(e: &axum::Error) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut timed_out = false;
    while let Some(c) = cause {
        timed_out |= c.is::<BodyTimeout>();
        cause = c.source();
    }
    if timed_out {
        ApiError::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            crate::error::ErrorCode::BodyTimeout,
            "the request body did not arrive in time; send it at once after the headers",
        )
    } else {
        ApiError::malformed("the request body could not be read")
    }
}
