//! Databases for tests: a SQLite file in a temporary directory, or a fresh schema in the
//! PostgreSQL database named by `BIOGUARD_TEST_DATABASE_URL`.
//!
//! Every storage test runs against both through [`TestDb`]. Without the variable the
//! PostgreSQL half is skipped with a notice on stderr, so a laptop without PostgreSQL still
//! runs the suite; CI sets it, so CI runs both.

use std::path::{Path, PathBuf};

use crate::{SqlStore, StoreError};

/// The environment variable naming the PostgreSQL database tests may use.
pub const TEST_DATABASE_URL: &str = "BIOGUARD_TEST_DATABASE_URL";

/// A test database: a SQLite file or a PostgreSQL schema of its own.
pub struct TestDb {
    url: String,
    kind: &'static str,
    dir: Option<PathBuf>,
    pg: Option<(String, String)>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind)
    }
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        crate::sql::now_unix(),
        std::process::id(),
        (nanos as u64 ^ N.fetch_add(1, Ordering::Relaxed)) % 1_000_000_007
    )
}

impl TestDb {
    /// A SQLite database in a new directory under the system temporary directory.
    pub fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("bioguard-test-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        let url = format!("sqlite://{}/bioguard.db?mode=rwc", dir.display());
        Self {
            url,
            kind: "sqlite",
            dir: Some(dir),
            pg: None,
        }
    }

    /// A new schema in the PostgreSQL database named by [`TEST_DATABASE_URL`], or `None`
    /// (with a notice) when the variable is not set.
    pub async fn postgres(test: &str) -> Option<Self> {
        let Ok(base) = std::env::var(TEST_DATABASE_URL) else {
            eprintln!(
                "note: {TEST_DATABASE_URL} is not set; skipping the PostgreSQL run of {test}"
            );
            return None;
        };
        Some(
            Self::postgres_at(&base)
                .await
                .unwrap_or_else(|e| panic!("{TEST_DATABASE_URL} is set but unusable: {e}")),
        )
    }

    /// A new schema in the PostgreSQL database at `base` (also used by benchmarks, so that
    /// they never touch the tables a service uses). Schemas of this kind left by crashed runs
    /// more than a day ago are dropped.
    pub async fn postgres_at(base: &str) -> Result<Self, StoreError> {
        let base = base.to_owned();
        let schema = format!("bgt_{}", unique_suffix());
        let admin = SqlStore::raw_pool(&base).await?;
        // Schemas left by crashed runs older than a day are dropped.
        let cutoff = crate::sql::now_unix() - 86_400;
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

    /// The SQLite directory (holding `bioguard.db` and its WAL), for tests that read files.
    pub fn sqlite_dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The PostgreSQL base URL and schema, for tests that dump tables.
    pub fn postgres_schema(&self) -> Option<(&str, &str)> {
        self.pg.as_ref().map(|(u, s)| (u.as_str(), s.as_str()))
    }

    /// Opens a migrated store on this database.
    pub async fn store(&self) -> Result<SqlStore, StoreError> {
        SqlStore::connect(&self.url).await
    }

    /// Removes the database: the directory or the schema.
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
