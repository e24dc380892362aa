//! The audit ledger: its key, checkpoints, proofs and leaves (public).

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::AppState;
use crate::error::ErrorBody;
use crate::routes::common::{ApiResult, param, query};

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
    responses((status = 200, description = "The latest checkpoint: a signed note (C2SP tlog-checkpoint)",
        body = String, content_type = "text/plain")))]
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
