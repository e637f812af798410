//! The capacity forecast: expected unplanned admissions per unit over the next days, from the
//! latest admission scores of the active model. `GET /api/capacity?days=` and the portal's
//! `/capacity` page both read it through [`forecast`].

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, web};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::auth::policy::Action;
use crate::http::access::{Access, Guard};
use crate::http::surface::{Api, Rejection, Surface};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(capacity);
}

/// An expected count with its 95 % interval.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Interval {
    pub expected: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    fn of(mean: f64, variance: f64) -> Self {
        let half = 1.96 * variance.sqrt();
        Self { expected: mean, low: (mean - half).max(0.0), high: mean + half }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitForecast {
    pub unit: String,
    pub patients: usize,
    pub admissions: Interval,
}

#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    pub days: i64,
    pub patients: usize,
    pub admissions: Interval,
    pub by_unit: Vec<UnitForecast>,
}

/// Checks a horizon in days.
pub fn horizon(days: Option<i64>) -> Result<i64, String> {
    let days = days.unwrap_or(7);
    if (1..=30).contains(&days) { Ok(days) } else { Err("days must be between 1 and 30".into()) }
}

/// Expected unplanned admissions over the next `days`: each patient's 30-day probability spread
/// evenly over its window (`1 - (1 - p)^(days/30)`), summed per unit with a 95 % interval from the
/// variance of a sum of independent Bernoulli outcomes. Names no patient (an aggregate).
pub async fn forecast<S: Surface>(guard: &Guard<S>, days: i64) -> Result<Forecast, Rejection<S>> {
    let access = Access { action: Action::Read, resource_type: "RiskAssessment", data_category: "capacity" };
    let rows: Vec<(Option<String>, f64)> = guard
        .aggregate(access, move |conn| {
            #[derive(QueryableByName)]
            struct Latest {
                #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
                unit: Option<String>,
                #[diesel(sql_type = diesel::sql_types::Double)]
                probability: f64,
            }
            // Each patient's newest score of the active admission model, and their unit (that of
            // their current or last encounter).
            let latest: Vec<Latest> = diesel::sql_query(
                "SELECT DISTINCT ON (s.patient_id) \
                   (SELECT e.unit FROM encounters e WHERE e.patient_id = s.patient_id AND e.unit IS NOT NULL \
                    ORDER BY e.period_start DESC NULLS LAST LIMIT 1) AS unit, s.probability \
                 FROM scores s JOIN models m ON m.id = s.model_id \
                 WHERE m.target = 'admission' AND m.status = 'active' AND s.probability IS NOT NULL \
                 ORDER BY s.patient_id, s.created_at DESC, s.id DESC",
            )
            .load(conn)?;
            Ok(Some(latest.into_iter().map(|l| (l.unit, l.probability)).collect()))
        })
        .await?;
    let mut units: BTreeMap<String, (f64, f64, usize)> = BTreeMap::new();
    for (unit, p30) in rows {
        let p = 1.0 - (1.0 - p30).powf(days as f64 / 30.0);
        let entry = units.entry(unit.unwrap_or_else(|| "(no unit)".into())).or_default();
        entry.0 += p;
        entry.1 += p * (1.0 - p);
        entry.2 += 1;
    }
    let (mut mean, mut variance, mut patients) = (0.0, 0.0, 0);
    let by_unit = units
        .into_iter()
        .map(|(unit, (m, v, n))| {
            mean += m;
            variance += v;
            patients += n;
            UnitForecast { unit, patients: n, admissions: Interval::of(m, v) }
        })
        .collect();
    Ok(Forecast { days, patients, admissions: Interval::of(mean, variance), by_unit })
}

#[derive(Debug, serde::Deserialize)]
struct Query {
    days: Option<i64>,
    by: Option<String>,
}

#[get("/api/capacity")]
async fn capacity(guard: Guard<Api>, query: web::Query<Query>) -> Result<HttpResponse, Rejection<Api>> {
    let days = horizon(query.days).map_err(Rejection::bad_request)?;
    match query.by.as_deref() {
        None | Some("unit") => {}
        Some(other) => return Err(Rejection::bad_request(format!("by={other} is not supported; by=unit is"))),
    }
    let forecast = forecast(&guard, days).await?;
    Ok(HttpResponse::Ok().json(json!(forecast)))
}
