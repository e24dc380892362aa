//! The statement that reads what one verification needs, all at one instant, and its
//! decoder: both drivers (sqlx through the pool, rusqlite on SQLite's hot path) run the same
//! text and decode the same columns.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use bioguard_core::{
    ClientId, ClientName, ClientRecord, Grant, Operation, Pseudonym, PurposeId, SubjectRight,
    TenantId, Timestamp,
};
// `AssertSqlSafe` marks statements assembled from compile-time constants only.
use sqlx::{AnyPool, AssertSqlSafe};

use crate::error::StoreError;
use crate::records::{ConsentEvidence, VerifyMaterial};
use crate::sql::columns::Columns;
use crate::sql::conn::corrupt;
use crate::sql::decode::{
    FLOOR_COLUMNS, TEMPLATE_COLUMNS, floor_join, notice_floor_from_row, purpose_from_row,
    template_from_row,
};

/// Client (by key digest) with its one grant asked about, purpose, notice floor, consent,
/// lock and template. The LEFT JOINs keep the answer when something is missing. Parameters:
/// subject, purpose, key digest, operation.
pub(crate) static VERIFY_MATERIAL_SQL: LazyLock<String> = LazyLock::new(|| {
    // VALUES columns are named column1, column2, ... on both databases.
    format!(
        "SELECT p.*, c.id AS consent_id, c.notice_version AS consent_notice, \
         l.locked_at AS locked_at, {FLOOR_COLUMNS}, {TEMPLATE_COLUMNS}, \
         cl.id AS cl_id, cl.name AS cl_name, cl.suspended_at AS cl_suspended_at, \
         cl.tenant_id AS cl_tenant, cl.rights AS cl_rights, s.ledger_salt AS ledger_salt, \
         (SELECT lo.until FROM lockouts lo WHERE lo.key = q.column1 || '/' || q.column2) \
             AS lockout_until, \
         (SELECT COUNT(*) FROM lockout_failures lf WHERE lf.key = q.column1 || '/' || q.column2) \
             AS lockout_failures, \
         (SELECT MAX(lf.at) FROM lockout_failures lf WHERE lf.key = q.column1 || '/' || q.column2) \
             AS lockout_last, \
         (SELECT COUNT(*) FROM grants g WHERE g.client_id = cl.id \
             AND g.purpose_id = q.column2 AND g.operation = q.column4) AS cl_granted \
         FROM (VALUES ($1, $2, $3, $4)) q \
         LEFT JOIN purposes p ON p.id = q.column2 \
         LEFT JOIN clients cl ON cl.key_digest = q.column3 \
         LEFT JOIN consents c ON c.subject = q.column1 AND c.purpose_id = q.column2 \
             AND c.ended_at IS NULL \
         LEFT JOIN templates t ON t.subject = q.column1 AND t.purpose_id = q.column2 \
         LEFT JOIN data_keys k ON k.id = t.data_key_id \
         LEFT JOIN subject_locks l ON l.subject = q.column1 \
         LEFT JOIN subjects s ON s.pseudonym = q.column1 {}",
        floor_join("q.column2")
    )
});

/// What one verification reads.
pub(crate) struct VerifyKey {
    pub(crate) subject: Pseudonym,
    pub(crate) purpose: PurposeId,
    /// The digest of the client's key and the operation whose grant is asked about.
    pub(crate) client: Option<([u8; 32], Operation)>,
}

impl VerifyKey {
    /// The key digest to look up; without a key, one no client has (keys are digests of 32
    /// bytes).
    pub(crate) fn digest(&self) -> Vec<u8> {
        self.client.map_or_else(Vec::new, |(d, _)| d.to_vec())
    }

    /// The operation whose grant is asked about ("" for none).
    pub(crate) fn operation(&self) -> &'static str {
        self.client.map_or("", |(_, op)| op.as_str())
    }
}

/// What one verification needs, read through the pool (PostgreSQL, in-memory SQLite).
pub(crate) async fn read_verify_material(
    pool: &AnyPool,
    key: &VerifyKey,
) -> Result<VerifyMaterial, StoreError> {
    let row = sqlx::query(AssertSqlSafe(VERIFY_MATERIAL_SQL.as_str()))
        .bind(key.subject.as_str())
        .bind(key.purpose.as_str())
        .bind(key.digest())
        .bind(key.operation())
        .fetch_one(pool)
        .await?;
    material_from_row(&row, key)
}

/// Decodes a row of [`VERIFY_MATERIAL_SQL`].
pub(crate) fn material_from_row(
    row: &impl Columns,
    key: &VerifyKey,
) -> Result<VerifyMaterial, StoreError> {
    let client = match row.col::<Option<String>>("cl_id")? {
        None => None,
        Some(id) => {
            let mut grants = BTreeSet::new();
            if let Some((_, operation)) = key.client
                && row.col::<i64>("cl_granted")? > 0
            {
                grants.insert(Grant {
                    purpose: key.purpose.clone(),
                    operation,
                });
            }
            Some(ClientRecord {
                id: ClientId::parse(&id).map_err(|_| corrupt("client id"))?,
                name: ClientName::parse(&row.col::<String>("cl_name")?)
                    .map_err(|_| corrupt("client name"))?,
                tenant: TenantId::parse(&row.col::<String>("cl_tenant")?)
                    .map_err(|_| corrupt("client tenant"))?,
                grants,
                rights: SubjectRight::parse_list(&row.col::<String>("cl_rights")?)
                    .map_err(|_| corrupt("client rights"))?,
                suspended_at: row
                    .col::<Option<i64>>("cl_suspended_at")?
                    .map(Timestamp::from_unix),
            })
        }
    };
    let purpose = match row.col::<Option<String>>("id")? {
        None => None,
        Some(_) => Some(purpose_from_row(row)?),
    };
    let consent = ConsentEvidence {
        live: row.col::<Option<String>>("consent_id")?.is_some(),
        notice: row.col("consent_notice")?,
        floor: notice_floor_from_row(row)?,
        locked: row.col::<Option<i64>>("locked_at")?.is_some(),
    };
    let template = match row.col::<Option<String>>("t_id")? {
        None => None,
        Some(_) => {
            if row.col::<Option<String>>("k_id")?.is_none() {
                return Err(corrupt("template without its data key"));
            }
            Some(template_from_row(row)?)
        }
    };
    let ledger_salt = match row.col::<Option<Vec<u8>>>("ledger_salt")? {
        None => None,
        Some(b) => Some(b.try_into().map_err(|_| corrupt("ledger salt"))?),
    };
    Ok(VerifyMaterial {
        client,
        purpose,
        consent,
        template,
        ledger_salt,
        lockout: crate::records::LockoutState {
            until: row.col::<Option<i64>>("lockout_until")?,
            failures: u32::try_from(row.col::<i64>("lockout_failures")?).unwrap_or(u32::MAX),
            last_failure: row.col::<Option<i64>>("lockout_last")?,
        },
    })
}
