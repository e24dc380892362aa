//! Schema migrations, embedded in the binary and run at every start.
//!
//! A small runner of our own rather than sqlx's: sqlx's embedding macro would pull a second
//! build of every driver into the compile. Each migration runs in its own transaction and is
//! recorded with a checksum; a database whose recorded history differs from this program's,
//! or that is newer than it, is refused with a message rather than altered. Several nodes
//! starting together against PostgreSQL serialise on an advisory lock; on SQLite the
//! `BEGIN IMMEDIATE` write lock does the same.

use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};

use crate::error::StoreError;
use crate::sql::conn::{hex, now_unix};
use crate::traits::Backend;

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sqlite: include_str!("../../migrations/sqlite/0001_initial.sql"),
        postgres: include_str!("../../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "protected templates",
        sqlite: include_str!("../../migrations/sqlite/0002_protected_templates.sql"),
        postgres: include_str!("../../migrations/postgres/0002_protected_templates.sql"),
    },
    Migration {
        version: 3,
        name: "audit ledger",
        sqlite: include_str!("../../migrations/sqlite/0003_audit_ledger.sql"),
        postgres: include_str!("../../migrations/postgres/0003_audit_ledger.sql"),
    },
    Migration {
        version: 4,
        name: "audit checkpoints",
        sqlite: include_str!("../../migrations/sqlite/0004_audit_checkpoints.sql"),
        postgres: include_str!("../../migrations/postgres/0004_audit_checkpoints.sql"),
    },
    Migration {
        version: 5,
        name: "audit mentions",
        sqlite: include_str!("../../migrations/sqlite/0005_audit_mentions.sql"),
        postgres: include_str!("../../migrations/postgres/0005_audit_mentions.sql"),
    },
    Migration {
        version: 6,
        name: "subject locks",
        sqlite: include_str!("../../migrations/sqlite/0006_subject_locks.sql"),
        postgres: include_str!("../../migrations/postgres/0006_subject_locks.sql"),
    },
    Migration {
        version: 7,
        name: "notices",
        sqlite: include_str!("../../migrations/sqlite/0007_notices.sql"),
        postgres: include_str!("../../migrations/postgres/0007_notices.sql"),
    },
    Migration {
        version: 8,
        name: "governance",
        sqlite: include_str!("../../migrations/sqlite/0008_governance.sql"),
        postgres: include_str!("../../migrations/postgres/0008_governance.sql"),
    },
    Migration {
        version: 9,
        name: "risk controls",
        sqlite: include_str!("../../migrations/sqlite/0009_risk.sql"),
        postgres: include_str!("../../migrations/postgres/0009_risk.sql"),
    },
    Migration {
        version: 10,
        name: "incidents",
        sqlite: include_str!("../../migrations/sqlite/0010_incidents.sql"),
        postgres: include_str!("../../migrations/postgres/0010_incidents.sql"),
    },
    Migration {
        version: 11,
        name: "notifications",
        sqlite: include_str!("../../migrations/sqlite/0011_notifications.sql"),
        postgres: include_str!("../../migrations/postgres/0011_notifications.sql"),
    },
    Migration {
        version: 12,
        name: "claims",
        sqlite: include_str!("../../migrations/sqlite/0012_claims.sql"),
        postgres: include_str!("../../migrations/postgres/0012_claims.sql"),
    },
    Migration {
        version: 13,
        name: "reviewers",
        sqlite: include_str!("../../migrations/sqlite/0013_reviewers.sql"),
        postgres: include_str!("../../migrations/postgres/0013_reviewers.sql"),
    },
    Migration {
        version: 14,
        name: "fairness",
        sqlite: include_str!("../../migrations/sqlite/0014_fairness.sql"),
        postgres: include_str!("../../migrations/postgres/0014_fairness.sql"),
    },
    Migration {
        version: 15,
        name: "portal links",
        sqlite: include_str!("../../migrations/sqlite/0015_portal_links.sql"),
        postgres: include_str!("../../migrations/postgres/0015_portal_links.sql"),
    },
    Migration {
        version: 16,
        name: "tenants",
        sqlite: include_str!("../../migrations/sqlite/0016_tenants.sql"),
        postgres: include_str!("../../migrations/postgres/0016_tenants.sql"),
    },
    Migration {
        version: 17,
        name: "hardening",
        sqlite: include_str!("../../migrations/sqlite/0017_hardening.sql"),
        postgres: include_str!("../../migrations/postgres/0017_hardening.sql"),
    },
    Migration {
        version: 18,
        name: "shared limits",
        sqlite: include_str!("../../migrations/sqlite/0018_shared_limits.sql"),
        postgres: include_str!("../../migrations/postgres/0018_shared_limits.sql"),
    },
    Migration {
        version: 19,
        name: "matchers",
        sqlite: include_str!("../../migrations/sqlite/0019_matchers.sql"),
        postgres: include_str!("../../migrations/postgres/0019_matchers.sql"),
    },
    Migration {
        version: 20,
        name: "purpose retirement",
        sqlite: include_str!("../../migrations/sqlite/0020_purpose_retirement.sql"),
        postgres: include_str!("../../migrations/postgres/0020_purpose_retirement.sql"),
    },
    Migration {
        version: 21,
        name: "webhooks",
        sqlite: include_str!("../../migrations/sqlite/0021_webhooks.sql"),
        postgres: include_str!("../../migrations/postgres/0021_webhooks.sql"),
    },
    Migration {
        version: 22,
        name: "passkey approvals",
        sqlite: include_str!("../../migrations/sqlite/0022_passkey_approvals.sql"),
        postgres: include_str!("../../migrations/postgres/0022_passkey_approvals.sql"),
    },
];

/// The migration after whose statements the leaves already written are counted (see
/// `ledger_index::backfill`).
const LEDGER_INDEX: i64 = 17;

/// An arbitrary constant naming bioguard's migration lock among PostgreSQL advisory locks.
const PG_LOCK_KEY: i64 = 0x6269_6f67_7561_7264; // "bioguard"

pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(PG_LOCK_KEY)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(&mut conn, backend).await;
    if backend == Backend::Postgres {
        // The lock also ends with the session; an error here only delays other nodes.
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(PG_LOCK_KEY)
            .execute(&mut *conn)
            .await;
    }
    result
}

async fn apply(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<(), StoreError> {
    use sqlx::Connection;

    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS bioguard_migrations (\
            version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, \
            applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;

    let applied: Vec<(i64, String)> =
        sqlx::query("SELECT version, checksum FROM bioguard_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("version")?, r.try_get("checksum")?)))
            .collect::<Result<_, sqlx::Error>>()?;

    if let Some((v, _)) = applied.iter().find(|(v, _)| *v > MIGRATIONS.len() as i64) {
        return Err(StoreError::Schema(format!(
            "the database is at schema version {v}, newer than this program knows \
             ({}); run a newer bioguard",
            MIGRATIONS.len()
        )));
    }

    for m in MIGRATIONS {
        let sql = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        let checksum = hex(&Sha256::digest(sql.as_bytes()));
        if let Some((_, recorded)) = applied.iter().find(|(v, _)| *v == m.version) {
            if *recorded != checksum {
                return Err(StoreError::Schema(format!(
                    "migration {} ({}) recorded in the database differs from this program's; \
                     the schema was changed by hand or by another build",
                    m.version, m.name
                )));
            }
            continue;
        }
        let mut tx = match backend {
            Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => conn.begin().await?,
        };
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        if m.version == LEDGER_INDEX {
            crate::sql::ledger_index::backfill(&mut tx).await?;
        }
        sqlx::query(
            "INSERT INTO bioguard_migrations (version, name, checksum, applied_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(&checksum)
        .bind(now_unix())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied schema migration"
        );
    }
    Ok(())
}
