//! Joins diesel cannot read from the migrations: a score names its patient, model and run through
//! checks made once per statement (migration 34, `score_reference_checks`) rather than foreign keys,
//! which checked each of a scoring run's million rows on its own; and since scores are partitioned
//! (migration 36, `scores_partitions`), the tables that name a score check it with triggers too.

use crate::schema::{
    alert_events, alert_feedback, alerts, cds_cards, models, patients, score_outcomes, scores, scoring_runs,
};

diesel::joinable!(scores -> models (model_id));
diesel::joinable!(scores -> patients (patient_id));
diesel::joinable!(scores -> scoring_runs (run_id));
diesel::joinable!(alerts -> scores (score_id));
diesel::joinable!(alert_events -> scores (score_id));
diesel::joinable!(alert_feedback -> scores (score_id));
diesel::joinable!(cds_cards -> scores (score_id));
diesel::joinable!(score_outcomes -> scores (score_id));
