//! The slugs of a bulk import, decided without a database.
//!
//! The store asks the site what the plan needs to know, in a fixed number of queries
//! however many titles of the batch collide, and [`SlugPlan`] decides:
//!
//! 1. [`SlugPlan::wanted`]: every slug the batch would like (the given ones, and the bases
//!    made from the titles of the posts without one). One lookup finds which the site has.
//! 2. [`SlugPlan::new`], with those taken: a given slug goes to the first post asking for it
//!    when the site does not have it; any other post asking for it is
//!    [refused](SlugPlan::refused). Given slugs are settled first, so that generated ones
//!    step around them. A generated slug is its base when that is free in the site and the
//!    batch, else the next suffix (`-2`, `-3`, …, numbered per base) the batch has not used.
//! 3. [`SlugPlan::unchecked`]: those suffixed slugs, chosen without the site's answer. One
//!    lookup finds which the site has; [`SlugPlan::clashing`] names their posts (a title
//!    imported before, with suffixes).
//! 4. Each of those few takes the slow path: the store counts the site's slugs starting
//!    with `base-` ([`SlugPlan::base`]), [`SlugPlan::search`] starts numbering after them,
//!    and each [`SuffixSearch::next_candidate`] is looked up until one is free, which
//!    [`SlugPlan::choose`] records.
//!
//! ```
//! use jekcms_content::NewPost;
//! use jekcms_content::bulk::SlugPlan;
//! use std::collections::HashSet;
//!
//! let post = |title: &str, slug: Option<&str>| NewPost {
//!     title: title.into(),
//!     slug: slug.map(Into::into),
//!     ..NewPost::default()
//! };
//! let batch = [post("Hello", None), post("Hello", None), post("Other", Some("taken"))];
//! assert_eq!(SlugPlan::wanted(&batch), ["hello", "taken"]);
//! // The site has `taken`: the third post is refused; the second steps to a suffix.
//! let site: HashSet<String> = ["taken".to_owned()].into();
//! let plan = SlugPlan::new(&batch, &site);
//! assert_eq!(plan.refused().collect::<Vec<_>>(), [2]);
//! assert_eq!(plan.unchecked(), ["hello-2"]);
//! // The site does not have `hello-2` either: nothing clashes, the plan is final.
//! assert!(plan.clashing(&HashSet::new()).is_empty());
//! let slugs = plan.into_slugs();
//! assert_eq!(slugs, [Some("hello".into()), Some("hello-2".into()), None]);
//! ```

use super::{ItemFault, slug_conflict};
use crate::FieldError;
use crate::post::NewPost;
use crate::slug;
use std::collections::{HashMap, HashSet};

/// The slugs of a batch being decided; see the [module documentation](self) for the order
/// of the questions the store answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlugPlan {
    /// The slug made from the title, for each post without a given slug.
    bases: Vec<Option<String>>,
    /// The slug chosen so far for each post; `None` for a refused one.
    slugs: Vec<Option<String>>,
    /// The posts whose given slug is refused, with that slug, in input order.
    refused: Vec<(usize, String)>,
    /// The posts given a suffixed slug the site was not asked about.
    tentative: Vec<usize>,
    /// The slugs the batch holds.
    used: HashSet<String>,
}

impl SlugPlan {
    /// Every slug the batch would like, sorted and without repeats: the given ones and the
    /// bases of the generated ones. The store looks them up in the site with one query.
    pub fn wanted(batch: &[NewPost]) -> Vec<String> {
        let mut wanted: Vec<String> = batch
            .iter()
            .map(|p| p.slug.clone().unwrap_or_else(|| slug::from_title(&p.title)))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        wanted
    }

    /// Plans the batch knowing which of its [wanted](Self::wanted) slugs the site has
    /// (`taken`; other slugs in it change nothing).
    pub fn new(batch: &[NewPost], taken: &HashSet<String>) -> Self {
        let bases: Vec<Option<String>> = batch
            .iter()
            .map(|p| p.slug.is_none().then(|| slug::from_title(&p.title)))
            .collect();
        let mut used: HashSet<String> = HashSet::new();
        let mut slugs: Vec<Option<String>> = vec![None; batch.len()];
        let mut refused = Vec::new();
        // Given slugs first (the first post asking for one gets it), so that generated
        // slugs step around them rather than the other way round.
        for (i, p) in batch.iter().enumerate() {
            if let Some(s) = &p.slug {
                if !taken.contains(s) && used.insert(s.clone()) {
                    slugs[i] = Some(s.clone());
                } else {
                    refused.push((i, s.clone()));
                }
            }
        }
        // Generated slugs, without asking the site again: the base if free in the site and
        // the batch, else the next suffix not used by the batch (from -2, remembered per
        // base), to be checked later.
        let mut next_suffix: HashMap<&str, u32> = HashMap::new();
        let mut tentative = Vec::new();
        for (i, base) in bases.iter().enumerate() {
            let Some(base) = base else { continue };
            let chosen = if !taken.contains(base) && !used.contains(base) {
                base.clone()
            } else {
                let mut search = SuffixSearch {
                    base: base.clone(),
                    next: next_suffix.get(base.as_str()).copied().unwrap_or(2),
                };
                let found = search.next_unused(&used);
                next_suffix.insert(base, search.next);
                tentative.push(i);
                found
            };
            used.insert(chosen.clone());
            slugs[i] = Some(chosen);
        }
        Self {
            bases,
            slugs,
            refused,
            tentative,
            used,
        }
    }

    /// The posts whose given slug is taken in the site or by an earlier post of the batch,
    /// in input order (their index in the batch).
    pub fn refused(&self) -> impl Iterator<Item = usize> + '_ {
        self.refused.iter().map(|(i, _)| *i)
    }

    /// The conflicts of the [refused](Self::refused) posts, as an atomic import reports
    /// them (`posts[i].slug`, with `i` the index in the batch).
    pub fn conflicts(&self) -> Vec<FieldError> {
        self.refused
            .iter()
            .map(|(i, s)| match slug_conflict(*i, s) {
                ItemFault::Conflict(e) | ItemFault::Invalid(e) => e,
            })
            .collect()
    }

    /// The suffixed slugs chosen without asking the site: the store looks them up with one
    /// query and passes what it found to [`clashing`](Self::clashing).
    pub fn unchecked(&self) -> Vec<String> {
        self.tentative
            .iter()
            .filter_map(|&i| self.slugs[i].clone())
            .collect()
    }

    /// The posts whose [unchecked](Self::unchecked) slug the site has (`taken`), in input
    /// order: each needs a [search](Self::search).
    pub fn clashing(&self, taken: &HashSet<String>) -> Vec<usize> {
        self.tentative
            .iter()
            .copied()
            .filter(|&i| self.slugs[i].as_ref().is_some_and(|s| taken.contains(s)))
            .collect()
    }

    /// The base of post `i`'s generated slug (empty for a post with a given slug): the
    /// store counts the site's slugs starting with `base-` for [`search`](Self::search).
    pub fn base(&self, i: usize) -> &str {
        self.bases
            .get(i)
            .and_then(Option::as_deref)
            .unwrap_or_default()
    }

    /// Gives up post `i`'s clashing slug and starts a search for another, numbered after
    /// the `suffixed` slugs of its base the site has (a hint: the candidates are still
    /// looked up one by one, since the numbers need not be contiguous).
    pub fn search(&mut self, i: usize, suffixed: i64) -> SuffixSearch {
        if let Some(current) = self.slugs.get_mut(i).and_then(Option::take) {
            self.used.remove(&current);
        }
        SuffixSearch {
            base: self.base(i).to_owned(),
            next: u32::try_from(suffixed)
                .unwrap_or(u32::MAX)
                .saturating_add(2),
        }
    }

    /// Records `slug`, found free in the site, as post `i`'s.
    pub fn choose(&mut self, i: usize, slug: String) {
        self.used.insert(slug.clone());
        if let Some(entry) = self.slugs.get_mut(i) {
            *entry = Some(slug);
        }
    }

    /// The chosen slug of each post in input order; `None` for a refused one.
    pub fn into_slugs(self) -> Vec<Option<String>> {
        self.slugs
    }
}

/// Suffixed candidates for one base, in increasing number, skipping the batch's own slugs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuffixSearch {
    base: String,
    next: u32,
}

impl SuffixSearch {
    /// The next candidate not held by the batch; the store looks it up in the site and,
    /// if free, [chooses](SlugPlan::choose) it.
    pub fn next_candidate(&mut self, plan: &SlugPlan) -> String {
        self.next_unused(&plan.used)
    }

    fn next_unused(&mut self, used: &HashSet<String>) -> String {
        loop {
            let candidate = slug::with_suffix(&self.base, self.next);
            self.next = self.next.saturating_add(1);
            if !used.contains(&candidate) {
                return candidate;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn post(title: &str, slug: Option<&str>) -> NewPost {
        NewPost {
            title: title.into(),
            slug: slug.map(Into::into),
            ..NewPost::default()
        }
    }

    fn titled(title: &str) -> NewPost {
        post(title, None)
    }

    fn given(slug: &str) -> NewPost {
        post("A title", Some(slug))
    }

    /// What a run against a site holding `site` decided, and the queries it cost.
    #[derive(Debug)]
    struct Run {
        slugs: Vec<Option<String>>,
        refused: Vec<usize>,
        /// Queries of one pass: the two `IN` lookups (the second only when something was
        /// suffixed), then a count and point lookups per clashing post.
        queries: usize,
        counts: usize,
        point_lookups: usize,
    }

    /// Answers the plan's questions from an in-memory site, as the store does from its
    /// tables, counting the queries; `atomic` stops at refused slugs as the store does.
    fn run(batch: &[NewPost], site: &[&str], atomic: bool) -> Run {
        let site: HashSet<String> = site.iter().map(|s| (*s).to_owned()).collect();
        let lookup = |slugs: &[String]| -> HashSet<String> {
            slugs
                .iter()
                .filter(|s| site.contains(*s))
                .cloned()
                .collect()
        };
        let mut queries = 1;
        let mut plan = SlugPlan::new(batch, &lookup(&SlugPlan::wanted(batch)));
        let refused: Vec<usize> = plan.refused().collect();
        if atomic && !refused.is_empty() {
            return Run {
                slugs: Vec::new(),
                refused,
                queries,
                counts: 0,
                point_lookups: 0,
            };
        }
        let unchecked = plan.unchecked();
        let clashes = if unchecked.is_empty() {
            HashSet::new()
        } else {
            queries += 1;
            lookup(&unchecked)
        };
        let (mut counts, mut point_lookups) = (0, 0);
        for i in plan.clashing(&clashes) {
            let base = plan.base(i);
            let (low, high) = (format!("{base}-"), format!("{base}."));
            let suffixed = site
                .iter()
                .filter(|s| s.as_str() >= low.as_str() && s.as_str() < high.as_str())
                .count();
            counts += 1;
            let mut search = plan.search(i, suffixed as i64);
            let found = loop {
                let candidate = search.next_candidate(&plan);
                point_lookups += 1;
                if !site.contains(&candidate) {
                    break candidate;
                }
            };
            plan.choose(i, found);
        }
        Run {
            slugs: plan.into_slugs(),
            refused,
            queries: queries + counts + point_lookups,
            counts,
            point_lookups,
        }
    }

    fn slugs(run: &Run) -> Vec<Option<&str>> {
        run.slugs.iter().map(Option::as_deref).collect()
    }

    #[test]
    fn an_empty_site_takes_the_bases_and_numbers_repeats_within_the_batch() {
        let batch = [
            titled("Hello"),
            titled("Hello"),
            titled("World"),
            titled("Hello"),
        ];
        let r = run(&batch, &[], false);
        assert_eq!(
            slugs(&r),
            [
                Some("hello"),
                Some("hello-2"),
                Some("world"),
                Some("hello-3")
            ]
        );
        assert!(r.refused.is_empty());
        // The suffixed ones are checked with one more lookup; nothing clashed.
        assert_eq!((r.queries, r.counts, r.point_lookups), (2, 0, 0));
    }

    #[test]
    fn a_batch_without_suffixes_costs_one_query() {
        let batch = [titled("One"), titled("Two"), given("three")];
        let r = run(&batch, &["four"], false);
        assert_eq!(slugs(&r), [Some("one"), Some("two"), Some("three")]);
        assert_eq!(r.queries, 1);
    }

    #[test]
    fn a_given_slug_goes_to_the_first_post_asking_and_is_refused_when_the_site_has_it() {
        let batch = [given("a"), given("b"), given("a"), given("c"), given("b")];
        let r = run(&batch, &["c"], false);
        assert_eq!(slugs(&r), [Some("a"), Some("b"), None, None, None]);
        assert_eq!(r.refused, [2, 3, 4]);
        let plan = SlugPlan::new(&batch, &["c".to_owned()].into());
        let conflicts = plan.conflicts();
        let fields: Vec<&str> = conflicts.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["posts[2].slug", "posts[3].slug", "posts[4].slug"]);
        assert!(
            conflicts[1].message.contains("\"c\""),
            "{}",
            conflicts[1].message
        );
    }

    #[test]
    fn atomic_stops_at_a_refused_slug_after_one_query() {
        let batch = [titled("Hello"), given("taken")];
        let r = run(&batch, &["taken", "hello"], true);
        assert_eq!(r.refused, [1]);
        assert_eq!(r.queries, 1);
    }

    #[test]
    fn generated_slugs_step_around_given_ones_even_later_in_the_batch() {
        // `hello` and `hello-2` are given by later posts: the generated slug steps around
        // both rather than taking them first.
        let batch = [titled("Hello"), given("hello"), given("hello-2")];
        let r = run(&batch, &[], false);
        assert_eq!(slugs(&r), [Some("hello-3"), Some("hello"), Some("hello-2")]);
        assert!(r.refused.is_empty());
    }

    #[test]
    fn a_title_imported_before_with_suffixes_takes_the_slow_path() {
        let site = ["hello", "hello-2", "hello-3", "hello-5", "hello-world"];
        let batch = [titled("Hello"), titled("Hello"), titled("New")];
        let r = run(&batch, &site, false);
        // `hello-2` and `hello-3` clash. Four slugs of the site sort in `hello-…`
        // (`hello-world` among them), so numbering starts at 6 for the first; the second
        // starts there too and steps over the first's without a lookup.
        assert_eq!(slugs(&r), [Some("hello-6"), Some("hello-7"), Some("new")]);
        assert_eq!(r.counts, 2);
        assert_eq!(r.point_lookups, 2);
        assert_eq!(r.queries, 2 + 2 + 2);
    }

    #[test]
    fn the_count_is_a_hint_and_point_lookups_step_past_what_it_missed() {
        // The numbers need not be contiguous: the count says 3, so the search starts at 5,
        // which the site has too.
        let site = ["post", "post-2", "post-3", "post-5"];
        let r = run(&[titled("日本語")], &site, false);
        assert_eq!(slugs(&r), [Some("post-6")]);
        assert_eq!((r.counts, r.point_lookups), (1, 2));
    }

    #[test]
    fn non_ascii_titles_fold_or_fall_back_to_post() {
        let batch = [
            titled("Café Über"),
            titled("日本語"),
            titled("Ελληνικά"),
            titled("CAFÉ  über!"),
        ];
        let r = run(&batch, &[], false);
        assert_eq!(
            slugs(&r),
            [
                Some("cafe-uber"),
                Some("post"),
                Some("post-2"),
                Some("cafe-uber-2")
            ]
        );
    }

    #[test]
    fn a_given_slug_equal_to_a_generated_suffix_pushes_the_suffix_on() {
        // The site has `news`; the batch gives `news-2`: the generated slug takes `news-3`.
        let batch = [titled("News"), given("news-2")];
        let r = run(&batch, &["news"], false);
        assert_eq!(slugs(&r), [Some("news-3"), Some("news-2")]);
    }

    #[test]
    fn a_base_that_is_itself_suffixed_gets_its_own_suffix() {
        let batch = [titled("Hello"), titled("Hello"), titled("Hello 2")];
        let r = run(&batch, &[], false);
        assert_eq!(
            slugs(&r),
            [Some("hello"), Some("hello-2"), Some("hello-2-2")]
        );
    }

    #[test]
    fn suffixes_of_a_longest_base_are_cut_to_fit() {
        let title = "a".repeat(slug::MAX_SLUG_LEN + 50);
        let base = "a".repeat(slug::MAX_SLUG_LEN);
        let batch = [titled(&title), titled(&title), titled(&title)];
        let r = run(&batch, &[], false);
        let head = "a".repeat(slug::MAX_SLUG_LEN - 2);
        assert_eq!(
            r.slugs,
            [
                Some(base),
                Some(format!("{head}-2")),
                Some(format!("{head}-3"))
            ]
        );
        assert!(r.slugs.iter().flatten().all(|s| slug::is_valid(s)));
    }

    #[test]
    fn two_long_bases_cut_to_the_same_head_do_not_share_a_suffix() {
        // Two different 200-byte bases whose suffixed forms are cut to the same head.
        let head = "x".repeat(slug::MAX_SLUG_LEN - 2);
        let (a, b) = (format!("{head} a"), format!("{head} b"));
        let batch = [titled(&a), titled(&b), titled(&a), titled(&b)];
        let site = [format!("{head}-a"), format!("{head}-b")];
        let site: Vec<&str> = site.iter().map(String::as_str).collect();
        let r = run(&batch, &site, false);
        assert_eq!(
            r.slugs,
            [
                Some(format!("{head}-2")),
                Some(format!("{head}-3")),
                Some(format!("{head}-4")),
                Some(format!("{head}-5")),
            ]
        );
    }

    #[test]
    fn a_search_steps_past_the_batchs_own_suffixes_without_asking() {
        // Only the first post's `x-2` clashes; the second's `x-3` is found free. The first
        // searches from 3 (one suffixed slug in the site), skips `x-3` and asks about `x-4`.
        let batch = [titled("X"), titled("X")];
        let r = run(&batch, &["x", "x-2"], false);
        assert_eq!(slugs(&r), [Some("x-4"), Some("x-3")]);
        assert_eq!((r.counts, r.point_lookups), (1, 1));
    }

    #[test]
    fn a_huge_count_does_not_overflow() {
        let mut plan = SlugPlan::new(&[titled("X")], &["x".to_owned()].into());
        let mut search = plan.search(0, i64::MAX);
        assert_eq!(search.next_candidate(&plan), format!("x-{}", u32::MAX));
    }

    fn arb_batch() -> impl Strategy<Value = Vec<NewPost>> {
        let title = prop::sample::select(vec![
            "Hello",
            "hello!",
            "Héllo",
            "World",
            "日本語",
            "Post",
            "Post 2",
            "a-b",
            "A B",
        ]);
        let given = prop::sample::select(vec!["hello", "hello-2", "post", "post-3", "world"]);
        prop::collection::vec(
            (title, prop::option::weighted(0.3, given)).prop_map(|(t, s)| post(t, s)),
            1..30,
        )
    }

    fn arb_site() -> impl Strategy<Value = Vec<&'static str>> {
        prop::collection::vec(
            prop::sample::select(vec![
                "hello", "hello-2", "hello-3", "hello-7", "post", "post-2", "post-3", "world",
                "a-b", "a-b-2",
            ]),
            0..8,
        )
    }

    /// The allocation as `jekcms-store` wrote it inline before the plan existed, over the
    /// same in-memory site: slugs, refused posts and queries, for the equivalence below.
    fn inline_allocation(
        batch: &[NewPost],
        site: &[&str],
    ) -> (Vec<Option<String>>, Vec<usize>, usize) {
        let site: HashSet<String> = site.iter().map(|s| (*s).to_owned()).collect();
        let bases: Vec<Option<String>> = batch
            .iter()
            .map(|p| p.slug.is_none().then(|| slug::from_title(&p.title)))
            .collect();
        let mut queries = 1;
        let taken: HashSet<String> = batch
            .iter()
            .filter_map(|p| p.slug.clone())
            .chain(bases.iter().flatten().cloned())
            .filter(|s| site.contains(s))
            .collect();
        let mut used: HashSet<String> = HashSet::new();
        let mut slugs: Vec<Option<String>> = vec![None; batch.len()];
        let mut refused = Vec::new();
        for (i, p) in batch.iter().enumerate() {
            if let Some(s) = &p.slug {
                if !taken.contains(s) && used.insert(s.clone()) {
                    slugs[i] = Some(s.clone());
                } else {
                    refused.push(i);
                }
            }
        }
        let mut next_suffix: HashMap<String, u32> = HashMap::new();
        let mut tentative: Vec<usize> = Vec::new();
        for (i, base) in bases.iter().enumerate() {
            let Some(base) = base else { continue };
            let chosen = if !taken.contains(base) && !used.contains(base) {
                base.clone()
            } else {
                let mut n = next_suffix.get(base).copied().unwrap_or(2);
                let found = loop {
                    let candidate = slug::with_suffix(base, n);
                    n += 1;
                    if !used.contains(&candidate) {
                        break candidate;
                    }
                };
                next_suffix.insert(base.clone(), n);
                tentative.push(i);
                found
            };
            used.insert(chosen.clone());
            slugs[i] = Some(chosen);
        }
        let candidates: Vec<String> = tentative.iter().filter_map(|&i| slugs[i].clone()).collect();
        let clashes: HashSet<String> = if candidates.is_empty() {
            HashSet::new()
        } else {
            queries += 1;
            candidates
                .into_iter()
                .filter(|s| site.contains(s))
                .collect()
        };
        for i in tentative {
            let Some(current) = slugs[i].clone() else {
                continue;
            };
            if !clashes.contains(&current) {
                continue;
            }
            used.remove(&current);
            let base = bases[i].clone().unwrap_or_default();
            let (low, high) = (format!("{base}-"), format!("{base}."));
            let suffixed = site
                .iter()
                .filter(|s| s.as_str() >= low.as_str() && s.as_str() < high.as_str())
                .count();
            queries += 1;
            let mut n = u32::try_from(suffixed).unwrap_or(u32::MAX - 2) + 2;
            let found = loop {
                let candidate = slug::with_suffix(&base, n);
                n += 1;
                if !used.contains(&candidate) {
                    queries += 1;
                    if !site.contains(&candidate) {
                        break candidate;
                    }
                }
            };
            used.insert(found.clone());
            slugs[i] = Some(found);
        }
        (slugs, refused, queries)
    }

    proptest! {
        /// The plan decides what the store decided before it, at the same cost in queries.
        #[test]
        fn the_plan_decides_as_the_inline_allocation_did(batch in arb_batch(), site in arb_site()) {
            let r = run(&batch, &site, false);
            let (slugs, refused, queries) = inline_allocation(&batch, &site);
            prop_assert_eq!(r.slugs, slugs);
            prop_assert_eq!(r.refused, refused);
            prop_assert_eq!(r.queries, queries);
        }

        #[test]
        fn plans_hold_valid_distinct_free_slugs(batch in arb_batch(), site in arb_site()) {
            let r = run(&batch, &site, false);
            let mut seen = HashSet::new();
            for (i, (p, s)) in batch.iter().zip(&r.slugs).enumerate() {
                match (s, &p.slug) {
                    (Some(s), given) => {
                        prop_assert!(slug::is_valid(s), "{s}");
                        prop_assert!(!site.contains(&s.as_str()), "{s} is taken in the site");
                        prop_assert!(seen.insert(s.clone()), "{s} twice in the batch");
                        if let Some(g) = given {
                            prop_assert_eq!(s, g);
                        }
                    }
                    (None, Some(g)) => {
                        prop_assert!(r.refused.contains(&i));
                        let earlier = batch[..i].iter().any(|q| q.slug.as_ref() == Some(g));
                        prop_assert!(site.contains(&g.as_str()) || earlier, "{g} refused");
                    }
                    (None, None) => prop_assert!(false, "a generated slug is always chosen"),
                }
            }
        }
    }
}
