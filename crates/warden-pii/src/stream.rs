//! The model's answer on its way to the caller: pseudonyms put back, and,
//! where an output profile applies, personal data the model wrote masked.
//!
//! Both work on the answer's *text* (JSON string values, by meaning), so a
//! placeholder or a card number split across SSE events is still seen whole:
//!
//! - [`Answer`] transforms one complete text, and knows how much of a growing
//!   text can be released safely;
//! - [`SseRewriter`] rewrites an SSE stream event by event. For each text that
//!   arrives in deltas (chat `delta.content`, `delta.refusal` and tool-call
//!   arguments per choice; Responses `response.output_text.delta`,
//!   `refusal`, `function_call_arguments` and reasoning summaries per item) it
//!   keeps the text not yet safe to release, and releases the rest in the
//!   event that carried it. What is held is released before the text ends: in
//!   the chat chunk that carries `finish_reason`, or in a delta event Warden
//!   inserts before the Responses `*.done` event (later `sequence_number`s
//!   are shifted so they stay consecutive);
//! - [`Answer::json_body`] rewrites a complete JSON answer.
//!
//! How much is held: with only pseudonyms to restore, from a trailing `<`
//! that may start a placeholder (at most [`MAX_PLACEHOLDER`] bytes). With an
//! output profile, also the last [`HOLD`] bytes and the rest of the word
//! they start in (a token or address still growing, up to [`MAX_HOLD`]), and
//! any finding that reaches into that tail.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::mask::{MAX_PLACEHOLDER, Masked, Profile, Session};

/// Longest value of a type that may contain spaces (IBAN: 34 characters in
/// groups of four), so one that is still arriving is never released in part.
pub const HOLD: usize = 48;

/// Upper bound on what is held for one text (a PEM block still arriving, a
/// long token); beyond it the text is released as it is masked.
pub const MAX_HOLD: usize = 16 * 1024;

/// Transforms the model's text: output masking, then pseudonyms restored.
#[derive(Debug, Default)]
pub struct Answer {
    /// Placeholder -> original value.
    placeholders: HashMap<String, String>,
    /// Shared with the config: nothing is copied per request.
    output: Option<Arc<Profile>>,
    session: Session,
    found: Vec<Masked>,
}

impl Answer {
    /// `pseudonyms`: (placeholder, original) given out for the request;
    /// `output`: the profile that masks the answer, if any. In an answer a
    /// pseudonym would mean nothing to the caller, so `pseudonymize` there
    /// redacts.
    pub fn new<'a>(
        pseudonyms: impl IntoIterator<Item = (&'a str, &'a str)>,
        output: Option<Arc<Profile>>,
    ) -> Answer {
        Answer {
            placeholders: pseudonyms
                .into_iter()
                .map(|(p, v)| (p.to_owned(), v.to_owned()))
                .collect(),
            output: output.filter(|p| !p.actions.is_empty()),
            session: Session::for_answers(),
            found: Vec::new(),
        }
    }

    /// Nothing to restore and nothing to mask.
    /// The pseudonyms this answer restores: (placeholder, original).
    pub fn pseudonyms(&self) -> impl Iterator<Item = (&str, &str)> {
        self.placeholders
            .iter()
            .map(|(p, v)| (p.as_str(), v.as_str()))
    }

    pub fn is_noop(&self) -> bool {
        self.placeholders.is_empty() && self.output.is_none()
    }

    pub fn masks_output(&self) -> bool {
        self.output.is_some()
    }

    /// What output masking replaced so far (types and actions, no values).
    pub fn findings(&self) -> &[Masked] {
        &self.found
    }

    /// One complete text, transformed.
    pub fn text(&mut self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut segment_start = 0;
        let mut i = 0;
        while let Some(lt) = s[i..].find('<').map(|p| p + i) {
            // Bytes, not a `str` window: the window's end may fall inside a
            // character, while `<` and `>` are ASCII and always boundaries.
            let limit = s.len().min(lt + MAX_PLACEHOLDER);
            let hit = s.as_bytes()[lt..limit]
                .iter()
                .position(|&b| b == b'>')
                .and_then(|end| self.placeholders.get(&s[lt..=lt + end]).map(|v| (end, v)));
            match hit {
                Some((end, value)) => {
                    let value = value.clone();
                    self.mask_into(&s[segment_start..lt], &mut out);
                    out.push_str(&value);
                    i = lt + end + 1;
                    segment_start = i;
                }
                None => i = lt + 1,
            }
        }
        self.mask_into(&s[segment_start..], &mut out);
        out
    }

    /// Masks the model's own text (never a restored value).
    fn mask_into(&mut self, segment: &str, out: &mut String) {
        match &self.output {
            Some(profile) => match profile.mask(segment, &mut self.session, &mut self.found) {
                Some(masked) => out.push_str(&masked),
                None => out.push_str(segment),
            },
            None => out.push_str(segment),
        }
    }

    /// How many bytes of a text still growing can be released now.
    pub fn safe_len(&self, s: &str) -> usize {
        match &self.output {
            None => self.outside_placeholder(s, s.len()),
            Some(profile) => self.mask_cut(s, profile),
        }
    }

    /// `cut`, moved back so it does not fall inside a placeholder.
    fn outside_placeholder(&self, s: &str, cut: usize) -> usize {
        match s[..cut].rfind('<') {
            Some(lt)
                if !self.placeholders.is_empty()
                    && cut - lt < MAX_PLACEHOLDER
                    && s[lt + 1..cut]
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') =>
            {
                lt
            }
            _ => cut,
        }
    }

    fn mask_cut(&self, s: &str, profile: &Profile) -> usize {
        // Hold the last HOLD bytes, and cut only between words: a released
        // piece that starts or ends inside a run of letters and digits would
        // be scanned with a word boundary the whole text does not have.
        let tail = floor_boundary(s, s.len().saturating_sub(HOLD));
        let word = s[..tail]
            .rfind(char::is_whitespace)
            .map_or(0, |p| p + s[p..].chars().next().map_or(1, char::len_utf8));
        let mut cut = if s.len() - word <= MAX_HOLD {
            word
        } else {
            tail
        };
        if let Some(begin) = s.rfind("-----BEGIN")
            && !s[begin..].contains("-----END")
            && s.len() - begin <= MAX_HOLD
        {
            cut = cut.min(begin);
        }
        let masked = |text: &str| -> Vec<(usize, usize)> {
            crate::scan_with(text, &profile.detect)
                .into_iter()
                .filter(|f| profile.action_for(f.kind).is_some())
                .map(|f| (f.start, f.end))
                .collect()
        };
        let whole = masked(s);
        for &(start, end) in &whole {
            if end > cut {
                cut = cut.min(start);
            }
        }
        cut = self.outside_placeholder(s, cut);
        // The piece released is scanned on its own: it must find what the
        // whole held text finds before the cut (a value found by trying a
        // shorter prefix of a longer candidate depends on the text after
        // it). Where they differ, cut before the first difference.
        for _ in 0..4 {
            let piece = masked(&s[..cut]);
            let before: Vec<_> = whole.iter().copied().filter(|f| f.1 <= cut).collect();
            if piece == before {
                return cut;
            }
            let first = piece
                .iter()
                .chain(&before)
                .filter(|f| !piece.contains(f) || !before.contains(f))
                .map(|f| f.0)
                .min()
                .unwrap_or(0);
            let word = s[..first]
                .rfind(char::is_whitespace)
                .map_or(0, |p| p + s[p..].chars().next().map_or(1, char::len_utf8));
            cut = self.outside_placeholder(s, word);
        }
        0
    }

    /// A complete JSON answer (chat completion, completion, or Responses
    /// object), every text the model wrote transformed in place.
    pub fn json_body(&mut self, v: &mut Value) {
        if let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) {
            for c in choices {
                if let Some(m) = c.get_mut("message") {
                    self.message(m);
                }
                self.field(c, "text");
            }
        }
        if let Some(output) = v.get_mut("output").and_then(Value::as_array_mut) {
            for item in output {
                self.item(item);
            }
        }
        // Transcriptions and translations: the text, and (verbose) its
        // segments.
        self.field(v, "text");
        if let Some(segments) = v.get_mut("segments").and_then(Value::as_array_mut) {
            for s in segments {
                self.field(s, "text");
            }
        }
        // Lists of text: a stored chat completion's messages, a vector
        // store's search results and file content pages.
        if let Some(data) = v.get_mut("data").and_then(Value::as_array_mut) {
            for d in data {
                self.field(d, "text");
                self.field(d, "content");
                if let Some(parts) = d.get_mut("content").and_then(Value::as_array_mut) {
                    for p in parts {
                        self.field(p, "text");
                    }
                }
            }
        }
    }

    /// A chat message: content, refusal, tool-call arguments.
    fn message(&mut self, m: &mut Value) {
        self.field(m, "content");
        self.field(m, "refusal");
        if let Some(parts) = m.get_mut("content").and_then(Value::as_array_mut) {
            for p in parts {
                self.field(p, "text");
            }
        }
        if let Some(calls) = m.get_mut("tool_calls").and_then(Value::as_array_mut) {
            for call in calls {
                if let Some(f) = call.get_mut("function") {
                    self.field(f, "arguments");
                }
            }
        }
    }

    /// A Responses output item.
    fn item(&mut self, item: &mut Value) {
        for key in ["arguments", "input", "output"] {
            self.field(item, key);
        }
        for list in ["content", "summary"] {
            if let Some(parts) = item.get_mut(list).and_then(Value::as_array_mut) {
                for p in parts {
                    self.field(p, "text");
                    self.field(p, "refusal");
                }
            }
        }
    }

    fn field(&mut self, v: &mut Value, key: &str) {
        if let Some(Value::String(s)) = v.get_mut(key) {
            let new = self.text(s);
            *s = new;
        }
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One text arriving in deltas.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    /// Chat: (choice index, what, tool call index).
    Chat(u64, ChatPart, u64),
    /// Responses: (item id, what, content or summary index).
    Item(String, &'static str, u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ChatPart {
    Content,
    Refusal,
    Arguments,
}

/// Responses delta events: (delta type, done type, field holding the whole
/// text in the done event, index field).
const ITEM_TEXTS: [(&str, &str, &str, &str); 4] = [
    (
        "response.output_text.delta",
        "response.output_text.done",
        "text",
        "content_index",
    ),
    (
        "response.refusal.delta",
        "response.refusal.done",
        "refusal",
        "content_index",
    ),
    (
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "arguments",
        "",
    ),
    (
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "text",
        "summary_index",
    ),
];

/// Rewrites an SSE body (chat completions or Responses) event by event.
#[derive(Debug)]
pub struct SseRewriter {
    answer: Answer,
    buf: Vec<u8>,
    pending: HashMap<Key, String>,
    /// Events inserted so far: later `sequence_number`s move up by this.
    shift: u64,
    /// The last chat chunk without its choices, to frame inserted chunks.
    chat_frame: Option<Map<String, Value>>,
}

impl SseRewriter {
    pub fn new(answer: Answer) -> SseRewriter {
        SseRewriter {
            answer,
            buf: Vec::new(),
            pending: HashMap::new(),
            shift: 0,
            chat_frame: None,
        }
    }

    pub fn answer(&self) -> &Answer {
        &self.answer
    }

    /// The rewritten events completed by `chunk` (possibly none yet).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(self.buf.len());
        let mut start = 0;
        while let Some((end, next)) = event_end(&self.buf[start..]) {
            let event = self.buf[start..start + end].to_vec();
            self.event(&event, &mut out);
            start += next;
        }
        self.buf.drain(..start);
        out
    }

    /// At the end of the body: an unterminated last event, then whatever is
    /// still held.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let rest = std::mem::take(&mut self.buf);
        if !rest.iter().all(u8::is_ascii_whitespace) {
            self.event(&rest, &mut out);
        }
        self.flush_chat(&mut out);
        out
    }

    fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        let Ok(text) = std::str::from_utf8(event) else {
            out.extend_from_slice(b": warden: dropped an event that is not UTF-8\n\n");
            return;
        };
        let mut data = String::new();
        let mut others = Vec::new();
        for line in text.lines() {
            if let Some(d) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(d.strip_prefix(' ').unwrap_or(d));
            } else {
                others.push(line);
            }
        }
        if data.is_empty() {
            out.extend_from_slice(event);
            out.extend_from_slice(b"\n\n");
            return;
        }
        if data.trim() == "[DONE]" {
            self.flush_chat(out);
            out.extend_from_slice(event);
            out.extend_from_slice(b"\n\n");
            return;
        }
        // Only pseudonyms to restore, none in this event (not even written
        // `\u003c`, as some JSON encoders write `<`), nothing held and no
        // numbering to shift: the event passes as it came, unparsed.
        if !self.answer.masks_output()
            && self.shift == 0
            && !data.contains('<')
            && !data.contains("\\u003c")
            && !data.contains("\\u003C")
            && self.pending.values().all(String::is_empty)
        {
            out.extend_from_slice(event);
            out.extend_from_slice(b"\n\n");
            return;
        }
        let Ok(mut v) = serde_json::from_str::<Value>(&data) else {
            // Text Warden cannot read could carry what it must mask or
            // restore: it does not pass unread.
            out.extend_from_slice(b": warden: dropped an event that is not JSON\n\n");
            return;
        };
        let mut before = Vec::new();
        if v.get("object").and_then(Value::as_str) == Some("chat.completion.chunk") {
            self.chat(&mut v);
        } else if let Some(kind) = v.get("type").and_then(Value::as_str).map(str::to_owned) {
            self.responses(&kind, &mut v, &others, &mut before);
        } else {
            self.answer.json_body(&mut v);
        }
        out.extend_from_slice(&before);
        write_event(&others, &v, out);
    }

    fn release(&mut self, key: Key, delta: &str) -> String {
        let pending = self.pending.entry(key).or_default();
        pending.push_str(delta);
        let cut = self.answer.safe_len(pending);
        let ready: String = pending.drain(..cut).collect();
        self.answer.text(&ready)
    }

    fn take(&mut self, key: &Key) -> String {
        match self.pending.remove(key) {
            Some(rest) if !rest.is_empty() => self.answer.text(&rest),
            _ => String::new(),
        }
    }

    fn chat(&mut self, v: &mut Value) {
        if let Some(obj) = v.as_object() {
            let mut frame = obj.clone();
            frame.remove("choices");
            frame.remove("usage");
            self.chat_frame = Some(frame);
        }
        let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) else {
            return;
        };
        for c in choices {
            let i = c.get("index").and_then(Value::as_u64).unwrap_or(0);
            let finished = c.get("finish_reason").is_some_and(|f| !f.is_null());
            let Some(delta) = c.get_mut("delta").and_then(Value::as_object_mut) else {
                continue;
            };
            for (field, part) in [
                ("content", ChatPart::Content),
                ("refusal", ChatPart::Refusal),
            ] {
                if let Some(Value::String(s)) = delta.get_mut(field) {
                    let released = self.release(Key::Chat(i, part, 0), s);
                    *s = released;
                }
            }
            if let Some(calls) = delta.get_mut("tool_calls").and_then(Value::as_array_mut) {
                for call in calls {
                    let j = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                    if let Some(Value::String(s)) = call.pointer_mut("/function/arguments") {
                        let released = self.release(Key::Chat(i, ChatPart::Arguments, j), s);
                        *s = released;
                    }
                }
            }
            if finished {
                self.flush_choice(i, delta);
            }
        }
    }

    /// Adds what is held for choice `i` to its last delta.
    fn flush_choice(&mut self, i: u64, delta: &mut Map<String, Value>) {
        let mut keys: Vec<Key> = self
            .pending
            .keys()
            .filter(|k| matches!(k, Key::Chat(c, ..) if *c == i))
            .cloned()
            .collect();
        keys.sort_by_key(|k| match k {
            Key::Chat(_, part, j) => (*part as u8, *j),
            Key::Item(..) => (u8::MAX, 0),
        });
        for key in keys {
            let rest = self.take(&key);
            if rest.is_empty() {
                continue;
            }
            match key {
                Key::Chat(_, ChatPart::Content, _) => append(delta, "content", &rest),
                Key::Chat(_, ChatPart::Refusal, _) => append(delta, "refusal", &rest),
                Key::Chat(_, ChatPart::Arguments, j) => {
                    let calls = delta
                        .entry("tool_calls")
                        .or_insert_with(|| Value::Array(Vec::new()));
                    let Some(calls) = calls.as_array_mut() else {
                        continue;
                    };
                    let at = calls
                        .iter()
                        .position(|c| c.get("index").and_then(Value::as_u64) == Some(j));
                    match at {
                        Some(at) => {
                            let f = &mut calls[at]["function"];
                            let had = f["arguments"].as_str().unwrap_or_default().to_owned();
                            f["arguments"] = Value::String(had + &rest);
                        }
                        None => calls.push(json!({"index": j, "function": {"arguments": rest}})),
                    }
                }
                Key::Item(..) => {}
            }
        }
    }

    /// Chat texts still held when the stream ends without `finish_reason`:
    /// one inserted chunk per choice.
    fn flush_chat(&mut self, out: &mut Vec<u8>) {
        let mut choices: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .filter_map(|(k, _)| match k {
                Key::Chat(i, ..) => Some(*i),
                Key::Item(..) => None,
            })
            .collect();
        choices.sort_unstable();
        choices.dedup();
        for i in choices {
            let mut delta = Map::new();
            self.flush_choice(i, &mut delta);
            let mut chunk = self.chat_frame.clone().unwrap_or_default();
            chunk.insert(
                "choices".into(),
                json!([{"index": i, "delta": delta, "finish_reason": null}]),
            );
            write_event(&[], &Value::Object(chunk), out);
        }
    }

    fn responses(&mut self, kind: &str, v: &mut Value, others: &[&str], before: &mut Vec<u8>) {
        if self.shift > 0
            && let Some(n) = v.get("sequence_number").and_then(Value::as_u64)
        {
            v["sequence_number"] = json!(n + self.shift);
        }
        for (delta_type, done_type, full, index) in ITEM_TEXTS {
            if kind != delta_type && kind != done_type {
                continue;
            }
            let item = v
                .get("item_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let n = v.get(index).and_then(Value::as_u64).unwrap_or(0);
            let key = Key::Item(item, delta_type, n);
            if kind == delta_type {
                if let Some(Value::String(s)) = v.get_mut("delta") {
                    let released = self.release(key, s);
                    *s = released;
                }
            } else {
                let rest = self.take(&key);
                if !rest.is_empty() {
                    // The held text goes out in a delta of its own, just
                    // before the event that ends the text.
                    let mut inserted = Map::new();
                    inserted.insert("type".into(), json!(delta_type));
                    for k in ["item_id", "output_index", index] {
                        if let Some(x) = v.get(k).filter(|_| !k.is_empty()) {
                            inserted.insert(k.into(), x.clone());
                        }
                    }
                    inserted.insert("delta".into(), json!(rest));
                    if delta_type == "response.output_text.delta" {
                        inserted.insert("logprobs".into(), json!([]));
                    }
                    if let Some(n) = v.get("sequence_number").and_then(Value::as_u64) {
                        inserted.insert("sequence_number".into(), json!(n));
                        v["sequence_number"] = json!(n + 1);
                        self.shift += 1;
                    }
                    let lines: Vec<&str> = others
                        .iter()
                        .map(|l| {
                            if l.starts_with("event:") {
                                delta_line(delta_type)
                            } else {
                                l
                            }
                        })
                        .collect();
                    write_event(&lines, &Value::Object(inserted), before);
                }
                self.answer.field(v, full);
            }
            return;
        }
        match kind {
            "response.content_part.added" | "response.content_part.done" => {
                if let Some(p) = v.get_mut("part") {
                    self.answer.field(p, "text");
                    self.answer.field(p, "refusal");
                }
            }
            "response.output_item.added" | "response.output_item.done" => {
                if let Some(item) = v.get_mut("item") {
                    self.answer.item(item);
                }
            }
            _ => {
                if let Some(r) = v.get_mut("response") {
                    self.answer.json_body(r);
                }
            }
        }
    }
}

fn delta_line(delta_type: &str) -> &'static str {
    match delta_type {
        "response.output_text.delta" => "event: response.output_text.delta",
        "response.refusal.delta" => "event: response.refusal.delta",
        "response.function_call_arguments.delta" => "event: response.function_call_arguments.delta",
        _ => "event: response.reasoning_summary_text.delta",
    }
}

fn append(delta: &mut Map<String, Value>, field: &str, rest: &str) {
    let had = delta
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    delta.insert(field.into(), Value::String(had + rest));
}

/// Where the first event in `buf` ends: (end of its text, start of the next).
fn event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = memchr::memmem::find(buf, b"\n\n").map(|p| (p, p + 2));
    let crlf = memchr::memmem::find(buf, b"\r\n\r\n").map(|p| (p, p + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn write_event(others: &[&str], v: &Value, out: &mut Vec<u8>) {
    for line in others {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    // Serializing a Value cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests;
