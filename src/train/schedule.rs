//! The learning-rate schedule: linear warm-up to the peak, then cosine decay to zero at the last
//! step (HF's `get_cosine_schedule_with_warmup`, as the study).

/// A run's schedule: peak, warm-up steps and the step it ends at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub peak: f64,
    pub warmup: u64,
    pub total: u64,
}

impl Schedule {
    /// The learning rate of optimizer step `step` (0-based).
    pub fn lr_at(&self, step: u64) -> f64 {
        lr_at(step, self.peak, self.warmup, self.total)
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
