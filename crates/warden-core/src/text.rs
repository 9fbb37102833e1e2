//! Text as content rules compare it, so that spelling cannot dodge a
//! denied term or pattern.
//!
//! Two foldings, both built on the Unicode data of well-kept crates
//! (`unicode-normalization`, `unicode-security`, `unicode-properties`):
//!
//! - [`Fold::Terms`], for denied terms: format characters (general category
//!   Cf: zero-width spaces and joiners, bidi controls, soft hyphens) and
//!   default-ignorable code points removed, NFKC (full-width and
//!   compatibility forms, ligatures), lower case (with `ß` as `ss`), the
//!   UTS #39 confusable skeleton (Cyrillic `а` and Latin `a`, `0` and `O`,
//!   `1` and `l` compare equal), lower case again, and every run of
//!   whitespace as one space. Terms are folded the same way at config load,
//!   so a match is a plain substring search.
//! - [`Fold::Patterns`], for denied regular expressions: the same without
//!   case folding and without the skeleton, which would break the character
//!   classes a pattern names (`\d`, `[A-Z]`).
//! - [`Fold::Names`], for tool names: [`Fold::Patterns`] in lower case, so
//!   that policy still reads the names as written (`function:get_weather`).
//!
//! Only content rules read folded text. Masking keeps seeing the original
//! text and its offsets.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Which folding (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fold {
    Terms,
    Patterns,
    Names,
}

/// Appends the folded form of texts to one buffer. Texts pushed one after
/// another join with nothing between them, so a term split across two
/// messages is found in the whole; [`Folder::separate`] puts a boundary no
/// term can span.
#[derive(Debug)]
pub struct Folder {
    fold: Fold,
    out: String,
    /// The last char pushed was whitespace (collapsed runs span pushes).
    space: bool,
}

/// What [`Folder::separate`] writes: a control character, which folding
/// removes from every text (it is neither kept by NFKC as a letter nor
/// whitespace), so no folded term contains it.
pub const SEPARATOR: char = '\u{0}';

impl Folder {
    pub fn new(fold: Fold) -> Folder {
        Folder {
            fold,
            out: String::new(),
            space: false,
        }
    }

    /// Appends `text`, folded.
    pub fn push(&mut self, text: &str) {
        if text.is_ascii() {
            for b in text.bytes() {
                self.push_ascii(b);
            }
            return;
        }
        let visible = text.chars().filter(|c| !invisible(*c)).nfkc();
        match self.fold {
            Fold::Patterns => {
                for c in visible {
                    self.emit(c);
                }
            }
            Fold::Names => {
                for c in visible.flat_map(char::to_lowercase) {
                    self.emit(c);
                }
            }
            Fold::Terms => {
                let mut lowered = String::with_capacity(text.len());
                for c in visible {
                    // The one common full case folding lower case misses.
                    if c == 'ß' || c == 'ẞ' {
                        lowered.push_str("ss");
                    } else {
                        lowered.extend(c.to_lowercase());
                    }
                }
                for c in unicode_security::skeleton(&lowered).flat_map(char::to_lowercase) {
                    self.emit(c);
                }
            }
        }
    }

    /// A boundary: what follows is another text, not the continuation of
    /// the last one.
    pub fn separate(&mut self) {
        self.out.push(SEPARATOR);
        self.space = false;
    }

    pub fn as_str(&self) -> &str {
        &self.out
    }

    pub fn into_string(self) -> String {
        self.out
    }

    fn push_ascii(&mut self, b: u8) {
        if b.is_ascii_whitespace() || b == 0x0b {
            self.space_once();
            return;
        }
        if b.is_ascii_control() {
            return; // Cf has no ASCII members; controls are dropped like it
        }
        self.space = false;
        match self.fold {
            Fold::Patterns => self.out.push(char::from(b)),
            Fold::Names => self.out.push(char::from(b.to_ascii_lowercase())),
            Fold::Terms => self.out.push_str(ascii_terms()[usize::from(b)].as_str()),
        }
    }

    fn emit(&mut self, c: char) {
        if c.is_whitespace() {
            self.space_once();
        } else if c.is_control() || invisible(c) {
            // NFKC and the skeleton can produce neither, but a dropped char
            // must never be kept by accident.
        } else {
            self.space = false;
            self.out.push(c);
        }
    }

    fn space_once(&mut self) {
        if !self.space {
            self.out.push(' ');
            self.space = true;
        }
    }
}

/// A whole text folded on its own (used for terms at config load).
pub fn fold(text: &str, fold: Fold) -> String {
    let mut f = Folder::new(fold);
    f.push(text);
    f.into_string().trim_matches(' ').to_owned()
}

/// Format characters and default-ignorable code points: invisible, and
/// dropped before anything else so they cannot split a word.
fn invisible(c: char) -> bool {
    c.general_category() == GeneralCategory::Format || default_ignorable(c)
}

/// Default_Ignorable_Code_Point outside category Cf (DerivedCoreProperties:
/// the Hangul fillers, the combining grapheme joiner, variation selectors,
/// Mongolian free variation selectors, unassigned reserved ranges).
/// Written out because no small crate exports the property itself; the
/// list is short and has not changed since Unicode 9.
fn default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{034F}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{2065}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// [`Fold::Terms`] of each ASCII byte, computed once: the skeleton maps
/// ASCII too (`0` to `O`, `1` and `I` to `l`, `m` to `rn`).
fn ascii_terms() -> &'static [String; 128] {
    static TABLE: std::sync::OnceLock<[String; 128]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|b| {
            let c = char::from(u8::try_from(b).unwrap_or(b'?'));
            let lowered: String = c.to_lowercase().collect();
            unicode_security::skeleton(&lowered)
                .flat_map(char::to_lowercase)
                .collect()
        })
    })
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
