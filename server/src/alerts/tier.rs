//! Alert tiers and a rule's thresholds: which tier a probability reaches, with hysteresis so that
//! a score wavering around a threshold does not flap between tiers. Pure.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Info,
    Warning,
    Critical,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Info, Tier::Warning, Tier::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with proposed thresholds.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    #[error("the {0} threshold must be a probability above 0 and below 1, not {1}")]
    OutOfRange(Tier, f64),
    #[error("a rule needs at least one of the info, warning and critical thresholds")]
    NoTier,
    #[error("the {lower} threshold ({lower_value}) must be below the {higher} threshold ({higher_value})")]
    NotRising { lower: Tier, lower_value: f64, higher: Tier, higher_value: f64 },
    #[error("the hysteresis must be at least 0 and below the lowest threshold ({lowest}), not {hysteresis}")]
    Hysteresis { hysteresis: f64, lowest: f64 },
}

/// A rule's thresholds, valid by construction: each set one is in (0, 1), they rise with the
/// tier, and the hysteresis is below the lowest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    info: Option<f64>,
    warning: Option<f64>,
    critical: Option<f64>,
    hysteresis: f64,
}

impl Thresholds {
    pub fn new(
        info: Option<f64>,
        warning: Option<f64>,
        critical: Option<f64>,
        hysteresis: f64,
    ) -> Result<Self, ThresholdError> {
        let set: Vec<(Tier, f64)> =
            Tier::ALL.into_iter().zip([info, warning, critical]).filter_map(|(t, v)| Some((t, v?))).collect();
        for &(tier, value) in &set {
            if !(value > 0.0 && value < 1.0) {
                return Err(ThresholdError::OutOfRange(tier, value));
            }
        }
        let Some(&(_, lowest)) = set.first() else { return Err(ThresholdError::NoTier) };
        for pair in set.windows(2) {
            let ((lower, lower_value), (higher, higher_value)) = (pair[0], pair[1]);
            if lower_value >= higher_value {
                return Err(ThresholdError::NotRising { lower, lower_value, higher, higher_value });
            }
        }
        if !(0.0..lowest).contains(&hysteresis) || hysteresis >= 0.5 {
            return Err(ThresholdError::Hysteresis { hysteresis, lowest });
        }
        Ok(Self { info, warning, critical, hysteresis })
    }

    pub fn get(&self, tier: Tier) -> Option<f64> {
        match tier {
            Tier::Info => self.info,
            Tier::Warning => self.warning,
            Tier::Critical => self.critical,
        }
    }

    pub fn hysteresis(&self) -> f64 {
        self.hysteresis
    }

    /// The lowest threshold: a score below it reaches no tier.
    pub fn lowest(&self) -> f64 {
        Tier::ALL.into_iter().find_map(|t| self.get(t)).unwrap_or(1.0)
    }

    /// The tier `probability` reaches with no alert open: the highest whose threshold it meets.
    pub fn reached(&self, probability: f64) -> Option<Tier> {
        Tier::ALL.into_iter().rev().find(|t| self.get(*t).is_some_and(|v| probability >= v))
    }

    /// The tier of an alert now at `current` after a score of `probability`: it rises as soon as a
    /// higher threshold is met, and falls (or ends, None) only once the score is below a threshold
    /// less the hysteresis.
    pub fn next(&self, current: Tier, probability: f64) -> Option<Tier> {
        Tier::ALL.into_iter().rev().find(|t| {
            self.get(*t)
                .is_some_and(|v| if *t > current { probability >= v } else { probability >= v - self.hysteresis })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Thresholds {
        Thresholds::new(Some(0.2), Some(0.4), Some(0.7), 0.05).expect("valid")
    }

    #[test]
    fn thresholds_are_checked_with_a_reason() {
        assert_eq!(Thresholds::new(None, None, None, 0.0), Err(ThresholdError::NoTier));
        assert_eq!(Thresholds::new(Some(1.2), None, None, 0.0), Err(ThresholdError::OutOfRange(Tier::Info, 1.2)));
        assert!(matches!(
            Thresholds::new(Some(0.5), Some(0.4), None, 0.0),
            Err(ThresholdError::NotRising { lower: Tier::Info, higher: Tier::Warning, .. })
        ));
        assert!(matches!(
            Thresholds::new(None, Some(0.5), Some(0.5), 0.0),
            Err(ThresholdError::NotRising { lower: Tier::Warning, higher: Tier::Critical, .. })
        ));
        assert!(matches!(Thresholds::new(Some(0.1), None, None, 0.1), Err(ThresholdError::Hysteresis { .. })));
        assert!(matches!(Thresholds::new(Some(0.1), None, None, f64::NAN), Err(ThresholdError::Hysteresis { .. })));
        assert!(Thresholds::new(None, Some(0.3), None, 0.0).is_ok());
        let message = Thresholds::new(Some(0.5), Some(0.4), None, 0.0).expect_err("invalid").to_string();
        assert!(message.contains("info") && message.contains("warning"), "{message}");
    }

    #[test]
    fn a_new_alert_takes_the_highest_tier_met() {
        let r = rule();
        assert_eq!(r.reached(0.1), None);
        assert_eq!(r.reached(0.2), Some(Tier::Info));
        assert_eq!(r.reached(0.55), Some(Tier::Warning));
        assert_eq!(r.reached(0.9), Some(Tier::Critical));
        let only_critical = Thresholds::new(None, None, Some(0.6), 0.0).expect("valid");
        assert_eq!(only_critical.reached(0.5), None);
    }

    #[test]
    fn tiers_rise_at_once_and_fall_only_past_the_hysteresis() {
        let r = rule();
        assert_eq!(r.next(Tier::Info, 0.41), Some(Tier::Warning));
        assert_eq!(r.next(Tier::Warning, 0.37), Some(Tier::Warning), "within the hysteresis");
        assert_eq!(r.next(Tier::Warning, 0.34), Some(Tier::Info));
        assert_eq!(r.next(Tier::Info, 0.16), Some(Tier::Info));
        assert_eq!(r.next(Tier::Info, 0.14), None, "below the lowest tier less the hysteresis: ends");
        assert_eq!(r.next(Tier::Critical, 0.1), None);
        assert_eq!(r.next(Tier::Warning, 0.68), Some(Tier::Warning), "a higher tier needs its full threshold");
    }
}
