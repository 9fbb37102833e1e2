//! `*`-only wildcard matching, the same semantics as Cedar's `like`, for the
//! model scopes of Warden keys (checked outside Cedar, before it). Hand-written
//! because it is ten lines and a glob crate would bring `?`, `[...]` and
//! `{a,b}` semantics that Cedar policies cannot express.

/// Whether `text` matches `pattern`, where `*` matches any run of characters.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::wildcard_match as m;

    #[test]
    fn matches_like_cedar() {
        assert!(m("gpt-4o", "gpt-4o"));
        assert!(!m("gpt-4o", "gpt-4o-mini"));
        assert!(m("gpt-4o*", "gpt-4o-mini"));
        assert!(m("*", ""));
        assert!(m("*mini", "gpt-4o-mini"));
        assert!(m("g*-*i", "gpt-4o-mini"));
        assert!(!m("g*-*x", "gpt-4o-mini"));
        assert!(!m("a*a", "a"), "the two a's cannot overlap");
        assert!(m("a*a", "aa"));
    }
}
