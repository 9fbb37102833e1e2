//! Context words: what the text just before a value says it is. A bare run
//! of nine digits is an SSN after "SSN" or under an `ssn` column, and a
//! phone after "Tel.", not otherwise.
//!
//! Looked up only for candidates that need it (bare digits), in a short
//! window before the value on its own line, plus the column name when the
//! value sits in a CSV row.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// What the words around a value mark it as (bit set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Marks(u8);

impl Marks {
    pub(crate) const PHONE: Marks = Marks(1);
    pub(crate) const SSN: Marks = Marks(2);
    pub(crate) const CARD: Marks = Marks(4);
    /// An order, ticket or other reference number: not a phone.
    pub(crate) const REFERENCE: Marks = Marks(8);

    pub(crate) fn has(self, m: Marks) -> bool {
        self.0 & m.0 != 0
    }
}

/// (word, what it marks, must not follow a letter). Matched without
/// regard to ASCII case; the window is searched, not tokenised, so
/// `phone_number`, `mobilePhone` and `Telefonnummer` all count.
const WORDS: &[(&str, Marks, bool)] = &[
    // Phones: English, then the main European and Asian languages.
    ("phone", Marks::PHONE, false),
    ("tel", Marks::PHONE, true),
    ("mobile", Marks::PHONE, false),
    ("mob.", Marks::PHONE, true),
    ("cell", Marks::PHONE, true),
    ("fax", Marks::PHONE, true),
    ("call", Marks::PHONE, true),
    ("dial", Marks::PHONE, true),
    ("ring", Marks::PHONE, true),
    ("sms", Marks::PHONE, true),
    ("text me", Marks::PHONE, true),
    ("whatsapp", Marks::PHONE, false),
    ("hotline", Marks::PHONE, false),
    ("reach me", Marks::PHONE, true),
    ("tél", Marks::PHONE, true),
    ("téléphone", Marks::PHONE, false),
    ("portable", Marks::PHONE, true),
    ("teléfono", Marks::PHONE, false),
    ("telefon", Marks::PHONE, false),
    ("móvil", Marks::PHONE, false),
    ("movil", Marks::PHONE, true),
    ("celular", Marks::PHONE, false),
    ("cellulare", Marks::PHONE, false),
    ("handy", Marks::PHONE, true),
    ("mobil", Marks::PHONE, true),
    ("rufnummer", Marks::PHONE, false),
    ("anrufen", Marks::PHONE, false),
    ("numéro", Marks::PHONE, true),
    ("telefoon", Marks::PHONE, false),
    ("bel ", Marks::PHONE, true),
    ("komórka", Marks::PHONE, false),
    ("телефон", Marks::PHONE, false),
    ("тел", Marks::PHONE, false),
    ("моб", Marks::PHONE, false),
    ("電話", Marks::PHONE, false),
    ("电话", Marks::PHONE, false),
    ("手机", Marks::PHONE, false),
    ("手機", Marks::PHONE, false),
    ("携帯", Marks::PHONE, false),
    ("連絡先", Marks::PHONE, false),
    ("联系", Marks::PHONE, false),
    ("전화", Marks::PHONE, false),
    ("휴대폰", Marks::PHONE, false),
    ("연락처", Marks::PHONE, false),
    ("هاتف", Marks::PHONE, false),
    ("जवाल", Marks::PHONE, false),
    ("फ़ोन", Marks::PHONE, false),
    ("โทร", Marks::PHONE, false),
    ("điện thoại", Marks::PHONE, false),
    ("Тел", Marks::PHONE, false),
    ("Телефон", Marks::PHONE, false),
    ("звоните", Marks::PHONE, false),
    ("позвоните", Marks::PHONE, false),
    ("me liga", Marks::PHONE, true),
    ("ligue", Marks::PHONE, true),
    ("llámame", Marks::PHONE, false),
    ("llama al", Marks::PHONE, true),
    ("chiama", Marks::PHONE, true),
    ("appelez", Marks::PHONE, true),
    ("appelle", Marks::PHONE, true),
    ("zavolej", Marks::PHONE, true),
    ("zadzwoń", Marks::PHONE, false),
    ("my number", Marks::PHONE, true),
    ("new number", Marks::PHONE, true),
    ("number to call", Marks::PHONE, true),
    // References: order and ticket numbers look like national phones.
    ("order", Marks::REFERENCE, true),
    ("invoice", Marks::REFERENCE, true),
    ("rma", Marks::REFERENCE, true),
    ("ref", Marks::REFERENCE, true),
    ("ticket", Marks::REFERENCE, true),
    ("tracking", Marks::REFERENCE, true),
    ("serial", Marks::REFERENCE, true),
    ("sku", Marks::REFERENCE, true),
    ("build", Marks::REFERENCE, true),
    ("version", Marks::REFERENCE, true),
    ("isbn", Marks::REFERENCE, true),
    // SSNs.
    ("ssn", Marks::SSN, true),
    ("ss#", Marks::SSN, true),
    ("social security", Marks::SSN, false),
    ("social_security", Marks::SSN, false),
    ("social-security", Marks::SSN, false),
    ("socialsecurity", Marks::SSN, false),
    ("tax_id", Marks::SSN, false),
    ("tax id", Marks::SSN, false),
    ("tax-id", Marks::SSN, false),
    ("taxid", Marks::SSN, false),
    ("taxpayer", Marks::SSN, false),
    ("itin", Marks::SSN, true),
    // Cards.
    ("card", Marks::CARD, false),
    ("credit", Marks::CARD, false),
    ("debit", Marks::CARD, false),
    ("visa", Marks::CARD, true),
    ("mastercard", Marks::CARD, false),
    ("maestro", Marks::CARD, false),
    ("amex", Marks::CARD, true),
    ("jcb", Marks::CARD, true),
    ("pan", Marks::CARD, true),
    ("paid", Marks::CARD, true),
    ("pay with", Marks::CARD, true),
    ("cc", Marks::CARD, true),
    ("cc_num", Marks::CARD, true),
    ("ccnum", Marks::CARD, true),
    ("karte", Marks::CARD, false),
    ("carte", Marks::CARD, false),
    ("tarjeta", Marks::CARD, false),
    ("cartão", Marks::CARD, false),
];

/// How far back the words may stand, in bytes (about four words).
pub(crate) const WINDOW: usize = 40;
/// How far back a CSV header is looked for.
const CSV_WINDOW: usize = 4096;

fn words() -> &'static AhoCorasick {
    static WORDS_AC: OnceLock<AhoCorasick> = OnceLock::new();
    WORDS_AC.get_or_init(|| {
        // A DFA: built once, and the cheapest per byte of the windows
        // searched on every bare number.
        AhoCorasickBuilder::new()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(WORDS.iter().map(|(w, _, _)| w))
            .unwrap_or_else(|e| unreachable!("context words: {e}"))
    })
}

/// The marks of the words in `hay` (an ASCII-case-insensitive search).
fn marks_in(hay: &str) -> Marks {
    let mut marks = Marks::default();
    for m in words().find_overlapping_iter(hay) {
        let (_, mark, bounded) = WORDS[m.pattern().as_usize()];
        if bounded
            && hay[..m.start()]
                .chars()
                .next_back()
                .is_some_and(char::is_alphabetic)
        {
            continue;
        }
        marks.0 |= mark.0;
    }
    marks
}

impl<'a> Tables<'a> {
    /// The state for scanning a text that follows `prior`.
    pub(crate) fn after(prior: &'a str) -> Tables<'a> {
        Tables {
            prior,
            ..Tables::default()
        }
    }
}

/// The last line of `text`, at most `n` bytes of it (on a character
/// boundary).
pub(crate) fn tail(text: &str, n: usize) -> &str {
    let line = memchr::memrchr(b'\n', text.as_bytes()).map_or(0, |i| i + 1);
    let mut from = text.len().saturating_sub(n).max(line);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    &text[from..]
}

/// What the text before `text[start..]` marks it as.
pub(crate) fn before(text: &str, start: usize, tables: &mut Tables<'_>) -> Marks {
    let line_start = memchr::memrchr(b'\n', &text.as_bytes()[..start]).map_or(0, |i| i + 1);
    let mut from = start.saturating_sub(WINDOW).max(line_start);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let mut marks = marks_in(&text[from..start]);
    // The window reaches back past the start of this text: the rest of it
    // is the end of the text before (the previous field or message).
    if from == 0 && start < WINDOW && !tables.prior.is_empty() {
        marks.0 |= marks_in(tail(tables.prior, WINDOW - start)).0;
    }
    if marks == Marks::default() {
        marks = csv_column(text, line_start, start, tables);
    }
    marks
}

/// The CSV table whose header was found last in this scan: rows further
/// down the same table find it without walking up again, which keeps a
/// long CSV paste linear. One per scan of one text.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tables<'a> {
    /// The text read just before this one (the previous field or message
    /// of the same request): words at its end mark values at the start of
    /// this one (`"SSN:"` in one content part, the digits in the next).
    pub(crate) prior: &'a str,
    /// (delimiter, delimiters per row) of the table.
    shape: (u8, usize),
    /// The header line's byte range.
    header: (usize, usize),
    /// The end of the last row known to belong to the table.
    through: usize,
}

/// The name of the CSV column `start` is in, when its line is a row of a
/// table whose header line is found above (the first line above with the
/// same number of delimiters, with a blank or different line above it).
fn csv_column(text: &str, line_start: usize, start: usize, tables: &mut Tables<'_>) -> Marks {
    let bytes = text.as_bytes();
    let line_end = memchr::memchr(b'\n', &bytes[start..]).map_or(text.len(), |i| start + i);
    let line = &bytes[line_start..line_end];
    let Some(delim) = [b',', b'\t', b';', b'|']
        .into_iter()
        .find(|d| memchr::memchr(*d, line).is_some())
    else {
        return Marks::default();
    };
    let count = |l: &[u8]| memchr::memchr_iter(delim, l).count();
    let fields = count(line);
    let column = count(&bytes[line_start..start]);
    let here = (delim, fields);
    let header =
        if tables.shape == here && tables.header.1 < line_start && line_start <= tables.through + 1
        {
            // A row further down the table last seen: its header is known.
            tables.through = tables.through.max(line_end);
            Some(&bytes[tables.header.0..tables.header.1])
        } else {
            // Walk up while lines have the same shape; the topmost is the header.
            let floor = line_start.saturating_sub(CSV_WINDOW);
            let mut header = None;
            let mut end = line_start;
            while end > floor && end > 0 {
                let prev_end = end - 1; // the '\n' ending the line above
                let prev_start = memchr::memrchr(b'\n', &bytes[..prev_end]).map_or(0, |i| i + 1);
                let prev = &bytes[prev_start..prev_end];
                if count(prev) != fields {
                    break;
                }
                header = Some((prev_start, prev_end));
                end = prev_start;
            }
            if let Some(h) = header {
                *tables = Tables {
                    prior: tables.prior,
                    shape: here,
                    header: h,
                    through: line_end,
                };
            }
            header.map(|(a, b)| &bytes[a..b])
        };
    let Some(header) = header else {
        return Marks::default();
    };
    let Some(name) = header.split(|b| *b == delim).nth(column) else {
        return Marks::default();
    };
    // A header names columns; a value row above would be all digits.
    let Ok(name) = std::str::from_utf8(name) else {
        return Marks::default();
    };
    if name.bytes().any(|b| b.is_ascii_digit()) {
        return Marks::default();
    }
    marks_in(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_before_and_columns_mark_values() {
        let t = "SSN: 123456789";
        assert!(before(t, 5, &mut Tables::default()).has(Marks::SSN));
        let t = "Mein Handy: 01512345678";
        assert!(before(t, 12, &mut Tables::default()).has(Marks::PHONE));
        let t = "hotel room 2025550143";
        assert!(!before(t, 11, &mut Tables::default()).has(Marks::PHONE));
        let t = "name,ssn,city\nAnn,123456789,Oslo\nBo,234567890,Rome";
        let at = t.find("234567890").unwrap_or_default();
        assert!(before(t, at, &mut Tables::default()).has(Marks::SSN));
        let at = t.find("Rome").unwrap_or_default();
        assert!(!before(t, at, &mut Tables::default()).has(Marks::SSN));
        let t = "{\"phone_number\": \"030123456\"}";
        assert!(before(t, 18, &mut Tables::default()).has(Marks::PHONE));
    }
}
