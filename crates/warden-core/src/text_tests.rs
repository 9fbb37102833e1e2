use proptest::prelude::*;

use super::*;

fn terms(s: &str) -> String {
    fold(s, Fold::Terms)
}

#[test]
fn spellings_of_one_term_fold_alike() {
    let want = terms("Project Falcon");
    for spelling in [
        "project falcon",
        "PROJECT FALCON",
        "Project\u{200B} Fal\u{200D}con", // zero-width space and joiner
        "Pro\u{00AD}ject Falcon",         // soft hyphen
        "Project\u{2060}Falcon".replace('\u{2060}', " ").as_str(),
        "Ｐｒｏｊｅｃｔ　Ｆａｌｃｏｎ", // full width, ideographic space
        "Project  \t\n Falcon",         // whitespace runs
        "Proj\u{0435}ct F\u{0430}lcon", // Cyrillic е and а
        "Project Fa1con",               // digit one for l
        "Project\u{202E} Falcon",       // bidi override
        "Project\u{FE0F} Falcon\u{E0041}", // variation selector, tag
    ] {
        assert_eq!(terms(spelling), want, "{spelling:?}");
    }
    assert_eq!(terms("Straße"), terms("STRASSE"));
    assert_ne!(terms("Project Eagle"), want);
}

#[test]
fn patterns_keep_case_and_digits() {
    assert_eq!(fold("ACME-\u{200B}1234  x", Fold::Patterns), "ACME-1234 x");
    assert_eq!(fold("ＡＣＭＥ-１２３４", Fold::Patterns), "ACME-1234");
}

#[test]
fn pushes_join_and_separators_split() {
    let mut f = Folder::new(Fold::Terms);
    f.push("status of Project Fal");
    f.push("con please");
    assert!(f.as_str().contains(&terms("Project Falcon")));
    let mut f = Folder::new(Fold::Terms);
    f.push("Project Fal");
    f.separate();
    f.push("con");
    assert!(!f.as_str().contains(&terms("Project Falcon")));
}

/// Characters that are invisible when rendered.
fn ignorable() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        '\u{00AD}',
        '\u{034F}',
        '\u{061C}',
        '\u{115F}',
        '\u{180E}',
        '\u{200B}',
        '\u{200C}',
        '\u{200D}',
        '\u{200E}',
        '\u{200F}',
        '\u{202A}',
        '\u{202E}',
        '\u{2060}',
        '\u{2064}',
        '\u{2066}',
        '\u{2069}',
        '\u{3164}',
        '\u{FE00}',
        '\u{FE0F}',
        '\u{FEFF}',
        '\u{FFA0}',
        '\u{1D173}',
        '\u{E0001}',
        '\u{E0020}',
        '\u{E007F}',
        '\u{E0100}',
    ])
}

proptest! {
    /// However invisible characters are sprinkled into a text holding a
    /// term, the folded text still holds the folded term.
    #[test]
    fn ignorable_insertions_never_hide_a_term(
        term in "[a-zA-Z0-9][a-zA-Z0-9 ]{0,14}[a-zA-Z0-9]",
        before in "[ -~]{0,20}",
        after in "[ -~]{0,20}",
        inserts in prop::collection::vec((0usize..64, ignorable()), 0..12),
    ) {
        let mut chars: Vec<char> = format!("{before}{term}{after}").chars().collect();
        for (at, c) in inserts {
            let at = at % (chars.len() + 1);
            chars.insert(at, c);
        }
        let text: String = chars.into_iter().collect();
        let folded = {
            let mut f = Folder::new(Fold::Terms);
            f.push(&text);
            f.into_string()
        };
        prop_assert!(folded.contains(&terms(&term)), "{text:?} -> {folded:?}");
    }

    /// ASCII takes a table; every other text the full path. Both agree.
    #[test]
    fn ascii_table_matches_the_full_path(s in "[ -~]{0,40}") {
        let fast = terms(&s);
        let slow = terms(&format!("{s}\u{00E9}"));
        prop_assert_eq!(slow.strip_suffix(&terms("\u{00E9}")).unwrap_or(&slow).trim_end(), fast.trim_end());
    }
}
