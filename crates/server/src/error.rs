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

/// A stable, machine-readable reason code: every code an error body can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 401: The credentials are missing or invalid.
    Unauthenticated,
    /// 422: The body or a parameter breaks a rule (`field` names it).
    InvalidRequest,
    /// 400: The body is not well-formed JSON.
    MalformedJson,
    /// 415: The body is not sent as `application/json`.
    UnsupportedMediaType,
    /// 413: The body is larger than the limit.
    BodyTooLarge,
    /// 408: The body did not arrive in time.
    BodyTimeout,
    /// 404: No such endpoint.
    NotFound,
    /// 405: The endpoint does not accept that method.
    MethodNotAllowed,
    /// 429: Over the client's or the address's rate.
    RateLimited,
    /// 404: Purpose not found.
    PurposeNotFound,
    /// 404: Tenant not found.
    TenantNotFound,
    /// 404: Subject not found.
    SubjectNotFound,
    /// 404: Client not found.
    ClientNotFound,
    /// 404: Webhook endpoint or message not found.
    WebhookNotFound,
    /// 404: Incident not found.
    IncidentNotFound,
    /// 404: Decision not found.
    DecisionNotFound,
    /// 404: Claim not found.
    ClaimNotFound,
    /// 404: Proposal not found.
    ProposalNotFound,
    /// 404: Consent not found.
    ConsentNotFound,
    /// 404: Nothing enrolled: offer the non-biometric alternative.
    NotEnrolled,
    /// 403: The client lacks the subject right.
    NoRight,
    /// 403: The client has no grant for the operation.
    NoGrant,
    /// 403: Lock held.
    LockHeld,
    /// 403: No live consent: offer the non-biometric alternative.
    ConsentRequired,
    /// 403: The notice changed: ask again.
    ReconsentRequired,
    /// 403: The purpose needs a signed capture.
    CaptureRequired,
    /// 403: The capture's device is not registered to the client.
    UnknownDevice,
    /// 403: The capture's signature does not verify.
    BadCaptureSignature,
    /// 403: The challenge was not issued to this client for this purpose.
    ChallengeUnknown,
    /// 403: The challenge has expired.
    ChallengeExpired,
    /// 403: The challenge was used already (a replayed capture).
    ChallengeReused,
    /// 403: The capture's liveness is below the purpose's minimum.
    LowLiveness,
    /// 403: The capture was refused.
    CaptureRefused,
    /// 403: Too many failed attempts: locked out for a while.
    AttemptsExceeded,
    /// 403: The change needs a risk-group proposal.
    QuorumRequired,
    /// 403: Not a member.
    NotAMember,
    /// 409: A passkey's counter did not advance (a replay or a cloned key).
    PasskeyReplayed,
    /// 403: Portal link invalid.
    PortalLinkInvalid,
    /// 403: Client suspended.
    ClientSuspended,
    /// 403: The purpose does not allow the operation.
    OperationNotAllowed,
    /// 423: The person locked the use of their biometrics.
    BiometricsLocked,
    /// 409: No risk group.
    NoRiskGroup,
    /// 409: The purpose is retired: no new consents or enrolments.
    PurposeRetired,
    /// 409: Reserve insufficient.
    ReserveInsufficient,
    /// 409: Proposal closed.
    ProposalClosed,
    /// 409: Notice outdated.
    NoticeOutdated,
    /// 409: Reenrolment required.
    ReenrolmentRequired,
    /// 409: Conflict.
    Conflict,
    /// 410: Proposal expired.
    ProposalExpired,
    /// 422: The fairness report does not pass the purpose's gate.
    FairnessGate,
    /// 422: Gallery full.
    GalleryFull,
    /// 422: Gallery too large.
    GalleryTooLarge,
    /// 500: Stored data failed its integrity check.
    IntegrityFailure,
    /// 500: Internal.
    Internal,
    /// 503: The database or key manager is unavailable.
    Unavailable,
    /// 507: The disk is full; nothing was changed.
    StorageFull,
}

impl ErrorCode {
    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidRequest => "invalid_request",
            Self::MalformedJson => "malformed_json",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::BodyTooLarge => "body_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RateLimited => "rate_limited",
            Self::PurposeNotFound => "purpose_not_found",
            Self::TenantNotFound => "tenant_not_found",
            Self::SubjectNotFound => "subject_not_found",
            Self::ClientNotFound => "client_not_found",
            Self::WebhookNotFound => "webhook_not_found",
            Self::IncidentNotFound => "incident_not_found",
            Self::DecisionNotFound => "decision_not_found",
            Self::ClaimNotFound => "claim_not_found",
            Self::ProposalNotFound => "proposal_not_found",
            Self::ConsentNotFound => "consent_not_found",
            Self::NotEnrolled => "not_enrolled",
            Self::NoRight => "no_right",
            Self::NoGrant => "no_grant",
            Self::LockHeld => "lock_held",
            Self::ConsentRequired => "consent_required",
            Self::ReconsentRequired => "reconsent_required",
            Self::CaptureRequired => "capture_required",
            Self::UnknownDevice => "unknown_device",
            Self::BadCaptureSignature => "bad_capture_signature",
            Self::ChallengeUnknown => "challenge_unknown",
            Self::ChallengeExpired => "challenge_expired",
            Self::ChallengeReused => "challenge_reused",
            Self::LowLiveness => "low_liveness",
            Self::CaptureRefused => "capture_refused",
            Self::AttemptsExceeded => "attempts_exceeded",
            Self::QuorumRequired => "quorum_required",
            Self::NotAMember => "not_a_member",
            Self::PasskeyReplayed => "passkey_replayed",
            Self::PortalLinkInvalid => "portal_link_invalid",
            Self::ClientSuspended => "client_suspended",
            Self::OperationNotAllowed => "operation_not_allowed",
            Self::BiometricsLocked => "biometrics_locked",
            Self::NoRiskGroup => "no_risk_group",
            Self::PurposeRetired => "purpose_retired",
            Self::ReserveInsufficient => "reserve_insufficient",
            Self::ProposalClosed => "proposal_closed",
            Self::NoticeOutdated => "notice_outdated",
            Self::ReenrolmentRequired => "reenrolment_required",
            Self::Conflict => "conflict",
            Self::ProposalExpired => "proposal_expired",
            Self::FairnessGate => "fairness_gate",
            Self::GalleryFull => "gallery_full",
            Self::GalleryTooLarge => "gallery_too_large",
            Self::IntegrityFailure => "integrity_failure",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::StorageFull => "storage_full",
        }
    }

    /// The code of a capture refusal the service names by its reason.
    fn capture(reason: &str) -> Self {
        match reason {
            "capture_required" => Self::CaptureRequired,
            "unknown_device" => Self::UnknownDevice,
            "bad_capture_signature" => Self::BadCaptureSignature,
            "challenge_unknown" => Self::ChallengeUnknown,
            "challenge_expired" => Self::ChallengeExpired,
            "challenge_reused" => Self::ChallengeReused,
            "low_liveness" => Self::LowLiveness,
            _ => Self::CaptureRefused,
        }
    }
}

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
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
    code: ErrorCode,
    /// What happened and what to do, for people.
    message: String,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
    /// `"required"` when the relying party must offer its non-biometric alternative.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::dto::enums::Required>)]
    fallback: Option<&'static str>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
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
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::MalformedJson, message)
    }

    /// 429: the caller's address made more requests to routes without credentials than
    /// allowed; retry after `secs`.
    pub fn rate_limited_ip(secs: u64) -> Self {
        Self {
            retry_after: Some(secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                format!("too many requests from this address; retry in {secs} s"),
            )
        }
    }

    /// 422: the request is well-formed but breaks a rule.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidRequest,
            message,
        )
    }

    /// 404 for a path that names no route.
    pub fn route_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
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
            ServiceError::Unauthenticated => {
                Self::new(S::UNAUTHORIZED, ErrorCode::Unauthenticated, msg)
            }
            ServiceError::Invalid(v) => Self {
                field: Some(v.field()),
                ..Self::invalid(v.to_string())
            },
            ServiceError::PurposeNotFound => {
                Self::new(S::NOT_FOUND, ErrorCode::PurposeNotFound, msg)
            }
            ServiceError::PurposeRetired => Self {
                fallback: true,
                ..Self::new(S::CONFLICT, ErrorCode::PurposeRetired, msg)
            },
            ServiceError::TenantNotFound => Self::new(S::NOT_FOUND, ErrorCode::TenantNotFound, msg),
            ServiceError::SubjectNotFound => {
                Self::new(S::NOT_FOUND, ErrorCode::SubjectNotFound, msg)
            }
            ServiceError::NoRight(_) => Self::new(S::FORBIDDEN, ErrorCode::NoRight, msg),
            ServiceError::LockHeld(_) => Self::new(S::FORBIDDEN, ErrorCode::LockHeld, msg),
            ServiceError::NoGrant(_) | ServiceError::NoGrantForPurpose => {
                Self::new(S::FORBIDDEN, ErrorCode::NoGrant, msg)
            }
            ServiceError::ConsentRequired => Self {
                fallback: true,
                ..Self::new(S::FORBIDDEN, ErrorCode::ConsentRequired, msg)
            },
            // Nothing enrolled (never, withdrawn, or deleted under the retention schedule):
            // the relying party must offer its non-biometric method.
            ServiceError::NotEnrolled => Self {
                fallback: true,
                ..Self::new(S::NOT_FOUND, ErrorCode::NotEnrolled, msg)
            },
            ServiceError::CaptureRefused(code) => {
                Self::new(S::FORBIDDEN, ErrorCode::capture(code), msg)
            }
            ServiceError::AttemptsExceeded(secs) => Self {
                fallback: true,
                retry_after: Some(secs),
                ..Self::new(S::FORBIDDEN, ErrorCode::AttemptsExceeded, msg)
            },
            ServiceError::RateLimited(secs) => Self {
                retry_after: Some(secs),
                ..Self::new(S::TOO_MANY_REQUESTS, ErrorCode::RateLimited, msg)
            },
            ServiceError::QuorumRequired => Self::new(S::FORBIDDEN, ErrorCode::QuorumRequired, msg),
            ServiceError::NoRiskGroup => Self::new(S::CONFLICT, ErrorCode::NoRiskGroup, msg),
            ServiceError::PortalLinkInvalid => {
                Self::new(S::FORBIDDEN, ErrorCode::PortalLinkInvalid, msg)
            }
            ServiceError::FairnessGate { .. } => {
                Self::new(S::UNPROCESSABLE_ENTITY, ErrorCode::FairnessGate, msg)
            }
            ServiceError::ClientSuspended => {
                Self::new(S::FORBIDDEN, ErrorCode::ClientSuspended, msg)
            }
            ServiceError::IncidentNotFound => {
                Self::new(S::NOT_FOUND, ErrorCode::IncidentNotFound, msg)
            }
            ServiceError::DecisionNotFound => {
                Self::new(S::NOT_FOUND, ErrorCode::DecisionNotFound, msg)
            }
            ServiceError::ClaimNotFound => Self::new(S::NOT_FOUND, ErrorCode::ClaimNotFound, msg),
            ServiceError::ReserveInsufficient => {
                Self::new(S::CONFLICT, ErrorCode::ReserveInsufficient, msg)
            }
            ServiceError::ClientNotFound => Self::new(S::NOT_FOUND, ErrorCode::ClientNotFound, msg),
            ServiceError::WebhookNotFound => {
                Self::new(S::NOT_FOUND, ErrorCode::WebhookNotFound, msg)
            }
            ServiceError::ProposalNotFound => {
                Self::new(S::NOT_FOUND, ErrorCode::ProposalNotFound, msg)
            }
            ServiceError::ProposalClosed(_) => {
                Self::new(S::CONFLICT, ErrorCode::ProposalClosed, msg)
            }
            ServiceError::ProposalExpired => Self::new(S::GONE, ErrorCode::ProposalExpired, msg),
            ServiceError::NotAMember => Self::new(S::FORBIDDEN, ErrorCode::NotAMember, msg),
            ServiceError::PasskeyReplayed => {
                Self::new(S::CONFLICT, ErrorCode::PasskeyReplayed, msg)
            }
            ServiceError::NoticeOutdated(_) => Self {
                field: Some("notice_version"),
                ..Self::new(S::CONFLICT, ErrorCode::NoticeOutdated, msg)
            },
            ServiceError::ReconsentRequired => Self {
                fallback: true,
                ..Self::new(S::FORBIDDEN, ErrorCode::ReconsentRequired, msg)
            },
            ServiceError::Locked => Self {
                fallback: true,
                ..Self::new(S::LOCKED, ErrorCode::BiometricsLocked, msg)
            },
            ServiceError::ConsentNotFound => {
                Self::new(S::NOT_FOUND, ErrorCode::ConsentNotFound, msg)
            }
            ServiceError::ReenrolmentRequired => Self {
                fallback: true,
                ..Self::new(S::CONFLICT, ErrorCode::ReenrolmentRequired, msg)
            },
            ServiceError::OperationNotAllowed(_) => {
                Self::new(S::FORBIDDEN, ErrorCode::OperationNotAllowed, msg)
            }
            ServiceError::GalleryFull(_) => Self {
                field: Some("galleries"),
                ..Self::new(S::UNPROCESSABLE_ENTITY, ErrorCode::GalleryFull, msg)
            },
            ServiceError::GalleryTooLarge { .. } => Self {
                field: Some("gallery"),
                ..Self::new(S::UNPROCESSABLE_ENTITY, ErrorCode::GalleryTooLarge, msg)
            },
            ServiceError::Conflict(_) => Self::new(S::CONFLICT, ErrorCode::Conflict, msg),
            ServiceError::Integrity => {
                Self::new(S::INTERNAL_SERVER_ERROR, ErrorCode::IntegrityFailure, msg)
            }
            ServiceError::Unavailable(m) => {
                Self::new(S::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, m)
            }
            ServiceError::StorageFull => {
                Self::new(S::INSUFFICIENT_STORAGE, ErrorCode::StorageFull, msg)
            }
            other => {
                tracing::error!(error = %other, "internal error");
                Self::new(
                    S::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
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
        crate::telemetry::refusal(self.code.as_str());
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

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_documented_code_is_sent_as_its_name() {
        let doc: serde_json::Value =
            serde_json::from_str(crate::openapi_json()).expect("the document is JSON");
        let listed = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .expect("ErrorCode lists its values");
        assert!(listed.len() > 40, "{} codes", listed.len());
        for name in listed {
            let code: ErrorCode = serde_json::from_value(name.clone()).expect("a code");
            assert_eq!(name, code.as_str(), "{code:?}");
            assert_eq!(serde_json::to_value(code).expect("serialise"), *name);
        }
    }

    #[test]
    fn capture_refusals_keep_their_reason_and_an_unknown_one_is_a_generic_refusal() {
        for reason in [
            "capture_required",
            "unknown_device",
            "bad_capture_signature",
            "challenge_unknown",
            "challenge_expired",
            "challenge_reused",
            "low_liveness",
        ] {
            assert_eq!(ErrorCode::capture(reason).as_str(), reason);
        }
        assert_eq!(ErrorCode::capture("elsewhere"), ErrorCode::CaptureRefused);
    }
}
