//! Any JSON body, masked as each request shape, must come out as a body that
//! still serializes and parses to the same value, holds no finding of a type
//! the profile masks in any text field, and differs from the input only in
//! its text fields. With pseudonyms, restoring the masked body's texts must put
//! back every value its placeholders stand for.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use warden_pii::json::{Shape, mask_request, visit_texts};
use warden_pii::mask::{Action, KINDS, Profile, Session};
use warden_pii::stream::Answer;

const SHAPES: [Shape; 3] = [Shape::Chat, Shape::Responses, Shape::Field("input")];

fn profile(action: Action) -> Profile {
    Profile {
        name: "fuzz".into(),
        actions: KINDS.iter().map(|k| (*k, action)).collect(),
        hash_key: b"fuzz".to_vec(),
        ..Profile::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(original) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let redact = profile(Action::Redact);
    let pseudonymize = profile(Action::Pseudonymize);
    for shape in SHAPES {
        redacted(shape, &original, &redact);
        restored(shape, &original, &pseudonymize);
    }
});

fn redacted(shape: Shape, original: &Value, profile: &Profile) {
    let mut masked = original.clone();
    let found = mask_request(shape, &mut masked, profile, &mut Session::default());
    if found.is_empty() {
        assert_eq!(&masked, original, "{shape:?}: nothing found, yet changed");
    }

    let text = serde_json::to_string(&masked).expect("masked body serializes");
    let reparsed: Value = serde_json::from_str(&text).expect("masked body parses again");
    assert!(
        same(&reparsed, &masked),
        "{shape:?}: changed by a JSON round trip:\n{masked}\n{reparsed}"
    );

    let mut again = masked.clone();
    visit_texts(shape, &mut again, &mut |v, path| {
        let Value::String(s) = v else { return };
        for f in warden_pii::scan(s) {
            assert!(
                profile.action_for(f.kind).is_none(),
                "{shape:?}: {path} still has {:?} {:?} after masking: {s:?}",
                f.kind,
                &s[f.start..f.end],
            );
        }
    });

    let (before, before_paths) = without_texts(shape, original);
    let (after, after_paths) = without_texts(shape, &masked);
    assert_eq!(before_paths, after_paths, "{shape:?}: text fields moved");
    assert_eq!(before, after, "{shape:?}: a non-text value changed");
    for f in &found {
        assert!(
            before_paths.contains(&f.path),
            "{shape:?}: finding outside text: {}",
            f.path
        );
    }
}

/// Equal, except that floats may differ in their last bit: serde_json's
/// default float parser is not exact (its `float_roundtrip` feature is off),
/// so `1.1161891891111115e+23` parses one ulp away from the value it was
/// printed from. Known and reported; anything larger is a real change.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x == y || x.to_bits().abs_diff(y.to_bits()) <= 1,
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same(vx, vy))
        }
        _ => a == b,
    }
}

/// The value with every text field set to null, and the text fields' paths.
fn without_texts(shape: Shape, v: &Value) -> (Value, Vec<String>) {
    let mut v = v.clone();
    let mut paths = Vec::new();
    visit_texts(shape, &mut v, &mut |t, path| {
        *t = Value::Null;
        paths.push(path.to_owned());
    });
    (v, paths)
}

fn restored(shape: Shape, original: &Value, profile: &Profile) {
    let mut masked = original.clone();
    let mut session = Session::default();
    mask_request(shape, &mut masked, profile, &mut session);
    let pairs: Vec<(String, String)> = session
        .pseudonyms()
        .map(|(p, v)| (p.to_owned(), v.to_owned()))
        .collect();
    let original_text = serde_json::to_string(original).expect("serializes");
    // A body that already held a placeholder's text cannot be told apart
    // from one the gateway wrote; the restorer replaces both, by design.
    if pairs
        .iter()
        .any(|(p, _)| original_text.contains(p.as_str()))
    {
        return;
    }
    let masked_text = serde_json::to_string(&masked).expect("serializes");
    // Restore every text field as the gateway restores the answer's text.
    let mut answer = Answer::new(pairs.iter().map(|(p, v)| (p.as_str(), v.as_str())), None);
    let mut back = masked;
    visit_texts(shape, &mut back, &mut |v, _| {
        if let Value::String(s) = v {
            *s = answer.text(s);
        }
    });
    // Every placeholder the masked body holds is replaced by its value.
    // (Not byte identity with the original: one entity written two ways
    // shares a placeholder restored to its first spelling, and values glued
    // together are masked over several passes.)
    let out = serde_json::to_string(&back).expect("serializes");
    for (p, v) in &pairs {
        if masked_text.contains(p.as_str()) {
            let escaped = serde_json::to_string(v).expect("serializes");
            let escaped = &escaped[1..escaped.len() - 1];
            assert!(
                !out.contains(p.as_str()) && out.contains(escaped),
                "{shape:?}: {p} not restored to {v:?}: {out}"
            );
        }
    }
}
