//! Numeric candidates: a run of digit groups (with `+`, `00`, `tel:`,
//! parentheses and separators) decided as an SSN, a payment card, a phone
//! number, or nothing.
//!
//! The one-pass search hands over every run of seven or more digits; this
//! module reads its shape once (groups, separators, marker) and decides
//! without allocating. Order numbers, timestamps, dates, amounts and
//! versions are told apart by shape before any validator runs.

use phonenumber::country::Id;

use crate::context::{self, Marks, Tables};
use crate::phone::Phones;
use crate::{Kind, validate};

/// What became of a candidate.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Found(Kind, usize, usize),
    /// Nothing here; search again from this byte.
    Resume(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    None,
    /// `+`, `tel:` or an international dialling prefix (`00`, `011`).
    International,
}

#[derive(Clone, Copy, Debug, Default)]
struct Group {
    /// Byte range in the text.
    start: usize,
    end: usize,
    /// The separator before it (`0` for the first group); `(` when it is
    /// in parentheses.
    sep: u8,
}

const MAX_GROUPS: usize = 24;
const MAX_DIGITS: usize = 40;

/// A candidate read once: its groups and its digits.
struct Shape {
    marker: Marker,
    groups: [Group; MAX_GROUPS],
    len: usize,
    digits: [u8; MAX_DIGITS],
    ndigits: usize,
    /// Where each group starts in `digits`.
    at: [usize; MAX_GROUPS],
}

impl Shape {
    fn read(text: &str, start: usize, end: usize) -> Option<Shape> {
        let bytes = text.as_bytes();
        let mut shape = Shape {
            marker: Marker::None,
            groups: [Group::default(); MAX_GROUPS],
            len: 0,
            digits: [0; MAX_DIGITS],
            ndigits: 0,
            at: [0; MAX_GROUPS],
        };
        let mut i = start;
        if bytes[i..end].starts_with(b"tel:") {
            shape.marker = Marker::International;
            i += 4;
        }
        let mut sep = 0u8;
        while i < end {
            let b = bytes[i];
            if b.is_ascii_digit() {
                let g0 = i;
                while i < end && bytes[i].is_ascii_digit() {
                    if shape.ndigits == MAX_DIGITS {
                        return None;
                    }
                    shape.digits[shape.ndigits] = bytes[i];
                    shape.ndigits += 1;
                    i += 1;
                }
                if shape.len == MAX_GROUPS {
                    return None;
                }
                shape.at[shape.len] = shape.ndigits - (i - g0);
                shape.groups[shape.len] = Group {
                    start: g0,
                    end: i,
                    sep,
                };
                shape.len += 1;
                sep = 0;
                continue;
            }
            match b {
                b'+' => shape.marker = Marker::International,
                b'(' => sep = b'(',
                b')' => {}
                0xC2 => {
                    // U+00A0 NO-BREAK SPACE, as French writes numbers.
                    if sep == 0 {
                        sep = b' ';
                    }
                    i += 1;
                }
                _ => {
                    if sep == 0 {
                        sep = b;
                    }
                }
            }
            i += 1;
        }
        (shape.len > 0).then_some(shape)
    }

    fn digits(&self) -> &str {
        // Only ASCII digits were written.
        std::str::from_utf8(&self.digits[..self.ndigits]).unwrap_or_default()
    }

    fn groups(&self) -> &[Group] {
        &self.groups[..self.len]
    }

    fn group_len(&self, i: usize) -> usize {
        self.groups[i].end - self.groups[i].start
    }

    /// Digit positions where a new group starts (after the first).
    fn bounds(&self, from_digit: usize, buf: &mut [usize; MAX_GROUPS]) -> usize {
        let mut n = 0;
        for &a in &self.at[1..self.len] {
            if a > from_digit {
                buf[n] = a - from_digit;
                n += 1;
            }
        }
        n
    }

    /// The value of group `i` as a number (up to 9 digits).
    fn value(&self, i: usize) -> u32 {
        let a = self.at[i];
        self.digits[a..a + self.group_len(i).min(9)]
            .iter()
            .fold(0, |v, d| v * 10 + u32::from(d - b'0'))
    }

    fn one_sep(&self) -> Option<u8> {
        let mut seps = self.groups()[1..].iter().map(|g| g.sep);
        let first = seps.next()?;
        seps.all(|s| s == first).then_some(first)
    }

    /// The same shape cut after group `n` (exclusive).
    fn cut(&self, n: usize) -> Shape {
        let mut s = Shape {
            marker: self.marker,
            groups: self.groups,
            len: n,
            digits: self.digits,
            ndigits: if n < self.len {
                self.at[n]
            } else {
                self.ndigits
            },
            at: self.at,
        };
        s.digits[s.ndigits..].fill(0);
        s
    }
}

/// Decides `text[start..end]`, a match of the numeric pattern.
pub(crate) fn classify(
    text: &str,
    start: usize,
    end: usize,
    prefer: &[Id],
    tables: &mut Tables<'_>,
) -> Verdict {
    let Some(shape) = Shape::read(text, start, end) else {
        return Verdict::Resume(end);
    };
    if let Some(found) = decide(text, &shape, start, true, prefer, tables) {
        return found;
    }
    // A card and its CVV, a phone and a count after it: the longest
    // prefix that ends at a group and is a value.
    if shape.marker == Marker::International || shape.ndigits > 13 {
        for n in (1..shape.len).rev() {
            let cut = shape.cut(n);
            if cut.ndigits < 7 {
                break;
            }
            if let Some(found) = decide(text, &cut, start, false, prefer, tables) {
                return found;
            }
        }
    }
    // Search again from a group whose separator differs from all after it
    // (`12 415-555-2671`); a run grouped one way throughout is one value
    // (a tracking number), and so are more than 19 digits.
    if shape.ndigits <= 19 {
        let groups = shape.groups();
        for k in 1..groups.len().saturating_sub(1) {
            let sep = groups[k].sep;
            if sep != b'(' && groups[k + 1..].iter().all(|g| g.sep != sep) {
                return Verdict::Resume(groups[k].start);
            }
        }
    }
    Verdict::Resume(end)
}

/// `whole`: the shape is the whole candidate, not a prefix of it (a
/// prefix is only a card followed by more digits, or a marked phone).
fn decide(
    text: &str,
    shape: &Shape,
    start: usize,
    whole: bool,
    prefer: &[Id],
    tables: &mut Tables<'_>,
) -> Option<Verdict> {
    let last = shape.groups()[shape.len - 1];
    let end = if text.as_bytes().get(last.end) == Some(&b')') {
        last.end + 1
    } else {
        last.end
    };
    let found = |kind| Some(Verdict::Found(kind, start, end));
    if shape.marker == Marker::International {
        return phone_international(shape)
            .then(|| Verdict::Found(Kind::Phone, start, extension(text, end)));
    }
    if !stands_alone(text, start, end) {
        return None;
    }
    let digits = shape.digits();
    // Shaped as a date, an amount or a range: a phone only if words say so.
    if let Some(shaped) = looks_like_date_or_amount(shape) {
        let phone = whole
            && shaped == Shaped::Other
            && (7..=17).contains(&shape.ndigits)
            && context::before(text, start, tables).has(Marks::PHONE);
        let mut bounds = [0usize; MAX_GROUPS];
        let nb = shape.bounds(0, &mut bounds);
        return (phone && Phones::get().national(digits, &bounds[..nb], false, prefer))
            .then(|| Verdict::Found(Kind::Phone, start, extension(text, end)));
    }
    // `00 49 30 ...`, `011 44 ...`: dialled from abroad. The prefix is
    // written whole, in the first group (`0-017-...` is an ISBN).
    let first = &digits[..shape.group_len(0)];
    if (first.starts_with("00") || first.starts_with("011"))
        && let Some(rest) = international_prefix(digits)
        && phone_international_digits(rest)
    {
        return Some(Verdict::Found(Kind::Phone, start, extension(text, end)));
    }
    let n = shape.ndigits;
    let sep = shape.one_sep();
    // The words before it, looked up once and only if a rule needs them.
    let mut cx: Option<Marks> = None;
    let mut marks =
        |tables: &mut Tables<'_>| *cx.get_or_insert_with(|| context::before(text, start, tables));
    // Written as an SSN (`AAA-GG-SSSS`): an SSN or nothing, unless words
    // before it say phone.
    let ssn_shaped = n == 9
        && shape.len == 3
        && shape.group_len(0) == 3
        && shape.group_len(1) == 2
        && matches!(sep, Some(b'-' | b' '));
    if n == 9 && whole {
        if ssn_shaped && validate::ssn_digits(digits) {
            return found(Kind::UsSsn);
        }
        if shape.len == 1 && validate::ssn_digits(digits) && marks(tables).has(Marks::SSN) {
            return found(Kind::UsSsn);
        }
    }
    // Twelve bare digits (a Maestro length) are a card only in context.
    let card = (12..=19).contains(&n)
        && card_grouping(shape, sep)
        && validate::card_digits(digits)
        && (n > 12 || shape.len > 1 || marks(tables).has(Marks::CARD));
    if card {
        return found(Kind::PaymentCard);
    }
    if !whole {
        return None;
    }
    let phones = Phones::get();
    let mut bounds = [0usize; MAX_GROUPS];
    let nb = shape.bounds(0, &mut bounds);
    if counted(text, end) {
        return None;
    }
    let marks = marks(tables);
    // Grouped as its region groups it; not after `order`, `RMA`, `ref`
    // unless a phone word is there too. Without context, a national
    // number of seven digits or fewer (`555-1234`) is as likely an
    // extension or a reference as a phone.
    let grouped = shape.len > 1
        && n >= 8
        && !ssn_shaped
        && (!marks.has(Marks::REFERENCE) || marks.has(Marks::PHONE))
        && phones.national(digits, &bounds[..nb], true, prefer);
    let marked = || {
        (7..=17).contains(&n)
            && marks.has(Marks::PHONE)
            && phones.national(digits, &bounds[..nb], false, prefer)
    };
    (grouped || marked()).then(|| Verdict::Found(Kind::Phone, start, extension(text, end)))
}

/// `digits` without the `00` / `011` a caller dials to leave the country.
fn international_prefix(digits: &str) -> Option<&str> {
    if let Some(rest) = digits.strip_prefix("011")
        && rest.len() >= 8
    {
        return Some(rest);
    }
    let rest = digits.strip_prefix("00")?;
    (rest.len() >= 7 && !rest.starts_with('0')).then_some(rest)
}

fn phone_international(shape: &Shape) -> bool {
    // `(0)` after the country code is the national prefix, written for
    // callers in the country: not dialled from abroad.
    let mut buf = [0u8; MAX_DIGITS];
    let mut n = 0;
    for (i, g) in shape.groups().iter().enumerate() {
        let len = shape.group_len(i);
        if i > 0 && g.sep == b'(' && len == 1 && shape.digits[shape.at[i]] == b'0' {
            continue;
        }
        buf[n..n + len].copy_from_slice(&shape.digits[shape.at[i]..shape.at[i] + len]);
        n += len;
    }
    let digits = std::str::from_utf8(&buf[..n]).unwrap_or_default();
    let digits = international_prefix(digits).unwrap_or(digits);
    phone_international_digits(digits)
}

fn phone_international_digits(digits: &str) -> bool {
    (7..=17).contains(&digits.len()) && Phones::get().international(digits)
}

/// Card digits are written bare, in fours, or as the brand prints them
/// (Amex and Diners 4-6-5 / 4-6-4), one separator throughout.
fn card_grouping(shape: &Shape, sep: Option<u8>) -> bool {
    if shape.len == 1 {
        return true;
    }
    if !matches!(sep, Some(b' ' | b'-')) {
        return false;
    }
    let lens: [usize; MAX_GROUPS] =
        std::array::from_fn(|i| if i < shape.len { shape.group_len(i) } else { 0 });
    let lens = &lens[..shape.len];
    let fours =
        lens[..lens.len() - 1].iter().all(|l| *l == 4) && (1..=4).contains(&lens[lens.len() - 1]);
    fours || lens == [4, 6, 5] || lens == [4, 6, 4]
}

/// Not part of a longer token: a value after `ORD-`, `v1.`, `#`, a
/// currency sign or a time's colon, or before `%`, a decimal part or a
/// colon, is something else.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let bytes = text.as_bytes();
    let before = start.checked_sub(1).map(|i| bytes[i]);
    let before2 = start.checked_sub(2).map(|i| bytes[i]);
    match before {
        Some(b'#' | b'$' | b'_' | b'@' | b'&') => return false,
        Some(b'-' | b'.' | b'/' | b'\\') if before2.is_some_and(|b| b.is_ascii_alphanumeric()) => {
            return false;
        }
        Some(b':') if before2.is_some_and(|b| b.is_ascii_digit()) => return false,
        _ => {}
    }
    if text[..start].ends_with(['€', '£', '¥', '₹', '₩']) {
        return false;
    }
    let after = bytes.get(end).copied();
    let after2 = bytes.get(end + 1).copied();
    match after {
        Some(b'%' | b'_' | b'@') => false,
        // A decimal part, a time, a longer token; not a CSV comma.
        Some(b'.' | b':' | b'-' | b'/') => !after2.is_some_and(|b| b.is_ascii_alphanumeric()),
        _ => true,
    }
}

/// What a run of digits is shaped as, when that is not a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shaped {
    /// A date (`2023-10-08`, `08.10.2023`, `10/08/23`) or a list of years:
    /// never a phone, whatever words stand before it (`per call, 2026-11-25`).
    Date,
    /// A range, an amount with thousands separators, a dotted version, a
    /// slash-separated list (`413/415/400`): a phone only if words say so.
    Other,
}

/// Dates, year lists, amounts with thousands separators, ranges, lists
/// and dotted versions are not values.
fn looks_like_date_or_amount(shape: &Shape) -> Option<Shaped> {
    date_shaped(shape)
        .then_some(Shaped::Date)
        .or_else(|| other_shaped(shape).then_some(Shaped::Other))
}

fn date_shaped(shape: &Shape) -> bool {
    let g = shape.groups();
    let len = |i| shape.group_len(i);
    if g.len() >= 3 {
        let same = g[1].sep == g[2].sep && matches!(g[1].sep, b'-' | b'.' | b'/');
        let spaced = g[1].sep == b' ' && g[2].sep == b' ';
        let year = |i| (len(i) == 4 && (1900..2100).contains(&shape.value(i))) || len(i) == 2;
        let month = |i| len(i) <= 2 && (1..=12).contains(&shape.value(i));
        let day = |i| len(i) <= 2 && (1..=31).contains(&shape.value(i));
        if (same || spaced) && len(0) == 4 && year(0) && month(1) && day(2) {
            return true;
        }
        // Day-month-year: three groups, or four when a time's hour follows
        // after a space (`08.10.2023 16:27`).
        let dmy_len = g.len() == 3
            || (g.len() == 4 && g[3].sep == b' ' && len(3) == 2 && shape.value(3) < 24);
        if same
            && dmy_len
            && ((day(0) && month(1)) || (month(0) && day(1)))
            && ((len(2) == 4 && year(2)) || len(2) == 2)
        {
            return true;
        }
    }
    g.len() >= 2 && (0..g.len()).all(|i| len(i) == 4 && (1900..2100).contains(&shape.value(i)))
}

fn other_shaped(shape: &Shape) -> bool {
    let g = shape.groups();
    let len = |i| shape.group_len(i);
    // A list (`413/415/400`): phones take one slash at most (`030/1234567`).
    if g.len() >= 3 && g[1..].iter().filter(|x| x.sep == b'/').count() >= 2 {
        return true;
    }
    // A range (`pages 1727-2923`, `rooms 101-205`).
    let leading_zero = shape.digits[0] == b'0';
    if g.len() == 2
        && g[1].sep == b'-'
        && len(0) == len(1)
        && !leading_zero
        && shape.value(0) < shape.value(1)
    {
        return true;
    }
    if g.len() >= 2 && g[1..].iter().all(|x| x.sep == b'.') {
        // 1.234.567 (thousands) and 10.0.19041.1234 (a version).
        if len(0) <= 3 && (1..g.len()).all(|i| len(i) == 3) {
            return true;
        }
        if (0..g.len()).any(|i| len(i) == 1) && g.len() >= 3 {
            return true;
        }
    }
    false
}

/// `end` moved past an extension written after a phone number
/// (`ext. 123`, `x123`, `#123`, `extension 12`).
fn extension(text: &str, end: usize) -> usize {
    let rest = &text.as_bytes()[end..];
    let mut i = 0;
    while i < rest.len() && i < 2 && rest[i] == b' ' {
        i += 1;
    }
    let word_len = [&b"extension"[..], b"ext.", b"ext", b"x", b"#"]
        .into_iter()
        .find(|w| rest.len() >= i + w.len() && rest[i..i + w.len()].eq_ignore_ascii_case(w))
        .map(<[u8]>::len);
    let Some(w) = word_len else {
        return end;
    };
    i += w;
    while i < rest.len() && rest[i] == b' ' && i < 16 {
        i += 1;
    }
    let digits = rest[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    let after = rest.get(i + digits).copied();
    if (1..=6).contains(&digits) && !after.is_some_and(|b| b.is_ascii_alphanumeric()) {
        end + i + digits
    } else {
        end
    }
}

/// A count or a measure: the word after the digits is a unit
/// (`47 734 352 bytes`, `1 200 000 users`).
fn counted(text: &str, end: usize) -> bool {
    const UNITS: &[&str] = &[
        "bytes",
        "byte",
        "b",
        "kb",
        "mb",
        "gb",
        "tb",
        "kib",
        "mib",
        "gib",
        "items",
        "users",
        "rows",
        "records",
        "people",
        "times",
        "views",
        "downloads",
        "requests",
        "tokens",
        "words",
        "lines",
        "files",
        "km",
        "kg",
        "ms",
        "sec",
        "seconds",
        "eur",
        "usd",
        "gbp",
        "units",
        "votes",
        "customers",
        "visitors",
        "orders",
        "points",
        "steps",
        "pages",
        "fans",
    ];
    let rest = text[end..].trim_start_matches([' ', '\u{a0}']);
    if rest.starts_with(['€', '$', '£', '%']) {
        return true;
    }
    let word_end = rest
        .bytes()
        .position(|b| !b.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let word = &rest[..word_end];
    rest.len() < text.len() - end && UNITS.iter().any(|u| word.eq_ignore_ascii_case(u))
}
