//! A service on a test database, driven through its router.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bioguard_crypto::LocalKeyFile;
use bioguard_server::AppState;
use bioguard_service::Service;
use bioguard_store::SqlStore;
use bioguard_store::testing::TestDb;
use serde_json::{Value, json};
use sqlx::Row;
use tower::ServiceExt;

/// A response: status, parsed body (Null if not JSON) and raw body.
pub struct Reply {
    pub status: StatusCode,
    pub json: Value,
    pub raw: String,
    pub request_id: String,
    pub headers: axum::http::HeaderMap,
}

impl Reply {
    /// The error code of an error response.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

pub struct Harness {
    pub db: TestDb,
    pub store: SqlStore,
    /// The service behind `app`, for tests that move its clock or run its sweeper.
    pub service: Service,
    pub app: axum::Router,
    pub admin: String,
    pub _keydir: tempfile::TempDir,
}

pub const LIMIT: usize = 64 * 1024;

impl Harness {
    pub async fn start(db: TestDb) -> Self {
        let keydir = tempfile::tempdir().expect("tempdir");
        let (keys, _) =
            LocalKeyFile::open_or_create(&keydir.path().join("master.key")).expect("key file");
        let store = db.store().await.expect("open store");
        let service = Service::open(Arc::new(store.clone()), Arc::new(keys))
            .await
            .expect("service")
            .with_operator(Some(operator()))
            .with_relying_party(Some(relying_party()));
        let admin = bioguard_crypto::random_token("bga_").expect("rng");
        assert!(service.register_admin_token(&admin).await.expect("admin"));
        let app = bioguard_server::app(AppState {
            max_body_bytes: LIMIT,
            retention_sweep_secs: Some(3600),
            ..AppState::new(service.clone())
        });
        Self {
            db,
            store,
            service,
            app,
            admin,
            _keydir: keydir,
        }
    }

    /// Another node on the same database and key file, with its own in-memory state, as a
    /// second `serve` process behind a load balancer would be. Its galleries are loaded from
    /// the database as at start.
    pub async fn another_node(&self) -> axum::Router {
        self.another_node_with(|s| s).await
    }

    /// Another node whose service is set up by `configure` (rate limits, detectors).
    pub async fn another_node_with(
        &self,
        configure: impl FnOnce(Service) -> Service,
    ) -> axum::Router {
        let store = self.db.store().await.expect("open store");
        let service = Service::open(Arc::new(store), Arc::new(self.key_file()))
            .await
            .expect("service")
            .with_operator(Some(operator()))
            .with_relying_party(Some(relying_party()));
        bioguard_server::app(AppState {
            max_body_bytes: LIMIT,
            ..AppState::new(configure(service))
        })
    }

    /// The deployment's key file, as another process would open it.
    pub fn key_file(&self) -> LocalKeyFile {
        LocalKeyFile::open_or_create(&self._keydir.path().join("master.key"))
            .expect("key file")
            .0
    }

    /// Sends a JSON request to another node's router.
    pub async fn json_to(
        &self,
        app: &axum::Router,
        method: &str,
        path: &str,
        token: &str,
        body: Value,
    ) -> Reply {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        send_to(app, req).await
    }

    pub async fn finish(self) {
        self.store.close().await;
        self.db.cleanup().await;
    }

    /// Sends a request with an optional bearer token and JSON text body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        self.send_with(method, path, token, body, Some("application/json"))
            .await
    }

    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        content_type: Option<&str>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some()
            && let Some(ct) = content_type
        {
            req = req.header("content-type", ct);
        }
        let req = req
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
            .expect("request");
        self.send_request(req).await
    }

    pub async fn send_request(&self, req: Request<Body>) -> Reply {
        send_to(&self.app, req).await
    }

    pub async fn json(&self, method: &str, path: &str, token: &str, body: Value) -> Reply {
        self.send(method, path, Some(token), Some(&body.to_string()))
            .await
    }

    /// Declares purpose `id` (dimension `dim`, threshold 0.7).
    pub async fn purpose(&self, id: &str, dim: usize) {
        let r = self
            .json(
                "POST",
                "/v1/purposes",
                &self.admin,
                json!({"id": id, "description": format!("{id} purpose"),
                       "operations": ["enroll", "verify"], "dimension": dim, "threshold": 0.7,
                       "retention": {"max_days_since_enrolment": 365}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    }

    /// Creates a client of the default tenant with grants `(purpose, [ops])` and every
    /// subject right, and returns its API key.
    pub async fn client(&self, grants: &[(&str, &[&str])]) -> String {
        self.client_of(None, grants, &["read", "erase", "lock", "portal"])
            .await
    }

    /// Creates a client of `tenant` (None: the default one) with grants `(purpose, [ops])`
    /// and `rights`, and returns its API key.
    pub async fn client_of(
        &self,
        tenant: Option<&str>,
        grants: &[(&str, &[&str])],
        rights: &[&str],
    ) -> String {
        let grants: Vec<Value> = grants
            .iter()
            .map(|(p, ops)| json!({"purpose": p, "operations": ops}))
            .collect();
        let mut body = json!({"name": "test client", "grants": grants, "subject_rights": rights});
        if let Some(t) = tenant {
            body["tenant"] = json!(t);
        }
        let r = self.json("POST", "/v1/clients", &self.admin, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
        r.json["api_key"].as_str().expect("api key").to_owned()
    }

    pub async fn consent(&self, key: &str, subject: &str, purpose: &str) -> Reply {
        self.json(
            "PUT",
            &format!("/v1/subjects/{subject}/consents/{purpose}"),
            key,
            json!({"notice_version": "v1", "method": "in-app"}),
        )
        .await
    }

    pub async fn enroll(&self, key: &str, subject: &str, purpose: &str, e: &[f32]) -> Reply {
        self.json(
            "PUT",
            &format!("/v1/subjects/{subject}/templates/{purpose}"),
            key,
            json!({"embedding": e}),
        )
        .await
    }

    pub async fn verify(&self, key: &str, subject: &str, purpose: &str, e: &[f32]) -> Reply {
        self.json(
            "POST",
            "/v1/verify",
            key,
            json!({"subject": subject, "purpose": purpose, "embedding": e}),
        )
        .await
    }

    /// Every row of every table, as text, in a stable order: compared before and after a
    /// rejected request to show the rejection changed nothing.
    /// Every leaf of the audit ledger, decoded.
    pub async fn leaves(&self) -> Vec<bioguard_ledger::Leaf> {
        use bioguard_store::prelude::*;
        let n = self.store.audit_size().await.expect("size");
        self.store
            .audit_leaves(0, n)
            .await
            .expect("leaves")
            .iter()
            .map(|b| bioguard_ledger::Leaf::decode(b).expect("canonical leaf"))
            .collect()
    }

    /// Every row of the tables that hold what clients and subjects change.
    pub async fn snapshot(&self) -> Vec<String> {
        self.snapshot_of(&[
            "purposes",
            "clients",
            "grants",
            "admin_tokens",
            "system_secrets",
            "subjects",
            "consents",
            "data_keys",
            "templates",
            "template_galleries",
            "protection_keys",
            "bioguard_migrations",
        ])
        .await
    }

    /// [`Harness::snapshot`] and the ledger, locks, portal links, claims and tenants: the
    /// whole of what a refused request must leave as it was.
    pub async fn snapshot_all(&self) -> Vec<String> {
        let mut out = self.snapshot().await;
        out.extend(
            self.snapshot_of(&[
                "audit_leaves",
                "audit_mentions",
                "audit_head",
                "subject_locks",
                "portal_links",
                "claims",
                "tenants",
                "challenges",
                "audit_counts",
                "audit_decisions",
                "webhook_endpoints",
                "webhook_messages",
                "webhook_attempts",
            ])
            .await,
        );
        out
    }

    /// Every row of `tables`, as sorted text.
    pub async fn snapshot_of(&self, tables: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for &table in tables {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
                .fetch_all(self.store.pool())
                .await
                .expect("select");
            let mut lines: Vec<String> = rows
                .iter()
                .map(|row| {
                    let cols: Vec<String> = (0..row.len())
                        .map(|i| {
                            if let Ok(v) = row.try_get::<Option<String>, _>(i) {
                                format!("{v:?}")
                            } else if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                                format!("{v:?}")
                            } else if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
                                format!("{v:?}")
                            } else if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(i) {
                                format!("{:?}", v.map(|b| bioguard_crypto::hex_encode(&b)))
                            } else {
                                panic!("column {i} of {table} has an unexpected type")
                            }
                        })
                        .collect();
                    format!("{table}: {}", cols.join(" | "))
                })
                .collect();
            lines.sort();
            out.extend(lines);
        }
        out
    }
}

/// Sends a request to a router and reads the whole reply.
pub async fn send_to(app: &axum::Router, req: Request<Body>) -> Reply {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .expect("body");
    let raw = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        json,
        raw,
        request_id,
        headers,
    }
}

/// A deterministic pseudo-random unit vector (synthetic data).
/// The operator every test service names (the default tenant's notices name it too).
/// The origin the harness's passkeys are made for.
pub const ORIGIN: &str = "https://bioguard.test";

pub fn relying_party() -> bioguard_ledger::webauthn::RelyingParty {
    bioguard_ledger::webauthn::RelyingParty::from_origin(ORIGIN).expect("an origin")
}

pub fn operator() -> bioguard_core::Operator {
    bioguard_core::Operator::new(
        "Harness Operations Ltd",
        "privacy@harness.test",
        Some("EU: GDPR"),
    )
    .expect("a valid operator")
}

pub fn synthetic(seed: u64, dim: usize) -> Vec<f32> {
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
    v.into_iter().map(|a| (a / n) as f32).collect()
}

/// `base` with a small deterministic perturbation: a genuine probe (cosine about 0.98).
pub fn near(base: &[f32], seed: u64) -> Vec<f32> {
    let noise = synthetic(seed, base.len());
    let v: Vec<f32> = base.iter().zip(&noise).map(|(b, n)| b + 0.2 * n).collect();
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.into_iter().map(|a| a / n).collect()
}
