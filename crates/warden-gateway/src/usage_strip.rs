//! Removing the usage-only chunk from a chat stream whose caller did not
//! ask for usage.
//!
//! A streamed chat call reports its token usage only when asked
//! (`stream_options.include_usage`). Warden always asks, so limits and
//! budgets settle with real usage rather than a never-corrected estimate;
//! a caller that did not ask must then not receive the extra chunk (empty
//! `choices`, a `usage` object), which naive clients do not expect. The
//! usage tap (`usage.rs`) reads the upstream's bytes before this filter.
//!
//! Events pass whole: only the bytes of an event whose end has not arrived
//! yet are held, and a client cannot act on half an event anyway. A chunk
//! of whole events that names no usage object passes without a copy.

use bytes::Bytes;
use memchr::memmem;

#[derive(Debug, Default)]
pub struct UsageStrip {
    /// The start of an event whose end has not arrived.
    partial: Vec<u8>,
}

impl UsageStrip {
    /// The part of `chunk` (with what was held) to pass on now.
    pub fn push(&mut self, chunk: Bytes) -> Bytes {
        if self.partial.is_empty() && ends_event(&chunk) && !has_usage_object(&chunk) {
            return chunk;
        }
        self.partial.extend_from_slice(&chunk);
        let Some(end) = last_event_end(&self.partial) else {
            return Bytes::new();
        };
        let rest = self.partial.split_off(end);
        let whole = std::mem::replace(&mut self.partial, rest);
        Bytes::from(strip_events(&whole))
    }

    /// What is still held when the upstream's body ends.
    pub fn finish(&mut self) -> Bytes {
        let held = std::mem::take(&mut self.partial);
        Bytes::from(strip_events(&held))
    }
}

/// Whether the bytes end at an event boundary (a blank line).
fn ends_event(b: &[u8]) -> bool {
    b.ends_with(b"\n\n") || b.ends_with(b"\r\n\r\n") || b.ends_with(b"\r\r")
}

/// The index just past the last event boundary in `b`.
fn last_event_end(b: &[u8]) -> Option<usize> {
    let lf = memmem::rfind(b, b"\n\n").map(|i| i + 2);
    let crlf = memmem::rfind(b, b"\r\n\r\n").map(|i| i + 4);
    lf.max(crlf)
}

/// `"usage"` followed by a colon and an object (not `null`).
pub(crate) fn has_usage_object(b: &[u8]) -> bool {
    memmem::find_iter(b, b"\"usage\"").any(|i| {
        let rest = &b[i + 7..];
        let mut it = rest.iter().skip_while(|c| c.is_ascii_whitespace());
        it.next() == Some(&b':') && it.find(|c| !c.is_ascii_whitespace()) == Some(&b'{')
    })
}

/// `events` without the usage-only ones.
fn strip_events(events: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(events.len());
    let mut rest = events;
    while !rest.is_empty() {
        let (event, next) = match first_event_end(rest) {
            Some(end) => rest.split_at(end),
            None => (rest, &[][..]),
        };
        if !usage_only(event) {
            out.extend_from_slice(event);
        }
        rest = next;
    }
    out
}

/// The end (past the blank line) of the first event in `b`.
fn first_event_end(b: &[u8]) -> Option<usize> {
    let lf = memmem::find(b, b"\n\n").map(|i| i + 2);
    let crlf = memmem::find(b, b"\r\n\r\n").map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(c)) => Some(a.min(c)),
        (a, c) => a.or(c),
    }
}

/// An event whose data is a chat chunk with no choices and a usage object.
fn usage_only(event: &[u8]) -> bool {
    if !has_usage_object(event) {
        return false;
    }
    let mut data = Vec::new();
    for line in event.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(d) = line.strip_prefix(b"data:") {
            if !data.is_empty() {
                data.push(b'\n');
            }
            data.extend_from_slice(d.strip_prefix(b" ").unwrap_or(d));
        }
    }
    #[derive(serde::Deserialize)]
    struct Chunk {
        #[serde(default)]
        choices: Option<Vec<serde::de::IgnoredAny>>,
        usage: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Chunk>(&data)
        .is_ok_and(|c| c.usage.is_some() && c.choices.is_none_or(|c| c.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = concat!(
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n",
        "data: [DONE]\n\n",
    );

    fn strip_in_pieces(size: usize) -> String {
        let mut s = UsageStrip::default();
        let mut out = Vec::new();
        for piece in STREAM.as_bytes().chunks(size) {
            out.extend_from_slice(&s.push(Bytes::copy_from_slice(piece)));
        }
        out.extend_from_slice(&s.finish());
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn the_usage_chunk_is_removed_however_the_bytes_arrive() {
        let want = concat!(
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n",
            "data: [DONE]\n\n",
        );
        for size in [1, 2, 7, 50, 1000] {
            assert_eq!(strip_in_pieces(size), want, "pieces of {size}");
        }
    }

    #[test]
    fn whole_events_without_usage_pass_without_a_copy() {
        let mut s = UsageStrip::default();
        let chunk = Bytes::from_static(b"data: {\"choices\":[{}],\"usage\":null}\n\n");
        let out = s.push(chunk.clone());
        assert_eq!(out.as_ptr(), chunk.as_ptr());
        // Usage inside a chunk that still has choices is the caller's.
        let mixed =
            Bytes::from_static(b"data: {\"choices\":[{}],\"usage\": {\"total_tokens\":1}}\n\n");
        assert_eq!(s.push(mixed.clone()), mixed);
    }
}
