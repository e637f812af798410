//! What the monitoring job stored, read back for `vigil monitor`, the JSON API and the portal.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use vigil_store::schema::{model_findings, model_monitoring};

use super::Figures;

/// A stored week.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub week: NaiveDate,
    pub unit: Option<String>,
    pub figures: Figures,
    pub computed_at: DateTime<Utc>,
}

/// A model's stored weeks, oldest first: for all units (`unit` None) or one unit.
pub fn series(conn: &mut PgConnection, model: i64, unit: Option<&str>) -> QueryResult<Vec<Stored>> {
    let mut query = model_monitoring::table
        .filter(model_monitoring::model_id.eq(model))
        .order(model_monitoring::week)
        .select((
            model_monitoring::week,
            model_monitoring::unit,
            model_monitoring::figures,
            model_monitoring::computed_at,
        ))
        .into_boxed();
    query = match unit {
        Some(u) => query.filter(model_monitoring::unit.eq(u.to_owned())),
        None => query.filter(model_monitoring::unit.is_null()),
    };
    let rows: Vec<(NaiveDate, Option<String>, serde_json::Value, DateTime<Utc>)> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(week, unit, figures, computed_at)| Stored {
            week,
            unit,
            figures: serde_json::from_value(figures).unwrap_or_default(),
            computed_at,
        })
        .collect())
}

/// A finding as stored.
#[derive(Debug, Clone, Queryable)]
pub struct Found {
    pub week: NaiveDate,
    pub kind: String,
    pub detail: String,
    pub found_at: DateTime<Utc>,
}

/// A model's findings, newest first.
pub fn findings(conn: &mut PgConnection, model: i64) -> QueryResult<Vec<Found>> {
    model_findings::table
        .filter(model_findings::model_id.eq(model))
        .order((model_findings::week.desc(), model_findings::kind))
        .select((model_findings::week, model_findings::kind, model_findings::detail, model_findings::found_at))
        .load(conn)
}
