//! What a new score does to a patient's alert for its target: open one, update it, raise or lower
//! its tier, end its episode, or nothing. Pure: the engine loads the facts and applies the answer.

use super::tier::{Thresholds, Tier};

/// The live (not ended) alert of a patient and target, as the decision needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub episode: String,
    pub tier: Tier,
    /// The highest tier recipients were told of.
    pub notified: Tier,
    pub status: Status,
    pub thresholds: Thresholds,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Open,
    Acknowledged,
    Snoozed,
    Dismissed,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Snoozed => "snoozed",
            Self::Dismissed => "dismissed",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Open, Self::Acknowledged, Self::Snoozed, Self::Dismissed, Self::Resolved]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// Why an episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The score fell below the lowest tier less the hysteresis.
    BelowThreshold,
    /// A later discharge started a new readmission episode.
    NewDischarge,
}

impl Ended {
    pub fn reason(self) -> &'static str {
        match self {
            Self::BelowThreshold => "the risk fell below the lowest tier",
            Self::NewDischarge => "a later discharge started a new episode",
        }
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Nothing,
    /// Open an alert for `episode` at `tier` (and notify).
    Open {
        tier: Tier,
    },
    /// Keep the live alert at `tier`; `notify` when it rose above anything told before and the
    /// alert is open or acknowledged (a snoozed one tells at its end, a dismissed one never).
    Update {
        tier: Tier,
        notify: bool,
    },
    /// End the live alert's episode.
    End(Ended),
    /// End the live alert's episode and open one for this score's.
    Replace {
        ended: Ended,
        tier: Tier,
    },
}

/// The decision for a score of `probability` in `episode` (the discharge, for readmission; None
/// for admission, whose episode is the live alert's, if any), given the live alert and the rule
/// that would open a new one (None: no enabled rule for the patient's unit).
pub fn decide(live: Option<&Live>, episode: Option<&str>, probability: f64, rule: Option<&Thresholds>) -> Decision {
    let open_new = || rule.and_then(|r| r.reached(probability));
    match live {
        None => open_new().map_or(Decision::Nothing, |tier| Decision::Open { tier }),
        Some(live) if episode.is_some_and(|e| e != live.episode) => match open_new() {
            Some(tier) => Decision::Replace { ended: Ended::NewDischarge, tier },
            None => Decision::End(Ended::NewDischarge),
        },
        Some(live) => match live.thresholds.next(live.tier, probability) {
            None => Decision::End(Ended::BelowThreshold),
            Some(tier) => {
                let tells = matches!(live.status, Status::Open | Status::Acknowledged);
                Decision::Update { tier, notify: tells && tier > live.notified }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Thresholds {
        Thresholds::new(Some(0.2), Some(0.4), Some(0.7), 0.05).expect("valid")
    }

    fn live(tier: Tier, status: Status) -> Live {
        Live { episode: "stay-1".into(), tier, notified: tier, status, thresholds: rule() }
    }

    #[test]
    fn a_score_over_a_threshold_opens_one_alert_and_later_ones_update_it() {
        assert_eq!(decide(None, None, 0.1, Some(&rule())), Decision::Nothing);
        assert_eq!(decide(None, None, 0.45, Some(&rule())), Decision::Open { tier: Tier::Warning });
        assert_eq!(decide(None, None, 0.45, None), Decision::Nothing, "no enabled rule, no alert");
        let warning = live(Tier::Warning, Status::Open);
        assert_eq!(
            decide(Some(&warning), None, 0.5, Some(&rule())),
            Decision::Update { tier: Tier::Warning, notify: false }
        );
    }

    #[test]
    fn only_a_rise_above_what_was_told_notifies_again() {
        let warning = live(Tier::Warning, Status::Acknowledged);
        assert_eq!(decide(Some(&warning), None, 0.75, None), Decision::Update { tier: Tier::Critical, notify: true });
        let fell_back = Live { tier: Tier::Info, notified: Tier::Warning, ..warning.clone() };
        assert_eq!(decide(Some(&fell_back), None, 0.45, None), Decision::Update { tier: Tier::Warning, notify: false });
        let snoozed = live(Tier::Warning, Status::Snoozed);
        assert_eq!(decide(Some(&snoozed), None, 0.75, None), Decision::Update { tier: Tier::Critical, notify: false });
        let dismissed = live(Tier::Warning, Status::Dismissed);
        assert_eq!(
            decide(Some(&dismissed), None, 0.75, None),
            Decision::Update { tier: Tier::Critical, notify: false }
        );
    }

    #[test]
    fn an_episode_ends_below_the_hysteresis_or_at_a_new_discharge() {
        let info = live(Tier::Info, Status::Open);
        assert_eq!(
            decide(Some(&info), None, 0.17, Some(&rule())),
            Decision::Update { tier: Tier::Info, notify: false }
        );
        assert_eq!(decide(Some(&info), None, 0.14, Some(&rule())), Decision::End(Ended::BelowThreshold));
        assert_eq!(
            decide(Some(&info), Some("stay-1"), 0.3, Some(&rule())),
            Decision::Update { tier: Tier::Info, notify: false }
        );
        assert_eq!(
            decide(Some(&info), Some("stay-2"), 0.5, Some(&rule())),
            Decision::Replace { ended: Ended::NewDischarge, tier: Tier::Warning }
        );
        assert_eq!(decide(Some(&info), Some("stay-2"), 0.05, Some(&rule())), Decision::End(Ended::NewDischarge));
    }
}
