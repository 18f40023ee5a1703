//! Reading `TIMESTAMP` columns back without chrono's format parser on the hot path.
//!
//! SQLite stores timestamps as text, and diesel reads them by trying its 18 accepted
//! formats in turn with chrono's `parse_from_str`, which interprets the format string on
//! every call: ~2,700 instructions per value, three values per post, 13 % of a list
//! request's instructions. What diesel itself writes (`YYYY-MM-DD HH:MM:SS[.f…]`, format
//! `%F %T%.f`) is parsed here directly; anything else (rows written by other tools) falls
//! back to diesel's reader, so every value diesel accepts is still accepted. PostgreSQL
//! sends binary microseconds and keeps diesel's reader.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::{Pg, PgValue};
use diesel::sql_types::Timestamp;
use diesel::sqlite::{Sqlite, SqliteValue};

/// A timestamp column as read from either store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub(crate) struct StoredTime(pub(crate) NaiveDateTime);

impl FromSql<Timestamp, Sqlite> for StoredTime {
    fn from_sql(mut value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        if let Some(t) = parse_diesel_text(value.read_text()) {
            return Ok(Self(t));
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Self)
    }
}

impl FromSql<Timestamp, Pg> for StoredTime {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Self)
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional `.` and 1–9 fraction digits, exactly as chrono's
/// `%F %T%.f` reads it; `None` for anything else (other forms, leap seconds, out-of-range
/// fields), which the caller hands to diesel's general reader.
fn parse_diesel_text(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let digits = |s: &[u8]| {
        s.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(fraction)? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    // A leap second (`:60`) is chrono's business.
    if second > 59 {
        return None;
    }
    NaiveDate::from_ymd_opt(year as i32, month, day)?.and_hms_nano_opt(hour, minute, second, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chrono_reads(text: &str) -> Option<NaiveDateTime> {
        NaiveDateTime::parse_from_str(text, "%F %T%.f").ok()
    }

    #[test]
    fn reads_what_diesel_writes() {
        for text in [
            "2024-02-29 23:59:59",
            "2024-02-29 23:59:59.5",
            "2024-02-29 23:59:59.123456",
            "2024-02-29 23:59:59.123456789",
            "0000-01-01 00:00:00",
            "9999-12-31 23:59:59.999999999",
        ] {
            assert_eq!(parse_diesel_text(text), chrono_reads(text), "{text}");
            assert!(parse_diesel_text(text).is_some(), "{text}");
        }
    }

    #[test]
    fn leaves_every_other_form_to_diesel() {
        for text in [
            "2024-02-30 00:00:00",            // no such day
            "2024-01-01 24:00:00",            // no such hour
            "2016-12-31 23:59:60",            // leap second
            "2024-01-01T00:00:00",            // ISO 8601 `T`
            "2024-01-01 00:00:00Z",           // with a zone
            "2024-01-01 00:00:00+02:00",      // with an offset
            "2024-01-01 00:00:00.",           // a dot without digits
            "2024-01-01 00:00:00.1234567891", // ten digits
            "2024-01-01 00:00",               // no seconds
            "+2024-01-01 00:00:00",
            "2459580.5", // a julian day number
            "",
            "2024-0a-01 00:00:00",
        ] {
            assert_eq!(parse_diesel_text(text), None, "{text}");
        }
    }

    proptest! {
        /// Whatever diesel writes (chrono's `%F %T%.f`) reads back to the same value.
        #[test]
        fn round_trips_diesel_text(secs in 0i64..253_402_300_800, nanos in 0u32..1_000_000_000, trim in 0u32..4) {
            // Fractions of 0, 3, 6 and 9 digits, as `%.f` writes them.
            let nanos = nanos - nanos % 10u32.pow(3 * trim);
            let t = chrono::DateTime::from_timestamp(secs - 62_167_219_200, nanos).unwrap().naive_utc();
            let text = t.format("%F %T%.f").to_string();
            prop_assert_eq!(parse_diesel_text(&text), Some(t));
        }

        /// Where the fast reader answers, it answers what chrono answers.
        #[test]
        fn agrees_with_chrono(text in "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?") {
            if let Some(t) = parse_diesel_text(&text) {
                prop_assert_eq!(Some(t), chrono_reads(&text));
            }
        }
    }
}
