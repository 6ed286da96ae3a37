//! arcface_torch's `PolynomialLRWarmup` (power 2 in its `train_v2.py`): the
//! learning rate rises linearly over the warm-up steps, then decays as
//! `(1 − progress)^power` to 0 at the last step.

/// The learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolynomialWarmup {
    /// Peak learning rate.
    pub base: f64,
    /// Steps of linear warm-up.
    pub warmup: u64,
    /// All steps of the run.
    pub total: u64,
    /// The decay's power.
    pub power: f64,
}

impl PolynomialWarmup {
    /// The rate of update `step` (0-based): the closed form of
    /// arcface_torch's scheduler at its step `step + 1` (its step 0 uses
    /// the base rate before warming up; here the first update is already
    /// on the ramp).
    ///
    /// ```
    /// use facekit_train::schedule::PolynomialWarmup;
    /// let s = PolynomialWarmup { base: 0.1, warmup: 10, total: 110, power: 2.0 };
    /// assert!((s.rate(0) - 0.01).abs() < 1e-12);
    /// assert!((s.rate(9) - 0.1).abs() < 1e-12);
    /// assert!((s.rate(59) - 0.025).abs() < 1e-12); // half way down: 0.1 · 0.5²
    /// assert_eq!(s.rate(109), 0.0);
    /// ```
    pub fn rate(&self, step: u64) -> f64 {
        let s = step + 1;
        if s <= self.warmup {
            return self.base * s as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1) as f64;
        let done = (s.min(self.total) - self.warmup) as f64;
        self.base * (1.0 - done / span).powf(self.power)
    }
}
