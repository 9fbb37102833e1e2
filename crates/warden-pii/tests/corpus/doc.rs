//! A document of the corpus and its labels.

/// A labelled value: `text[start..end]` is a `kind` (an entity type name as
/// `Kind::as_str` gives it). `class` says how it was generated (the format,
/// the secret's provider, the card's brand), for the per-class breakdown.
#[derive(Clone, Debug)]
pub struct Label {
    pub kind: &'static str,
    pub class: String,
    pub start: usize,
    pub end: usize,
}

/// One document: a support ticket, a CSV file, a JSON payload, a log line.
/// `section` is the generator that made it.
#[derive(Clone, Debug)]
pub struct Doc {
    pub section: &'static str,
    pub text: String,
    pub labels: Vec<Label>,
}

/// The marker a template puts where the value goes.
pub const V: &str = "{v}";

impl Doc {
    pub fn new(section: &'static str) -> Doc {
        Doc {
            section,
            text: String::new(),
            labels: Vec::new(),
        }
    }

    /// Unlabelled text.
    pub fn text(&mut self, s: &str) -> &mut Doc {
        self.text.push_str(s);
        self
    }

    /// A labelled value.
    pub fn value(&mut self, kind: &'static str, class: &str, v: &str) -> &mut Doc {
        let start = self.text.len();
        self.text.push_str(v);
        self.labels.push(Label {
            kind,
            class: class.to_owned(),
            start,
            end: self.text.len(),
        });
        self
    }

    /// `template` with its one `{v}` replaced by `before`, the labelled
    /// `value`, then `after`.
    pub fn fill(
        &mut self,
        template: &str,
        kind: &'static str,
        class: &str,
        (before, value, after): (&str, &str, &str),
    ) -> &mut Doc {
        let (head, tail) = template
            .split_once(V)
            .unwrap_or_else(|| panic!("template without {V}: {template:?}"));
        self.text(head)
            .text(before)
            .value(kind, class, value)
            .text(after)
            .text(tail)
    }

    pub fn labelled(
        section: &'static str,
        template: &str,
        kind: &'static str,
        class: &str,
        value: &str,
    ) -> Doc {
        let mut d = Doc::new(section);
        d.fill(template, kind, class, ("", value, ""));
        d
    }
}
