//! Validators: a regex finds candidates, these decide. Each is cheap and
//! allocation-free except where noted.

use base64::Engine as _;

/// Luhn checksum over the digits of `s` (separators ignored).
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
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

/// 13-19 digits, one kind of separator used consistently (or none), a major
/// network's leading digit, Luhn-valid, and not one digit repeated.
pub fn card(s: &str) -> bool {
    let digits: Vec<u8> = s
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let has_space = s.contains(' ');
    let has_dash = s.contains('-');
    if has_space && has_dash {
        return false;
    }
    // Visa 4, Mastercard 2/5, Amex/Diners/JCB 3, Discover/UnionPay 6.
    if !matches!(digits[0], 2..=6) {
        return false;
    }
    if digits.iter().all(|d| *d == digits[0]) {
        return false;
    }
    luhn(&digits)
}

/// `AAA-GG-SSSS` outside the ranges the SSA never issues: area 000, 666 and
/// 900-999, group 00, serial 0000, and the two famous advertising numbers.
pub fn ssn(s: &str) -> bool {
    let digits: Vec<u32> = s
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'))
        .collect();
    if digits.len() != 9 {
        return false;
    }
    let sep: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_digit()).collect();
    if sep.len() != 2 || sep[0] != sep[1] {
        return false;
    }
    let area = digits[0] * 100 + digits[1] * 10 + digits[2];
    let group = digits[3] * 10 + digits[4];
    let serial = digits[5] * 1000 + digits[6] * 100 + digits[7] * 10 + digits[8];
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

/// A phone number by libphonenumber's rules: 7-15 digits, and valid for its
/// country (written with `+`) or for one of `regions` (national format).
///
/// libphonenumber's check costs about 10 µs a number (it runs a dozen
/// regexes), a hundred times the other validators, so answers are
/// remembered per digit string: conversations resend their history with
/// every call, so the same numbers come back again and again.
pub fn phone(s: &str, regions: &[phonenumber::country::Id]) -> bool {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    if !(7..=15).contains(&digits) {
        return false;
    }
    let plus = s.starts_with('+');
    // The key: `+` and the digits, then (national numbers only) the regions.
    let mut key = String::with_capacity(24);
    if plus {
        key.push('+');
    }
    key.extend(s.chars().filter(char::is_ascii_digit));
    if !plus {
        for r in regions {
            key.push(' ');
            key.push_str(r.as_ref());
        }
    }
    if let Some(known) = phone_cache::get(&key) {
        return known;
    }
    let valid = |region| {
        phonenumber::parse(region, s)
            .map(|n| phonenumber::is_valid(&n))
            .unwrap_or(false)
    };
    let answer = if plus {
        valid(None)
    } else {
        regions.iter().any(|r| valid(Some(*r)))
    };
    phone_cache::put(key, answer);
    answer
}

/// A bounded memo of phone checks, sharded to keep lock hold times short
/// and uncontended. A full shard is emptied (the cheapest bound that cannot
/// grow without limit; the numbers in flight come back within a call or two).
mod phone_cache {
    use std::collections::HashMap;
    use std::hash::{BuildHasher, RandomState};
    use std::sync::{Mutex, OnceLock};

    const SHARDS: usize = 16;
    const PER_SHARD: usize = 4096;

    struct Cache {
        hasher: RandomState,
        shards: [Mutex<HashMap<String, bool>>; SHARDS],
    }

    fn cache() -> &'static Cache {
        static CACHE: OnceLock<Cache> = OnceLock::new();
        CACHE.get_or_init(|| Cache {
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        })
    }

    fn shard(key: &str) -> &'static Mutex<HashMap<String, bool>> {
        let c = cache();
        // Truncation is fine: any bits pick a shard.
        #[expect(clippy::cast_possible_truncation, reason = "picking a shard")]
        let i = c.hasher.hash_one(key) as usize % SHARDS;
        &c.shards[i]
    }

    pub fn get(key: &str) -> Option<bool> {
        // A poisoned shard only means a panic elsewhere mid-insert; the map
        // itself is still sound.
        let map = shard(key)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key).copied()
    }

    pub fn put(key: String, valid: bool) {
        let mut map = shard(&key)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= PER_SHARD {
            map.clear();
        }
        map.insert(key, valid);
    }
}
