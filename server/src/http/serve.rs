//! The HTTP server loop: hyper (HTTP/1.1 and HTTP/2) with a header read timeout, so a client
//! that opens a connection and sends its headers slowly (slowloris) is cut off; `axum::serve`
//! installs no such timer. Idle connections end (HTTP/1 at the header timeout, by hyper;
//! HTTP/2 here, after the same time without a request), and one client address holds at most
//! `per_client` connections (trusted proxies excepted: everyone arrives through them).
//! Shutdown stops accepting, lets in-flight requests finish within the grace period, then
//! returns.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Connection-level limits.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// A client must send all its request headers within this; a connection with no request
    /// under way for this long is closed (HTTP/1 and HTTP/2 alike).
    pub header_timeout: Duration,
    /// After shutdown is signalled, in-flight requests get this long.
    pub grace: Duration,
    /// Connections one client address may hold at once; more are closed as they arrive.
    pub per_client: usize,
    /// Proxies everyone connects through: no per-address cap for them.
    pub trusted: super::security::TrustedProxies,
}

impl ConnectionLimits {
    pub fn from_config(config: &crate::config::Config) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(config.header_timeout_seconds),
            grace: Duration::from_secs(config.shutdown_grace_seconds),
            per_client: config.max_connections_per_client,
            trusted: super::security::TrustedProxies(config.trusted_proxy_networks().unwrap_or_default()),
        }
    }
}

/// Open connections per client address.
#[derive(Default)]
struct Census(Mutex<HashMap<IpAddr, usize>>);

/// One counted connection; uncounted when dropped.
struct Counted {
    census: Arc<Census>,
    address: IpAddr,
}

impl Census {
    /// Counts a new connection from `address`, unless it already holds `cap`.
    fn admit(self: &Arc<Self>, address: IpAddr, cap: usize) -> Option<Counted> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(address).or_default();
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(Counted { census: self.clone(), address })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.census.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Requests on one connection: under way now, and started since it opened.
#[derive(Default)]
struct InFlight {
    busy: AtomicUsize,
    started: AtomicUsize,
}

/// Held while a request is handled, until its response body has been sent.
struct Busy(Arc<InFlight>);

impl Busy {
    fn new(on: &Arc<InFlight>) -> Busy {
        on.busy.fetch_add(1, Ordering::Relaxed);
        on.started.fetch_add(1, Ordering::Relaxed);
        Busy(on.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The most a request's head (request line and headers) may take: 64 KiB, four times what
/// browsers send with a full set of cookies. A larger head is answered 431 (hyper's default
/// was about 400 KB for HTTP/1, which the outside probe sent).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Serves `app` on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .max_header_list_size(MAX_HEADER_BYTES as u32);
    let census = Arc::new(Census::default());
    // Tells every connection to finish its requests and close; counts those still open.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let cap = if limits.trusted.trusts(peer.ip()) { usize::MAX } else { limits.per_client };
        let Some(counted) = census.admit(peer.ip(), cap) else {
            tracing::warn!(client = %peer.ip(), cap, "connection refused: the client holds too many");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let in_flight = Arc::new(InFlight::default());
        let service = {
            let in_flight = in_flight.clone();
            hyper::service::service_fn(move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                let busy = Busy::new(&in_flight);
                let answer = app.clone().oneshot(request.map(axum::body::Body::new));
                async move {
                    // Busy until the response body has been sent (a streamed answer is not idle).
                    answer.await.map(|response| {
                        response.map(|body| {
                            axum::body::Body::new(http_body_util::BodyExt::map_frame(body, move |frame| {
                                let _sending = &busy;
                                frame
                            }))
                        })
                    })
                }
            })
        };
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let mut stop = stop.clone();
        let idle_after = limits.header_timeout;
        connections.spawn(async move {
            let _counted = counted;
            tokio::pin!(connection);
            let mut idle_since = tokio::time::Instant::now();
            let mut seen = 0;
            let mut closing = false;
            // An idle connection asked to close gracefully gets this long to do so: an HTTP/2
            // client that never answers the closing PING would otherwise hold it.
            let mut give_up: Option<tokio::time::Instant> = None;
            loop {
                let check = tokio::time::sleep(idle_after.min(Duration::from_secs(1)));
                let deadline = tokio::time::sleep_until(give_up.unwrap_or_else(tokio::time::Instant::now));
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, %peer, "connection ended with an error");
                        }
                        break;
                    }
                    _ = stop.changed(), if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    () = check, if !closing => {
                        // HTTP/1 idles end at hyper's header timeout; this ends HTTP/2 ones.
                        let started = in_flight.started.load(Ordering::Relaxed);
                        if in_flight.busy.load(Ordering::Relaxed) > 0 || started != seen {
                            seen = started;
                            idle_since = tokio::time::Instant::now();
                        } else if idle_since.elapsed() >= idle_after {
                            closing = true;
                            give_up = Some(tokio::time::Instant::now() + idle_after);
                            connection.as_mut().graceful_shutdown();
                        }
                    }
                    () = deadline, if give_up.is_some() => {
                        tracing::debug!(%peer, "idle connection did not close in time: dropped");
                        break;
                    }
                }
            }
        });
    }
    drop(listener);
    tracing::info!(grace_seconds = limits.grace.as_secs(), "shutting down: draining in-flight requests");
    let _ = stopping.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    tokio::select! {
        () = drained => {}
        () = tokio::time::sleep(limits.grace) => {
            tracing::warn!("grace period over; exiting with requests still in flight");
        }
    }
    Ok(())
}
