//! The OpenAPI document, generated from the handlers' annotations and the body types.

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::dto::{
    CandidateBody, ClientCreatedBody, ClientRequest, ConsentBody, ConsentRequest, DecisionBody,
    EnrolmentBody, ErasureBody, GrantBody, HealthBody, IdentificationBody, IdentifyBatchBody,
    IdentifyBatchRequestBody, IdentifyRequestBody, PurposeBody, PurposeRequest, RetentionBody,
    RotationBody, SubjectBody, TemplateInfoBody, TemplateRequest, VerifyRequest, WithdrawalBody,
};
use crate::error::{ErrorBody, ErrorDetail};
use crate::routes;

/// Declares the errors every operation of a kind can answer, so that clients (and
/// schemathesis) find each status they may meet: bodies can be malformed (400), too large (413)
/// or not JSON (415); authenticated calls can be refused (401) or over their rate (429); any
/// call can meet an unavailable database or key manager (503) and a full disk (507).
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |what: &str| -> RefOr<utoipa::openapi::Response> {
            RefOr::T(
                ResponseBuilder::new()
                    .description(what)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in api.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let mut add = |code: &str, what: &str| {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error(what));
                };
                add(
                    "503",
                    "The database or key manager is unavailable; retry after the seconds in Retry-After",
                );
                add("507", "The database's disk is full; nothing was changed");
                if op.request_body.is_some() {
                    add("400", "The body is not well-formed JSON");
                    add("413", "The body is larger than allowed");
                    add("415", "The body is not sent as application/json");
                    add("422", "The body does not fit the schema or breaks a rule");
                }
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add("401", "Missing or invalid credentials");
                    add(
                        "429",
                        "Over the client's rate; retry after the seconds in Retry-After",
                    );
                }
            }
        }
    }
}

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        for (name, what) in [
            ("admin_token", "The admin token from <data-dir>/admin.token"),
            (
                "api_key",
                "A client API key, as returned by POST /v1/clients",
            ),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(what))
                        .build(),
                ),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "bioguard",
        description = "Consent-gated biometric enrolment and verification over encrypted storage."
    ),
    paths(
        routes::health, routes::openapi, routes::create_purpose, routes::list_purposes,
        routes::create_client, routes::grant_consent, routes::withdraw_consent, routes::enroll,
        routes::verify, routes::subject_summary, routes::erase_subject,
        routes::rotate_protection_key, routes::identify, routes::identify_batch,
        routes::audit_key, routes::audit_checkpoint, routes::audit_inclusion,
        routes::audit_consistency, routes::audit_leaves, routes::subject_history,
        routes::audit_checkpoints, routes::retention_schedule,
        routes::lock_subject, routes::unlock_subject, routes::document_keys,
        routes::publish_notice, routes::list_notices, routes::subject_report,
        routes::register_group, routes::get_group, routes::make_proposal, routes::get_proposal,
        routes::approve_proposal, routes::rotate_client_key, routes::register_device,
        routes::issue_challenge, routes::open_incident, routes::get_incident,
        routes::incident_action, routes::transparency, routes::file_claim, routes::get_claim,
        routes::decide_claim, routes::reserve_topup, routes::reserve_balances,
        routes::create_reviewer, routes::activate_matcher, routes::issue_portal_link
    ),
    components(schemas(
        ErrorBody, ErrorDetail, PurposeRequest, PurposeBody, RetentionBody, GrantBody,
        ClientRequest, ClientCreatedBody, ConsentRequest, ConsentBody, WithdrawalBody,
        TemplateRequest, EnrolmentBody, VerifyRequest, DecisionBody, SubjectBody,
        TemplateInfoBody, ErasureBody, HealthBody, IdentifyRequestBody,
        IdentifyBatchRequestBody, IdentificationBody, IdentifyBatchBody, CandidateBody,
        RotationBody, crate::dto::AuditKeyBody, crate::dto::InclusionBody,
        crate::dto::ConsistencyBody, crate::dto::LeavesBody, crate::dto::HistoryBody,
        crate::dto::HistoryEntry, crate::dto::CheckpointsBody, crate::dto::CheckpointEntry,
        crate::dto::ScheduleBody, crate::dto::ScheduleEntry, crate::dto::LockBody,
        crate::dto::NoticeRequest, crate::dto::NoticeBody, crate::dto::GroupBody,
        crate::dto::MemberBody, crate::dto::ProposalRequest, crate::dto::ProposalBody,
        crate::dto::ApprovalRequest, crate::dto::ApprovalBody, crate::dto::CaptureBody,
        crate::dto::DeviceRequest, crate::dto::ChallengeRequest, crate::dto::RiskBody,
        crate::dto::IncidentRequest, crate::dto::IncidentActionRequest, crate::dto::IncidentBody,
        crate::dto::ClaimRequest, crate::dto::ClaimDecisionRequest, crate::dto::TopupRequest,
        crate::dto::ReviewerRequest, crate::dto::FairnessPolicyBody,
        crate::dto::FairnessStateBody, crate::dto::MatcherRequest, crate::dto::MatcherBody,
        crate::dto::PortalLinkRequest, crate::dto::PortalLinkBody
    )),
    modifiers(&Security, &CommonErrors)
)]
struct ApiDoc;

/// The OpenAPI document as JSON text, built once.
pub fn openapi_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc.to_pretty_json().unwrap_or_else(|_| "{}".to_owned())
    })
}
