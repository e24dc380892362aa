//! A subject's consent, template and rights, as the relying party acts on them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bioguard_core::SubjectRef;

use crate::dto::{
    ConsentBody, ConsentRequest, EnrolmentBody, ErasureBody, SubjectBody, TemplateRequest,
    WithdrawalBody, galleries, rfc3339,
};
use crate::error::ErrorBody;
use crate::extract::{ClientAuth, JsonBody, Segments};
use crate::routes::common::{ApiResult, subject_and_purpose};
use crate::{ApiError, AppState};

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
        (status = 409, body = ErrorBody,
         description = "`notice_outdated` (consent to the current notice), or `purpose_retired`"),
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
        (status = 409, body = ErrorBody, description = "`purpose_retired` (offer the alternative)"),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 423, body = ErrorBody, description = "`biometrics_locked`: the person locked their biometrics")))]
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

/// What is held about a subject: purposes, consent records, enrolment and last-use times.
/// Never template bytes.
#[utoipa::path(get, path = "/v1/subjects/{subject}", tag = "subjects",
    security(("api_key" = [])),
    params(("subject" = String, Path, description = "The relying party's subject identifier")),
    responses((status = 200, body = SubjectBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
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
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
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
    responses((status = 200, description = "The report, as a JSON attachment", body = bioguard_service::SubjectReport),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
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
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
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
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
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
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
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

/// The audit leaves about a subject, with their indexes, for inclusion proofs: a page of at
/// most `limit` (default 500, at most 1000) after index `after`; `next_after` names the next.
#[utoipa::path(get, path = "/v1/subjects/{subject}/history", tag = "subjects",
    security(("api_key" = [])),
    params(("subject" = String, Path, description = "The relying party's subject identifier"),
           ("after" = Option<u64>, Query, description = "Entries after this ledger index (default: from the first)"),
           ("limit" = Option<u32>, Query, description = "At most this many entries (1 to 1000; default 500)")),
    responses((status = 200, body = crate::dto::HistoryBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn subject_history(
    State(st): State<AppState>,
    ClientAuth(client): ClientAuth,
    Segments(subject): Segments<String>,
    q: Result<
        axum::extract::Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult<Json<crate::dto::HistoryBody>> {
    let q = super::common::query(q)?;
    let after = q
        .contains_key("after")
        .then(|| super::common::param(&q, "after"))
        .transpose()?;
    let limit = if q.contains_key("limit") {
        u32::try_from(super::common::param(&q, "limit")?).unwrap_or(u32::MAX)
    } else {
        500
    };
    let subject = SubjectRef::parse(&subject)?;
    let (entries, next_after) = st
        .service
        .subject_history(&client, &subject, after, limit)
        .await?;
    Ok(Json(crate::dto::HistoryBody {
        next_after,
        entries: entries
            .into_iter()
            .map(|e| crate::dto::HistoryEntry {
                index: e.index,
                leaf: String::from_utf8_lossy(&e.leaf).into_owned(),
            })
            .collect(),
    }))
}
