//! facekit's HTTP API (axum on tokio): detect, embed and compare faces, and
//! the gallery's collections, persons, faces, identify and verify under
//! `/v1`, with API keys and roles ([`keys`]), JSON errors, limits on body
//! size, pixels and faces, a bounded inference pool that answers 503 with
//! `Retry-After` when full, per-request timeouts, request ids, Prometheus
//! metrics, an OpenAPI 3 document at `/openapi.json`, TLS (rustls) and a
//! graceful shutdown that finishes in-flight requests, and the web console
//! (`facekit-console`) at `/ui/`. Depends on the pipeline and gallery
//! crates; the `facekit serve` command wires it up.
//!
//! ```no_run
//! use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
//! use facekit_server::{Server, ServerConfig, keys::KeyStore};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let analyzer = FaceAnalyzer::from_pack("buffalo_l", AnalyzeOptions::default())?;
//! let service = facekit_service::open_audited("gallery.db", None)?;
//! let keys = KeyStore::open("keys.db".as_ref())?;
//! let server = Server::new(analyzer, service, keys, ServerConfig::default())?;
//! let listener = std::net::TcpListener::bind("127.0.0.1:8080")?;
//! server.run(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

mod admission;
mod auth;
mod config;
mod error;
mod input;
pub mod keys;
mod metrics;
mod params;
mod pool;
mod routes;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use facekit_gallery::{EmbeddingContract, GalleryError, contract_of};
use facekit_image::{DecodeLimits, decode_bytes};
use facekit_monitor::{MonitorEvent, MonitorHub, MonitorStore};
use facekit_pipeline::{FaceAnalyzer, ImageFaces};
use facekit_service::{FaceService, LivenessPolicy};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub use config::{Limits, ServerConfig};
pub use error::ApiError;
pub use routes::document;

use keys::KeyStore;
use metrics::Metrics;
use pool::InferencePool;

/// Monitor events held for live listeners that have not read them yet;
/// one that falls further behind catches up from the store.
const MONITOR_EVENT_BUFFER: usize = 1024;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The TLS certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The gallery could not tell the recognizer's contract.
    #[error(transparent)]
    Gallery(#[from] GalleryError),
    /// Listening failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A setting cannot be honoured with the loaded models.
    #[error("{0}")]
    Config(String),
}

/// What every handler shares.
pub(crate) struct AppState {
    /// Shared with the monitors' threads.
    analyzer: Arc<FaceAnalyzer>,
    /// The recognizer's embedding contract (`None`: the pack has no recognizer).
    contract: Option<EmbeddingContract>,
    /// The gallery operations (shared with the CLI); no lock of the
    /// server's around them: searches run in parallel.
    service: FaceService,
    keys: Arc<KeyStore>,
    pool: InferencePool,
    metrics: Arc<Metrics>,
    config: ServerConfig,
    /// What spoofed faces do (resolved against the pack at start).
    liveness: LivenessPolicy,
    decode_limits: DecodeLimits,
    /// Body bytes that may still be admitted, in KiB ([`admission`]).
    body_budget: Arc<tokio::sync::Semaphore>,
    ready: AtomicBool,
    /// The live cameras, when the server runs them ([`Server::with_monitors`]).
    monitors: OnceLock<Arc<MonitorHub>>,
    /// Every stored monitor event, for the live streams.
    monitor_events: tokio::sync::broadcast::Sender<MonitorEvent>,
}

impl AppState {
    /// Decodes (within the limits) and analyses an image, measuring each
    /// face's quality when asked; blocking.
    fn analyze(
        &self,
        bytes: &[u8],
        attributes: bool,
        quality: bool,
    ) -> Result<ImageFaces, ApiError> {
        let img = decode_bytes(bytes, &self.decode_limits)?;
        let mut faces = self.analyzer.analyze_with(&img, attributes)?;
        if quality {
            self.analyzer.assess_quality(&img, &mut faces);
        }
        Ok(ImageFaces {
            width: img.width(),
            height: img.height(),
            faces,
        })
    }

    /// The recognizer's contract, or 501 when the pack has no recognizer.
    fn require_recognizer(&self) -> Result<&EmbeddingContract, ApiError> {
        self.contract.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "no_recognizer",
                "the server's model pack has no recognition model",
            )
        })
    }

    /// Runs a key-store operation off the async threads.
    async fn with_keys<T: Send + 'static>(
        &self,
        op: impl FnOnce(&KeyStore) -> Result<T, keys::KeyError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let keys = self.keys.clone();
        tokio::task::spawn_blocking(move || op(&keys))
            .await
            .map_err(|e| ApiError::internal(format!("a key store operation failed: {e}")))?
            .map_err(ApiError::from)
    }

    /// Runs a gallery operation off the async threads.
    async fn gallery<T: Send + 'static, E: Into<ApiError> + Send + 'static>(
        self: &Arc<Self>,
        op: impl FnOnce(&FaceService) -> Result<T, E> + Send + 'static,
    ) -> Result<T, ApiError> {
        off_async_threads(self.service.clone(), op).await
    }

    /// [`AppState::gallery`] with the operation recorded for `caller`.
    async fn gallery_as<T: Send + 'static, E: Into<ApiError> + Send + 'static>(
        self: &Arc<Self>,
        caller: &auth::Caller,
        op: impl FnOnce(&FaceService) -> Result<T, E> + Send + 'static,
    ) -> Result<T, ApiError> {
        off_async_threads(self.service.acting_as(caller.actor()), op).await
    }
}

/// Runs `op` on `service` on a blocking thread.
async fn off_async_threads<T: Send + 'static, E: Into<ApiError> + Send + 'static>(
    service: FaceService,
    op: impl FnOnce(&FaceService) -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || op(&service))
        .await
        .map_err(|e| ApiError::internal(format!("a gallery operation failed: {e}")))?
        .map_err(Into::into)
}

/// The API server: state, routes and middleware.
pub struct Server {
    state: Arc<AppState>,
    app: Router,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.state.config)
            .finish()
    }
}

/// Counts and times every answered request by its route template.
async fn record(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let response = next.run(req).await;
    state.metrics.record_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// An error answered to a request with a body may leave the body unread (a
/// role refused before the handler reads it); hyper then closes the
/// connection after the answer, and a client that reuses it meanwhile sees
/// "server disconnected" instead of its next answer. `Connection: close` on
/// such answers (HTTP/1) tells the client to open a new one.
async fn close_after_error_with_body(req: Request, next: Next) -> Response {
    let http1 = req.version() <= axum::http::Version::HTTP_11;
    let headers = req.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0);
    let mut response = next.run(req).await;
    let status = response.status();
    if http1 && has_body && (status.is_client_error() || status.is_server_error()) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Answers 503 when a request takes longer than the configured timeout.
/// Work already on a worker finishes there (and a write it makes commits).
async fn deadline(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let limit = Duration::from_secs_f64(state.config.limits.request_timeout_secs);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the request took longer than {:.1} s", limit.as_secs_f64()),
        )
        .into_response(),
    }
}

/// Longest client request id echoed back; a longer one (or one with
/// characters outside visible ASCII) is replaced by a fresh id.
const MAX_REQUEST_ID: usize = 128;

async fn drop_unusable_request_id(mut req: Request) -> Request {
    let usable = req.headers().get("x-request-id").is_none_or(|v| {
        v.len() <= MAX_REQUEST_ID && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
    });
    if !usable {
        req.headers_mut().remove("x-request-id");
    }
    req
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("the server hit a bug handling this request").into_response()
}

impl Server {
    /// Builds the server over a loaded analyzer, the gallery service (with
    /// its audit trail) and the key store. The analyzer's limits are
    /// tightened to the server's (pixels, faces per image).
    pub fn new(
        analyzer: FaceAnalyzer,
        service: FaceService,
        keys: KeyStore,
        config: ServerConfig,
    ) -> Result<Self, ServerError> {
        let limits = &config.limits;
        let mut options = analyzer.options().clone();
        options.detect.max_num = match options.detect.max_num {
            0 => limits.max_faces,
            n => n.min(limits.max_faces),
        };
        let decode_limits = DecodeLimits {
            max_pixels: options.limits.max_pixels.min(limits.max_pixels),
            max_file_bytes: limits.max_body_bytes as u64,
        };
        options.limits = decode_limits;
        let liveness = LivenessPolicy::resolve(config.liveness, analyzer.checks_liveness())
            .map_err(ServerError::Config)?;
        options.skip_liveness = liveness == LivenessPolicy::Off;
        let analyzer = FaceAnalyzer::new(analyzer.into_pack(), options);
        let contract = match analyzer.pack().recognizer() {
            Some(_) => Some(contract_of(&analyzer)?),
            None => None,
        };
        let metrics = Arc::new(Metrics::default());
        let pool = InferencePool::new(
            limits.workers,
            limits.queue,
            limits.retry_after_secs,
            metrics.clone(),
        );
        if !config.auth {
            tracing::warn!(
                "authentication is OFF: anyone who can reach {} has admin rights",
                config.bind
            );
        }
        let state = Arc::new(AppState {
            analyzer: Arc::new(analyzer),
            contract,
            service,
            keys: Arc::new(keys),
            pool,
            metrics,
            decode_limits,
            body_budget: admission::body_budget(limits.max_inflight_body_bytes),
            ready: AtomicBool::new(true),
            monitors: OnceLock::new(),
            monitor_events: tokio::sync::broadcast::channel(MONITOR_EVENT_BUFFER).0,
            liveness,
            config,
        });
        let app = Self::router(&state);
        Ok(Self { state, app })
    }

    /// Runs the live cameras stored in `store` (and lets the API add
    /// more): each monitor's events are stored there and pushed to the
    /// event streams.
    pub fn with_monitors(self, store: MonitorStore) -> Result<Self, ServerError> {
        let events = self.state.monitor_events.clone();
        let hub = MonitorHub::start(
            store,
            self.state.analyzer.clone(),
            self.state
                .service
                .acting_as(facekit_audit::Actor::new("server:monitors", "monitor")),
            // No listener is no error: the event is stored already.
            Box::new(move |event| {
                let _ = events.send(event.clone());
            }),
        )
        .map_err(|e| ServerError::Config(format!("monitors: {e}")))?;
        if self.state.monitors.set(Arc::new(hub)).is_err() {
            return Err(ServerError::Config("monitors are running already".into()));
        }
        Ok(self)
    }

    fn router(state: &Arc<AppState>) -> Router {
        let request_id = HeaderName::from_static("x-request-id");
        // Outermost first: the deadline covers authentication and reading
        // the body; who calls and what it may cost are decided from the
        // headers before the body is read.
        let (public, v1, _) = routes::routers();
        let v1 = v1
            .layer(middleware::from_fn_with_state(
                state.clone(),
                admission::admit,
            ))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                auth::authenticate,
            ))
            .layer(middleware::from_fn_with_state(state.clone(), deadline));
        let mut app = public.merge(v1);
        if state.config.ui {
            app = app.merge(facekit_console::router()).route(
                "/",
                axum::routing::get(|| async {
                    axum::response::Redirect::to(facekit_console::PREFIX)
                }),
            );
        }
        app.fallback(routes::not_found)
            .method_not_allowed_fallback(routes::method_not_allowed)
            .layer(middleware::from_fn_with_state(state.clone(), record))
            .layer(middleware::from_fn(close_after_error_with_body))
            .layer(DefaultBodyLimit::max(state.config.limits.max_body_bytes))
            .layer(CatchPanicLayer::custom(panic_response))
            // Logs method, path, request id, status and latency; never
            // bodies, query strings (both may carry images or embeddings)
            // or other headers (keys).
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request| {
                        let id = req
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        // The route template, not the path: paths carry person keys.
                        let route = req
                            .extensions()
                            .get::<MatchedPath>()
                            .map_or("unmatched", |p| p.as_str());
                        tracing::info_span!("request", method = %req.method(), route, id)
                    })
                    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(request_id.clone()))
            .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
            .layer(middleware::map_request(drop_unusable_request_id))
            .with_state(state.clone())
    }

    /// Erases samples past their collection's retention every
    /// `purge_interval_secs` (recorded in the audit trail as the server's
    /// own doing); a failed purge is logged and tried again next time.
    fn schedule_purges(&self) {
        let every = self.state.config.purge_interval_secs;
        if every == 0 {
            return;
        }
        let service = self.state.service.acting_as(facekit_audit::Actor::new(
            "server:retention",
            "scheduled-purge",
        ));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(every));
            loop {
                ticks.tick().await;
                let service = service.clone();
                match tokio::task::spawn_blocking(move || service.purge(None)).await {
                    Ok(Ok(reports)) => {
                        let erased: usize = reports.iter().map(|r| r.samples_erased).sum();
                        if erased > 0 {
                            tracing::info!(erased, "retention purge");
                        }
                    }
                    Ok(Err(e)) => tracing::warn!("retention purge failed: {e}"),
                    Err(e) => tracing::warn!("retention purge failed: {e}"),
                }
            }
        });
    }

    /// The router, for serving it some other way.
    pub fn router_service(&self) -> Router {
        self.app.clone()
    }

    /// Serves on `listener` (HTTPS when the config names a certificate and
    /// key) until `shutdown` completes; then stops accepting, reports not
    /// ready, lets in-flight requests finish (up to the grace period) and
    /// returns. The gallery is closed (indexes saved) when the server is
    /// dropped; every acknowledged write was committed before its answer.
    pub async fn run(
        self,
        listener: std::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        listener.set_nonblocking(true)?;
        let handle = axum_server::Handle::new();
        let grace = Duration::from_secs(self.state.config.shutdown_grace_secs);
        let state = self.state.clone();
        let stopper = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            state.ready.store(false, Ordering::SeqCst);
            tracing::info!("shutting down: finishing in-flight requests");
            stopper.graceful_shutdown(Some(grace));
            if let Some(hub) = state.monitors.get().cloned() {
                let _ = tokio::task::spawn_blocking(move || hub.stop_all()).await;
            }
        });
        self.schedule_purges();
        let service = self.app.clone().into_make_service();
        let limits = &self.state.config.limits;
        let header_timeout = Duration::from_secs_f64(limits.header_timeout_secs);
        let max_connections = limits.max_connections;
        // Headers within the timeout, the first request included (hyper's
        // protocol detection has no timeout of its own).
        macro_rules! bounded {
            ($server:expr) => {{
                let mut server = $server
                    .map(|acceptor| admission::ConnectionLimit::new(acceptor, max_connections))
                    .first_request_timeout(header_timeout)
                    .handle(handle);
                server
                    .http_builder()
                    .http1()
                    .header_read_timeout(header_timeout);
                server
            }};
        }
        match (&self.state.config.tls_cert, &self.state.config.tls_key) {
            (Some(cert), Some(key)) => {
                let tls = tls_config(cert, key)?;
                bounded!(axum_server::from_tcp_rustls(listener, tls)?)
                    .serve(service)
                    .await?
            }
            (None, None) => {
                bounded!(axum_server::from_tcp(listener)?)
                    .serve(service)
                    .await?
            }
            _ => {
                return Err(ServerError::Tls(
                    "give both a certificate and a key, or neither".into(),
                ));
            }
        }
        Ok(())
    }
}

fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<axum_server::tls_rustls::RustlsConfig, ServerError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServerError::Tls(format!("certificate {}: {e}", cert.display())))?;
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ServerError::Tls(format!("key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| ServerError::Tls(format!("{} and {}: {e}", cert.display(), key.display())))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(axum_server::tls_rustls::RustlsConfig::from_config(
        Arc::new(config),
    ))
}
