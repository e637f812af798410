//! Capacity: expected unplanned admissions per unit over the next 1–30 days with their 95 %
//! intervals, as a bar chart drawn on the server and as a table, from the same forecast as
//! `GET /api/capacity`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use serde::Deserialize;

use super::{Chrome, html};
use crate::http::access::Guard;
use crate::http::capacity::{self, Interval};
use crate::http::surface::{Portal, Rejection};

const LABEL: f64 = 150.0;
const WIDTH: f64 = 640.0;
const ROW: f64 = 30.0;

struct Bar {
    unit: String,
    patients: usize,
    figures: String,
    y: f64,
    text_y: f64,
    width: f64,
    low: f64,
    high: f64,
    whisker_y: f64,
}

struct Days {
    value: i64,
    selected: bool,
}

#[derive(Template)]
#[template(path = "capacity.html")]
struct Page {
    chrome: Chrome,
    days: Vec<Days>,
    horizon: i64,
    total: String,
    patients: usize,
    bars: Vec<Bar>,
    width: f64,
    height: f64,
    label_x: f64,
    problem: Option<String>,
}

fn figures(i: &Interval) -> String {
    format!("{:.1} ({:.1} to {:.1})", i.expected, i.low, i.high)
}

#[derive(Debug, Deserialize)]
pub struct Query {
    days: Option<String>,
}

#[get("/capacity")]
pub async fn show(guard: Guard<Portal>, query: web::Query<Query>) -> Result<HttpResponse, Rejection<Portal>> {
    let chrome = Chrome::of(&guard)?;
    let asked = query.days.as_deref().map(|d| d.parse::<i64>().map_err(|_| format!("days {d:?} is not a number")));
    let (horizon, problem) = match asked.transpose().and_then(capacity::horizon) {
        Ok(days) => (days, None),
        Err(problem) => (7, Some(problem)),
    };
    let forecast = capacity::forecast(&guard, horizon).await?;
    let top = forecast.by_unit.iter().map(|u| u.admissions.high).fold(1.0_f64, f64::max);
    let x = |v: f64| (v / top).clamp(0.0, 1.0) * (WIDTH - LABEL - 16.0);
    let bars = forecast
        .by_unit
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let y = 8.0 + i as f64 * ROW;
            Bar {
                unit: u.unit.clone(),
                patients: u.patients,
                figures: figures(&u.admissions),
                y,
                text_y: y + 15.0,
                width: x(u.admissions.expected),
                low: LABEL + x(u.admissions.low),
                high: LABEL + x(u.admissions.high),
                whisker_y: y + 10.0,
            }
        })
        .collect::<Vec<_>>();
    let page = Page {
        chrome,
        days: [1, 3, 7, 14, 30].into_iter().map(|value| Days { value, selected: value == horizon }).collect(),
        horizon,
        total: figures(&forecast.admissions),
        patients: forecast.patients,
        height: 16.0 + bars.len() as f64 * ROW,
        bars,
        width: WIDTH,
        label_x: LABEL - 8.0,
        problem,
    };
    html(StatusCode::OK, &page)
}
