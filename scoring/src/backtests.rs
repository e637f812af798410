//! Stored backtests: a model's point-in-time predictions over a period with what happened, kept so
//! that alert thresholds can be weighed on them later (`vigil alert rule suggest`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use vigil_store::schema::{backtests, models};

use crate::metrics::{AtThreshold, at_threshold};
use crate::training::{Target, horizon};

/// A backtest as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Backtest {
    pub id: i64,
    pub model_version: String,
    pub period_from: DateTime<Utc>,
    pub period_to: DateTime<Utc>,
    pub probabilities: Vec<f64>,
    pub labels: Vec<bool>,
    pub patient_days: f64,
    pub created_at: DateTime<Utc>,
}

impl Backtest {
    /// Alerts per 100 patient-days, PPV and sensitivity had alerts opened at `threshold`.
    pub fn at(&self, threshold: f64) -> AtThreshold {
        at_threshold(&self.probabilities, &self.labels, threshold, self.patient_days)
    }

    /// The probability at or above which the highest `share` of the predictions lie.
    pub fn probability_at_share(&self, share: f64) -> Option<f64> {
        let mut sorted = self.probabilities.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let n = ((sorted.len() as f64) * share).ceil() as usize;
        sorted.get(n.clamp(1, sorted.len().max(1)) - 1).copied()
    }
}

/// The patient-days `events` index events cover: each opens a window of the horizon (30 days).
pub fn patient_days(events: usize) -> f64 {
    events as f64 * horizon().num_days() as f64
}

/// Keeps a backtest of model `model_id`.
pub fn store(
    conn: &mut PgConnection,
    model_id: i64,
    period: (DateTime<Utc>, DateTime<Utc>),
    probabilities: &[f64],
    labels: &[bool],
    by: &str,
) -> QueryResult<i64> {
    diesel::insert_into(backtests::table)
        .values((
            backtests::model_id.eq(model_id),
            backtests::period_from.eq(period.0),
            backtests::period_to.eq(period.1),
            backtests::probabilities.eq(probabilities.iter().map(|p| Some(*p)).collect::<Vec<_>>()),
            backtests::labels.eq(labels.iter().map(|l| Some(*l)).collect::<Vec<_>>()),
            backtests::patient_days.eq(patient_days(labels.len())),
            backtests::created_by.eq(by),
        ))
        .returning(backtests::id)
        .get_result(conn)
}

type Row = (i64, String, DateTime<Utc>, DateTime<Utc>, Vec<Option<f64>>, Vec<Option<bool>>, f64, DateTime<Utc>);

/// The newest backtest of a model of `target`.
pub fn latest(conn: &mut PgConnection, target: Target) -> QueryResult<Option<Backtest>> {
    let row: Option<Row> = backtests::table
        .inner_join(models::table)
        .filter(models::target.eq(target.as_str()))
        .order(backtests::id.desc())
        .select((
            backtests::id,
            models::version,
            backtests::period_from,
            backtests::period_to,
            backtests::probabilities,
            backtests::labels,
            backtests::patient_days,
            backtests::created_at,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(id, model_version, period_from, period_to, p, y, patient_days, created_at)| Backtest {
        id,
        model_version,
        period_from,
        period_to,
        probabilities: p.into_iter().flatten().collect(),
        labels: y.into_iter().flatten().collect(),
        patient_days,
        created_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_thresholds_are_read_off_the_predictions() {
        let backtest = Backtest {
            id: 1,
            model_version: "m-1".into(),
            period_from: DateTime::UNIX_EPOCH,
            period_to: DateTime::UNIX_EPOCH,
            probabilities: (1..=100).map(|i| f64::from(i) / 100.0).collect(),
            labels: (1..=100).map(|i| i > 90).collect(),
            patient_days: patient_days(100),
            created_at: DateTime::UNIX_EPOCH,
        };
        assert_eq!(backtest.probability_at_share(0.10), Some(0.91));
        let at = backtest.at(0.91);
        assert_eq!((at.alerts, at.ppv, at.sensitivity), (10, 1.0, 1.0));
        assert!((at.alerts_per_100_patient_days - 100.0 * 10.0 / 3000.0).abs() < 1e-9);
    }
}
