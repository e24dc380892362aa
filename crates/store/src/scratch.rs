//! Scratch databases: a SQLite file in a new temporary folder, or a new schema in a
//! PostgreSQL database, removed when done. For benchmarks that must never touch the tables a
//! service uses, and (through `testing`) for tests.

use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::sql::SqlStore;

/// A database of its own: a SQLite file in a temporary folder, or a PostgreSQL schema.
pub struct Scratch {
    url: String,
    kind: &'static str,
    dir: Option<PathBuf>,
    pg: Option<(String, String)>,
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind)
    }
}

/// A name part no other scratch database of this machine has: the time, the process and a
/// counter.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}_{}_{}",
        now.as_secs(),
        std::process::id(),
        (now.as_nanos() as u64 ^ N.fetch_add(1, Ordering::Relaxed)) % 1_000_000_007
    )
}

impl Scratch {
    /// A SQLite database in a new folder under the system temporary folder.
    pub fn sqlite() -> Result<Self, StoreError> {
        let dir = std::env::temp_dir().join(format!("bioguard-scratch-{}", unique_suffix()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| StoreError::Url(format!("cannot create {}: {e}", dir.display())))?;
        let url = format!("sqlite://{}/bioguard.db?mode=rwc", dir.display());
        Ok(Self {
            url,
            kind: "sqlite",
            dir: Some(dir),
            pg: None,
        })
    }

    /// A new schema in the PostgreSQL database at `base`. Schemas of this kind left by
    /// crashed runs more than a day ago are dropped.
    pub async fn postgres_at(base: &str) -> Result<Self, StoreError> {
        let base = base.to_owned();
        let schema = format!("bgt_{}", unique_suffix());
        let admin = SqlStore::raw_pool(&base).await?;
        let cutoff = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
            - 86_400;
        let stale: Vec<String> = sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'bgt\\_%'",
        )
        .fetch_all(&admin)
        .await
        .unwrap_or_default();
        for s in stale {
            let born: i64 = s
                .split('_')
                .nth(1)
                .and_then(|t| t.parse().ok())
                .unwrap_or(i64::MAX);
            if born < cutoff {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {s} CASCADE"
                )))
                .execute(&admin)
                .await;
            }
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await?;
        admin.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        Ok(Self {
            url,
            kind: "postgres",
            dir: None,
            pg: Some((base, schema)),
        })
    }

    /// The database URL, for `bioguard serve --database-url` or [`SqlStore::connect`].
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The SQLite folder (holding `bioguard.db` and its WAL).
    pub fn sqlite_dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The PostgreSQL base URL and schema.
    pub fn postgres_schema(&self) -> Option<(&str, &str)> {
        self.pg.as_ref().map(|(u, s)| (u.as_str(), s.as_str()))
    }

    /// Opens a migrated store on this database.
    pub async fn store(&self) -> Result<SqlStore, StoreError> {
        SqlStore::connect(&self.url).await
    }

    /// Removes the database: the folder or the schema.
    pub async fn cleanup(self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((base, schema)) = &self.pg
            && let Ok(admin) = SqlStore::raw_pool(base).await
        {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}
