//! One error type for every response that is not a success.
//!
//! Every failure, whether from the service, an extractor or the router, becomes
//! `{"error":{"code":"...","message":"..."}}` with a fitting status. Client mistakes carry
//! their explanation; internal failures carry a generic message and the detail goes to the
//! log. Messages never contain subject identifiers, embeddings, tokens or keys.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bioguard_service::ServiceError;
use serde::Serialize;
use utoipa::ToSchema;

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<&'static str>,
    fallback: bool,
    retry_after: Option<u64>,
}

/// The JSON body of every error.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// The error itself.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable reason code.
    #[schema(example = "consent_required")]
    code: &'static str,
    /// What happened and what to do, for people.
    message: String,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
    /// `"required"` when the relying party must offer its non-biometric alternative.
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback: Option<&'static str>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            fallback: false,
            retry_after: None,
        }
    }

    /// 400: the body is not well-formed JSON.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", message)
    }

    /// 429: the caller's address made more requests to routes without credentials than
    /// allowed; retry after `secs`.
    pub fn rate_limited_ip(secs: u64) -> Self {
        Self {
            retry_after: Some(secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests from this address; retry in {secs} s"),
            )
        }
    }

    /// 422: the request is well-formed but breaks a rule.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }

    /// 404 for a path that names no route.
    pub fn route_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint; GET /openapi.json lists them",
        )
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use StatusCode as S;
        let msg = e.to_string();
        match e {
            ServiceError::Unauthenticated => Self::new(S::UNAUTHORIZED, "unauthenticated", msg),
            ServiceError::Invalid(v) => Self {
                field: Some(v.field()),
                ..Self::invalid(v.to_string())
            },
            ServiceError::PurposeNotFound => Self::new(S::NOT_FOUND, "purpose_not_found", msg),
            ServiceError::TenantNotFound => Self::new(S::NOT_FOUND, "tenant_not_found", msg),
            ServiceError::SubjectNotFound => Self::new(S::NOT_FOUND, "subject_not_found", msg),
            ServiceError::NoRight(_) => Self::new(S::FORBIDDEN, "no_right", msg),
            ServiceError::LockHeld(_) => Self::new(S::FORBIDDEN, "lock_held", msg),
            ServiceError::NoGrant(_) | ServiceError::NoGrantForPurpose => {
                Self::new(S::FORBIDDEN, "no_grant", msg)
            }
            ServiceError::ConsentRequired => Self {
                fallback: true,
                ..Self::new(S::FORBIDDEN, "consent_required", msg)
            },
            // Nothing enrolled (never, withdrawn, or deleted under the retention schedule):
            // the relying party must offer its non-biometric method.
            ServiceError::NotEnrolled => Self {
                fallback: true,
                ..Self::new(S::NOT_FOUND, "not_enrolled", msg)
            },
            ServiceError::CaptureRefused(code) => Self::new(S::FORBIDDEN, code, msg),
            ServiceError::AttemptsExceeded(secs) => Self {
                fallback: true,
                retry_after: Some(secs),
                ..Self::new(S::FORBIDDEN, "attempts_exceeded", msg)
            },
            ServiceError::RateLimited(secs) => Self {
                retry_after: Some(secs),
                ..Self::new(S::TOO_MANY_REQUESTS, "rate_limited", msg)
            },
            ServiceError::QuorumRequired => Self::new(S::FORBIDDEN, "quorum_required", msg),
            ServiceError::NoRiskGroup => Self::new(S::CONFLICT, "no_risk_group", msg),
            ServiceError::PortalLinkInvalid => Self::new(S::FORBIDDEN, "portal_link_invalid", msg),
            ServiceError::FairnessGate { .. } => {
                Self::new(S::UNPROCESSABLE_ENTITY, "fairness_gate", msg)
            }
            ServiceError::ClientSuspended => Self::new(S::FORBIDDEN, "client_suspended", msg),
            ServiceError::IncidentNotFound => Self::new(S::NOT_FOUND, "incident_not_found", msg),
            ServiceError::DecisionNotFound => Self::new(S::NOT_FOUND, "decision_not_found", msg),
            ServiceError::ClaimNotFound => Self::new(S::NOT_FOUND, "claim_not_found", msg),
            ServiceError::ReserveInsufficient => {
                Self::new(S::CONFLICT, "reserve_insufficient", msg)
            }
            ServiceError::ClientNotFound => Self::new(S::NOT_FOUND, "client_not_found", msg),
            ServiceError::ProposalNotFound => Self::new(S::NOT_FOUND, "proposal_not_found", msg),
            ServiceError::ProposalClosed(_) => Self::new(S::CONFLICT, "proposal_closed", msg),
            ServiceError::ProposalExpired => Self::new(S::GONE, "proposal_expired", msg),
            ServiceError::NotAMember => Self::new(S::FORBIDDEN, "not_a_member", msg),
            ServiceError::NoticeOutdated(_) => Self {
                field: Some("notice_version"),
                ..Self::new(S::CONFLICT, "notice_outdated", msg)
            },
            ServiceError::ReconsentRequired => Self {
                fallback: true,
                ..Self::new(S::FORBIDDEN, "reconsent_required", msg)
            },
            ServiceError::Locked => Self {
                fallback: true,
                ..Self::new(S::LOCKED, "biometrics_locked", msg)
            },
            ServiceError::ConsentNotFound => Self::new(S::NOT_FOUND, "consent_not_found", msg),
            ServiceError::ReenrolmentRequired => Self {
                fallback: true,
                ..Self::new(S::CONFLICT, "reenrolment_required", msg)
            },
            ServiceError::OperationNotAllowed(_) => {
                Self::new(S::FORBIDDEN, "operation_not_allowed", msg)
            }
            ServiceError::GalleryFull(_) => Self {
                field: Some("galleries"),
                ..Self::new(S::UNPROCESSABLE_ENTITY, "gallery_full", msg)
            },
            ServiceError::GalleryTooLarge { .. } => Self {
                field: Some("gallery"),
                ..Self::new(S::UNPROCESSABLE_ENTITY, "gallery_too_large", msg)
            },
            ServiceError::Conflict(_) => Self::new(S::CONFLICT, "conflict", msg),
            ServiceError::Integrity => {
                Self::new(S::INTERNAL_SERVER_ERROR, "integrity_failure", msg)
            }
            ServiceError::Unavailable(m) => Self::new(S::SERVICE_UNAVAILABLE, "unavailable", m),
            ServiceError::StorageFull => Self::new(S::INSUFFICIENT_STORAGE, "storage_full", msg),
            other => {
                tracing::error!(error = %other, "internal error");
                Self::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the operator can find the detail in the service log",
                )
            }
        }
    }
}

impl From<bioguard_core::ValidationError> for ApiError {
    fn from(e: bioguard_core::ValidationError) -> Self {
        ServiceError::Invalid(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
                fallback: self.fallback.then_some("required"),
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        let headers = resp.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        resp
    }
}
