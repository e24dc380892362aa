use async_trait::async_trait;

use crate::error::StoreError;

/// Limits shared by every node on one database: per-client request rates and per-subject
/// lockouts (whose state a verification reads in its own statement, `VerifyMaterial::lockout`). Kept in tables whose contents may be lost in a crash (PostgreSQL `UNLOGGED`): a
/// limit's state is not a record. The service uses them on PostgreSQL, where several nodes
/// share a database; on SQLite (one process) it keeps them in memory.
#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Takes one request from `key`'s allowance (GCRA: one request per `interval_us`, bursts
    /// up to `burst_us` of them); `Err(wait_us)` when there is none left, with how long until
    /// there is.
    async fn take_rate(
        &self,
        key: &str,
        now_us: i64,
        interval_us: i64,
        burst_us: i64,
    ) -> Result<Result<(), i64>, StoreError>;

    /// Counts a failure at `now`; when `failures` have happened within `window`, locks the key
    /// until `now + lockout_secs`, forgets the failures and returns `true`.
    async fn lockout_fail(
        &self,
        key: &str,
        now: i64,
        window: i64,
        failures: u32,
        lockout_secs: i64,
    ) -> Result<bool, StoreError>;

    /// Forgets a key's failures (a success).
    async fn lockout_clear(&self, key: &str) -> Result<(), StoreError>;
}
