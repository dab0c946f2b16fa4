//! The learning-rate schedule: linear warm-up to the peak, then either cosine decay to zero at the
//! last step (HF's `get_cosine_schedule_with_warmup`, as the study), or warmup–stable–decay: the
//! peak held until the decay start, then a linear or 1 − sqrt decay to zero at the last step.

use crate::config::wsd::decay_start;
use crate::config::{DecayShape, ScheduleKind};

/// A run's schedule: peak, warm-up steps, the step it ends at, and what follows the warm-up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub peak: f64,
    pub warmup: u64,
    pub total: u64,
    pub after_warmup: AfterWarmup,
}

/// What follows the warm-up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AfterWarmup {
    Cosine,
    /// Constant until `start`, then decaying to zero at the last step.
    Wsd {
        start: u64,
        shape: DecayShape,
    },
}

impl AfterWarmup {
    /// The run's kind of schedule over `total` steps.
    pub fn of(
        kind: ScheduleKind,
        total: u64,
        warmup: u64,
        cooldown: f64,
        shape: DecayShape,
    ) -> Self {
        match kind {
            ScheduleKind::Cosine => AfterWarmup::Cosine,
            ScheduleKind::Wsd => AfterWarmup::Wsd {
                start: decay_start(total, warmup, cooldown),
                shape,
            },
        }
    }
}

impl Schedule {
    /// The learning rate of optimizer step `step` (0-based).
    pub fn lr_at(&self, step: u64) -> f64 {
        match self.after_warmup {
            AfterWarmup::Cosine => lr_at(step, self.peak, self.warmup, self.total),
            AfterWarmup::Wsd { start, shape } => {
                if step < self.warmup {
                    return self.peak * step as f64 / self.warmup.max(1) as f64;
                }
                if step < start {
                    return self.peak;
                }
                let span = self.total.saturating_sub(start).max(1) as f64;
                let progress = ((step - start) as f64 / span).min(1.0);
                self.peak
                    * match shape {
                        DecayShape::Linear => 1.0 - progress,
                        DecayShape::Sqrt => 1.0 - progress.sqrt(),
                    }
            }
        }
    }
}

/// Learning rate for optimizer step `step` (0-based) of a run of `total` steps.
pub fn lr_at(step: u64, peak: f64, warmup: u64, total: u64) -> f64 {
    if step < warmup {
        return peak * step as f64 / warmup.max(1) as f64;
    }
    let decay = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup) as f64 / decay as f64).min(1.0);
    peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DecayShape, ScheduleKind};

    #[test]
    fn wsd_holds_the_peak_then_decays() {
        let s = |total, shape| Schedule {
            peak: 1.0,
            warmup: 10,
            total,
            after_warmup: AfterWarmup::of(ScheduleKind::Wsd, total, 10, 0.2, shape),
        };
        let long = s(100, DecayShape::Linear);
        assert_eq!(long.lr_at(5), 0.5);
        assert_eq!(long.lr_at(79), 1.0);
        assert_eq!(long.lr_at(80), 1.0, "the decay starts at ⌈0.8 × 100⌉ = 80");
        assert!((long.lr_at(90) - 0.5).abs() < 1e-12);
        assert_eq!(long.lr_at(100), 0.0);
        assert!((s(100, DecayShape::Sqrt).lr_at(85) - (1.0 - 0.25f64.sqrt())).abs() < 1e-12);
        // A shorter run of the same schedule shares every step before its own decay.
        let short = s(50, DecayShape::Linear);
        assert!((0..40).all(|step| short.lr_at(step) == long.lr_at(step)));
        assert!(short.lr_at(45) < 1.0);
    }

    #[test]
    fn warms_up_then_decays_to_zero() {
        assert_eq!(lr_at(0, 1.0, 10, 110), 0.0);
        assert!((lr_at(5, 1.0, 10, 110) - 0.5).abs() < 1e-12);
        assert!((lr_at(10, 1.0, 10, 110) - 1.0).abs() < 1e-12);
        assert!((lr_at(60, 1.0, 10, 110) - 0.5).abs() < 1e-12);
        assert!(lr_at(110, 1.0, 10, 110).abs() < 1e-12);
        assert!(lr_at(109, 1.0, 10, 110) > 0.0);
        // More warm-up than steps (tiny runs): still finite.
        assert!(lr_at(3, 1.0, 300, 5).is_finite());
    }
}
