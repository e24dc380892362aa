//! The OpenAPI document, generated from the handlers' annotations and the body types.

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::dto::{
    CandidateBody, ClientCreatedBody, ClientRequest, ConsentBody, ConsentRequest, DecisionBody,
    EnrolmentBody, ErasureBody, GrantBody, HealthBody, IdentificationBody, IdentifyBatchBody,
    IdentifyBatchRequestBody, IdentifyRequestBody, KeyMatcherBody, PurposeBody, PurposeRequest,
    RetentionBody, RotationBody, SubjectBody, TemplateInfoBody, TemplateRequest, VerifyRequest,
    WithdrawalBody,
};
use crate::error::{ErrorBody, ErrorDetail};
use crate::routes;

/// Declares the errors every operation of a kind can answer, so that clients (and
/// schemathesis) find each status they may meet: bodies can be malformed (400), too large (413)
/// or not JSON (415) or arrive too slowly (408); authenticated calls can be refused (401) or
/// over their rate (429), and calls without credentials over their address's rate (429); any
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
                    add(
                        "408",
                        "The body did not arrive within the body timeout after the headers",
                    );
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
                } else if !matches!(
                    op.operation_id.as_deref(),
                    Some("health" | "live" | "ready")
                ) {
                    add(
                        "429",
                        "Over the rate allowed to one address on routes without credentials; \
                         retry after the seconds in Retry-After",
                    );
                }
                // Every response needs a description (OpenAPI 3.1 requires one); an annotation
                // that gives none gets the status's meaning.
                for (code, response) in &mut op.responses.responses {
                    if let RefOr::T(r) = response
                        && r.description.trim().is_empty()
                    {
                        r.description = describe(code);
                    }
                }
            }
        }
    }
}

/// What a status means, for responses whose annotation gives no description.
fn describe(code: &str) -> String {
    let meaning = match code {
        "200" => "Success",
        "201" => "Created",
        "204" => "Done; no body",
        "400" => "The body is not well-formed JSON",
        "401" => "Missing or invalid credentials",
        "403" => {
            "Refused: the caller lacks a grant or right, or the person's consent, lock or \
                  the purpose's rules forbid it (see `error.code`)"
        }
        "404" => "Nothing by that name (see `error.code`)",
        "409" => "Conflicts with the current state (see `error.code`)",
        "410" => "Expired",
        "422" => "The body or a parameter breaks a rule (`error.field` names it)",
        "423" => "The person has locked the use of their biometrics",
        "429" => "Over the rate; retry after the seconds in Retry-After",
        "503" => "The database or key manager is unavailable; retry after Retry-After",
        other => {
            return axum::http::StatusCode::from_bytes(other.as_bytes())
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("See the body")
                .to_owned();
        }
    };
    meaning.to_owned()
}

struct Servers;

impl Modify for Servers {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        // Relative: the document is served by the service it describes, at that address.
        api.servers = Some(vec![
            utoipa::openapi::ServerBuilder::new()
                .url("/")
                .description(Some(
                    "This service (the address the document was fetched from; \
                     `bioguard serve` listens on 127.0.0.1:8600 by default)",
                ))
                .build(),
        ]);
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
        description = "Consent-gated biometric enrolment and verification over encrypted storage.\n\n\
            Every error is `{\"error\":{\"code\",\"message\",\"field\"?,\"fallback\"?}}` with a \
            code from `ErrorCode`. A method an endpoint does not accept answers 405 \
            (`method_not_allowed`); a path that names no endpoint answers 404 (`not_found`)."
    ),
    paths(
        routes::meta::health, routes::meta::live, routes::meta::ready, routes::meta::metrics, serve, routes::purposes::create_purpose, routes::purposes::list_purposes, routes::purposes::get_purpose, routes::purposes::retire_purpose,
        routes::clients::create_client, routes::clients::list_clients, routes::clients::get_client, routes::subjects::grant_consent, routes::subjects::withdraw_consent, routes::subjects::enroll,
        routes::uses::verify, routes::subjects::subject_summary, routes::subjects::erase_subject,
        routes::purposes::rotate_protection_key, routes::uses::identify, routes::uses::identify_batch,
        routes::audit::audit_key, routes::audit::audit_checkpoint, routes::audit::audit_inclusion,
        routes::audit::audit_consistency, routes::audit::audit_leaves, routes::subjects::subject_history,
        routes::audit::audit_checkpoints, routes::meta::retention_schedule,
        routes::subjects::lock_subject, routes::subjects::unlock_subject, routes::meta::document_keys,
        routes::purposes::publish_notice, routes::purposes::list_notices, routes::subjects::subject_report,
        routes::governance::register_group, routes::governance::get_group, routes::governance::make_proposal, routes::governance::get_proposal,
        routes::governance::approve_proposal, routes::clients::rotate_client_key, routes::clients::register_device,
        routes::clients::issue_challenge, routes::incidents::open_incident, routes::incidents::get_incident,
        routes::incidents::incident_action, routes::meta::transparency, routes::claims::file_claim, routes::claims::get_claim,
        routes::claims::decide_claim, routes::claims::reserve_topup, routes::claims::reserve_balances,
        routes::claims::create_reviewer, routes::purposes::activate_matcher, routes::subjects::issue_portal_link,
        routes::tenants::create_tenant, routes::tenants::list_tenants,
        routes::webhooks::create_webhook, routes::webhooks::own_webhooks, routes::webhooks::list_webhooks, routes::webhooks::get_webhook,
        routes::webhooks::disable_webhook, routes::webhooks::webhook_messages, routes::webhooks::replay_webhook
    ),
    components(schemas(
        ErrorBody, ErrorDetail, crate::error::ErrorCode, crate::dto::enums::Format, PurposeRequest, PurposeBody, KeyMatcherBody, RetentionBody, GrantBody,
        crate::dto::TenantRequest, crate::dto::TenantBody,
        ClientRequest, ClientCreatedBody, ConsentRequest, ConsentBody, WithdrawalBody,
        TemplateRequest, EnrolmentBody, VerifyRequest, DecisionBody, SubjectBody,
        TemplateInfoBody, ErasureBody, HealthBody, IdentifyRequestBody,
        IdentifyBatchRequestBody, IdentificationBody, IdentifyBatchBody, CandidateBody,
        RotationBody, crate::dto::AuditKeyBody, crate::dto::InclusionBody,
        crate::dto::ConsistencyBody, crate::dto::LeavesBody, crate::dto::HistoryBody,
        crate::dto::HistoryEntry, crate::dto::CheckpointsBody, crate::dto::CheckpointEntry,
        crate::dto::ScheduleBody, crate::dto::ScheduleEntry, crate::dto::LockBody,
        crate::dto::NoticeRequest, crate::dto::NoticeBody, crate::dto::GroupBody,
        crate::dto::MemberBody, crate::dto::PasskeyBody, crate::dto::ProofBody,
        crate::dto::PasskeyAssertionBody, crate::dto::ProposalRequest, crate::dto::ProposalBody,
        crate::dto::ApprovalRequest, crate::dto::ApprovalBody, crate::dto::CaptureBody,
        crate::dto::DeviceRequest, crate::dto::ChallengeRequest, crate::dto::RiskBody,
        crate::dto::IncidentRequest, crate::dto::IncidentActionRequest, crate::dto::IncidentBody,
        crate::dto::ClaimRequest, crate::dto::ClaimDecisionRequest, crate::dto::TopupRequest,
        crate::dto::ReviewerRequest, crate::dto::FairnessPolicyBody,
        crate::dto::FairnessStateBody, crate::dto::MatcherRequest, crate::dto::MatcherBody,
        crate::dto::PortalLinkRequest, crate::dto::PortalLinkBody,
        crate::dto::WebhookRequest, crate::dto::WebhookBody, crate::dto::WebhookCreatedBody,
        crate::dto::WebhooksBody, crate::dto::WebhookMessageBody, crate::dto::WebhookMessagesBody,
        crate::dto::ReplayRequest, crate::dto::ReplayBody,
        crate::dto::enums::WebhookEvent, crate::dto::enums::DeliveryState
    )),
    modifiers(&Security, &Servers, &CommonErrors)
)]
struct ApiDoc;

/// The OpenAPI 3 description of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", operation_id = "openapi",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object, content_type = "application/json")))]
pub(crate) async fn serve() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_json(),
    )
}

/// The OpenAPI document as JSON text, built once.
pub fn openapi_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc.to_pretty_json().unwrap_or_else(|_| "{}".to_owned())
    })
}
