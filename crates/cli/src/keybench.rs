//! `bench key-rotation`: the cost of rewrapping every data key under a new key-encryption
//! key, on the configured key provider, over a fresh database of enrolled synthetic subjects.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Context;
use bioguard_core::{
    ClientDefinition, ClientName, CodeBits, ConsentMethod, Description, Dimension, Grant,
    NoticeVersion, Operation, Purpose, PurposeId, PurposeName, Retention, SubjectRef, TenantId,
    Threshold,
};
use bioguard_service::Service;
use serde_json::json;

/// Enrols `subjects` synthetic subjects, then times one rotation.
pub async fn run(cfg: crate::config::Config, subjects: usize) -> anyhow::Result<()> {
    let db = bioguard_store::Scratch::sqlite()?;
    let result = run_in(&cfg, &db, subjects).await;
    db.cleanup().await;
    result
}

async fn run_in(
    cfg: &crate::config::Config,
    db: &bioguard_store::Scratch,
    subjects: usize,
) -> anyhow::Result<()> {
    let store = db.store().await?;
    let keys = crate::serve::open_keys(cfg).await?;
    let kind = keys.kind();
    let service = Service::open(Arc::new(store.clone()), keys).await?;
    let token = bioguard_crypto::random_token("bga_")?;
    service.register_admin_token(&token).await?;
    let admin = service.authenticate_admin(&token).await?;
    let purpose = PurposeId::parse("bench").context("purpose id")?;
    service
        .create_purpose(
            &admin,
            bioguard_core::PurposeDefinition {
                purpose: Purpose {
                    id: purpose.clone(),
                    description: Description::parse("key rotation benchmark")?,
                    operations: [Operation::Enroll, Operation::Verify].into(),
                    dimension: Dimension::new(16)?,
                    threshold: Threshold::new(0.8)?,
                    retention: Retention::new(30, None)?,
                    code_bits: CodeBits::DEFAULT,
                    max_gallery_size: None,
                    calibration: None,
                    risk: bioguard_core::RiskPolicy::default(),
                    fairness: bioguard_core::FairnessPolicy::default(),
                },
                notice: Some(bioguard_core::NoticeDraft::from_purpose(
                    "key rotation benchmark (synthetic data, a temporary database)",
                    "whoever runs this benchmark",
                    "none: synthetic data, no person",
                )),
            },
        )
        .await?;
    let client = service
        .create_client(
            &admin,
            ClientDefinition {
                name: ClientName::parse("bench")?,
                tenant: TenantId::default(),
                grants: BTreeSet::from([Grant {
                    purpose: purpose.clone(),
                    operation: Operation::Enroll,
                }]),
                rights: BTreeSet::new(),
            },
        )
        .await?;
    let name = PurposeName::parse(purpose.name())?;
    let client = service.authenticate_client(client.expose_api_key()).await?;
    let started = std::time::Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (service, client, purpose, next) =
            (service.clone(), client.clone(), name.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= subjects {
                    return Ok::<_, anyhow::Error>(());
                }
                let who = SubjectRef::parse(&format!("subject-{n}"))?;
                service
                    .grant_consent(
                        &client,
                        &who,
                        &purpose,
                        NoticeVersion::parse("v1")?,
                        ConsentMethod::parse("bench")?,
                    )
                    .await?;
                let e: Vec<f32> = (0..16)
                    .map(|i| ((n * 7 + i * 13) % 11) as f32 - 5.0)
                    .collect();
                service
                    .enroll(&client, &who, &purpose, e, Vec::new())
                    .await?;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let enrol_secs = started.elapsed().as_secs_f64();
    eprintln!("enrolled {subjects} subjects in {enrol_secs:.1} s; rotating");
    let started = std::time::Instant::now();
    let report = service.rotate_keys(&admin, true, &mut |_, _| {}).await?;
    let secs = started.elapsed().as_secs_f64();
    let per_second = report.rewrapped as f64 / secs;
    println!(
        "{}",
        json!({"provider": kind, "database": "sqlite", "subjects": subjects,
               "rewrapped": report.rewrapped, "seconds": secs, "keys_per_second": per_second,
               "minutes_per_million": 1e6 / per_second / 60.0, "left": report.left})
    );
    store.close().await;
    Ok(())
}
