//! SSNs, payment cards, IBANs, emails and IP addresses.

use crate::doc::Doc;
use crate::fake;
use crate::rng::Rng;

// ---- US SSNs ----

/// A valid SSN's digits: area 001-899 but not 666, group 01-99, serial
/// 0001-9999, and not the two advertising numbers.
pub fn ssn_digits(rng: &mut Rng) -> String {
    loop {
        let area = rng.range(1, 899);
        let group = rng.range(1, 99);
        let serial = rng.range(1, 9999);
        if area == 666
            || (area, group, serial) == (78, 5, 1120)
            || (area, group, serial) == (219, 9, 9999)
        {
            continue;
        }
        return format!("{area:03}{group:02}{serial:04}");
    }
}

pub fn ssn_valid(digits: &str) -> bool {
    let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 9 {
        return false;
    }
    let area = d[0] * 100 + d[1] * 10 + d[2];
    let group = d[3] * 10 + d[4];
    let serial = d[5] * 1000 + d[6] * 100 + d[7] * 10 + d[8];
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// Where an SSN written with separators appears.
const SSN_SEPARATED: &[&str] = &[
    "My SSN is {v}, can you verify my identity?",
    "SSN: {v}",
    "Social Security Number: {v}",
    "{\"ssn\": \"{v}\", \"verified\": false}",
    "first_name,last_name,ssn,dob\nJane,Roe,{v},1984-03-12\n",
    "Applicant Jane Roe, SSN {v}, DOB 03/12/1984",
    "Employee record: Jane Roe | {v} | Payroll",
    "kyc: verification failed for ssn={v} attempt=2",
    "Form W-2, box a (employee's SSN): {v}",
    "Please update the social security number on file to {v}.",
];

/// Where nine bare digits are an SSN: only where the context says so.
const SSN_BARE: &[&str] = &[
    "SSN {v}",
    "SSN: {v}",
    "SSN#: {v}",
    "social security number: {v}",
    "Social Security No. {v}",
    "{\"ssn\": \"{v}\"}",
    "{\"social_security_number\": \"{v}\"}",
    "{\"ssn\": {v}}",
    "tax_id={v}",
    "TAX_ID: {v}",
    "first,last,ssn\nJane,Roe,{v}\n",
    "employee:\n  name: Jane Roe\n  ssn: \"{v}\"\n",
    "user.ssn={v} user.country=US",
];

pub fn ssn_docs(rng: &mut Rng) -> Vec<Doc> {
    let mut out = Vec::new();
    for i in 0..1000 {
        let d = ssn_digits(rng);
        let (class, value, templates) = match i % 5 {
            0 | 1 => (
                "dash",
                format!("{}-{}-{}", &d[..3], &d[3..5], &d[5..]),
                SSN_SEPARATED,
            ),
            2 => (
                "space",
                format!("{} {} {}", &d[..3], &d[3..5], &d[5..]),
                SSN_SEPARATED,
            ),
            _ => ("bare", d.clone(), SSN_BARE),
        };
        let mut log = String::new();
        let template = rng.pick(templates);
        if template.starts_with("kyc") {
            log = format!("{} {template}", fake::log_prefix(rng));
        }
        let template = if log.is_empty() {
            template
        } else {
            log.as_str()
        };
        out.push(Doc::labelled("ssn", template, "US_SSN", class, &value));
    }
    out
}

// ---- Payment cards ----

/// A card brand: its name, its prefixes as inclusive ranges (all of one
/// width), and its lengths.
type Brand = (&'static str, &'static [(u64, u64)], &'static [usize]);

pub const BRANDS: &[Brand] = &[
    ("visa", &[(4, 4)], &[13, 16, 19]),
    ("mastercard", &[(51, 55), (2221, 2720)], &[16]),
    ("amex", &[(34, 34), (37, 37)], &[15]),
    ("diners", &[(36, 36), (38, 38)], &[14]),
    ("discover", &[(6011, 6011), (65, 65)], &[16]),
    ("jcb", &[(3528, 3589)], &[16]),
    ("jcb15", &[(1800, 1800), (2131, 2131)], &[15]),
    ("unionpay", &[(62, 62)], &[16, 17, 18, 19]),
    (
        "maestro",
        &[(50, 50), (56, 69)],
        &[12, 13, 14, 15, 16, 17, 18, 19],
    ),
];

pub fn luhn_ok(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.bytes().rev().enumerate() {
        let mut v = u32::from(c - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// A Luhn-valid number of `len` digits starting with `prefix`.
pub fn card_number(rng: &mut Rng, prefix: &str, len: usize) -> String {
    let mut s = prefix.to_owned();
    s.push_str(&rng.digits(len - prefix.len() - 1));
    let check = (0..=9)
        .find(|c| luhn_ok(&format!("{s}{c}")))
        .unwrap_or_else(|| unreachable!("one check digit always fits"));
    format!("{s}{check}")
}

fn grouped(digits: &str, sizes: &[usize], sep: &str) -> String {
    let mut parts = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < digits.len() {
        let n = sizes[i.min(sizes.len() - 1)].min(digits.len() - at);
        parts.push(&digits[at..at + n]);
        at += n;
        i += 1;
    }
    parts.join(sep)
}

const CARD_CONTEXT: &[&str] = &[
    "Please charge my card {v}, exp 04/27.",
    "card number {v}",
    "cc={v}",
    "{\"card_number\": \"{v}\", \"exp_month\": 4, \"exp_year\": 2027}",
    "name,card,exp\nJane Roe,{v},04/27\n",
    "payment declined pan={v} amount=12.50 currency=EUR",
    "Kartennummer: {v}",
    "numéro de carte : {v}",
    "I paid with {v} but the order still shows unpaid.",
    "Card: {v}\nExpiry: 11/26\nName on card: JANE ROE",
    "payment:\n  card: \"{v}\"\n  holder: Jane Roe\n",
];

pub fn card_docs(rng: &mut Rng) -> Vec<Doc> {
    let mut out = Vec::new();
    for (brand, ranges, lengths) in BRANDS {
        for len in *lengths {
            let per = if *brand == "maestro" || *brand == "unionpay" {
                10
            } else {
                24
            };
            for _ in 0..per {
                let (lo, hi) = *rng.pick(ranges);
                let width = lo.to_string().len();
                let prefix = format!("{:0width$}", rng.range(lo, hi));
                let digits = card_number(rng, &prefix, *len);
                let mut forms = vec![
                    ("bare", digits.clone()),
                    ("space4", grouped(&digits, &[4], " ")),
                    ("dash4", grouped(&digits, &[4], "-")),
                ];
                if *len == 15 && *brand == "amex" {
                    forms.push(("amex.4-6-5", grouped(&digits, &[4, 6, 5], " ")));
                    forms.push(("amex.4-6-5-dash", grouped(&digits, &[4, 6, 5], "-")));
                }
                if *len == 14 {
                    forms.push(("diners.4-6-4", grouped(&digits, &[4, 6, 4], " ")));
                }
                for (form, value) in forms {
                    let class = format!("{brand}/{len}/{form}");
                    let template = rng.pick(CARD_CONTEXT);
                    out.push(Doc::labelled(
                        "card",
                        template,
                        "PAYMENT_CARD",
                        &class,
                        &value,
                    ));
                }
            }
        }
    }
    out
}

// ---- IBANs ----

/// The numeric string of an IBAN rearranged for mod-97 (letters as 10..35).
fn mod97(s: &str) -> u32 {
    let mut rem = 0u32;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            rem = (rem * 10 + d) % 97;
        } else {
            let v = u32::from(c as u8 - b'A') + 10;
            rem = (rem * 100 + v) % 97;
        }
    }
    rem
}

pub fn iban_valid(s: &str) -> bool {
    let c: String = s.chars().filter(|c| *c != ' ').collect();
    c.len() > 4 && mod97(&format!("{}{}", &c[4..], &c[..4])) == 1
}

fn iban(country: &str, bban: &str) -> String {
    let check = 98 - mod97(&format!("{bban}{country}00"));
    format!("{country}{check:02}{bban}")
}

/// A BBAN of `country`'s structure, with its national check digits where
/// the country has them (BE, FR, ES, PT, PL).
fn bban(rng: &mut Rng, country: &str) -> String {
    let upper = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    match country {
        "DE" => rng.digits(18),
        "GB" | "IE" => format!("{}{}", rng.string(upper, 4), rng.digits(14)),
        "NL" => format!("{}{}", rng.string(upper, 4), rng.digits(10)),
        "AT" => rng.digits(16),
        "CH" => rng.digits(17),
        "LU" => rng.digits(16),
        "DK" => rng.digits(14),
        "BE" => {
            let first = rng.digits(10);
            let n: u64 = first.parse().unwrap_or(0);
            let c = match n % 97 {
                0 => 97,
                c => c,
            };
            format!("{first}{c:02}")
        }
        "FR" => {
            let (bank, branch, account) = (rng.digits(5), rng.digits(5), rng.digits(11));
            let n = |s: &str| s.parse::<u64>().unwrap_or(0);
            let key = 97 - (89 * n(&bank) + 15 * n(&branch) + 3 * n(&account)) % 97;
            format!("{bank}{branch}{account}{key:02}")
        }
        "ES" => {
            let (bank, office, account) = (rng.digits(4), rng.digits(4), rng.digits(10));
            let dc = |s: &str| {
                let w = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6];
                let sum: u32 = s
                    .chars()
                    .zip(w)
                    .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
                    .sum();
                match 11 - sum % 11 {
                    11 => 0,
                    10 => 1,
                    d => d,
                }
            };
            let d1 = dc(&format!("00{bank}{office}"));
            let d2 = dc(&account);
            format!("{bank}{office}{d1}{d2}{account}")
        }
        "PT" => {
            let first = rng.digits(19);
            let rem = first
                .chars()
                .fold(0u32, |r, c| (r * 10 + c.to_digit(10).unwrap_or(0)) % 97);
            let check = 98 - (rem * 100) % 97;
            format!("{first}{check:02}")
        }
        _ => {
            // PL: an 8-digit sort code whose last digit checks the first
            // seven, then a 16-digit account.
            let sort = rng.digits(7);
            let w = [3, 9, 7, 1, 3, 9, 7];
            let sum: u32 = sort
                .chars()
                .zip(w)
                .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
                .sum();
            let check = (10 - sum % 10) % 10;
            format!("{sort}{check}{}", rng.digits(16))
        }
    }
}

const IBAN_COUNTRIES: &[&str] = &[
    "DE", "GB", "IE", "NL", "AT", "CH", "LU", "DK", "BE", "FR", "ES", "PT", "PL",
];

const IBAN_CONTEXT: &[&str] = &[
    "Please wire the refund to IBAN {v}.",
    "IBAN: {v}\nBIC: DEUTDEFFXXX",
    "{\"iban\": \"{v}\", \"holder\": \"Jane Roe\"}",
    "name;iban;amount\nJane Roe;{v};120,00\n",
    "Bankverbindung: {v}",
    "payout failed iban={v} reason=account_closed",
    "My account is {v}, thanks!",
];

pub fn iban_docs(rng: &mut Rng) -> Vec<Doc> {
    let mut out = Vec::new();
    for country in IBAN_COUNTRIES {
        for i in 0..24 {
            let b = bban(rng, country);
            let compact = iban(country, &b);
            let (class, value) = if i % 2 == 0 {
                ("compact", compact)
            } else {
                ("grouped", grouped(&compact, &[4], " "))
            };
            let template = rng.pick(IBAN_CONTEXT);
            out.push(Doc::labelled(
                "iban",
                template,
                "IBAN",
                &format!("{class}/{country}"),
                &value,
            ));
        }
    }
    out
}

// ---- Emails ----

const DOMAINS: &[&str] = &[
    "example.com",
    "mail.example.org",
    "example.co.uk",
    "corp.example.net",
    "example.de",
    "my-company.example",
    "uni.example.edu",
    "example.io",
];

const EMAIL_FIRST: &[&str] = &[
    "anna", "lukas", "marie", "jonas", "sofia", "mateo", "chloe", "hiroshi", "priya", "mei",
    "ahmed", "fatima", "lars", "carlos", "tomasz", "yuki", "noah", "aisha", "liam", "camille",
];
const EMAIL_LAST: &[&str] = &[
    "schmidt",
    "mueller",
    "dubois",
    "rossi",
    "garcia",
    "devries",
    "novak",
    "kowalski",
    "silva",
    "murphy",
    "johansson",
    "nielsen",
    "virtanen",
    "ivanov",
    "cohen",
    "khan",
    "sharma",
    "wang",
    "tanaka",
    "kim",
    "nguyen",
    "santos",
    "okafor",
    "smith",
];

pub fn email(rng: &mut Rng) -> String {
    let first = *rng.pick(EMAIL_FIRST);
    let last = *rng.pick(EMAIL_LAST);
    let local = match rng.below(6) {
        0 => format!("{first}.{last}"),
        1 => format!("{first}_{last}"),
        2 => format!("{first}{}", rng.digits(2)),
        3 => format!("{first}+{}", rng.pick(&["news", "billing", "test"])),
        4 => format!("{}.{last}", &first[..1]),
        _ => first.to_ascii_uppercase(),
    };
    format!("{local}@{}", rng.pick(DOMAINS))
}

const EMAIL_CONTEXT: &[&str] = &[
    "Email me at {v} with the details.",
    "From: Jane Roe <{v}>",
    "{\"email\": \"{v}\", \"newsletter\": false}",
    "name,email\nJane Roe,{v}\n",
    "user login failed for {v}: bad password",
    "reply-to: {v}",
    "Kontakt: {v}",
    "cc {v} on the thread please",
];

pub fn email_docs(rng: &mut Rng) -> Vec<Doc> {
    (0..300)
        .map(|_| {
            let v = email(rng);
            let template = *rng.pick(EMAIL_CONTEXT);
            Doc::labelled("email", template, "EMAIL", "email", &v)
        })
        .collect()
}

// ---- IP addresses ----

pub fn ipv4(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!(
            "10.{}.{}.{}",
            rng.range(0, 255),
            rng.range(0, 255),
            rng.range(1, 254)
        ),
        1 => format!("192.168.{}.{}", rng.range(0, 255), rng.range(1, 254)),
        2 => format!(
            "172.{}.{}.{}",
            rng.range(16, 31),
            rng.range(0, 255),
            rng.range(1, 254)
        ),
        _ => format!(
            "{}.{}.{}.{}",
            rng.range(11, 223),
            rng.range(0, 255),
            rng.range(0, 255),
            rng.range(1, 254)
        ),
    }
}

pub fn ipv6(rng: &mut Rng) -> String {
    let mut group = || format!("{:x}", rng.range(0, 0xffff));
    let full: Vec<String> = (0..8).map(|_| group()).collect();
    match rng.below(4) {
        0 => format!("2001:db8:{}:{}::{}", full[0], full[1], full[2]),
        1 => format!("fe80::{}:{}:{}:{}", full[0], full[1], full[2], full[3]),
        2 => format!("2a02:{}:{}::{}:{}", full[0], full[1], full[2], full[3]),
        _ => format!("2001:db8:{}", full[2..].join(":")),
    }
}

const IP_CONTEXT: &[&str] = &[
    "sshd[2231]: Failed password for root from {v} port 52144 ssh2",
    "{v} - - [10/Oct/2023:13:55:36 -0700] \"GET /index.html HTTP/1.1\" 200 2326",
    "{\"client_ip\": \"{v}\", \"status\": 403}",
    "X-Forwarded-For: {v}",
    "The attacker came from {v}, please block it.",
    "client={v} method=POST path=/v1/chat status=200",
    "allowlist:\n  - {v}\n",
];

pub fn ip_docs(rng: &mut Rng) -> Vec<Doc> {
    (0..300)
        .map(|i| {
            let (class, v) = if i % 3 == 2 {
                ("ipv6", ipv6(rng))
            } else {
                ("ipv4", ipv4(rng))
            };
            let template = *rng.pick(IP_CONTEXT);
            Doc::labelled("ip", template, "IP_ADDRESS", class, &v)
        })
        .collect()
}
