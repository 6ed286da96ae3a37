//! Where the process's time goes, by pipeline stage.
//!
//! Each stage adds its wall time to a process-wide counter. Stages nest
//! (a detector resizes its input): the time of a nested stage is taken out
//! of the one around it, so the totals never count a nanosecond twice and
//! their sum is the busy time of every thread together. Two clock reads
//! per stage per image: too cheap to need switching off.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A step of the pipeline, as `facekit bench --json` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Reading and decoding the image file.
    Decode,
    /// Resizing to a model's input and packing it as a tensor.
    Resize,
    /// The detector, with its decoding of boxes and NMS.
    Detect,
    /// Warping each face to the recognizer's crop.
    Align,
    /// The recognizer.
    Embed,
    /// Landmark, pose and gender/age models.
    Attributes,
    /// Liveness models.
    Liveness,
    /// The face-quality score.
    Quality,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 8] = [
        Stage::Decode,
        Stage::Resize,
        Stage::Detect,
        Stage::Align,
        Stage::Embed,
        Stage::Attributes,
        Stage::Liveness,
        Stage::Quality,
    ];

    /// The stage's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Resize => "resize",
            Stage::Detect => "detect",
            Stage::Align => "align",
            Stage::Embed => "embed",
            Stage::Attributes => "attributes",
            Stage::Liveness => "liveness",
            Stage::Quality => "quality",
        }
    }
}

static NANOS: [AtomicU64; Stage::ALL.len()] = [const { AtomicU64::new(0) }; Stage::ALL.len()];

thread_local! {
    /// The stage this thread is in and since when its clock runs.
    static CURRENT: Cell<Option<(Stage, Instant)>> = const { Cell::new(None) };
}

fn credit(stage: Stage, since: Instant, until: Instant) {
    let nanos = u64::try_from(until.duration_since(since).as_nanos()).unwrap_or(u64::MAX);
    NANOS[stage as usize].fetch_add(nanos, Ordering::Relaxed);
}

/// Runs `f` as `stage`: its wall time, less that of stages inside it, is
/// added to the stage's total.
///
/// ```
/// use facekit_core::{Stage, stage_totals, timed};
/// let before = stage_totals();
/// timed(Stage::Detect, || {
///     timed(Stage::Resize, || std::thread::sleep(std::time::Duration::from_millis(20)));
/// });
/// let after = stage_totals();
/// let resize = after.of(Stage::Resize) - before.of(Stage::Resize);
/// let detect = after.of(Stage::Detect) - before.of(Stage::Detect);
/// assert!(resize >= std::time::Duration::from_millis(20));
/// assert!(detect < resize);
/// ```
pub fn timed<R>(stage: Stage, f: impl FnOnce() -> R) -> R {
    /// Closes the stage and restarts the outer one's clock, also on unwind.
    struct Leave(Option<Stage>);
    impl Drop for Leave {
        fn drop(&mut self) {
            let now = Instant::now();
            if let Some((stage, since)) = CURRENT.get() {
                credit(stage, since, now);
            }
            CURRENT.set(self.0.map(|outer| (outer, now)));
        }
    }
    let now = Instant::now();
    let outer = CURRENT.get().map(|(outer, since)| {
        credit(outer, since, now);
        outer
    });
    CURRENT.set(Some((stage, now)));
    let _leave = Leave(outer);
    f()
}

/// The stage this thread is in, if any (for work handed to another thread
/// to be timed as the stage that handed it over).
pub fn current_stage() -> Option<Stage> {
    CURRENT.get().map(|(stage, _)| stage)
}

/// The time every thread of this process has spent in each stage so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageTotals([u64; Stage::ALL.len()]);

impl StageTotals {
    /// The time spent in `stage`.
    pub fn of(&self, stage: Stage) -> Duration {
        Duration::from_nanos(self.0[stage as usize])
    }

    /// The time spent in all stages together.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.0.iter().sum())
    }

    /// The time spent since `earlier`, stage by stage.
    pub fn since(&self, earlier: &StageTotals) -> StageTotals {
        StageTotals(std::array::from_fn(|i| {
            self.0[i].saturating_sub(earlier.0[i])
        }))
    }
}

/// The totals so far (take two and [`StageTotals::since`] for a span).
pub fn stage_totals() -> StageTotals {
    StageTotals(std::array::from_fn(|i| NANOS[i].load(Ordering::Relaxed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }

    #[test]
    fn nested_time_is_counted_once() {
        // Other tests of this crate may time stages concurrently; this one
        // uses stages nothing else in the crate runs.
        let before = stage_totals();
        let started = Instant::now();
        timed(Stage::Liveness, || {
            busy(10);
            timed(Stage::Quality, || busy(30));
            busy(10);
        });
        let whole = started.elapsed();
        let spent = stage_totals().since(&before);
        let (outer, inner) = (spent.of(Stage::Liveness), spent.of(Stage::Quality));
        assert!(inner >= Duration::from_millis(30), "{inner:?}");
        assert!(outer >= Duration::from_millis(20), "{outer:?}");
        assert!(
            outer < Duration::from_millis(30),
            "nested time counted twice: {outer:?}"
        );
        assert!(outer + inner <= whole, "{outer:?} + {inner:?} > {whole:?}");
    }

    #[test]
    fn a_panicking_stage_still_closes() {
        let before = stage_totals();
        let caught = std::panic::catch_unwind(|| {
            timed(Stage::Align, || -> () {
                busy(5);
                panic!("bad face")
            })
        });
        assert!(caught.is_err());
        assert!(CURRENT.get().is_none(), "the stage stayed open");
        assert!(stage_totals().since(&before).of(Stage::Align) >= Duration::from_millis(5));
    }
}
