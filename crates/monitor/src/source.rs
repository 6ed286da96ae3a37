//! A live stream read by `ffmpeg` into the newest frame only.
//!
//! `ffmpeg` decodes the source (RTSP over TCP, MJPEG or HLS over HTTP, a
//! device, or a file played at its own pace) and writes PPM images to a
//! pipe; a reader thread parses them and keeps only the newest, so the
//! analysis always takes the latest picture and a slow machine lags by at
//! most one analysis period (frames it had no time for are counted as
//! dropped, never queued). PPM rather than raw frames: each image carries
//! its size, so a live source needs no probe (an MJPEG server that serves
//! one client at a time would give the probe the only connection).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use facekit_image::RgbImage;

use crate::spec::redact;

/// Largest frame accepted from a stream, in pixels (8K UHD).
pub const MAX_FRAME_PIXELS: u64 = 7680 * 4320;

/// Counters of one monitor's frames, shared with its metrics.
#[derive(Debug, Default)]
pub struct FrameCounters {
    /// Frames decoded from the source.
    pub read: AtomicU64,
    /// Frames analysed.
    pub analysed: AtomicU64,
    /// Frames replaced by a newer one before they could be analysed.
    pub dropped: AtomicU64,
}

/// A frame and when it came off the pipe.
#[derive(Debug)]
pub struct LiveFrame {
    /// The picture.
    pub image: RgbImage,
    /// Its number on this connection, from 1.
    pub number: u64,
    /// When it was read.
    pub arrived: Instant,
}

#[derive(Default)]
struct Slot {
    newest: Option<LiveFrame>,
    /// Why the stream ended, once it has.
    ended: Option<String>,
}

struct Shared {
    slot: Mutex<Slot>,
    changed: Condvar,
}

/// One connection to a source.
pub struct LiveSource {
    child: Child,
    shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
}

/// What waiting for a frame gave.
#[derive(Debug)]
pub enum Next {
    /// A frame newer than the last one taken.
    Frame(LiveFrame),
    /// Nothing new within the wait.
    Nothing,
    /// The stream ended, with the reason.
    Ended(String),
}

fn input_options(source: &str) -> Vec<&'static str> {
    let scheme = source.split_once("://").map(|(s, _)| s);
    match scheme {
        // Over TCP: UDP loses packets on busy networks and through NAT.
        Some("rtsp" | "rtsps") => vec!["-rtsp_transport", "tcp", "-timeout", "5000000"],
        // A stalled server is an error after 5 s, not a hang.
        Some("http" | "https") => vec!["-rw_timeout", "5000000"],
        // A file is played at its own pace, as a camera would send it.
        _ => vec!["-re"],
    }
}

impl LiveSource {
    /// Starts `ffmpeg` on `source`; frames arrive on a thread of their own.
    pub fn open(source: &str, counters: Arc<FrameCounters>) -> std::io::Result<Self> {
        let mut child = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin"])
            .args(input_options(source))
            .args(["-i", source])
            .args([
                "-map",
                "0:v:0",
                "-an",
                "-sn",
                "-f",
                "image2pipe",
                "-c:v",
                "ppm",
                "-",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::default()),
            changed: Condvar::new(),
        });
        // ffmpeg's last words, with any credentials of the source hidden.
        let said = Arc::new(Mutex::new(String::new()));
        {
            let said = said.clone();
            let (raw, shown) = (source.to_string(), redact(source));
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut last = said.lock().unwrap_or_else(|e| e.into_inner());
                    *last = line.replace(&raw, &shown).chars().take(500).collect();
                }
            });
        }
        let reader = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("monitor-frames".into())
                .spawn(move || {
                    let mut pipe = BufReader::with_capacity(1 << 20, stdout);
                    let mut number = 0;
                    let why = loop {
                        match read_ppm(&mut pipe) {
                            Ok(Some(image)) => {
                                number += 1;
                                counters.read.fetch_add(1, Ordering::Relaxed);
                                let mut slot =
                                    shared.slot.lock().unwrap_or_else(|e| e.into_inner());
                                if slot.newest.is_some() {
                                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                                }
                                slot.newest = Some(LiveFrame {
                                    image,
                                    number,
                                    arrived: Instant::now(),
                                });
                                shared.changed.notify_all();
                            }
                            Ok(None) => break "the stream ended".to_string(),
                            Err(e) => break e,
                        }
                    };
                    // Give stderr's reader a moment to catch ffmpeg's reason.
                    std::thread::sleep(Duration::from_millis(100));
                    let said = said.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    let mut slot = shared.slot.lock().unwrap_or_else(|e| e.into_inner());
                    slot.ended = Some(if said.is_empty() {
                        why
                    } else {
                        format!("{why}: {said}")
                    });
                    shared.changed.notify_all();
                })?
        };
        Ok(Self {
            child,
            shared,
            reader: Some(reader),
        })
    }

    /// The newest frame not yet taken, waiting up to `wait` for one.
    pub fn next(&self, wait: Duration) -> Next {
        let deadline = Instant::now() + wait;
        let mut slot = self.shared.slot.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(frame) = slot.newest.take() {
                return Next::Frame(frame);
            }
            if let Some(why) = &slot.ended {
                return Next::Ended(why.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Next::Nothing;
            }
            slot = self
                .shared
                .changed
                .wait_timeout(slot, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Reads one binary PPM (`P6`, maxval 255) as `ffmpeg`'s `ppm` encoder
/// writes it; `None` at a clean end of the pipe.
fn read_ppm(pipe: &mut impl BufRead) -> Result<Option<RgbImage>, String> {
    let mut fields = Vec::with_capacity(4);
    let mut token = Vec::new();
    let mut first = true;
    while fields.len() < 4 {
        let mut byte = [0u8];
        match pipe.read(&mut byte) {
            Ok(0) if first && token.is_empty() => return Ok(None),
            Ok(0) => return Err("the stream ended inside a frame header".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("reading frames: {e}")),
        }
        first = false;
        match byte[0] {
            b'#' if token.is_empty() => {
                let mut comment = Vec::new();
                pipe.read_until(b'\n', &mut comment)
                    .map_err(|e| format!("reading frames: {e}"))?;
            }
            b' ' | b'\t' | b'\n' | b'\r' => {
                if !token.is_empty() {
                    fields.push(String::from_utf8_lossy(&token).into_owned());
                    token.clear();
                }
            }
            b => {
                token.push(b);
                if token.len() > 16 {
                    return Err("not a PPM frame header".into());
                }
            }
        }
    }
    let number = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("bad PPM header field '{s}'"))
    };
    if fields[0] != "P6" {
        return Err(format!("not a PPM frame (magic '{}')", fields[0]));
    }
    let (width, height, max) = (
        number(&fields[1])?,
        number(&fields[2])?,
        number(&fields[3])?,
    );
    if max != 255 {
        return Err(format!("PPM frames of maxval {max} are not supported"));
    }
    if width == 0 || height == 0 || u64::from(width) * u64::from(height) > MAX_FRAME_PIXELS {
        return Err(format!("a {width}×{height} frame is outside the limits"));
    }
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    pipe.read_exact(&mut pixels)
        .map_err(|e| format!("the stream ended inside a frame: {e}"))?;
    Ok(Some(
        RgbImage::from_raw(width, height, pixels).expect("buffer sized to the frame"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppm_frames_are_read_one_after_another() {
        let mut bytes = b"P6\n2 1\n255\n".to_vec();
        bytes.extend([1, 2, 3, 4, 5, 6]);
        bytes.extend(b"P6 1 1 255\n");
        bytes.extend([9, 9, 9]);
        let mut pipe = std::io::Cursor::new(bytes);
        let a = read_ppm(&mut pipe).unwrap().unwrap();
        assert_eq!((a.width(), a.height()), (2, 1));
        assert_eq!(a.as_raw(), &[1, 2, 3, 4, 5, 6]);
        let b = read_ppm(&mut pipe).unwrap().unwrap();
        assert_eq!(b.as_raw(), &[9, 9, 9]);
        assert!(read_ppm(&mut pipe).unwrap().is_none());
    }

    #[test]
    fn bad_frames_are_errors_not_allocations() {
        for bad in [
            &b"P5\n2 1\n255\n"[..],
            b"P6\n99999 99999\n255\n",
            b"P6\n2 1\n65535\n",
            b"P6\n2 1\n255\n\x01\x02",
            b"P6\n2",
            b"P6\n123456789012345678 1\n255\n",
        ] {
            let mut pipe = std::io::Cursor::new(bad.to_vec());
            assert!(
                read_ppm(&mut pipe).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
