//! Serving connections with bounds: how many at once, how long a connection may take to send
//! a request's headers (or sit idle between requests), how long a request body may take, and
//! how often one address may call the routes that need no credentials.
//!
//! A silent or slow client holds a connection and a file descriptor and nothing else: hyper's
//! header timer starts as soon as a connection waits for a request, so half-open and idle
//! keep-alive connections are closed after [`HttpLimits::header_timeout`]. At most
//! [`HttpLimits::max_connections`] are open, so the service keeps the descriptors it needs for
//! its database and its key manager; at the bound, the oldest idle connection makes room for
//! a new one.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::Frame;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Semaphore, watch};

use crate::error::ApiError;

/// The bounds [`serve`] keeps.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// How long a connection may take to send a request's headers, counted from when it is
    /// ready for a request: also how long an idle connection is kept.
    pub header_timeout: Duration,
    /// How long a request body may take to arrive, from the end of its headers.
    pub body_timeout: Duration,
    /// Connections served at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Requests per second one address may make to routes that need no credentials, with a
    /// burst of twice that (0: no limit). Behind a proxy, see [`HttpLimits::forwarded_for`].
    pub public_per_ip: u32,
    /// Take the caller's address from the last entry of `X-Forwarded-For` (set this only
    /// behind a proxy that appends it; otherwise callers could name any address).
    pub forwarded_for: bool,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 16_384,
            public_per_ip: 50,
            forwarded_for: false,
        }
    }
}

/// Connections closed because [`HttpLimits::max_connections`] were open and none was idle,
/// since start.
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// One open connection, as the accept loop sees it.
#[derive(Default)]
struct Conn {
    /// Requests being answered on it.
    busy: AtomicU64,
    /// Set when it has ended.
    closed: std::sync::atomic::AtomicBool,
    /// Asks it to close (at once if idle, after its request otherwise).
    close: tokio::sync::Notify,
}

/// The open connections, oldest first.
#[derive(Default)]
struct Conns(std::sync::Mutex<std::collections::VecDeque<Arc<Conn>>>);

impl Conns {
    fn add(&self, c: Arc<Conn>, open: usize) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Ended connections are dropped from the list once they outnumber the open ones:
        // amortised constant work per connection.
        if all.len() > 2 * open + 64 {
            all.retain(|c| !c.closed.load(Ordering::Relaxed));
        }
        all.push_back(c);
    }

    /// Asks the oldest idle connection (waiting for a request, or never sent one) to close;
    /// returns whether there was one.
    fn evict_idle(&self) -> bool {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let found = all
            .iter()
            .position(|c| !c.closed.load(Ordering::Relaxed) && c.busy.load(Ordering::Relaxed) == 0);
        match found.and_then(|i| all.remove(i)) {
            Some(c) => {
                c.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes, then lets the
/// requests in flight finish for up to [`crate::SHUTDOWN_GRACE`]. When every connection
/// allowed is open, the oldest idle one is closed to make room; only when all are answering
/// requests is a new one refused.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    limits: &HttpLimits,
    shutdown: impl std::future::Future<Output = ()>,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let max = limits.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(max));
    let conns = Conns::default();
    let (stop, stopping) = watch::channel(false);
    let header_timeout = limits.header_timeout;
    tokio::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            c = listener.accept() => c,
            () = &mut shutdown => break,
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) if conns.evict_idle() => {
                tokio::time::timeout(Duration::from_millis(250), permits.clone().acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            Err(_) => None,
        };
        let Some(permit) = permit else {
            if REFUSED.fetch_add(1, Ordering::Relaxed).is_multiple_of(1000) {
                tracing::warn!(
                    max_connections = max,
                    refused = REFUSED.load(Ordering::Relaxed),
                    "connection refused: every connection allowed is answering a request"
                );
            }
            drop(io);
            continue;
        };
        let ctl = Arc::new(Conn::default());
        conns.add(ctl.clone(), max - permits.available_permits());
        let (app, counted) = (app.clone(), ctl.clone());
        let svc = hyper_util::service::TowerToHyperService::new(tower::service_fn(
            move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let (app, counted) = (app.clone(), counted.clone());
                async move {
                    counted.busy.fetch_add(1, Ordering::Relaxed);
                    let r = tower::ServiceExt::oneshot(app, req).await;
                    counted.busy.fetch_sub(1, Ordering::Relaxed);
                    r
                }
            },
        ));
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = http.serve_connection(TokioIo::new(io), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopping.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
                () = ctl.close.notified() => {
                    // Evicted while idle: closed at once, or dropped if it is part way
                    // through sending headers.
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_millis(100), conn).await;
                }
            }
            ctl.closed.store(true, Ordering::Relaxed);
        });
    }
    let _ = stop.send(true);
    // Every connection gives its permit back when it ends.
    let _ = tokio::time::timeout(crate::SHUTDOWN_GRACE, permits.acquire_many(max as u32)).await;
}

/// The caller's address as [`HttpLimits::forwarded_for`] says to read it.
fn caller(req: &Request, forwarded_for: bool) -> Option<IpAddr> {
    if forwarded_for
        && let Some(last) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|a| a.trim().parse::<IpAddr>().ok())
    {
        return Some(last);
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// The key an address is limited by: IPv6 callers by their /64 (one host is usually given a
/// whole /64), so rotating addresses within it buys nothing.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[8..].fill(0);
            IpAddr::from(o)
        }
    }
}

/// Whether a route needs no credentials: every route the API documents without a security
/// requirement, and every route it does not document (pages, the document itself), except
/// `/healthz`, `/livez` and `/readyz`, which load balancers and orchestrators poll from
/// one address (readiness trusts a key-provider success for a second, so polling stays cheap).
fn is_public(method: &axum::http::Method, route: &str) -> bool {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    // Route template -> the methods that need credentials on it (looked up without allocating:
    // this runs on every request).
    static SECURED: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    if matches!(route, "/healthz" | "/livez" | "/readyz") {
        return false;
    }
    let secured = SECURED.get_or_init(|| {
        let doc: serde_json::Value =
            serde_json::from_str(crate::openapi::openapi_json()).unwrap_or_default();
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        if let Some(paths) = doc["paths"].as_object() {
            for (path, item) in paths {
                for (m, op) in item.as_object().into_iter().flatten() {
                    if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                        out.entry(path.clone())
                            .or_default()
                            .push(m.to_ascii_uppercase());
                    }
                }
            }
        }
        out
    });
    !secured
        .get(route)
        .is_some_and(|methods| methods.iter().any(|m| m == method.as_str()))
}

/// Middleware: the per-address limit on routes that need no credentials, and the body
/// deadline on every request.
pub(crate) async fn bound_request(
    axum::extract::State(st): axum::extract::State<crate::AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let limits = &st.http;
    if limits.public_per_ip > 0
        && let Some(route) = req.extensions().get::<MatchedPath>()
        && is_public(req.method(), route.as_str())
        && let Some(ip) = caller(&req, limits.forwarded_for)
        && let Err(secs) = st.per_ip.take(&ip_key(ip))
    {
        return ApiError::rate_limited_ip(secs).into_response();
    }
    let deadline = tokio::time::sleep(limits.body_timeout);
    let body = std::mem::take(req.body_mut());
    *req.body_mut() = axum::body::Body::new(DeadlineBody {
        inner: body,
        deadline: Box::pin(deadline),
    });
    next.run(req).await
}

/// A request body that fails once its deadline passes.
struct DeadlineBody {
    inner: axum::body::Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new(crate::extract::BodyTimeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The soft limit on open files of this process, if the system says.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_callers_are_limited_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        assert_eq!(ip_key(v4), v4);
    }

    #[test]
    fn public_routes_are_those_without_credentials() {
        use axum::http::Method;
        assert!(is_public(&Method::GET, "/v1/transparency"));
        assert!(is_public(&Method::GET, "/v1/audit/leaves"));
        assert!(is_public(&Method::GET, "/portal"));
        assert!(!is_public(&Method::POST, "/v1/verify"));
        assert!(!is_public(&Method::POST, "/v1/purposes"));
        assert!(!is_public(&Method::GET, "/healthz"));
        assert!(!is_public(&Method::GET, "/readyz"));
    }

    #[test]
    fn the_open_files_limit_is_read() {
        assert!(open_files_limit().is_some_and(|n| n > 0));
    }
}
