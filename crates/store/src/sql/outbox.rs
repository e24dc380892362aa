//! The outbox rows a change writes with its leaf (see [`LeafDraft::outbox`]).

use crate::error::StoreError;
use crate::records::LeafDraft;
use crate::sql::writer::Batch;

/// Writes the leaf's outbox messages in the change's transaction (called by
/// `SqlStore::record` right after the leaf).
pub(crate) async fn put_outbox(b: &mut Batch<'_>, leaf: &LeafDraft) -> Result<(), StoreError> {
    for m in &leaf.outbox {
        sqlx::query(
            "INSERT INTO webhook_messages (id, endpoint_id, event, payload, created_at, \
             attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $5, 0, $5)",
        )
        .bind(m.id.as_str())
        .bind(m.endpoint.as_str())
        .bind(m.event.as_str())
        .bind(m.payload.clone())
        .bind(leaf.time.unix())
        .execute(b.conn())
        .await?;
    }
    Ok(())
}
