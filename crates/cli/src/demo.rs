//! `bioguard demo`: the whole consent-to-withdrawal story, in process, on a temporary data
//! directory, with synthetic embeddings. Every step sends a real HTTP request through the
//! service's router and prints what was asked and what came back. A step whose answer is
//! not the expected one stops the demo with an error, so the demo doubles as a smoke test.

use std::sync::Arc;

use anyhow::{Context, bail};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use bioguard_crypto::LocalKeyFile;
use bioguard_server::AppState;
use bioguard_service::Service;
use bioguard_store::SqlStore;
use serde_json::{Value, json};
use tower::ServiceExt;

const DIM: usize = 128;

/// SplitMix64: a small deterministic generator, so every run shows the same synthetic people.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal value (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

fn unit(v: Vec<f64>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.into_iter().map(|x| (x / n) as f32).collect()
}

/// A synthetic person's "true" embedding.
fn person(rng: &mut Rng) -> Vec<f64> {
    (0..DIM).map(|_| rng.normal()).collect()
}

/// A capture of `base`: the true embedding plus capture noise.
fn capture(rng: &mut Rng, base: &[f64], noise: f64) -> Vec<f32> {
    unit(base.iter().map(|x| x + noise * rng.normal()).collect())
}

struct Demo {
    app: axum::Router,
    step: usize,
}

impl Demo {
    async fn call(
        &mut self,
        title: &str,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        expect: StatusCode,
    ) -> anyhow::Result<Value> {
        self.step += 1;
        println!("\n{}. {title}", self.step);
        let shown = body.as_ref().map(|b| {
            let mut b = b.clone();
            if let Some(e) = b.get_mut("embedding") {
                let n = e.as_array().map_or(0, Vec::len);
                *e = json!(format!("[{n} numbers]"));
            }
            format!(" {b}")
        });
        println!("   -> {method} {path}{}", shown.unwrap_or_default());
        let mut req = Request::builder().method(method).uri(path);
        if !token.is_empty() {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string()))?,
            None => req.body(Body::empty())?,
        };
        let resp = self.app.clone().oneshot(req).await?;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut shown = value.clone();
        if let Some(k) = shown.get_mut("api_key") {
            *k = json!("bgc_… (shown once; only its keyed digest is stored)");
        }
        println!("   <- {} {}", status.as_u16(), shown);
        if status != expect {
            bail!("step {}: expected HTTP {expect}, got {status}", self.step);
        }
        Ok(value)
    }
}

async fn count(store: &SqlStore, table: &str) -> anyhow::Result<i64> {
    let sql = match table {
        "templates" => "SELECT COUNT(*) FROM templates",
        "data_keys" => "SELECT COUNT(*) FROM data_keys",
        _ => bail!("unknown table"),
    };
    bioguard_store::count_rows(store, sql)
        .await
        .context("count rows")
}

async fn scenario() -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let result = scenario_in(&dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let suffix = bioguard_crypto::hex_encode(&bioguard_crypto::random_array::<8>()?);
    let dir = std::env::temp_dir().join(format!("bioguard-demo-{suffix}"));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn scenario_in(dir: &std::path::Path) -> anyhow::Result<()> {
    println!("bioguard demo: a temporary data directory, synthetic {DIM}-value embeddings.");
    println!("(Synthetic data: made-up people, not real biometrics.)");
    let (keys, _) = LocalKeyFile::open_or_create(&dir.join("master.key"))?;
    let store = SqlStore::open_sqlite(&dir.join("bioguard.db")).await?;
    let service = Service::open(Arc::new(store.clone()), Arc::new(keys)).await?;
    let admin = bioguard_crypto::random_token("bga_")?;
    service.register_admin_token(&admin).await?;
    let mut demo = Demo {
        app: bioguard_server::app(AppState::new(service)),
        step: 0,
    };
    let mut rng = Rng(2026);
    let alice = person(&mut rng);
    let mallory = person(&mut rng);

    demo.call(
        "The vendor declares a purpose: what it is for, what it allows, how long it keeps data.",
        Method::POST,
        "/v1/purposes",
        &admin,
        Some(json!({
            "id": "payment",
            "description": "Pay at the till by looking at the camera",
            "operations": ["enroll", "verify"],
            "dimension": DIM,
            "threshold": 0.7,
            "retention": {"max_days_since_enrolment": 365, "max_days_since_last_use": 90},
            "notice": {"text": "We turn a photo of your face into a protected code and use it only to let you pay at our tills.",
                       "controller": "Corner Shop Ltd (a made-up shop of this demo)",
                       "jurisdiction": "none: a demonstration on synthetic data"}
        })),
        StatusCode::CREATED,
    )
    .await?;
    demo.call(
        "A second purpose, for which Alice will not consent.",
        Method::POST,
        "/v1/purposes",
        &admin,
        Some(json!({
            "id": "marketing",
            "description": "Recognise returning customers in the shop",
            "operations": ["enroll", "verify"],
            "dimension": DIM,
            "retention": {"max_days_since_enrolment": 30},
            "notice": {"text": "Recognise returning customers in the shop",
                       "controller": "Corner Shop Ltd (a made-up shop of this demo)",
                       "jurisdiction": "none: a demonstration on synthetic data"}
        })),
        StatusCode::CREATED,
    )
    .await?;
    let client = demo
        .call(
            "The shop's till system becomes a client with grants for both purposes.",
            Method::POST,
            "/v1/clients",
            &admin,
            Some(json!({
                "name": "shop-till",
                "subject_rights": ["read", "erase", "lock", "portal"],
                "grants": [
                    {"purpose": "payment", "operations": ["enroll", "verify"]},
                    {"purpose": "marketing", "operations": ["verify"]}
                ]
            })),
            StatusCode::CREATED,
        )
        .await?;
    let key = client["api_key"]
        .as_str()
        .context("the client response holds an API key")?
        .to_owned();

    demo.call(
        "Enrolment before consent is refused: nothing is stored.",
        Method::PUT,
        "/v1/subjects/alice/templates/payment",
        &key,
        Some(json!({"embedding": capture(&mut rng, &alice, 0.25)})),
        StatusCode::FORBIDDEN,
    )
    .await?;
    demo.call(
        "Alice reads the payment notice (version v1) and consents in the app.",
        Method::PUT,
        "/v1/subjects/alice/consents/payment",
        &key,
        Some(json!({"notice_version": "v1", "method": "in-app"})),
        StatusCode::CREATED,
    )
    .await?;
    demo.call(
        "Alice enrols: her embedding is sealed under her own data key; only ciphertext is stored.",
        Method::PUT,
        "/v1/subjects/alice/templates/payment",
        &key,
        Some(json!({"embedding": capture(&mut rng, &alice, 0.25)})),
        StatusCode::CREATED,
    )
    .await?;
    let genuine = demo
        .call(
            "Alice pays: a new capture of her face is verified against her template.",
            Method::POST,
            "/v1/verify",
            &key,
            Some(json!({"subject": "alice", "purpose": "payment",
                        "embedding": capture(&mut rng, &alice, 0.25)})),
            StatusCode::OK,
        )
        .await?;
    if genuine["match"] != json!(true) {
        bail!("the genuine capture did not match");
    }
    let impostor = demo
        .call(
            "Mallory tries to pay as Alice: his capture does not match.",
            Method::POST,
            "/v1/verify",
            &key,
            Some(json!({"subject": "alice", "purpose": "payment",
                        "embedding": capture(&mut rng, &mallory, 0.25)})),
            StatusCode::OK,
        )
        .await?;
    if impostor["match"] != json!(false) {
        bail!("the impostor capture matched");
    }
    demo.call(
        "The shop tries to use Alice's face for marketing: refused, she never consented to it.",
        Method::POST,
        "/v1/verify",
        &key,
        Some(json!({"subject": "alice", "purpose": "marketing",
                    "embedding": capture(&mut rng, &alice, 0.25)})),
        StatusCode::FORBIDDEN,
    )
    .await?;
    demo.call(
        "Alice asks what is held about her: purposes, consents and dates, never template bytes.",
        Method::GET,
        "/v1/subjects/alice",
        &key,
        None,
        StatusCode::OK,
    )
    .await?;
    demo.call(
        "Alice withdraws her consent: template and data key are destroyed before the answer.",
        Method::DELETE,
        "/v1/subjects/alice/consents/payment",
        &key,
        None,
        StatusCode::OK,
    )
    .await?;
    demo.call(
        "The till tries to verify Alice again: refused, she must be offered another way to pay.",
        Method::POST,
        "/v1/verify",
        &key,
        Some(json!({"subject": "alice", "purpose": "payment",
                    "embedding": capture(&mut rng, &alice, 0.25)})),
        StatusCode::FORBIDDEN,
    )
    .await?;
    let templates = count(&store, "templates").await?;
    let keys = count(&store, "data_keys").await?;
    println!(
        "\n{}. The database now holds {templates} templates and {keys} data keys.",
        demo.step + 1
    );
    if templates != 0 || keys != 0 {
        bail!("the template or its key survived withdrawal");
    }
    store.close().await;
    println!("\nDemo complete: every step behaved as expected.");
    Ok(())
}

/// Runs the demo.
pub fn run() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(scenario())
}
