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
fn phones_in_national_formats_need_their_region() {
    let text = "Ring 020 7946 0958 or (415) 555-2671.";
    assert_eq!(kinds(text), vec![(Kind::Phone, "(415) 555-2671")]);
    let gb_us = Detect::with_regions(["gb", "US"]).unwrap();
    let found: Vec<_> = scan_with(text, &gb_us)
        .into_iter()
        .map(|f| &text[f.start..f.end])
        .collect();
    assert_eq!(found, vec!["020 7946 0958", "(415) 555-2671"]);
    assert!(Detect::with_regions(["XX"]).is_err());
}

#[test]
fn a_failed_numeric_candidate_does_not_hide_what_starts_inside_it() {
    // The card pattern takes "12 415 555 2671 99" first; it fails Luhn, and
    // the phone inside is still found.
    let text = "ref 12 415-555-2671";
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

#[test]
fn ordinary_text_passes_unchanged() {
    let negatives = [
        "The meeting is at 12:30:45 on 2024-01-15T12:00:00Z.",
        "Version 1.2.3.4.5 of v1.2.3.4 shipped; build 20240115.",
        "Total: $1,234.56 for 3 items; order 1234567890123456789012.",
        "id 550e8400-e29b-41d4-a716-446655440000 and 1234 5678 9012 3456",
        "password: hunter2hunter2hunter2",
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

/// Luhn-valid numbers with a network prefix, in any separator style.
fn card_number() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![4u8, 5, 3, 6]),
        prop::collection::vec(0u8..10, 14..=14),
    )
        .prop_map(|(first, rest)| {
            let mut digits = vec![first];
            digits.extend(rest);
            // Choose the check digit that makes the number Luhn-valid.
            let check = (0u8..10)
                .find(|c| {
                    let mut d = digits.clone();
                    d.push(*c);
                    validate::luhn(&d)
                })
                .unwrap_or(0);
            digits.push(check);
            digits.iter().map(|d| char::from(b'0' + d)).collect()
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
        let text = format!("pay with {formatted} today");
        let found = scan(&text);
        prop_assert_eq!(found.len(), 1, "{}", text);
        prop_assert_eq!(found[0].kind, Kind::PaymentCard);
        prop_assert_eq!(&text[found[0].start..found[0].end], formatted.as_str());
    }

    #[test]
    fn one_changed_digit_breaks_the_check(number in card_number(), pos in 0usize..15) {
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
