//! The storage test suite. Every case runs unchanged on SQLite and on PostgreSQL (the latter
//! when `BIOGUARD_TEST_DATABASE_URL` is set; otherwise it prints a notice and passes).

use std::collections::BTreeSet;

use bioguard_core::{
    Centre, ClientId, ClientName, CodeBits, ConsentId, ConsentMethod, DataKeyId, Description,
    Dimension, EndReason, GalleryName, Grant, Matcher, NewConsent, Notice, NoticeVersion,
    Operation, Pseudonym, Purpose, PurposeId, Retention, SubjectRight, TemplateId, TenantId,
    Threshold, Timestamp, Transform,
};
use bioguard_store::prelude::*;
use bioguard_store::testing::TestDb;
use bioguard_store::{
    LeafDraft, NewClient, NewTemplate, ProtectionKey, SealedKey, SqlStore, StoreError,
    StoredDataKey,
};

#[macro_use]
mod common;

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
    galleries_are_bounded_and_indexed,
    protection_keys_rotate_and_old_ones_are_destroyed,
    every_change_writes_exactly_one_leaf_and_no_refusal_writes_any,
    a_leaf_that_cannot_be_written_takes_its_change_with_it,
    concurrent_writers_keep_the_log_gap_free,
    one_batch_commits_the_good_changes_and_refuses_only_the_bad,
    concurrent_verification_reads_each_get_their_own_answer,
    decisions_are_counted_and_found_by_key,
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
        code_bits: CodeBits::DEFAULT,
        max_gallery_size: None,
        calibration: None,
        risk: bioguard_core::RiskPolicy::default(),
        fairness: bioguard_core::FairnessPolicy::default(),
    }
}

fn identify_purpose(id: &str, max: u32) -> Purpose {
    Purpose {
        operations: [Operation::Enroll, Operation::Verify, Operation::Identify].into(),
        max_gallery_size: Some(max),
        calibration: Some("{\"target_fmr\":0.001}".into()),
        risk: bioguard_core::RiskPolicy::default(),
        fairness: bioguard_core::FairnessPolicy::default(),
        ..purpose(id)
    }
}

/// An audit leaf draft for store calls.
fn lf() -> LeafDraft {
    LeafDraft {
        time: t(0),
        op: "test",
        actor: "test".into(),
        subject: None,
        mentions: Vec::new(),
        purpose: None,
        decision: None,
        request: None,
        detail: Vec::new(),
        outbox: Vec::new(),
    }
}

fn notice() -> Notice {
    Notice {
        version: 1,
        body: "{}".into(),
        hash: "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a".into(),
        material: true,
        reconsent_days: None,
        published_at: t(0),
    }
}

/// A protection key; even tags carry a centred structured matcher, odd ones the legacy one,
/// so that both kinds round-trip.
fn pkey(tag: u8) -> ProtectionKey {
    ProtectionKey {
        sealed: SealedKey {
            kek: "local:v1:0011223344556677".into(),
            wrapped: vec![tag; 60],
        },
        matcher: if tag.is_multiple_of(2) {
            Matcher {
                transform: Transform::HadamardSign,
                centre: Some(
                    Centre::new(
                        vec![f32::from(tag) / 10.0, -0.5, 0.25],
                        25,
                        Dimension::new(3).expect("dim"),
                    )
                    .expect("centre"),
                ),
            }
        } else {
            Matcher::LEGACY
        },
    }
}

fn gallery(s: &str) -> GalleryName {
    GalleryName::parse(s).expect("valid gallery")
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
        format: 2,
        sealed: vec![9; 44],
        protection_version: 1,
        galleries: Vec::new(),
        max_gallery_size: None,
        at: t(at),
    }
}

fn in_galleries(at: i64, galleries: &[&str]) -> NewTemplate {
    NewTemplate {
        galleries: galleries.iter().map(|g| gallery(g)).collect(),
        ..template(at)
    }
}

fn bounded(t: NewTemplate, max: u32) -> NewTemplate {
    NewTemplate {
        max_gallery_size: Some(max),
        ..t
    }
}

async fn open(db: &TestDb) -> SqlStore {
    db.store().await.expect("open the test database")
}

async fn with_purpose(db: &TestDb) -> SqlStore {
    let s = open(db).await;
    s.create_purpose(&purpose("payment"), &pkey(1), &notice(), &lf())
        .await
        .expect("create purpose");
    s
}

async fn purposes_round_trip(db: &TestDb) {
    let s = open(db).await;
    assert!(s.purposes().await.expect("list").is_empty());
    let p = purpose("payment");
    s.create_purpose(&p, &pkey(1), &notice(), &lf())
        .await
        .expect("create");
    let mut q = identify_purpose("door", 500);
    q.retention = Retention::new(30, None).expect("valid");
    q.code_bits = CodeBits::new(1024).expect("valid");
    s.create_purpose(&q, &pkey(2), &notice(), &lf())
        .await
        .expect("create");
    let got = s
        .purpose(&pid("payment"))
        .await
        .expect("get")
        .expect("found");
    assert_eq!((got.purpose, got.protection_version), (p.clone(), 1));
    assert_eq!(s.purpose(&pid("nope")).await.expect("get"), None);
    let all: Vec<Purpose> = s
        .purposes()
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.purpose)
        .collect();
    assert_eq!(all, vec![q, p.clone()]);
    assert!(matches!(
        s.create_purpose(&p, &pkey(3), &notice(), &lf()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.protection_key(&pid("payment"), 1).await.expect("get"),
        Some(pkey(1))
    );
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
        tenant: TenantId::default(),
        rights: [SubjectRight::Read, SubjectRight::Lock].into(),
        grants: grants.clone(),
        created_at: t(0),
    };
    s.create_client(&c, &lf()).await.expect("create");
    let got = s
        .client_by_key_digest(&[3; 32])
        .await
        .expect("get")
        .expect("found");
    assert_eq!(got.id, c.id);
    assert_eq!(got.grants, grants);
    assert_eq!((&got.tenant, &got.rights), (&c.tenant, &c.rights));
    assert_eq!(s.client(&c.id).await.expect("get"), Some(got.clone()));
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
        s.create_client(&same_key, &lf()).await,
        Err(StoreError::Conflict(_))
    ));

    let no_grants = NewClient {
        id: ClientId::from_random(rand16()),
        key_digest: [5; 32],
        tenant: TenantId::default(),
        rights: BTreeSet::new(),
        grants: BTreeSet::new(),
        ..c
    };
    s.create_client(&no_grants, &lf()).await.expect("create");
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
    assert!(
        s.insert_admin_token(&[1; 32], t(0), &lf())
            .await
            .expect("insert")
    );
    assert!(
        !s.insert_admin_token(&[2; 32], t(1), &lf())
            .await
            .expect("insert")
    );
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
        .grant_consent(&a, &consent("payment", "v1", 10), &lf())
        .await
        .expect("grant");
    assert!(first.created);
    let again = s
        .grant_consent(&a, &consent("payment", "v1", 11), &lf())
        .await
        .expect("grant");
    assert!(!again.created);
    assert_eq!(again.record.id, first.record.id);

    let v2 = s
        .grant_consent(&a, &consent("payment", "v2", 12), &lf())
        .await
        .expect("grant");
    assert!(v2.created);
    let summary = s.subject_summary(&a).await.expect("summary");
    assert_eq!(summary.consents.len(), 2);
    assert_eq!(
        summary.consents[0].end_reason(),
        Some(EndReason::Superseded)
    );
    assert_eq!(summary.consents[0].ended_at(), Some(t(12)));
    assert!(summary.consents[1].is_live());

    let w = s
        .withdraw_consent(&a, &pid("payment"), t(13), &lf())
        .await
        .expect("withdraw")
        .expect("was live");
    assert_eq!(w.consent.end_reason(), Some(EndReason::Withdrawn));
    assert!(w.template_id.is_none());
    assert!(
        s.withdraw_consent(&a, &pid("payment"), t(14), &lf())
            .await
            .expect("withdraw")
            .is_none()
    );
    let m = s
        .verify_material(&a, &pid("payment"))
        .await
        .expect("material");
    assert!(!m.consent.live);
}

async fn templates_need_live_consent(db: &TestDb) {
    let s = with_purpose(db).await;
    let a = subject(2);
    let p = pid("payment");
    let key = data_key();
    assert!(matches!(
        s.put_template(&a, &p, &key, true, &template(1), &lf())
            .await,
        Err(StoreError::NoConsent)
    ));
    assert!(s.data_key(&a, &p).await.expect("get").is_none());

    s.grant_consent(&a, &consent("payment", "v1", 2), &lf())
        .await
        .expect("grant");
    let first = template(3);
    let out = s
        .put_template(&a, &p, &key, true, &first, &lf())
        .await
        .expect("enrol");
    assert_eq!(out.replaced, None);
    assert_eq!(s.data_key(&a, &p).await.expect("get"), Some(key.clone()));
    let second = template(4);
    let out = s
        .put_template(&a, &p, &key, false, &second, &lf())
        .await
        .expect("replace");
    assert_eq!(out.replaced, Some(first.id.clone()));
    assert!(!s.template_exists(&first.id).await.expect("exists"));
    assert!(s.template_exists(&second.id).await.expect("exists"));

    let m = s.verify_material(&a, &p).await.expect("material");
    assert!(m.consent.live);
    let tpl = m.template.expect("enrolled");
    assert_eq!(tpl.id, second.id);
    assert_eq!(tpl.sealed, second.sealed);
    assert_eq!(tpl.data_key, key);
    assert_eq!(tpl.last_used_at, None);
    s.record_verification(&second.id, t(5), &lf())
        .await
        .expect("touch");
    let m = s.verify_material(&a, &p).await.expect("material");
    assert_eq!(m.template.expect("enrolled").last_used_at, Some(t(5)));

    let other = s.verify_material(&subject(3), &p).await.expect("material");
    assert!(!other.consent.live && other.template.is_none());
}

async fn withdrawal_destroys_template_and_key(db: &TestDb) {
    let s = with_purpose(db).await;
    let a = subject(4);
    let p = pid("payment");
    s.grant_consent(&a, &consent("payment", "v1", 1), &lf())
        .await
        .expect("grant");
    let tpl = in_galleries(2, &["store-1"]);
    s.put_template(&a, &p, &data_key(), true, &tpl, &lf())
        .await
        .expect("enrol");
    let w = s
        .withdraw_consent(&a, &p, t(3), &lf())
        .await
        .expect("withdraw")
        .expect("live");
    assert!(w.template_id.is_some() && w.data_key_destroyed);
    assert_eq!(w.template_id, Some(tpl.id));
    assert_eq!(
        s.gallery_size(&p, &gallery("store-1")).await.expect("size"),
        0
    );
    assert!(s.data_key(&a, &p).await.expect("get").is_none());
    let m = s.verify_material(&a, &p).await.expect("material");
    assert!(m.template.is_none() && !m.consent.live);
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
    s.grant_consent(&a, &consent("payment", "v1", 1), &lf())
        .await
        .expect("grant");
    let k1 = data_key();
    s.put_template(&a, &p, &k1, true, &template(2), &lf())
        .await
        .expect("enrol");
    // Another request believed no key existed and made its own.
    assert!(matches!(
        s.put_template(&a, &p, &data_key(), true, &template(3), &lf())
            .await,
        Err(StoreError::KeyChanged)
    ));
    // Or it holds a key that is no longer the stored one.
    assert!(matches!(
        s.put_template(&a, &p, &data_key(), false, &template(3), &lf())
            .await,
        Err(StoreError::KeyChanged)
    ));
    assert_eq!(s.data_key(&a, &p).await.expect("get"), Some(k1));
}

async fn summary_and_erasure(db: &TestDb) {
    let s = with_purpose(db).await;
    s.create_purpose(&purpose("door"), &pkey(2), &notice(), &lf())
        .await
        .expect("create");
    let a = subject(6);
    let b = subject(7);
    for (who, purpose) in [(&a, "payment"), (&a, "door"), (&b, "payment")] {
        s.grant_consent(who, &consent(purpose, "v1", 1), &lf())
            .await
            .expect("grant");
        s.put_template(who, &pid(purpose), &data_key(), true, &template(2), &lf())
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

    let out = s.erase_subject(&a, &lf()).await.expect("erase");
    assert_eq!(
        (out.template_ids.len(), out.data_keys, out.consents),
        (2, 2, 2)
    );
    assert_eq!(out.template_ids.len(), 2);
    assert_eq!(
        s.subject_summary(&a).await.expect("summary"),
        Default::default()
    );
    // Erasing again deletes nothing, and is recorded in its own leaf after the first.
    let again = s.erase_subject(&a, &lf()).await.expect("erase");
    assert_eq!(again.leaf_index, out.leaf_index + 1);
    assert_eq!(
        again,
        bioguard_store::EraseOutcome {
            leaf_index: again.leaf_index,
            ..Default::default()
        }
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
        s.grant_consent(&who, &consent("payment", "v1", 1), &lf())
            .await
            .expect("grant");
        let (s1, s2, p1, p2, w1, w2) =
            (s.clone(), s.clone(), p.clone(), p.clone(), who.clone(), who);
        tasks.push(tokio::spawn(async move {
            // Either outcome is fine; what matters is the state afterwards.
            let _ = s1
                .put_template(&w1, &p1, &data_key(), true, &in_galleries(2, &["g"]), &lf())
                .await;
        }));
        tasks.push(tokio::spawn(async move {
            s2.withdraw_consent(&w2, &p2, t(3), &lf())
                .await
                .expect("withdraw");
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
    let memberships: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM template_galleries")
        .fetch_one(s.pool())
        .await
        .expect("count");
    assert_eq!(memberships, 0);
}

async fn galleries_are_bounded_and_indexed(db: &TestDb) {
    let s = open(db).await;
    s.create_purpose(&identify_purpose("face-pay", 3), &pkey(1), &notice(), &lf())
        .await
        .expect("create");
    let p = pid("face-pay");
    let mut ids = Vec::new();
    for n in 0..3u8 {
        let who = subject(50 + n);
        s.grant_consent(&who, &consent("face-pay", "v1", 1), &lf())
            .await
            .expect("grant");
        let tpl = bounded(in_galleries(2, &["store-1", "region-n"]), 3);
        ids.push(tpl.id.clone());
        s.put_template(&who, &p, &data_key(), true, &tpl, &lf())
            .await
            .expect("enrol");
    }
    assert_eq!(
        s.gallery_size(&p, &gallery("store-1")).await.expect("size"),
        3
    );
    // A fourth member would take store-1 past its maximum; nothing of it is stored.
    let fourth = subject(60);
    s.grant_consent(&fourth, &consent("face-pay", "v1", 1), &lf())
        .await
        .expect("grant");
    let e = s
        .put_template(
            &fourth,
            &p,
            &data_key(),
            true,
            &bounded(in_galleries(3, &["store-2", "store-1"]), 3),
            &lf(),
        )
        .await
        .expect_err("full");
    assert!(
        matches!(&e, StoreError::GalleryFull(g) if g.as_str() == "store-1"),
        "{e}"
    );
    assert!(s.data_key(&fourth, &p).await.expect("get").is_none());
    assert_eq!(
        s.gallery_size(&p, &gallery("store-2")).await.expect("size"),
        0
    );
    // Re-enrolling a member does not count it twice.
    let again = bounded(in_galleries(4, &["store-1"]), 3);
    let key = s
        .data_key(&subject(50), &p)
        .await
        .expect("get")
        .expect("key");
    s.put_template(&subject(50), &p, &key, false, &again, &lf())
        .await
        .expect("re-enrol");
    assert_eq!(
        s.gallery_size(&p, &gallery("store-1")).await.expect("size"),
        3
    );
    assert_eq!(
        s.gallery_size(&p, &gallery("region-n"))
            .await
            .expect("size"),
        2
    );
    ids[0] = again.id.clone();

    let c = s
        .candidate(&p, &ids[1])
        .await
        .expect("candidate")
        .expect("found");
    assert_eq!(c.subject, subject(51));
    assert!(c.consent.live);
    let mut names: Vec<&str> = c.galleries.iter().map(|g| g.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["region-n", "store-1"]);
    assert!(
        s.candidate(&pid("payment"), &ids[1])
            .await
            .expect("candidate")
            .is_none()
    );

    // Pages of two, in id order, each template once with all its galleries.
    let mut seen = Vec::new();
    let mut after: Option<TemplateId> = None;
    loop {
        let page = s.index_page(&p, 1, after.as_ref(), 2).await.expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        after = page.last().map(|r| r.template.id.clone());
        seen.extend(page.into_iter().map(|r| (r.template.id, r.galleries.len())));
    }
    let mut expected: Vec<TemplateId> = ids.clone();
    expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(
        seen.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        expected
    );
    assert!(
        s.index_page(&p, 2, None, 10)
            .await
            .expect("page")
            .is_empty()
    );

    s.record_identification(&ids[1..2], t(9), &[lf()])
        .await
        .expect("touch");
    let c = s
        .candidate(&p, &ids[1])
        .await
        .expect("candidate")
        .expect("found");
    assert_eq!(c.template.last_used_at, Some(t(9)));
}

async fn protection_keys_rotate_and_old_ones_are_destroyed(db: &TestDb) {
    let s = open(db).await;
    s.create_purpose(&purpose("payment"), &pkey(1), &notice(), &lf())
        .await
        .expect("create");
    let p = pid("payment");
    assert_eq!(
        s.rotate_protection_key(&p, 1, &pkey(2), t(1), &lf())
            .await
            .expect("rotate"),
        2
    );
    assert_eq!(
        s.purpose(&p)
            .await
            .expect("get")
            .expect("found")
            .protection_version,
        2
    );
    assert_eq!(
        s.protection_key(&p, 1).await.expect("get"),
        None,
        "the old key is destroyed"
    );
    assert_eq!(s.protection_key(&p, 2).await.expect("get"), Some(pkey(2)));
    assert!(matches!(
        s.rotate_protection_key(&p, 1, &pkey(3), t(2), &lf()).await,
        Err(StoreError::ProtectionKeyChanged)
    ));
}

async fn audit_size(s: &SqlStore) -> u64 {
    s.audit_size().await.expect("size")
}

/// Checks the stored leaves: canonical, indexes 0..n, each naming its predecessor's hash.
async fn assert_chain(s: &SqlStore) {
    let n = audit_size(s).await;
    let leaves = s.audit_leaves(0, n).await.expect("leaves");
    assert_eq!(leaves.len() as u64, n);
    let key = bioguard_ledger::LogKey::from_seed("t", &[1; 32]).expect("key");
    let r = bioguard_ledger::verify_log(&leaves, &[], "t", &key.verifier());
    assert!(r.is_ok(), "{r:?}");
    // The counters kept with the leaves agree with the leaves themselves.
    let counts = s.audit_counts().await.expect("counts");
    assert_eq!(counts.size(), n, "{counts:?}");
    let mut ops = std::collections::BTreeMap::new();
    for l in &leaves {
        *ops.entry(bioguard_ledger::Leaf::decode(l).expect("leaf").op)
            .or_insert(0u64) += 1;
    }
    assert_eq!(counts.by_op, ops);
}

/// Verification leaves are counted by decision and found by their decision id, also when
/// other changes in their batch fail.
async fn decisions_are_counted_and_found_by_key(db: &TestDb) {
    let s = with_purpose(db).await;
    let mut tasks = Vec::new();
    for n in 0..60u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            if n % 3 == 0 {
                // Refused: its leaf must not be counted.
                let refused = s
                    .create_purpose(&purpose("payment"), &pkey(n), &notice(), &lf())
                    .await;
                assert!(matches!(refused, Err(StoreError::Conflict(_))));
                return None;
            }
            let id = bioguard_core::DecisionId::from_random([n; 16]);
            let mut leaf = lf();
            leaf.op = "verify";
            leaf.decision = Some(if n % 2 == 0 { "match" } else { "no_match" }.into());
            leaf.detail = vec![("decision".into(), id.to_string())];
            let idx = s.append_audit(&leaf).await.expect("leaf");
            Some((id, idx))
        }));
    }
    let mut written = Vec::new();
    for t in tasks {
        written.extend(t.await.expect("task"));
    }
    assert_chain(&s).await;
    let counts = s.audit_counts().await.expect("counts");
    assert_eq!(counts.by_op.get("verify"), Some(&40));
    let matched = written
        .iter()
        .filter(|(id, _)| id.to_bytes()[0] % 2 == 0)
        .count() as u64;
    assert_eq!(
        counts.by_decision.get(&("verify".into(), "match".into())),
        Some(&matched)
    );
    assert_eq!(
        counts
            .by_decision
            .get(&("verify".into(), "no_match".into())),
        Some(&(40 - matched))
    );
    for (id, idx) in &written {
        let found = s.decision_leaf(id).await.expect("lookup").expect("found");
        assert_eq!(found.index, *idx);
    }
    let unknown = bioguard_core::DecisionId::from_random([255; 16]);
    assert!(s.decision_leaf(&unknown).await.expect("lookup").is_none());
}

async fn every_change_writes_exactly_one_leaf_and_no_refusal_writes_any(db: &TestDb) {
    let s = open(db).await;
    let p = pid("payment");
    let a = subject(9);
    let mut expected = 0u64;
    macro_rules! step {
        ($n:expr) => {{
            expected += $n;
            expected
        }};
    }
    s.create_purpose(&purpose("payment"), &pkey(1), &notice(), &lf())
        .await
        .expect("create");
    assert_eq!(audit_size(&s).await, step!(1));
    assert!(
        s.create_purpose(&purpose("payment"), &pkey(1), &notice(), &lf())
            .await
            .is_err()
    );
    assert_eq!(
        audit_size(&s).await,
        step!(0),
        "a refused change writes no leaf"
    );
    let c = NewClient {
        id: ClientId::from_random(rand16()),
        name: ClientName::parse("shop").expect("valid"),
        key_digest: [8; 32],
        tenant: TenantId::default(),
        rights: BTreeSet::new(),
        grants: BTreeSet::new(),
        created_at: t(0),
    };
    s.create_client(&c, &lf()).await.expect("client");
    assert_eq!(audit_size(&s).await, step!(1));
    assert!(
        s.insert_admin_token(&[1; 32], t(0), &lf())
            .await
            .expect("admin")
    );
    assert!(
        !s.insert_admin_token(&[2; 32], t(0), &lf())
            .await
            .expect("admin")
    );
    assert_eq!(audit_size(&s).await, step!(1));
    assert!(matches!(
        s.put_template(&a, &p, &data_key(), true, &template(1), &lf())
            .await,
        Err(StoreError::NoConsent)
    ));
    assert_eq!(audit_size(&s).await, step!(0));
    s.grant_consent(&a, &consent("payment", "v1", 1), &lf())
        .await
        .expect("grant");
    s.grant_consent(&a, &consent("payment", "v1", 2), &lf())
        .await
        .expect("same again");
    assert_eq!(
        audit_size(&s).await,
        step!(1),
        "re-sending a live consent changes nothing"
    );
    let tpl = template(3);
    s.put_template(&a, &p, &data_key(), true, &tpl, &lf())
        .await
        .expect("enrol");
    assert_eq!(audit_size(&s).await, step!(1));
    assert_eq!(
        s.record_verification(&tpl.id, t(4), &lf())
            .await
            .expect("verify"),
        expected
    );
    assert_eq!(audit_size(&s).await, step!(1));
    let idx = s
        .record_identification(&[], t(5), &[lf(), lf()])
        .await
        .expect("identify");
    assert_eq!(idx, vec![expected, expected + 1]);
    assert_eq!(audit_size(&s).await, step!(2));
    s.rotate_protection_key(&p, 1, &pkey(2), t(6), &lf())
        .await
        .expect("rotate");
    assert_eq!(audit_size(&s).await, step!(1));
    s.withdraw_consent(&a, &p, t(7), &lf())
        .await
        .expect("withdraw")
        .expect("live");
    assert!(
        s.withdraw_consent(&a, &p, t(8), &lf())
            .await
            .expect("withdraw")
            .is_none()
    );
    assert_eq!(audit_size(&s).await, step!(1));
    s.erase_subject(&a, &lf()).await.expect("erase");
    assert_eq!(audit_size(&s).await, step!(1));
    assert_chain(&s).await;
}

async fn a_leaf_that_cannot_be_written_takes_its_change_with_it(db: &TestDb) {
    let s = with_purpose(db).await;
    let a = subject(10);
    let next = audit_size(&s).await as i64;
    // Occupy the next leaf index behind the store's back: the append must fail.
    sqlx::query("INSERT INTO audit_leaves (idx, leaf, hash, created_at) VALUES ($1, $2, $3, 0)")
        .bind(next)
        .bind(b"blocker".to_vec())
        .bind(vec![0u8; 32])
        .execute(s.pool())
        .await
        .expect("block");
    assert!(
        s.grant_consent(&a, &consent("payment", "v1", 1), &lf())
            .await
            .is_err()
    );
    assert_eq!(
        s.subject_summary(&a).await.expect("summary"),
        Default::default(),
        "no change without its record"
    );
    sqlx::query("DELETE FROM audit_leaves WHERE idx = $1")
        .bind(next)
        .execute(s.pool())
        .await
        .expect("unblock");
    s.grant_consent(&a, &consent("payment", "v1", 1), &lf())
        .await
        .expect("grant");
    assert_eq!(
        s.subject_summary(&a).await.expect("summary").consents.len(),
        1
    );
    assert_chain(&s).await;
}

async fn concurrent_writers_keep_the_log_gap_free(db: &TestDb) {
    let s = with_purpose(db).await;
    let mut tasks = Vec::new();
    for n in 0..24u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let who = subject(150 + n);
            s.grant_consent(&who, &consent("payment", "v1", 1), &lf())
                .await
                .expect("grant");
            let tpl = template(2);
            s.put_template(&who, &pid("payment"), &data_key(), true, &tpl, &lf())
                .await
                .expect("enrol");
            s.record_verification(&tpl.id, t(3), &lf())
                .await
                .expect("verify");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(audit_size(&s).await, 1 + 24 * 3);
    assert_chain(&s).await;
}

/// Group commit: many concurrent changes share transactions; a refused change is rolled back
/// to its own savepoint and answered with its own error, and the others in its batch commit
/// with their leaves, gap-free.
async fn one_batch_commits_the_good_changes_and_refuses_only_the_bad(db: &TestDb) {
    let s = with_purpose(db).await;
    let before = s.write_stats();
    let start = audit_size(&s).await;
    let mut tasks = Vec::new();
    for n in 0..120u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let who = subject(n);
            match n % 4 {
                // No consent: refused, and nothing of it stays.
                0 => matches!(
                    s.put_template(
                        &who,
                        &pid("payment"),
                        &data_key(),
                        true,
                        &template(2),
                        &lf()
                    )
                    .await,
                    Err(StoreError::NoConsent)
                ),
                // A purpose that exists: refused after its first statement failed.
                1 => matches!(
                    s.create_purpose(&purpose("payment"), &pkey(n), &notice(), &lf())
                        .await,
                    Err(StoreError::Conflict(_))
                ),
                _ => s
                    .grant_consent(&who, &consent("payment", "v1", 1), &lf())
                    .await
                    .is_ok_and(|c| c.created),
            }
        }));
    }
    for t in tasks {
        assert!(
            t.await.expect("task"),
            "every change got its own right answer"
        );
    }
    // 60 consents granted, 60 refusals that wrote nothing.
    assert_eq!(audit_size(&s).await, start + 60);
    assert_chain(&s).await;
    for n in 0..120u8 {
        let held = s.subject_summary(&subject(n)).await.expect("summary");
        assert_eq!(held.consents.len(), usize::from(n % 4 >= 2), "subject {n}");
        assert!(held.templates.is_empty(), "subject {n}");
    }
    let stats = s.write_stats();
    let (jobs, batches) = (stats.jobs - before.jobs, stats.batches - before.batches);
    assert_eq!(jobs, 120);
    assert_eq!(stats.failed_batches, 0);
    assert!(
        batches < jobs,
        "concurrent changes should share transactions: {batches} batches for {jobs} changes"
    );
}

async fn concurrent_verification_reads_each_get_their_own_answer(db: &TestDb) {
    // Reads queued together are answered by one statement: each must get exactly what it
    // would have got alone (its subject's template, its key's client and grant).
    let s = with_purpose(db).await;
    let verify_only: BTreeSet<Grant> = [Grant {
        purpose: pid("payment"),
        operation: Operation::Verify,
    }]
    .into();
    for (digest, grants) in [([21u8; 32], verify_only), ([22; 32], BTreeSet::new())] {
        let c = NewClient {
            id: ClientId::from_random(rand16()),
            name: ClientName::parse("till").expect("valid"),
            key_digest: digest,
            tenant: TenantId::default(),
            rights: BTreeSet::new(),
            grants,
            created_at: t(0),
        };
        s.create_client(&c, &lf()).await.expect("client");
    }
    let mut templates = std::collections::HashMap::new();
    for n in 0..40u8 {
        let who = subject(100 + n);
        s.grant_consent(&who, &consent("payment", "v1", 1), &lf())
            .await
            .expect("grant");
        if n % 4 != 3 {
            let tpl = template(2);
            s.put_template(&who, &pid("payment"), &data_key(), true, &tpl, &lf())
                .await
                .expect("enrol");
            templates.insert(n, tpl.id);
        }
    }
    let mut tasks = Vec::new();
    for round in 0..5u8 {
        for n in 0..48u8 {
            let s = s.clone();
            let purpose = if n % 7 == 6 { "nosuch" } else { "payment" };
            let digest = [21 + (n % 3); 32];
            tasks.push(tokio::spawn(async move {
                let m = s
                    .verify_material_for(
                        &subject(100 + n),
                        &pid(purpose),
                        Some((&digest, Operation::Verify)),
                    )
                    .await
                    .expect("read");
                (round, n, purpose, digest[0], m)
            }));
        }
    }
    for task in tasks {
        let (_, n, purpose, key, m) = task.await.expect("task");
        assert_eq!(m.purpose.is_some(), purpose == "payment", "subject {n}");
        match key {
            21 => {
                let c = m.client.expect("client with key 21");
                assert_eq!(
                    c.grants.len(),
                    usize::from(purpose == "payment"),
                    "subject {n}"
                );
            }
            22 => assert!(m.client.expect("client with key 22").grants.is_empty()),
            _ => assert!(m.client.is_none(), "no client has key {key}"),
        }
        let consented = n < 40 && purpose == "payment";
        assert_eq!(m.consent.live, consented, "subject {n}");
        assert_eq!(
            m.template.map(|t| t.id),
            templates.get(&n).filter(|_| purpose == "payment").cloned(),
            "subject {n}"
        );
    }
}
