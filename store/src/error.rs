use thiserror::Error;

/// Failures of the store layer. Messages name what failed without echoing row content, so they
/// are safe to log: a diesel error never carries bound parameter values.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("could not get a database connection: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("could not connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    /// The audit writers stopped (only while the process shuts down).
    #[error("the audit writers have stopped")]
    Stopped,
}
