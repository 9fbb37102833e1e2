//! Phone numbers of every region libphonenumber knows, decided from its
//! metadata (the `phonenumber` crate's copy) compiled once.
//!
//! Why not call `phonenumber::parse` + `is_valid` per candidate: that crate
//! compiles metadata patterns on demand into a cache of about a hundred
//! regexes, which thrashes as soon as numbers of many regions appear (2,000
//! numbers took 2 s). Here every region's valid national numbers are one
//! pattern of one multi-pattern automaton, so one anchored pass over a digit
//! string tells every region it is valid for; each region's formats are
//! compiled on first use and kept.
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

use phonenumber::metadata::DATABASE;
use regex_automata::util::captures::Captures;
use regex_automata::{Anchored, Input, MatchKind, PatternID, PatternSet, meta};

/// Longest national significant number libphonenumber allows (ITU E.164
/// caps the whole number at 15 digits; some national numbers run to 17).
const MAX_NSN: usize = 17;

pub(crate) struct Phones {
    regions: Vec<Region>,
    /// One pattern per region (same index): its valid national numbers.
    valid: meta::Regex,
    /// Region indexes by country calling code, main region first.
    by_code: HashMap<u16, Vec<usize>>,
    /// Each national prefix in use (`0`, `1`, `8`, `06`, ...) and the
    /// regions that use it.
    prefixes: Vec<(String, Vec<usize>)>,
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
    /// Bit `n` set: national numbers of `n` digits exist.
    lengths: u32,
    /// The index of the region whose formats this one uses (itself, or the
    /// main region of its country code when it has none of its own).
    formats_from: usize,
    formats: OnceLock<Option<Formats>>,
}

/// A region's national formats, compiled on first use.
struct Formats {
    /// One pattern per format: its leading digits (matched as a prefix).
    leading: meta::Regex,
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

fn set_config() -> meta::Config {
    meta::Config::new()
        .match_kind(MatchKind::All)
        .nfa_size_limit(Some(64 << 20))
        .hybrid_cache_capacity(8 << 20)
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
        // "001" entries are non-geographic (satellite, UIFN): reached only
        // with `+`, and still valid for their code.
        let mut by_code: HashMap<u16, Vec<usize>> = HashMap::new();
        let mut regions = Vec::with_capacity(metas.len());
        let mut patterns = Vec::with_capacity(metas.len());
        for (i, m) in metas.iter().enumerate() {
            by_code.entry(m.country_code()).or_default().push(i);
            let d = m.descriptors();
            let types = [
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
            ];
            let alternatives: Vec<String> = types
                .into_iter()
                .flatten()
                .map(|t| t.national_number().as_str())
                .filter(|p| !p.is_empty() && *p != "NA")
                .map(|p| format!("(?:{})", compact(p)))
                .collect();
            // A region with no number types has no valid numbers: a pattern
            // that cannot match keeps the indexes aligned.
            let pattern = if alternatives.is_empty() {
                r"[^\s\S]".to_owned()
            } else {
                format!("^(?:{})$", alternatives.join("|"))
            };
            patterns.push(pattern);
            let lengths = d
                .general()
                .possible_length()
                .iter()
                .filter(|n| **n < 32)
                .fold(0u32, |acc, n| acc | (1 << n));
            let national_prefix = m
                .national_prefix()
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_owned);
            regions.push(Region {
                meta: m,
                national_prefix,
                lengths,
                formats_from: i,
                formats: OnceLock::new(),
            });
        }
        for idx in by_code.values() {
            let main = idx[0];
            for &i in idx {
                if regions[i].meta.formats().is_empty() {
                    regions[i].formats_from = main;
                }
            }
        }
        let mut prefixes: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, r) in regions.iter().enumerate() {
            if let Some(p) = &r.national_prefix {
                match prefixes.iter_mut().find(|(q, _)| q == p) {
                    Some((_, v)) => v.push(i),
                    None => prefixes.push((p.clone(), vec![i])),
                }
            }
        }
        // The metadata is a constant shipped with the crate; a pattern it
        // holds that does not compile is a bug every test catches.
        let valid = meta::Builder::new()
            .configure(set_config())
            .build_many(&patterns)
            .unwrap_or_else(|e| unreachable!("phone metadata: {e}"));
        Phones {
            regions,
            valid,
            by_code,
            prefixes,
        }
    }

    /// Every region `nsn` is a valid national significant number of.
    fn valid_for(&self, nsn: &str, set: &mut PatternSet) {
        set.clear();
        if nsn.is_empty() || nsn.len() > MAX_NSN {
            return;
        }
        let input = Input::new(nsn).anchored(Anchored::Yes);
        self.valid.which_overlapping_matches(&input, set);
    }

    fn set(&self) -> PatternSet {
        PatternSet::new(self.regions.len())
    }

    /// A number written after an international marker: `digits` are the
    /// country code and the national number, `(0)` already dropped.
    pub(crate) fn international(&self, digits: &str) -> bool {
        let mut set = self.set();
        for cc_len in 1..=3 {
            let Some(cc) = digits.get(..cc_len).and_then(|c| c.parse::<u16>().ok()) else {
                return false;
            };
            let Some(regions) = self.by_code.get(&cc) else {
                continue;
            };
            let nsn = &digits[cc_len..];
            self.valid_for(nsn, &mut set);
            if regions.iter().any(|&r| set.contains(PatternID::must(r))) {
                return true;
            }
            // `+49 030 ...`: the national prefix written after the code.
            for &r in regions {
                if let Some(p) = &self.regions[r].national_prefix
                    && let Some(rest) = nsn.strip_prefix(p.as_str())
                {
                    self.valid_for(rest, &mut set);
                    if set.contains(PatternID::must(r)) {
                        return true;
                    }
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
    /// where a separator stands between two digits, `paren_prefix` the
    /// number of leading digits written in parentheses as a national prefix
    /// (`(0)30 ...`). `grouped`: whether the grouping must match the
    /// region's format (no context words mark the number).
    pub(crate) fn national(&self, digits: &str, bounds: &[usize], grouped: bool) -> bool {
        if digits.len() < 5 || digits.len() > MAX_NSN + 3 {
            return false;
        }
        if grouped && bounds.is_empty() {
            return false;
        }
        let mut set = self.set();
        // Written without a national prefix.
        self.valid_for(digits, &mut set);
        for r in set.iter() {
            let r = r.as_usize();
            if self.accept(r, digits, 0, bounds, grouped, false) {
                return true;
            }
        }
        // Written with one.
        for (prefix, members) in &self.prefixes {
            let Some(nsn) = digits.strip_prefix(prefix.as_str()) else {
                continue;
            };
            self.valid_for(nsn, &mut set);
            for &r in members {
                if set.contains(PatternID::must(r))
                    && self.accept(r, nsn, prefix.len(), bounds, grouped, true)
                {
                    return true;
                }
            }
        }
        false
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
        let Some((i, groups)) = formats.format_for(nsn) else {
            return !grouped;
        };
        if !with_prefix && formats.prefix_required[i] && self.regions[r].national_prefix.is_some() {
            // libphonenumber's "national prefix present if required".
            return false;
        }
        if !grouped {
            return true;
        }
        grouping_fits(&groups, bounds, offset)
    }

    /// Compiles a region's formats now rather than on its first number.
    pub(crate) fn warm(&self, region: phonenumber::country::Id) {
        let id: &str = region.as_ref();
        if let Some(r) = self.regions.iter().position(|r| r.meta.id() == id) {
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

/// The candidate's separators against the format's groups (lengths):
/// the first group (area code) is whole and followed by a separator, and
/// every other piece is two or more digits long. Separators between the
/// national prefix and the number are free.
fn grouping_fits(groups: &[usize], bounds: &[usize], offset: usize) -> bool {
    let total: usize = groups.iter().sum();
    let inner: Vec<usize> = bounds
        .iter()
        .filter(|b| **b > offset)
        .map(|b| b - offset)
        .filter(|b| *b < total)
        .collect();
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
        let leading: Vec<String> = formats
            .iter()
            .map(|f| {
                // The last pattern is the most specific one.
                f.leading_digits()
                    .last()
                    .map_or_else(String::new, |p| format!("(?:{})", compact(p.as_str())))
            })
            .collect();
        let whole: Vec<String> = formats
            .iter()
            .map(|f| format!("^(?:{})$", compact(f.pattern().as_str())))
            .collect();
        let prefix_required = formats
            .iter()
            .map(|f| {
                f.national_prefix().is_some_and(|rule| {
                    rule.contains("$NP") || rule.starts_with(|c: char| c.is_ascii_digit())
                }) && !f.is_national_prefix_optional()
            })
            .collect();
        let build = |patterns: &[String]| {
            meta::Builder::new()
                .configure(set_config())
                .build_many(patterns)
                .unwrap_or_else(|e| unreachable!("phone formats of {}: {e}", meta.id()))
        };
        Some(Formats {
            leading: build(&leading),
            whole: build(&whole),
            prefix_required,
        })
    }

    /// The first format whose leading digits and pattern fit `nsn`, and the
    /// lengths of its digit groups.
    fn format_for(&self, nsn: &str) -> Option<(usize, Vec<usize>)> {
        let n = self.prefix_required.len();
        let mut leads = PatternSet::new(n);
        self.leading
            .which_overlapping_matches(&Input::new(nsn).anchored(Anchored::Yes), &mut leads);
        let mut wholes = PatternSet::new(n);
        self.whole
            .which_overlapping_matches(&Input::new(nsn).anchored(Anchored::Yes), &mut wholes);
        let i = (0..n).find(|&i| {
            let id = PatternID::must(i);
            leads.contains(id) && wholes.contains(id)
        })?;
        let mut caps = Captures::all(self.whole.group_info().clone());
        let input = Input::new(nsn).anchored(Anchored::Pattern(PatternID::must(i)));
        self.whole.search_captures(&input, &mut caps);
        let groups = (1..caps.group_len())
            .filter_map(|g| caps.get_group(g))
            .map(|s| s.len())
            .collect();
        Some((i, groups))
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
        assert!(p.international("12025550143"));
        assert!(p.international("4930123456"));
        assert!(!p.international("999123456"));
        assert!(p.national("2025550143", &[3, 6], true));
        assert!(!p.national("2025550143", &[], true));
        assert!(p.national("2025550143", &[], false));
        // Berlin, as Germans write it.
        assert!(p.national("03012345678", &[3], true));
        // A timestamp's digits.
        assert!(!p.national("2023100816", &[4, 6, 8], true));
        let _ = built;
    }
}
