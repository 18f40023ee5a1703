//! The columns of users and keys as read and written, and how a row becomes a [`User`] or
//! an [`ApiKey`].

use crate::{StoreError, utc};
use chrono::NaiveDateTime;
use jekcms_accounts::{ApiKey, User};

pub(super) type UserTuple = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    NaiveDateTime,
    NaiveDateTime,
);

/// The columns of [`UserTuple`].
macro_rules! user_columns {
    () => {
        (
            users::id,
            users::site_id,
            users::email,
            users::name,
            users::role,
            users::password_hash,
            users::created_at,
            users::updated_at,
        )
    };
}

/// Inserts a [`NewUser`] into a site; evaluates to the new row as a [`UserTuple`].
macro_rules! insert_user {
    ($conn:expr, $site_id:expr, $user:expr, $now:expr) => {{
        let user: &NewUser = $user;
        diesel::insert_into(users::table)
            .values((
                users::site_id.eq($site_id),
                users::email.eq(&user.email),
                users::name.eq(&user.name),
                users::role.eq(user.role.as_str()),
                users::password_hash.eq(&user.password_hash),
                users::created_at.eq($now),
                users::updated_at.eq($now),
            ))
            .returning(user_columns!())
            .get_result::<UserTuple>($conn)
            .await
    }};
}

pub(super) fn user_from(row: UserTuple) -> Result<(User, Option<String>), StoreError> {
    let (id, site_id, email, name, role, password_hash, created_at, updated_at) = row;
    let role = role
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("user {id} has an unknown role")))?;
    Ok((
        User {
            id,
            site_id,
            name,
            email,
            role,
            has_password: password_hash.is_some(),
            created_at: utc(created_at),
            updated_at: utc(updated_at),
        },
        password_hash,
    ))
}

pub(super) type KeyTuple = (
    i64,
    String,
    String,
    String,
    i64,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

macro_rules! key_columns {
    () => {
        (
            api_keys::id,
            api_keys::public_id,
            api_keys::name,
            api_keys::family,
            api_keys::user_id,
            api_keys::created_at,
            api_keys::last_used_at,
            api_keys::expires_at,
            api_keys::revoked_at,
        )
    };
}

pub(super) fn key_from(row: KeyTuple) -> ApiKey {
    let (id, key_id, name, family, user_id, created_at, last_used_at, expires_at, revoked_at) = row;
    ApiKey {
        id,
        key_id,
        name,
        family,
        user_id,
        created_at: utc(created_at),
        last_used_at: last_used_at.map(utc),
        expires_at: expires_at.map(utc),
        revoked_at: revoked_at.map(utc),
    }
}

/// Inside a write transaction: serialises changes to one site's users (PostgreSQL takes
/// the site row's lock; SQLite's writer is exclusive already), then refuses with
/// `LastOwner` if `user_id` is the site's only owner.
macro_rules! keep_an_owner {
    ($conn:expr, $site_id:expr, $user_id:expr) => {{
        diesel::update(sites::table.filter(sites::id.eq($site_id)))
            .set(sites::id.eq(sites::id))
            .execute($conn)
            .await?;
        let owners: Vec<i64> = users::table
            .filter(users::site_id.eq($site_id))
            .filter(users::role.eq(Role::Owner.as_str()))
            .select(users::id)
            .limit_literal(2)
            .load($conn)
            .await?;
        if owners == [$user_id] {
            return Err(StoreError::LastOwner);
        }
    }};
}

pub(super) use {insert_user, keep_an_owner, key_columns, user_columns};

#[cfg(test)]
mod tests {
    use crate::StoreError;

    /// A role no version of JekCMS writes is a corrupt row, not a configuration problem.
    #[test]
    fn an_unknown_stored_role_is_a_corrupt_row() {
        let now = chrono::Utc::now().naive_utc();
        let row = (
            7,
            1,
            "a@example.com".to_owned(),
            "A".to_owned(),
            "emperor".to_owned(),
            None,
            now,
            now,
        );
        match super::user_from(row) {
            Err(StoreError::Corrupt(m)) => assert_eq!(m, "user 7 has an unknown role"),
            other => panic!("{other:?}"),
        }
    }
}
