//! SQL that diesel's DSL does not write the way we need: `LIMIT` (and `OFFSET`) in the SQL
//! text instead of bound as parameters, row-value comparisons for keyset pagination, and
//! statements kept prepared that diesel would prepare again on every call, and values the
//! PostgreSQL planner must not see ([`Opaque`]).
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

/// A statement of one fixed SQL shape, kept in the connection's prepared-statement cache.
///
/// diesel prepares every `UPDATE` and every `sql_query` afresh on each call and closes it
/// afterwards, because an `UPDATE`'s changeset may leave out `None` fields and so take
/// many shapes. On PostgreSQL that is a Parse round trip before the statement's own (and a
/// parse and plan on the server): three such statements in a post create cost it a quarter
/// of its time (1.61 ms against 1.21 ms, `docs/performance.md`). The statements wrapped here have one shape (or a few: the cache is keyed by
/// the SQL text, so a different shape is a different entry, never a wrong one); the wrapper
/// tells the cache so.
///
/// It overrides `QueryFragment::is_safe_to_cache_prepared`, a method diesel documents only
/// for backend implementers, which diesel-async asks of the statement itself — on both
/// stores, SQLite's writes going through its `SyncConnectionWrapper`. diesel's synchronous
/// API asks through a reference, whose impl does not forward the override, so the wrapper
/// offers no synchronous `RunQueryDsl`; a statement run there is written out with a static
/// query id instead (`activity::ContentVersionBump`). The tests
/// `a_kept_statement_is_prepared_once_on_*` fail if an upgrade stops honouring it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeepPrepared<Q>(Q);

/// Adds [`KeepPrepared`] to any statement.
pub(crate) trait KeepPreparedExt: QueryId + Sized {
    /// `self`, prepared once per connection; `self` must have one SQL shape (or a few).
    fn keep_prepared(self) -> KeepPrepared<Self> {
        KeepPrepared(self)
    }
}

impl<Q: QueryId> KeepPreparedExt for Q {}

impl<Q: QueryId> QueryId for KeepPrepared<Q> {
    type QueryId = Q::QueryId;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q, DB> QueryFragment<DB> for KeepPrepared<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(out)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q: Query> Query for KeepPrepared<Q> {
    type SqlType = Q::SqlType;
}

/// A bound value the PostgreSQL planner does not look at: written `(SELECT $n)`, a scalar
/// subquery (an InitPlan), whose value no plan knows in advance. SQLite gets the plain bind.
///
/// PostgreSQL plans a prepared statement with its parameters' values (a custom plan) for the
/// first five executions and then keeps its generic plan only if that is estimated no dearer
/// than they were. For a list page it is not: the site's own row count makes the custom
/// estimate of `LIMIT 21` cheaper than the generic one (which assumes an average site), so
/// every execution was planned again — 0.07 ms of planning for a 0.03 ms scan, the largest
/// share of the database's work for a list request. With every value of the `WHERE` opaque,
/// custom and generic plans are the same plan at the same cost, the generic one is kept, and
/// the index conditions still use the values (`site_id = $0`, `ROW(…) < ROW($1, $2)`).
///
/// Only for statements whose best plan is the same for any value: an unfiltered list (the
/// site, its order, a keyset bound). A filter's value must stay visible, because the plan
/// depends on it — a generic plan for a rare tag walks the whole site (566 ms instead of
/// 0.1 ms on 100,000 posts), and so does one for a recent `updated_since`. So whether a value
/// is hidden is decided per statement, at run time: `hidden` false writes a plain bind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opaque<E> {
    value: E,
    hidden: bool,
}

/// `value` as an expression of SQL type `ST`, [`Opaque`] to PostgreSQL's planner when
/// `hidden`.
pub(crate) fn opaque<ST, T>(value: T, hidden: bool) -> Opaque<T::Expression>
where
    ST: SqlType + TypedExpressionType,
    T: AsExpression<ST>,
{
    Opaque {
        value: value.as_expression(),
        hidden,
    }
}

/// What a backend's planner does with bound values.
pub(crate) trait PlannerValues: Backend {
    /// The text before and after an [`Opaque`] value.
    const OPAQUE_AROUND: (&'static str, &'static str);
    /// Whether a statement whose best plan depends on its values may stay prepared. Not on
    /// PostgreSQL, which after five executions may keep one generic plan for every value
    /// ([`LiteralLimit::planned_with_values`]). SQLite's plans do not use bound values,
    /// except where it prepares again by itself when such a value changes (`LIKE`, STAT4).
    const KEEPS_VALUE_PLANS: bool;
}

impl PlannerValues for diesel::pg::Pg {
    const OPAQUE_AROUND: (&'static str, &'static str) = ("(SELECT ", ")");
    const KEEPS_VALUE_PLANS: bool = false;
}

impl PlannerValues for diesel::sqlite::Sqlite {
    const OPAQUE_AROUND: (&'static str, &'static str) = ("", "");
    const KEEPS_VALUE_PLANS: bool = true;
}

impl<E: Expression> Expression for Opaque<E> {
    type SqlType = E::SqlType;
}

impl<E: AppearsOnTable<QS>, QS: ?Sized> AppearsOnTable<QS> for Opaque<E> {}

impl<E: diesel::SelectableExpression<QS>, QS: ?Sized> diesel::SelectableExpression<QS>
    for Opaque<E>
{
}

impl<E: ValidGrouping<()>> ValidGrouping<()> for Opaque<E> {
    type IsAggregate = E::IsAggregate;
}

// No static id: whether the value is hidden changes the SQL text.
impl<E> QueryId for Opaque<E> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<E, DB> QueryFragment<DB> for Opaque<E>
where
    DB: PlannerValues,
    E: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let (open, close) = if self.hidden {
            DB::OPAQUE_AROUND
        } else {
            ("", "")
        };
        out.push_sql(open);
        self.value.walk_ast(out.reborrow())?;
        out.push_sql(close);
        Ok(())
    }
}

/// `query LIMIT n`, with `n` in the SQL text. See the module documentation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiteralLimit<Q> {
    query: Q,
    limit: u32,
    offset: u64,
    planned_with_values: bool,
}

impl<Q> LiteralLimit<Q> {
    /// Also `OFFSET n` (v1's pages), literal for the same reason.
    pub(crate) fn offset_literal(self, offset: u64) -> Self {
        Self { offset, ..self }
    }

    /// When `yes`, the statement is planned with its values on every execution: on
    /// PostgreSQL it is then not kept prepared (diesel-async prepares it, runs it once and
    /// closes it: one more round trip). For a query whose best plan depends on a value.
    /// Kept prepared, PostgreSQL compares its first five (custom) plans with the generic
    /// one and keeps the generic plan once that looks no dearer; for a list filtered by
    /// tag, after five lists of common tags that plan walks the site in order, and a rare
    /// tag then took 3.5 s on 100,000 posts instead of 0.1 ms.
    pub(crate) fn planned_with_values(self, yes: bool) -> Self {
        Self {
            planned_with_values: yes,
            ..self
        }
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
            planned_with_values: false,
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
    DB: PlannerValues,
    Q: QueryFragment<DB>,
{
    fn is_safe_to_cache_prepared(&self, backend: &DB) -> QueryResult<bool> {
        if self.planned_with_values && !DB::KEEPS_VALUE_PLANS {
            return Ok(false);
        }
        // The limit and offset are text: only the query decides.
        self.query.is_safe_to_cache_prepared(backend)
    }

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
    key: Opaque<K>,
    id: Opaque<<i64 as AsExpression<BigInt>>::Expression>,
    descending: bool,
}

/// The rows after `(key, id)` in the order of `column` then `posts.id`, descending or not;
/// with `key` and `id` [`Opaque`] to PostgreSQL's planner when `hidden`.
pub(crate) fn row_after<C, K>(
    column: C,
    key: K,
    id: i64,
    descending: bool,
    hidden: bool,
) -> RowAfter<C, K::Expression>
where
    C: Expression,
    C::SqlType: SqlType + TypedExpressionType,
    K: AsExpression<C::SqlType>,
{
    RowAfter {
        column,
        key: opaque::<C::SqlType, _>(key, hidden),
        id: opaque::<BigInt, _>(id, hidden),
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
    DB: PlannerValues,
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

/// The SQL text of a PostgreSQL statement of one fixed shape, written once and kept.
///
/// diesel-async writes a statement's SQL on every execution, prepared or not (its cache is
/// consulted after), and diesel's PostgreSQL query builder quotes every identifier through
/// an allocation. For the checks that ride with every authenticated read (the session check
/// is a select of 19 columns over four tables) that was ~35,000 instructions a request on
/// the server, as much as decoding the check's row. A query made with [`prebuilt_pg!`]
/// takes its text from its diesel DSL form on first use and from then on only pushes the
/// text and its binds, so the DSL stays the one definition of the statement.
pub(crate) struct PgText {
    /// The text around the binds: one more part than binds.
    parts: Vec<String>,
}

impl PgText {
    /// The text of `template`, whose binds are `$1` … `$binds` in order of appearance.
    pub(crate) fn of(template: &impl QueryFragment<diesel::pg::Pg>, binds: usize) -> Self {
        use diesel::query_builder::QueryBuilder;
        let mut builder = diesel::pg::PgQueryBuilder::default();
        template
            .to_sql(&mut builder, &diesel::pg::Pg)
            .expect("a fixed statement writes its SQL");
        let sql = builder.finish();
        let mut parts = Vec::with_capacity(binds + 1);
        let mut rest = sql.as_str();
        for n in 1..=binds {
            let (before, after) = rest
                .split_once(&format!("${n}"))
                .expect("the template has as many binds as the statement");
            parts.push(before.to_owned());
            rest = after;
        }
        assert!(
            !rest.contains(&format!("${}", binds + 1)),
            "the template has more binds than the statement"
        );
        parts.push(rest.to_owned());
        Self { parts }
    }

    /// The text before bind `n` (0-based), or after the last for `n` = binds.
    pub(crate) fn part(&self, n: usize) -> &str {
        &self.parts[n]
    }
}

/// A PostgreSQL statement type of one fixed shape whose SQL text ([`PgText`]) is taken from a
/// diesel DSL `template` once:
///
/// ```ignore
/// prebuilt_pg! {
///     /// docs
///     pub(crate) struct Name(field: RustType as SqlBindType, …) -> ResultSqlType = template;
/// }
/// ```
/// `template` is the DSL query with placeholder binds, in the order the fields are bound.
/// The type has a static query id (prepared once per connection) and loads like the DSL.
macro_rules! prebuilt_pg {
    (
        $(#[$doc:meta])*
        $vis:vis struct $name:ident($($field:ident: $rust:ty as $bind:ty),+ $(,)?) -> $sql_type:ty = $template:expr;
    ) => {
        $(#[$doc])*
        $vis struct $name { $($field: $rust),+ }

        impl $name {
            fn text() -> &'static $crate::sql::PgText {
                static TEXT: std::sync::OnceLock<$crate::sql::PgText> = std::sync::OnceLock::new();
                TEXT.get_or_init(|| {
                    $crate::sql::PgText::of(&$template, [$(stringify!($field)),+].len())
                })
            }
        }

        impl diesel::query_builder::QueryId for $name {
            type QueryId = Self;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl diesel::query_builder::Query for $name {
            type SqlType = $sql_type;
        }

        impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for $name {
            fn walk_ast<'b>(
                &'b self,
                mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
            ) -> diesel::QueryResult<()> {
                let text = Self::text();
                let mut part = 0;
                $(
                    out.push_sql(text.part(part));
                    out.push_bind_param::<$bind, _>(&self.$field)?;
                    part += 1;
                )+
                out.push_sql(text.part(part));
                Ok(())
            }
        }
    };
}
pub(crate) use prebuilt_pg;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::posts;
    use diesel::prelude::*;

    crate::sql::prebuilt_pg! {
        /// Two binds, one in a subquery.
        struct TwoBinds(site: i64 as diesel::sql_types::BigInt, slug: String as diesel::sql_types::Text)
            -> diesel::sql_types::BigInt
            = posts::table
                .select(posts::id)
                .filter(posts::site_id.eq(0_i64))
                .filter(posts::slug.eq(""))
                .limit_literal(1);
    }

    /// A prebuilt statement writes the text its template writes, binds in place.
    #[test]
    fn a_prebuilt_statement_is_its_template_with_its_binds() {
        let ours = TwoBinds {
            site: 7,
            slug: "a\"b".into(),
        };
        let template = posts::table
            .select(posts::id)
            .filter(posts::site_id.eq(7_i64))
            .filter(posts::slug.eq("a\"b"))
            .limit_literal(1);
        assert_eq!(
            diesel::debug_query::<diesel::pg::Pg, _>(&ours).to_string(),
            diesel::debug_query::<diesel::pg::Pg, _>(&template).to_string()
        );
        assert!(TwoBinds::text().part(2).ends_with(" LIMIT 1"));
    }

    #[test]
    #[should_panic(expected = "as many binds")]
    fn a_template_with_fewer_binds_is_refused() {
        PgText::of(&posts::table.select(posts::id), 1);
    }

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
            false,
        ));
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&q).to_string();
        assert!(
            sql.contains(r#"("posts"."title_key", "posts"."id") < ($1, $2)"#),
            "{sql}"
        );
        assert!(sql.contains(r#"binds: ["k", 7]"#), "{sql}");
        let q = posts::table
            .select(posts::id)
            .filter(row_after(posts::id, 1, 2, false, false));
        let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&q).to_string();
        assert!(
            sql.contains(r#"(`posts`.`id`, `posts`.`id`) > (?, ?)"#),
            "{sql}"
        );
    }

    /// Opaque values are scalar subqueries on PostgreSQL and plain binds on SQLite, in
    /// a comparison and in a keyset bound alike.
    #[test]
    fn opaque_values_are_subqueries_on_postgres_only() {
        let q = posts::table
            .select(posts::id)
            .filter(posts::site_id.eq(opaque::<BigInt, _>(3, true)))
            .filter(row_after(posts::id, 1, 2, true, true));
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&q).to_string();
        assert!(
            sql.contains(r#"("posts"."site_id" = (SELECT $1))"#),
            "{sql}"
        );
        assert!(
            sql.contains(r#"("posts"."id", "posts"."id") < ((SELECT $2), (SELECT $3))"#),
            "{sql}"
        );
        assert!(sql.contains("binds: [3, 1, 2]"), "{sql}");
        let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&q).to_string();
        assert!(
            sql.contains("((`posts`.`site_id` = ?) AND (`posts`.`id`, `posts`.`id`) < (?, ?))"),
            "{sql}"
        );
    }

    /// Counts the statements a connection adds to its prepared-statement cache.
    #[derive(Clone, Default)]
    struct CachedStatements(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl diesel::connection::Instrumentation for CachedStatements {
        fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
            if let diesel::connection::InstrumentationEvent::CacheQuery { sql, .. } = event {
                self.0.lock().unwrap().push(sql.to_owned());
            }
        }
    }

    impl CachedStatements {
        fn count(&self, prefix: &str) -> usize {
            let cached = self.0.lock().unwrap();
            cached.iter().filter(|sql| sql.starts_with(prefix)).count()
        }
    }

    const SITES: &str =
        "CREATE TABLE sites (id BIGINT PRIMARY KEY, content_version BIGINT NOT NULL)";

    macro_rules! bump {
        ($id:expr) => {
            diesel::update(crate::schema::sites::table.find($id)).set(
                crate::schema::sites::content_version.eq(crate::schema::sites::content_version + 1),
            )
        };
    }

    /// Three runs of a kept `UPDATE` and of a kept `sql_query` prepare each once; without
    /// the wrapper diesel caches neither (what the wrapper exists to change).
    #[tokio::test]
    async fn a_kept_statement_is_prepared_once_on_sqlite() {
        use diesel_async::RunQueryDsl as Async;
        use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
        use diesel_async::{AsyncConnection, SimpleAsyncConnection};
        let mut c = SyncConnectionWrapper::<diesel::SqliteConnection>::establish(":memory:")
            .await
            .unwrap();
        c.batch_execute(SITES).await.unwrap();
        let cached = CachedStatements::default();
        c.set_instrumentation(cached.clone());
        for id in [1, 2, 3] {
            Async::execute(bump!(id).keep_prepared(), &mut c)
                .await
                .unwrap();
            Async::execute(diesel::sql_query("SELECT 1").keep_prepared(), &mut c)
                .await
                .unwrap();
        }
        assert_eq!(cached.count("UPDATE"), 1);
        assert_eq!(cached.count("SELECT 1"), 1);
        for id in [1, 2, 3] {
            Async::execute(bump!(id), &mut c).await.unwrap();
            Async::execute(diesel::sql_query("SELECT 2"), &mut c)
                .await
                .unwrap();
        }
        assert_eq!(
            cached.count("UPDATE"),
            1,
            "diesel now caches updates by itself"
        );
        assert_eq!(
            cached.count("SELECT 2"),
            0,
            "diesel now caches sql_query by itself"
        );
    }

    #[tokio::test]
    async fn a_kept_statement_is_prepared_once_on_postgres() {
        use diesel_async::RunQueryDsl as Async;
        use diesel_async::{AsyncConnection, SimpleAsyncConnection};
        let Some(db) = crate::testing::TestDatabase::postgres().await else {
            return;
        };
        let mut c = diesel_async::AsyncPgConnection::establish(db.url())
            .await
            .unwrap();
        c.batch_execute(SITES).await.unwrap();
        let cached = CachedStatements::default();
        c.set_instrumentation(cached.clone());
        for id in [1, 2, 3] {
            Async::execute(bump!(id).keep_prepared(), &mut c)
                .await
                .unwrap();
            Async::execute(diesel::sql_query("SELECT 1").keep_prepared(), &mut c)
                .await
                .unwrap();
        }
        assert_eq!(cached.count("UPDATE"), 1);
        assert_eq!(cached.count("SELECT 1"), 1);
        for id in [1, 2, 3] {
            Async::execute(bump!(id), &mut c).await.unwrap();
        }
        assert_eq!(
            cached.count("UPDATE"),
            1,
            "diesel now caches updates by itself"
        );
    }
}
