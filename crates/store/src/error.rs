/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A row with this identity exists already.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// There is no live consent for the subject and purpose.
    #[error("no live consent for this subject and purpose")]
    NoConsent,
    /// The subject has locked the use of their biometrics.
    #[error("the subject has locked the use of their biometrics")]
    Locked,
    /// Storing the template would take a gallery past the purpose's maximum size.
    #[error("gallery {0} is full")]
    GalleryFull(bioguard_core::GalleryName),
    /// The purpose's protection key changed concurrently.
    #[error("the protection key changed concurrently; retry")]
    ProtectionKeyChanged,
    /// The subject's data key changed while a template was being sealed; seal again.
    #[error("the data key changed concurrently; retry")]
    KeyChanged,
    /// The database cannot be reached, is shutting down or is busy; retry later.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The batch holding this change was not committed (the database failed or went away);
    /// nothing of the change was stored. Retry later.
    #[error("the change was not committed: {0}")]
    NotCommitted(String),
    /// The database's storage is full (SQLite "database or disk is full", PostgreSQL
    /// `disk_full`); nothing of the change was stored.
    #[error("the database's storage is full: {0}")]
    StorageFull(String),
    /// The database refused the operation.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A stored row does not parse into the domain type it should hold.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The schema in the database is newer than this program, or its history differs.
    #[error("database schema: {0}")]
    Schema(String),
    /// The database URL is not one this program can use.
    #[error("database URL: {0}")]
    Url(String),
}

impl StoreError {
    /// Whether a retry later may succeed (the database is down or busy).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::NotCommitted(_)
        )
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &e {
            E::Io(_)
            | E::Tls(_)
            | E::PoolTimedOut
            | E::PoolClosed
            | E::WorkerCrashed
            | E::Protocol(_) => StoreError::Unavailable(e),
            E::Database(db) => {
                let code = db.code().unwrap_or_default();
                let msg = db.message();
                // SQLite FULL (13), PostgreSQL 53100 (disk_full).
                if code == "13" || code == "53100" || msg.contains("disk is full") {
                    return StoreError::StorageFull(msg.to_owned());
                }
                // PostgreSQL classes 08 (connection) and 57P (shutdown, cannot connect now);
                // SQLite BUSY (5) and LOCKED (6).
                if code.starts_with("08")
                    || code.starts_with("57P")
                    || code == "5"
                    || code == "6"
                    || msg.contains("database is locked")
                {
                    StoreError::Unavailable(e)
                } else {
                    StoreError::Database(e)
                }
            }
            _ => StoreError::Database(e),
        }
    }
}
