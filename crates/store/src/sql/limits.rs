//! [`LimitStore`] on SQL: one statement takes a request from a client's allowance (GCRA over a
//! "theoretical arrival time" per key), a few keep a subject's failures and lockout.

use async_trait::async_trait;
use sqlx::Connection;

use crate::error::StoreError;
use crate::sql::store::SqlStore;
use crate::traits::LimitStore;

#[async_trait]
impl LimitStore for SqlStore {
    async fn take_rate(
        &self,
        key: &str,
        now_us: i64,
        interval_us: i64,
        burst_us: i64,
    ) -> Result<Result<(), i64>, StoreError> {
        // The arrival time moves on by one interval per request; a request is allowed while it
        // stays within the burst of now. The update runs only when it is allowed.
        let taken = sqlx::query(
            "INSERT INTO rate_limits (key, tat) VALUES ($1, $2 + $3) \
             ON CONFLICT (key) DO UPDATE \
             SET tat = CASE WHEN rate_limits.tat > $2 THEN rate_limits.tat ELSE $2 END + $3 \
             WHERE (CASE WHEN rate_limits.tat > $2 THEN rate_limits.tat ELSE $2 END) + $3 - $2 <= $4 \
             RETURNING tat",
        )
        .bind(key)
        .bind(now_us)
        .bind(interval_us)
        .bind(burst_us)
        .fetch_optional(&self.pool)
        .await?;
        if taken.is_some() {
            return Ok(Ok(()));
        }
        let tat: i64 = sqlx::query_scalar("SELECT tat FROM rate_limits WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
            .unwrap_or(now_us);
        Ok(Err((tat + interval_us - burst_us - now_us).max(1)))
    }

    async fn lockout_fail(
        &self,
        key: &str,
        now: i64,
        window: i64,
        failures: u32,
        lockout_secs: i64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        sqlx::query("DELETE FROM lockout_failures WHERE key = $1 AND at <= $2")
            .bind(key)
            .bind(now - window)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO lockout_failures (key, at) VALUES ($1, $2)")
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM lockout_failures WHERE key = $1")
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
        let locked = n >= i64::from(failures);
        if locked {
            sqlx::query("DELETE FROM lockout_failures WHERE key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await?;
            // Lockouts that ended are dropped as new ones start.
            sqlx::query("DELETE FROM lockouts WHERE until <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO lockouts (key, until) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET until = excluded.until",
            )
            .bind(key)
            .bind(now + lockout_secs)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(locked)
    }

    async fn lockout_clear(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM lockout_failures WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
