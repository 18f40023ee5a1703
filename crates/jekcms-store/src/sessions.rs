//! [`SessionStore`] for both backends: sessions, refresh-token rotation, and the principal
//! lookup done on every authenticated request.

use crate::load::LoadAll;
use crate::schema::{api_keys, refresh_tokens, sessions, sites, users};
use crate::sql::{KeepPreparedExt, LimitLiteral};
use crate::stored_time::StoredTime;
use crate::{Store, StoreError, naive, utc, with_conn, with_write_conn, with_write_txn};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Binary, Bool, Nullable, Text, Timestamp};
use diesel_async::RunQueryDsl;
use jekcms_auth::session::{
    KeyHolder, NewSession, Principal, Rotation, SessionFamily, SessionStore, StoreFailure,
    StoredKey,
};
use jekcms_auth::{Plan, SecretHash};

type KeyRow = (
    i64,
    String,
    i64,
    i64,
    String,
    Vec<u8>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

/// The columns of a [`KeyRow`].
const KEY_COLUMNS: (
    api_keys::id,
    api_keys::public_id,
    api_keys::site_id,
    api_keys::user_id,
    api_keys::family,
    api_keys::secret_hash,
    api_keys::expires_at,
    api_keys::revoked_at,
) = (
    api_keys::id,
    api_keys::public_id,
    api_keys::site_id,
    api_keys::user_id,
    api_keys::family,
    api_keys::secret_hash,
    api_keys::expires_at,
    api_keys::revoked_at,
);

/// A key row as the auth crate sees it.
fn stored_key(row: KeyRow) -> Result<StoredKey, StoreFailure> {
    let (id, public_id, site_id, user_id, family, hash, expires_at, revoked_at) = row;
    let secret_hash = SecretHash::from_slice(&hash).ok_or_else(|| {
        StoreFailure::Internal(format!("api key {id} has a malformed hash").into())
    })?;
    Ok(StoredKey {
        id,
        public_id,
        site_id,
        user_id,
        family,
        secret_hash,
        expires_at: expires_at.map(utc),
        revoked_at: revoked_at.map(utc),
    })
}

pub(crate) type PrincipalRow = (
    (i64, Option<i64>, String, StoredTime, Option<StoredTime>),
    (i64, String, String, String),
    (i64, String, String, bool, String, i64),
    Option<(String, Option<StoredTime>, Option<StoredTime>)>,
);

/// The session check's one statement: session `$session_id` with its user, site and key.
/// A macro so that the same query serves both backends and the pipelined check
/// (`session_check.rs`), whose statement must be the one prepared when the connection opened.
macro_rules! principal_query {
    ($session_id:expr) => {
        sessions::table
            .inner_join(users::table.on(users::id.eq(sessions::user_id)))
            .inner_join(sites::table.on(sites::id.eq(sessions::site_id)))
            .left_join(api_keys::table.on(api_keys::id.nullable().eq(sessions::api_key_id)))
            .filter(sessions::id.eq($session_id))
            .select((
                (
                    sessions::id,
                    sessions::api_key_id,
                    sessions::family,
                    sessions::expires_at,
                    sessions::revoked_at,
                ),
                (users::id, users::name, users::email, users::role),
                (
                    sites::id,
                    sites::slug,
                    sites::name,
                    sites::api_access,
                    sites::plan,
                    sites::content_version,
                ),
                (
                    api_keys::public_id,
                    api_keys::expires_at,
                    api_keys::revoked_at,
                )
                    .nullable(),
            ))
            .limit_literal(1)
    };
}

/// What the lookup of a key by its secret's hash reads: the key, and its user's role with
/// the site's license, id and plan.
pub(crate) type KeyBySecretRow = (KeyRow, (String, bool, i64, String));

/// The lookup of a key by its secret's hash (an `mcp_` token's check). A macro so that the
/// same query serves both backends and the pipelined check (`session_check.rs`), whose
/// statement must be the one prepared when the connection opened.
macro_rules! key_by_secret_query {
    ($hash:expr) => {
        api_keys::table
            .inner_join(users::table.on(users::id.eq(api_keys::user_id)))
            .inner_join(sites::table.on(sites::id.eq(users::site_id)))
            .filter(api_keys::secret_hash.eq($hash))
            .select((
                KEY_COLUMNS,
                (users::role, sites::api_access, sites::id, sites::plan),
            ))
            .limit_literal(1)
    };
}

impl SessionStore for Store {
    fn find_api_key(
        &self,
        public_id: &str,
    ) -> impl Future<Output = Result<Option<(StoredKey, Option<KeyHolder>)>, StoreFailure>> + Send
    {
        let public_id = public_id.to_owned();
        crate::boxed::<Result<Option<(StoredKey, Option<KeyHolder>)>, StoreFailure>>(async move {
            let public_id: &str = &public_id;
            let row: Option<(KeyRow, (String, bool, i64, String))> = with_conn!(self, conn => {
                api_keys::table
                    .inner_join(users::table.on(users::id.eq(api_keys::user_id)))
                    .inner_join(sites::table.on(sites::id.eq(users::site_id)))
                    .filter(api_keys::public_id.eq(public_id))
                    .select((KEY_COLUMNS, (users::role, sites::api_access, sites::id, sites::plan)))
                    .limit_literal(1).get_result::<(KeyRow, (String, bool, i64, String))>(conn)
                    .await
                    .optional()
                    .map_err(StoreError::from)?
            });
            let Some((key, (role, site_api_access, site_id, plan))) = row else {
                return Ok(None);
            };
            let site_plan = stored_plan(site_id, &plan)?;
            let holder = role.parse().ok().map(|role| KeyHolder {
                role,
                site_api_access,
                site_plan,
            });
            Ok(Some((stored_key(key)?, holder)))
        })
    }

    fn find_key_by_secret(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<(StoredKey, KeyHolder)>, StoreFailure>> + Send {
        let hash = hash.as_bytes().to_vec();
        crate::boxed::<Result<Option<(StoredKey, KeyHolder)>, StoreFailure>>(async move {
            let hash: &[u8] = &hash;
            let row: Option<KeyBySecretRow> = match &self.db {
                crate::Db::Pg(pool) => {
                    let conn = pool.get().await.map_err(StoreError::pool)?;
                    key_by_secret_row_pg(&conn, hash)
                        .await
                        .map_err(StoreError::from)?
                }
                crate::Db::Sqlite { .. } => with_conn!(self, conn => {
                    key_by_secret_query!(hash)
                        .get_result::<KeyBySecretRow>(conn)
                        .await
                        .optional()
                        .map_err(StoreError::from)?
                }),
            };
            key_by_secret_of(row)
        })
    }

    fn open_session(
        &self,
        s: NewSession,
    ) -> impl Future<Output = Result<i64, StoreFailure>> + Send {
        crate::boxed::<Result<i64, StoreFailure>>(async move {
            let hash = s.refresh_hash.as_bytes().to_vec();
            let id = match &self.db {
                // One statement, atomic by itself: a key exchange or a login is one round
                // trip here instead of four (`BEGIN`, two inserts, `COMMIT`), and the key's
                // touch rides along.
                crate::Db::Pg(pool) => {
                    let mut conn = pool.get().await.map_err(StoreError::pool)?;
                    OpenSession::new(&s, hash)
                        .get_result::<i64>(&mut *conn)
                        .await
                        .map_err(StoreError::from)?
                }
                crate::Db::Sqlite { .. } => with_write_txn!(self, i64, conn => {
                    if let Some(key_id) = s.api_key_id {
                        diesel::update(api_keys::table.filter(api_keys::id.eq(key_id)))
                            .set(api_keys::last_used_at.eq(naive(s.created_at)))
                            .keep_prepared()
                            .execute(conn)
                            .await?;
                    }
                    let id = diesel::insert_into(sessions::table)
                        .values((
                            sessions::site_id.eq(s.site_id),
                            sessions::user_id.eq(s.user_id),
                            sessions::api_key_id.eq(s.api_key_id),
                            sessions::family.eq(s.family.as_str()),
                            sessions::created_at.eq(naive(s.created_at)),
                            sessions::expires_at.eq(naive(s.expires_at)),
                        ))
                        .returning(sessions::id)
                        .get_result::<i64>(conn)
                        .await?;
                    diesel::insert_into(refresh_tokens::table)
                        .values((
                            refresh_tokens::session_id.eq(id),
                            refresh_tokens::token_hash.eq(&hash),
                            refresh_tokens::created_at.eq(naive(s.created_at)),
                            refresh_tokens::expires_at.eq(naive(s.expires_at)),
                        ))
                        .execute(conn)
                        .await?;
                    Ok(id)
                })?,
            };
            Ok(id)
        })
    }

    fn rotate_refresh(
        &self,
        presented: &SecretHash,
        replacement: &SecretHash,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> impl Future<Output = Result<Rotation, StoreFailure>> + Send {
        let presented = presented.as_bytes().to_vec();
        let replacement = replacement.as_bytes().to_vec();
        crate::boxed::<Result<Rotation, StoreFailure>>(async move {
            let now_n = naive(now);
            let outcome = with_write_txn!(self, Rotation, conn => {
                // Claim the token first: the write takes the lock, so of two concurrent
                // refreshes exactly one sees `used_at IS NULL` and wins.
                let claimed = diesel::update(
                    refresh_tokens::table
                        .filter(refresh_tokens::token_hash.eq(&presented))
                        .filter(refresh_tokens::used_at.is_null())
                        .filter(refresh_tokens::expires_at.gt(now_n)),
                )
                .set(refresh_tokens::used_at.eq(now_n))
                .returning(refresh_tokens::session_id)
                .keep_prepared()
                .get_result::<i64>(conn)
                .await
                .optional()?;
                if let Some(session_id) = claimed {
                    let session = sessions::table
                        .filter(sessions::id.eq(session_id))
                        .select((sessions::user_id, sessions::site_id, sessions::expires_at, sessions::revoked_at))
                        .limit_literal(1).get_result::<(i64, i64, NaiveDateTime, Option<NaiveDateTime>)>(conn)
                        .await?;
                    let (user_id, site_id, expires_at, revoked_at) = session;
                    if revoked_at.is_some() || expires_at <= now_n {
                        return Ok(Rotation::Refused);
                    }
                    diesel::insert_into(refresh_tokens::table)
                        .values((
                            refresh_tokens::session_id.eq(session_id),
                            refresh_tokens::token_hash.eq(&replacement),
                            refresh_tokens::created_at.eq(now_n),
                            refresh_tokens::expires_at.eq(expires_at),
                        ))
                        .execute(conn)
                        .await?;
                    return Ok(Rotation::Rotated {
                        session_id,
                        user_id,
                        site_id,
                        session_expires_at: utc(expires_at),
                    });
                }
                let known = refresh_tokens::table
                    .filter(refresh_tokens::token_hash.eq(&presented))
                    .select((refresh_tokens::session_id, refresh_tokens::used_at))
                    .limit_literal(1).get_result::<(i64, Option<NaiveDateTime>)>(conn)
                    .await
                    .optional()?;
                match known {
                    Some((session_id, Some(used_at))) => {
                        if now_n - used_at <= grace {
                            Ok(Rotation::ReusedWithinGrace)
                        } else {
                            diesel::update(
                                sessions::table
                                    .filter(sessions::id.eq(session_id))
                                    .filter(sessions::revoked_at.is_null()),
                            )
                            .set(sessions::revoked_at.eq(now_n))
                            .keep_prepared()
                            .execute(conn)
                            .await?;
                            Ok(Rotation::ReuseDetected)
                        }
                    }
                    _ => Ok(Rotation::Refused),
                }
            })?;
            Ok(outcome)
        })
    }

    fn revoke_by_refresh(
        &self,
        presented: &SecretHash,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreFailure>> + Send {
        let presented = presented.as_bytes().to_vec();
        crate::boxed::<Result<(), StoreFailure>>(async move {
            with_write_conn!(self, conn => {
                let session = refresh_tokens::table
                    .filter(refresh_tokens::token_hash.eq(&presented))
                    .select(refresh_tokens::session_id);
                diesel::update(
                    sessions::table
                        .filter(sessions::id.eq_any(session))
                        .filter(sessions::revoked_at.is_null()),
                )
                .set(sessions::revoked_at.eq(naive(now)))
                .keep_prepared()
                .execute(conn)
                .await
                .map_err(StoreError::from)?;
            });
            Ok(())
        })
    }

    fn principal(
        &self,
        session_id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Principal>, StoreFailure>> + Send {
        crate::boxed::<Result<Option<Principal>, StoreFailure>>(async move {
            let rows: Vec<PrincipalRow> = match &self.db {
                crate::Db::Pg(pool) => {
                    let conn = pool.get().await.map_err(StoreError::pool)?;
                    principal_rows_pg(&conn, session_id)
                        .await
                        .map_err(StoreError::from)?
                }
                crate::Db::Sqlite { .. } => with_conn!(self, conn => {
                    conn.load_all(principal_query!(session_id)).await.map_err(StoreError::from)?
                }),
            };
            principal_of(rows, now)
        })
    }
}

/// The key and its holder of a [`key_by_secret_query`] row; `None` when there is no such
/// key, or its user's role is not one this build knows.
pub(crate) fn key_by_secret_of(
    row: Option<KeyBySecretRow>,
) -> Result<Option<(StoredKey, KeyHolder)>, StoreFailure> {
    let Some((key, (role, site_api_access, site_id, plan))) = row else {
        return Ok(None);
    };
    let Ok(role) = role.parse() else {
        return Ok(None);
    };
    let holder = KeyHolder {
        role,
        site_api_access,
        site_plan: stored_plan(site_id, &plan)?,
    };
    Ok(Some((stored_key(key)?, holder)))
}

/// The lookup of a key by its secret's hash on a shared PostgreSQL connection, so that it
/// can be pipelined with another query on the same connection.
pub(crate) async fn key_by_secret_row_pg(
    conn: &diesel_async::AsyncPgConnection,
    hash: &[u8],
) -> QueryResult<Option<KeyBySecretRow>> {
    let mut shared = conn;
    KeyBySecretPg {
        hash: hash.to_vec(),
    }
    .get_result::<KeyBySecretRow>(&mut shared)
    .await
    .optional()
}

/// The SQL types of a [`KeyBySecretRow`].
type KeyBySecretSqlType = (
    (
        BigInt,
        Text,
        BigInt,
        BigInt,
        Text,
        Binary,
        Nullable<Timestamp>,
        Nullable<Timestamp>,
    ),
    (Text, Bool, BigInt, Text),
);

crate::sql::prebuilt_pg! {
    /// [`key_by_secret_query`] on PostgreSQL, its SQL text written once.
    struct KeyBySecretPg(hash: Vec<u8> as Binary) -> KeyBySecretSqlType = key_by_secret_query!(&[][..]);
}

/// Prepares the key lookup's statement on a new PostgreSQL connection (as
/// [`prepare_session_check`] does the session check's).
pub(crate) async fn prepare_key_check(
    conn: &mut diesel_async::AsyncPgConnection,
) -> QueryResult<()> {
    key_by_secret_row_pg(conn, &[]).await.map(drop)
}

/// The SQL types of a [`PrincipalRow`].
type PrincipalSqlType = (
    (
        BigInt,
        Nullable<BigInt>,
        Text,
        Timestamp,
        Nullable<Timestamp>,
    ),
    (BigInt, Text, Text, Text),
    (BigInt, Text, Text, Bool, Text, BigInt),
    Nullable<(Text, Nullable<Timestamp>, Nullable<Timestamp>)>,
);

crate::sql::prebuilt_pg! {
    /// [`principal_query`] on PostgreSQL, its SQL text written once.
    struct PrincipalCheckPg(session_id: i64 as BigInt) -> PrincipalSqlType = principal_query!(0_i64);
}

/// The session check on a shared PostgreSQL connection, so that it can be pipelined with
/// another query on the same connection.
pub(crate) async fn principal_rows_pg(
    conn: &diesel_async::AsyncPgConnection,
    session_id: i64,
) -> QueryResult<Vec<PrincipalRow>> {
    let mut shared = conn;
    PrincipalCheckPg { session_id }
        .load::<PrincipalRow>(&mut shared)
        .await
}

/// Prepares the session check's statement on a new PostgreSQL connection, so that a
/// pipelined check is always sent whole before the query it rides with (an unprepared one
/// would first wait for its `Parse`, and the other query would overtake it).
pub(crate) async fn prepare_session_check(
    conn: &mut diesel_async::AsyncPgConnection,
) -> QueryResult<()> {
    principal_rows_pg(conn, 0).await.map(drop)
}

/// The principal of the session check's rows at `now`: `None` when the session is gone,
/// revoked or expired, or its key revoked or expired.
pub(crate) fn principal_of(
    rows: Vec<PrincipalRow>,
    now: DateTime<Utc>,
) -> Result<Option<Principal>, StoreFailure> {
    let Some((session, user, site, key)) = rows.into_iter().next() else {
        return Ok(None);
    };
    let now = naive(now);
    let (session_id, api_key_id, family, expires_at, revoked_at) = session;
    if revoked_at.is_some() || expires_at.0 <= now {
        return Ok(None);
    }
    let key_public_id = match key {
        Some((_, _, Some(_))) => return Ok(None),
        Some((_, Some(exp), _)) if exp.0 <= now => return Ok(None),
        Some((public_id, _, _)) => Some(public_id),
        None => None,
    };
    let family = match family.as_str() {
        "api" => SessionFamily::Api,
        _ => SessionFamily::Password,
    };
    let (user_id, user_name, user_email, role) = user;
    let Ok(role) = role.parse() else {
        return Ok(None);
    };
    let (site_id, site_slug, site_name, site_api_access, plan, site_content_version) = site;
    let site_plan = stored_plan(site_id, &plan)?;
    Ok(Some(Principal {
        session_id,
        family,
        key_public_id,
        api_key_id,
        user_id,
        user_name,
        user_email,
        role,
        site_id,
        site_slug,
        site_name,
        site_api_access,
        site_plan,
        site_content_version,
    }))
}

/// PostgreSQL's [`SessionStore::open_session`] as one statement: the key's touch (none
/// for a password session: `id = NULL` matches nothing), the session, and its first refresh
/// token. A query type with a static id, so that it is prepared once per connection (a
/// `sql_query` would be parsed on every call).
struct OpenSession {
    key_id: Option<i64>,
    site_id: i64,
    user_id: i64,
    family: &'static str,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    refresh_hash: Vec<u8>,
}

impl OpenSession {
    fn new(s: &NewSession, refresh_hash: Vec<u8>) -> Self {
        Self {
            key_id: s.api_key_id,
            site_id: s.site_id,
            user_id: s.user_id,
            family: s.family.as_str(),
            created_at: naive(s.created_at),
            expires_at: naive(s.expires_at),
            refresh_hash,
        }
    }
}

impl QueryId for OpenSession {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for OpenSession {
    type SqlType = BigInt;
}

impl QueryFragment<Pg> for OpenSession {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH touched AS (UPDATE api_keys SET last_used_at = ");
        out.push_bind_param::<Timestamp, _>(&self.created_at)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<Nullable<BigInt>, _>(&self.key_id)?;
        out.push_sql(
            "), opened AS (INSERT INTO sessions \
             (site_id, user_id, api_key_id, family, created_at, expires_at) VALUES (",
        );
        out.push_bind_param::<BigInt, _>(&self.site_id)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&self.key_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, str>(self.family)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.expires_at)?;
        out.push_sql(
            ") RETURNING id) INSERT INTO refresh_tokens \
             (session_id, token_hash, created_at, expires_at) SELECT id, ",
        );
        out.push_bind_param::<Binary, _>(&self.refresh_hash)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.expires_at)?;
        out.push_sql(" FROM opened RETURNING session_id");
        Ok(())
    }
}

/// A site's stored plan; anything else is a corrupt row (the migration set every old value
/// to `unlimited`, and the store writes only [`Plan::as_str`]).
fn stored_plan(site_id: i64, plan: &str) -> Result<Plan, StoreFailure> {
    plan.parse()
        .map_err(|_| StoreFailure::Internal(format!("site {site_id} has an unknown plan").into()))
}
