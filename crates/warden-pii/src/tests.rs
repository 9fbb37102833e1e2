use proptest::prelude::*;

use super::*;

fn kinds(text: &str) -> Vec<(Kind, &str)> {
    scan(text)
        .into_iter()
        .map(|f| (f.kind, &text[f.start..f.end]))
        .collect()
}

#[test]
fn finds_each_type_in_prose() {
    let text = "Mail jane.doe+ai@example.co.uk or call +44 20 7946 0958; card 4111 1111 1111 1111, \
                ssn 123-45-6789, iban DE89 3704 0044 0532 0130 00, from 10.0.12.7 \
                and 2001:db8::8a2e:370:7334.";
    assert_eq!(
        kinds(text),
        vec![
            (Kind::Email, "jane.doe+ai@example.co.uk"),
            (Kind::Phone, "+44 20 7946 0958"),
            (Kind::PaymentCard, "4111 1111 1111 1111"),
            (Kind::UsSsn, "123-45-6789"),
            (Kind::Iban, "DE89 3704 0044 0532 0130 00"),
            (Kind::IpAddress, "10.0.12.7"),
            (Kind::IpAddress, "2001:db8::8a2e:370:7334"),
        ]
    );
}

#[test]
fn phones_in_national_formats_of_every_region() {
    let text = "Ring 020 7946 0958 or (415) 555-2671, Berlin 030 12345678, \
                Paris 01 42 68 53 00, Tokyo 03-1234-5678, São Paulo (11) 91234-5678.";
    let found: Vec<_> = kinds(text)
        .into_iter()
        .map(|(k, v)| {
            assert_eq!(k, Kind::Phone);
            v
        })
        .collect();
    assert_eq!(
        found,
        vec![
            "020 7946 0958",
            "(415) 555-2671",
            "030 12345678",
            "01 42 68 53 00",
            "03-1234-5678",
            "(11) 91234-5678"
        ]
    );
    // The regions configured are a preference, not a limit.
    let gb = Detect::with_regions(["gb"]).unwrap();
    assert_eq!(scan_with(text, &gb).len(), 6);
    assert!(Detect::with_regions(["XX"]).is_err());
}

#[test]
fn a_failed_numeric_candidate_does_not_hide_what_starts_inside_it() {
    // The card pattern takes "12 415 555 2671 99" first; it fails Luhn, and
    // the phone inside is still found.
    let text = "row 12 415-555-2671";
    assert_eq!(kinds(text), vec![(Kind::Phone, "415-555-2671")]);
    // Digits that are neither a card nor a phone stay unreported.
    assert_eq!(kinds("order 1234 5678 9012 3456 7"), vec![]);
}

#[test]
fn finds_secrets() {
    let cases = [
        ("key AKIAIOSFODNN7EXAMPLE here", SecretKind::AwsAccessKey),
        (
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            SecretKind::GithubToken,
        ),
        ("glpat-abcdefghij0123456789", SecretKind::GitlabToken),
        ("xoxb-123456789012-abcdefghij", SecretKind::SlackToken),
        (
            "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
            SecretKind::OpenAiKey,
        ),
        (
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
            SecretKind::AnthropicKey,
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
            SecretKind::PrivateKey,
        ),
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijklmnop",
            SecretKind::Jwt,
        ),
        ("password = \"x9Kq2LmP7vZr4TyW\"", SecretKind::Assignment),
    ];
    for (text, kind) in cases {
        let found = scan(text);
        assert_eq!(found.len(), 1, "{text}: {found:?}");
        assert_eq!(found[0].kind, Kind::Secret(kind), "{text}");
    }
    // The assignment finding covers only the value.
    let t = "api_key: Zx81Kq2LmP7vZr4TyW0";
    let f = scan(t)[0];
    assert_eq!(&t[f.start..f.end], "Zx81Kq2LmP7vZr4TyW0");
}

/// Every secret kind, in every spelling of the name it is assigned to;
/// only the value is the finding.
#[test]
fn secrets_in_every_spelling() {
    let aws = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let spellings = [
        format!("AWS_SECRET_ACCESS_KEY={aws}"),
        format!("export AWS_SECRET_ACCESS_KEY=\"{aws}\""),
        format!("aws_secret_access_key = {aws}"),
        format!("awsSecretAccessKey: \"{aws}\""),
        format!("{{\"aws_secret_access_key\": \"{aws}\"}}"),
        format!("  secretAccessKey: '{aws}'"),
        format!("the secret key is {aws}"),
    ];
    for text in &spellings {
        let found = kinds(text);
        assert_eq!(
            found,
            vec![(Kind::Secret(SecretKind::AwsSecretKey), aws)],
            "{text}"
        );
    }
    let by_shape = [
        (
            "key AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
            SecretKind::GoogleApiKey,
        ),
        (
            "STRIPE=sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            SecretKind::StripeKey,
        ),
        (
            "publish with npm_abcdefghijklmnopqrstuvwxyz0123456789",
            SecretKind::NpmToken,
        ),
        (
            "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            SecretKind::SendgridKey,
        ),
        (
            "twilio SK0123456789abcdef0123456789abcdef",
            SecretKind::TwilioKey,
        ),
        (
            "hf_abcdefghijklmnopqrstuvwxyz01234567",
            SecretKind::HuggingfaceToken,
        ),
    ];
    for (text, kind) in by_shape {
        let found = scan(text);
        assert_eq!(found.len(), 1, "{text}: {found:?}");
        assert_eq!(found[0].kind, Kind::Secret(kind), "{text}");
    }
    let values = [
        (
            "postgres://app:S3cr3t-pass@db.internal:5432/app",
            "S3cr3t-pass",
        ),
        (
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;EndpointSuffix=core.windows.net",
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
        ),
        ("DB_PASSWORD=hunter2!x", "hunter2!x"),
        ("Server=db;User Id=sa;Password=Pa55word!;", "Pa55word!"),
        (
            "Authorization: Bearer abcDEF123ghiJKL456mno",
            "abcDEF123ghiJKL456mno",
        ),
        (
            "Authorization: Basic dXNlcjpwYXNzd29yZA==",
            "dXNlcjpwYXNzd29yZA==",
        ),
    ];
    for (text, value) in values {
        let found = kinds(text);
        assert_eq!(found.len(), 1, "{text}: {found:?}");
        assert_eq!(found[0].1, value, "{text}");
    }
}

#[test]
fn bare_ssns_and_short_cards_need_their_words() {
    assert_eq!(kinds("SSN 123456789"), vec![(Kind::UsSsn, "123456789")]);
    assert_eq!(
        kinds("{\"ssn\": \"123456789\"}"),
        vec![(Kind::UsSsn, "123456789")]
    );
    assert_eq!(
        kinds("name,ssn\nAnn,123456789"),
        vec![(Kind::UsSsn, "123456789")]
    );
    assert_eq!(kinds("invoice 123456789"), vec![]);
    assert_eq!(kinds("SSN 666123456"), vec![]);
    assert_eq!(
        kinds("maestro card 500000000009"),
        vec![(Kind::PaymentCard, "500000000009")]
    );
    assert_eq!(kinds("ref 500000000009"), vec![]);
    assert_eq!(
        kinds("JCB 180000000000002"),
        vec![(Kind::PaymentCard, "180000000000002")]
    );
}

#[test]
fn timestamps_dates_and_versions_are_not_phones() {
    for text in [
        "2023-10-08 16:27:45 INFO started",
        "at 2023-10-08T16:27:45.123+02:00",
        "[10/Oct/2023:13:55:36 -0700] GET /",
        "Oct  8 16:27:45 host sshd[1234]: ok",
        "on 08.10.2023 and 10/08/2023 and 2023 10 08",
        "years 2019 2020 2021",
        "build 10.0.19041.1234, amount 1.234.567",
    ] {
        assert_eq!(kinds(text), vec![], "{text}");
    }
    assert_eq!(
        kinds("Tel. 0301234567 or call +49 (0)30 1234567 ext. 12"),
        vec![
            (Kind::Phone, "0301234567"),
            (Kind::Phone, "+49 (0)30 1234567 ext. 12")
        ]
    );
    assert_eq!(
        kinds("ruf an: 0049 30 1234567"),
        vec![(Kind::Phone, "0049 30 1234567")]
    );
    // Words that mark phones do not turn dates or status-code lists into one.
    assert_eq!(kinds("one record per call, 2026-11-25 (now)"), vec![]);
    assert_eq!(kinds("answers 413/415/400 and 404"), vec![]);
    // Names in code are not passwords.
    assert_eq!(
        kinds("SecretKind::UrlPassword => \"url_password\","),
        vec![]
    );
    assert_eq!(kinds("    url_password: regex::Regex,"), vec![]);
}

#[test]
fn ordinary_text_passes_unchanged() {
    let negatives = [
        "The meeting is at 12:30:45 on 2024-01-15T12:00:00Z.",
        "Version 1.2.3.4.5 of v1.2.3.4 shipped; build 20240115.",
        "Total: $1,234.56 for 3 items; order 1234567890123456789012.",
        "id 550e8400-e29b-41d4-a716-446655440000 and 1234 5678 9012 3456",
        "password: ********, password=${DB_PASSWORD}, password: required",
        "ssn 000-12-3456 or 666-12-3456 or 912-34-5678 or 123-00-4567",
        "IBAN DE89 3704 0044 0532 0130 01 (bad check digits)",
        "ratio 3.14159, small numbers 7, 42, 1999, and words like token and secret",
        "sk-short and AKIA123 and user@localhost",
        "a::b and :: and 0:0:0:0:0:0:0:0",
    ];
    for text in negatives {
        assert!(scan(text).is_empty(), "{text}: {:?}", kinds(text));
    }
}

#[test]
fn char_offsets_count_characters() {
    let text = "héllo 🙂 bob@example.com";
    let f = scan(text)[0];
    assert_eq!(char_offsets(text, &f), (8, 23));
}

#[test]
fn huge_inputs_stay_linear() {
    // Patterns that make backtracking engines explode: long runs of almost-matches.
    let text =
        "1".repeat(200_000) + &"a@".repeat(50_000) + &"-----BEGIN PRIVATE KEY-----".repeat(1000);
    // None of these is a valid finding: a 200k-digit run is no card, `a@a@...`
    // has no domain, a BEGIN without END is no key. A backtracking engine would
    // not answer; this one does (the suite's timeout catches a hang).
    assert!(scan(&text).is_empty());
}

/// Luhn-valid numbers of every network, at each length it issues.
fn card_number() -> impl Strategy<Value = String> {
    const BRANDS: &[(&str, usize)] = &[
        ("4", 13),
        ("4", 16),
        ("4", 19),
        ("51", 16),
        ("55", 16),
        ("2221", 16),
        ("2720", 16),
        ("34", 15),
        ("37", 15),
        ("36", 14),
        ("38", 14),
        ("6011", 16),
        ("65", 16),
        ("3528", 16),
        ("3589", 16),
        ("1800", 15),
        ("2131", 15),
        ("62", 16),
        ("62", 19),
        ("50", 12),
        ("6759", 12),
        ("58", 18),
    ];
    (
        prop::sample::select(BRANDS),
        prop::collection::vec(b'0'..=b'9', 19),
    )
        .prop_map(|((prefix, len), rest)| {
            let mut digits = prefix.as_bytes().to_vec();
            digits.extend(&rest[..len - prefix.len() - 1]);
            // Choose the check digit that makes the number Luhn-valid.
            let check = (b'0'..=b'9')
                .find(|c| {
                    let mut d = digits.clone();
                    d.push(*c);
                    validate::luhn(&d)
                })
                .unwrap_or(b'0');
            digits.push(check);
            String::from_utf8(digits).unwrap_or_default()
        })
}

proptest! {
    #[test]
    fn valid_cards_are_found_in_any_format(number in card_number(), sep in prop::sample::select(vec!["", " ", "-"])) {
        prop_assume!(!number.bytes().all(|b| b == number.as_bytes()[0]));
        let formatted: String = number
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(sep);
        let text = format!("pay with card {formatted} today");
        let found = scan(&text);
        prop_assert_eq!(found.len(), 1, "{}", text);
        prop_assert_eq!(found[0].kind, Kind::PaymentCard);
        prop_assert_eq!(&text[found[0].start..found[0].end], formatted.as_str());
    }

    #[test]
    fn one_changed_digit_breaks_the_check(number in card_number(), pos in 0usize..12) {
        let mut bytes = number.into_bytes();
        bytes[pos] = b'0' + (bytes[pos] - b'0' + 1) % 10;
        let text = String::from_utf8(bytes).unwrap_or_default();
        let found = scan(&text);
        prop_assert!(found.iter().all(|f| f.kind != Kind::PaymentCard), "{}", text);
    }

    #[test]
    fn plain_words_are_never_findings(words in prop::collection::vec("[a-z]{1,12}", 1..40)) {
        let text = words.join(" ");
        prop_assert!(scan(&text).is_empty(), "{}", text);
    }
}

#[test]
fn a_valid_value_followed_by_more_digits_is_still_found() {
    assert_eq!(
        kinds("card: 4111 1111 1111 1111 123"),
        vec![(Kind::PaymentCard, "4111 1111 1111 1111")]
    );
    assert_eq!(
        kinds("Visa 4111 1111 1111 1111 12 27 123"),
        vec![(Kind::PaymentCard, "4111 1111 1111 1111")]
    );
    assert_eq!(
        kinds("call +1 202 555 0143 24/7"),
        vec![(Kind::Phone, "+1 202 555 0143")]
    );
    assert_eq!(
        kinds("call +44 20 7946 0958 2 times"),
        vec![(Kind::Phone, "+44 20 7946 0958")]
    );
}

#[test]
fn ipv6_is_a_whole_token() {
    assert_eq!(kinds("log: abc::def and std::io"), vec![]);
    assert_eq!(
        kinds("from 2001:db8::1."),
        vec![(Kind::IpAddress, "2001:db8::1")]
    );
}

/// Found by the `mask_json` fuzz target: masking once must leave nothing a
/// second look would find, even when values are glued together.
#[test]
fn masking_leaves_nothing_to_find_in_glued_values() {
    use crate::mask::{Action, KINDS, Profile, Session};
    let profile = Profile {
        name: "all".into(),
        actions: KINDS.iter().map(|k| (*k, Action::Redact)).collect(),
        ..Profile::default()
    };
    for text in [
        "4111111111111111 123 45 6789",
        "+44 20 7946 09582001:db8::1",
        "2001:db8::1bob@example.com",
        "fe80::1password = x9Kq2LmP7vZr4TyW",
    ] {
        let masked = profile
            .mask(text, &mut Session::default(), &mut Vec::new())
            .unwrap_or_else(|| text.to_owned());
        assert_eq!(kinds(&masked), vec![], "{text} -> {masked}");
    }
}

/// Numbers written the way people in each country write them, by hand
/// rather than by libphonenumber's formatter (the corpus uses the latter).
#[test]
fn phones_as_people_write_them() {
    let phones = [
        "+1-202-555-0143",
        "(02) 9876 5432",
        "0412 345 678",
        "020 7946 0958",
        "07700 900123",
        "06 12 34 56 78",
        "+33 6 12 34 56 78",
        "090-1234-5678",
        "+81 90-1234-5678",
        "010-1234-5678",
        "+86 138 0013 8000",
        "138 0013 8000",
        "+91 98765 43210",
        "98765 43210",
        "(11) 98765-4321",
        "+55 11 98765-4321",
        "021 123 4567",
        "082 123 4567",
        "+27 82 123 4567",
        "0171 1234567",
        "030/1234567",
        "+49 (0) 30 1234567",
        "0049 171 1234567",
        "06-12345678",
        "+31 6 12345678",
        "612 34 56 78",
        "+34 612 345 678",
        "338 123 4567",
        "+39 338 123 4567",
        "8 (912) 345-67-89",
        "+7 912 345-67-89",
        "0532 123 45 67",
        "+90 532 123 45 67",
    ];
    for p in phones {
        let text = format!("Kontakt: {p}, thanks");
        let found = kinds(&text);
        assert_eq!(found, vec![(Kind::Phone, p)], "{text}");
        // Without the word before it too, unless it is a bare run.
        let text = format!("Anna, {p}, Berlin");
        let found = kinds(&text);
        assert_eq!(found, vec![(Kind::Phone, p)], "{text}");
    }
}

proptest! {
    /// Digits, separators, markers and words in any order: no panic, and
    /// findings are ordered, disjoint and on character boundaries.
    #[test]
    fn number_soup_never_panics(parts in prop::collection::vec(
        prop::sample::select(vec![
            "0", "00", "1", "12", "123", "4111", "+", "+49", "(", ")", "(0)", " ", "-", ".", "/",
            ",", ":", "\u{a0}", "é", "tel:", "SSN ", "Tel. ", "ext. ", "x", "#", "\n", "a,b,ssn\n",
            "2023-10-08", "order ", "€", "%",
        ]),
        0..60,
    )) {
        let text: String = parts.concat();
        let found = scan(&text);
        let mut last = 0;
        for f in &found {
            prop_assert!(f.start >= last && f.start < f.end && f.end <= text.len(), "{text:?}: {found:?}");
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            last = f.end;
        }
    }
}

#[test]
fn words_in_the_text_before_mark_values_at_the_start() {
    let d = Detect::default();
    let found = scan_after("my SSN:", "123456789 is it", &d);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, Kind::UsSsn);
    // Only the end of the text before counts, on its last line.
    assert!(scan_after("SSN:\nnothing", "123456789", &d).is_empty());
    assert!(scan_after("", "123456789", &d).is_empty());
}
