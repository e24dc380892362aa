//! Delivering webhook messages: the loop that leases due messages from the outbox, signs
//! each the Standard Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature:
//! v1,<base64 HMAC-SHA256 of "id.timestamp.body">`) and posts it, then settles the attempt
//! (see `bioguard_service::retry_delay` for the retries).
//!
//! One connection per attempt, HTTP/1.1, a bounded time for the whole exchange; redirects are
//! not followed (a 3xx is a failed attempt). `https://` receivers are checked against the CA
//! file of the configuration (the system's bundle by default) with rustls.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bioguard_service::{AttemptResult, Outgoing, Service};
use bytes::Bytes;
use hmac::{KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// The system's CA bundle (Debian and its derivatives).
pub const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// How delivery runs.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The first retry's delay (later ones grow from it).
    pub retry_base: Duration,
    /// The CA bundle `https://` receivers are checked against.
    pub ca_file: PathBuf,
    /// The most one attempt may take, connection included.
    pub timeout: Duration,
    /// How often the outbox is read.
    pub poll: Duration,
    /// How long settled messages are kept for the delivery log and replays.
    pub keep: Duration,
    /// Messages leased and sent at once.
    pub batch: usize,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(5),
            ca_file: PathBuf::from(SYSTEM_CA_FILE),
            timeout: Duration::from_secs(10),
            poll: Duration::from_secs(1),
            keep: Duration::from_secs(30 * 86_400),
            batch: 32,
        }
    }
}

/// The `webhook-signature` value for a message: `v1,` and the base64 HMAC-SHA256, under the
/// endpoint's secret bytes, of `id.timestamp.body`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// Delivers messages until the task is dropped: reads the outbox every `poll`, sends what is
/// due, and purges settled messages older than `keep` once an hour.
pub async fn run(service: Service, cfg: Delivery) {
    let tls = Arc::new(tokio::sync::OnceCell::new());
    let mut tick = tokio::time::interval(cfg.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_purge = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        if last_purge.elapsed() >= Duration::from_secs(3600) {
            last_purge = tokio::time::Instant::now();
            match service.purge_webhook_messages(cfg.keep).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(messages = n, "settled webhook messages purged"),
                Err(e) => tracing::warn!(error = %e, "could not purge webhook messages"),
            }
        }
        // Drain what is due now, a batch at a time.
        loop {
            let lease = cfg.timeout.saturating_mul(2) + Duration::from_secs(5);
            let due = match service.lease_webhooks(cfg.batch, lease).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the webhook outbox");
                    break;
                }
            };
            if due.is_empty() {
                break;
            }
            let full = due.len() == cfg.batch;
            // One task per endpoint, its messages in order; an endpoint that cannot be reached
            // is not tried again in this round (its other messages come back when their lease
            // ends), so one dead receiver costs one timeout, not one per message.
            let mut per_endpoint: std::collections::BTreeMap<String, Vec<Outgoing>> =
                std::collections::BTreeMap::new();
            for m in due {
                per_endpoint.entry(m.endpoint.clone()).or_default().push(m);
            }
            let mut sending = tokio::task::JoinSet::new();
            for (_, messages) in per_endpoint {
                let (service, cfg, tls) = (service.clone(), cfg.clone(), tls.clone());
                sending.spawn(async move {
                    for m in messages {
                        let result = attempt(&m, &cfg, &tls).await;
                        let unreachable = matches!(result, AttemptResult::Unreachable(_));
                        if let AttemptResult::Unreachable(why) = &result {
                            tracing::info!(message = %m.id, attempt = m.attempts + 1, why, "webhook attempt failed");
                        }
                        if let Err(e) = service.settle_webhook(&m, &result, cfg.retry_base).await {
                            tracing::warn!(message = %m.id, error = %e, "could not record a webhook attempt");
                        }
                        if unreachable {
                            break;
                        }
                    }
                });
            }
            while sending.join_next().await.is_some() {}
            if !full {
                break;
            }
        }
    }
}

type TlsCell = tokio::sync::OnceCell<Result<tokio_rustls::TlsConnector, String>>;

/// One attempt: connect, post, read the status.
async fn attempt(m: &Outgoing, cfg: &Delivery, tls: &TlsCell) -> AttemptResult {
    match tokio::time::timeout(cfg.timeout, post(m, cfg, tls)).await {
        Ok(Ok(status)) => AttemptResult::Answered(status),
        Ok(Err(why)) => AttemptResult::Unreachable(why),
        Err(_) => {
            AttemptResult::Unreachable(format!("no answer within {} s", cfg.timeout.as_secs()))
        }
    }
}

async fn post(m: &Outgoing, cfg: &Delivery, tls: &TlsCell) -> Result<u16, String> {
    let uri: hyper::Uri = m
        .url
        .parse()
        .map_err(|_| "the endpoint URL does not parse".to_owned())?;
    let host = uri.host().ok_or("the endpoint URL names no host")?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {}", e.kind()))?;
    if !https {
        return exchange(tcp, m, &uri).await;
    }
    let connector = tls
        .get_or_init(|| async { client_tls(&cfg.ca_file) })
        .await
        .clone()?;
    let name = rustls_pki_types::ServerName::try_from(host.clone())
        .map_err(|_| format!("`{host}` is not a valid TLS server name"))?;
    let stream = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {host}:{port} failed: {e}"))?;
    exchange(stream, m, &uri).await
}

async fn exchange<S>(stream: S, m: &Outgoing, uri: &hyper::Uri) -> Result<u16, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    let driver = tokio::spawn(conn);
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let authority = uri.authority().map_or("", |a| a.as_str()).to_owned();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let req = hyper::Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(
            hyper::header::USER_AGENT,
            concat!("bioguard/", env!("CARGO_PKG_VERSION")),
        )
        .header("webhook-id", m.id.as_str())
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", sign(&m.key, &m.id, timestamp, &m.body))
        .body(Full::new(Bytes::from(m.body.clone())))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("the receiver closed the connection: {e}"))?;
    let status = resp.status().as_u16();
    // Read (and drop) a bounded answer so the receiver is not cut off mid-write.
    let _ = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
        .collect()
        .await;
    driver.abort();
    Ok(status)
}

fn client_tls(ca_file: &std::path::Path) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| format!("cannot read the webhook CA file {}: {e}", ca_file.display()))?;
    for c in certs.flatten() {
        // A bundle may hold certificates rustls does not take; the others still serve.
        let _ = roots.add(c);
    }
    if roots.is_empty() {
        return Err(format!(
            "the webhook CA file {} holds no usable certificate",
            ca_file.display()
        ));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The worked example of the Standard Webhooks specification.
        let key = B64
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .expect("base64");
        let sig = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
