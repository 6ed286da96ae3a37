//! Live cameras: monitors that watch a stream and say who enters and who
//! leaves.
//!
//! A monitor reads its source through `ffmpeg` (RTSP, MJPEG or HLS over
//! HTTP, a device or a file), analyses only the newest frame at its
//! analysis rate, follows faces from frame to frame (the video crate's
//! association), identifies them in a gallery collection, and turns
//! presence into `person_enter`/`person_exit`/`unknown_enter`/
//! `unknown_exit` events by its policy (agreeing samples, absence
//! timeout, cooldown), plus `source_lost`/`source_recovered` as the stream
//! goes and comes back (reconnecting with backoff). Monitors and events
//! are stored in SQLite beside the gallery ([`MonitorStore`]) and survive
//! restarts; each event is stored before it is pushed to live listeners.
//! The [`MonitorHub`] runs them, one thread each; the HTTP server exposes
//! it. Above the service and video crates, below the server.
//!
//! ```no_run
//! use std::sync::Arc;
//! use facekit_monitor::{EventRetention, MonitorHub, MonitorSpec, MonitorStore};
//! use facekit_pipeline::{AnalyzeOptions, FaceAnalyzer};
//! let analyzer = Arc::new(FaceAnalyzer::from_pack("buffalo_l", AnalyzeOptions::default())?);
//! let service = facekit_service::open_audited("gallery.db", None)?;
//! let store = MonitorStore::open("gallery.db".as_ref(), None, EventRetention::default())?;
//! let hub = MonitorHub::start(store, analyzer, service, Box::new(|event| println!("{event:?}")))?;
//! let spec: MonitorSpec = serde_json::from_str(r#"{"source": "rtsp://cam/1", "collection": "staff"}"#)?;
//! let monitor = hub.create(spec)?;
//! println!("{} is {:?}", monitor.id, monitor.status.state);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod presence;
mod runner;
mod source;
mod spec;
mod store;
mod webhook;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use facekit_audit::Actor;
use facekit_gallery::{EmbeddingContract, GalleryError, contract_of};
use facekit_pipeline::{FaceAnalyzer, PipelineError};
use facekit_service::FaceService;

pub use presence::{Change, EventKind, Presence, Sighting};
pub use runner::{MonitorState, MonitorStatus, Preview};
pub use source::{FrameCounters, LiveFrame, LiveSource, MAX_FRAME_PIXELS, Next};
pub use spec::{EventPolicy, MAX_ANALYSIS_FPS, MonitorPatch, MonitorSpec, redact};
pub use store::{EventQuery, EventRetention, MonitorEvent, MonitorStore, StoredMonitor};
pub use webhook::redact_url;

use runner::{Runner, Shared};

/// Why a monitor could not be made, changed or read.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// A setting is wrong (named in the message).
    #[error("{0}")]
    Invalid(String),
    /// No monitor has this id.
    #[error("no monitor '{0}'")]
    NotFound(String),
    /// The monitors' database failed.
    #[error("monitor store {path}: {reason}")]
    Store {
        /// Its file.
        path: std::path::PathBuf,
        /// SQLite's words.
        reason: String,
    },
    /// The gallery refused (say, no such collection).
    #[error(transparent)]
    Gallery(#[from] GalleryError),
    /// Analysing a frame failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// Receives every event once it is stored (the server pushes it to its
/// live listeners).
pub type EventSink = Box<dyn Fn(&MonitorEvent) + Send + Sync>;

/// What every monitor thread shares.
pub(crate) struct Context {
    analyzer: Arc<FaceAnalyzer>,
    contract: Option<EmbeddingContract>,
    service: FaceService,
    store: MonitorStore,
    sink: EventSink,
}

/// A monitor as the API shows it: its settings (the source's credentials
/// hidden) and its status.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonitorView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The source, with any user name and password replaced by `***`.
    pub source: String,
    /// The collection.
    pub collection: String,
    /// Frames analysed per second.
    pub analysis_fps: f64,
    /// The match threshold.
    pub threshold: f32,
    /// The event policy.
    pub policy: EventPolicy,
    /// Whether a preview is kept.
    pub preview: bool,
    /// Where events are POSTed, with user, password and query hidden.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// When it was created (Unix seconds).
    pub created: f64,
    /// Its state and counters.
    pub status: MonitorStatus,
}

struct Running {
    spec: MonitorSpec,
    created: f64,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    fn view(&self, id: &str) -> MonitorView {
        let s = &self.spec;
        MonitorView {
            id: id.to_string(),
            name: s.name.clone(),
            source: s.redacted_source(),
            collection: s.collection.clone(),
            analysis_fps: s.analysis_fps,
            threshold: s.threshold,
            policy: s.policy.clone(),
            preview: s.preview,
            webhook: s.webhook.as_deref().map(redact_url),
            created: self.created,
            status: self.shared.status(),
        }
    }

    fn stop(&mut self) {
        self.shared
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The monitors of a server, each on a thread of its own.
pub struct MonitorHub {
    context: Arc<Context>,
    running: Mutex<BTreeMap<String, Running>>,
}

impl std::fmt::Debug for MonitorHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorHub")
            .field("store", &self.context.store)
            .finish()
    }
}

fn new_id() -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).expect("the OS random source");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("mon_{hex}")
}

impl MonitorHub {
    /// Starts every monitor in `store`.
    pub fn start(
        store: MonitorStore,
        analyzer: Arc<FaceAnalyzer>,
        service: FaceService,
        sink: EventSink,
    ) -> Result<Self, MonitorError> {
        let contract = match analyzer.pack().recognizer() {
            Some(_) => Some(contract_of(&analyzer)?),
            None => None,
        };
        let stored = store.list()?;
        let hub = Self {
            context: Arc::new(Context {
                analyzer,
                contract,
                service,
                store,
                sink,
            }),
            running: Mutex::new(BTreeMap::new()),
        };
        for monitor in stored {
            hub.launch(monitor.id, monitor.spec, monitor.created);
        }
        Ok(hub)
    }

    fn running(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn launch(&self, id: String, spec: MonitorSpec, created: f64) {
        let shared = Arc::new(Shared::new());
        let runner = Runner {
            id: id.clone(),
            spec: spec.clone(),
            context: self.context.clone(),
            // Its sightings are recorded in the audit trail as its own.
            service: self
                .context
                .service
                .acting_as(Actor::new(&format!("monitor:{id}"), &id)),
            webhook: spec
                .webhook
                .clone()
                .map(|url| webhook::Webhook::start(url, shared.webhook.clone())),
            shared: shared.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("monitor-{id}"))
            .spawn(move || runner.run())
            .ok();
        self.running().insert(
            id,
            Running {
                spec,
                created,
                shared,
                thread,
            },
        );
    }

    /// Checks what a monitor needs that the spec alone cannot tell: a
    /// recognizer, and the collection.
    fn check(&self, spec: &MonitorSpec) -> Result<(), MonitorError> {
        spec.validate()?;
        if self.context.contract.is_none() {
            return Err(MonitorError::Invalid(
                "the server's model pack has no recognizer: monitors identify faces".into(),
            ));
        }
        self.context
            .service
            .gallery()
            .collection(&spec.collection)?;
        Ok(())
    }

    /// Stores and starts a monitor.
    pub fn create(&self, spec: MonitorSpec) -> Result<MonitorView, MonitorError> {
        self.check(&spec)?;
        let id = new_id();
        let stored = self.context.store.insert(&id, &spec)?;
        self.launch(id.clone(), spec, stored.created);
        self.get(&id)
    }

    /// Every monitor.
    pub fn list(&self) -> Vec<MonitorView> {
        self.running().iter().map(|(id, r)| r.view(id)).collect()
    }

    /// One monitor.
    pub fn get(&self, id: &str) -> Result<MonitorView, MonitorError> {
        self.running()
            .get(id)
            .map(|r| r.view(id))
            .ok_or_else(|| MonitorError::NotFound(id.to_string()))
    }

    /// Changes a monitor (restarting it with the new settings).
    pub fn update(&self, id: &str, patch: MonitorPatch) -> Result<MonitorView, MonitorError> {
        let (spec, created) = {
            let running = self.running();
            let current = running
                .get(id)
                .ok_or_else(|| MonitorError::NotFound(id.to_string()))?;
            (patch.apply(current.spec.clone()), current.created)
        };
        self.check(&spec)?;
        self.context.store.update(id, &spec)?;
        if let Some(mut old) = self.running().remove(id) {
            old.stop();
        }
        self.launch(id.to_string(), spec, created);
        self.get(id)
    }

    /// Stops a monitor and removes it and its events.
    pub fn delete(&self, id: &str) -> Result<(), MonitorError> {
        let mut old = self
            .running()
            .remove(id)
            .ok_or_else(|| MonitorError::NotFound(id.to_string()))?;
        old.stop();
        self.context.store.delete(id)?;
        Ok(())
    }

    /// A monitor's stored events.
    pub fn events(&self, id: &str, query: &EventQuery) -> Result<Vec<MonitorEvent>, MonitorError> {
        self.get(id)?;
        self.context.store.events(id, query)
    }

    /// The position of a monitor's newest stored event (0 when none).
    pub fn last_event(&self, id: &str) -> Result<i64, MonitorError> {
        self.get(id)?;
        self.context.store.last_seq(id)
    }

    /// A monitor's newest annotated frame (JPEG) and its number; `None`
    /// before the first or when the monitor keeps no preview.
    pub fn preview(&self, id: &str) -> Result<Option<Preview>, MonitorError> {
        let running = self.running();
        let r = running
            .get(id)
            .ok_or_else(|| MonitorError::NotFound(id.to_string()))?;
        Ok(r.shared.preview())
    }

    /// Erases every stored event naming `person` (with the person's
    /// erasure); how many.
    pub fn erase_person(&self, person: &str) -> Result<usize, MonitorError> {
        self.context.store.erase_person(person)
    }

    /// Stops every monitor (they start again with the next hub).
    pub fn stop_all(&self) {
        let mut running = std::mem::take(&mut *self.running());
        for r in running.values_mut() {
            r.stop();
        }
    }
}

impl Drop for MonitorHub {
    fn drop(&mut self) {
        self.stop_all();
    }
}
