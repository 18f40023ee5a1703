//! Diesel table definitions, shared by both backends (see `migrations/`).
#![allow(missing_docs)]

diesel::table! {
    settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    sites (id) {
        id -> BigInt,
        slug -> Text,
        name -> Text,
        plan -> Text,
        api_access -> Bool,
        created_at -> Timestamp,
        content_version -> BigInt,
    }
}

diesel::table! {
    site_cors_origins (site_id, origin) {
        site_id -> BigInt,
        origin -> Text,
    }
}

diesel::table! {
    pull_keys (id) {
        id -> BigInt,
        site_id -> BigInt,
        key_hash -> Binary,
        webhook_secret -> Binary,
        created_at -> Timestamp,
        valid_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        site_id -> BigInt,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        site_id -> BigInt,
        user_id -> BigInt,
        public_id -> Text,
        family -> Text,
        secret_hash -> Binary,
        name -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        site_id -> BigInt,
        user_id -> BigInt,
        api_key_id -> Nullable<BigInt>,
        family -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> BigInt,
        session_id -> BigInt,
        token_hash -> Binary,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    posts (id) {
        id -> BigInt,
        site_id -> BigInt,
        author_id -> BigInt,
        title -> Text,
        title_key -> Text,
        slug -> Text,
        excerpt -> Nullable<Text>,
        body -> Nullable<Text>,
        status -> Text,
        tags -> Text,
        published_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        publish_announced -> Bool,
        body_json -> Nullable<Text>,
    }
}

diesel::table! {
    post_tags (post_id, tag) {
        post_id -> BigInt,
        site_id -> BigInt,
        tag -> Text,
    }
}

diesel::table! {
    media (id) {
        id -> BigInt,
        site_id -> BigInt,
        author_id -> BigInt,
        filename -> Text,
        mime_type -> Text,
        size_bytes -> BigInt,
        sha256 -> Text,
        width -> Nullable<Integer>,
        height -> Nullable<Integer>,
        alt_text -> Nullable<Text>,
        storage_key -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        // NOT NULL on PostgreSQL; on SQLite (which cannot add a NOT NULL column without a
        // default) every row is given one by the migration and by every insert.
        public_token -> Text,
    }
}

diesel::table! {
    idempotency_keys (id) {
        id -> BigInt,
        site_id -> BigInt,
        user_id -> BigInt,
        idem_key -> Text,
        fingerprint -> Binary,
        status -> Nullable<Integer>,
        response -> Nullable<Text>,
        created_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        attempt -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        site_id -> BigInt,
        #[sql_name = "type"]
        event_type -> Text,
        actor_user_id -> Nullable<BigInt>,
        actor_family -> Text,
        actor_key_id -> Nullable<Text>,
        subject_kind -> Text,
        subject_id -> BigInt,
        request_id -> Nullable<Text>,
        occurred_at -> Timestamp,
    }
}

diesel::table! {
    webhooks (id) {
        id -> BigInt,
        site_id -> BigInt,
        url -> Text,
        events -> Text,
        enabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_fanout (id) {
        id -> BigInt,
        site_id -> BigInt,
        event_ids -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        site_id -> BigInt,
        webhook_id -> BigInt,
        event_id -> Nullable<BigInt>,
        #[sql_name = "type"]
        event_type -> Text,
        payload -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        last_response -> Nullable<Text>,
        next_attempt_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(users -> sites (site_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(posts -> sites (site_id));
diesel::joinable!(media -> sites (site_id));
diesel::joinable!(site_cors_origins -> sites (site_id));
diesel::joinable!(pull_keys -> sites (site_id));
diesel::joinable!(events -> sites (site_id));
diesel::joinable!(webhooks -> sites (site_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhook_deliveries -> events (event_id));

diesel::allow_tables_to_appear_in_same_query!(
    settings,
    sites,
    site_cors_origins,
    pull_keys,
    users,
    api_keys,
    sessions,
    refresh_tokens,
    posts,
    post_tags,
    media,
    idempotency_keys,
    events,
    webhooks,
    webhook_deliveries,
    webhook_fanout,
);
