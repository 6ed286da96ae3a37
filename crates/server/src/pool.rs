//! The bounded inference pool: at most `workers` jobs run at once (on
//! tokio's blocking threads), at most `queue` more wait; a request that
//! finds both full is turned away at once with 503 and `Retry-After`
//! instead of queueing without end.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::metrics::Metrics;

/// Workers and a waiting line of fixed sizes.
#[derive(Debug)]
pub struct InferencePool {
    admission: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    retry_after: u64,
    metrics: Arc<Metrics>,
}

/// Decrements a gauge when dropped, also when the request is cancelled
/// (client gone, timeout) while it waits.
struct GaugeGuard(prometheus_client::metrics::gauge::Gauge);

impl GaugeGuard {
    fn new(gauge: &prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl InferencePool {
    /// A pool of `workers` (at least 1) with room for `queue` waiting jobs.
    pub fn new(workers: usize, queue: usize, retry_after: u64, metrics: Arc<Metrics>) -> Self {
        let workers = workers.max(1);
        Self {
            admission: Arc::new(Semaphore::new(workers + queue)),
            workers: Arc::new(Semaphore::new(workers)),
            retry_after,
            metrics,
        }
    }

    /// Whether every worker is busy and the queue is full (a new job
    /// would be turned away).
    pub fn is_full(&self) -> bool {
        self.admission.available_permits() == 0
    }

    /// Runs `job` on a worker, or answers 503 when the pool and its queue
    /// are full. The job runs to the end even if the caller stops waiting,
    /// holding its worker, so the pool stays bounded.
    pub async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        job: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let Ok(admitted) = self.admission.clone().try_acquire_owned() else {
            self.metrics.rejected.inc();
            return Err(ApiError::overloaded(self.retry_after));
        };
        let waiting = GaugeGuard::new(&self.metrics.queue_depth);
        let worker = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("the inference pool is closed"))?;
        drop(waiting);
        let metrics = self.metrics.clone();
        tokio::task::spawn_blocking(move || {
            let _busy = GaugeGuard::new(&metrics.busy_workers);
            let started = Instant::now();
            let result = job();
            metrics.record_inference(operation, started.elapsed().as_secs_f64());
            drop((worker, admitted));
            result
        })
        .await
        .map_err(|e| ApiError::internal(format!("an inference job failed: {e}")))?
    }
}
