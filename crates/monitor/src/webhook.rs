//! A monitor's webhook: every event POSTed as JSON to a URL, in order, on a
//! thread of its own (a slow receiver never delays the analysis), retried
//! with backoff. Events are stored before they are queued here, so one the
//! receiver never took is still in `GET …/events`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::spec::redact;
use crate::store::MonitorEvent;

/// Events waiting for delivery; beyond this the newest are not queued
/// (counted as failed; they are in the store).
const QUEUE: usize = 10_000;
/// Tries per event, and the wait before the first retry (doubling).
const TRIES: u32 = 5;
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// Longest a receiver may take to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What happened to the events sent to a webhook.
#[derive(Debug, Default)]
pub struct Deliveries {
    /// Events the receiver answered 2xx.
    pub delivered: AtomicU64,
    /// Events given up on (every try failed, or the queue was full).
    pub failed: AtomicU64,
    /// The last failure, with the URL's secrets hidden.
    pub last_error: Mutex<Option<String>>,
}

/// The sending end: queue events; dropping it ends the thread once the
/// queue is empty (or the next try is due and the monitor is gone).
pub(crate) struct Webhook {
    queue: SyncSender<MonitorEvent>,
    deliveries: Arc<Deliveries>,
}

impl Webhook {
    /// Starts delivering to `url`.
    pub fn start(url: String, deliveries: Arc<Deliveries>) -> Self {
        let (queue, events) = std::sync::mpsc::sync_channel(QUEUE);
        let sent = deliveries.clone();
        let _ = std::thread::Builder::new()
            .name("monitor-webhook".into())
            .spawn(move || deliver(&url, &events, &sent));
        Self { queue, deliveries }
    }

    /// Queues an event without waiting.
    pub fn send(&self, event: &MonitorEvent) {
        match self.queue.try_send(event.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.deliveries.failed.fetch_add(1, Ordering::Relaxed);
                *self
                    .deliveries
                    .last_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) =
                    Some("the webhook queue is full: the receiver is too slow".into());
            }
        }
    }
}

fn deliver(url: &str, events: &Receiver<MonitorEvent>, deliveries: &Deliveries) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let shown = redact_url(url);
    for event in events {
        let body = serde_json::to_string(&event).expect("an event serialises");
        let mut wait = FIRST_RETRY;
        for attempt in 1..=TRIES {
            let outcome = agent
                .post(url)
                .header("Content-Type", "application/json")
                .header("X-Facekit-Event", event.kind.as_str())
                .send(body.as_bytes());
            let why = match outcome {
                Ok(reply) if reply.status().is_success() => {
                    deliveries.delivered.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok(reply) => format!("{shown} answered {}", reply.status().as_u16()),
                Err(e) => format!("{shown}: {}", e.to_string().replace(url, &shown)),
            };
            if attempt == TRIES {
                deliveries.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    seq = event.seq,
                    "webhook gave up after {TRIES} tries: {why}"
                );
            }
            *deliveries
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(why);
            if attempt < TRIES {
                std::thread::sleep(wait);
                wait *= 2;
            }
        }
    }
}

/// A webhook URL as shown: user and password hidden, and the query (which
/// often carries a token) too.
pub fn redact_url(url: &str) -> String {
    let shown = redact(url);
    match shown.split_once('?') {
        Some((base, _)) => format!("{base}?***"),
        None => shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_of_a_webhook_url_are_hidden() {
        assert_eq!(
            redact_url("https://bot:pw@hooks.example/in?token=abc"),
            "https://***@hooks.example/in?***"
        );
        assert_eq!(redact_url("http://10.0.0.2/hook"), "http://10.0.0.2/hook");
    }
}
