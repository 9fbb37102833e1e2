//! Throughput of the detector and of body masking, each measured against
//! baselines in the same group and the same run (the machine is shared, so
//! only ratios between lines of one run mean anything):
//!
//! - `byte_pass`: count the `@` bytes, the floor for anything that reads
//!   every byte;
//! - `serde_roundtrip`: `serde_json::from_slice` then `to_vec` of the same
//!   body, the floor for a masker that parses the JSON to know which strings
//!   are text.
//!
//! # Inputs: values that do not come back
//!
//! A detector that remembered its checks (the one of `d8d7d0c` kept
//! libphonenumber's answers per digit string) is measured by an input that
//! repeats its numbers, or one fixed input scanned again and again, as a
//! cache lookup; and a lazy DFA that has seen a text before answers from
//! states it already built. Every input here is generated from a seeded
//! PRNG (`SplitMix64`, so runs are reproducible), and **every measured
//! iteration scans a freshly generated input** (`iter_batched_ref`:
//! generating it is not timed; each benchmark line draws from its own seed
//! sequence). The rare repeats are phones, which differ in their last four
//! digits only (about 60 example numbers, 10,000 endings each), and dates,
//! of which there are only so many, here as in real traffic. The baselines
//! (`byte_pass`, `serde_roundtrip`) scan one instance.
//!
//! `WARDEN_BENCH_DUMP=<dir>` writes the two `scan_varied` inputs to files
//! (to profile the scan alone) and prints what was found in the clean one.
//!
//! Group `scan_varied`, on text of exactly 256 KiB:
//!
//! - `clean`: pasted text with no personal data but many numbers: support
//!   tickets (versions, order and invoice numbers, amounts, dates, a few
//!   non-ASCII words), ISO-8601 and syslog log lines (request ids, UUIDs,
//!   durations, byte counts, pids, epoch milliseconds), JSON records (numeric
//!   ids, amounts, SHA-1 checksums, timestamps), CSV rows of numbers, commit
//!   and image digests, `KEY=value` configuration. About 14% of its bytes are
//!   digits (19% in `dense`).
//! - `dense`: the same kinds of text with a distinct value to find every 80
//!   bytes on average: phone numbers from 30 regions' fixed-line and mobile
//!   examples in libphonenumber's metadata, last four digits random, written
//!   in national or international format (or E.164); emails; Luhn-valid
//!   cards of four networks, spaced, dashed or plain; SSNs; IBANs of 15
//!   countries with valid mod-97 check digits, grouped or compact; IPv4 and
//!   IPv6 addresses; `AKIA` keys, `ghp_` tokens, `password=` and `api_key:`
//!   assignments of random values.
//!
//! Lines: `scan/clean` and `scan/dense` (`warden_pii::scan`, the default
//! `Detect`: US national formats), `scan_with_6_regions/dense`
//! (`scan_with`, national formats of US GB DE FR JP BR), `byte_pass/dense`.
//! Set-up prints, once, each corpus's digit share, its planted values and
//! what the detector found (findings on `clean` are false positives).
//!
//! Groups `scan` and `mask_request`: OpenAI chat-completions bodies of
//! exactly 1 KB and 32 KB (several turns, a tool call with JSON arguments),
//! with and without personal data. With it, every user turn and tool call
//! carries its own email, phone (mixed regions and formats), card, IP, IBAN
//! and SSN, and every iteration gets a fresh body. `scan` runs the detector
//! over the raw body text; `mask_request` parses the body, masks every text
//! field with a profile that redacts every entity type and serializes it
//! again, which is what the gateway pays per request.
//!
//! Run: `cargo bench -p warden-pii` (add `-- --warm-up-time 1
//! --measurement-time 3` for a quicker pass, or `-- scan_varied` for one
//! group).
#![expect(
    clippy::expect_used,
    reason = "benchmark set-up: a failure is a bug in the benchmark"
)]

use std::cell::Cell;
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::OnceLock;

use criterion::{
    BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use serde_json::{Value, json};
use warden_pii::json::{Shape, mask_request};
use warden_pii::mask::{Action, KINDS, Profile, Session};

// ---------------------------------------------------------------------------
// Deterministic randomness

/// `SplitMix64`: tiny, fast, and good enough to make values distinct.
struct Rng(u64);

impl Rng {
    /// Seed `seed` of stream `stream`: every benchmark line has its own.
    fn new(stream: u64, seed: u64) -> Rng {
        let mut r = Rng(stream.wrapping_mul(0xA076_1D64_78BD_642F) ^ seed);
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn idx(&mut self, n: usize) -> usize {
        usize::try_from(self.below(n as u64)).expect("an index fits")
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T: ?Sized>(&mut self, xs: &[&'a T]) -> &'a T {
        xs[self.idx(xs.len())]
    }

    fn digit(&mut self) -> char {
        char::from(b'0' + u8::try_from(self.below(10)).expect("a digit"))
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| self.digit()).collect()
    }

    fn chars_of(&mut self, set: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| char::from(set[self.idx(set.len())]))
            .collect()
    }

    fn hex(&mut self, n: usize) -> String {
        self.chars_of(b"0123456789abcdef", n)
    }

    fn alnum(&mut self, n: usize) -> String {
        self.chars_of(ALNUM, n)
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";

// ---------------------------------------------------------------------------
// Values to find

/// The regions whose example numbers the phones are made from.
const PHONE_REGIONS: &[&str] = &[
    "US", "GB", "DE", "FR", "IT", "ES", "NL", "BR", "JP", "IN", "AU", "CA", "MX", "CH", "SE", "PL",
    "CN", "KR", "SG", "ZA", "AT", "BE", "DK", "NO", "FI", "IE", "PT", "NZ", "AR", "TR",
];

/// The regions of `scan_with_6_regions`.
const SIX_REGIONS: [&str; 6] = ["US", "GB", "DE", "FR", "JP", "BR"];

/// A region's fixed-line or mobile example number (national significant
/// digits), from libphonenumber's metadata.
struct PhoneTemplate {
    region: phonenumber::country::Id,
    example: &'static str,
}

fn phone_templates() -> &'static [PhoneTemplate] {
    static TEMPLATES: OnceLock<Vec<PhoneTemplate>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let db: &'static phonenumber::metadata::Database = &phonenumber::metadata::DATABASE;
        let mut out = Vec::new();
        for code in PHONE_REGIONS {
            let meta = db.by_id(*code).expect("a region in the metadata");
            let region = code.parse().expect("a region id");
            let d = meta.descriptors();
            for desc in [d.fixed_line(), d.mobile()].into_iter().flatten() {
                if let Some(example) = desc.example() {
                    out.push(PhoneTemplate { region, example });
                }
            }
        }
        assert!(out.len() >= 2 * PHONE_REGIONS.len() - 4, "phone templates");
        out
    })
}

/// A valid phone number of a random region: its example with the last four
/// digits random, in national (40%), international (50%) or E.164 format.
fn phone(rng: &mut Rng) -> String {
    let templates = phone_templates();
    loop {
        let t = &templates[rng.idx(templates.len())];
        let keep = t.example.len().saturating_sub(4);
        let digits = format!(
            "{}{}",
            &t.example[..keep],
            rng.digits(t.example.len() - keep)
        );
        let Ok(n) = phonenumber::parse(Some(t.region), &digits) else {
            continue;
        };
        if !phonenumber::is_valid(&n) {
            continue;
        }
        let mode = match rng.below(10) {
            0..=3 => phonenumber::Mode::National,
            4..=8 => phonenumber::Mode::International,
            _ => phonenumber::Mode::E164,
        };
        return phonenumber::format(&n).mode(mode).to_string();
    }
}

const FIRST: &[&str] = &[
    "anna", "ben", "carla", "david", "elena", "felix", "grace", "hugo", "ines", "jonas", "kim",
    "lena", "marco", "nina", "oscar", "paula", "quentin", "rosa", "sven", "tara", "umar", "vera",
    "wei", "yuki", "zoe", "aisha", "bruno", "chloe", "diego", "emma", "farid", "giulia", "hana",
    "ivan", "julia", "kenji", "lucas", "maya", "noah", "olga", "priya", "rafael", "sofia", "tomas",
];
#[rustfmt::skip]
const LAST: &[&str] = &[
    "schmidt", "martin", "rossi", "garcia", "jansen", "silva", "tanaka", "sharma", "smith",
    "tremblay", "hernandez", "meier", "andersson", "nowak", "wang", "kim", "tan", "naidoo",
    "gruber", "peeters", "hansen", "berg", "virtanen", "murphy", "costa", "walker", "fernandez",
    "yilmaz", "muller", "dubois", "bianchi", "lopez", "devries", "santos", "suzuki", "patel",
];
#[rustfmt::skip]
const MAIL_DOMAINS: &[&str] = &[
    "gmail.com", "outlook.com", "yahoo.fr", "web.de", "icloud.com", "proton.me",
    "acme-corp.com", "example.org", "mail.example.co.uk", "nordwind.de", "globex.io",
    "initech.com.br", "umbrella.co.jp",
];

fn email(rng: &mut Rng) -> String {
    let (f, l) = (rng.pick(FIRST), rng.pick(LAST));
    let user = match rng.below(4) {
        0 => format!("{f}.{l}"),
        1 => format!("{}{l}{}", &f[..1], rng.range(1, 999)),
        2 => format!("{f}_{l}{}", rng.range(70, 99)),
        _ => format!(
            "{f}.{l}+{}",
            rng.pick(&["billing", "support", "news", "work"])
        ),
    };
    format!("{user}@{}", rng.pick(MAIL_DOMAINS))
}

/// The check digit that makes `payload` followed by it Luhn-valid.
fn luhn_digit(payload: &[u8]) -> u8 {
    let sum: u32 = payload
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let v = u32::from(*d);
            if i % 2 == 0 {
                if v * 2 > 9 { v * 2 - 9 } else { v * 2 }
            } else {
                v
            }
        })
        .sum();
    u8::try_from((10 - sum % 10) % 10).expect("a digit")
}

/// A random Luhn-valid card of Visa, Mastercard, Amex or Discover, grouped
/// with spaces (50%), dashes (20%) or not at all.
fn card(rng: &mut Rng) -> String {
    const FOURS: &[usize] = &[4, 4, 4, 4];
    let (prefix, len, groups) = match rng.below(4) {
        0 => ("4".to_owned(), 16, FOURS),
        1 => (format!("5{}", rng.range(1, 5)), 16, FOURS),
        2 => (rng.pick(&["34", "37"]).to_owned(), 15, &[4, 6, 5][..]),
        _ => ("6011".to_owned(), 16, FOURS),
    };
    let mut d: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
    while d.len() < len - 1 {
        d.push(u8::try_from(rng.below(10)).expect("a digit"));
    }
    d.push(luhn_digit(&d));
    let plain: String = d.iter().map(|x| char::from(b'0' + x)).collect();
    let sep = match rng.below(10) {
        0..=4 => " ",
        5 | 6 => "-",
        _ => return plain,
    };
    let mut out = String::new();
    let mut at = 0;
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&plain[at..at + g]);
        at += g;
    }
    out
}

fn ssn(rng: &mut Rng) -> String {
    let area = loop {
        let a = rng.range(1, 899);
        if a != 666 {
            break a;
        }
    };
    let sep = if rng.chance(85) { '-' } else { ' ' };
    format!(
        "{area:03}{sep}{:02}{sep}{:04}",
        rng.range(1, 99),
        rng.range(1, 9999)
    )
}

/// IBAN layouts: country and BBAN as `n` (digits) and `a` (letters) runs.
const IBAN_LAYOUTS: &[(&str, &[(char, usize)])] = &[
    ("DE", &[('n', 18)]),
    ("GB", &[('a', 4), ('n', 14)]),
    ("FR", &[('n', 23)]),
    ("ES", &[('n', 20)]),
    ("IT", &[('a', 1), ('n', 22)]),
    ("NL", &[('a', 4), ('n', 10)]),
    ("CH", &[('n', 17)]),
    ("BE", &[('n', 12)]),
    ("AT", &[('n', 16)]),
    ("PL", &[('n', 24)]),
    ("PT", &[('n', 21)]),
    ("IE", &[('a', 4), ('n', 14)]),
    ("SE", &[('n', 20)]),
    ("DK", &[('n', 14)]),
    ("NO", &[('n', 11)]),
];

/// ISO 7064 mod 97 of `s` with letters as 10..35.
fn mod97(s: &str) -> u32 {
    s.bytes().fold(0, |rem, b| match b {
        b'0'..=b'9' => (rem * 10 + u32::from(b - b'0')) % 97,
        _ => (rem * 100 + u32::from(b - b'A') + 10) % 97,
    })
}

/// A random IBAN with valid check digits, in groups of four (70%) or compact.
fn iban(rng: &mut Rng) -> String {
    let (country, layout) = IBAN_LAYOUTS[rng.idx(IBAN_LAYOUTS.len())];
    let mut bban = String::new();
    for (kind, n) in layout {
        if *kind == 'a' {
            bban.push_str(&rng.chars_of(UPPER, *n));
        } else {
            bban.push_str(&rng.digits(*n));
        }
    }
    let check = 98 - mod97(&format!("{bban}{country}00"));
    let compact = format!("{country}{check:02}{bban}");
    if rng.chance(30) {
        return compact;
    }
    let chunks: Vec<&str> = compact
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("ASCII"))
        .collect();
    chunks.join(" ")
}

/// A public-looking IPv4 address (85%) or a documentation-range IPv6 one.
fn ip(rng: &mut Rng) -> String {
    if rng.chance(85) {
        let first = loop {
            let f = rng.range(1, 223);
            if f != 10 && f != 127 {
                break f;
            }
        };
        format!(
            "{first}.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            rng.range(1, 254)
        )
    } else {
        format!(
            "2001:db8:{:x}:{:x}::{:x}",
            rng.range(0x100, 0xffff),
            rng.below(0x1_0000),
            rng.range(1, 0xffff)
        )
    }
}

/// An AWS key id, a GitHub token, or a random password or API key assigned
/// to its name.
fn secret(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!(
            "AKIA{}",
            rng.chars_of(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
        ),
        1 => format!("ghp_{}", rng.alnum(36)),
        2 => format!("password={}{}", rng.alnum(17), rng.digits(3)),
        _ => format!("api_key: {}{}", rng.hex(30), rng.chars_of(b"abcdef", 2)),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pii {
    Phone,
    Email,
    Card,
    Ssn,
    Iban,
    Ip,
    Secret,
}

impl Pii {
    /// Phones are the most frequent, and the dearest to check.
    fn random(rng: &mut Rng) -> Pii {
        match rng.below(100) {
            0..=29 => Pii::Phone,
            30..=49 => Pii::Email,
            50..=61 => Pii::Card,
            62..=69 => Pii::Ssn,
            70..=79 => Pii::Iban,
            80..=91 => Pii::Ip,
            _ => Pii::Secret,
        }
    }

    fn value(self, rng: &mut Rng) -> String {
        match self {
            Pii::Phone => phone(rng),
            Pii::Email => email(rng),
            Pii::Card => card(rng),
            Pii::Ssn => ssn(rng),
            Pii::Iban => iban(rng),
            Pii::Ip => ip(rng),
            Pii::Secret => secret(rng),
        }
    }

    /// A field name for the value in a log line, JSON record or CSV header.
    fn field(self) -> &'static str {
        match self {
            Pii::Phone => "phone",
            Pii::Email => "email",
            Pii::Card => "card",
            Pii::Ssn => "ssn",
            Pii::Iban => "iban",
            Pii::Ip => "client_ip",
            Pii::Secret => "credential",
        }
    }
}

// ---------------------------------------------------------------------------
// Text with numbers

/// The vocabulary of filler sentences, a few words not ASCII.
const PROSE: &str = "the the the a and and to of in for on with is was it we our your this that \
    after before since when but not report export invoice customer account order shipment refund \
    payment dashboard deployment release server database query timeout error request response \
    latency cache queue worker job nightly weekly team support ticket issue page button settings \
    login upload download file folder sync update upgrade migration backup restore fails failed \
    works worked shows showed returns returned takes seems looks still again only also already \
    never sometimes usually slow broken missing duplicate wrong empty correct expected actual \
    quarterly monthly summary table column row chart filter sort list risks owners dates budget \
    forecast contract renewal discount plan user users admin permissions role group project \
    workspace region please could would should can check confirm review escalate Zürich café —";

fn words() -> &'static [&'static str] {
    static WORDS: OnceLock<Vec<&str>> = OnceLock::new();
    WORDS.get_or_init(|| PROSE.split_whitespace().collect())
}

struct Text {
    rng: Rng,
    /// Plant a value every `PII_EVERY` bytes (dense) or never (clean).
    dense: bool,
    out: String,
    planted: usize,
}

/// One value to find per this many bytes, on average, in `dense`.
const PII_EVERY: usize = 80;

const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const CURRENCIES: &[&str] = &["EUR", "USD", "GBP", "CHF", "JPY", "BRL"];
#[rustfmt::skip]
const STATUSES: &[&str] = &[
    "shipped", "pending", "refunded", "cancelled", "delivered", "on_hold",
];
const SERVICES: &[&str] = &[
    "api", "billing", "auth", "export", "search", "gateway", "worker",
];
#[rustfmt::skip]
const PATHS: &[&str] = &[
    "/v1/orders", "/v1/invoices", "/v2/reports", "/v1/users", "/healthz", "/v1/exports",
];

impl Text {
    fn new(rng: Rng, dense: bool) -> Text {
        Text {
            rng,
            dense,
            out: String::new(),
            planted: 0,
        }
    }

    /// Whether a value is owed here (dense only).
    fn due(&self) -> bool {
        self.dense && self.planted * PII_EVERY <= self.out.len()
    }

    fn plant(&mut self) -> (Pii, String) {
        self.planted += 1;
        let kind = Pii::random(&mut self.rng);
        (kind, kind.value(&mut self.rng))
    }

    // Numbers that are not personal data.

    fn version(&mut self) -> String {
        let r = &mut self.rng;
        let v = format!("{}.{}.{}", r.range(0, 12), r.range(0, 40), r.range(0, 30));
        if r.chance(40) { format!("v{v}") } else { v }
    }

    fn date(&mut self) -> String {
        let r = &mut self.rng;
        let (y, m, d) = (r.range(2019, 2026), r.range(1, 12), r.range(1, 28));
        match r.below(4) {
            0 => format!("{d:02}.{m:02}.{y}"),
            1 => format!("{m}/{d}/{y}"),
            _ => format!("{y}-{m:02}-{d:02}"),
        }
    }

    fn time(&mut self) -> String {
        let r = &mut self.rng;
        format!("{:02}:{:02}:{:02}", r.below(24), r.below(60), r.below(60))
    }

    fn iso_timestamp(&mut self) -> String {
        let r = &mut self.rng;
        format!(
            "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            r.range(2024, 2026),
            r.range(1, 12),
            r.range(1, 28),
            r.below(24),
            r.below(60),
            r.below(60),
            r.below(1000)
        )
    }

    fn amount(&mut self) -> String {
        let r = &mut self.rng;
        let (units, cents) = (r.range(1, 4999), r.below(100));
        match r.below(5) {
            0 => format!("${units}.{cents:02}"),
            1 => format!("€{units},{cents:02}"),
            2 => format!("{units}.{cents:02} {}", r.pick(CURRENCIES)),
            3 => format!("${},{:03}.{cents:02}", units / 1000 + 1, units % 1000),
            _ => format!("{units} {}", r.pick(CURRENCIES)),
        }
    }

    fn order(&mut self) -> String {
        let r = &mut self.rng;
        match r.below(4) {
            0 => format!("ORD-{}-{:06}", r.range(2022, 2026), r.below(1_000_000)),
            1 => format!("#{}", r.range(10_000, 999_999)),
            2 => format!("INV-{:07}", r.below(10_000_000)),
            _ => format!("SO{}", r.range(100_000_000, 999_999_999)),
        }
    }

    fn uuid(&mut self) -> String {
        let r = &mut self.rng;
        format!(
            "{}-{}-4{}-{}{}-{}",
            r.hex(8),
            r.hex(4),
            r.hex(3),
            r.pick(&["8", "9", "a", "b"]),
            r.hex(3),
            r.hex(12)
        )
    }

    fn words(&mut self, n: usize) {
        for i in 0..n {
            let w = self.rng.pick(words());
            if i > 0 {
                self.out.push(' ');
            }
            self.out.push_str(w);
        }
    }

    fn sentence(&mut self) {
        let n = self.rng.idx(10) + 5;
        let start = self.out.len();
        self.words(n);
        // Capitalise the first letter (ASCII words only).
        if let Some(first) = self.out[start..].chars().next().filter(char::is_ascii) {
            let up = first.to_ascii_uppercase().to_string();
            self.out.replace_range(start..=start, &up);
        }
        self.out.push_str(". ");
    }

    // The kinds of text.

    /// A support ticket: a greeting, sentences with numbers and filler
    /// sentences, a sign-off.
    fn ticket(&mut self) {
        let who = self.rng.pick(FIRST);
        let _ = write!(self.out, "Ticket #{} — ", self.rng.range(10_000, 99_999));
        self.out.push_str(
            self.rng
                .pick(&["Hi team, ", "Hello, ", "Dear support, ", "Hey, "]),
        );
        for _ in 0..self.rng.range(4, 12) {
            while self.due() {
                self.pii_sentence();
            }
            match self.rng.below(16) {
                0 => {
                    let (v, n) = (self.version(), self.rng.range(2, 90));
                    let _ = write!(
                        self.out,
                        "Since the upgrade to {v} the nightly export fails after {n} minutes. "
                    );
                }
                1 => {
                    let (o, a, d) = (self.order(), self.amount(), self.date());
                    let _ = write!(self.out, "Order {o} was charged {a} twice on {d}. ");
                }
                2 => {
                    let (n, m, d) = (self.rng.range(3, 4000), self.rng.range(1, 250), self.date());
                    let _ = write!(
                        self.out,
                        "We have {n} users on the plan and {m} seats left until {d}. "
                    );
                }
                3 => {
                    let (o, a) = (self.order(), self.amount());
                    let _ = write!(self.out, "Invoice {o} for {a} is still marked as pending. ");
                }
                4 => {
                    let (a, b, t) = (
                        self.rng.range(20, 900),
                        self.rng.range(900, 9000),
                        self.time(),
                    );
                    let _ = write!(
                        self.out,
                        "Latency went from {a} ms to {b} ms at {t} UTC, about {}% of requests. ",
                        self.rng.range(1, 99)
                    );
                }
                5 => {
                    let (n, m) = (self.rng.range(100, 2000), self.rng.range(0, 40));
                    let _ = write!(
                        self.out,
                        "Build {} ran {n} tests, {m} failed, coverage {}.{}%. ",
                        self.rng.range(1000, 99_999),
                        self.rng.range(40, 99),
                        self.rng.below(10)
                    );
                }
                _ => self.sentence(),
            }
        }
        let _ = write!(self.out, "Thanks, {who}\n\n");
    }

    /// A sentence around a value to find.
    fn pii_sentence(&mut self) {
        let (kind, v) = self.plant();
        let s = match kind {
            Pii::Phone => format!("You can reach me on {v} after {}. ", self.time()),
            Pii::Email => format!("Please send the receipt to {v} instead. "),
            Pii::Card => format!(
                "I paid with the card {v}, expiry {:02}/{}. ",
                self.rng.range(1, 12),
                self.rng.range(26, 31)
            ),
            Pii::Ssn => format!("My SSN is {v} if the tax form needs it. "),
            Pii::Iban => format!("Refund to IBAN {v} please. "),
            Pii::Ip => format!("The requests came from {v} this morning. "),
            Pii::Secret => format!("This is what is in the config: {v} "),
        };
        self.out.push_str(&s);
    }

    /// ISO-8601 application log lines.
    fn app_log(&mut self) {
        for _ in 0..self.rng.range(3, 10) {
            let ts = self.iso_timestamp();
            let level = self
                .rng
                .pick(&["INFO", "INFO", "INFO", "WARN", "DEBUG", "ERROR"]);
            let svc = self.rng.pick(SERVICES);
            let id = self.uuid();
            let path = self.rng.pick(PATHS);
            let _ = write!(
                self.out,
                "{ts} {level} {svc} request_id={id} method={} path={path}/{} status={} duration_ms={} bytes={}",
                self.rng.pick(&["GET", "GET", "POST", "PUT"]),
                self.rng.range(1000, 9_999_999),
                self.rng
                    .pick(&["200", "200", "200", "201", "204", "404", "500", "503"]),
                self.rng.range(1, 3000),
                self.rng.range(100, 2_000_000),
            );
            if self.due() {
                let (kind, v) = self.plant();
                let _ = write!(self.out, " {}=\"{v}\"", kind.field());
            }
            self.out.push('\n');
        }
        self.out.push('\n');
    }

    /// Syslog lines.
    fn syslog(&mut self) {
        for _ in 0..self.rng.range(3, 10) {
            let month = self.rng.pick(MONTHS);
            let (day, t) = (self.rng.range(1, 28), self.time());
            let host = format!("web-{:02}", self.rng.range(1, 40));
            let pid = self.rng.range(300, 65_000);
            let from = if self.due() {
                let (kind, v) = self.plant();
                if kind == Pii::Ip {
                    v
                } else {
                    format!("{v} (bastion-{})", self.rng.range(1, 9))
                }
            } else {
                format!("bastion-{}.internal", self.rng.range(1, 9))
            };
            let _ = match self.rng.below(3) {
                0 => writeln!(
                    self.out,
                    "{month} {day:>2} {t} {host} sshd[{pid}]: Accepted publickey for deploy from {from} port {} ssh2",
                    self.rng.range(1024, 65_535)
                ),
                1 => writeln!(
                    self.out,
                    "{month} {day:>2} {t} {host} kernel: [{}.{:06}] eth0: link up, 1000 Mbps, full duplex",
                    self.rng.range(1, 900_000),
                    self.rng.below(1_000_000)
                ),
                _ => writeln!(
                    self.out,
                    "{month} {day:>2} {t} {host} cron[{pid}]: (root) CMD (/usr/local/bin/rotate --keep {} --max-size {}M) by {from}",
                    self.rng.range(3, 30),
                    self.rng.range(10, 500)
                ),
            };
        }
        self.out.push('\n');
    }

    /// JSON records with numeric fields.
    fn json(&mut self) {
        self.out.push_str("[\n");
        for i in 0..self.rng.range(2, 5) {
            if i > 0 {
                self.out.push_str(",\n");
            }
            let (order, amount) = (self.order(), self.rng.range(100, 999_999));
            let (created, version) = (self.iso_timestamp(), self.version());
            let _ = write!(
                self.out,
                "  {{\"id\": {}, \"order\": \"{order}\", \"amount\": {}.{:02}, \"currency\": \"{}\", \"items\": {}, \"created_at\": \"{created}\", \"client_version\": \"{version}\", \"epoch_ms\": {}, \"checksum\": \"{}\"",
                self.rng.range(1, 99_999_999),
                amount / 100,
                amount % 100,
                self.rng.pick(CURRENCIES),
                self.rng.range(1, 40),
                self.rng.range(1_700_000_000_000, 1_799_999_999_999),
                self.rng.hex(40),
            );
            for _ in 0..3 {
                if self.due() {
                    let (kind, v) = self.plant();
                    let _ = write!(self.out, ", \"{}\": \"{v}\"", kind.field());
                }
            }
            self.out.push('}');
        }
        self.out.push_str("\n]\n\n");
    }

    /// A CSV export: numbers, and in dense a column of values to find.
    fn csv(&mut self) {
        let with = self.dense;
        self.out.push_str(if with {
            "date,sku,qty,unit_price,total,status,contact\n"
        } else {
            "date,sku,qty,unit_price,total,status\n"
        });
        for _ in 0..self.rng.range(4, 16) {
            let date = self.date();
            let (qty, price) = (self.rng.range(1, 50), self.rng.range(99, 99_999));
            let total = qty * price;
            let _ = write!(
                self.out,
                "{date},SKU-{}-{},{qty},{}.{:02},{}.{:02},{}",
                self.rng.range(1000, 9999),
                self.rng.pick(&["A", "B", "C", "XL"]),
                price / 100,
                price % 100,
                total / 100,
                total % 100,
                self.rng.pick(STATUSES)
            );
            if with {
                self.out.push(',');
                if self.due() {
                    let (_, v) = self.plant();
                    let _ = write!(self.out, "\"{v}\"");
                }
            }
            self.out.push('\n');
        }
        self.out.push('\n');
    }

    /// Commits and image digests.
    fn digests(&mut self) {
        for _ in 0..self.rng.range(2, 5) {
            let (date, time) = (self.date(), self.time());
            let _ = write!(
                self.out,
                "commit {}\nDate: {date} {time}\n\n    Merge pull request #{} from team/fix-{}\n\n",
                self.rng.hex(40),
                self.rng.range(100, 9999),
                self.rng.pick(words()).to_lowercase(),
            );
            if self.due() {
                self.pii_sentence();
                self.out.push('\n');
            }
        }
        let version = self.version();
        let _ = writeln!(
            self.out,
            "image: registry.example.internal/{}:{version} sha256:{}\n",
            self.rng.pick(SERVICES),
            self.rng.hex(64)
        );
    }

    /// `KEY=value` configuration; in dense, credentials among it.
    fn config(&mut self) {
        let version = self.version();
        let _ = write!(
            self.out,
            "PORT={}\nLOG_LEVEL={}\nMAX_CONNECTIONS={}\nTIMEOUT_MS={}\nRELEASE={version}\nREPLICAS={}\n",
            self.rng.pick(&["8080", "3000", "8443", "9090"]),
            self.rng.pick(&["info", "debug", "warn"]),
            self.rng.range(16, 4096),
            self.rng.range(100, 60_000),
            self.rng.range(1, 12)
        );
        while self.due() {
            let (kind, v) = self.plant();
            let _ = match kind {
                Pii::Secret => writeln!(self.out, "{v}"),
                _ => writeln!(self.out, "{}={v}", kind.field().to_uppercase()),
            };
        }
        self.out.push('\n');
    }

    /// Mostly prose, as pasted text is: digits are about 14% of `clean`.
    fn piece(&mut self) {
        match self.rng.below(100) {
            0..=79 => self.ticket(),
            80..=85 => self.app_log(),
            86..=89 => self.syslog(),
            90..=94 => self.json(),
            95 | 96 => self.csv(),
            97 | 98 => self.digests(),
            _ => self.config(),
        }
    }
}

/// Every corpus is exactly this long.
const CORPUS_BYTES: usize = 256 * 1024;

/// Filler that pads text to its exact size: plain words, no JSON escapes.
const PAD: &str = "the quick brown fox jumps over the lazy dog ";

/// `(text, values planted)`: `size` bytes of pieces, padded with words.
fn corpus(rng: Rng, dense: bool, size: usize) -> (String, usize) {
    let mut t = Text::new(rng, dense);
    t.out.reserve(size + 4096);
    loop {
        let (mark, planted) = (t.out.len(), t.planted);
        t.piece();
        if t.out.len() > size {
            t.out.truncate(mark);
            t.planted = planted;
            break;
        }
    }
    let short = size - t.out.len();
    t.out.extend(PAD.chars().cycle().take(short));
    assert_eq!(t.out.len(), size, "corpus size");
    (t.out, t.planted)
}

/// Seeds for one benchmark line: 0, 1, 2, ... of its own stream.
struct Seeds {
    stream: u64,
    next: Cell<u64>,
}

impl Seeds {
    const fn new(stream: u64) -> Seeds {
        Seeds {
            stream,
            next: Cell::new(0),
        }
    }

    fn rng(&self) -> Rng {
        let seed = self.next.get();
        self.next.set(seed + 1);
        Rng::new(self.stream, seed)
    }
}

// ---------------------------------------------------------------------------
// Chat bodies

const CLEAN: &str = "Please summarise the quarterly report and list the three biggest risks, \
                     with owners and dates, in a short table. ";

/// What a user turn with personal data says: all values new.
fn dirty(rng: &mut Rng) -> String {
    format!(
        "Contact {} or {}, card {}, from {}, IBAN {}, SSN {}. ",
        email(rng),
        phone(rng),
        card(rng),
        ip(rng),
        iban(rng),
        ssn(rng)
    )
}

/// One user turn and an assistant reply; every fourth turn, starting with the
/// first (so the 1 KB body has one too), also a tool call with JSON arguments
/// and its result.
fn turn(i: usize, pii: bool, rng: &mut Rng) -> Vec<Value> {
    let says = if pii { dirty(rng) } else { CLEAN.to_owned() };
    let mut out = vec![
        json!({"role": "user", "content": format!("Turn {i}. {says}{CLEAN}")}),
        json!({"role": "assistant", "content": format!("Noted. {CLEAN}")}),
    ];
    if i.is_multiple_of(4) {
        let args = if pii {
            json!({"customer": email(rng), "card": card(rng), "ip": ip(rng)})
        } else {
            json!({"customer": "the usual account", "report": "q3", "limit": 3})
        };
        let result = if pii { dirty(rng) } else { CLEAN.to_owned() };
        out.push(json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "id": format!("call_{i}"),
                "type": "function",
                "function": {"name": "lookup_customer", "arguments": args.to_string()}
            }]
        }));
        out.push(json!({"role": "tool", "tool_call_id": format!("call_{i}"), "content": format!("Found. {result}")}));
    }
    out
}

fn json_len(v: &Value) -> usize {
    serde_json::to_vec(v).expect("a Value serializes").len()
}

/// A chat-completions body of exactly `size` bytes once serialized.
fn chat_body(size: usize, pii: bool, mut rng: Rng) -> Vec<u8> {
    let body =
        |messages: &[Value]| json!({"model": "gpt-4o", "temperature": 0.2, "messages": messages});
    let last_user = json!({"role": "user", "content": ""});
    let mut messages = vec![json!({"role": "system", "content": "You are a careful analyst."})];
    // The serialized length, kept as messages are added (each after a comma).
    let mut len = json_len(&body(&messages));
    let last_len = json_len(&last_user) + 1;
    let mut i = 0;
    loop {
        let next = turn(i, pii, &mut rng);
        let add: usize = next.iter().map(|m| json_len(m) + 1).sum();
        if len + add + last_len > size {
            break;
        }
        messages.extend(next);
        len += add;
        i += 1;
    }
    // The last user message takes whatever is left.
    let pad: String = PAD.chars().cycle().take(size - len - last_len).collect();
    messages.push(json!({"role": "user", "content": pad}));
    let out = serde_json::to_vec(&body(&messages)).expect("a Value serializes");
    assert_eq!(out.len(), size, "body size");
    out
}

/// The bodies: (label, size, with personal data).
const BODIES: [(&str, usize, bool); 4] = [
    ("1KB/clean", 1024, false),
    ("1KB/pii", 1024, true),
    ("32KB/clean", 32 * 1024, false),
    ("32KB/pii", 32 * 1024, true),
];

/// Checks the bodies of seed 0: a clean body that produced findings, or a
/// body with personal data that produced none, would measure the wrong thing.
fn check_bodies() {
    for (label, size, pii) in BODIES {
        let body = chat_body(size, pii, Rng::new(0, 0));
        let text = std::str::from_utf8(&body).expect("UTF-8");
        let found = warden_pii::scan(text).len();
        assert_eq!(found == 0, !pii, "{label}: {found} findings");
    }
}

// ---------------------------------------------------------------------------
// Benchmarks

fn redact_all() -> Profile {
    Profile {
        name: "bench".into(),
        actions: KINDS.iter().map(|k| (*k, Action::Redact)).collect(),
        ..Profile::default()
    }
}

fn byte_pass(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'@').count()
}

fn serde_roundtrip(bytes: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(bytes).expect("bench body is JSON");
    serde_json::to_vec(&v).expect("a Value serializes")
}

fn mask_body(bytes: &[u8], profile: &Profile) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(bytes).expect("bench body is JSON");
    let found = mask_request(Shape::Chat, &mut v, profile, &mut Session::default());
    black_box(found);
    serde_json::to_vec(&v).expect("a Value serializes")
}

/// Prints what the first corpus of each kind holds and what the detector
/// finds in it.
#[expect(clippy::print_stderr, reason = "benchmark set-up report")]
fn describe_corpora(six: &warden_pii::Detect) {
    for dense in [false, true] {
        let (text, planted) = corpus(Rng::new(99, 0), dense, CORPUS_BYTES);
        let digits = text.bytes().filter(u8::is_ascii_digit).count();
        let findings = warden_pii::scan(&text);
        let found = findings.len();
        let found6 = warden_pii::scan_with(&text, six).len();
        // `WARDEN_BENCH_DUMP=dir`: the inputs as files (to profile the scan
        // alone), and what was found in the clean one (false positives).
        if let Some(dir) = std::env::var_os("WARDEN_BENCH_DUMP") {
            let name = if dense { "dense.txt" } else { "clean.txt" };
            std::fs::write(std::path::Path::new(&dir).join(name), &text).expect("dump");
            if !dense {
                for f in &findings {
                    eprintln!("clean finding {:?}: {:?}", f.kind, &text[f.start..f.end]);
                }
            }
        }
        let spacing = text
            .len()
            .checked_div(planted)
            .map_or_else(String::new, |b| format!(" (one per {b} bytes)"));
        eprintln!(
            "scan_varied corpus {}: {} bytes, {:.1}% digits, {planted} values planted{spacing}, \
             findings: {found} (default), {found6} (6 regions)",
            if dense { "dense" } else { "clean" },
            text.len(),
            100.0 * digits as f64 / text.len() as f64,
        );
    }
}

fn scan_varied(c: &mut Criterion) {
    let six = warden_pii::Detect::with_regions(SIX_REGIONS).expect("known regions");
    warden_pii::warm_up(&six);
    describe_corpora(&six);
    let mut group = c.benchmark_group("scan_varied");
    group.throughput(Throughput::Bytes(CORPUS_BYTES as u64));
    // An iteration takes up to a few hundred milliseconds.
    group.sample_size(20);
    group.sampling_mode(SamplingMode::Flat);
    let lines: [(&str, bool, Option<&warden_pii::Detect>); 3] = [
        ("scan", false, None),
        ("scan", true, None),
        ("scan_with_6_regions", true, Some(&six)),
    ];
    for (stream, (name, dense, detect)) in (1..).zip(lines) {
        let seeds = Seeds::new(stream);
        let label = if dense { "dense" } else { "clean" };
        group.bench_function(BenchmarkId::new(name, label), |b| {
            b.iter_batched_ref(
                || corpus(seeds.rng(), dense, CORPUS_BYTES).0,
                |t| match detect {
                    None => warden_pii::scan(black_box(t)),
                    Some(d) => warden_pii::scan_with(black_box(t), d),
                },
                BatchSize::LargeInput,
            );
        });
    }
    let (dense, _) = corpus(Rng::new(98, 0), true, CORPUS_BYTES);
    group.bench_with_input(BenchmarkId::new("byte_pass", "dense"), &dense, |b, t| {
        b.iter(|| byte_pass(black_box(t.as_bytes())));
    });
    group.finish();
}

fn scan(c: &mut Criterion) {
    check_bodies();
    let mut group = c.benchmark_group("scan");
    for (stream, (label, size, pii)) in (10..).zip(BODIES) {
        group.throughput(Throughput::Bytes(size as u64));
        let seeds = Seeds::new(stream);
        group.bench_function(BenchmarkId::new("warden", label), |b| {
            b.iter_batched_ref(
                || String::from_utf8(chat_body(size, pii, seeds.rng())).expect("UTF-8"),
                |t| warden_pii::scan(black_box(t)),
                BatchSize::SmallInput,
            );
        });
        let text = String::from_utf8(chat_body(size, pii, Rng::new(0, 0))).expect("UTF-8");
        group.bench_with_input(BenchmarkId::new("byte_pass", label), &text, |b, t| {
            b.iter(|| byte_pass(black_box(t.as_bytes())));
        });
    }
    group.finish();
}

fn mask(c: &mut Criterion) {
    let profile = redact_all();
    let mut group = c.benchmark_group("mask_request");
    for (stream, (label, size, pii)) in (20..).zip(BODIES) {
        group.throughput(Throughput::Bytes(size as u64));
        let seeds = Seeds::new(stream);
        group.bench_function(BenchmarkId::new("warden", label), |b| {
            b.iter_batched_ref(
                || chat_body(size, pii, seeds.rng()),
                |body| mask_body(black_box(body), &profile),
                BatchSize::SmallInput,
            );
        });
        let body = chat_body(size, pii, Rng::new(0, 0));
        group.bench_with_input(
            BenchmarkId::new("serde_roundtrip", label),
            &body,
            |b, body| b.iter(|| serde_roundtrip(black_box(body))),
        );
        group.bench_with_input(BenchmarkId::new("byte_pass", label), &body, |b, body| {
            b.iter(|| byte_pass(black_box(body)));
        });
    }
    group.finish();
}

criterion_group!(benches, scan_varied, scan, mask);
criterion_main!(benches);
