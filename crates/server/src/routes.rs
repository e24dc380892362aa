//! Handlers, one per endpoint of the contract in `docs/api.md`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use bioguard_core::{ClaimId, IncidentId, ProposalId, PurposeId, SubjectRef, ValidationError};
use bioguard_service::ServiceError;

use crate::dto::{
    ClientCreatedBody, ClientRequest, ConsentBody, ConsentRequest, DEFAULT_MAX_CANDIDATES,
    DecisionBody, EnrolmentBody, ErasureBody, HealthBody, IdentificationBody, IdentifyBatchBody,
    IdentifyBatchRequestBody, IdentifyRequestBody, MatcherBody, MatcherRequest, PurposeBody,
    PurposeRequest, RotationBody, SubjectBody, TemplateRequest, VerifyRequest, WithdrawalBody,
    galleries, grant_bodies, rfc3339,
};
use crate::error::ErrorBody;
use crate::extract::{AdminAuth, ClientAuth, ClientKey, JsonBody, Segments};
use crate::{ApiError, AppState};

type ApiResult<T> = Result<T, ApiError>;

/// The body limit of the endpoints that take a fairness report: the report's own limit and
/// room for the rest of the request.
const REPORT_BODY_BYTES: usize = bioguard_service::MAX_REPORT_BYTES + 64 * 1024;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/openapi.json", get(openapi))
        .route("/v1/purposes", post(create_purpose).get(list_purposes))
        .route(
            "/v1/purposes/{purpose}/protection-key",
            post(rotate_protection_key),
        )
        .route("/v1/purposes/{purpose}/matcher", post(activate_matcher))
        .route("/v1/retention-schedule", get(retention_schedule))
        .route("/v1/keys", get(document_keys))
        .route("/v1/transparency", get(transparency))
        .route("/v1/devices", post(register_device))
        .route("/v1/claims", post(file_claim))
        .route("/v1/claims/{id}", get(get_claim))
        .route("/v1/claims/{id}/decision", post(decide_claim))
        .route("/v1/reserve", get(reserve_balances))
        .route("/v1/reviewers", post(create_reviewer))
        .route("/v1/reserve/topups", post(reserve_topup))
        .route("/v1/incidents", post(open_incident))
        .route("/v1/incidents/{id}", get(get_incident))
        .route("/v1/incidents/{id}/actions", post(incident_action))
        .route("/v1/challenges", post(issue_challenge))
        .route("/v1/governance/group", post(register_group).get(get_group))
        .route("/v1/proposals", post(make_proposal))
        .route("/v1/proposals/{id}", get(get_proposal))
        .route("/v1/proposals/{id}/approvals", post(approve_proposal))
        .route(
            "/v1/purposes/{purpose}/notices",
            post(publish_notice).get(list_notices),
        )
        .route("/v1/clients", post(create_client))
        .route("/v1/clients/{client}/key", post(rotate_client_key))
        .route(
            "/v1/subjects/{subject}/consents/{purpose}",
            put(grant_consent).delete(withdraw_consent),
        )
        .route("/v1/subjects/{subject}/templates/{purpose}", put(enroll))
        .route(
            "/v1/subjects/{subject}",
            get(subject_summary).delete(erase_subject),
        )
        .route("/v1/subjects/{subject}/report", get(subject_report))
        .route("/v1/subjects/{subject}/lock", post(lock_subject))
        .route(
            "/v1/subjects/{subject}/portal-links",
            post(issue_portal_link),
        )
        .route("/v1/subjects/{subject}/unlock", post(unlock_subject))
        .route("/v1/verify", post(verify))
        .route("/v1/audit/key", get(audit_key))
        .route("/v1/audit/checkpoint", get(audit_checkpoint))
        .route("/v1/audit/checkpoints", get(audit_checkpoints))
        .route("/v1/audit/proof/inclusion", get(audit_inclusion))
        .route("/v1/audit/proof/consistency", get(audit_consistency))
        .route("/v1/audit/leaves", get(audit_leaves))
        .route("/v1/subjects/{subject}/history", get(subject_history))
        .route("/v1/identify", post(identify))
        .route("/v1/identify/batch", post(identify_batch))
}

fn subject_and_purpose(
    subject: &str,
    purpose: &str,
) -> Result<(SubjectRef, PurposeId), ValidationError> {
    Ok((SubjectRef::parse(subject)?, PurposeId::parse(purpose)?))
}

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

/// The OpenAPI 3 description of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub(crate) async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::openapi_json(),
    )
}

/// Declare a purpose (admin).
#[utoipa::path(post, path = "/v1/purposes", tag = "purposes", request_body = PurposeRequest,
    security(("admin_token" = [])),
    responses(
        (status = 201, body = PurposeBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_purpose(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    JsonBody(mut req): JsonBody<PurposeRequest, REPORT_BODY_BYTES>,
) -> ApiResult<(StatusCode, Json<PurposeBody>)> {
    // The report is hashed and kept exactly as its JSON is written here.
    let report = req.fairness_report.take().map(|r| r.to_string());
    let definition = req.parse()?;
    let created = match report {
        None => st.service.create_purpose(&admin, definition).await?,
        Some(r) => {
            st.service
                .create_purpose_with_report(&admin, definition, r)
                .await?
        }
    };
    Ok((StatusCode::CREATED, Json(PurposeBody::from(&created))))
}

/// Activate a new threshold for a purpose (admin): only with a fairness report for the
/// purpose's matcher at that threshold, recent enough and within the purpose's fairness
/// policy. A refusal (422 `fairness_gate`) is recorded in the ledger with its findings; the
/// risk group can then override it with a `fairness.override` proposal.
#[utoipa::path(post, path = "/v1/purposes/{purpose}/matcher", tag = "purposes",
    request_body = MatcherRequest, security(("admin_token" = [])),
    params(("purpose" = String, Path, description = "The purpose")),
    responses(
        (status = 200, body = MatcherBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn activate_matcher(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(purpose): Segments<String>,
    JsonBody(req): JsonBody<MatcherRequest, REPORT_BODY_BYTES>,
) -> ApiResult<Json<MatcherBody>> {
    let purpose = PurposeId::parse(&purpose)?;
    let a = st
        .service
        .activate_matcher(
            &admin,
            &purpose,
            req.threshold,
            req.fairness_report.map(|r| r.to_string()),
        )
        .await?;
    Ok(Json(MatcherBody {
        purpose: a.purpose.to_string(),
        threshold: a.threshold,
        fairness: crate::dto::FairnessStateBody::from(&a.state),
    }))
}

/// List the declared purposes (public).
#[utoipa::path(get, path = "/v1/purposes", tag = "purposes",
    responses((status = 200, body = Vec<PurposeBody>)))]
pub(crate) async fn list_purposes(State(st): State<AppState>) -> ApiResult<Json<Vec<PurposeBody>>> {
    let all = st.service.purposes().await?;
    Ok(Json(all.iter().map(PurposeBody::from).collect()))
}

/// The retention schedule every purpose follows and the service enforces (public).
#[utoipa::path(get, path = "/v1/retention-schedule", tag = "purposes",
    params(("format" = Option<String>, Query,
            description = "json (default) or html; without it, a client asking for text/html gets HTML")),
    responses((status = 200, body = crate::dto::ScheduleBody,
               description = "JSON, or an HTML page with format=html"),
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
    let body = crate::dto::ScheduleBody {
        enforcement: "Every template past its purpose's limit is deleted with its data key \
                      (crypto-shredding) at the next sweep, and each deletion is recorded in \
                      the audit ledger as retention.delete."
            .into(),
        sweep_interval_seconds: st.retention_sweep_secs,
        purposes: purposes
            .iter()
            .map(crate::dto::ScheduleEntry::from)
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
        "<table><thead><tr><th>Purpose</th><th>Description</th><th>Rule</th></tr></thead><tbody>",
    );
    for e in &body.purposes {
        page.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            crate::html::escape_html(&e.purpose),
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

/// Publish the next version of a purpose's privacy notice (admin). A material version makes
/// earlier consents insufficient for enrolment, and for verification after
/// `reconsent_days`.
#[utoipa::path(post, path = "/v1/purposes/{purpose}/notices", tag = "purposes",
    request_body = crate::dto::NoticeRequest, security(("admin_token" = [])),
    params(("purpose" = String, Path, description = "The purpose id")),
    responses((status = 201, body = crate::dto::NoticeBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn publish_notice(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(purpose): Segments<String>,
    JsonBody(req): JsonBody<crate::dto::NoticeRequest>,
) -> ApiResult<(StatusCode, Json<crate::dto::NoticeBody>)> {
    let purpose = PurposeId::parse(&purpose)?;
    let n = st
        .service
        .publish_notice(&admin, &purpose, req.into_spec().draft())
        .await?;
    Ok((StatusCode::CREATED, Json(crate::dto::NoticeBody::from(&n))))
}

/// Every version of a purpose's privacy notice, oldest first (public).
#[utoipa::path(get, path = "/v1/purposes/{purpose}/notices", tag = "purposes",
    params(("purpose" = String, Path, description = "The purpose id")),
    responses((status = 200, body = Vec<crate::dto::NoticeBody>),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn list_notices(
    State(st): State<AppState>,
    Segments(purpose): Segments<String>,
) -> ApiResult<Json<Vec<crate::dto::NoticeBody>>> {
    let purpose = PurposeId::parse(&purpose)?;
    let all = st.service.notices(&purpose).await?;
    Ok(Json(all.iter().map(crate::dto::NoticeBody::from).collect()))
}

/// Register the risk group (admin, once): members' Ed25519 keys and the quorum M of N that
/// every sensitive change then needs. Later changes are `group.change` proposals.
#[utoipa::path(post, path = "/v1/governance/group", tag = "governance",
    request_body = crate::dto::GroupBody, security(("admin_token" = [])),
    responses((status = 201, body = crate::dto::GroupBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn register_group(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    JsonBody(req): JsonBody<crate::dto::GroupBody>,
) -> ApiResult<(StatusCode, Json<crate::dto::GroupBody>)> {
    let group = req.parse()?;
    st.service
        .register_risk_group(&admin, group.clone())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::dto::GroupBody::from_group(&group)),
    ))
}

/// The risk group (public: anyone may check who must approve sensitive changes).
#[utoipa::path(get, path = "/v1/governance/group", tag = "governance",
    responses((status = 200, body = crate::dto::GroupBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_group(
    State(st): State<AppState>,
) -> ApiResult<Json<crate::dto::GroupBody>> {
    let g = st.service.risk_group().await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_risk_group",
            "no risk group is registered",
        )
    })?;
    Ok(Json(crate::dto::GroupBody::from_group(&g)))
}

/// Propose a sensitive change (admin). Members sign the returned `payload`.
#[utoipa::path(post, path = "/v1/proposals", tag = "governance",
    request_body = crate::dto::ProposalRequest, security(("admin_token" = [])),
    responses((status = 201, body = crate::dto::ProposalBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn make_proposal(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    JsonBody(req): JsonBody<crate::dto::ProposalRequest>,
) -> ApiResult<(StatusCode, Json<crate::dto::ProposalBody>)> {
    let action = req.action.parse()?;
    let p = st
        .service
        .propose(&admin, action, req.ttl_secs.unwrap_or(7 * 86_400))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::dto::ProposalBody::from(&p)),
    ))
}

/// A proposal, its payload and its approvals (public).
#[utoipa::path(get, path = "/v1/proposals/{id}", tag = "governance",
    params(("id" = String, Path, description = "The proposal id")),
    responses((status = 200, body = crate::dto::ProposalBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_proposal(
    State(st): State<AppState>,
    Segments(id): Segments<String>,
) -> ApiResult<Json<crate::dto::ProposalBody>> {
    let id = ProposalId::parse(&id).map_err(|_| ServiceError::ProposalNotFound)?;
    let p = st.service.proposal(&id).await?;
    Ok(Json(crate::dto::ProposalBody::from(&p)))
}

/// Add a member's signature over a proposal's payload (the signature is the credential).
/// The change is applied when the quorum is reached.
#[utoipa::path(post, path = "/v1/proposals/{id}/approvals", tag = "governance",
    request_body = crate::dto::ApprovalRequest,
    params(("id" = String, Path, description = "The proposal id")),
    responses((status = 200, body = crate::dto::ApprovalBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 410, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn approve_proposal(
    State(st): State<AppState>,
    Segments(id): Segments<String>,
    JsonBody(req): JsonBody<crate::dto::ApprovalRequest>,
) -> ApiResult<Json<crate::dto::ApprovalBody>> {
    let sig = B64
        .decode(req.signature.as_bytes())
        .map_err(|_| ValidationError::new("signature", "base64 of a 64-byte signature"))?;
    let id = ProposalId::parse(&id).map_err(|_| ServiceError::ProposalNotFound)?;
    let out = st.service.approve(&id, &req.member, &sig).await?;
    Ok(Json(crate::dto::ApprovalBody {
        approvals: out.approvals,
        quorum: out.quorum,
        status: out.status.as_str().to_owned(),
        result: out.result,
    }))
}

/// File a compensation claim on a decision (client key). 404 for an unknown decision.
#[utoipa::path(post, path = "/v1/claims", tag = "claims", request_body = crate::dto::ClaimRequest,
    security(("api_key" = [])),
    responses((status = 201, description = "the claim"), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn file_claim(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    JsonBody(req): JsonBody<crate::dto::ClaimRequest>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let c = st
        .service
        .file_claim(
            &client,
            &req.decision_id,
            &req.currency,
            req.amount,
            &req.reason,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(crate::dto::claim_json(&c))))
}

/// A claim with its evidence pack (the filing client's key, or the admin token for review).
#[utoipa::path(get, path = "/v1/claims/{id}", tag = "claims",
    params(("id" = String, Path, description = "The claim id")),
    responses((status = 200, description = "the claim and its evidence"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_claim(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    Segments(id): Segments<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let token = bearer_of(&headers);
    let viewer = if token.starts_with("bga_") {
        st.service.authenticate_admin(token).await.map(|_| None)?
    } else if token.starts_with("bgr_") {
        st.service
            .authenticate_reviewer(token)
            .await
            .map(|_| None)?
    } else {
        Some(st.service.authenticate_client(token).await?)
    };
    let id = ClaimId::parse(&id).map_err(|_| ServiceError::ClaimNotFound)?;
    let claim = st.service.claim(&id).await?;
    if let Some(client) = viewer
        && client.record().id != claim.client
    {
        return Err(ServiceError::ClaimNotFound.into());
    }
    let evidence = st.service.claim_evidence(&claim).await?;
    let mut out = crate::dto::claim_json(&claim);
    out["evidence"] = serde_json::to_value(&evidence)
        .map_err(|e| ServiceError::Internal(format!("an evidence pack: {e}")))?;
    Ok(Json(out))
}

/// Approve (and pay from the reserve) or deny a claim (a reviewer's token).
#[utoipa::path(post, path = "/v1/claims/{id}/decision", tag = "claims",
    request_body = crate::dto::ClaimDecisionRequest,
    params(("id" = String, Path, description = "The claim id")),
    responses((status = 200, description = "the claim"), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn decide_claim(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    Segments(id): Segments<String>,
    JsonBody(req): JsonBody<crate::dto::ClaimDecisionRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let reviewer = st
        .service
        .authenticate_reviewer(bearer_of(&headers))
        .await?;
    let id = ClaimId::parse(&id).map_err(|_| ServiceError::ClaimNotFound)?;
    let c = st
        .service
        .decide_claim(&reviewer, &id, req.approve, &req.reason)
        .await?;
    Ok(Json(crate::dto::claim_json(&c)))
}

/// Add funds to the compensation reserve (admin).
#[utoipa::path(post, path = "/v1/reserve/topups", tag = "claims",
    request_body = crate::dto::TopupRequest, security(("admin_token" = [])),
    responses((status = 201, description = "the balances"), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn reserve_topup(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    JsonBody(req): JsonBody<crate::dto::TopupRequest>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    st.service
        .reserve_topup(
            &admin,
            &req.currency,
            req.amount,
            req.memo.as_deref().unwrap_or("top-up"),
        )
        .await?;
    let b = st.service.reserve_balances(&admin).await?;
    Ok((StatusCode::CREATED, Json(balances_json(&b))))
}

/// The compensation reserve's balances by account and currency (admin).
#[utoipa::path(get, path = "/v1/reserve", tag = "claims", security(("admin_token" = [])),
    responses((status = 200, description = "balances"), (status = 401, body = ErrorBody)))]
pub(crate) async fn reserve_balances(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
) -> ApiResult<Json<serde_json::Value>> {
    let b = st.service.reserve_balances(&admin).await?;
    Ok(Json(balances_json(&b)))
}

/// The bearer token of a request, or "".
fn bearer_of(headers: &axum::http::HeaderMap) -> &str {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
}

/// Add a claim reviewer (admin). The token is in this answer only.
#[utoipa::path(post, path = "/v1/reviewers", tag = "claims", security(("admin_token" = [])),
    request_body = crate::dto::ReviewerRequest,
    responses((status = 201, description = "{\"id\",\"name\",\"token\"}"),
              (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_reviewer(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    JsonBody(req): JsonBody<crate::dto::ReviewerRequest>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let (id, token) = st.service.create_reviewer(&admin, &req.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"id": id.as_str(), "name": req.name, "token": token.as_str()})),
    ))
}

fn balances_json(b: &[bioguard_core::Balance]) -> serde_json::Value {
    serde_json::json!({"balances": b.iter().map(|x| serde_json::json!({
        "account": x.account, "currency": x.currency, "minor_units": x.minor_units}))
        .collect::<Vec<_>>()})
}

/// Open an incident (admin).
#[utoipa::path(post, path = "/v1/incidents", tag = "risk", request_body = crate::dto::IncidentRequest,
    security(("admin_token" = [])),
    responses((status = 201, body = crate::dto::IncidentBody), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn open_incident(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    JsonBody(req): JsonBody<crate::dto::IncidentRequest>,
) -> ApiResult<(StatusCode, Json<crate::dto::IncidentBody>)> {
    let i = st
        .service
        .open_incident(
            &admin,
            req.kind.as_deref().unwrap_or("operator"),
            &req.summary,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::dto::IncidentBody::from(&i)),
    ))
}

/// An incident and its timeline (admin).
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "risk", security(("admin_token" = [])),
    params(("id" = String, Path, description = "The incident id")),
    responses((status = 200, body = crate::dto::IncidentBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn get_incident(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(id): Segments<String>,
) -> ApiResult<Json<crate::dto::IncidentBody>> {
    let id = IncidentId::parse(&id).map_err(|_| ServiceError::IncidentNotFound)?;
    let i = st.service.incident(&admin, &id).await?;
    let n = st.service.incident_notifications(&id).await?;
    Ok(Json(
        crate::dto::IncidentBody::from(&i).with_notifications(&n),
    ))
}

/// Act on an open incident (admin): suspend or reinstate a client, revoke a purpose's
/// protection key version (every template under it stops matching; its subjects are owed a
/// notification within 72 hours), record notifications as sent, add a note, close it.
#[utoipa::path(post, path = "/v1/incidents/{id}/actions", tag = "risk",
    request_body = crate::dto::IncidentActionRequest, security(("admin_token" = [])),
    params(("id" = String, Path, description = "The incident id")),
    responses((status = 200, body = crate::dto::IncidentBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn incident_action(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(id): Segments<String>,
    JsonBody(req): JsonBody<crate::dto::IncidentActionRequest>,
) -> ApiResult<Json<crate::dto::IncidentBody>> {
    let id = IncidentId::parse(&id).map_err(|_| ServiceError::IncidentNotFound)?;
    let action = bioguard_core::IncidentAction::parse(
        &req.action,
        req.client.as_deref(),
        req.purpose.as_deref(),
        req.device.as_deref(),
        req.note.as_deref(),
    )?;
    let i = st.service.incident_action(&admin, &id, action).await?;
    let n = st.service.incident_notifications(&id).await?;
    Ok(Json(
        crate::dto::IncidentBody::from(&i).with_notifications(&n),
    ))
}

/// Register a capture device of this client with its Ed25519 public key.
#[utoipa::path(post, path = "/v1/devices", tag = "risk", request_body = crate::dto::DeviceRequest,
    security(("api_key" = [])),
    responses((status = 201, description = "{\"device\"}"), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn register_device(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    JsonBody(req): JsonBody<crate::dto::DeviceRequest>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let key: [u8; 32] = B64
        .decode(req.public_key.as_bytes())
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| {
            ValidationError::new("public_key", "32 bytes of Ed25519 public key, base64")
        })?;
    let id = st.service.register_device(&client, &req.name, &key).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"device": id.as_str()})),
    ))
}

/// A one-time capture challenge for a purpose (60 seconds).
#[utoipa::path(post, path = "/v1/challenges", tag = "risk", request_body = crate::dto::ChallengeRequest,
    security(("api_key" = [])),
    responses((status = 201, description = "{\"challenge\",\"expires_at\"}"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn issue_challenge(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    JsonBody(req): JsonBody<crate::dto::ChallengeRequest>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let purpose = PurposeId::parse(&req.purpose)?;
    let (challenge, expires) = st.service.issue_challenge(&client, &purpose).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"challenge": challenge.as_str(),
            "expires_at": crate::dto::rfc3339(expires)})),
    ))
}

/// The transparency report: counts of enrolments, uses, consents, deletions by cause, risk
/// refusals, incidents and notifications, derived from the audit ledger (public). JSON, or
/// HTML with `?format=html`.
#[utoipa::path(get, path = "/v1/transparency", tag = "meta",
    params(("format" = Option<String>, Query, description = "json (default) or html")),
    responses((status = 200, description = "the report"), (status = 422, body = ErrorBody)))]
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
    responses((status = 200, description = "JSON Web Key Set", content_type = "application/json")))]
pub(crate) async fn document_keys(State(st): State<AppState>) -> Json<bioguard_service::Jwks> {
    Json(st.service.document_keys())
}

/// Give a client a new API key (admin); the old key stops working at once. The new key is
/// in this response only.
#[utoipa::path(post, path = "/v1/clients/{client}/key", tag = "clients",
    security(("admin_token" = [])),
    params(("client" = String, Path, description = "The client id")),
    responses((status = 200, description = "{\"id\",\"api_key\"}"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn rotate_client_key(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(client): Segments<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = bioguard_core::ClientId::parse(&client)?;
    let created = st.service.rotate_client_key(&admin, &id).await?;
    Ok(Json(serde_json::json!({
        "id": created.id.to_string(),
        "api_key": created.expose_api_key(),
    })))
}

/// Create a client with grants (admin). The API key is in this response only.
#[utoipa::path(post, path = "/v1/clients", tag = "clients", request_body = ClientRequest,
    security(("admin_token" = [])),
    responses(
        (status = 201, body = ClientCreatedBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn create_client(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    JsonBody(req): JsonBody<ClientRequest>,
) -> ApiResult<(StatusCode, Json<ClientCreatedBody>)> {
    let (name, grants) = req.parse()?;
    let created = st
        .service
        .create_client(&admin, name.clone(), grants.clone())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ClientCreatedBody {
            id: created.id.to_string(),
            name: name.as_str().to_owned(),
            grants: grant_bodies(&grants),
            api_key: created.expose_api_key().to_owned(),
        }),
    ))
}

/// Record a subject's consent to a purpose. 201 when recorded, 200 when the same consent
/// was already live.
#[utoipa::path(put, path = "/v1/subjects/{subject}/consents/{purpose}", tag = "consents",
    request_body = ConsentRequest, security(("api_key" = [])),
    params(("subject" = String, Path, description = "The relying party's subject identifier"),
           ("purpose" = String, Path, description = "The purpose id")),
    responses(
        (status = 201, body = ConsentBody), (status = 200, body = ConsentBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn grant_consent(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    Segments((subject, purpose)): Segments<(String, String)>,
    JsonBody(req): JsonBody<ConsentRequest>,
) -> ApiResult<(StatusCode, Json<ConsentBody>)> {
    let (subject, purpose) = subject_and_purpose(&subject, &purpose)?;
    let (notice, method) = req.parse()?;
    let given = st
        .service
        .grant_consent(&client, &subject, &purpose, notice, method)
        .await?;
    let status = if given.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(ConsentBody {
            receipt: Some(given.receipt),
            ..ConsentBody::from(&given.record)
        }),
    ))
}

/// Withdraw consent. The template for the purpose is deleted and its data key destroyed in
/// the same transaction, before this call answers.
#[utoipa::path(delete, path = "/v1/subjects/{subject}/consents/{purpose}", tag = "consents",
    security(("api_key" = [])),
    params(("subject" = String, Path, description = "The relying party's subject identifier"),
           ("purpose" = String, Path, description = "The purpose id")),
    responses(
        (status = 200, body = WithdrawalBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn withdraw_consent(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    Segments((subject, purpose)): Segments<(String, String)>,
) -> ApiResult<Json<WithdrawalBody>> {
    let (subject, purpose) = subject_and_purpose(&subject, &purpose)?;
    let out = st
        .service
        .withdraw_consent(&client, &subject, &purpose)
        .await?;
    Ok(Json(WithdrawalBody {
        consent: ConsentBody::from(&out.consent),
        template_destroyed: out.template_destroyed,
        receipt: out.receipt,
    }))
}

/// Enrol or replace a subject's template for a purpose. Needs a live consent (403
/// `consent_required` otherwise). 201 for a new template, 200 for a replacement.
#[utoipa::path(put, path = "/v1/subjects/{subject}/templates/{purpose}", tag = "templates",
    request_body = TemplateRequest, security(("api_key" = [])),
    params(("subject" = String, Path, description = "The relying party's subject identifier"),
           ("purpose" = String, Path, description = "The purpose id")),
    responses(
        (status = 201, body = EnrolmentBody), (status = 200, body = EnrolmentBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn enroll(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    Segments((subject, purpose)): Segments<(String, String)>,
    JsonBody(req): JsonBody<TemplateRequest>,
) -> ApiResult<(StatusCode, Json<EnrolmentBody>)> {
    let (subject, purpose) = subject_and_purpose(&subject, &purpose)?;
    let galleries = galleries(&req.galleries)?;
    let out = st
        .service
        .enroll(&client, &subject, &purpose, req.embedding, galleries)
        .await?;
    let status = if out.replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(EnrolmentBody {
            purpose: purpose.to_string(),
            enrolled_at: rfc3339(out.enrolled_at),
            replaced: out.replaced,
            galleries: out.galleries.iter().map(ToString::to_string).collect(),
        }),
    ))
}

/// Verify a probe against a subject's template (1:1). Answers the decision only, never a
/// score.
#[utoipa::path(post, path = "/v1/verify", tag = "verification", request_body = VerifyRequest,
    security(("api_key" = [])),
    responses(
        (status = 200, body = DecisionBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "`no_grant` or `consent_required`"),
        (status = 404, body = ErrorBody, description = "`purpose_not_found` or `not_enrolled`"),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 500, body = ErrorBody, description = "`integrity_failure`: the stored template was altered or moved")))]
pub(crate) async fn verify(
    State(st): State<AppState>,
    ClientKey(key): ClientKey,
    body: Result<JsonBody<VerifyRequest>, ApiError>,
) -> ApiResult<Json<DecisionBody>> {
    // The key is checked in the service's one read, which needs the body's subject and
    // purpose; a body that cannot be used is explained only to an authenticated caller.
    let parsed = body.and_then(|JsonBody(req)| {
        let (subject, purpose) = subject_and_purpose(&req.subject, &req.purpose)?;
        Ok((subject, purpose, req.embedding, req.capture))
    });
    let (subject, purpose, embedding, capture) = match parsed {
        Ok(p) => p,
        Err(e) => {
            st.service.authenticate_client(&key).await?;
            return Err(e);
        }
    };
    let capture = capture.map(crate::dto::CaptureBody::into_capture);
    let d = st
        .service
        .verify(&key, &subject, &purpose, embedding, capture.as_ref())
        .await?;
    Ok(Json(DecisionBody {
        matched: d.outcome.matched(),
        decision_id: d.id.to_string(),
        risk: d.risk.band().as_str(),
        step_up: d.step_up.then_some("required"),
    }))
}

/// What is held about a subject: purposes, consent records, enrolment and last-use times.
/// Never template bytes.
#[utoipa::path(get, path = "/v1/subjects/{subject}", tag = "subjects",
    security(("api_key" = [])),
    params(("subject" = String, Path, description = "The relying party's subject identifier")),
    responses((status = 200, body = SubjectBody), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn subject_summary(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    Segments(subject): Segments<String>,
) -> ApiResult<Json<SubjectBody>> {
    let subject = SubjectRef::parse(&subject)?;
    let summary = st.service.subject_summary(&client, &subject).await?;
    Ok(Json(SubjectBody::from(&summary)))
}

/// Erase everything held about a subject: templates, data keys, consent records.
#[utoipa::path(delete, path = "/v1/subjects/{subject}", tag = "subjects",
    security(("api_key" = [])),
    params(("subject" = String, Path, description = "The relying party's subject identifier")),
    responses((status = 200, body = ErasureBody), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn erase_subject(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    Segments(subject): Segments<String>,
) -> ApiResult<Json<ErasureBody>> {
    let subject = SubjectRef::parse(&subject)?;
    let out = st.service.erase_subject(&client, &subject).await?;
    Ok(Json(ErasureBody::from(out)))
}

/// Everything held about a subject and every use of it, as a JSON file to download:
/// purposes, consent records with their signed receipts, templates with their retention
/// deadlines, the lock, and the access history with ledger indexes.
#[utoipa::path(get, path = "/v1/subjects/{subject}/report", tag = "subjects",
    security(("api_key" = [])),
    params(("subject" = String, Path, description = "The relying party's subject identifier")),
    responses((status = 200, description = "the report (application/json, as an attachment)"),
              (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn subject_report(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    Segments(subject): Segments<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let subject = SubjectRef::parse(&subject)?;
    let report = st.service.subject_report(&client, &subject).await?;
    let name: String = report.principal.chars().take(16).collect();
    Ok((
        [(
            axum::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"bioguard-report-{name}.json\""),
        )],
        Json(report),
    )
        .into_response())
}

/// Issue a short-lived link to the subject's privacy portal (client). Hand the `url` to the
/// person (prefixed with this service's public address); it opens their data only, until
/// `expires_at`. The issue is in the subject's history.
#[utoipa::path(post, path = "/v1/subjects/{subject}/portal-links", tag = "subjects",
    security(("api_key" = [])), request_body = crate::dto::PortalLinkRequest,
    params(("subject" = String, Path, description = "The relying party's subject identifier")),
    responses((status = 201, body = crate::dto::PortalLinkBody), (status = 401, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn issue_portal_link(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    Segments(subject): Segments<String>,
    JsonBody(req): JsonBody<crate::dto::PortalLinkRequest>,
) -> ApiResult<(StatusCode, Json<crate::dto::PortalLinkBody>)> {
    let subject = SubjectRef::parse(&subject)?;
    let (token, expires) = st
        .service
        .issue_portal_link(&client, &subject, req.ttl_secs)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::dto::PortalLinkBody {
            url: format!("/portal/open/{}", token.as_str()),
            expires_at: rfc3339(expires),
        }),
    ))
}

/// Lock the use of a subject's biometrics, for every purpose, until unlocked: verification
/// and enrolment answer 423 with `"fallback":"required"`, identification never returns them.
#[utoipa::path(post, path = "/v1/subjects/{subject}/lock", tag = "subjects",
    security(("api_key" = [])),
    params(("subject" = String, Path, description = "The relying party's subject identifier")),
    responses((status = 200, body = crate::dto::LockBody), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn lock_subject(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    Segments(subject): Segments<String>,
) -> ApiResult<Json<crate::dto::LockBody>> {
    let subject = SubjectRef::parse(&subject)?;
    let at = st.service.set_lock(&client, &subject, true).await?;
    Ok(Json(crate::dto::LockBody::new(at)))
}

/// Unlock the use of a subject's biometrics.
#[utoipa::path(post, path = "/v1/subjects/{subject}/unlock", tag = "subjects",
    security(("api_key" = [])),
    params(("subject" = String, Path, description = "The relying party's subject identifier")),
    responses((status = 200, body = crate::dto::LockBody), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn unlock_subject(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    Segments(subject): Segments<String>,
) -> ApiResult<Json<crate::dto::LockBody>> {
    let subject = SubjectRef::parse(&subject)?;
    let at = st.service.set_lock(&client, &subject, false).await?;
    Ok(Json(crate::dto::LockBody::new(at)))
}

/// Rotate a purpose's protection key (admin). Every code made under the previous key stops
/// matching and the previous key is destroyed: subjects must enrol again.
#[utoipa::path(post, path = "/v1/purposes/{purpose}/protection-key", tag = "purposes",
    security(("admin_token" = [])),
    params(("purpose" = String, Path, description = "The purpose id")),
    responses((status = 200, body = RotationBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn rotate_protection_key(
    State(st): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Segments(purpose): Segments<String>,
) -> ApiResult<Json<RotationBody>> {
    let purpose = PurposeId::parse(&purpose)?;
    let r = st.service.rotate_protection_key(&admin, &purpose).await?;
    Ok(Json(RotationBody {
        purpose: purpose.to_string(),
        protection_key_version: r.version,
        note: "templates made under earlier keys no longer match; enrol those subjects again",
    }))
}

fn max_candidates(n: Option<u64>) -> Result<usize, ValidationError> {
    let n = n.unwrap_or(DEFAULT_MAX_CANDIDATES);
    usize::try_from(n)
        .ok()
        .filter(|n| (1..=bioguard_service::MAX_CANDIDATES).contains(n))
        .ok_or_else(|| {
            ValidationError::new(
                "max_candidates",
                format!("from 1 to {}", bioguard_service::MAX_CANDIDATES),
            )
        })
}

/// Identify a probe in a gallery (1:N): the subjects above threshold, best first, each with
/// a live consent for the purpose. No scores.
#[utoipa::path(post, path = "/v1/identify", tag = "identification",
    request_body = IdentifyRequestBody, security(("api_key" = [])),
    responses(
        (status = 200, body = IdentificationBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "`no_grant` or `operation_not_allowed`"),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "invalid probe, or `gallery_too_large`")))]
pub(crate) async fn identify(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    JsonBody(req): JsonBody<IdentifyRequestBody>,
) -> ApiResult<Json<IdentificationBody>> {
    let request = bioguard_service::IdentifyRequest {
        purpose: PurposeId::parse(&req.purpose)?,
        gallery: bioguard_core::GalleryName::parse(&req.gallery)?,
        max_candidates: max_candidates(req.max_candidates)?,
        probes: vec![req.embedding],
        capture: req.capture.map(crate::dto::CaptureBody::into_capture),
    };
    let mut out = st.service.identify(&client, request).await?;
    let one = out.pop().ok_or_else(|| {
        ApiError::from(bioguard_service::ServiceError::Internal("no result".into()))
    })?;
    Ok(Json(IdentificationBody::from(&one)))
}

/// Identify a batch of probes in one gallery.
#[utoipa::path(post, path = "/v1/identify/batch", tag = "identification",
    request_body = IdentifyBatchRequestBody, security(("api_key" = [])),
    responses(
        (status = 200, body = IdentifyBatchBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn identify_batch(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    JsonBody(req): JsonBody<IdentifyBatchRequestBody>,
) -> ApiResult<Json<IdentifyBatchBody>> {
    let request = bioguard_service::IdentifyRequest {
        purpose: PurposeId::parse(&req.purpose)?,
        gallery: bioguard_core::GalleryName::parse(&req.gallery)?,
        max_candidates: max_candidates(req.max_candidates)?,
        probes: req.embeddings,
        capture: None,
    };
    let out = st.service.identify(&client, request).await?;
    Ok(Json(IdentifyBatchBody {
        results: out.iter().map(IdentificationBody::from).collect(),
    }))
}

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::collections::HashMap;

/// A whole-number query parameter, or a 422 naming it.
fn param(q: &HashMap<String, String>, name: &'static str) -> Result<u64, ApiError> {
    q.get(name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::from(ValidationError::new(name, "a whole number is required")))
}

fn query(
    q: Result<
        axum::extract::Query<HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<HashMap<String, String>, ApiError> {
    q.map(|axum::extract::Query(m)| m)
        .map_err(|_| ApiError::invalid("the query string is not valid"))
}

/// The audit log's origin and public key (C2SP signed-note verifier key, Ed25519).
#[utoipa::path(get, path = "/v1/audit/key", tag = "audit",
    responses((status = 200, body = crate::dto::AuditKeyBody)))]
pub(crate) async fn audit_key(State(st): State<AppState>) -> Json<crate::dto::AuditKeyBody> {
    let (origin, key) = st.service.audit_key();
    Json(crate::dto::AuditKeyBody {
        origin,
        verifier_key: key.to_string(),
        algorithm: "ed25519",
        checkpoint_format: "C2SP tlog-checkpoint in a signed note",
        leaf_hash: "SHA-256(0x00 || leaf), RFC 6962",
    })
}

/// A freshly signed checkpoint of the whole log (text/plain, a C2SP signed note).
#[utoipa::path(get, path = "/v1/audit/checkpoint", tag = "audit",
    responses((status = 200, description = "signed note", content_type = "text/plain")))]
pub(crate) async fn audit_checkpoint(
    State(st): State<AppState>,
) -> ApiResult<impl axum::response::IntoResponse> {
    let note = st.service.audit_checkpoint().await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        note,
    ))
}

/// The audit path of leaf `index` in the tree of `size` leaves.
#[utoipa::path(get, path = "/v1/audit/proof/inclusion", tag = "audit",
    params(("index" = u64, Query), ("size" = u64, Query)),
    responses((status = 200, body = crate::dto::InclusionBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn audit_inclusion(
    State(st): State<AppState>,
    q: Result<
        axum::extract::Query<HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult<Json<crate::dto::InclusionBody>> {
    let q = query(q)?;
    let (index, size) = (param(&q, "index")?, param(&q, "size")?);
    let p = st.service.audit_inclusion(index, size).await?;
    Ok(Json(crate::dto::InclusionBody {
        index,
        size,
        leaf_hash: p.leaf_hash.map(|h| B64.encode(h)).unwrap_or_default(),
        hashes: p.hashes.iter().map(|h| B64.encode(h)).collect(),
    }))
}

/// The consistency proof between the trees of `from` and `to` leaves.
#[utoipa::path(get, path = "/v1/audit/proof/consistency", tag = "audit",
    params(("from" = u64, Query), ("to" = u64, Query)),
    responses((status = 200, body = crate::dto::ConsistencyBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn audit_consistency(
    State(st): State<AppState>,
    q: Result<
        axum::extract::Query<HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult<Json<crate::dto::ConsistencyBody>> {
    let q = query(q)?;
    let (from, to) = (param(&q, "from")?, param(&q, "to")?);
    let p = st.service.audit_consistency(from, to).await?;
    Ok(Json(crate::dto::ConsistencyBody {
        from,
        to,
        hashes: p.hashes.iter().map(|h| B64.encode(h)).collect(),
    }))
}

/// Leaves [start, end) (at most 1000), each exactly as hashed.
#[utoipa::path(get, path = "/v1/audit/leaves", tag = "audit",
    params(("start" = u64, Query), ("end" = u64, Query)),
    responses((status = 200, body = crate::dto::LeavesBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn audit_leaves(
    State(st): State<AppState>,
    q: Result<
        axum::extract::Query<HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult<Json<crate::dto::LeavesBody>> {
    let q = query(q)?;
    let (start, end) = (param(&q, "start")?, param(&q, "end")?);
    let leaves = st.service.audit_leaves(start, end).await?;
    Ok(Json(crate::dto::LeavesBody {
        start,
        leaves: leaves
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect(),
    }))
}

/// Every audit leaf about a subject, with its index, for inclusion proofs.
#[utoipa::path(get, path = "/v1/subjects/{subject}/history", tag = "subjects",
    security(("api_key" = [])),
    params(("subject" = String, Path, description = "The relying party's subject identifier")),
    responses((status = 200, body = crate::dto::HistoryBody), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn subject_history(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    Segments(subject): Segments<String>,
) -> ApiResult<Json<crate::dto::HistoryBody>> {
    let subject = SubjectRef::parse(&subject)?;
    let entries = st.service.subject_history(&client, &subject).await?;
    Ok(Json(crate::dto::HistoryBody {
        entries: entries
            .into_iter()
            .map(|e| crate::dto::HistoryEntry {
                index: e.index,
                leaf: String::from_utf8_lossy(&e.leaf).into_owned(),
            })
            .collect(),
    }))
}

/// The checkpoints the service has signed and kept, from size `from` on (at most 1000).
#[utoipa::path(get, path = "/v1/audit/checkpoints", tag = "audit",
    params(("from" = Option<u64>, Query)),
    responses((status = 200, body = crate::dto::CheckpointsBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn audit_checkpoints(
    State(st): State<AppState>,
    q: Result<
        axum::extract::Query<HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult<Json<crate::dto::CheckpointsBody>> {
    let q = query(q)?;
    let from = if q.contains_key("from") {
        param(&q, "from")?
    } else {
        0
    };
    let list = st.service.audit_checkpoints(from).await?;
    Ok(Json(crate::dto::CheckpointsBody {
        checkpoints: list
            .into_iter()
            .map(|c| crate::dto::CheckpointEntry {
                size: c.size,
                note: c.note,
            })
            .collect(),
    }))
}
