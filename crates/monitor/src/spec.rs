//! What a monitor watches and when it speaks: the source, the collection,
//! the analysis rate, the match threshold and the event policy.

use serde::{Deserialize, Serialize};

use crate::MonitorError;

/// When presence becomes an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct EventPolicy {
    /// Analysed frames of a track that must agree before it is announced:
    /// that many samples naming the same person at or above the threshold
    /// (outnumbering two to one those naming someone else), or that many
    /// naming nobody for an unknown face.
    pub confirm_frames: u32,
    /// Seconds a face may go unseen before its track ends (and its exit
    /// event is sent).
    pub absence_secs: f64,
    /// Seconds after a person's exit during which their return is not
    /// announced again (nor its exit): a person stepping out of view for a
    /// moment is one visit.
    pub cooldown_secs: f64,
    /// Whether faces of nobody in the collection make `unknown_enter` and
    /// `unknown_exit` events.
    pub unknown_events: bool,
}

impl Default for EventPolicy {
    fn default() -> Self {
        Self {
            confirm_frames: 2,
            absence_secs: 3.0,
            cooldown_secs: 10.0,
            unknown_events: true,
        }
    }
}

/// A monitor as it is created or changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MonitorSpec {
    /// A name for people.
    #[serde(default)]
    pub name: String,
    /// `rtsp://`, `rtsps://`, `http(s)://` (MJPEG or HLS), or a local file
    /// or device path. Credentials in it are kept sealed when the gallery is
    /// encrypted and never shown again.
    pub source: String,
    /// The gallery collection faces are identified in.
    pub collection: String,
    /// Frames analysed per second (the newest frame each time).
    #[serde(default = "default_fps")]
    pub analysis_fps: f64,
    /// Least cosine similarity for a face to be a person of the collection.
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// When presence becomes an event.
    #[serde(default)]
    pub policy: EventPolicy,
    /// Keep an annotated preview (`/preview.mjpeg`).
    #[serde(default)]
    pub preview: bool,
    /// POST every event as JSON to this `http(s)://` URL (retried with
    /// backoff). Kept sealed like the source; shown with its user,
    /// password and query hidden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
}

fn default_fps() -> f64 {
    2.0
}

fn default_threshold() -> f32 {
    0.3
}

/// Most frames a monitor analyses per second.
pub const MAX_ANALYSIS_FPS: f64 = 30.0;
/// Longest source or webhook address.
pub const MAX_SOURCE_BYTES: usize = 2048;

/// Whether an address (source or webhook) is within the length limit and
/// free of control characters.
fn bounded_address(address: &str) -> bool {
    address.len() <= MAX_SOURCE_BYTES && !address.chars().any(char::is_control)
}

impl MonitorSpec {
    /// Checks every field, naming the first that is wrong.
    pub fn validate(&self) -> Result<(), MonitorError> {
        let invalid = |what: String| Err(MonitorError::Invalid(what));
        if self.source.trim().is_empty() {
            return invalid("source: empty".into());
        }
        if !bounded_address(&self.source) {
            return invalid(format!(
                "source: at most {MAX_SOURCE_BYTES} bytes, no control characters"
            ));
        }
        if let Some((scheme, _)) = self.source.split_once("://")
            && !["rtsp", "rtsps", "http", "https", "file"].contains(&scheme)
        {
            return invalid(format!(
                "source: scheme '{scheme}' is not one of rtsp, rtsps, http, https, file"
            ));
        }
        if self.source.starts_with('-') {
            return invalid("source: may not start with '-'".into());
        }
        if self.collection.trim().is_empty() {
            return invalid("collection: empty".into());
        }
        if self.name.len() > 200 {
            return invalid("name: at most 200 bytes".into());
        }
        if !(self.analysis_fps > 0.0 && self.analysis_fps <= MAX_ANALYSIS_FPS) {
            return invalid(format!(
                "analysis_fps: {} is not in (0, {MAX_ANALYSIS_FPS}]",
                self.analysis_fps
            ));
        }
        if !(-1.0..=1.0).contains(&self.threshold) {
            return invalid(format!("threshold: {} is not in [-1, 1]", self.threshold));
        }
        if let Some(url) = &self.webhook
            && (!(url.starts_with("http://") || url.starts_with("https://"))
                || !bounded_address(url))
        {
            return invalid(format!(
                "webhook: an http:// or https:// URL of at most {MAX_SOURCE_BYTES} bytes"
            ));
        }
        let p = &self.policy;
        if !(1..=100).contains(&p.confirm_frames) {
            return invalid(format!(
                "policy.confirm_frames: {} is not in [1, 100]",
                p.confirm_frames
            ));
        }
        for (name, secs) in [
            ("absence_secs", p.absence_secs),
            ("cooldown_secs", p.cooldown_secs),
        ] {
            if !(0.0..=86_400.0).contains(&secs) {
                return invalid(format!("policy.{name}: {secs} is not in [0, 86400]"));
            }
        }
        Ok(())
    }

    /// The source with any password or user name replaced by `***`: what
    /// the API shows and logs carry.
    pub fn redacted_source(&self) -> String {
        redact(&self.source)
    }
}

/// `scheme://user:pass@host/…` → `scheme://***@host/…`; anything else as is.
pub fn redact(source: &str) -> String {
    let Some((scheme, rest)) = source.split_once("://") else {
        return source.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => source.to_string(),
    }
}

/// A change to a monitor: each field given replaces the stored one.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MonitorPatch {
    /// A new name.
    pub name: Option<String>,
    /// A new source.
    pub source: Option<String>,
    /// A new collection.
    pub collection: Option<String>,
    /// A new analysis rate.
    pub analysis_fps: Option<f64>,
    /// A new threshold.
    pub threshold: Option<f32>,
    /// A new event policy (whole).
    pub policy: Option<EventPolicy>,
    /// Keep a preview or not.
    pub preview: Option<bool>,
    /// A new webhook URL; `""` removes it.
    pub webhook: Option<String>,
}

impl MonitorPatch {
    /// `spec` with this patch applied (not yet validated).
    pub fn apply(self, mut spec: MonitorSpec) -> MonitorSpec {
        if let Some(v) = self.name {
            spec.name = v;
        }
        if let Some(v) = self.source {
            spec.source = v;
        }
        if let Some(v) = self.collection {
            spec.collection = v;
        }
        if let Some(v) = self.analysis_fps {
            spec.analysis_fps = v;
        }
        if let Some(v) = self.threshold {
            spec.threshold = v;
        }
        if let Some(v) = self.policy {
            spec.policy = v;
        }
        if let Some(v) = self.preview {
            spec.preview = v;
        }
        if let Some(v) = self.webhook {
            spec.webhook = Some(v).filter(|url| !url.is_empty());
        }
        spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(source: &str) -> MonitorSpec {
        serde_json::from_value(serde_json::json!({"source": source, "collection": "staff"}))
            .unwrap()
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact("rtsp://admin:s3cret@10.0.0.7:554/stream?x=1"),
            "rtsp://***@10.0.0.7:554/stream?x=1"
        );
        assert_eq!(redact("http://cam/a@b"), "http://cam/a@b");
        assert_eq!(redact("/dev/video0"), "/dev/video0");
    }

    #[test]
    fn defaults_and_checks() {
        let s = spec("rtsp://cam/1");
        assert_eq!(s.analysis_fps, 2.0);
        assert_eq!(s.policy.confirm_frames, 2);
        s.validate().unwrap();
        for bad in ["", "ftp://x/y", "-i", "rtsp://a\nb"] {
            let err = spec(bad).validate().unwrap_err().to_string();
            assert!(err.contains("source"), "{bad}: {err}");
        }
        let mut s = spec("rtsp://cam/1");
        s.analysis_fps = 0.0;
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("analysis_fps")
        );
        assert!(
            serde_json::from_value::<MonitorSpec>(
                serde_json::json!({"source": "x", "collection": "c", "fps": 3})
            )
            .is_err(),
            "an unknown field is refused"
        );
    }
}
