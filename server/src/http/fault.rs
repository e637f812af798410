//! What a server-side failure says to the client: the database out of reach (a connection could
//! not be had, or was lost) is 503, and the client may retry; anything else (a query the server
//! got wrong, a constraint it broke) is its own fault, 500, with an error id that the log carries
//! beside the cause. Neither ever puts the cause in the body.

use vigil_ehr_adapter::ingest::IngestError;
use vigil_store::StoreError;

pub trait Fault: std::fmt::Display {
    /// The database was out of reach, so trying again later may work.
    fn out_of_reach(&self) -> bool;
}

impl Fault for diesel::result::Error {
    fn out_of_reach(&self) -> bool {
        vigil_store::error::connection_lost(self)
    }
}

impl Fault for StoreError {
    fn out_of_reach(&self) -> bool {
        StoreError::out_of_reach(self)
    }
}

impl Fault for IngestError {
    fn out_of_reach(&self) -> bool {
        match self {
            Self::Database(e) => e.out_of_reach(),
        }
    }
}

impl Fault for crate::auth::mfa::MfaError {
    fn out_of_reach(&self) -> bool {
        matches!(self, Self::Database(e) if e.out_of_reach())
    }
}

/// A failure of the server's own layers that no request can cause (a store error other than the
/// database's, a CSV writer's), carried as a database error so that the guard reports it as a
/// fault: 500, the cause in the log only.
pub fn unexpected(cause: &dyn std::fmt::Display) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(cause.to_string().into())
}

#[cfg(test)]
mod tests {
    use super::Fault;
    use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error};

    struct Info(&'static str);

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn database(kind: DatabaseErrorKind, message: &'static str) -> Error {
        Error::DatabaseError(kind, Box::new(Info(message)))
    }

    #[test]
    fn only_a_database_out_of_reach_is_worth_retrying() {
        assert!(database(DatabaseErrorKind::ClosedConnection, "gone").out_of_reach());
        assert!(
            database(DatabaseErrorKind::Unknown, "terminating connection due to administrator command").out_of_reach()
        );
        assert!(!database(DatabaseErrorKind::UniqueViolation, "duplicate key").out_of_reach());
        assert!(!database(DatabaseErrorKind::Unknown, "syntax error at or near").out_of_reach());
        assert!(!Error::NotFound.out_of_reach());
        assert!(
            vigil_store::StoreError::Connect(diesel::ConnectionError::BadConnection("refused".into())).out_of_reach()
        );
    }
}
