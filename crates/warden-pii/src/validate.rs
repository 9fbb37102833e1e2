//! Validators: a regex finds candidates, these decide. Each is cheap and
//! allocation-free except where noted.

use base64::Engine as _;

/// Luhn checksum over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// A card number (digits only): a length its network issues for its
/// prefix, Luhn-valid, and not one digit repeated.
pub fn card_digits(digits: &str) -> bool {
    let d = digits.as_bytes();
    if !(12..=19).contains(&d.len()) || d.iter().all(|b| *b == d[0]) {
        return false;
    }
    let len = d.len();
    let prefix = |n: usize| -> u32 { d[..n].iter().fold(0, |v, b| v * 10 + u32::from(b - b'0')) };
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));
    let brand = match len {
        // Maestro only: 50, 56-69.
        12 => p2 == 50 || (56..=69).contains(&p2),
        _ => {
            // Visa 13/16/19.
            (p1 == 4 && matches!(len, 13 | 16 | 19))
                // Mastercard 51-55, 2221-2720; Mir 2200-2204.
                || (len == 16 && ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)))
                || ((2200..=2204).contains(&p4) && len >= 16)
                // Amex.
                || (len == 15 && matches!(p2, 34 | 37))
                // Diners 300-305, 309, 36, 38, 39.
                || (len >= 14 && ((300..=305).contains(&p3) || p3 == 309 || matches!(p2, 36 | 38 | 39)))
                // JCB 3528-3589 (16-19), 1800 and 2131 (15).
                || (len >= 16 && (3528..=3589).contains(&p4))
                || (len == 15 && matches!(p4, 1800 | 2131))
                // Discover, UnionPay, RuPay, Maestro: 6, 50, 56-58, 81-82.
                || (len >= 16 && (p1 == 6 || matches!(p2, 81 | 82)))
                || (p2 == 50 || (56..=69).contains(&p2))
        }
    };
    brand && luhn(d)
}

/// Nine SSN digits outside the ranges the SSA never issues: area 000, 666
/// and 900-999, group 00, serial 0000, and the two famous advertising
/// numbers.
pub fn ssn_digits(digits: &str) -> bool {
    let d = digits.as_bytes();
    if d.len() != 9 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n = |r: std::ops::Range<usize>| d[r].iter().fold(0u32, |v, b| v * 10 + u32::from(b - b'0'));
    let (area, group, serial) = (n(0..3), n(3..5), n(5..9));
    let advertising =
        (area, group, serial) == (78, 5, 1120) || (area, group, serial) == (219, 9, 9999);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0 && !advertising
}

/// IBAN lengths by country (ISO 13616 registry).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

/// Country length and the ISO 7064 mod-97 check.
pub fn iban(s: &str) -> bool {
    let compact: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
    let Some(country) = std::str::from_utf8(compact.get(..2).unwrap_or_default()).ok() else {
        return false;
    };
    let Some((_, len)) = IBAN_LENGTHS.iter().find(|(c, _)| *c == country) else {
        return false;
    };
    if compact.len() != *len {
        return false;
    }
    // Move the first four characters to the end; letters count as 10..35.
    let mut rem = 0u32;
    for b in compact[4..].iter().chain(&compact[..4]) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// An IPv4 address, unless it is part of a longer dotted number (a version
/// like `1.2.3.4.5`, or `v1.2.3.4`).
pub fn ipv4_in_context(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after: Vec<char> = text[end..].chars().take(2).collect();
    let versiony = matches!(before, Some('v' | 'V' | '.'))
        || (after.first() == Some(&'.') && after.get(1).is_some_and(char::is_ascii_digit));
    !versiony
}

/// A parsable IPv6 address, not all zeros, with at least one group of three
/// or more hex digits: real addresses (`2001:db8::1`, `fe80::1`) have one,
/// while `hh:mm:ss` times do not parse and `a::b` (a path in prose) is
/// rejected.
pub fn ipv6(s: &str) -> bool {
    let colons = s.bytes().filter(|b| *b == b':').count();
    let long_group = s.split([':', '.']).any(|g| g.len() >= 3);
    // Hex words alone (`abc::def`, `dead::beef`) are code, not addresses.
    let digit = s.bytes().any(|b| b.is_ascii_digit());
    colons >= 2
        && long_group
        && digit
        && s.parse::<std::net::Ipv6Addr>()
            .is_ok_and(|a| !a.is_unspecified())
}

/// A JWT's header decodes to a JSON object naming an algorithm.
pub fn jwt(s: &str) -> bool {
    let Some(head) = s.split('.').next() else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .is_ok_and(|h| h.starts_with(b"{") && h.windows(5).any(|w| w == b"\"alg\""))
}

/// Shannon entropy of at least 3.5 bits per character, with letters and
/// digits both present: passwords and keys, not `aaaaaaaaaaaaaaaa` or words.
pub fn high_entropy(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() < 16 {
        return false;
    }
    let mut counts = [0u32; 256];
    for b in bytes {
        counts[usize::from(*b)] += 1;
    }
    let n = bytes.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum();
    let letters = bytes.iter().any(u8::is_ascii_alphabetic);
    let digits = bytes.iter().any(u8::is_ascii_digit);
    entropy >= 3.5 && letters && digits
}

/// A value assigned to a password-like name that is a password, not a
/// placeholder (`${DB_PASS}`, `<password>`, `****`, `null`), a reference
/// in code (`config.db_password`, `getpass()`) or a plain lowercase word
/// (`password: required`).
pub fn password_value(s: &str, next: Option<u8>) -> bool {
    let b = s.as_bytes();
    if b.len() < 6 || matches!(next, Some(b'(' | b'[')) {
        return false;
    }
    if matches!(b[0], b'$' | b'%' | b'{' | b'<' | b'*' | b'#' | b'&' | b'@')
        || b.iter().all(|c| *c == b[0])
    {
        return false;
    }
    const PLACEHOLDERS: &[&str] = &[
        "password",
        "passwd",
        "changeme",
        "redacted",
        "example",
        "required",
        "optional",
        "string",
        "undefined",
        "secret",
        "xxxxxx",
        "null",
        "none",
        "true",
        "false",
    ];
    if PLACEHOLDERS.iter().any(|p| s.eq_ignore_ascii_case(p)) || s.contains("://") {
        return false;
    }
    // `url_password`, `regex::Regex`: names in code, not passwords.
    let snake_name = s.contains('_') && s.bytes().all(|c| c.is_ascii_alphabetic() || c == b'_');
    if snake_name || s.contains("::") {
        return false;
    }
    let dotted_name = s.split('.').count() > 1
        && s.split('.').all(|part| {
            part.bytes()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
                && part.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        });
    let classes = [
        b.iter().any(u8::is_ascii_lowercase),
        b.iter().any(u8::is_ascii_uppercase),
        b.iter().any(u8::is_ascii_digit),
        b.iter().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    !dotted_name && (classes >= 2 || b.len() >= 16)
}

/// `user:password` in base64, as HTTP Basic credentials carry it.
pub fn basic_credentials(s: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .is_ok_and(|d| {
            d.contains(&b':')
                && d.len() >= 3
                && d.iter().all(|c| c.is_ascii_graphic() || *c == b' ')
        })
}
