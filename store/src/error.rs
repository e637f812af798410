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
    /// The file audit rows are kept in while the database is out of reach.
    #[error("the audit spool could not be used: {0}")]
    Spool(#[from] std::io::Error),
    /// The audit writers stopped (only while the process shuts down).
    #[error("the audit writers have stopped")]
    Stopped,
}

impl StoreError {
    /// The database was out of reach (no connection could be had, or it was lost mid-query), so
    /// the same work may succeed later or elsewhere; anything else is the work's own failure.
    pub fn out_of_reach(&self) -> bool {
        match self {
            Self::Pool(_) | Self::Connect(_) => true,
            Self::Query(e) => connection_lost(e),
            Self::Migration(_) | Self::Spool(_) | Self::Stopped => false,
        }
    }
}

/// Whether a query failed because its connection went away rather than because of the query.
pub fn connection_lost(error: &diesel::result::Error) -> bool {
    use diesel::result::DatabaseErrorKind::{ClosedConnection, UnableToSendCommand};
    use diesel::result::Error;
    match error {
        Error::DatabaseError(ClosedConnection | UnableToSendCommand, _) | Error::BrokenTransactionManager => true,
        // Postgres going away mid-query surfaces as an unknown error about the connection.
        Error::DatabaseError(_, info) => {
            let message = info.message();
            message.contains("terminating connection") || message.contains("server closed the connection")
        }
        _ => false,
    }
}
