//! [`IdempotencyStore`] for both backends: the `idempotency_keys` table, whose unique
//! index on (site, user, key) is the claim that only one request can win, and
//! [`record_response!`], which stores a response inside the transaction of the work.

use crate::schema::idempotency_keys as ik;
use crate::sql::{KeepPreparedExt, LimitLiteral};
use crate::{Store, StoreError, naive, with_write_conn, with_write_txn};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jekcms_content::ContentError;
use jekcms_content::idempotency::{
    Claim, Fingerprint, IdempotencyStore, Scope, StoredResponse, Ticket,
};
use std::future::Future;

type Row = (
    Vec<u8>,
    Option<i32>,
    Option<String>,
    Option<NaiveDateTime>,
    i64,
);

/// What a claim found, before the stored response is parsed.
enum Found {
    Claim(Claim),
    Done(i32, String),
}

/// The claimed row of a [`Ticket`] that still holds it (same attempt, no response yet).
macro_rules! held {
    ($ticket:expr) => {
        $crate::schema::idempotency_keys::table
            .filter($crate::schema::idempotency_keys::site_id.eq($ticket.scope.site_id))
            .filter($crate::schema::idempotency_keys::user_id.eq($ticket.scope.user_id))
            .filter($crate::schema::idempotency_keys::idem_key.eq($ticket.key.as_str()))
            .filter($crate::schema::idempotency_keys::attempt.eq($ticket.attempt))
            .filter($crate::schema::idempotency_keys::status.is_null())
    };
}

/// Inside a write transaction on `$conn`: stores the response `$record` (an
/// `Option<Record<T>>`) renders from `$created` on the claimed row, or fails the transaction
/// with [`StoreError::ClaimLost`] when the claim was taken over, so that the work rolls back.
macro_rules! record_response {
    ($conn:ident, $record:expr, $created:expr) => {
        if let Some(record) = $record
            && let Some(response) = record.response($created)
        {
            let ticket = record.ticket();
            let body = response.body.to_string();
            let stored = $crate::sql::KeepPreparedExt::keep_prepared(
                diesel::update($crate::idempotency::held!(ticket)).set((
                    $crate::schema::idempotency_keys::status.eq(i32::from(response.status)),
                    $crate::schema::idempotency_keys::response.eq(&body),
                )),
            )
            .execute($conn)
            .await?;
            if stored != 1 {
                return Err($crate::StoreError::ClaimLost);
            }
        }
    };
}
pub(crate) use {held, record_response};

impl IdempotencyStore for Store {
    fn claim(
        &self,
        scope: Scope,
        key: &str,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        expired_before: DateTime<Utc>,
    ) -> impl Future<Output = Result<Claim, ContentError>> + Send {
        let key = key.to_owned();
        let fp = fingerprint.as_bytes().to_vec();
        crate::boxed::<Result<Claim, ContentError>>(async move {
            let key: &str = &key;
            let (now, lease_until) = (naive(now), naive(lease_until));
            let found = with_write_txn!(self, Found, conn => {
                // Lazy expiry: a range scan of the created_at index, empty most of the time.
                diesel::delete(ik::table.filter(ik::created_at.lt(naive(expired_before))))
                    .execute(conn)
                    .await?;
                let inserted = diesel::insert_into(ik::table)
                    .values((
                        ik::site_id.eq(scope.site_id),
                        ik::user_id.eq(scope.user_id),
                        ik::idem_key.eq(key),
                        ik::fingerprint.eq(&fp),
                        ik::created_at.eq(now),
                        ik::lease_until.eq(Some(lease_until)),
                        ik::attempt.eq(1),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                if inserted == 1 {
                    return Ok(Found::Claim(Claim::Won(1)));
                }
                let mine = ik::table
                    .filter(ik::site_id.eq(scope.site_id))
                    .filter(ik::user_id.eq(scope.user_id))
                    .filter(ik::idem_key.eq(key));
                let Some((stored_fp, status, response, lease, attempt)) = mine
                    .select((ik::fingerprint, ik::status, ik::response, ik::lease_until, ik::attempt))
                    .limit_literal(1)
                    .get_result::<Row>(conn)
                    .await
                    .optional()?
                else {
                    // Released between the insert and this read (PostgreSQL): look again.
                    return Ok(Found::Claim(Claim::Running));
                };
                if stored_fp != fp {
                    return Ok(Found::Claim(Claim::Mismatch));
                }
                if let (Some(status), Some(body)) = (status, response) {
                    return Ok(Found::Done(status, body));
                }
                if lease.is_some_and(|l| l > now) {
                    return Ok(Found::Claim(Claim::Running));
                }
                // The request holding the claim died (or outlived its lease): take it over,
                // unless another retry just did (compare-and-set on the attempt).
                let taken = diesel::update(mine.filter(ik::attempt.eq(attempt)).filter(ik::status.is_null()))
                    .set((
                        ik::attempt.eq(attempt + 1),
                        ik::lease_until.eq(Some(lease_until)),
                        ik::created_at.eq(now),
                    ))
                    .keep_prepared()
                    .execute(conn)
                    .await?;
                Ok(Found::Claim(if taken == 1 { Claim::Won(attempt + 1) } else { Claim::Running }))
            })?;
            match found {
                Found::Claim(claim) => Ok(claim),
                Found::Done(status, body) => {
                    let body = serde_json::from_str(&body).map_err(ContentError::internal)?;
                    let status = u16::try_from(status).map_err(ContentError::internal)?;
                    Ok(Claim::Done(StoredResponse { status, body }))
                }
            }
        })
    }

    fn complete(
        &self,
        ticket: &Ticket,
        response: &StoredResponse,
    ) -> impl Future<Output = Result<(), ContentError>> + Send {
        let ticket = ticket.clone();
        // Serialized here, so the future owns the text instead of a copy of the response.
        let body = response.body.to_string();
        let status = i32::from(response.status);
        crate::boxed::<Result<(), ContentError>>(async move {
            with_write_conn!(self, conn => {
                diesel::update(held!(ticket))
                    .set((ik::status.eq(status), ik::response.eq(&body)))
                    .keep_prepared()
                    .execute(conn)
                    .await
                    .map_err(StoreError::from)?;
            });
            Ok(())
        })
    }

    fn release(&self, ticket: &Ticket) -> impl Future<Output = Result<(), ContentError>> + Send {
        let ticket = ticket.clone();
        crate::boxed::<Result<(), ContentError>>(async move {
            with_write_conn!(self, conn => {
                diesel::delete(held!(ticket))
                    .execute(conn)
                    .await
                    .map_err(StoreError::from)?;
            });
            Ok(())
        })
    }
}
