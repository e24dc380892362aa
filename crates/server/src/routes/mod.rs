//! Handlers, one per endpoint of the contract in `docs/api.md`, one file per concern.

pub(crate) mod audit;
pub(crate) mod claims;
pub(crate) mod clients;
mod common;
pub(crate) mod governance;
pub(crate) mod incidents;
pub(crate) mod meta;
pub(crate) mod purposes;
pub(crate) mod subjects;
pub(crate) mod tenants;
pub(crate) mod uses;
pub(crate) mod webhooks;

use axum::Router;
use axum::routing::{get, post, put};

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(meta::health))
        .route("/livez", get(meta::live))
        .route("/metrics", get(meta::metrics))
        .route("/readyz", get(meta::ready))
        .route(
            "/v1/purposes",
            post(purposes::create_purpose).get(purposes::list_purposes),
        )
        .route(
            "/v1/purposes/{purpose}/protection-key",
            post(purposes::rotate_protection_key),
        )
        .route(
            "/v1/purposes/{purpose}/matcher",
            post(purposes::activate_matcher),
        )
        .route("/v1/retention-schedule", get(meta::retention_schedule))
        .route("/v1/keys", get(meta::document_keys))
        .route("/v1/transparency", get(meta::transparency))
        .route("/v1/devices", post(clients::register_device))
        .route("/v1/claims", post(claims::file_claim))
        .route("/v1/claims/{id}", get(claims::get_claim))
        .route("/v1/claims/{id}/decision", post(claims::decide_claim))
        .route("/v1/reserve", get(claims::reserve_balances))
        .route("/v1/reviewers", post(claims::create_reviewer))
        .route("/v1/reserve/topups", post(claims::reserve_topup))
        .route("/v1/incidents", post(incidents::open_incident))
        .route("/v1/incidents/{id}", get(incidents::get_incident))
        .route(
            "/v1/incidents/{id}/actions",
            post(incidents::incident_action),
        )
        .route("/v1/challenges", post(clients::issue_challenge))
        .route(
            "/v1/governance/group",
            post(governance::register_group).get(governance::get_group),
        )
        .route("/v1/proposals", post(governance::make_proposal))
        .route("/v1/proposals/{id}", get(governance::get_proposal))
        .route(
            "/v1/proposals/{id}/approvals",
            post(governance::approve_proposal),
        )
        .route(
            "/v1/purposes/{purpose}/notices",
            post(purposes::publish_notice).get(purposes::list_notices),
        )
        .route(
            "/v1/tenants",
            post(tenants::create_tenant).get(tenants::list_tenants),
        )
        .route(
            "/v1/clients",
            post(clients::create_client).get(clients::list_clients),
        )
        .route("/v1/clients/{client}", get(clients::get_client))
        .route("/v1/purposes/{purpose}", get(purposes::get_purpose))
        .route(
            "/v1/purposes/{purpose}/retirement",
            post(purposes::retire_purpose),
        )
        .route("/v1/clients/{client}/key", post(clients::rotate_client_key))
        .route(
            "/v1/webhooks",
            post(webhooks::create_webhook).get(webhooks::own_webhooks),
        )
        .route(
            "/v1/clients/{client}/webhooks",
            get(webhooks::list_webhooks),
        )
        .route(
            "/v1/webhooks/{webhook}",
            get(webhooks::get_webhook).delete(webhooks::disable_webhook),
        )
        .route(
            "/v1/webhooks/{webhook}/messages",
            get(webhooks::webhook_messages),
        )
        .route(
            "/v1/webhooks/{webhook}/replay",
            post(webhooks::replay_webhook),
        )
        .route(
            "/v1/subjects/{subject}/consents/{purpose}",
            put(subjects::grant_consent).delete(subjects::withdraw_consent),
        )
        .route(
            "/v1/subjects/{subject}/templates/{purpose}",
            put(subjects::enroll),
        )
        .route(
            "/v1/subjects/{subject}",
            get(subjects::subject_summary).delete(subjects::erase_subject),
        )
        .route(
            "/v1/subjects/{subject}/report",
            get(subjects::subject_report),
        )
        .route("/v1/subjects/{subject}/lock", post(subjects::lock_subject))
        .route(
            "/v1/subjects/{subject}/portal-links",
            post(subjects::issue_portal_link),
        )
        .route(
            "/v1/subjects/{subject}/unlock",
            post(subjects::unlock_subject),
        )
        .route("/v1/verify", post(uses::verify))
        .route("/v1/audit/key", get(audit::audit_key))
        .route("/v1/audit/checkpoint", get(audit::audit_checkpoint))
        .route("/v1/audit/checkpoints", get(audit::audit_checkpoints))
        .route("/v1/audit/proof/inclusion", get(audit::audit_inclusion))
        .route("/v1/audit/proof/consistency", get(audit::audit_consistency))
        .route("/v1/audit/leaves", get(audit::audit_leaves))
        .route(
            "/v1/subjects/{subject}/history",
            get(subjects::subject_history),
        )
        .route("/v1/identify", post(uses::identify))
        .route("/v1/identify/batch", post(uses::identify_batch))
}
