//! Databases for tests (the `testing` feature; never in the shipped binary): a SQLite file in
//! a temporary folder, or a fresh schema in the PostgreSQL database named by
//! `BIOGUARD_TEST_DATABASE_URL`.
//!
//! Every storage test runs against both through [`TestDb`]. Without the variable the
//! PostgreSQL half is skipped with a notice on stderr, so a laptop without PostgreSQL still
//! runs the suite; CI sets it, so CI runs both.

use std::path::Path;

use crate::error::StoreError;
use crate::scratch::Scratch;
use crate::sql::SqlStore;

/// The environment variable naming the PostgreSQL database tests may use.
pub const TEST_DATABASE_URL: &str = "BIOGUARD_TEST_DATABASE_URL";

/// A test database: a SQLite file or a PostgreSQL schema of its own.
#[derive(Debug)]
pub struct TestDb(Scratch);

impl TestDb {
    /// A SQLite database in a new folder under the system temporary folder.
    pub fn sqlite() -> Self {
        Self(Scratch::sqlite().expect("create a temporary folder"))
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
        Some(Self(Scratch::postgres_at(&base).await.unwrap_or_else(
            |e| panic!("{TEST_DATABASE_URL} is set but unusable: {e}"),
        )))
    }

    /// The database URL.
    pub fn url(&self) -> &str {
        self.0.url()
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        self.0.kind()
    }

    /// The SQLite folder (holding `bioguard.db` and its WAL), for tests that read files.
    pub fn sqlite_dir(&self) -> Option<&Path> {
        self.0.sqlite_dir()
    }

    /// The PostgreSQL base URL and schema, for tests that dump tables.
    pub fn postgres_schema(&self) -> Option<(&str, &str)> {
        self.0.postgres_schema()
    }

    /// Opens a migrated store on this database.
    pub async fn store(&self) -> Result<SqlStore, StoreError> {
        self.0.store().await
    }

    /// Removes the database.
    pub async fn cleanup(self) {
        self.0.cleanup().await;
    }
}
