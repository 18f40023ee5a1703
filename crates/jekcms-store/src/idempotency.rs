//! [`IdempotencyStore`] for both backends: the `idempotency_keys` table, whose unique
//! index on (site, user, key) is the claim that only one request can win.

use crate::schema::idempotency_keys as ik;
use crate::sql::LimitLiteral;
use crate::{Store, StoreError, naive, with_write_conn, with_write_txn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jekcms_content::ContentError;
use jekcms_content::idempotency::{Claim, Fingerprint, IdempotencyStore, Scope, StoredResponse};
use std::future::Future;

type Row = (Vec<u8>, Option<i32>, Option<String>);

impl IdempotencyStore for Store {
    fn claim(
        &self,
        scope: Scope,
        key: &str,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
        expired_before: DateTime<Utc>,
    ) -> impl Future<Output = Result<Claim, ContentError>> + Send {
        let key = key.to_owned();
        let fp = fingerprint.as_bytes().to_vec();
        crate::boxed::<Result<Claim, ContentError>>(async move {
            let key: &str = &key;
            let row = with_write_txn!(self, Option<Row>, conn => {
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
                        ik::created_at.eq(naive(now)),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                if inserted == 1 {
                    return Ok(None);
                }
                let row = ik::table
                    .filter(ik::site_id.eq(scope.site_id))
                    .filter(ik::user_id.eq(scope.user_id))
                    .filter(ik::idem_key.eq(key))
                    .select((ik::fingerprint, ik::status, ik::response))
                    .limit_literal(1).get_result::<Row>(conn)
                    .await?;
                Ok(Some(row))
            })?;
            let Some((stored_fp, status, response)) = row else {
                return Ok(Claim::Won);
            };
            if stored_fp != fp {
                return Ok(Claim::Mismatch);
            }
            match (status, response) {
                (Some(status), Some(body)) => {
                    let body = serde_json::from_str(&body).map_err(ContentError::internal)?;
                    let status = u16::try_from(status).map_err(ContentError::internal)?;
                    Ok(Claim::Done(StoredResponse { status, body }))
                }
                _ => Ok(Claim::Running),
            }
        })
    }

    fn complete(
        &self,
        scope: Scope,
        key: &str,
        response: &StoredResponse,
    ) -> impl Future<Output = Result<(), ContentError>> + Send {
        let key = key.to_owned();
        // Serialized here, so the future owns the text instead of a copy of the response.
        let body = response.body.to_string();
        let status = i32::from(response.status);
        crate::boxed::<Result<(), ContentError>>(async move {
            let key: &str = &key;
            with_write_conn!(self, conn => {
                diesel::update(
                    ik::table
                        .filter(ik::site_id.eq(scope.site_id))
                        .filter(ik::user_id.eq(scope.user_id))
                        .filter(ik::idem_key.eq(key)),
                )
                .set((ik::status.eq(status), ik::response.eq(&body)))
                .execute(conn)
                .await
                .map_err(StoreError::from)?;
            });
            Ok(())
        })
    }

    fn release(
        &self,
        scope: Scope,
        key: &str,
    ) -> impl Future<Output = Result<(), ContentError>> + Send {
        let key = key.to_owned();
        crate::boxed::<Result<(), ContentError>>(async move {
            let key: &str = &key;
            with_write_conn!(self, conn => {
                diesel::delete(
                    ik::table
                        .filter(ik::site_id.eq(scope.site_id))
                        .filter(ik::user_id.eq(scope.user_id))
                        .filter(ik::idem_key.eq(key))
                        .filter(ik::status.is_null()),
                )
                .execute(conn)
                .await
                .map_err(StoreError::from)?;
            });
            Ok(())
        })
    }
}
