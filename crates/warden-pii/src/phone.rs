//! Phone numbers of every region libphonenumber knows, decided from its
//! metadata (the `phonenumber` crate's copy) compiled once.
//!
//! Why not call `phonenumber::parse` + `is_valid` per candidate: that crate
//! compiles metadata patterns on demand into a cache of about a hundred
//! regexes, which thrashes as soon as numbers of many regions appear (2,000
//! numbers took 2 s). Here each region's valid national numbers are one
//! anchored pattern and its formats two multi-pattern automata, compiled
//! with ASCII `\d` once (at `warm_up`, or on first use) and kept; regions
//! are skipped by possible length, national prefix and area-code length
//! before any pattern runs.
//!
//! What counts as a phone follows libphonenumber's matcher (`PhoneNumberMatcher`):
//! - written with an international marker (`+`, `00`, `011`, `tel:`): the
//!   country code exists and the rest is valid for one of its regions, or at
//!   least of a length the region's numbers have;
//! - otherwise valid for some region, written with its national prefix where
//!   the region's format requires it, and, unless context words mark it
//!   (`phone`, `Tel.`, `電話`, a `phone` column, ...), grouped the way the
//!   region writes it: the area code (the format's first group) whole and
//!   followed by a separator, the rest in groups of two or more digits.
//!   A bare run of digits is a phone only in context.

use std::collections::HashMap;
use std::sync::OnceLock;

use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;
use regex_automata::util::captures::Captures;
use regex_automata::{Anchored, Input, PatternID, meta};

/// Longest national significant number libphonenumber allows (ITU E.164
/// caps the whole number at 15 digits; some national numbers run to 17).
const MAX_NSN: usize = 17;

/// Regions tried first for a national number, after the configured ones:
/// the most populous and most online, so a number usually settles within
/// a few tries. Every other region follows.
const FIRST: &[&str] = &[
    "US", "GB", "DE", "FR", "IN", "CN", "JP", "BR", "ES", "IT", "MX", "CA", "AU", "NL", "RU", "KR",
    "ID", "TR", "PL", "SE", "CH", "BE", "AT", "PT", "IE", "SG", "HK", "TW", "AR", "CO", "CL", "ZA",
    "NG", "EG", "PH", "VN", "TH", "MY", "PK", "SA", "AE", "IL", "UA", "NZ", "DK", "NO", "FI", "CZ",
    "GR", "KE",
];

pub(crate) struct Phones {
    regions: Vec<Region>,
    /// Region indexes by country calling code, main region first.
    by_code: HashMap<u16, Vec<usize>>,
    /// Every region index, the most likely first.
    order: Vec<usize>,
    /// Region index by region id (`DE`).
    by_id: HashMap<&'static str, usize>,
}

impl std::fmt::Debug for Phones {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phones")
            .field("regions", &self.regions.len())
            .finish_non_exhaustive()
    }
}

struct Region {
    meta: &'static phonenumber::Metadata,
    national_prefix: Option<String>,
    /// Every national format requires the national prefix: a number
    /// written without it is not one of this region's.
    prefix_always: bool,
    /// Bit `n` set: national numbers of `n` digits exist.
    lengths: u32,
    /// Bit `n` set: one of its formats writes the area code (the first
    /// group) with `n` digits. A number grouped otherwise is not written
    /// as this region writes, whatever its digits.
    first_groups: u32,
    /// The index of the region whose formats this one uses (itself, or the
    /// main region of its country code when it has none of its own).
    formats_from: usize,
    /// Its valid national numbers, compiled on first use.
    valid: OnceLock<Option<meta::Regex>>,
    formats: OnceLock<Option<Formats>>,
}

/// A region's national formats, compiled on first use.
struct Formats {
    /// One pattern per format: its leading digits (matched as a prefix).
    leading: meta::Regex,
    /// Per format: it has leading digits to match.
    has_leading: Vec<bool>,
    /// One pattern per format: the whole national number, with a capture
    /// group per digit group.
    whole: meta::Regex,
    /// Per format: its national prefix must be written.
    prefix_required: Vec<bool>,
}

/// Metadata patterns are written for libphonenumber's extended syntax:
/// whitespace is layout.
fn compact(pattern: &str) -> String {
    pattern.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Anchored searches of a few digits: the lazy DFA, per-pattern starts.
/// `\d` is an ASCII digit: the metadata means nothing else, and Unicode's
/// digit class would multiply every automaton's size.
fn ascii() -> regex_automata::util::syntax::Config {
    regex_automata::util::syntax::Config::new()
        .unicode(false)
        .utf8(false)
}

/// Only the lazy DFA (and the PikeVM behind it): a region's full DFA or
/// one-pass tables would cost memory for every region compiled, for
/// searches of a dozen digits.
fn config() -> meta::Config {
    meta::Config::new().auto_prefilter(false).dfa(false)
}

impl Phones {
    pub(crate) fn get() -> &'static Phones {
        static PHONES: OnceLock<Phones> = OnceLock::new();
        PHONES.get_or_init(Phones::build)
    }

    fn build() -> Phones {
        let mut metas: Vec<&'static phonenumber::Metadata> = DATABASE.iter().collect();
        // A fixed order (the database is a hash map): main regions first
        // within a code, then by id.
        metas.sort_by_key(|m| (m.country_code(), !m.is_main_country_for_code(), m.id()));
        let mut by_code: HashMap<u16, Vec<usize>> = HashMap::new();
        let mut regions = Vec::with_capacity(metas.len());
        for (i, m) in metas.iter().enumerate() {
            by_code.entry(m.country_code()).or_default().push(i);
            let lengths = std::iter::once(m.descriptors().general())
                .chain(number_types(m).into_iter().flatten())
                .flat_map(|t| t.possible_length())
                .filter(|n| **n < 32)
                .fold(0u32, |acc, n| acc | (1 << n));
            // No lengths recorded: any length may be valid.
            let lengths = if lengths == 0 { u32::MAX } else { lengths };
            let national_prefix = m
                .national_prefix()
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_owned);
            let prefix_always = national_prefix.is_some()
                && !m.formats().is_empty()
                && m.formats().iter().all(prefix_required);
            let first_groups = m
                .formats()
                .iter()
                .filter_map(|f| first_group_lengths(f.pattern().as_str()))
                .fold(0u32, |acc, (lo, hi)| {
                    (lo..=hi.min(31)).fold(acc, |acc, n| acc | (1 << n))
                });
            regions.push(Region {
                meta: m,
                national_prefix,
                prefix_always,
                first_groups,
                lengths,
                formats_from: i,
                valid: OnceLock::new(),
                formats: OnceLock::new(),
            });
        }
        for idx in by_code.values() {
            let main = idx[0];
            for &i in idx {
                if regions[i].meta.formats().is_empty() {
                    regions[i].formats_from = main;
                    regions[i].first_groups = regions[main].first_groups;
                }
            }
        }
        let index = |id: &str| regions.iter().position(|r: &Region| r.meta.id() == id);
        let mut order: Vec<usize> = FIRST.iter().filter_map(|id| index(id)).collect();
        // Non-geographic entities ("001") are reached only with `+`.
        let rest: Vec<usize> = (0..regions.len())
            .filter(|i| !order.contains(i) && regions[*i].meta.id() != "001")
            .collect();
        order.extend(rest);
        let by_id = regions
            .iter()
            .enumerate()
            .map(|(i, r)| (r.meta.id(), i))
            .collect();
        Phones {
            regions,
            by_code,
            order,
            by_id,
        }
    }

    /// Whether `nsn` is a valid national significant number of region `r`.
    fn valid(&self, r: usize, nsn: &str) -> bool {
        let region = &self.regions[r];
        if nsn.is_empty() || nsn.len() > MAX_NSN || region.lengths & (1 << nsn.len()) == 0 {
            return false;
        }
        self.validity(r)
            .is_some_and(|re| re.is_match(Input::new(nsn).anchored(Anchored::Yes)))
    }

    /// Region `r`'s validity pattern, compiled on first use.
    fn validity(&self, r: usize) -> Option<&meta::Regex> {
        let region = &self.regions[r];
        region
            .valid
            .get_or_init(|| compile_valid(region.meta))
            .as_ref()
    }

    /// A number written after an international marker: `digits` are the
    /// country code and the national number, `(0)` already dropped.
    pub(crate) fn international(&self, digits: &str) -> bool {
        for cc_len in 1..=3 {
            let Some(cc) = digits.get(..cc_len).and_then(|c| c.parse::<u16>().ok()) else {
                return false;
            };
            let Some(regions) = self.by_code.get(&cc) else {
                continue;
            };
            let nsn = &digits[cc_len..];
            if regions.iter().any(|&r| self.valid(r, nsn)) {
                return true;
            }
            // `+49 030 ...`: the national prefix written after the code.
            for &r in regions {
                if let Some(p) = &self.regions[r].national_prefix
                    && let Some(rest) = nsn.strip_prefix(p.as_str())
                    && self.valid(r, rest)
                {
                    return true;
                }
            }
            // Country codes are prefix-free: no other length can match.
            // Marked as international, a number of a length the country
            // uses is taken as a phone even if no number type fits it (a
            // fictional `+1 555 ...` number in a ticket is still meant as one).
            return regions
                .iter()
                .any(|&r| nsn.len() < 32 && self.regions[r].lengths & (1 << nsn.len()) != 0);
        }
        false
    }

    /// A number written without an international marker. `digits` as
    /// written (national prefix included), `bounds` the digit positions
    /// where a separator stands between two digits. `grouped`: whether
    /// the grouping must match the region's format (no context words mark
    /// the number). `prefer`: regions tried first.
    pub(crate) fn national(
        &self,
        digits: &str,
        bounds: &[usize],
        grouped: bool,
        prefer: &[Id],
    ) -> bool {
        if digits.len() < 5 || digits.len() > MAX_NSN + 3 {
            return false;
        }
        if grouped && bounds.is_empty() {
            return false;
        }
        let preferred = prefer
            .iter()
            .filter_map(|id| self.by_id.get::<str>(id.as_ref()).copied());
        preferred
            .chain(self.order.iter().copied())
            .any(|r| self.national_in(r, digits, bounds, grouped))
    }

    fn national_in(&self, r: usize, digits: &str, bounds: &[usize], grouped: bool) -> bool {
        let region = &self.regions[r];
        // Grouped as written, the area code must have a length one of the
        // region's formats gives it: checked before any pattern runs.
        let area_fits = |offset: usize| {
            !grouped
                || bounds.iter().find(|b| **b > offset).is_some_and(|b| {
                    b - offset < 32 && region.first_groups & (1 << (b - offset)) != 0
                })
        };
        // Written without the national prefix, then with it.
        if !region.prefix_always
            && area_fits(0)
            && self.valid(r, digits)
            && self.accept(r, digits, 0, bounds, grouped, false)
        {
            return true;
        }
        let Some(prefix) = &region.national_prefix else {
            return false;
        };
        let Some(nsn) = digits.strip_prefix(prefix.as_str()) else {
            return false;
        };
        area_fits(prefix.len())
            && self.valid(r, nsn)
            && self.accept(r, nsn, prefix.len(), bounds, grouped, true)
    }

    /// `nsn` (valid for region `r`) as written: `offset` digits of national
    /// prefix before it.
    fn accept(
        &self,
        r: usize,
        nsn: &str,
        offset: usize,
        bounds: &[usize],
        grouped: bool,
        with_prefix: bool,
    ) -> bool {
        let Some(formats) = self.formats(r) else {
            // No formats at all (non-geographic codes): national writing is
            // not a thing there.
            return !grouped;
        };
        let Some((i, groups, n)) = formats.format_for(nsn) else {
            return !grouped;
        };
        if !with_prefix && formats.prefix_required[i] && self.regions[r].national_prefix.is_some() {
            // libphonenumber's "national prefix present if required".
            return false;
        }
        if !grouped {
            return true;
        }
        grouping_fits(&groups[..n], bounds, offset)
    }

    /// Compiles a region's patterns now rather than on its first number.
    pub(crate) fn warm(&self, region: Id) {
        if let Some(&r) = self.by_id.get::<str>(region.as_ref()) {
            let _ = self.validity(r);
            let _ = self.formats(r);
        }
    }

    /// Compiles every region's patterns, the most likely first.
    pub(crate) fn warm_all(&self) {
        for &r in &self.order {
            let _ = self.validity(r);
            let _ = self.formats(r);
        }
    }

    fn formats(&self, r: usize) -> Option<&Formats> {
        let from = self.regions[r].formats_from;
        self.regions[from]
            .formats
            .get_or_init(|| Formats::compile(self.regions[from].meta))
            .as_ref()
    }
}

/// The shortest and longest length of a format pattern's first capture
/// group (`(\d{2,3})(\d{4})` gives 2 and 3), read from the pattern's syntax.
fn first_group_lengths(pattern: &str) -> Option<(usize, usize)> {
    use regex_syntax::hir::{Hir, HirKind};
    fn first_capture(h: &Hir) -> Option<&Hir> {
        match h.kind() {
            HirKind::Capture(c) => Some(&c.sub),
            HirKind::Concat(parts) => parts.iter().find_map(first_capture),
            _ => None,
        }
    }
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(&compact(pattern))
        .ok()?;
    let group = first_capture(&hir)?;
    let lo = group.properties().minimum_len()?;
    let hi = group.properties().maximum_len()?;
    Some((lo, hi))
}

/// The number types libphonenumber's `is_valid` accepts.
fn number_types(meta: &phonenumber::Metadata) -> [Option<&phonenumber::metadata::Descriptor>; 10] {
    let d = meta.descriptors();
    [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ]
}

/// A format whose national writing must carry the national prefix
/// (its formatting rule writes `$NP` or a literal prefix, not optionally).
fn prefix_required(f: &phonenumber::metadata::Format) -> bool {
    f.national_prefix()
        .is_some_and(|rule| rule.contains("$NP") || rule.starts_with(|c: char| c.is_ascii_digit()))
        && !f.is_national_prefix_optional()
}

/// One pattern for a region's valid numbers: every number type
/// libphonenumber's `is_valid` accepts.
fn compile_valid(meta: &phonenumber::Metadata) -> Option<meta::Regex> {
    let alternatives: Vec<String> = number_types(meta)
        .into_iter()
        .flatten()
        .map(|t| t.national_number().as_str())
        .filter(|p| !p.is_empty() && *p != "NA")
        .map(|p| format!("(?:{})", compact(p)))
        .collect();
    if alternatives.is_empty() {
        return None;
    }
    // The metadata is a constant shipped with the crate; a pattern it
    // holds that does not compile is a bug every test catches.
    let re = meta::Builder::new()
        .configure(config())
        .syntax(ascii())
        .build(&format!("^(?:{})$", alternatives.join("|")))
        .unwrap_or_else(|e| unreachable!("phone metadata of {}: {e}", meta.id()));
    Some(re)
}

/// The candidate's separators against the format's groups (lengths):
/// the first group (area code) is whole and followed by a separator, and
/// every other piece is two or more digits long. Separators between the
/// national prefix and the number are free.
fn grouping_fits(groups: &[usize], bounds: &[usize], offset: usize) -> bool {
    let total: usize = groups.iter().sum();
    let mut buf = [0usize; 32];
    let mut n = 0;
    for b in bounds
        .iter()
        .filter(|b| **b > offset && **b - offset < total)
    {
        if n == buf.len() {
            return false;
        }
        buf[n] = b - offset;
        n += 1;
    }
    let inner = &buf[..n];
    if inner.is_empty() {
        return false;
    }
    let Some(&first) = groups.first() else {
        return false;
    };
    if groups.len() > 1 && !inner.contains(&first) {
        return false;
    }
    // One separator: the format must have two groups too (`030 12345678`),
    // not three (a reference `0379-087191` is no `03 7908 7191`).
    if inner.len() == 1 && groups.len() > 2 {
        return false;
    }
    if inner.iter().any(|b| *b < first) {
        return false;
    }
    let mut last = 0;
    for b in inner.iter().copied().chain(std::iter::once(total)) {
        if b - last < 2 && last != 0 {
            return false;
        }
        last = b;
    }
    true
}

impl Formats {
    fn compile(meta: &phonenumber::Metadata) -> Option<Formats> {
        let formats = meta.formats();
        if formats.is_empty() {
            return None;
        }
        // The last leading-digits pattern is the most specific one.
        let leading_of = |f: &phonenumber::metadata::Format| {
            f.leading_digits().last().map(|p| compact(p.as_str()))
        };
        let has_leading = formats.iter().map(|f| leading_of(f).is_some()).collect();
        let leading: Vec<String> = formats
            .iter()
            .map(|f| leading_of(f).map_or_else(String::new, |p| format!("(?:{p})")))
            .collect();
        let whole: Vec<String> = formats
            .iter()
            .map(|f| format!("(?:{})$", compact(f.pattern().as_str())))
            .collect();
        let prefix_required = formats.iter().map(prefix_required).collect();
        let build = |patterns: &[String]| {
            meta::Builder::new()
                .configure(config())
                .syntax(ascii())
                .build_many(patterns)
                .unwrap_or_else(|e| unreachable!("phone formats of {}: {e}", meta.id()))
        };
        Some(Formats {
            leading: build(&leading),
            has_leading,
            whole: build(&whole),
            prefix_required,
        })
    }

    /// The first format whose leading digits and pattern fit `nsn`, and the
    /// lengths of its digit groups (at most eight).
    fn format_for(&self, nsn: &str) -> Option<(usize, [usize; 8], usize)> {
        let at = |i: usize| Input::new(nsn).anchored(Anchored::Pattern(PatternID::must(i)));
        let i = (0..self.has_leading.len()).find(|&i| {
            (!self.has_leading[i] || self.leading.is_match(at(i))) && self.whole.is_match(at(i))
        })?;
        let mut caps = Captures::all(self.whole.group_info().clone());
        self.whole.search_captures(&at(i), &mut caps);
        let mut groups = [0usize; 8];
        let mut n = 0;
        for g in 1..caps.group_len() {
            if let Some(span) = caps.get_group(g)
                && n < groups.len()
            {
                groups[n] = span.len();
                n += 1;
            }
        }
        Some((i, groups, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_compiles_and_decides() {
        let t = std::time::Instant::now();
        let p = Phones::get();
        let built = t.elapsed();
        assert!(p.regions.len() > 240, "{}", p.regions.len());
        let us = [Id::US];
        assert!(p.international("12025550143"));
        assert!(p.international("4930123456"));
        assert!(!p.international("999123456"));
        assert!(p.national("2025550143", &[3, 6], true, &us));
        assert!(!p.national("2025550143", &[], true, &us));
        assert!(p.national("2025550143", &[], false, &us));
        // Berlin, as Germans write it.
        assert!(p.national("03012345678", &[3], true, &[]));
        // A timestamp's digits.
        assert!(!p.national("2023100816", &[4, 6, 8], true, &[]));
        let _ = built;
    }

    /// Every region's patterns compile (a pattern that did not would panic
    /// on the first number of that region), and every region but the
    /// non-geographic entries has valid numbers and formats.
    #[test]
    fn every_region_compiles() {
        let p = Phones::get();
        p.warm_all();
        for (r, region) in p.regions.iter().enumerate() {
            assert!(p.validity(r).is_some(), "{}", region.meta.id());
        }
        let with_formats = (0..p.regions.len())
            .filter(|r| p.formats(*r).is_some())
            .count();
        assert!(with_formats > 200, "{with_formats}");
    }
}
