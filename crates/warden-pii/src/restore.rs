//! Putting pseudonyms back: the upstream's answer mentions `<EMAIL_1>`, the
//! caller reads `jane@example.com`. Works on the raw bytes of a JSON body or
//! an SSE stream as they pass, so it needs no parsing and keeps a stream a
//! stream: a chunk is held back only from a `<` that may begin a placeholder
//! split across chunks, at most [`MAX_PLACEHOLDER`] bytes.
//!
//! Only placeholders this request issued are replaced (a model inventing
//! `<EMAIL_7>` gets nothing), and values are JSON-escaped on the way in,
//! since placeholders sit inside JSON strings.

use std::collections::HashMap;

/// Longest placeholder, `<PAYMENT_CARD_99999>` and then some.
pub const MAX_PLACEHOLDER: usize = 32;

#[derive(Debug, Default)]
pub struct Restorer {
    /// Placeholder -> JSON-escaped original value.
    values: HashMap<Vec<u8>, Vec<u8>>,
    held: Vec<u8>,
}

fn json_escaped(value: &str) -> Vec<u8> {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    quoted.as_bytes()[1..quoted.len().saturating_sub(1).max(1)].to_vec()
}

impl Restorer {
    /// From the pseudonyms a request was given (placeholder, original value).
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Restorer {
        Restorer {
            values: pairs
                .into_iter()
                .map(|(placeholder, value)| (placeholder.as_bytes().to_vec(), json_escaped(value)))
                .collect(),
            held: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The next chunk with placeholders restored; may be empty when all of
    /// it is held back.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(chunk);
        // Hold back from the last `<` that has no `>` after it, if close to the end.
        let keep_from = match buf.iter().rposition(|b| *b == b'<') {
            Some(p) if !buf[p..].contains(&b'>') && buf.len() - p < MAX_PLACEHOLDER => p,
            _ => buf.len(),
        };
        self.held = buf[keep_from..].to_vec();
        self.replace(&buf[..keep_from])
    }

    /// Whatever was held back, once the body ends.
    pub fn finish(&mut self) -> Vec<u8> {
        let held = std::mem::take(&mut self.held);
        self.replace(&held)
    }

    fn replace(&self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        let mut i = 0;
        while i < data.len() {
            if data[i] == b'<' {
                let window = &data[i..data.len().min(i + MAX_PLACEHOLDER)];
                if let Some(end) = window.iter().position(|b| *b == b'>')
                    && let Some(value) = self.values.get(&window[..=end])
                {
                    out.extend_from_slice(value);
                    i += end + 1;
                    continue;
                }
            }
            out.push(data[i]);
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restorer() -> Restorer {
        Restorer::new([("<EMAIL_1>", "jane@example.com"), ("<SECRET_1>", "a\"b\\c")])
    }

    #[test]
    fn restores_at_every_split_point() {
        let stream = b"data: {\"delta\":{\"content\":\"mail <EMAIL_1> now\"}}\n\ndata: [DONE]\n\n";
        for split in 0..=stream.len() {
            let mut r = restorer();
            let mut out = r.push(&stream[..split]);
            out.extend(r.push(&stream[split..]));
            out.extend(r.finish());
            assert_eq!(
                String::from_utf8_lossy(&out),
                "data: {\"delta\":{\"content\":\"mail jane@example.com now\"}}\n\ndata: [DONE]\n\n",
                "split at {split}"
            );
        }
    }

    #[test]
    fn byte_by_byte_holds_back_at_most_a_placeholder() {
        let mut r = restorer();
        let text = b"abc <EMAIL_1> def <b>bold</b> <EMAIL_9>";
        let mut out = Vec::new();
        for b in text {
            out.extend(r.push(std::slice::from_ref(b)));
            assert!(r.held.len() < MAX_PLACEHOLDER);
        }
        out.extend(r.finish());
        assert_eq!(
            String::from_utf8_lossy(&out),
            "abc jane@example.com def <b>bold</b> <EMAIL_9>"
        );
    }

    #[test]
    fn values_are_json_escaped() {
        let mut r = restorer();
        let out = r.push(b"{\"k\":\"<SECRET_1>\"}");
        assert_eq!(String::from_utf8_lossy(&out), "{\"k\":\"a\\\"b\\\\c\"}");
    }
}
