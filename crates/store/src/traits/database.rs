use async_trait::async_trait;

use crate::error::StoreError;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, embedded.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The database itself.
#[async_trait]
pub trait Database: Send + Sync {
    /// Which database this is.
    fn backend(&self) -> Backend;

    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}
