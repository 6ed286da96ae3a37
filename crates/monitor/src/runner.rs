//! One monitor's thread: connect, analyse the newest frame every period,
//! turn presence into events, reconnect with backoff when the stream goes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use facekit_audit::{Event, Operation};
use facekit_core::BBox;
use facekit_image::{RgbImage, draw_rect, draw_text, encode_jpeg};
use facekit_service::FaceService;

use crate::presence::{Change, EventKind, Presence, Sighting};
use crate::source::{FrameCounters, LiveFrame, LiveSource, Next};
use crate::spec::MonitorSpec;
use crate::store::{MonitorEvent, now_unix};
use crate::webhook::{Deliveries, Webhook};
use crate::{Context, MonitorError};

/// How long a new connection may take to deliver its first frame, and a
/// live one to deliver its next, before it counts as lost.
const STALL: Duration = Duration::from_secs(10);
/// First and longest wait before reconnecting.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// A preview frame: its number (increasing) and the annotated JPEG.
pub type Preview = (u64, Arc<Vec<u8>>);

/// Where a monitor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MonitorState {
    /// Opening the source.
    Connecting,
    /// Frames are arriving and being analysed.
    Live,
    /// The source failed; waiting to try again.
    Retrying,
    /// Stopped (deleted, changed, or the server is stopping).
    Stopped,
}

/// A monitor's state and counters.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonitorStatus {
    /// Where it is.
    pub state: MonitorState,
    /// The last thing that went wrong (source or analysis), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Frames decoded from the source.
    pub frames_read: u64,
    /// Frames analysed.
    pub frames_analysed: u64,
    /// Frames replaced by a newer one before analysis.
    pub frames_dropped: u64,
    /// Connections lost and tried again.
    pub reconnects: u64,
    /// Events sent.
    pub events: u64,
    /// Seconds between the last analysed frame's arrival and the end of its
    /// analysis.
    pub lag_seconds: f64,
    /// Faces being tracked now.
    pub tracks: u64,
    /// Events the webhook's receiver took (2xx).
    pub webhook_delivered: u64,
    /// Events the webhook gave up on.
    pub webhook_failed: u64,
    /// The webhook's last failure, its URL's secrets hidden.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_error: Option<String>,
}

/// What a monitor's thread shares with the hub.
#[derive(Debug)]
pub(crate) struct Shared {
    pub stop: AtomicBool,
    pub counters: Arc<FrameCounters>,
    state: Mutex<(MonitorState, Option<String>)>,
    reconnects: AtomicU64,
    events: AtomicU64,
    lag_micros: AtomicU64,
    tracks: AtomicU64,
    /// What the webhook delivered.
    pub webhook: Arc<Deliveries>,
    /// The newest annotated JPEG and its number.
    preview: Mutex<Option<Preview>>,
}

impl Shared {
    pub fn new() -> Self {
        Self {
            stop: AtomicBool::new(false),
            counters: Arc::new(FrameCounters::default()),
            state: Mutex::new((MonitorState::Connecting, None)),
            reconnects: AtomicU64::new(0),
            events: AtomicU64::new(0),
            lag_micros: AtomicU64::new(0),
            tracks: AtomicU64::new(0),
            webhook: Arc::new(Deliveries::default()),
            preview: Mutex::new(None),
        }
    }

    fn set_state(&self, state: MonitorState, error: Option<String>) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        guard.0 = state;
        if error.is_some() {
            guard.1 = error;
        }
    }

    pub fn status(&self) -> MonitorStatus {
        let (state, last_error) = self.state.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let c = &self.counters;
        MonitorStatus {
            state,
            last_error,
            frames_read: c.read.load(Ordering::Relaxed),
            frames_analysed: c.analysed.load(Ordering::Relaxed),
            frames_dropped: c.dropped.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            lag_seconds: self.lag_micros.load(Ordering::Relaxed) as f64 / 1e6,
            tracks: self.tracks.load(Ordering::Relaxed),
            webhook_delivered: self.webhook.delivered.load(Ordering::Relaxed),
            webhook_failed: self.webhook.failed.load(Ordering::Relaxed),
            webhook_error: self
                .webhook
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    pub fn preview(&self) -> Option<Preview> {
        self.preview
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sleeps up to `wait`, waking early when stopped; whether stopped.
    fn pause(&self, wait: Duration) -> bool {
        let until = Instant::now() + wait;
        while !self.stop.load(Ordering::Relaxed) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
        true
    }
}

/// The running loop of one monitor.
pub(crate) struct Runner {
    pub id: String,
    pub spec: MonitorSpec,
    pub context: Arc<Context>,
    /// The gallery, acting as this monitor.
    pub service: FaceService,
    /// Where events are POSTed, if anywhere.
    pub webhook: Option<Webhook>,
    pub shared: Arc<Shared>,
}

impl Runner {
    pub fn run(self) {
        let started = Instant::now();
        let clock = || started.elapsed().as_secs_f64();
        let mut presence = Presence::new(self.spec.policy.clone(), self.spec.threshold);
        let mut names: HashMap<String, String> = HashMap::new();
        let mut backoff = BACKOFF.0;
        let mut lost = false;
        while !self.shared.stop.load(Ordering::Relaxed) {
            self.shared.set_state(MonitorState::Connecting, None);
            let why = match LiveSource::open(&self.spec.source, self.shared.counters.clone()) {
                Err(e) => format!("could not start ffmpeg: {e}"),
                Ok(source) => match self.next_frame(&source) {
                    Ok(first) => {
                        self.shared.set_state(MonitorState::Live, None);
                        backoff = BACKOFF.0;
                        if lost {
                            lost = false;
                            self.emit(EventKind::SourceRecovered, None);
                        }
                        self.watch(&source, first, &mut presence, &mut names, &clock)
                    }
                    Err(why) => why,
                },
            };
            if self.shared.stop.load(Ordering::Relaxed) {
                break;
            }
            tracing::warn!(monitor = %self.id, "source lost: {why}");
            self.shared
                .set_state(MonitorState::Retrying, Some(why.clone()));
            self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
            if !lost {
                lost = true;
                self.emit(EventKind::SourceLost, Some(why));
            }
            // People leave while the camera is away too.
            let until = Instant::now() + backoff;
            while Instant::now() < until && !self.shared.pause(Duration::from_millis(250)) {
                self.announce(presence.expire(clock()), &names, None);
            }
            backoff = (backoff * 2).min(BACKOFF.1);
        }
        self.shared.set_state(MonitorState::Stopped, None);
    }

    /// Analyses the newest frame every period until the stream ends (or the
    /// monitor stops); why it ended.
    fn watch(
        &self,
        source: &LiveSource,
        first: LiveFrame,
        presence: &mut Presence,
        names: &mut HashMap<String, String>,
        clock: &dyn Fn() -> f64,
    ) -> String {
        let period = Duration::from_secs_f64(1.0 / self.spec.analysis_fps);
        let origin = first.arrived;
        let mut frame = first;
        loop {
            let tick = Instant::now();
            let stream_seconds = frame.arrived.duration_since(origin).as_secs_f64();
            match self.analyse(&frame.image, presence, names, clock(), stream_seconds) {
                Ok(()) => {}
                Err(e) => self
                    .shared
                    .set_state(MonitorState::Live, Some(e.to_string())),
            }
            let lag = frame.arrived.elapsed();
            self.shared
                .lag_micros
                .store(lag.as_micros() as u64, Ordering::Relaxed);
            self.shared
                .counters
                .analysed
                .fetch_add(1, Ordering::Relaxed);
            if self.shared.pause(period.saturating_sub(tick.elapsed())) {
                return "stopped".into();
            }
            frame = match self.next_frame(source) {
                Ok(next) => next,
                Err(why) => return why,
            };
        }
    }

    fn analyse(
        &self,
        image: &RgbImage,
        presence: &mut Presence,
        names: &mut HashMap<String, String>,
        now: f64,
        stream_seconds: f64,
    ) -> Result<(), MonitorError> {
        let contract = self
            .context
            .contract
            .as_ref()
            .ok_or_else(|| MonitorError::Invalid("the model pack has no recognizer".into()))?;
        let faces = self.context.analyzer.analyze_with(image, false)?;
        let mut sightings = Vec::with_capacity(faces.len());
        for face in &faces {
            let Some(embedding) = &face.embedding else {
                continue;
            };
            let found = self.service.gallery().identify(
                &self.spec.collection,
                contract,
                embedding,
                1,
                -1.0,
            )?;
            let best = found.matches.into_iter().next().map(|m| {
                names.insert(m.key.clone(), m.name);
                (m.key, m.score)
            });
            sightings.push(Sighting {
                bbox: face.bbox,
                best,
            });
        }
        let mut changes = presence.observe(now, &sightings);
        changes.extend(presence.expire(now));
        self.shared
            .tracks
            .store(presence.tracks() as u64, Ordering::Relaxed);
        if self.spec.preview {
            self.draw_preview(image, &sightings, names);
        }
        self.announce(changes, names, Some(stream_seconds));
        Ok(())
    }

    fn draw_preview(
        &self,
        image: &RgbImage,
        sightings: &[Sighting],
        names: &HashMap<String, String>,
    ) {
        let mut canvas = image.clone();
        let scale = i64::from((canvas.width() / 400).max(1));
        for s in sightings {
            let known = s
                .best
                .as_ref()
                .filter(|(_, score)| *score >= self.spec.threshold);
            let (color, label) = match known {
                Some((key, score)) => (
                    [0, 220, 0],
                    format!("{} {score:.2}", names.get(key).unwrap_or(key)),
                ),
                None => ([255, 60, 0], "unknown".to_string()),
            };
            let b = s.bbox;
            let corners = [b.x1, b.y1, b.x2, b.y2].map(|v| v as i64);
            draw_rect(&mut canvas, corners, 2 * scale, color);
            draw_text(
                &mut canvas,
                &label,
                corners[0],
                corners[1] - 7 * scale,
                scale,
                color,
            );
        }
        match encode_jpeg(&canvas, 75) {
            Ok(jpeg) => {
                let mut preview = self
                    .shared
                    .preview
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                let number = preview.as_ref().map_or(1, |(n, _)| n + 1);
                *preview = Some((number, Arc::new(jpeg)));
            }
            Err(e) => tracing::warn!(monitor = %self.id, "preview: {e}"),
        }
    }

    fn announce(
        &self,
        changes: Vec<Change>,
        names: &HashMap<String, String>,
        stream_seconds: Option<f64>,
    ) {
        for change in changes {
            self.audit(&change);
            let name = change.person.as_ref().and_then(|p| names.get(p)).cloned();
            let event = MonitorEvent {
                seq: 0,
                monitor: self.id.clone(),
                kind: change.kind,
                time: now_unix(),
                stream_seconds,
                track: Some(change.track),
                person: change.person,
                name,
                score: change.score,
                bbox: Some(corners(&change.bbox)),
                detail: None,
            };
            self.publish(event);
        }
    }

    /// Records a sighting (an enter event) in the audit trail: who was
    /// identified by which camera. Frames are not recorded one by one.
    fn audit(&self, change: &Change) {
        if !matches!(
            change.kind,
            EventKind::PersonEnter | EventKind::UnknownEnter
        ) {
            return;
        }
        let event = Event::new(Operation::Watch, &self.spec.collection)
            .persons(change.person.iter())
            .results(1);
        if let Err(e) = self.service.record(event) {
            tracing::error!(monitor = %self.id, "recording a sighting in the audit trail: {e}");
            self.shared
                .set_state(MonitorState::Live, Some(e.to_string()));
        }
    }

    /// A source event.
    fn emit(&self, kind: EventKind, detail: Option<String>) {
        self.publish(MonitorEvent {
            seq: 0,
            monitor: self.id.clone(),
            kind,
            time: now_unix(),
            stream_seconds: None,
            track: None,
            person: None,
            name: None,
            score: None,
            bbox: None,
            detail,
        });
    }

    /// The source's next frame; why there is none within [`STALL`] (or
    /// "stopped" when the monitor stops meanwhile).
    fn next_frame(&self, source: &LiveSource) -> Result<LiveFrame, String> {
        let started = Instant::now();
        loop {
            if self.shared.stop.load(Ordering::Relaxed) {
                return Err("stopped".into());
            }
            match source.next(Duration::from_millis(200)) {
                Next::Frame(frame) => return Ok(frame),
                Next::Ended(why) => return Err(why),
                Next::Nothing if started.elapsed() >= STALL => {
                    return Err(format!("no frame for {} s", STALL.as_secs()));
                }
                Next::Nothing => {}
            }
        }
    }

    /// Stores the event (durable first), then pushes it to live listeners.
    fn publish(&self, mut event: MonitorEvent) {
        if let Err(e) = self.context.store.append(std::slice::from_mut(&mut event)) {
            tracing::error!(monitor = %self.id, "storing an event: {e}");
            self.shared
                .set_state(MonitorState::Live, Some(e.to_string()));
        }
        self.shared.events.fetch_add(1, Ordering::Relaxed);
        if let Some(webhook) = &self.webhook {
            webhook.send(&event);
        }
        (self.context.sink)(&event);
    }
}

fn corners(b: &BBox) -> [f32; 4] {
    [b.x1, b.y1, b.x2, b.y2]
}
