//! `LIMIT` (and `OFFSET`) written into the SQL text instead of bound as parameters.
//!
//! SQLite (since 3.47) reads a bound `LIMIT` while planning and marks the statement to be
//! re-prepared whenever that parameter is bound again; diesel binds on every execution, so
//! `.limit(n)` and `.first()` re-parse and re-plan the statement each time, which cost more
//! than running it (a list page: ~40 % of the query's instructions). A literal `LIMIT n` is
//! planned once per distinct `n` and then served from diesel's statement cache. The values
//! are integers we compute, never user text, so nothing is injected.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::QueryResult;

/// `query LIMIT n`, with `n` in the SQL text. See the module documentation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiteralLimit<Q> {
    query: Q,
    limit: u32,
    offset: u64,
}

impl<Q> LiteralLimit<Q> {
    /// Also `OFFSET n` (v1's pages), literal for the same reason.
    pub(crate) fn offset_literal(self, offset: u64) -> Self {
        Self { offset, ..self }
    }
}

/// Adds [`LiteralLimit`] to any query.
pub(crate) trait LimitLiteral: Sized {
    /// `self LIMIT n`; `self` must not have a `LIMIT` or `OFFSET` of its own.
    fn limit_literal(self, n: u32) -> LiteralLimit<Self> {
        LiteralLimit {
            query: self,
            limit: n,
            offset: 0,
        }
    }
}

impl<Q: Query> LimitLiteral for Q {}

impl<Q: Query> Query for LiteralLimit<Q> {
    type SqlType = Q::SqlType;
}

// diesel's synchronous API runs only the queries that opt in (see `crate::load`).
impl<Q, Conn> diesel::RunQueryDsl<Conn> for LiteralLimit<Q> {}

// No static id: diesel then caches the statement under its SQL text, which includes `n`.
impl<Q> QueryId for LiteralLimit<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, DB> QueryFragment<DB> for LiteralLimit<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        out.push_sql(" LIMIT ");
        out.push_sql(&self.limit.to_string());
        if self.offset > 0 {
            out.push_sql(" OFFSET ");
            out.push_sql(&self.offset.to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::posts;
    use diesel::prelude::*;

    #[test]
    fn the_limit_and_offset_are_in_the_sql_text_not_bound() {
        let q = posts::table.select(posts::id).limit_literal(21);
        let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&q).to_string();
        assert!(sql.contains("LIMIT 21"), "{sql}");
        assert!(!sql.contains("OFFSET"), "{sql}");
        let q = posts::table
            .select(posts::id)
            .limit_literal(20)
            .offset_literal(40);
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&q).to_string();
        assert!(sql.contains("LIMIT 20 OFFSET 40"), "{sql}");
        assert!(sql.contains("binds: []"), "{sql}");
    }
}
