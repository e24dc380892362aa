//! Prometheus metrics: `GET /metrics` in the text exposition format.
//!
//! Labels name routes (templates, never paths), methods, statuses, purposes, error codes and
//! the key provider: never a subject, a client, a key or a token. The recorder is the process's
//! global one, installed once; series are created on first use.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use bioguard_crypto::{Aad, KekRef, Key256, KeyError, KeyProvider, WrappedKey};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds: 100 µs to 10 s.
const SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];
/// Changes per group commit.
const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder the first time (later calls reuse it) and returns its
/// handle; `None` if another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .ok()?
                .set_buckets_for_metric(Matcher::Full("bioguard_commit_batch_size".into()), BATCH)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "bioguard_http_requests_total",
        "HTTP requests answered, by method, route template and status"
    );
    describe_histogram!(
        "bioguard_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer a request, by method and route template"
    );
    describe_counter!(
        "bioguard_decisions_total",
        "Verification and identification decisions, by purpose, operation and outcome"
    );
    describe_counter!(
        "bioguard_refusals_total",
        "Error answers by code (rate_limited, attempts_exceeded, consent_required, ...)"
    );
    describe_histogram!(
        "bioguard_key_provider_duration_seconds",
        metrics::Unit::Seconds,
        "Key provider calls (wrap, unwrap), by provider and operation"
    );
    describe_counter!(
        "bioguard_key_provider_errors_total",
        "Key provider calls that failed, by provider and operation"
    );
    describe_histogram!(
        "bioguard_commit_batch_size",
        "Changes committed together by one group commit"
    );
    describe_gauge!("bioguard_ledger_leaves", "Leaves in the audit ledger");
    describe_gauge!(
        "bioguard_checkpoint_age_seconds",
        "Seconds since the newest kept signed checkpoint (absent before the first)"
    );
    describe_gauge!("bioguard_build_info", "1, labelled with the version");
}

/// A method as a label: the standard ones, or `other` (so that made-up methods cannot create
/// series without bound).
pub fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Records one answered request.
pub fn request(method: &'static str, route: &str, status: u16, seconds: f64) {
    let route = route.to_owned();
    metrics::counter!("bioguard_http_requests_total",
        "method" => method, "route" => route.clone(), "status" => status.to_string())
    .increment(1);
    metrics::histogram!("bioguard_http_request_duration_seconds",
        "method" => method, "route" => route)
    .record(seconds);
}

/// Records one error answer.
pub fn refusal(code: &'static str) {
    metrics::counter!("bioguard_refusals_total", "code" => code).increment(1);
}

/// The text to serve: every series, with the ledger's size and the newest checkpoint's age
/// read now.
pub(crate) async fn render(service: &bioguard_service::Service) -> String {
    let Some(handle) = install() else {
        return String::new();
    };
    if let Ok((size, kept)) = service.ledger_status().await {
        metrics::gauge!("bioguard_ledger_leaves").set(size as f64);
        if let Some(at) = kept {
            let age = service.clock().now().unix().saturating_sub(at.unix());
            metrics::gauge!("bioguard_checkpoint_age_seconds").set(age as f64);
        }
    }
    metrics::gauge!("bioguard_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    handle.render()
}

/// A key provider whose wraps and unwraps are timed and counted.
pub struct MeteredKeys {
    inner: Arc<dyn KeyProvider>,
}

impl MeteredKeys {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn KeyProvider>) -> Self {
        Self { inner }
    }

    fn observe<T>(&self, op: &'static str, start: Instant, r: &Result<T, KeyError>) {
        let provider = self.inner.kind();
        metrics::histogram!("bioguard_key_provider_duration_seconds",
            "provider" => provider, "op" => op)
        .record(start.elapsed().as_secs_f64());
        if r.is_err() {
            metrics::counter!("bioguard_key_provider_errors_total",
                "provider" => provider, "op" => op)
            .increment(1);
        }
    }
}

#[async_trait]
impl KeyProvider for MeteredKeys {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn current(&self) -> KekRef {
        self.inner.current()
    }

    fn versions(&self) -> Vec<KekRef> {
        self.inner.versions()
    }

    async fn refresh(&self) -> Result<(), KeyError> {
        self.inner.refresh().await
    }

    async fn rotate(&self) -> Result<KekRef, KeyError> {
        self.inner.rotate().await
    }

    async fn destroy(&self, version: u32) -> Result<(), KeyError> {
        self.inner.destroy(version).await
    }

    async fn wrap(&self, key: &Key256, aad: &Aad) -> Result<WrappedKey, KeyError> {
        let start = Instant::now();
        let r = self.inner.wrap(key, aad).await;
        self.observe("wrap", start, &r);
        r
    }

    async fn unwrap(&self, wrapped: &WrappedKey, aad: &Aad) -> Result<Key256, KeyError> {
        let start = Instant::now();
        let r = self.inner.unwrap(wrapped, aad).await;
        self.observe("unwrap", start, &r);
        r
    }
}
