//! A search's statement: SQL text with bind parameters, built in order, that diesel prepares once
//! per connection and statement text and then reuses.
//!
//! diesel's `sql_query` never caches its statement, so every search was parsed and planned anew:
//! under load, most of Postgres' time. The texts a search builds are few (one per combination of
//! parameters and sort, never a value from the request), so each connection keeps them all.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};

/// A value bound to a parameter of SQL type `T`.
struct Bound<T, V>(V, PhantomData<T>);

/// A bind parameter of any SQL type.
trait Bind: Send {
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()>;
}

impl<T: Send, V: ToSql<T, Pg> + Send> Bind for Bound<T, V>
where
    Pg: HasSqlType<T>,
{
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_bind_param::<T, V>(&self.0)
    }
}

enum Piece<'a> {
    Text(String),
    Bind(Box<dyn Bind + 'a>),
}

/// SQL text and bind parameters in the order they appear.
pub(super) struct Statement<'a> {
    pieces: Vec<Piece<'a>>,
}

impl<'a> Statement<'a> {
    pub(super) fn new(text: &str) -> Self {
        Self { pieces: vec![Piece::Text(text.to_owned())] }
    }

    pub(super) fn push(&mut self, text: &str) -> &mut Self {
        self.pieces.push(Piece::Text(text.to_owned()));
        self
    }

    /// A parameter of SQL type `T` with `value` (its placeholder is written where it stands).
    pub(super) fn bind<T, V>(&mut self, value: V) -> &mut Self
    where
        Pg: HasSqlType<T>,
        V: ToSql<T, Pg> + Send + 'a,
        T: Send + 'a,
    {
        self.pieces.push(Piece::Bind(Box::new(Bound::<T, V>(value, PhantomData))));
        self
    }
}

impl QueryFragment<Pg> for Statement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_sql(text),
                Piece::Bind(bind) => bind.push(&mut out)?,
            }
        }
        Ok(())
    }
}

/// No static identity: diesel keys its statement cache by the SQL text and the binds' types.
impl QueryId for Statement<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Statement<'_> {
    type SqlType = Untyped;
}

impl RunQueryDsl<PgConnection> for Statement<'_> {}
