//! Media in and out through the `ffmpeg` and `ffprobe` programs, with raw
//! `yuv420p` frames over pipes: no FFmpeg libraries at build time, and the
//! decoder applies the stream's rotation, so frames arrive as displayed.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::frame::{Frame, frame_bytes};
use serde::{Deserialize, Serialize};

use crate::VideoError;

/// What a video is, as `ffprobe` tells (sizes as displayed, after rotation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// Displayed width.
    pub width: u32,
    /// Displayed height.
    pub height: u32,
    /// Frame rate numerator (`fps_num / fps_den` frames per second, exact).
    pub fps_num: u32,
    /// Frame rate denominator.
    pub fps_den: u32,
    /// Video frames (packets counted by demuxing).
    pub frames: u64,
    /// Rotation the container asks for, degrees (already applied to frames).
    pub rotation: i32,
    /// The first audio stream's codec, if any.
    pub audio_codec: Option<String>,
}

impl MediaInfo {
    /// Frames per second.
    pub fn fps(&self) -> f64 {
        f64::from(self.fps_num) / f64::from(self.fps_den.max(1))
    }
}

fn program(name: &str) -> Command {
    Command::new(name)
}

fn spawn_error(program: &str, e: std::io::Error) -> VideoError {
    if e.kind() == std::io::ErrorKind::NotFound {
        VideoError::FfmpegMissing(program.to_string())
    } else {
        VideoError::Io {
            what: format!("starting {program}"),
            source: e,
        }
    }
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<ProbeStream>,
}

#[derive(Deserialize)]
struct ProbeStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    r_frame_rate: Option<String>,
    nb_read_packets: Option<String>,
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
    #[serde(default)]
    tags: std::collections::HashMap<String, String>,
}

/// Probes `path` with `ffprobe` (counting the video packets: exact, and
/// fast since nothing is decoded).
pub fn probe(path: &Path) -> Result<MediaInfo, VideoError> {
    let out = program("ffprobe")
        .args([
            "-v",
            "error",
            "-count_packets",
            "-print_format",
            "json",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .map_err(|e| spawn_error("ffprobe", e))?;
    let unreadable = |why: String| VideoError::Unreadable {
        path: path.to_path_buf(),
        why,
    };
    if !out.status.success() {
        return Err(unreadable(tail(&String::from_utf8_lossy(&out.stderr))));
    }
    let probe: Probe = serde_json::from_slice(&out.stdout)
        .map_err(|e| unreadable(format!("ffprobe's answer is not JSON: {e}")))?;
    let video = probe
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video"))
        .ok_or_else(|| unreadable("no video stream".into()))?;
    let (w, h) = match (video.width, video.height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
        _ => return Err(unreadable("the video stream has no size".into())),
    };
    let rate = video.r_frame_rate.as_deref().unwrap_or("0/1");
    let (num, den) = rate
        .split_once('/')
        .and_then(|(n, d)| Some((n.parse::<u32>().ok()?, d.parse::<u32>().ok()?)))
        .filter(|&(n, d)| n > 0 && d > 0)
        .ok_or_else(|| unreadable(format!("frame rate '{rate}' is not a ratio")))?;
    let rotation = video
        .side_data_list
        .iter()
        .find_map(|d| d.get("rotation").and_then(serde_json::Value::as_i64))
        .or_else(|| video.tags.get("rotate").and_then(|r| r.parse().ok()))
        .unwrap_or(0) as i32;
    let (width, height) = if rotation.rem_euclid(180) == 90 {
        (h, w)
    } else {
        (w, h)
    };
    let frames = video
        .nb_read_packets
        .as_deref()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if frames == 0 {
        return Err(unreadable("the video stream has no frames".into()));
    }
    let audio_codec = probe
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"))
        .and_then(|s| s.codec_name.clone());
    Ok(MediaInfo {
        width,
        height,
        fps_num: num,
        fps_den: den,
        frames,
        rotation,
        audio_codec,
    })
}

/// The last lines of a program's diagnostics (bounded).
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

/// Collects the last lines a child writes to stderr, without blocking it.
fn drain_stderr(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    if let Some(stderr) = child.stderr.take() {
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut kept = sink.lock().unwrap_or_else(|e| e.into_inner());
                kept.push(line);
                let excess = kept.len().saturating_sub(20);
                kept.drain(..excess);
            }
        });
    }
    lines
}

/// Frames one after another: a file now, a live stream next.
pub trait FrameSource {
    /// What is being read.
    fn info(&self) -> &MediaInfo;
    /// The next frame, `None` at the end.
    fn next_frame(&mut self) -> Result<Option<Frame>, VideoError>;
}

/// A video file (or anything `ffmpeg -i` opens) decoded by `ffmpeg`.
pub struct FfmpegReader {
    path: PathBuf,
    info: MediaInfo,
    child: Child,
    stdout: ChildStdout,
    stderr: Arc<Mutex<Vec<String>>>,
    frames_read: u64,
    done: bool,
}

impl FfmpegReader {
    /// Probes and opens `path`.
    pub fn open(path: &Path) -> Result<Self, VideoError> {
        let info = probe(path)?;
        let mut child = program("ffmpeg")
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(path)
            .args([
                "-map",
                "0:v:0",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "yuv420p",
                "-fps_mode",
                "passthrough",
                "-",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error("ffmpeg", e))?;
        let stderr = drain_stderr(&mut child);
        let stdout = child.stdout.take().expect("piped stdout");
        widen_pipe(&stdout);
        Ok(Self {
            path: path.to_path_buf(),
            info,
            child,
            stdout,
            stderr,
            frames_read: 0,
            done: false,
        })
    }

    /// Frames delivered so far.
    pub fn frames_read(&self) -> u64 {
        self.frames_read
    }

    fn finish(&mut self) -> Result<(), VideoError> {
        self.done = true;
        let status = self.child.wait().map_err(|e| VideoError::Io {
            what: "waiting for ffmpeg".into(),
            source: e,
        })?;
        let said = self
            .stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join(" | ");
        if self.frames_read == 0 {
            return Err(VideoError::Unreadable {
                path: self.path.clone(),
                why: if said.is_empty() {
                    "no frame could be decoded".into()
                } else {
                    said
                },
            });
        }
        if !status.success() || self.frames_read < self.info.frames {
            tracing::warn!(
                file = %self.path.display(),
                read = self.frames_read,
                expected = self.info.frames,
                ffmpeg = %said,
                "the video ends early or is damaged; processed up to the damage"
            );
        }
        Ok(())
    }
}

impl FrameSource for FfmpegReader {
    fn info(&self) -> &MediaInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, VideoError> {
        if self.done {
            return Ok(None);
        }
        let mut data = vec![0u8; frame_bytes(self.info.width, self.info.height)];
        let mut filled = 0;
        while filled < data.len() {
            match self.stdout.read(&mut data[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(VideoError::Io {
                        what: "reading frames from ffmpeg".into(),
                        source: e,
                    });
                }
            }
        }
        if filled < data.len() {
            self.finish()?;
            return Ok(None);
        }
        self.frames_read += 1;
        Ok(Frame::from_raw(self.info.width, self.info.height, data))
    }
}

impl Drop for FfmpegReader {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How the output video is encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodeSettings {
    /// x264 constant rate factor (lower is better; default 20).
    pub crf: u8,
    /// x264 preset (default `veryfast`).
    pub preset: String,
}

impl Default for EncodeSettings {
    fn default() -> Self {
        Self {
            crf: 20,
            preset: "veryfast".into(),
        }
    }
}

/// Grows a frame pipe from 64 KiB to 1 MiB (Linux's unprivileged most):
/// a 720p frame then crosses in two wake-ups instead of twenty-two. Best
/// effort: a pipe that stays small only costs time.
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
fn widen_pipe(pipe: &impl std::os::fd::AsFd) {
    #[cfg(target_os = "linux")]
    let _ = rustix::pipe::fcntl_setpipe_size(pipe, 1 << 20);
}

/// Audio codecs an MP4 takes as they are.
const MP4_AUDIO: [&str; 5] = ["aac", "mp3", "alac", "ac3", "opus"];

/// H.264 (yuv420p) at the source's size, rate and frame count, the
/// source's audio copied (AAC where it cannot be), written to a temporary
/// file beside the output and renamed over it only when complete.
pub struct FfmpegWriter {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<Vec<String>>>,
    partial: PathBuf,
    output: PathBuf,
    frame_bytes: usize,
}

impl FfmpegWriter {
    /// Starts encoding frames of `info`'s size and rate into `output`, with
    /// the audio of `audio_from` when it has some.
    pub fn create(
        output: &Path,
        info: &MediaInfo,
        audio_from: Option<&Path>,
        settings: &EncodeSettings,
    ) -> Result<Self, VideoError> {
        let name = output
            .file_name()
            .ok_or_else(|| VideoError::Invalid(format!("{} is not a file name", output.display())))?
            .to_string_lossy()
            .into_owned();
        let extension = output
            .extension()
            .map_or("mp4".into(), |e| e.to_string_lossy().into_owned());
        let partial = output.with_file_name(format!(".{name}.partial.{extension}"));
        let mut cmd = program("ffmpeg");
        cmd.args([
            "-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s",
        ])
        .arg(format!("{}x{}", info.width, info.height))
        .arg("-r")
        .arg(format!("{}/{}", info.fps_num, info.fps_den))
        .args(["-i", "-"]);
        let audio = audio_from.filter(|_| info.audio_codec.is_some());
        if let Some(source) = audio {
            cmd.arg("-i")
                .arg(source)
                .args(["-map", "0:v:0", "-map", "1:a:0"]);
        }
        cmd.args([
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-fps_mode",
            "passthrough",
            "-preset",
        ])
        .arg(&settings.preset)
        .arg("-crf")
        .arg(settings.crf.to_string());
        if audio.is_some() {
            let copy = info
                .audio_codec
                .as_deref()
                .is_some_and(|c| MP4_AUDIO.contains(&c));
            cmd.args(["-c:a", if copy { "copy" } else { "aac" }]);
        }
        let mut child = cmd
            .arg(&partial)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error("ffmpeg", e))?;
        let stderr = drain_stderr(&mut child);
        let stdin = child.stdin.take();
        if let Some(pipe) = &stdin {
            widen_pipe(pipe);
        }
        Ok(Self {
            child: Some(child),
            stdin,
            stderr,
            partial,
            output: output.to_path_buf(),
            frame_bytes: frame_bytes(info.width, info.height),
        })
    }

    fn failed(&self, what: &str) -> VideoError {
        VideoError::Encode {
            output: self.output.clone(),
            why: format!(
                "{what}: {}",
                self.stderr
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .join(" | ")
            ),
        }
    }

    /// Encodes one frame (of the size given at creation).
    pub fn write(&mut self, frame: &Frame) -> Result<(), VideoError> {
        if frame.as_raw().len() != self.frame_bytes {
            return Err(VideoError::Invalid(format!(
                "a {}×{} frame in a video of another size",
                frame.width(),
                frame.height()
            )));
        }
        let stdin = self.stdin.as_mut().expect("open until finish");
        if stdin.write_all(frame.as_raw()).is_err() {
            return Err(self.failed("ffmpeg stopped taking frames"));
        }
        Ok(())
    }

    /// Finishes the file and moves it to the output name.
    pub fn finish(mut self) -> Result<(), VideoError> {
        drop(self.stdin.take());
        let status = self
            .child
            .take()
            .expect("running")
            .wait()
            .map_err(|e| VideoError::Io {
                what: "waiting for ffmpeg".into(),
                source: e,
            })?;
        if !status.success() {
            return Err(self.failed("encoding failed"));
        }
        std::fs::rename(&self.partial, &self.output).map_err(|e| VideoError::Io {
            what: format!("moving the finished video to {}", self.output.display()),
            source: e,
        })
    }
}

impl Drop for FfmpegWriter {
    /// An unfinished output is removed: no half video under any name.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
