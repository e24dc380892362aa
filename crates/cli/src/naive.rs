//! `bioguard bench naive-openbao`: the baseline of the load benchmark, the usual "put it in
//! Vault" design: every template (the raw embedding) is kept encrypted by OpenBao transit and
//! decrypted there on every verification, then compared by cosine. No consent check, no
//! ledger, no protection transform: it does less than bioguard, so the comparison is
//! generous to it. For benchmarks only.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};

struct Naive {
    transit: bioguard_crypto::OpenBaoTransit,
    templates: HashMap<String, String>,
}

fn embedding(seed: u64, dim: usize) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let v: Vec<f64> = (0..dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect();
    let n = v.iter().map(|a| a * a).sum::<f64>().sqrt();
    v.iter().map(|a| (a / n) as f32).collect()
}

async fn verify(State(n): State<Arc<Naive>>, Json(req): Json<Value>) -> (StatusCode, Json<Value>) {
    let subject = req["subject"].as_str().unwrap_or("");
    let Some(ct) = n.templates.get(subject) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "not enrolled"})),
        );
    };
    let probe: Vec<f32> = serde_json::from_value(req["embedding"].clone()).unwrap_or_default();
    match n.transit.decrypt_bytes(ct).await {
        Ok(bytes) => {
            let reference: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let score = bioguard_engine::cosine_similarity(&reference, &probe);
            (StatusCode::OK, Json(json!({"match": score >= 0.8})))
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "unavailable"})),
        ),
    }
}

/// Enrols `subjects` synthetic templates (`s0`..) of `dim` values through transit, then
/// serves `POST /v1/verify {"subject","embedding"}` on `listen` until interrupted.
pub async fn serve(addr: String, listen: String, subjects: u64, dim: usize) -> anyhow::Result<()> {
    let token = std::env::var("BIOGUARD_OPENBAO_TOKEN")
        .context("set BIOGUARD_OPENBAO_TOKEN to the OpenBao token")?;
    let (transit, _) =
        bioguard_crypto::OpenBaoTransit::open_or_create(&bioguard_crypto::OpenBaoConfig {
            addr,
            token: zeroize::Zeroizing::new(token),
            mount: "transit".into(),
            key: "naive-baseline".into(),
        })
        .await
        .context("cannot use OpenBao transit")?;
    let mut templates = HashMap::new();
    for s in 0..subjects {
        let bytes: Vec<u8> = embedding(s + 1, dim)
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        templates.insert(format!("s{s}"), transit.encrypt_bytes(&bytes).await?);
    }
    eprintln!(
        "naive baseline: {subjects} templates kept in OpenBao transit; listening on {listen}"
    );
    let app = axum::Router::new()
        .route("/v1/verify", post(verify))
        .with_state(Arc::new(Naive { transit, templates }));
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
