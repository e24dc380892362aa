//! The storage test suite. Every case runs unchanged on SQLite and on PostgreSQL (the latter
//! when `BIOGUARD_TEST_DATABASE_URL` is set; otherwise it prints a notice and passes).

use std::collections::BTreeSet;

use bioguard_core::{
    ClientId, ClientName, ConsentId, ConsentMethod, DataKeyId, Description, Dimension, Grant,
    NoticeVersion, Operation, Pseudonym, Purpose, PurposeId, Retention, TemplateId, Threshold,
    Timestamp,
};
use bioguard_store::testing::TestDb;
use bioguard_store::{
    EndReason, NewClient, NewConsent, NewTemplate, SealedKey, SqlStore, Store, StoreError,
    StoredDataKey,
};

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

on_both_backends!(
    purposes_round_trip,
    clients_and_grants,
    admin_token_and_secrets,
    consent_lifecycle,
    templates_need_live_consent,
    withdrawal_destroys_template_and_key,
    key_race_is_detected,
    summary_and_erasure,
    migrations_are_idempotent_and_refuse_newer_schemas,
    concurrent_withdrawal_never_leaves_a_template,
);

fn t(secs: i64) -> Timestamp {
    Timestamp::from_unix(1_800_000_000 + secs)
}

fn pid(s: &str) -> PurposeId {
    PurposeId::parse(s).expect("valid purpose id")
}

fn purpose(id: &str) -> Purpose {
    Purpose {
        id: pid(id),
        description: Description::parse("Pay at the till").expect("valid"),
        operations: [Operation::Enroll, Operation::Verify].into(),
        dimension: Dimension::new(4).expect("valid"),
        threshold: Threshold::new(0.75).expect("valid"),
        retention: Retention::new(365, Some(90)).expect("valid"),
    }
}

fn subject(n: u8) -> Pseudonym {
    Pseudonym::from_digest([n; 32])
}

fn consent(purpose: &str, notice: &str, at: i64) -> NewConsent {
    NewConsent {
        id: ConsentId::from_random(rand16()),
        purpose: pid(purpose),
        notice_version: NoticeVersion::parse(notice).expect("valid"),
        method: ConsentMethod::parse("in-app").expect("valid"),
        client: ClientId::from_random([1; 16]),
        at: t(at),
    }
}

fn rand16() -> [u8; 16] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&n.to_le_bytes());
    out[8..].copy_from_slice(&(std::process::id() as u64).to_le_bytes());
    out
}

fn data_key() -> StoredDataKey {
    StoredDataKey {
        id: DataKeyId::from_random(rand16()),
        sealed: SealedKey {
            kek: "local:v1:0011223344556677".into(),
            wrapped: vec![7; 60],
        },
    }
}

fn template(at: i64) -> NewTemplate {
    NewTemplate {
        id: TemplateId::from_random(rand16()),
        format: 1,
        sealed: vec![9; 44],
        at: t(at),
    }
}

async fn open(db: &TestDb) -> SqlStore {
    db.store().await.expect("open the test database")
}

async fn with_purpose(db: &TestDb) -> SqlStore {
    let s = open(db).await;
    s.create_purpose(&purpose("payment"), t(0))
        .await
        .expect("create purpose");
    s
}

async fn purposes_round_trip(db: &TestDb) {
    let s = open(db).await;
    assert!(s.purposes().await.expect("list").is_empty());
    let p = purpose("payment");
    s.create_purpose(&p, t(0)).await.expect("create");
    let mut q = purpose("door");
    q.retention = Retention::new(30, None).expect("valid");
    s.create_purpose(&q, t(1)).await.expect("create");
    assert_eq!(
        s.purpose(&pid("payment")).await.expect("get"),
        Some(p.clone())
    );
    assert_eq!(s.purpose(&pid("nope")).await.expect("get"), None);
    let all = s.purposes().await.expect("list");
    assert_eq!(all, vec![q, p.clone()]);
    assert!(matches!(
        s.create_purpose(&p, t(2)).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn clients_and_grants(db: &TestDb) {
    let s = with_purpose(db).await;
    let grants: BTreeSet<Grant> = [
        Grant {
            purpose: pid("payment"),
            operation: Operation::Enroll,
        },
        Grant {
            purpose: pid("payment"),
            operation: Operation::Verify,
        },
    ]
    .into();
    let c = NewClient {
        id: ClientId::from_random(rand16()),
        name: ClientName::parse("shop").expect("valid"),
        key_digest: [3; 32],
        grants: grants.clone(),
        created_at: t(0),
    };
    s.create_client(&c).await.expect("create");
    let got = s
        .client_by_key_digest(&[3; 32])
        .await
        .expect("get")
        .expect("found");
    assert_eq!(got.id, c.id);
    assert_eq!(got.grants, grants);
    assert!(
        s.client_by_key_digest(&[4; 32])
            .await
            .expect("get")
            .is_none()
    );

    let same_key = NewClient {
        id: ClientId::from_random(rand16()),
        ..c.clone()
    };
    assert!(matches!(
        s.create_client(&same_key).await,
        Err(StoreError::Conflict(_))
    ));

    let no_grants = NewClient {
        id: ClientId::from_random(rand16()),
        key_digest: [5; 32],
        grants: BTreeSet::new(),
        ..c
    };
    s.create_client(&no_grants).await.expect("create");
    let got = s
        .client_by_key_digest(&[5; 32])
        .await
        .expect("get")
        .expect("found");
    assert!(got.grants.is_empty());
}

async fn admin_token_and_secrets(db: &TestDb) {
    let s = open(db).await;
    assert!(!s.has_admin_token().await.expect("query"));
    assert!(s.insert_admin_token(&[1; 32], t(0)).await.expect("insert"));
    assert!(!s.insert_admin_token(&[2; 32], t(1)).await.expect("insert"));
    assert!(s.has_admin_token().await.expect("query"));
    assert!(s.is_admin_token(&[1; 32]).await.expect("query"));
    assert!(!s.is_admin_token(&[2; 32]).await.expect("query"));

    let k1 = SealedKey {
        kek: "local:v1:aa".into(),
        wrapped: vec![1, 2, 3],
    };
    let k2 = SealedKey {
        kek: "local:v1:bb".into(),
        wrapped: vec![4],
    };
    assert_eq!(s.system_secret("pseudonym").await.expect("get"), None);
    assert!(
        s.insert_system_secret("pseudonym", &k1, t(0))
            .await
            .expect("insert")
    );
    assert!(
        !s.insert_system_secret("pseudonym", &k2, t(0))
            .await
            .expect("insert")
    );
    assert_eq!(s.system_secret("pseudonym").await.expect("get"), Some(k1));
}

async fn consent_lifecycle(db: &TestDb) {
    let s = with_purpose(db).await;
    let a = subject(1);
    let first = s
        .grant_consent(&a, &consent("payment", "v1", 10))
        .await
        .expect("grant");
    assert!(first.created);
    let again = s
        .grant_consent(&a, &consent("payment", "v1", 11))
        .await
        .expect("grant");
    assert!(!again.created);
    assert_eq!(again.record.id, first.record.id);

    let v2 = s
        .grant_consent(&a, &consent("payment", "v2", 12))
        .await
        .expect("grant");
    assert!(v2.created);
    let summary = s.subject_summary(&a).await.expect("summary");
    assert_eq!(summary.consents.len(), 2);
    assert_eq!(summary.consents[0].end_reason, Some(EndReason::Superseded));
    assert_eq!(summary.consents[0].ended_at, Some(t(12)));
    assert!(summary.consents[1].is_live());

    let w = s
        .withdraw_consent(&a, &pid("payment"), t(13))
        .await
        .expect("withdraw")
        .expect("was live");
    assert_eq!(w.consent.end_reason, Some(EndReason::Withdrawn));
    assert!(!w.template_destroyed);
    assert!(
        s.withdraw_consent(&a, &pid("payment"), t(14))
            .await
            .expect("withdraw")
            .is_none()
    );
    let m = s
        .verify_material(&a, &pid("payment"))
        .await
        .expect("material");
    assert!(!m.consent_live);
}

async fn templates_need_live_consent(db: &TestDb) {
    let s = with_purpose(db).await;
    let a = subject(2);
    let p = pid("payment");
    let key = data_key();
    assert!(matches!(
        s.put_template(&a, &p, &key, true, &template(1)).await,
        Err(StoreError::NoConsent)
    ));
    assert!(s.data_key(&a, &p).await.expect("get").is_none());

    s.grant_consent(&a, &consent("payment", "v1", 2))
        .await
        .expect("grant");
    let out = s
        .put_template(&a, &p, &key, true, &template(3))
        .await
        .expect("enrol");
    assert!(!out.replaced);
    assert_eq!(s.data_key(&a, &p).await.expect("get"), Some(key.clone()));
    let second = template(4);
    let out = s
        .put_template(&a, &p, &key, false, &second)
        .await
        .expect("replace");
    assert!(out.replaced);

    let m = s.verify_material(&a, &p).await.expect("material");
    assert!(m.consent_live);
    let tpl = m.template.expect("enrolled");
    assert_eq!(tpl.id, second.id);
    assert_eq!(tpl.sealed, second.sealed);
    assert_eq!(tpl.data_key, key);
    assert_eq!(tpl.last_used_at, None);
    s.touch_template(&a, &p, t(5)).await.expect("touch");
    let m = s.verify_material(&a, &p).await.expect("material");
    assert_eq!(m.template.expect("enrolled").last_used_at, Some(t(5)));

    let other = s.verify_material(&subject(3), &p).await.expect("material");
    assert!(!other.consent_live && other.template.is_none());
}

async fn withdrawal_destroys_template_and_key(db: &TestDb) {
    let s = with_purpose(db).await;
    let a = subject(4);
    let p = pid("payment");
    s.grant_consent(&a, &consent("payment", "v1", 1))
        .await
        .expect("grant");
    s.put_template(&a, &p, &data_key(), true, &template(2))
        .await
        .expect("enrol");
    let w = s
        .withdraw_consent(&a, &p, t(3))
        .await
        .expect("withdraw")
        .expect("live");
    assert!(w.template_destroyed && w.data_key_destroyed);
    assert!(s.data_key(&a, &p).await.expect("get").is_none());
    let m = s.verify_material(&a, &p).await.expect("material");
    assert!(m.template.is_none() && !m.consent_live);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM templates")
        .fetch_one(s.pool())
        .await
        .expect("count");
    assert_eq!(n, 0);
}

async fn key_race_is_detected(db: &TestDb) {
    let s = with_purpose(db).await;
    let a = subject(5);
    let p = pid("payment");
    s.grant_consent(&a, &consent("payment", "v1", 1))
        .await
        .expect("grant");
    let k1 = data_key();
    s.put_template(&a, &p, &k1, true, &template(2))
        .await
        .expect("enrol");
    // Another request believed no key existed and made its own.
    assert!(matches!(
        s.put_template(&a, &p, &data_key(), true, &template(3))
            .await,
        Err(StoreError::KeyChanged)
    ));
    // Or it holds a key that is no longer the stored one.
    assert!(matches!(
        s.put_template(&a, &p, &data_key(), false, &template(3))
            .await,
        Err(StoreError::KeyChanged)
    ));
    assert_eq!(s.data_key(&a, &p).await.expect("get"), Some(k1));
}

async fn summary_and_erasure(db: &TestDb) {
    let s = with_purpose(db).await;
    s.create_purpose(&purpose("door"), t(0))
        .await
        .expect("create");
    let a = subject(6);
    let b = subject(7);
    for (who, purpose) in [(&a, "payment"), (&a, "door"), (&b, "payment")] {
        s.grant_consent(who, &consent(purpose, "v1", 1))
            .await
            .expect("grant");
        s.put_template(who, &pid(purpose), &data_key(), true, &template(2))
            .await
            .expect("enrol");
    }
    let sum = s.subject_summary(&a).await.expect("summary");
    assert_eq!(sum.consents.len(), 2);
    let purposes: Vec<_> = sum
        .templates
        .iter()
        .map(|t| t.purpose.as_str().to_owned())
        .collect();
    assert_eq!(purposes, ["door", "payment"]);

    let out = s.erase_subject(&a).await.expect("erase");
    assert_eq!((out.templates, out.data_keys, out.consents), (2, 2, 2));
    assert_eq!(
        s.subject_summary(&a).await.expect("summary"),
        Default::default()
    );
    assert_eq!(
        s.erase_subject(&a).await.expect("erase"),
        Default::default()
    );
    // The other subject is untouched.
    let sum_b = s.subject_summary(&b).await.expect("summary");
    assert_eq!((sum_b.consents.len(), sum_b.templates.len()), (1, 1));
}

async fn migrations_are_idempotent_and_refuse_newer_schemas(db: &TestDb) {
    let s = with_purpose(db).await;
    let again = open(db).await;
    assert_eq!(again.purposes().await.expect("list").len(), 1);
    sqlx::query(
        "INSERT INTO bioguard_migrations (version, name, checksum, applied_at) \
         VALUES (999, 'future', 'x', 0)",
    )
    .execute(s.pool())
    .await
    .expect("insert");
    let e = db.store().await.expect_err("refused");
    assert!(matches!(e, StoreError::Schema(_)), "{e}");
    assert!(e.to_string().contains("newer"), "{e}");
}

async fn concurrent_withdrawal_never_leaves_a_template(db: &TestDb) {
    let s = with_purpose(db).await;
    let p = pid("payment");
    let mut tasks = Vec::new();
    for n in 0..12u8 {
        let who = subject(100 + n);
        s.grant_consent(&who, &consent("payment", "v1", 1))
            .await
            .expect("grant");
        let (s1, s2, p1, p2, w1, w2) =
            (s.clone(), s.clone(), p.clone(), p.clone(), who.clone(), who);
        tasks.push(tokio::spawn(async move {
            // Either outcome is fine; what matters is the state afterwards.
            let _ = s1
                .put_template(&w1, &p1, &data_key(), true, &template(2))
                .await;
        }));
        tasks.push(tokio::spawn(async move {
            s2.withdraw_consent(&w2, &p2, t(3)).await.expect("withdraw");
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM templates t WHERE NOT EXISTS (SELECT 1 FROM consents c \
         WHERE c.subject = t.subject AND c.purpose_id = t.purpose_id AND c.ended_at IS NULL)",
    )
    .fetch_one(s.pool())
    .await
    .expect("count");
    assert_eq!(orphans, 0, "a template survived its consent's withdrawal");
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM data_keys")
        .fetch_one(s.pool())
        .await
        .expect("count");
    assert_eq!(keys, 0);
}
