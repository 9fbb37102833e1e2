//! Detection quality on a labelled set built from public test vectors: the
//! card networks' published test numbers, the IBAN registry's example for
//! each country, libphonenumber's example number for many regions,
//! documentation IP ranges, AWS's documented example key,
//! synthetic SSNs and emails; plus negatives that look numeric or technical
//! (UUIDs, timestamps, versions, amounts, order numbers, hashes). Prints
//! precision and recall per type and fails below 0.95 on either.

use std::collections::BTreeMap;

/// (entity type, value); each is embedded in a sentence and must be found whole.
const POSITIVES: &[(&str, &str)] = &[
    // Card networks' published test numbers.
    ("PAYMENT_CARD", "4111111111111111"),
    ("PAYMENT_CARD", "4012888888881881"),
    ("PAYMENT_CARD", "4222222222222"),
    ("PAYMENT_CARD", "5555555555554444"),
    ("PAYMENT_CARD", "5105105105105100"),
    ("PAYMENT_CARD", "2223003122003222"),
    ("PAYMENT_CARD", "378282246310005"),
    ("PAYMENT_CARD", "371449635398431"),
    ("PAYMENT_CARD", "378734493671000"),
    ("PAYMENT_CARD", "6011111111111117"),
    ("PAYMENT_CARD", "6011000990139424"),
    ("PAYMENT_CARD", "30569309025904"),
    ("PAYMENT_CARD", "38520000023237"),
    ("PAYMENT_CARD", "3530111333300000"),
    ("PAYMENT_CARD", "3566002020360505"),
    ("PAYMENT_CARD", "6200000000000005"),
    ("PAYMENT_CARD", "4111 1111 1111 1111"),
    ("PAYMENT_CARD", "5555-5555-5555-4444"),
    ("PAYMENT_CARD", "3782 822463 10005"),
    // IBAN registry examples.
    ("IBAN", "AL47212110090000000235698741"),
    ("IBAN", "AD1200012030200359100100"),
    ("IBAN", "AT611904300234573201"),
    ("IBAN", "BE68539007547034"),
    ("IBAN", "BA391290079401028494"),
    ("IBAN", "BG80BNBG96611020345678"),
    ("IBAN", "HR1210010051863000160"),
    ("IBAN", "CY17002001280000001200527600"),
    ("IBAN", "CZ6508000000192000145399"),
    ("IBAN", "DK5000400440116243"),
    ("IBAN", "EE382200221020145685"),
    ("IBAN", "FI2112345600000785"),
    ("IBAN", "FR1420041010050500013M02606"),
    ("IBAN", "DE89370400440532013000"),
    ("IBAN", "GI75NWBK000000007099453"),
    ("IBAN", "GR1601101250000000012300695"),
    ("IBAN", "HU42117730161111101800000000"),
    ("IBAN", "IS140159260076545510730339"),
    ("IBAN", "IE29AIBK93115212345678"),
    ("IBAN", "IT60X0542811101000000123456"),
    ("IBAN", "LV80BANK0000435195001"),
    ("IBAN", "LT121000011101001000"),
    ("IBAN", "LU280019400644750000"),
    ("IBAN", "MT84MALT011000012345MTLCAST001S"),
    ("IBAN", "MC5811222000010123456789030"),
    ("IBAN", "NL91ABNA0417164300"),
    ("IBAN", "NO9386011117947"),
    ("IBAN", "PL61109010140000071219812874"),
    ("IBAN", "PT50000201231234567890154"),
    ("IBAN", "SM86U0322509800000000270100"),
    ("IBAN", "SK3112000000198742637541"),
    ("IBAN", "SI56263300012039086"),
    ("IBAN", "ES9121000418450200051332"),
    ("IBAN", "SE4550000000058398257466"),
    ("IBAN", "CH9300762011623852957"),
    ("IBAN", "GB82WEST12345698765432"),
    ("IBAN", "GB82 WEST 1234 5698 7654 32"),
    // Synthetic SSNs outside the never-issued ranges.
    ("US_SSN", "123-45-6789"),
    ("US_SSN", "234-56-7890"),
    ("US_SSN", "345-67-8901"),
    ("US_SSN", "456-78-9012"),
    ("US_SSN", "567-89-0123"),
    ("US_SSN", "001-01-0001"),
    ("US_SSN", "899-99-9999"),
    ("US_SSN", "321 54 9876"),
    // Emails.
    ("EMAIL", "jane.doe@example.com"),
    ("EMAIL", "j.o.h.n+tag@sub.example.co.uk"),
    ("EMAIL", "ops_team@example.org"),
    ("EMAIL", "x@y.io"),
    ("EMAIL", "first-last@my-company.example"),
    ("EMAIL", "UPPER@EXAMPLE.COM"),
    ("EMAIL", "o'brien@example.ie"),
    ("EMAIL", "user%relay@example.net"),
    // libphonenumber's example numbers per region, international format,
    // and US national formats.
    ("PHONE_NUMBER", "+1 201-555-0123"),
    ("PHONE_NUMBER", "+44 121 234 5678"),
    ("PHONE_NUMBER", "+44 7400 123456"),
    ("PHONE_NUMBER", "+49 30 123456"),
    ("PHONE_NUMBER", "+49 1512 3456789"),
    ("PHONE_NUMBER", "+33 1 23 45 67 89"),
    ("PHONE_NUMBER", "+33 6 12 34 56 78"),
    ("PHONE_NUMBER", "+81 3-1234-5678"),
    ("PHONE_NUMBER", "+91 81234 56789"),
    ("PHONE_NUMBER", "+61 2 1234 5678"),
    ("PHONE_NUMBER", "+55 11 2345-6789"),
    ("PHONE_NUMBER", "+1 506-234-5678"),
    ("PHONE_NUMBER", "+34 810 12 34 56"),
    ("PHONE_NUMBER", "+39 02 1234 5678"),
    ("PHONE_NUMBER", "+31 10 123 4567"),
    ("PHONE_NUMBER", "+41 21 234 56 78"),
    ("PHONE_NUMBER", "+46 8 12 34 56"),
    ("PHONE_NUMBER", "+86 10 1234 5678"),
    ("PHONE_NUMBER", "+52 200 123 4567"),
    ("PHONE_NUMBER", "+27 10 123 4567"),
    ("PHONE_NUMBER", "+353 22 12345"),
    ("PHONE_NUMBER", "+48 12 345 67 89"),
    ("PHONE_NUMBER", "+7 301 123-45-67"),
    ("PHONE_NUMBER", "+82 2-123-4567"),
    ("PHONE_NUMBER", "+65 6123 4567"),
    ("PHONE_NUMBER", "+972 2-123-4567"),
    ("PHONE_NUMBER", "+1 (201) 555-0123"),
    ("PHONE_NUMBER", "+442012345678"),
    ("PHONE_NUMBER", "(201) 555-0123"),
    ("PHONE_NUMBER", "201-555-0123"),
    ("PHONE_NUMBER", "201.555.0123"),
    ("PHONE_NUMBER", "201 555 0123"),
    // IP addresses (documentation ranges and private ones).
    ("IP_ADDRESS", "192.0.2.1"),
    ("IP_ADDRESS", "198.51.100.23"),
    ("IP_ADDRESS", "203.0.113.255"),
    ("IP_ADDRESS", "10.0.0.1"),
    ("IP_ADDRESS", "172.16.254.3"),
    ("IP_ADDRESS", "2001:db8::1"),
    ("IP_ADDRESS", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
    ("IP_ADDRESS", "fe80::1ff:fe23:4567:890a"),
    // Secrets.
    ("SECRET", "AKIAIOSFODNN7EXAMPLE"),
    ("SECRET", "ghp_1234567890abcdefghijklmnopqrstuvwxyzAB"),
    ("SECRET", "glpat-xxxxxxxxxxxxxxxxxxxx"),
    ("SECRET", "xoxb-1234567890-abcdefghijkl"),
    ("SECRET", "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"),
    ("SECRET", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123"),
    (
        "SECRET",
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlX2hlcmVfMTIz",
    ),
];

/// Sentences with nothing sensitive in them.
const NEGATIVES: &[&str] = &[
    "The build 2024.11.24 shipped version 1.2.3 and then v10.4.2.1 of the SDK.",
    "Run 1.2.3.4.5 only on hosts with kernel 6.18.44.",
    "Order 1234567890 totals $1,299.99 plus 19.5% VAT (EUR 245.67).",
    "Trace id 550e8400-e29b-41d4-a716-446655440000 at 2026-11-24T16:27:18Z.",
    "Commit a226217 follows 49e1ed6c0ffee; sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.",
    "Meeting at 12:30:45 in room 4.12, call ext. 4412.",
    "The ratio was 3.14159 and the count 1000000 over 42 runs.",
    "Use std::collections::HashMap and a::b paths in Rust.",
    "Invoice number 4111111111111112 is not a card (bad checksum).",
    "Tracking 1Z999AA10123456784 shipped; ISBN 978-3-16-148410-0.",
    "SSN-shaped but never issued: 000-12-3456, 666-12-3456, 900-12-3456, 123-00-4567, 123-45-0000.",
    "IBAN-shaped but wrong: DE89370400440532013001 and XX12345678901234.",
    "Email-shaped but not: user@localhost, @example.com, name@, a@b.",
    "Tokens that are too short: sk-abc, ghp_short, AKIA1234.",
    "password = <your password> and token: abc",
    "Phone-like counts: 2024 people, 365 days, 24/7, 1-800-FLOWERS.",
    "Coordinates 48.8566, 2.3522 and temperature -12.5 degrees.",
    "Model gpt-4o-2024-08-06 with temperature 0.7 and max_tokens 4096.",
    "Open 9-5 on weekdays, rooms 101-205, ZIP 94103-1234, score 3-2 before 45 000 fans.",
    "Windows 10.0.19041.1 on 2026 11 24; extension 555-1234; PIN 1234 5678.",
    "Between 100 200 and 300 items, lot 12-34-56, part 0000-000-0000.",
];

#[test]
fn precision_and_recall_per_type() {
    let mut tp: BTreeMap<&str, u32> = BTreeMap::new();
    let mut fn_: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut fp: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (kind, value) in POSITIVES {
        let text = format!("Please note: {value} is on file.");
        let at = text.find(value).unwrap_or(0);
        let found = warden_pii::scan(&text);
        let hit = found
            .iter()
            .any(|f| f.kind.as_str() == *kind && f.start == at && f.end == at + value.len());
        if hit {
            *tp.entry(kind).or_default() += 1;
        } else {
            fn_.entry(kind).or_default().push(value);
        }
        for f in &found {
            let exact = f.kind.as_str() == *kind && f.start == at && f.end == at + value.len();
            if !exact {
                fp.entry(f.kind.as_str())
                    .or_default()
                    .push(text[f.start..f.end].to_owned());
            }
        }
    }
    for text in NEGATIVES {
        for f in warden_pii::scan(text) {
            fp.entry(f.kind.as_str())
                .or_default()
                .push(text[f.start..f.end].to_owned());
        }
    }
    println!(
        "{:<14} {:>4} {:>4} {:>4} {:>10} {:>8}",
        "type", "TP", "FN", "FP", "precision", "recall"
    );
    let mut failures = Vec::new();
    // Every built-in type, and each must have test vectors: otherwise it
    // would pass with a recall of 1.000 over nothing.
    for kind in warden_pii::mask::KINDS {
        if !POSITIVES.iter().any(|(k, _)| *k == kind) {
            failures.push(format!("{kind}: no positive test vectors"));
        }
        let t = f64::from(*tp.get(kind).unwrap_or(&0));
        let n = fn_.get(kind).map_or(0, Vec::len) as f64;
        let p = fp.get(kind).map_or(0, Vec::len) as f64;
        let precision = if t + p == 0.0 { 1.0 } else { t / (t + p) };
        let recall = if t + n == 0.0 { 1.0 } else { t / (t + n) };
        println!("{kind:<14} {t:>4} {n:>4} {p:>4} {precision:>10.3} {recall:>8.3}");
        if precision < 0.95 || recall < 0.95 {
            failures.push(format!(
                "{kind}: precision {precision:.3}, recall {recall:.3}; missed {:?}, false {:?}",
                fn_.get(kind),
                fp.get(kind)
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
