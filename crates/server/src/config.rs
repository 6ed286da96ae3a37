//! Server settings, read from the `[server]` table of a TOML config file
//! and overridden by `facekit serve` flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use facekit_monitor::EventRetention;
use facekit_service::LivenessPolicy;
use serde::Deserialize;

/// How the server listens, authenticates and decides.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1:8080`: loopback only).
    pub bind: SocketAddr,
    /// PEM certificate chain; with `tls_key`, the server speaks HTTPS only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Require an API key on `/v1` (default true). Turning it off is logged
    /// as a warning at start.
    pub auth: bool,
    /// Default cosine threshold of compare, identify and verify (a request
    /// may give its own).
    pub threshold: f32,
    /// Seconds that in-flight requests get to finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// What spoofed faces do: `normal` (refused: 422 `spoof_detected` on
    /// identify and verify, not enrolled), `observe` (reported only) or
    /// `off`. Default: `normal` when the pack has liveness models, else off.
    pub liveness: Option<LivenessPolicy>,
    /// Serve the web console at `/ui/` (default true; `facekit serve
    /// --no-ui` turns it off). It is static files: every action it offers
    /// goes through `/v1` with the operator's key.
    pub ui: bool,
    /// Seconds between purges of samples past their collection's
    /// retention (default 3600; 0: never — `facekit gallery purge` then).
    pub purge_interval_secs: u64,
    /// Run the live cameras (`/v1/monitors`; default true).
    pub monitors: bool,
    /// Most events kept per monitor (default 100000; the oldest go first).
    pub monitor_events_per_monitor: u64,
    /// Days monitor events are kept (default 30; 0: by count only).
    pub monitor_event_days: f64,
    /// Sizes and limits.
    pub limits: Limits,
}

impl ServerConfig {
    /// How long monitor events are kept.
    pub fn monitor_retention(&self) -> EventRetention {
        EventRetention {
            max_per_monitor: self.monitor_events_per_monitor,
            max_age_days: self.monitor_event_days,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert: None,
            tls_key: None,
            auth: true,
            threshold: 0.3,
            shutdown_grace_secs: 30,
            liveness: None,
            ui: true,
            purge_interval_secs: 3600,
            monitors: true,
            monitor_events_per_monitor: 100_000,
            monitor_event_days: 30.0,
            limits: Limits::default(),
        }
    }
}

/// Bounds on what one request may cost and how much work may wait.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body, bytes (default 16 MiB).
    pub max_body_bytes: usize,
    /// Largest decoded image, pixels (default 40 MP), checked from the
    /// header before decoding.
    pub max_pixels: u64,
    /// Most faces analysed per image (the largest are kept; default 32).
    pub max_faces: usize,
    /// Largest `top_k` of identify (default 100).
    pub max_top_k: usize,
    /// Inference workers (default: one per core).
    pub workers: usize,
    /// Requests that may wait for a worker before new ones get 503
    /// (default 64).
    pub queue: usize,
    /// Seconds a request may take before it is answered 503 (default 30).
    pub request_timeout_secs: f64,
    /// `Retry-After` seconds sent with an overload 503 (default 1).
    pub retry_after_secs: u64,
    /// Open connections at once; more are closed when accepted (default 1024).
    pub max_connections: usize,
    /// Seconds a connection may take to send a request's headers before it
    /// is closed (default 10): idle and slow-loris connections go.
    pub header_timeout_secs: f64,
    /// Request body bytes that may be in flight (read, parsed, decoded) at
    /// once, reserved from each request's declared length before its body
    /// is read; past it the answer is 503 (default 64 MiB).
    pub max_inflight_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 << 20,
            max_pixels: 40_000_000,
            max_faces: 32,
            max_top_k: 100,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            queue: 64,
            request_timeout_secs: 30.0,
            retry_after_secs: 1,
            max_connections: 1024,
            header_timeout_secs: 10.0,
            max_inflight_body_bytes: 64 << 20,
        }
    }
}
