//! SQL that diesel's DSL does not write the way we need: `LIMIT` (and `OFFSET`) in the SQL
//! text instead of bound as parameters, and row-value comparisons for keyset pagination.
//!
//! ## `LIMIT` literals
//!
//! SQLite (since 3.47) reads a bound `LIMIT` while planning and marks the statement to be
//! re-prepared whenever that parameter is bound again; diesel binds on every execution, so
//! `.limit(n)` and `.first()` re-parse and re-plan the statement each time, which cost more
//! than running it (a list page: ~40 % of the query's instructions). A literal `LIMIT n` is
//! planned once per distinct `n` and then served from diesel's statement cache. The values
//! are integers we compute, never user text, so nothing is injected.

use diesel::backend::Backend;
use diesel::expression::{
    AppearsOnTable, AsExpression, Expression, TypedExpressionType, ValidGrouping, is_aggregate,
};
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::QueryResult;
use diesel::sql_types::{BigInt, Bool, SqlType};

use crate::schema::posts;

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

/// `(column, posts.id) < (key, id)` — or `>` — the keyset bound "after this row" as one
/// row-value comparison.
///
/// Written out as `column <= key AND (column < key OR (column = key AND id < id))`, the
/// bound is only partly an index condition on PostgreSQL (the rest a filter), and its
/// estimate varies so much with the key that PostgreSQL re-plans the prepared statement on
/// every execution (a custom plan each time: 0.2 ms of planning, twice the first page's).
/// A row value is one index condition on `(site_id, column, id)` for both PostgreSQL and
/// SQLite, which is why the sort indexes end in `id`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowAfter<C, K> {
    column: C,
    key: K,
    id: <i64 as AsExpression<BigInt>>::Expression,
    descending: bool,
}

/// The rows after `(key, id)` in the order of `column` then `posts.id`, descending or not.
pub(crate) fn row_after<C, K>(
    column: C,
    key: K,
    id: i64,
    descending: bool,
) -> RowAfter<C, K::Expression>
where
    C: Expression,
    C::SqlType: SqlType + TypedExpressionType,
    K: AsExpression<C::SqlType>,
{
    RowAfter {
        column,
        key: key.as_expression(),
        id: AsExpression::<BigInt>::as_expression(id),
        descending,
    }
}

impl<C, K> Expression for RowAfter<C, K> {
    type SqlType = Bool;
}

impl<C, K> AppearsOnTable<posts::table> for RowAfter<C, K>
where
    C: AppearsOnTable<posts::table>,
    K: AppearsOnTable<posts::table>,
{
}

// A column and bound values: never an aggregate.
impl<C, K> ValidGrouping<()> for RowAfter<C, K> {
    type IsAggregate = is_aggregate::No;
}

// No static id: the comparison operator is part of the SQL text.
impl<C, K> QueryId for RowAfter<C, K> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C, K, DB> QueryFragment<DB> for RowAfter<C, K>
where
    DB: Backend,
    C: QueryFragment<DB>,
    K: QueryFragment<DB>,
    posts::id: QueryFragment<DB>,
    <i64 as AsExpression<BigInt>>::Expression: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(");
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        posts::id.walk_ast(out.reborrow())?;
        out.push_sql(if self.descending { ") < (" } else { ") > (" });
        self.key.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        self.id.walk_ast(out.reborrow())?;
        out.push_sql(")");
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

    #[test]
    fn the_keyset_bound_is_one_row_value_comparison() {
        let q = posts::table.select(posts::id).filter(row_after(
            posts::title_key,
            "k".to_owned(),
            7,
            true,
        ));
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&q).to_string();
        assert!(
            sql.contains(r#"("posts"."title_key", "posts"."id") < ($1, $2)"#),
            "{sql}"
        );
        assert!(sql.contains(r#"binds: ["k", 7]"#), "{sql}");
        let q = posts::table
            .select(posts::id)
            .filter(row_after(posts::id, 1, 2, false));
        let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&q).to_string();
        assert!(
            sql.contains(r#"(`posts`.`id`, `posts`.`id`) > (?, ?)"#),
            "{sql}"
        );
    }
}
