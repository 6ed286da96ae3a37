//! Live cameras over REST: monitors (admin to change, reader to read),
//! their stored events, the live event stream (Server-Sent Events) and an
//! annotated MJPEG preview.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use facekit_monitor::{
    EventKind, EventQuery, MonitorError, MonitorEvent, MonitorHub, MonitorPatch, MonitorSpec,
    MonitorView,
};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, ToSchema};

use super::gallery::PathOf;
use crate::AppState;
use crate::auth::{Admin, Reader};
use crate::error::{ApiError, ErrorBody};
use crate::input::Payload;

impl From<MonitorError> for ApiError {
    fn from(e: MonitorError) -> Self {
        match e {
            MonitorError::NotFound(_) => ApiError::not_found(e.to_string()),
            MonitorError::Invalid(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_argument",
                e.to_string(),
            ),
            MonitorError::Gallery(e) => e.into(),
            MonitorError::Pipeline(e) => e.into(),
            MonitorError::Store { .. } => ApiError::internal(e.to_string()),
        }
    }
}

/// The server's monitors, or 501 when it runs none.
fn hub(state: &AppState) -> Result<Arc<MonitorHub>, ApiError> {
    state.monitors.get().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "no_monitors",
            "this server runs no monitors",
        )
    })
}

/// Runs a hub operation off the async threads (it may wait for a
/// monitor's thread to stop, or for SQLite).
pub(crate) async fn with_hub<T: Send + 'static>(
    state: &Arc<AppState>,
    op: impl FnOnce(&MonitorHub) -> Result<T, MonitorError> + Send + 'static,
) -> Result<T, ApiError> {
    let hub = hub(state)?;
    tokio::task::spawn_blocking(move || op(&hub))
        .await
        .map_err(|e| ApiError::internal(format!("a monitor operation failed: {e}")))?
        .map_err(Into::into)
}

/// Every monitor.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonitorList {
    /// Oldest first.
    pub monitors: Vec<MonitorView>,
}

const NOT_FOUND: &str = "`not_found`: no such monitor";

/// Start watching a stream: a source, a collection, an analysis rate, a
/// threshold and an event policy. The monitor is stored (it survives a
/// restart) and starts at once; the source's credentials are never shown
/// again.
#[utoipa::path(post, path = "/v1/monitors", tag = "monitors", request_body = MonitorSpec,
    responses((status = 201, body = MonitorView), (status = 404, description = "`not_found`: no such collection", body = ErrorBody), (status = 422, description = "`invalid_argument`: a setting out of range (named)", body = ErrorBody), (status = 501, description = "`no_monitors`: the server runs no monitors", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn create_monitor(
    _: Admin,
    State(state): State<Arc<AppState>>,
    payload: Payload<MonitorSpec>,
) -> Result<(StatusCode, Json<MonitorView>), ApiError> {
    let spec = payload.params;
    let view = with_hub(&state, move |hub| hub.create(spec)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Every monitor with its state and counters.
#[utoipa::path(get, path = "/v1/monitors", tag = "monitors",
    responses((status = 200, body = MonitorList), (status = 501, description = "`no_monitors`: the server runs no monitors", body = ErrorBody)),
    security(("api_key" = ["reader"])))]
pub async fn list_monitors(
    _: Reader,
    State(state): State<Arc<AppState>>,
) -> Result<Json<MonitorList>, ApiError> {
    Ok(Json(MonitorList {
        monitors: hub(&state)?.list(),
    }))
}

/// One monitor: settings (credentials hidden), state (`connecting`,
/// `live`, `retrying`, `stopped`), last error and counters.
#[utoipa::path(get, path = "/v1/monitors/{monitor}", tag = "monitors",
    params(("monitor" = String, Path)),
    responses((status = 200, body = MonitorView), (status = 404, description = NOT_FOUND, body = ErrorBody)),
    security(("api_key" = ["reader"])))]
pub async fn get_monitor(
    _: Reader,
    State(state): State<Arc<AppState>>,
    PathOf(id): PathOf<String>,
) -> Result<Json<MonitorView>, ApiError> {
    Ok(Json(hub(&state)?.get(&id)?))
}

/// Change a monitor (each field given replaces the stored one); it
/// restarts with the new settings, its events kept.
#[utoipa::path(patch, path = "/v1/monitors/{monitor}", tag = "monitors",
    params(("monitor" = String, Path)), request_body = MonitorPatch,
    responses((status = 200, body = MonitorView), (status = 404, description = NOT_FOUND, body = ErrorBody), (status = 422, description = "`invalid_argument`: a setting out of range (named)", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn update_monitor(
    _: Admin,
    State(state): State<Arc<AppState>>,
    PathOf(id): PathOf<String>,
    payload: Payload<MonitorPatch>,
) -> Result<Json<MonitorView>, ApiError> {
    let patch = payload.params;
    Ok(Json(
        with_hub(&state, move |hub| hub.update(&id, patch)).await?,
    ))
}

/// Stop a monitor and delete it with its events.
#[utoipa::path(delete, path = "/v1/monitors/{monitor}", tag = "monitors",
    params(("monitor" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = NOT_FOUND, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn delete_monitor(
    _: Admin,
    State(state): State<Arc<AppState>>,
    PathOf(id): PathOf<String>,
) -> Result<StatusCode, ApiError> {
    with_hub(&state, move |hub| hub.delete(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which events to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events after this position (the `seq` of the last one seen).
    #[param(minimum = 0, example = 0)]
    pub after: i64,
    /// Only events at or after this Unix time (seconds).
    pub since: Option<f64>,
    /// Only events of this person key.
    pub person: Option<String>,
    /// Only events of this kind (`person_enter`, `person_exit`,
    /// `unknown_enter`, `unknown_exit`, `source_lost`, `source_recovered`).
    pub kind: Option<String>,
    /// Most events returned (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: usize,
}

impl Default for EventsQuery {
    fn default() -> Self {
        Self {
            after: 0,
            since: None,
            person: None,
            kind: None,
            limit: 100,
        }
    }
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// Oldest first; ask again with `after` = the last `seq`.
    pub events: Vec<MonitorEvent>,
}

/// A monitor's stored events, oldest first, with paging and filters.
#[utoipa::path(get, path = "/v1/monitors/{monitor}/events", tag = "monitors",
    params(("monitor" = String, Path), EventsQuery),
    responses((status = 200, body = EventPage), (status = 400, description = "`bad_request`: a bad filter", body = ErrorBody), (status = 404, description = NOT_FOUND, body = ErrorBody)),
    security(("api_key" = ["reader"])))]
pub async fn list_events(
    _: Reader,
    State(state): State<Arc<AppState>>,
    PathOf(id): PathOf<String>,
    payload: Payload<EventsQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let q = payload.params;
    if q.limit == 0 || q.limit > 1000 {
        return Err(ApiError::bad_request("limit must be 1 to 1000"));
    }
    let kind = match q.kind.as_deref() {
        None => None,
        Some(name) => Some(
            EventKind::parse(name)
                .ok_or_else(|| ApiError::bad_request(format!("kind: no event kind '{name}'")))?,
        ),
    };
    let query = EventQuery {
        after: Some(q.after),
        since: q.since,
        person: q.person,
        kind,
        limit: q.limit,
    };
    let events = with_hub(&state, move |hub| hub.events(&id, &query)).await?;
    Ok(Json(EventPage { events }))
}

/// Where a live stream starts.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Replay the stored events after this position first (a reconnecting
    /// browser sends `Last-Event-ID` instead); default: new events only.
    pub after: Option<i64>,
}

/// Events replayed from the store per read while catching up.
const REPLAY_PAGE: usize = 500;

/// A monitor's events as they happen, as Server-Sent Events: each has the
/// event's `seq` as its id, its kind as the event name and the event as
/// JSON data. A client that reconnects with `Last-Event-ID` (or `after`)
/// gets what it missed from the store first; a listener too slow for the
/// live feed is caught up from the store too, so none is lost.
#[utoipa::path(get, path = "/v1/monitors/{monitor}/events/stream", tag = "monitors",
    params(("monitor" = String, Path), StreamQuery),
    responses((status = 200, description = "An endless `text/event-stream`", content_type = "text/event-stream", body = String), (status = 404, description = NOT_FOUND, body = ErrorBody)),
    security(("api_key" = ["reader"])))]
pub async fn stream_events(
    _: Reader,
    State(state): State<Arc<AppState>>,
    PathOf(id): PathOf<String>,
    headers: HeaderMap,
    payload: Payload<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    hub(&state)?.get(&id)?;
    // Subscribed before the store is read: nothing falls between the two.
    let live = state.monitor_events.subscribe();
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(payload.params.after);
    let last = match resume {
        Some(after) => after,
        None => {
            let id = id.clone();
            with_hub(&state, move |hub| hub.last_event(&id)).await?
        }
    };
    struct Feed {
        state: Arc<AppState>,
        id: String,
        live: tokio::sync::broadcast::Receiver<MonitorEvent>,
        last: i64,
        /// Stored events still to send before the live ones.
        backlog: std::collections::VecDeque<MonitorEvent>,
        /// Whether the store must be read (start, or a lagging listener).
        catch_up: bool,
    }
    let feed = Feed {
        state,
        id,
        live,
        last,
        backlog: Default::default(),
        catch_up: true,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        loop {
            if feed.catch_up && feed.backlog.is_empty() {
                let (id, after) = (feed.id.clone(), feed.last);
                let page = with_hub(&feed.state, move |hub| {
                    hub.events(
                        &id,
                        &EventQuery {
                            after: Some(after),
                            limit: REPLAY_PAGE,
                            ..Default::default()
                        },
                    )
                })
                .await;
                match page {
                    Ok(page) => {
                        feed.catch_up = page.len() == REPLAY_PAGE;
                        feed.backlog.extend(page);
                    }
                    // The monitor was deleted: the stream ends.
                    _ => return None,
                }
            }
            if let Some(event) = feed.backlog.pop_front() {
                feed.last = event.seq;
                return Some((Ok(sse_event(&event)), feed));
            }
            if !feed.state.ready.load(Ordering::SeqCst) {
                return None;
            }
            match tokio::time::timeout(Duration::from_secs(1), feed.live.recv()).await {
                Ok(Ok(event)) if event.monitor == feed.id && event.seq > feed.last => {
                    feed.last = event.seq;
                    return Some((Ok(sse_event(&event)), feed));
                }
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(RecvError::Lagged(_))) => feed.catch_up = true,
                Ok(Err(RecvError::Closed)) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn sse_event(event: &MonitorEvent) -> SseEvent {
    SseEvent::default()
        .id(event.seq.to_string())
        .event(event.kind.as_str())
        .data(serde_json::to_string(event).expect("an event serialises"))
}

/// The monitor's newest analysed frame with boxes and names drawn, as an
/// endless `multipart/x-mixed-replace` MJPEG stream (for an `<img>` tag);
/// 404 unless the monitor keeps a preview.
#[utoipa::path(get, path = "/v1/monitors/{monitor}/preview.mjpeg", tag = "monitors",
    params(("monitor" = String, Path)),
    responses((status = 200, description = "An endless MJPEG stream", content_type = "multipart/x-mixed-replace; boundary=frame", body = String), (status = 404, description = "`not_found`: no such monitor, or it keeps no preview", body = ErrorBody)),
    security(("api_key" = ["reader"])))]
pub async fn preview(
    _: Reader,
    State(state): State<Arc<AppState>>,
    PathOf(id): PathOf<String>,
) -> Result<Response, ApiError> {
    let hub = hub(&state)?;
    let view = hub.get(&id)?;
    if !view.preview {
        return Err(ApiError::not_found(format!(
            "monitor '{id}' keeps no preview (set \"preview\": true)"
        )));
    }
    let every = Duration::from_secs_f64((1.0 / view.analysis_fps).min(1.0) / 2.0);
    let frames = futures_util::stream::unfold((hub, 0u64), move |(hub, shown)| {
        let (id, state) = (id.clone(), state.clone());
        async move {
            loop {
                if !state.ready.load(Ordering::SeqCst) {
                    return None;
                }
                match hub.preview(&id) {
                    Err(_) => return None,
                    Ok(Some((number, jpeg))) if number != shown => {
                        let mut part = format!(
                            "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                            jpeg.len()
                        )
                        .into_bytes();
                        part.extend_from_slice(&jpeg);
                        part.extend_from_slice(b"\r\n");
                        return Some((Ok::<_, Infallible>(Bytes::from(part)), (hub, number)));
                    }
                    Ok(_) => tokio::time::sleep(every).await,
                }
            }
        }
    });
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "multipart/x-mixed-replace; boundary=frame",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(frames),
    )
        .into_response())
}
