//! Timestamps in API output, for `#[serde(serialize_with = …)]`.
//!
//! The text is exactly what chrono's own `Serialize` writes for a `DateTime<Utc>` — RFC 3339
//! in UTC with `Z`, and as many fractional digits as the value needs (none, 3, 6 or 9) — but
//! written digit by digit: chrono goes through `core::fmt` for every field, and a page of
//! 20 posts writes 60 timestamps (~8 % of a list request's instructions). Years outside
//! 0–9999 and leap seconds are left to chrono.
//!
//! [`parse`] reads the times clients send, and refuses those outside years 0000–9999 in UTC:
//! RFC 3339 cannot write them, so they would come back as invalid text.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// Reads an RFC 3339 time sent by a client, in UTC. `None` when it is not RFC 3339, or when
/// in UTC it falls outside years 0000–9999 (`0000-01-01T00:00:00+01:00` is in year -1).
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    (0..=9999).contains(&t.year()).then_some(t)
}

/// Serializes a timestamp (see the module documentation).
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match format(t, &mut buf) {
        Some(text) => serializer.serialize_str(text),
        None => t.serialize(serializer),
    }
}

/// Serializes an optional timestamp (`null` when absent).
pub fn serialize_option<S: Serializer>(
    t: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serialize(t, serializer),
        None => serializer.serialize_none(),
    }
}

/// `t` as RFC 3339 text in `buf`, or `None` where chrono must do it.
fn format<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; 30]) -> Option<&'b str> {
    // The fields of the naive time, once: each of `DateTime`'s own accessors converts it to
    // local time again (for `Utc`, an addition of a zero offset with overflow checks).
    let t = t.naive_utc();
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None; // a leap second
    }
    fn put(buf: &mut [u8], at: usize, value: u32, digits: usize) {
        let mut v = value;
        for i in (0..digits).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    put(buf, 0, year, 4);
    buf[4] = b'-';
    put(buf, 5, t.month(), 2);
    buf[7] = b'-';
    put(buf, 8, t.day(), 2);
    buf[10] = b'T';
    put(buf, 11, t.hour(), 2);
    buf[13] = b':';
    put(buf, 14, t.minute(), 2);
    buf[16] = b':';
    put(buf, 17, t.second(), 2);
    let mut end = 19;
    let (fraction, digits) = if nanos == 0 {
        (0, 0)
    } else if nanos.is_multiple_of(1_000_000) {
        (nanos / 1_000_000, 3)
    } else if nanos.is_multiple_of(1_000) {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    if digits > 0 {
        buf[end] = b'.';
        put(buf, end + 1, fraction, digits);
        end += 1 + digits;
    }
    buf[end] = b'Z';
    std::str::from_utf8(&buf[..=end]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[derive(Serialize)]
    struct Ours {
        #[serde(serialize_with = "serialize")]
        t: DateTime<Utc>,
        #[serde(serialize_with = "serialize_option")]
        o: Option<DateTime<Utc>>,
    }

    #[derive(Serialize)]
    struct Chronos {
        t: DateTime<Utc>,
        o: Option<DateTime<Utc>>,
    }

    fn same(t: DateTime<Utc>, o: Option<DateTime<Utc>>) {
        let ours = serde_json::to_string(&Ours { t, o }).unwrap();
        let chronos = serde_json::to_string(&Chronos { t, o }).unwrap();
        assert_eq!(ours, chronos);
    }

    #[test]
    fn writes_what_chrono_writes() {
        let base = Utc.with_ymd_and_hms(2026, 11, 30, 21, 5, 9).unwrap();
        for nanos in [
            0,
            1,
            999,
            1_000,
            120_000,
            123_456,
            1_000_000,
            500_000_000,
            999_999_999,
        ] {
            let t = base + chrono::Duration::nanoseconds(nanos);
            same(t, Some(t));
            same(t, None);
        }
        assert_eq!(
            serde_json::to_string(&Ours { t: base, o: None }).unwrap(),
            r#"{"t":"2026-11-30T21:05:09Z","o":null}"#
        );
    }

    #[test]
    fn years_outside_four_digits_are_left_to_chrono() {
        for year in [-1, 0, 1, 9999, 10000, 262_000] {
            let t = Utc.with_ymd_and_hms(year, 1, 2, 3, 4, 5).unwrap();
            same(t, Some(t));
        }
    }

    #[test]
    fn a_leap_second_is_left_to_chrono() {
        let t = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        same(t, Some(t));
    }

    #[test]
    fn parse_keeps_to_years_rfc_3339_can_write() {
        let at = |s: &str| {
            parse(s).map(|t| serde_json::to_value(Ours { t, o: None }).unwrap()["t"].clone())
        };
        assert_eq!(
            at("2026-11-23T10:00:00+02:00").unwrap(),
            "2026-11-23T08:00:00Z"
        );
        assert_eq!(at("0000-01-01T00:00:00Z").unwrap(), "0000-01-01T00:00:00Z");
        assert_eq!(
            at("9999-12-31T23:59:59.999999Z").unwrap(),
            "9999-12-31T23:59:59.999999Z"
        );
        for outside in [
            "0000-01-01T00:00:00+00:01",
            "9999-12-31T23:59:59-00:01",
            "9999-12-31T23:00:00-23:59",
            "yesterday",
            "",
        ] {
            assert_eq!(parse(outside), None, "{outside}");
        }
    }

    proptest! {
        #[test]
        fn any_time_is_written_as_chrono_writes_it(secs in -62_135_596_800i64..253_402_300_799, nanos in 0u32..1_000_000_000, round in 0u32..4) {
            // Often round values, so that every fraction length occurs.
            let nanos = match round { 0 => nanos, 1 => nanos / 1_000 * 1_000, 2 => nanos / 1_000_000 * 1_000_000, _ => 0 };
            let t = Utc.timestamp_opt(secs, nanos).unwrap();
            same(t, Some(t));
        }
    }
}
