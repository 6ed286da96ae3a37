//! Prometheus metrics: requests by route and status, request latency, time
//! spent in the models, the inference queue's depth and busy workers, and
//! requests turned away because the queue was full.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 1 ms to ~65 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The server's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Histograms<RouteLabels>,
    inference: Histograms<OperationLabels>,
    /// Requests admitted and waiting for a worker.
    pub queue_depth: Gauge,
    /// Workers running a request.
    pub busy_workers: Gauge,
    /// Requests answered 503 because the queue was full.
    pub rejected: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("facekit");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Histograms<RouteLabels> = Family::new_with_constructor(latency_histogram);
        let inference: Histograms<OperationLabels> =
            Family::new_with_constructor(latency_histogram);
        let queue_depth = Gauge::default();
        let busy_workers = Gauge::default();
        let rejected = Counter::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response, by route",
            latency.clone(),
        );
        registry.register(
            "inference_duration_seconds",
            "Time a worker spent decoding and running the models, by operation",
            inference.clone(),
        );
        registry.register(
            "queue_depth",
            "Requests admitted and waiting for an inference worker",
            queue_depth.clone(),
        );
        registry.register(
            "busy_workers",
            "Inference workers running a request",
            busy_workers.clone(),
        );
        registry.register(
            "rejected_overload",
            "Requests answered 503 because the inference queue was full",
            rejected.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            inference,
            queue_depth,
            busy_workers,
            rejected,
        }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn record_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// Records the time one inference job took.
    pub fn record_inference(&self, operation: &'static str, seconds: f64) {
        self.inference
            .get_or_create(&OperationLabels { operation })
            .observe(seconds);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
