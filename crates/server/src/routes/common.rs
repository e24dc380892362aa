//! What the handlers share: the result type, the report body limit, and small readers of
//! paths, queries and headers.

use std::collections::HashMap;

use bioguard_core::{PurposeName, SubjectRef, ValidationError};

use crate::ApiError;

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// The body limit of the endpoints that take a fairness report: the report's own limit and
/// room for the rest of the request.
pub(crate) const REPORT_BODY_BYTES: usize = bioguard_service::MAX_REPORT_BYTES + 64 * 1024;

/// A subject and a purpose as a client names them: the purpose by its name inside the
/// client's tenant (never a qualified id).
pub(crate) fn subject_and_purpose(
    subject: &str,
    purpose: &str,
) -> Result<(SubjectRef, PurposeName), ValidationError> {
    Ok((SubjectRef::parse(subject)?, PurposeName::parse(purpose)?))
}

/// The bearer token of a request, or "".
pub(crate) fn bearer_of(headers: &axum::http::HeaderMap) -> &str {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
}

/// A whole-number query parameter, or a 422 naming it.
pub(crate) fn param(q: &HashMap<String, String>, name: &'static str) -> Result<u64, ApiError> {
    q.get(name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::from(ValidationError::new(name, "a whole number is required")))
}

/// The `?tenant=` narrowing of a list, parsed.
pub(crate) fn tenant_query(
    q: &HashMap<String, String>,
) -> Result<Option<bioguard_core::TenantId>, ApiError> {
    Ok(q.get("tenant")
        .map(|t| bioguard_core::TenantId::parse(t))
        .transpose()?)
}

pub(crate) fn query(
    q: Result<
        axum::extract::Query<HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<HashMap<String, String>, ApiError> {
    q.map(|axum::extract::Query(m)| m)
        .map_err(|_| ApiError::invalid("the query string is not valid"))
}
