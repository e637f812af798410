//! Risk scoring: point-in-time features, labels, baselines, models, metrics, explanations.
