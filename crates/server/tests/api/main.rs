//! API tests: the HTTP contract driven through `app(state)` without a socket, on SQLite and
//! (when `BIOGUARD_TEST_DATABASE_URL` is set) PostgreSQL.

mod admin;
mod audit;
mod claims;
mod contract;
mod errors;
mod fairness;
mod governance;
mod hardening;
mod harness;
mod identify;
mod ledger_privacy;
mod pages;
mod passkeys;
mod portal;
mod retention;
mod rights;
mod risk;
mod storage;
mod tenants;
mod webhooks;

/// Runs each named case against SQLite and PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = bioguard_store::testing::TestDb::sqlite();
                    let h = $crate::harness::Harness::start(db).await;
                    super::$case(&h).await;
                    h.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = bioguard_store::testing::TestDb::postgres(stringify!($case)).await
                    else {
                        return;
                    };
                    let h = $crate::harness::Harness::start(db).await;
                    super::$case(&h).await;
                    h.finish().await;
                }
            )*
        }
    };
}
