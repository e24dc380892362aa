//! The key of a verification's read, and the read alone through the pool (PostgreSQL; on
//! SQLite in a file the store reads through [`crate::lite`] instead).

use bioguard_core::{Operation, Pseudonym, PurposeId};
use sqlx::AnyPool;

use crate::{StoreError, VerifyMaterial};

/// What one verification reads.
pub(crate) struct Key {
    pub(crate) subject: Pseudonym,
    pub(crate) purpose: PurposeId,
    /// The digest of the client's key and the operation whose grant is asked about.
    pub(crate) client: Option<([u8; 32], Operation)>,
}

/// One verification's read, alone.
pub(crate) async fn read_alone(pool: &AnyPool, key: Key) -> Result<VerifyMaterial, StoreError> {
    let keys = [key];
    crate::sql::read_verify_material(pool, &keys)
        .await?
        .pop()
        .unwrap_or_else(|| Err(crate::sql::corrupt("verification row missing")))
}
