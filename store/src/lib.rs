//! Vigil's Postgres store: the diesel schema, row types, the connection pool and the embedded
//! migrations. This crate depends on no other crate of the workspace; every other crate reaches
//! the database through it.

pub mod audit;
pub mod changes;
#[cfg(any(test, feature = "testing"))]
pub mod cluster;
pub mod error;
mod joins;
pub mod migrate;
pub mod models;
pub mod operations;
pub mod partitions;
pub mod pool;
pub mod schema;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod wake;

pub use error::StoreError;
pub use pool::{PgPool, PoolOptions, PooledConn};
