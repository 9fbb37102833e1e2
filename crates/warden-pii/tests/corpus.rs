//! Detection quality on a labelled corpus generated in memory from a seeded
//! PRNG (the same corpus on every run and machine), about 13,000 documents:
//!
//! - phone numbers of 50 regions (libphonenumber's example numbers with
//!   randomised subscriber digits, kept only when valid), each in every
//!   format people write: E.164, international, national, with dashes and
//!   dots, parentheses, `00` for `+`, `+44 (0)20 ...`, extensions, `tel:`
//!   (except spellings that are also IPv4 addresses, `21.23.41.35`);
//! - US SSNs with dashes, spaces, and as nine bare digits in context;
//! - secrets of twenty providers in every assignment spelling (`.env`,
//!   `export`, YAML, JSON, TOML, JS), in prose and headers, connection
//!   strings and database URLs (the label is the value or password only),
//!   JWTs and PEM private keys;
//! - Luhn-valid payment cards of every brand and length, bare and grouped;
//! - IBANs, emails and IP addresses;
//! - over 3,000 hard negatives: timestamps of every common log format,
//!   dates, amounts, versions, UUIDs, hashes, base64, order and tracking
//!   numbers, ISBNs, IP-like strings, bare 9- and 10-digit numbers without
//!   context, counts, numeric JSON ids, coordinates, placeholders.
//!
//! Each document is scanned with `scan_with(doc, &Detect::default())`. A
//! label is found when a finding of its type covers its span; a finding is
//! correct when it overlaps a label of its type. Prints recall and precision
//! per type, the recall per format/region/provider, the first misses and
//! false positives, and the share of negatives with any finding; fails
//! below 0.99 recall or precision, or above 0.5% flagged negatives.
//!
//! Run: `cargo test -p warden-pii --test corpus -- --nocapture`. With
//! `CORPUS_SHOW=<text>` only misses and false positives whose class or
//! section contains the text are printed (`CORPUS_SHOW=intl.00`, `/DE/`,
//! `twilio`, `tracking`), up to 20 of them; `CORPUS_DUMP=<file>` writes every
//! document with its labels and findings as JSON lines.

#[path = "corpus/doc.rs"]
mod doc;
#[path = "corpus/fake.rs"]
mod fake;
#[path = "corpus/negatives.rs"]
mod negatives;
#[path = "corpus/numbers.rs"]
mod numbers;
#[path = "corpus/phones.rs"]
mod phones;
#[path = "corpus/rng.rs"]
mod rng;
#[path = "corpus/secrets.rs"]
mod secrets;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Instant;

use phonenumber::Mode;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use sha2::{Digest as _, Sha256};
use warden_pii::{Detect, Finding, scan_with};

use doc::Doc;
use rng::Rng;

const SEED: u64 = 0x5741_5244_454e_2024;

/// Every entity type with labels in the corpus, with the recall and
/// precision it must reach.
const TYPES: &[(&str, f64, f64)] = &[
    ("PHONE_NUMBER", 0.99, 0.99),
    ("US_SSN", 0.99, 0.99),
    ("PAYMENT_CARD", 0.99, 0.99),
    ("SECRET", 0.99, 0.99),
    ("EMAIL", 0.99, 0.99),
    ("IBAN", 0.99, 0.99),
    ("IP_ADDRESS", 0.99, 0.99),
];

/// The largest share of hard negatives with any finding.
const MAX_NEGATIVE_RATE: f64 = 0.005;

/// How many misses and false positives to print per type, and per group
/// within it (the first part of a label's class, or a document's section),
/// so that one broken format does not hide the others.
const SHOW: usize = 20;
const SHOW_PER_GROUP: usize = 4;

struct Corpus {
    positives: Vec<Doc>,
    negatives: Vec<Doc>,
}

fn build() -> Corpus {
    let root = Rng::new(SEED);
    let mut positives = Vec::new();
    positives.extend(phones::docs(&mut root.fork("phones")));
    positives.extend(numbers::ssn_docs(&mut root.fork("ssn")));
    positives.extend(numbers::card_docs(&mut root.fork("cards")));
    positives.extend(numbers::iban_docs(&mut root.fork("iban")));
    positives.extend(numbers::email_docs(&mut root.fork("email")));
    positives.extend(numbers::ip_docs(&mut root.fork("ip")));
    positives.extend(secrets::docs(&mut root.fork("secrets")));
    let negatives = negatives::docs(&root.fork("negatives"));
    Corpus {
        positives,
        negatives,
    }
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(build)
}

/// A short digest of the whole corpus, printed so a change to it is seen.
fn fingerprint(c: &Corpus) -> String {
    let mut h = Sha256::new();
    for d in c.positives.iter().chain(&c.negatives) {
        h.update(d.section.as_bytes());
        h.update(d.text.as_bytes());
        for l in &d.labels {
            h.update(format!("{}:{}:{}:{};", l.kind, l.class, l.start, l.end).as_bytes());
        }
        h.update([0]);
    }
    h.finalize()[..8].iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `text` around `start..end`, the span in `«»`, newlines escaped.
fn snippet(text: &str, start: usize, end: usize) -> String {
    let mut from = start.saturating_sub(40);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (end + 40).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    let s = format!(
        "{}«{}»{}",
        &text[from..start],
        short(&text[start..end]),
        &text[end..to]
    );
    format!("{s:?}")
}

/// `s`, its middle elided when long (a PEM block, a JWT).
fn short(s: &str) -> String {
    if s.chars().count() <= 120 {
        return s.to_owned();
    }
    let head: String = s.chars().take(60).collect();
    let tail: String = s.chars().skip(s.chars().count() - 40).collect();
    format!("{head}…{tail}")
}

fn findings_str(text: &str, found: &[Finding]) -> String {
    let parts: Vec<String> = found
        .iter()
        .map(|f| format!("{} {:?}", f.kind.as_str(), short(&text[f.start..f.end])))
        .collect();
    format!("[{}]", parts.join(", "))
}

#[derive(Default)]
struct Stats {
    positives: usize,
    found: usize,
    /// Overlapped by a finding of the type, but not covered.
    partial: usize,
    findings: usize,
    correct: usize,
    misses: Examples,
    false_positives: Examples,
    /// Per component of the label's class (format, region, line type; brand,
    /// length, form; provider, spelling): (labels, found).
    by_class: Vec<BTreeMap<String, (usize, usize)>>,
}

/// The first examples of a kind of error, a few per group.
#[derive(Default)]
struct Examples {
    lines: Vec<String>,
    per_group: BTreeMap<String, usize>,
}

impl Examples {
    /// Whether one more example is wanted of `group`, for an error about
    /// `key` (a label's class, a document's section); counts it if so.
    fn wants(&mut self, key: &str, group: &str, limit: usize) -> bool {
        if !shown(key) || self.lines.len() >= limit {
            return false;
        }
        let per_group = if filter().is_some() {
            limit
        } else {
            SHOW_PER_GROUP
        };
        let n = self.per_group.entry(group.to_owned()).or_default();
        *n += 1;
        *n <= per_group
    }
}

#[test]
fn corpus_quality() {
    let t0 = Instant::now();
    let c = corpus();
    let built = t0.elapsed();
    let detect = Detect::default();
    let t1 = Instant::now();

    // `CORPUS_DUMP=<file>` writes every document, its labels and findings
    // as JSON lines, for a closer look.
    let mut dump = std::env::var_os("CORPUS_DUMP").map(|path| (path, String::new()));
    let mut stats: BTreeMap<&str, Stats> = TYPES
        .iter()
        .map(|(t, _, _)| (*t, Stats::default()))
        .collect();
    for d in &c.positives {
        let found = scan_with(&d.text, &detect);
        if let Some((_, buf)) = dump.as_mut() {
            dump_line(buf, d, &found);
        }
        for l in &d.labels {
            let s = stats.entry(l.kind).or_default();
            s.positives += 1;
            let hit = found
                .iter()
                .any(|f| f.kind.as_str() == l.kind && f.start <= l.start && f.end >= l.end);
            let touched = found
                .iter()
                .any(|f| f.kind.as_str() == l.kind && f.start < l.end && l.start < f.end);
            if hit {
                s.found += 1;
            } else if touched {
                s.partial += 1;
            }
            let group = l.class.split('/').next().unwrap_or_default();
            if !hit && s.misses.wants(&l.class, group, SHOW) {
                s.misses.lines.push(format!(
                    "{:<28} {}  found: {}",
                    l.class,
                    snippet(&d.text, l.start, l.end),
                    findings_str(&d.text, &found)
                ));
            }
            for (i, part) in l.class.split('/').enumerate() {
                if s.by_class.len() <= i {
                    s.by_class.push(BTreeMap::new());
                }
                let e = s.by_class[i].entry(part.to_owned()).or_default();
                e.0 += 1;
                e.1 += usize::from(hit);
            }
        }
        for f in &found {
            let kind = f.kind.as_str();
            let s = stats.entry(kind).or_default();
            s.findings += 1;
            let ok = d
                .labels
                .iter()
                .any(|l| l.kind == kind && f.start < l.end && l.start < f.end);
            if ok {
                s.correct += 1;
            } else if s.false_positives.wants(d.section, d.section, SHOW) {
                let what: Vec<&str> = d.labels.iter().map(|l| l.kind).collect();
                s.false_positives.lines.push(format!(
                    "in {} doc (labels {what:?}): {}",
                    d.section,
                    snippet(&d.text, f.start, f.end)
                ));
            }
        }
    }

    let mut flagged = 0;
    let mut flagged_by: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut negative_examples = Examples::default();
    for d in &c.negatives {
        let found = scan_with(&d.text, &detect);
        if let Some((_, buf)) = dump.as_mut() {
            dump_line(buf, d, &found);
        }
        let e = flagged_by.entry(d.section).or_default();
        e.0 += 1;
        if !found.is_empty() {
            flagged += 1;
            e.1 += 1;
            if negative_examples.wants(d.section, d.section, 3 * SHOW) {
                let f = found[0];
                negative_examples.lines.push(format!(
                    "{:<12} {} as {} ({} findings)",
                    d.section,
                    snippet(&d.text, f.start, f.end),
                    f.kind.as_str(),
                    found.len()
                ));
            }
        }
    }
    let scanned = t1.elapsed();
    if let Some((path, buf)) = dump {
        std::fs::write(&path, buf).unwrap_or_else(|e| panic!("CORPUS_DUMP {path:?}: {e}"));
    }

    // The report.
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\ncorpus {}: {} positive documents, {} labels, {} hard negatives; built in {built:.2?}, scanned in {scanned:.2?}\n",
        fingerprint(c),
        c.positives.len(),
        c.positives.iter().map(|d| d.labels.len()).sum::<usize>(),
        c.negatives.len()
    );
    let _ = writeln!(
        out,
        "{:<14} {:>9} {:>7} {:>8} {:>8} {:>9} {:>10}",
        "type", "positives", "found", "partial", "recall", "findings", "precision"
    );
    let mut failures = Vec::new();
    for (kind, min_recall, min_precision) in TYPES {
        let s = &stats[kind];
        let recall = ratio(s.found, s.positives);
        let precision = ratio(s.correct, s.findings);
        let _ = writeln!(
            out,
            "{kind:<14} {:>9} {:>7} {:>8} {recall:>8.4} {:>9} {precision:>10.4}",
            s.positives, s.found, s.partial, s.findings
        );
        if s.positives == 0 {
            failures.push(format!("{kind}: no labels in the corpus"));
        }
        if recall < *min_recall {
            failures.push(format!("{kind}: recall {recall:.4} < {min_recall}"));
        }
        if precision < *min_precision {
            failures.push(format!(
                "{kind}: precision {precision:.4} < {min_precision}"
            ));
        }
    }
    // Findings of a type no label has (none expected).
    for (kind, s) in &stats {
        if !TYPES.iter().any(|(t, _, _)| t == kind) && s.findings > 0 {
            let _ = writeln!(
                out,
                "{kind:<14} {:>9} {:>7} {:>8} {:>8} {:>9} {:>10}",
                0, 0, 0, "-", s.findings, "0"
            );
            failures.push(format!(
                "{kind}: {} findings of an unknown type",
                s.findings
            ));
        }
    }
    let rate = ratio(flagged, c.negatives.len());
    let _ = writeln!(
        out,
        "{:<14} {:>9} {:>7}   (documents with any finding: {rate:.4})",
        "HARD_NEGATIVE",
        c.negatives.len(),
        flagged,
    );
    if rate > MAX_NEGATIVE_RATE {
        failures.push(format!(
            "hard negatives: {flagged} of {} flagged ({rate:.4} > {MAX_NEGATIVE_RATE})",
            c.negatives.len()
        ));
    }

    let _ = writeln!(out, "\nrecall by class (labels found/total):");
    for (kind, _, _) in TYPES {
        let s = &stats[kind];
        for (i, dim) in s.by_class.iter().enumerate() {
            let cells: Vec<String> = dim
                .iter()
                .map(|(k, (n, f))| {
                    if f == n {
                        format!("{k} {f}/{n}")
                    } else {
                        format!("{k} {f}/{n} ({:.0}%)", 100.0 * ratio(*f, *n))
                    }
                })
                .collect();
            let _ = writeln!(out, "  {kind} [{i}]: {}", cells.join(", "));
        }
    }
    let cells: Vec<String> = flagged_by
        .iter()
        .map(|(k, (n, f))| format!("{k} {f}/{n}"))
        .collect();
    let _ = writeln!(
        out,
        "  HARD_NEGATIVE flagged by section: {}",
        cells.join(", ")
    );

    for (kind, _, _) in TYPES {
        let s = &stats[kind];
        if !s.misses.lines.is_empty() {
            let _ = writeln!(out, "\n{kind}: first misses");
            for m in &s.misses.lines {
                let _ = writeln!(out, "  {m}");
            }
        }
        if !s.false_positives.lines.is_empty() {
            let _ = writeln!(out, "\n{kind}: first false positives");
            for m in &s.false_positives.lines {
                let _ = writeln!(out, "  {m}");
            }
        }
    }
    for (kind, s) in &stats {
        if !TYPES.iter().any(|(t, _, _)| t == kind) {
            for m in &s.false_positives.lines {
                let _ = writeln!(out, "  {kind}: {m}");
            }
        }
    }
    if !negative_examples.lines.is_empty() {
        let _ = writeln!(
            out,
            "\nhard negatives flagged (first {}):",
            negative_examples.lines.len()
        );
        for m in &negative_examples.lines {
            let _ = writeln!(out, "  {m}");
        }
    }
    eprintln!("{out}");
    assert!(failures.is_empty(), "{failures:#?}");
}

/// One JSON line for `CORPUS_DUMP`: the document, its labels, its findings.
fn dump_line(buf: &mut String, d: &Doc, found: &[Finding]) {
    let span = |kind: &str, start: usize, end: usize| {
        serde_json::json!({
            "kind": kind,
            "start": start,
            "end": end,
            "value": &d.text[start..end],
        })
    };
    let labels: Vec<_> = d
        .labels
        .iter()
        .map(|l| {
            let mut v = span(l.kind, l.start, l.end);
            v["class"] = l.class.clone().into();
            v
        })
        .collect();
    let findings: Vec<_> = found
        .iter()
        .map(|f| span(f.kind.as_str(), f.start, f.end))
        .collect();
    let line = serde_json::json!({
        "section": d.section,
        "text": d.text,
        "labels": labels,
        "findings": findings,
    });
    buf.push_str(&line.to_string());
    buf.push('\n');
}

/// Whether to print examples of `class` (a label's class, or a document's
/// section): all, or those containing `CORPUS_SHOW` (say `CORPUS_SHOW=intl.00`
/// or `CORPUS_SHOW=/DE/` or `CORPUS_SHOW=twilio`). Counts are unaffected.
fn shown(class: &str) -> bool {
    filter().is_none_or(|f| class.contains(f))
}

fn filter() -> Option<&'static str> {
    static FILTER: OnceLock<Option<String>> = OnceLock::new();
    FILTER
        .get_or_init(|| std::env::var("CORPUS_SHOW").ok().filter(|f| !f.is_empty()))
        .as_deref()
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// The corpus checks its own labels, independently of the detector: spans
/// in bounds and disjoint, each value valid for its type (phones parse to a
/// valid number of their region, cards pass Luhn, SSNs are outside the
/// never-issued ranges, IBANs pass mod-97, IPs parse), and every section
/// and region present.
#[test]
fn corpus_labels_are_valid() {
    let c = corpus();
    assert!(c.negatives.len() >= 3000, "{} negatives", c.negatives.len());
    assert!(c.negatives.iter().all(|d| d.labels.is_empty()));
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let mut regions = std::collections::BTreeSet::new();
    for d in &c.positives {
        assert!(!d.labels.is_empty(), "positive without label: {:?}", d.text);
        let mut spans: Vec<(usize, usize)> = d.labels.iter().map(|l| (l.start, l.end)).collect();
        spans.sort_unstable();
        assert!(
            spans.windows(2).all(|w| w[0].1 <= w[1].0),
            "overlapping labels in {:?}",
            d.text
        );
        for l in &d.labels {
            assert!(l.start < l.end && l.end <= d.text.len());
            assert!(d.text.is_char_boundary(l.start) && d.text.is_char_boundary(l.end));
            let v = &d.text[l.start..l.end];
            *per_kind.entry(l.kind).or_default() += 1;
            let digits: String = v.chars().filter(char::is_ascii_digit).collect();
            let ok = match l.kind {
                "PHONE_NUMBER" => {
                    let region = l.class.split('/').nth(1).unwrap_or_default();
                    regions.insert(region.to_owned());
                    let id: phonenumber::country::Id =
                        region.parse().unwrap_or_else(|_| panic!("{region}"));
                    let as_plus = v.strip_prefix("00").map(|r| format!("+{r}"));
                    let text = as_plus.as_deref().unwrap_or(v);
                    (7..=17).contains(&digits.len())
                        && phonenumber::parse(Some(id), text)
                            .is_ok_and(|n| phonenumber::is_valid(&n))
                }
                "US_SSN" => numbers::ssn_valid(&digits) && v.len() <= 11,
                "PAYMENT_CARD" => {
                    (12..=19).contains(&digits.len())
                        && numbers::luhn_ok(&digits)
                        && v.chars()
                            .all(|ch| ch.is_ascii_digit() || ch == ' ' || ch == '-')
                }
                "IBAN" => numbers::iban_valid(v),
                "EMAIL" => v
                    .split_once('@')
                    .is_some_and(|(a, b)| !a.is_empty() && b.contains('.')),
                "IP_ADDRESS" => v.parse::<std::net::IpAddr>().is_ok(),
                "SECRET" => {
                    v.len() >= 12
                        && (v.starts_with("-----BEGIN") || !v.contains(char::is_whitespace))
                }
                other => panic!("unknown kind {other}"),
            };
            assert!(
                ok,
                "bad {} label {:?} ({}) in {:?}",
                l.kind, v, l.class, d.text
            );
        }
    }
    for (kind, _, _) in TYPES {
        assert!(
            per_kind.get(kind).copied().unwrap_or(0) >= 100,
            "{kind}: {per_kind:?}"
        );
    }
    assert!(
        regions.len() >= 40,
        "{} regions: {regions:?}",
        regions.len()
    );
    // Deterministic: a second build is identical.
    assert_eq!(fingerprint(c), fingerprint(&build()));
}

// ---- Properties ----

/// Sentences a phone number is written in, for the properties.
const SENTENCES: &[&str] = &[
    "Call me at {v} tomorrow.",
    "Tel.: {v}",
    "My number is {v}, thanks!",
    "{\"phone\": \"{v}\"}",
    "name,phone\nAnna,{v}\n",
    "Telefon: {v}",
];

/// Where regrouped digits appear: references, and log lines for timestamps.
const REFERENCES: &[&str] = &[
    "Payment reference {v} received.",
    "Batch no. {v} passed QA.",
    "see {v} in the ledger",
    "{\"ref\": \"{v}\"}",
];
const LOG_LINES: &[&str] = &[
    "{v} INFO worker started",
    "[{v}] ERROR retrying in 30s",
    "The outage started at {v} and lasted an hour.",
    "{\"time\": \"{v}\", \"level\": \"info\"}",
];

fn groups(s: &str) -> Vec<usize> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .map(str::len)
        .collect()
}

fn regroup(digits: &str, sizes: &[usize], sep: &str) -> String {
    let mut parts = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < digits.len() {
        let n = sizes[i % sizes.len()].min(digits.len() - at);
        parts.push(&digits[at..at + n]);
        at += n;
        i += 1;
    }
    parts.join(sep)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // Deterministic like the corpus; no regression files to write.
        rng_seed: RngSeed::Fixed(SEED),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// A valid number of any covered region, in its national, international
    /// or E.164 form, with spaces, dashes or dots between the groups, inside
    /// a sentence: found as a phone number covering it.
    #[test]
    fn phone_in_any_format_is_found(
        region in 0..phones::REGIONS.len(),
        line in 0..phones::LINES.len(),
        seed in any::<u64>(),
        form in 0..3usize,
        sep in prop::sample::select(vec![' ', '-', '.']),
        sentence in prop::sample::select(SENTENCES),
    ) {
        let mut rng = Rng::new(seed);
        let p = phones::generate(&mut rng, phones::REGIONS[region], phones::LINES[line]);
        prop_assume!(p.is_some());
        let p = p.unwrap_or_else(|| unreachable!());
        let base = phones::fmt(&p, [Mode::National, Mode::International, Mode::E164][form]);
        let written = phones::resep(&base, sep);
        prop_assume!(phones::same_number(&p, &written));
        let (head, tail) = sentence.split_once(doc::V).unwrap_or_default();
        let text = format!("{head}{written}{tail}");
        let (start, end) = (head.len(), head.len() + written.len());
        let found = scan_with(&text, &Detect::default());
        prop_assert!(
            found.iter().any(|f| f.kind.as_str() == "PHONE_NUMBER" && f.start <= start && f.end >= end),
            "{} {} not found in {:?}: {}",
            p.region, p.line, text, findings_str(&text, &found)
        );
    }

    /// The same digits regrouped against the region's formats, as a
    /// reference (`REF-<digits>`), a timestamp (`YYYY-MM-DD HH:MM:SS`), a
    /// batch number in irregular groups (2-1-5-...) or a slashed document
    /// number: not a phone number.
    #[test]
    fn regrouped_digits_are_not_phones(
        region in 0..phones::REGIONS.len(),
        line in 0..phones::LINES.len(),
        seed in any::<u64>(),
        national in any::<bool>(),
        shape in 0..4usize,
        sizes in prop::sample::select(vec![vec![2, 1, 5], vec![1, 5, 2], vec![5, 1, 2], vec![1, 1, 6]]),
        context in 0..4usize,
    ) {
        let mut rng = Rng::new(seed);
        let p = phones::generate(&mut rng, phones::REGIONS[region], phones::LINES[line]);
        prop_assume!(p.is_some());
        let p = p.unwrap_or_else(|| unreachable!());
        let nat = phones::fmt(&p, Mode::National);
        let digits: String = if national {
            nat.chars().filter(char::is_ascii_digit).collect()
        } else {
            phones::fmt(&p, Mode::E164).trim_start_matches('+').to_owned()
        };
        let value = match shape {
            0 => format!("REF-{digits}"),
            1 => {
                let d: String = digits.chars().cycle().take(14).collect();
                format!("{}-{}-{} {}:{}:{}", &d[..4], &d[4..6], &d[6..8], &d[8..10], &d[10..12], &d[12..])
            }
            2 => {
                let v = regroup(&digits, &sizes, "-");
                let intl = phones::fmt(&p, Mode::International);
                prop_assume!(groups(&v) != groups(&nat) && groups(&v) != groups(&intl));
                v
            }
            _ => format!("DOC/{}/{}", &digits[..4], &digits[4..]),
        };
        let context = if shape == 1 { LOG_LINES[context] } else { REFERENCES[context] };
        let (head, tail) = context.split_once(doc::V).unwrap_or_default();
        let text = format!("{head}{value}{tail}");
        let (start, end) = (head.len(), head.len() + value.len());
        let found = scan_with(&text, &Detect::default());
        prop_assert!(
            !found.iter().any(|f| f.kind.as_str() == "PHONE_NUMBER" && f.start < end && start < f.end),
            "{} {}: {:?} flagged: {}",
            p.region, p.line, text, findings_str(&text, &found)
        );
    }
}
