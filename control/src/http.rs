//! Serving connections, plain HTTP and HTTPS alike: the accept loop, the TLS handshake, the graceful
//! shutdown, and the timeouts that keep a client from holding a connection for nothing.
//!
//! - **Header read** (`[server] header_read_timeout_secs`): a request's head (request line and
//!   headers) must arrive whole within this, counted from the connection opening (after the TLS
//!   handshake) for the first request and from the head's first byte for later ones. A client that
//!   sends half a request line and waits, or trickles a byte now and then, is dropped (slowloris).
//! - **Idle** (`[server] idle_timeout_secs`): a connection on which no byte moves either way for this
//!   long is dropped: a keep-alive connection nobody uses, a stalled upload, a client that stops
//!   reading its response.
//!
//! Neither applies once a connection is upgraded to a WebSocket: the upgraded socket leaves hyper's
//! connection future, and with it these timers (the signalling has its own join timeout, rate limit
//! and bounded queues). hyper's own `header_read_timeout` is not used: its timer runs whenever hyper
//! waits for a head, between keep-alive requests too, so idle connections would be cut at the header
//! deadline and the two timeouts could not differ.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::config;

/// A client that connects but does not finish the TLS handshake is dropped after this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `Strict-Transport-Security` of every HTTPS response: one year, this host only (whether subdomains
/// are HTTPS too is for the operator to say, at the domain's own site).
const HSTS: &str = "max-age=31536000";

/// How long a connection may take to send a request head, and stay silent.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header_read: Duration,
    pub idle: Duration,
}

impl Timeouts {
    pub fn from_config(server: &config::ServerConfig) -> Self {
        Timeouts {
            header_read: Duration::from_secs(server.header_read_timeout_secs),
            idle: Duration::from_secs(server.idle_timeout_secs),
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::from_config(&config::ServerConfig::default())
    }
}

/// Serves `router` until `shutdown` completes, over TLS when `tls` is given, then waits for open
/// connections to finish their requests. Handlers see the client address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<ServerConfig>>,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    let router = match acceptor {
        Some(_) => router.layer(axum::middleware::map_response(strict_transport_security)),
        None => router,
    };
    let (closing, closing_rx) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let closing = closing_rx.clone();
        connections.spawn(async move {
            match acceptor {
                None => connection(tcp, addr, router, timeouts, closing).await,
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => connection(tls, addr, router, timeouts, closing).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                },
            }
        });
    }
    drop(listener);
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn strict_transport_security(mut response: Response) -> Response {
    response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    response
}

/// Serves one connection's requests until it closes, the server shuts down (the request in flight is
/// finished first), or a timeout expires (the connection is dropped as it is).
async fn connection<IO>(
    io: IO,
    addr: SocketAddr,
    router: Router,
    timeouts: Timeouts,
    mut closing: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = Watched { inner: io, activity: activity.clone() };
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(addr));
        let handling = Handling::start(requests.clone());
        let mut router = router.clone();
        async move {
            let response = tower_service::Service::call(&mut router, request).await;
            drop(handling);
            response
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        // Ours replaces it (see the module's comment).
        .header_read_timeout(None)
        .serve_connection(hyper_util::rt::TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let expired = activity.expired(timeouts);
    tokio::pin!(expired);
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
                return;
            }
            _ = closing.wait_for(|c| *c), if !draining => {
                // Finish the request in flight, then close.
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            why = &mut expired => {
                tracing::debug!(why, "HTTP connection dropped");
                return;
            }
        }
    }
}

/// Marks where no request head is being read.
const NO_HEAD: u64 = u64::MAX;

/// What a connection did and when, for its timeouts: its IO ([`Watched`]) and its requests
/// ([`Handling`]) write it, the connection's task reads it. Times are milliseconds since `opened`.
struct Activity {
    opened: Instant,
    /// The last byte read or written.
    last_io: AtomicU64,
    /// The start of the request head being read, or [`NO_HEAD`].
    head_from: AtomicU64,
    /// A request's head has been read and its handler is running (its body may still arrive).
    handling: AtomicBool,
    /// A head started: the deadline may now be earlier than the one slept on.
    head_started: Notify,
}

impl Activity {
    fn new() -> Self {
        Activity {
            opened: Instant::now(),
            last_io: AtomicU64::new(0),
            // The first request is due from the moment the connection is ready.
            head_from: AtomicU64::new(0),
            handling: AtomicBool::new(false),
            head_started: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    fn read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        // Bytes outside a request are the next request's head.
        if !self.handling.load(Ordering::Relaxed) && self.head_from.load(Ordering::Relaxed) == NO_HEAD {
            self.head_from.store(now, Ordering::Relaxed);
            self.head_started.notify_one();
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    /// The next deadline and the timeout it belongs to.
    fn deadline(&self, timeouts: Timeouts) -> (Instant, &'static str) {
        let at = |ms: u64| self.opened + Duration::from_millis(ms);
        let idle = (at(self.last_io.load(Ordering::Relaxed)) + timeouts.idle, "idle timeout");
        match self.head_from.load(Ordering::Relaxed) {
            NO_HEAD => idle,
            from => std::cmp::min_by_key((at(from) + timeouts.header_read, "header read timeout"), idle, |d| d.0),
        }
    }

    /// Completes when a timeout expires, with its name.
    async fn expired(&self, timeouts: Timeouts) -> &'static str {
        loop {
            let (deadline, why) = self.deadline(timeouts);
            if Instant::now() >= deadline {
                return why;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = self.head_started.notified() => {}
            }
        }
    }
}

/// A request being handled: its head is complete, so the header timer stops until the next one.
struct Handling(Arc<Activity>);

impl Handling {
    fn start(activity: Arc<Activity>) -> Self {
        activity.handling.store(true, Ordering::Relaxed);
        activity.head_from.store(NO_HEAD, Ordering::Relaxed);
        Handling(activity)
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.handling.store(false, Ordering::Relaxed);
        self.0.wrote();
    }
}

/// A connection's IO, noting each read and write in its [`Activity`].
struct Watched<IO> {
    inner: IO,
    activity: Arc<Activity>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read();
        }
        result
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts { header_read: Duration::from_secs(10), idle: Duration::from_secs(60) };

    /// `a` as if its events had happened at these seconds after it opened.
    fn at(a: &Activity, last_io: u64, head_from: Option<u64>) {
        a.last_io.store(last_io * 1000, Ordering::Relaxed);
        a.head_from.store(head_from.map_or(NO_HEAD, |s| s * 1000), Ordering::Relaxed);
    }

    fn after(a: &Activity, secs: u64) -> Instant {
        a.opened + Duration::from_secs(secs)
    }

    #[test]
    fn a_new_connection_owes_a_head_at_once() {
        let a = Activity::new();
        assert_eq!(a.deadline(TIMEOUTS), (after(&a, 10), "header read timeout"));
    }

    #[test]
    fn between_requests_only_the_idle_timeout_runs() {
        let a = Arc::new(Activity::new());
        a.read();
        let request = Handling::start(a.clone());
        at(&a, 3, None);
        // A handler waiting for a body that does not come: idle.
        assert_eq!(a.deadline(TIMEOUTS), (after(&a, 63), "idle timeout"));
        drop(request);
        at(&a, 5, None);
        assert_eq!(a.deadline(TIMEOUTS), (after(&a, 65), "idle timeout"));
    }

    #[test]
    fn a_head_is_due_from_its_first_byte_however_slowly_it_trickles() {
        let a = Arc::new(Activity::new());
        drop(Handling::start(a.clone()));
        a.read();
        let from = a.head_from.load(Ordering::Relaxed);
        assert_ne!(from, NO_HEAD, "the first byte after a request starts a head");
        // Later bytes move the idle deadline, not the head's.
        at(&a, 40, Some(30));
        assert_eq!(a.deadline(TIMEOUTS), (after(&a, 40), "header read timeout"));
        a.read();
        assert_eq!(a.head_from.load(Ordering::Relaxed), 30_000);
    }

    #[test]
    fn bytes_read_during_a_request_are_its_body() {
        let a = Arc::new(Activity::new());
        let request = Handling::start(a.clone());
        a.read();
        assert_eq!(a.head_from.load(Ordering::Relaxed), NO_HEAD);
        drop(request);
    }

    #[test]
    fn the_earlier_deadline_wins() {
        let a = Activity::new();
        let short_idle = Timeouts { header_read: Duration::from_secs(30), idle: Duration::from_secs(5) };
        at(&a, 2, Some(1));
        assert_eq!(a.deadline(short_idle), (after(&a, 7), "idle timeout"));
    }
}
