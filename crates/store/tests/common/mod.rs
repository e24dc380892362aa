//! What the store's test files share: each case runs on SQLite and, when
//! `BIOGUARD_TEST_DATABASE_URL` is set, on PostgreSQL (otherwise it prints a notice and passes).

/// Runs each named `async fn case(db: &TestDb)` on both backends, as `sqlite::case` and
/// `postgres::case`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = bioguard_store::testing::TestDb::sqlite();
                    super::$case(&db).await;
                    db.cleanup().await;
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
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}
