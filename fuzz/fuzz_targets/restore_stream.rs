//! A body restored chunk by chunk, however the chunks fall, must equal the
//! same body restored in one piece.
//!
//! Input layout: one byte `n`, then `n` chunk lengths (one byte each; a zero
//! is an empty chunk), then the text. In the text, the bytes 0x01 to 0x07
//! stand for the placeholders below, so the fuzzer reaches them without
//! having to guess their spelling; every other byte is itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_pii::restore::Restorer;

const PAIRS: &[(&str, &str)] = &[
    ("<EMAIL_1>", "jane@example.com"),
    ("<EMAIL_12>", "bob@example.org"),
    ("<PAYMENT_CARD_3>", "4111 1111 1111 1111"),
    // A value with JSON specials and text that looks like a placeholder: it
    // must be written escaped and never restored a second time.
    ("<SECRET_1>", "a\"b\\c <EMAIL_1> <x"),
    ("<IP_ADDRESS_2>", "<EMAIL_12>"),
    // 32 bytes, the longest the restorer looks for, and 33, which it never
    // restores: either way the two paths must agree.
    ("<PAYMENT_CARD_12345678901234567>", "long"),
    ("<PAYMENT_CARD_123456789012345678>", "too long"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 64).min(rest.len());
    let (sizes, raw) = rest.split_at(n);
    let text = expand(raw);

    let mut whole = Restorer::new(PAIRS.iter().copied());
    let mut expected = whole.push(&text);
    expected.extend(whole.finish());

    let mut streamed = Restorer::new(PAIRS.iter().copied());
    let mut out = Vec::new();
    let mut at = 0;
    for size in sizes {
        let end = (at + usize::from(*size)).min(text.len());
        out.extend(streamed.push(&text[at..end]));
        at = end;
    }
    out.extend(streamed.push(&text[at..]));
    out.extend(streamed.finish());

    assert!(
        out == expected,
        "chunks {sizes:?} of {:?}:\n streamed {:?}\n   whole  {:?}",
        String::from_utf8_lossy(&text),
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&expected),
    );
});

fn expand(raw: &[u8]) -> Vec<u8> {
    let mut text = Vec::with_capacity(raw.len() * 2);
    for &b in raw {
        match PAIRS.get(usize::from(b).wrapping_sub(1)) {
            Some((placeholder, _)) => text.extend_from_slice(placeholder.as_bytes()),
            _ => text.push(b),
        }
    }
    text
}
