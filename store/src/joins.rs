//! Joins diesel cannot read from the migrations: a score names its patient, model and run through
//! checks made once per statement (migration 34, `score_reference_checks`) rather than foreign keys,
//! which checked each of a scoring run's million rows on its own.

use crate::schema::{models, patients, scores, scoring_runs};

diesel::joinable!(scores -> models (model_id));
diesel::joinable!(scores -> patients (patient_id));
diesel::joinable!(scores -> scoring_runs (run_id));
