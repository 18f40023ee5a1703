//! One way to page every list (API.md §4), so that the lists to come are built the same way.
//!
//! A list request is parsed once, by [`ListRequest::parse`]: its query parameters are read
//! by [`Params`] (an unknown or repeated one is refused, naming it), `limit` and `cursor`
//! here, and the list's own sort and filters by its [`Listing`]. The binding a cursor is
//! sealed to (the site, then the list's collection, sort and filters) is computed once, and
//! the cursor is opened and sealed here only, under that binding. What a store sees is a
//! [`Window`]: a page size and a typed keyset [`Bound`] whose key already has the list's
//! shape — never a sealed cursor or its wire form. The store fetches one row more than the
//! page ([`Window::fetch`]); [`Window::cut`] makes the page and the bound after its last row.
//!
//! Legacy (v1) lists page by offset instead: [`OffsetPage`].

use crate::FieldError;
use chrono::{DateTime, Utc};
use jekcms_cursor::{Cursor, CursorCodec, SortKey};

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;

/// The query parameters of one request: every name one the endpoint takes, none twice
/// (which of two values would win is not obvious).
#[derive(Debug, Clone, Default)]
pub struct Params<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Params<'a> {
    /// Reads `(name, value)` pairs of an endpoint taking the parameters `known`. Every
    /// unknown or repeated name is an error naming it.
    pub fn parse(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        known: &[&str],
    ) -> Result<Self, Vec<FieldError>> {
        Self::parse_repeating(pairs, known, &[])
    }

    /// [`Params::parse`] for an endpoint whose `repeatable` parameters may be given several
    /// times (`?tag=a&tag=b`: any of them); read those with [`Params::get_all`].
    pub fn parse_repeating(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        known: &[&str],
        repeatable: &[&str],
    ) -> Result<Self, Vec<FieldError>> {
        let mut params = Self::default();
        let mut errors = Vec::new();
        for (name, value) in pairs {
            if !known.contains(&name) {
                let message = match known {
                    [] => "unknown query parameter; this endpoint takes none".to_owned(),
                    _ => format!(
                        "unknown query parameter; this endpoint takes {}",
                        known.join(", ")
                    ),
                };
                errors.push(FieldError::new(name, message));
            } else if params.get(name).is_some() && !repeatable.contains(&name) {
                errors.push(FieldError::new(name, "parameter given more than once"));
            } else {
                params.pairs.push((name, value));
            }
        }
        if errors.is_empty() {
            Ok(params)
        } else {
            Err(errors)
        }
    }

    /// The value of `name`, if given (the first, for a repeatable one).
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// Every value of `name`, in the order given.
    pub fn get_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.pairs
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

/// Parses `?limit=`: 1–[`MAX_LIMIT`], default [`DEFAULT_LIMIT`].
pub fn parse_limit(raw: Option<&str>) -> Result<u32, FieldError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(FieldError::new(
                "limit",
                format!("limit must be an integer from 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

/// Parses `?include=`: only `total` is known.
pub fn parse_include_total(raw: Option<&str>) -> Result<bool, FieldError> {
    match raw {
        None => Ok(false),
        Some("total") => Ok(true),
        Some(_) => Err(FieldError::new("include", "include accepts only total")),
    }
}

/// The sort key of a keyset bound, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A time column, to the microsecond.
    Time(DateTime<Utc>),
    /// A text column (a case-folded title).
    Text(String),
    /// No value: a post without a publication time, or a list ordered by id alone.
    Null,
}

/// Where a page starts: right after the row with this sort key and id (ties in the key are
/// broken by id in the list's direction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// The sort key of the last row of the previous page.
    pub key: Key,
    /// The id of that row.
    pub id: i64,
}

impl Bound {
    /// The bound after row `id` of a list ordered by id alone.
    pub fn id(id: i64) -> Self {
        Self { key: Key::Null, id }
    }

    fn to_cursor(&self) -> Cursor {
        let key = match &self.key {
            Key::Time(t) => SortKey::Int(t.timestamp_micros()),
            Key::Text(s) => SortKey::Text(s.clone()),
            Key::Null => SortKey::Null,
        };
        Cursor { key, id: self.id }
    }

    /// The bound a cursor holds, if its key has the shape `keys` (a cursor is sealed to its
    /// list's sort, so another shape is not one this server made for this list).
    fn from_cursor(cursor: Cursor, keys: Keys) -> Option<Self> {
        let key = match (keys, cursor.key) {
            (Keys::Time | Keys::OptionalTime, SortKey::Int(micros)) => {
                Key::Time(DateTime::from_timestamp_micros(micros)?)
            }
            (Keys::OptionalTime | Keys::IdOnly, SortKey::Null) => Key::Null,
            (Keys::Text, SortKey::Text(s)) => Key::Text(s),
            _ => return None,
        };
        Some(Self { key, id: cursor.id })
    }
}

/// The shape of a list's sort keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// A time on every row.
    Time,
    /// A time, or none (such rows come last).
    OptionalTime,
    /// Text on every row.
    Text,
    /// No key: the list is ordered by id alone.
    IdOnly,
}

/// What a store is asked for: a page size and where the page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Rows wanted, 1–[`MAX_LIMIT`].
    pub limit: u32,
    /// Start after this row; `None` for the first page.
    pub after: Option<Bound>,
}

impl Window {
    /// The first page of `limit` rows.
    pub fn first(limit: u32) -> Self {
        Self { limit, after: None }
    }

    /// Rows to fetch: one more than wanted, to learn whether more follow.
    pub fn fetch(&self) -> u32 {
        self.limit + 1
    }

    /// The id of the row the page starts after, for lists ordered by id alone.
    pub fn after_id(&self) -> Option<i64> {
        self.after.as_ref().map(|b| b.id)
    }

    /// The page cutter: cuts rows fetched in order (at most [`fetch`](Self::fetch) of them)
    /// to the page, and gives the bound after its last row when more rows follow.
    pub fn cut<T>(
        &self,
        mut rows: Vec<T>,
        bound_after: impl Fn(&T) -> Bound,
    ) -> (Vec<T>, Option<Bound>) {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next = if more {
            rows.last().map(bound_after)
        } else {
            None
        };
        (rows, next)
    }
}

/// Rows a store fetched for a [`Window`], and the count of all matching rows when asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows<T> {
    /// The rows, in list order; at most [`Window::fetch`] of them.
    pub items: Vec<T>,
    /// Count of all rows under the same filters, when asked for.
    pub total: Option<u64>,
}

impl<T> Rows<T> {
    /// Rows without a count.
    pub fn new(items: Vec<T>) -> Self {
        Self { items, total: None }
    }
}

/// One list's own part of a request: its parameters, its order and what its cursors are
/// sealed to. Posts and media add sorts and filters; id-ordered lists add nothing.
pub trait Listing: Sized {
    /// A row of the list.
    type Item;
    /// The list's parameters besides `limit` and `cursor`.
    const PARAMS: &'static [&'static str];
    /// Those of [`Listing::PARAMS`] that may be given several times.
    const REPEATABLE: &'static [&'static str] = &[];
    /// Reads the list's own parameters, reporting every bad one.
    fn from_params(params: &Params<'_>) -> Result<Self, Vec<FieldError>>;
    /// The canonical bytes of the collection, sort and filters a cursor is sealed to; not
    /// `limit`, which may change between pages.
    fn binding(&self) -> Vec<u8>;
    /// The shape of the sort keys of this order.
    fn keys(&self) -> Keys;
    /// The bound right after `item` in this order.
    fn bound_after(&self, item: &Self::Item) -> Bound;
}

const CURSOR_REFUSED: &str = "cursor is invalid, or was made for another list, sort or filter";

/// A list request, parsed once: the list's query, the window for the store, and the cursor
/// binding (site, collection, sort, filters) under which the cursor was opened and the next
/// one is sealed.
pub struct ListRequest<'c, Q> {
    /// The list's sort and filters.
    pub query: Q,
    /// The page size and typed start handed to the store.
    pub window: Window,
    codec: &'c CursorCodec,
    binding: Vec<u8>,
}

impl<'c, Q: Listing> ListRequest<'c, Q> {
    /// Parses the query pairs of a request to site `site_id`'s list `Q`, opening `?cursor=`
    /// with `codec`. Every bad parameter is reported by name; a cursor only once all the
    /// others are good (what it is checked against depends on them).
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        codec: &'c CursorCodec,
        site_id: i64,
    ) -> Result<Self, Vec<FieldError>> {
        let mut known = vec!["limit", "cursor"];
        known.extend_from_slice(Q::PARAMS);
        let params = Params::parse_repeating(pairs, &known, Q::REPEATABLE)?;
        let limit = parse_limit(params.get("limit"));
        let query = Q::from_params(&params);
        let (limit, query) = match (limit, query) {
            (Ok(limit), Ok(query)) => (limit, query),
            (limit, query) => {
                let mut errors: Vec<FieldError> = limit.err().into_iter().collect();
                errors.extend(query.err().unwrap_or_default());
                return Err(errors);
            }
        };
        let mut binding = site_id.to_be_bytes().to_vec();
        binding.extend_from_slice(&query.binding());
        let after = match params.get("cursor") {
            None => None,
            Some(raw) => {
                let bound = codec
                    .open(raw, &binding)
                    .ok()
                    .and_then(|c| Bound::from_cursor(c, query.keys()));
                match bound {
                    Some(b) => Some(b),
                    None => return Err(vec![FieldError::new("cursor", CURSOR_REFUSED)]),
                }
            }
        };
        Ok(Self {
            query,
            window: Window { limit, after },
            codec,
            binding,
        })
    }

    /// Cuts the fetched rows to the page and seals the cursor after its last row.
    pub fn page(self, rows: Rows<Q::Item>) -> Page<Q::Item> {
        let (items, next) = self.window.cut(rows.items, |r| self.query.bound_after(r));
        Page {
            items,
            next_cursor: next.map(|b| self.codec.seal(&b.to_cursor(), &self.binding)),
            limit: self.window.limit,
            total: rows.total,
        }
    }
}

/// One page of a list, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows, in order.
    pub items: Vec<T>,
    /// The sealed position after the last row, when more rows follow.
    pub next_cursor: Option<String>,
    /// The page size asked for.
    pub limit: u32,
    /// Count of all matching rows, when asked for.
    pub total: Option<u64>,
}

/// A legacy (v1) offset page: 1-based `page`, `per_page` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPage {
    /// 1-based page number.
    pub page: u32,
    /// Rows per page, 1–100.
    pub per_page: u32,
}

impl OffsetPage {
    /// Rows before this page.
    pub fn offset(self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }

    /// Reads `?page=` (default 1, at least 1) and `?per_page=` (default 20, at least 1;
    /// above 100 is clamped to 100, as v1 always did).
    pub fn parse(page: Option<&str>, per_page: Option<&str>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let page = match page {
            None => 1,
            Some(s) => match s.parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    errors.push(FieldError::new("page", "page must be a positive integer"));
                    1
                }
            },
        };
        let per_page = match per_page {
            None => DEFAULT_LIMIT,
            Some(s) => match s.parse::<u64>() {
                Ok(n) if n >= 1 => n.min(u64::from(MAX_LIMIT)) as u32,
                _ => {
                    errors.push(FieldError::new(
                        "per_page",
                        "per_page must be a positive integer",
                    ));
                    DEFAULT_LIMIT
                }
            },
        };
        if errors.is_empty() {
            Ok(Self { page, per_page })
        } else {
            Err(errors)
        }
    }

    /// Pages needed for `total` rows.
    pub fn total_pages(self, total: u64) -> u64 {
        total.div_ceil(u64::from(self.per_page))
    }
}

/// One legacy offset page and the count of all rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetList<T> {
    /// The rows, in order.
    pub items: Vec<T>,
    /// All rows of the list.
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list of numbers in descending order, filtered by parity, to test the machinery.
    #[derive(Debug)]
    struct Numbers {
        odd: bool,
    }

    impl Listing for Numbers {
        type Item = i64;
        const PARAMS: &'static [&'static str] = &["odd"];
        fn from_params(params: &Params<'_>) -> Result<Self, Vec<FieldError>> {
            match params.get("odd") {
                None | Some("false") => Ok(Self { odd: false }),
                Some("true") => Ok(Self { odd: true }),
                Some(_) => Err(vec![FieldError::new("odd", "odd is true or false")]),
            }
        }
        fn binding(&self) -> Vec<u8> {
            format!("numbers/{}", self.odd).into_bytes()
        }
        fn keys(&self) -> Keys {
            Keys::IdOnly
        }
        fn bound_after(&self, item: &i64) -> Bound {
            Bound::id(*item)
        }
    }

    fn codec() -> CursorCodec {
        CursorCodec::new(&[7; 32])
    }

    fn parse<'c>(
        codec: &'c CursorCodec,
        pairs: &[(&str, &str)],
    ) -> Result<ListRequest<'c, Numbers>, Vec<FieldError>> {
        ListRequest::parse(pairs.iter().copied(), codec, 1)
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        let mut f: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        f.sort();
        f
    }

    /// Fetches like a store: the rows after the window's bound, at most `fetch` of them.
    fn fetch(all: &[i64], window: &Window) -> Rows<i64> {
        let items = all
            .iter()
            .copied()
            .filter(|n| window.after_id().is_none_or(|a| *n < a))
            .take(window.fetch() as usize)
            .collect();
        Rows::new(items)
    }

    #[test]
    fn defaults_and_limits() {
        let c = codec();
        let r = parse(&c, &[]).unwrap();
        assert_eq!(r.window, Window::first(DEFAULT_LIMIT));
        assert!(!r.query.odd);
        assert_eq!(parse(&c, &[("limit", "100")]).unwrap().window.limit, 100);
        assert_eq!(parse(&c, &[("limit", "1")]).unwrap().window.fetch(), 2);
        for bad in ["0", "101", "-1", "abc", "", "1.5"] {
            let errs = parse(&c, &[("limit", bad)]).err().unwrap();
            assert_eq!(fields(&errs), ["limit"], "{bad}");
            assert_eq!(errs[0].message, "limit must be an integer from 1 to 100");
        }
    }

    #[test]
    fn unknown_and_repeated_parameters_are_named() {
        let c = codec();
        let errs = parse(&c, &[("colour", "red"), ("limit", "2"), ("limit", "3")])
            .err()
            .unwrap();
        assert_eq!(fields(&errs), ["colour", "limit"]);
        assert!(
            errs[0].message.ends_with("takes limit, cursor, odd"),
            "{}",
            errs[0].message
        );
        let errs = parse(&c, &[("cursor", "a"), ("cursor", "a")])
            .err()
            .unwrap();
        assert_eq!(fields(&errs), ["cursor"]);
        // Every bad value at once: the page's and the list's own.
        let errs = parse(&c, &[("limit", "0"), ("odd", "x")]).err().unwrap();
        assert_eq!(fields(&errs), ["limit", "odd"]);
    }

    #[test]
    fn the_cutter_pages_with_a_bound_after_the_last_row() {
        let w = Window::first(3);
        let (rows, next) = w.cut(vec![9, 8, 7, 6], |n| Bound::id(*n));
        assert_eq!((rows, next), (vec![9, 8, 7], Some(Bound::id(7))));
        // Exactly `limit` rows, or fewer: the last page.
        assert_eq!(
            w.cut(vec![9, 8, 7], |n| Bound::id(*n)),
            (vec![9, 8, 7], None)
        );
        assert_eq!(w.cut(Vec::<i64>::new(), |n| Bound::id(*n)), (vec![], None));
    }

    #[test]
    fn a_walk_sees_every_row_once_and_cursors_stay_with_their_list() {
        let c = codec();
        let all: Vec<i64> = (1..=7).rev().collect();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut pairs = vec![("limit", "3")];
            if let Some(raw) = &cursor {
                pairs.push(("cursor", raw.as_str()));
            }
            let req = parse(&c, &pairs).unwrap();
            let rows = fetch(&all, &req.window);
            let page = req.page(rows);
            assert_eq!(page.limit, 3);
            seen.extend(page.items);
            pages += 1;
            match page.next_cursor {
                Some(next) => {
                    // Sealed to the list's binding: the same list under another filter,
                    // another site, or a changed cursor, refuse it.
                    let other = ListRequest::<Numbers>::parse(
                        [("odd", "true"), ("cursor", next.as_str())],
                        &c,
                        1,
                    );
                    assert_eq!(fields(&other.err().unwrap()), ["cursor"]);
                    let elsewhere =
                        ListRequest::<Numbers>::parse([("cursor", next.as_str())], &c, 2);
                    assert!(elsewhere.is_err());
                    cursor = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(seen, all);
        assert_eq!(pages, 3);
        let errs = parse(&c, &[("cursor", "not-a-cursor")]).err().unwrap();
        assert_eq!(fields(&errs), ["cursor"]);
    }

    #[test]
    fn a_cursor_must_have_its_list_s_key_shape() {
        let t = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        for (bound, keys, ok) in [
            (
                Bound {
                    key: Key::Time(t),
                    id: 1,
                },
                Keys::Time,
                true,
            ),
            (
                Bound {
                    key: Key::Time(t),
                    id: 1,
                },
                Keys::OptionalTime,
                true,
            ),
            (Bound::id(1), Keys::OptionalTime, true),
            (Bound::id(1), Keys::IdOnly, true),
            (
                Bound {
                    key: Key::Text("a".into()),
                    id: 1,
                },
                Keys::Text,
                true,
            ),
            (Bound::id(1), Keys::Time, false),
            (
                Bound {
                    key: Key::Time(t),
                    id: 1,
                },
                Keys::Text,
                false,
            ),
            (
                Bound {
                    key: Key::Text("a".into()),
                    id: 1,
                },
                Keys::IdOnly,
                false,
            ),
        ] {
            let back = Bound::from_cursor(bound.to_cursor(), keys);
            assert_eq!(back.as_ref() == Some(&bound), ok, "{bound:?} {keys:?}");
            assert_eq!(back.is_some(), ok, "{bound:?} {keys:?}");
        }
        // A time no calendar holds is refused, not passed on.
        let huge = Cursor {
            key: SortKey::Int(i64::MAX),
            id: 1,
        };
        assert_eq!(Bound::from_cursor(huge, Keys::Time), None);
    }

    #[test]
    fn offset_pages() {
        let p = OffsetPage::parse(None, None).unwrap();
        assert_eq!((p.page, p.per_page, p.offset()), (1, 20, 0));
        let p = OffsetPage::parse(Some("500"), Some("20")).unwrap();
        assert_eq!(p.offset(), 9_980);
        assert_eq!(OffsetPage::parse(None, Some("1000")).unwrap().per_page, 100);
        assert_eq!(p.total_pages(41), 3);
        assert_eq!(p.total_pages(0), 0);
        for (page, per) in [
            (Some("0"), None),
            (Some("x"), None),
            (None, Some("0")),
            (None, Some("-1")),
        ] {
            assert!(OffsetPage::parse(page, per).is_err());
        }
    }
}
