//! Finding token usage in upstream responses as they stream past.
//!
//! - JSON responses: the body is copied aside (up to a cap) and its `usage`
//!   read once the body ends.
//! - SSE: lines are scanned in place; only a `data:` line that mentions
//!   `"usage"` is parsed (the chat stream's final usage chunk, or the
//!   Responses API's `response.completed` event). Only a line split across
//!   chunks is copied, to join it with its end.
//!
//! Neither holds bytes back from the caller: the tap sees each chunk after it
//! has been passed on.

use memchr::memmem;
use serde::Deserialize;
use serde_json::value::RawValue;
use warden_core::Usage;

use crate::owners::ObjectKind;

/// Larger bodies or SSE lines are passed through without reading usage.
const CAP: usize = 8 * 1024 * 1024;

#[derive(Debug)]
pub enum UsageTap {
    Json(Vec<u8>),
    Sse {
        partial: Vec<u8>,
        usage: Option<Usage>,
        /// The Responses API object's id, from `response.created`.
        response_id: Option<String>,
        /// A chat stream's completion id (`chat.completion.chunk`).
        chunk_id: Option<String>,
        /// The stream's terminal event has passed (`data: [DONE]`, or a
        /// Responses `response.completed` / `failed` / `incomplete`).
        ended: bool,
    },
    /// Read from a JSON answer the relay parsed anyway (to rewrite it), so
    /// the body is neither copied nor parsed a second time here.
    Parsed {
        usage: Option<Usage>,
        created: CreatedIds,
    },
    Off,
}

#[derive(Deserialize)]
struct RawUsage {
    #[serde(alias = "input_tokens")]
    prompt_tokens: Option<u64>,
    #[serde(alias = "output_tokens")]
    completion_tokens: Option<u64>,
    total_tokens: Option<u64>,
    #[serde(alias = "input_tokens_details")]
    prompt_tokens_details: Option<Details>,
}

#[derive(Deserialize)]
struct Details {
    cached_tokens: Option<u64>,
}

/// Either shape: `{"usage": ...}` (chat, completions, embeddings, a finished
/// response object) or `{"response": {"usage": ...}}` (Responses API events).
#[derive(Deserialize)]
struct Envelope<'a> {
    usage: Option<RawUsage>,
    #[serde(borrow)]
    response: Option<&'a RawValue>,
}

impl From<RawUsage> for Usage {
    fn from(u: RawUsage) -> Usage {
        let input = u.prompt_tokens.unwrap_or(0);
        let output = u.completion_tokens.unwrap_or(0);
        Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: u.total_tokens.unwrap_or(input + output),
            cached_tokens: u
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
        }
    }
}

fn usage_in(json: &[u8]) -> Option<Usage> {
    let env: Envelope<'_> = serde_json::from_slice(json).ok()?;
    if let Some(u) = env.usage {
        return Some(u.into());
    }
    let inner: Envelope<'_> = serde_json::from_str(env.response?.get()).ok()?;
    inner.usage.map(Into::into)
}

impl UsageTap {
    pub fn for_content_type(content_type: Option<&str>) -> UsageTap {
        match content_type {
            Some(ct) if ct.starts_with("text/event-stream") => UsageTap::Sse {
                partial: Vec::new(),
                usage: None,
                response_id: None,
                chunk_id: None,
                ended: false,
            },
            Some(ct) if ct.starts_with("application/json") => UsageTap::Json(Vec::new()),
            _ => UsageTap::Off,
        }
    }

    pub fn observe(&mut self, chunk: &[u8]) {
        match self {
            UsageTap::Off | UsageTap::Parsed { .. } => {}
            UsageTap::Json(buf) => {
                if buf.len() + chunk.len() > CAP {
                    *self = UsageTap::Off;
                } else {
                    buf.extend_from_slice(chunk);
                }
            }
            UsageTap::Sse {
                partial,
                usage,
                response_id,
                chunk_id,
                ended,
            } => {
                let mut rest = chunk;
                while let Some(nl) = memchr::memchr(b'\n', rest) {
                    let (line, tail) = rest.split_at(nl);
                    rest = &tail[1..];
                    if partial.is_empty() {
                        scan_line(line, usage, (response_id, chunk_id), ended);
                    } else {
                        partial.extend_from_slice(line);
                        scan_line(partial, usage, (response_id, chunk_id), ended);
                        partial.clear();
                    }
                }
                if !rest.is_empty() {
                    if partial.len() + rest.len() > CAP {
                        partial.clear(); // give up on this line, keep streaming
                    } else {
                        partial.extend_from_slice(rest);
                    }
                }
            }
        }
    }

    /// Whether an SSE stream's terminal event has been seen (in the chunks
    /// observed so far).
    pub fn ended(&self) -> bool {
        matches!(self, UsageTap::Sse { ended: true, .. })
    }

    /// Usage found, once the body has ended.
    pub fn finish(&mut self) -> Option<Usage> {
        match self {
            UsageTap::Json(buf) => usage_in(buf),
            UsageTap::Sse { usage, .. } | UsageTap::Parsed { usage, .. } => *usage,
            UsageTap::Off => None,
        }
    }

    /// What a parsed JSON answer reports (see [`UsageTap::Parsed`]).
    pub fn parsed(v: &serde_json::Value) -> UsageTap {
        let inner = v.get("response");
        let usage = v
            .get("usage")
            .or_else(|| inner?.get("usage"))
            .and_then(|u| RawUsage::deserialize(u).ok())
            .map(Usage::from);
        let text = |o: Option<&serde_json::Value>, k: &str| {
            o.and_then(|o| o.get(k)?.as_str().map(str::to_owned))
        };
        let is_response =
            |o: &&serde_json::Value| text(Some(o), "object").as_deref() == Some("response");
        let created = CreatedIds {
            object: text(Some(v), "object"),
            id: text(Some(v), "id"),
            response: [Some(v), inner]
                .into_iter()
                .flatten()
                .find(is_response)
                .and_then(|o| text(Some(o), "id")),
            file: text(v.get("file"), "id"),
            batch_files: [
                text(Some(v), "output_file_id"),
                text(Some(v), "error_file_id"),
            ],
        };
        UsageTap::Parsed { usage, created }
    }

    /// The id of the Responses API object in the body (`"object":
    /// "response"`), once the body has ended.
    pub fn response_id(&self) -> Option<String> {
        self.created_id(ObjectKind::Response)
    }

    /// A batch answer's output and error files (made by the upstream for
    /// the batch's owner), once the body has ended.
    pub fn batch_files(&self) -> [Option<String>; 2] {
        match self {
            UsageTap::Json(buf) => created_in(buf).batch_files,
            UsageTap::Parsed { created, .. } => created.batch_files.clone(),
            UsageTap::Sse { .. } | UsageTap::Off => [None, None],
        }
    }

    /// The id of the object of `kind` the answer created, once the body
    /// has ended (an upload's completion answers with the upload, its new
    /// file inside).
    pub fn created_id(&self, kind: ObjectKind) -> Option<String> {
        match self {
            UsageTap::Json(buf) => created_in(buf).get(kind),
            UsageTap::Sse {
                response_id,
                chunk_id,
                ..
            } => CreatedIds {
                object: chunk_id.as_ref().map(|_| "chat.completion".to_owned()),
                id: chunk_id.clone(),
                response: response_id.clone(),
                file: None,
                batch_files: [None, None],
            }
            .get(kind),
            UsageTap::Parsed { created, .. } => created.clone().get(kind),
            UsageTap::Off => None,
        }
    }
}

/// The ids an answer carries that may name an object it created.
#[derive(Debug, Default, Clone)]
pub struct CreatedIds {
    /// The top-level `object` and `id`.
    object: Option<String>,
    id: Option<String>,
    /// A Responses object's id, at the top or in an event's `response`.
    response: Option<String>,
    /// `file.id` (an upload's completion).
    file: Option<String>,
    /// A batch's `output_file_id` and `error_file_id`.
    batch_files: [Option<String>; 2],
}

impl CreatedIds {
    fn get(self, kind: ObjectKind) -> Option<String> {
        match kind {
            ObjectKind::Response => self.response,
            ObjectKind::File if self.object.as_deref() == Some("upload") => self.file,
            kind => (self.object.as_deref() == Some(kind.object()))
                .then_some(self.id)
                .flatten(),
        }
    }
}

#[derive(Deserialize)]
struct Object<'a> {
    id: Option<String>,
    object: Option<String>,
    #[serde(borrow)]
    response: Option<&'a RawValue>,
    #[serde(borrow)]
    file: Option<&'a RawValue>,
    output_file_id: Option<String>,
    error_file_id: Option<String>,
}

/// [`CreatedIds`] of a JSON answer.
fn created_in(json: &[u8]) -> CreatedIds {
    let Ok(outer) = serde_json::from_slice::<Object<'_>>(json) else {
        return CreatedIds::default();
    };
    let file = outer
        .file
        .and_then(|f| serde_json::from_str::<Object<'_>>(f.get()).ok())
        .and_then(|f| f.id);
    CreatedIds {
        response: response_id_in(json),
        object: outer.object,
        id: outer.id,
        file,
        batch_files: [outer.output_file_id, outer.error_file_id],
    }
}

/// `{"object":"response","id":..}` itself, or wrapped in a Responses event's
/// `response`.
fn response_id_in(json: &[u8]) -> Option<String> {
    let outer: Object<'_> = serde_json::from_slice(json).ok()?;
    if outer.object.as_deref() == Some("response") {
        return outer.id;
    }
    let inner: Object<'_> = serde_json::from_str(outer.response?.get()).ok()?;
    (inner.object.as_deref() == Some("response"))
        .then_some(inner.id)
        .flatten()
}

fn scan_line(
    line: &[u8],
    usage: &mut Option<Usage>,
    (response_id, chunk_id): (&mut Option<String>, &mut Option<String>),
    ended: &mut bool,
) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(data) = line.strip_prefix(b"data:") else {
        return;
    };
    let data = data.strip_prefix(b" ").unwrap_or(data);
    if data.starts_with(b"[DONE]") {
        *ended = true;
        return;
    }
    if let Some(at) = memmem::find(data, b"\"type\":\"response.") {
        let kind = &data[at + 17..];
        *ended |= [&b"completed\""[..], b"failed\"", b"incomplete\""]
            .iter()
            .any(|k| kind.starts_with(k));
    }
    if response_id.is_none() && memmem::find(data, b"\"response.created\"").is_some() {
        *response_id = response_id_in(data);
    }
    if chunk_id.is_none() && memmem::find(data, b"\"chat.completion.chunk\"").is_some() {
        *chunk_id = serde_json::from_slice::<Object<'_>>(data)
            .ok()
            .and_then(|o| o.id);
    }
    // Warden asks every chat stream for usage, so every chunk carries
    // `"usage": null`: parse only the one whose usage is an object.
    if crate::usage_strip::has_usage_object(data)
        && let Some(u) = usage_in(data)
    {
        *usage = Some(u);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_stream_usage_split_across_chunks() {
        let mut tap = UsageTap::for_content_type(Some("text/event-stream; charset=utf-8"));
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n\
                      data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10,\"prompt_tokens_details\":{\"cached_tokens\":2}}}\n\n\
                      data: [DONE]\n\n";
        for chunk in stream.as_bytes().chunks(5) {
            tap.observe(chunk);
        }
        assert!(tap.ended(), "[DONE] seen");
        let u = tap.finish().expect("usage");
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.total_tokens,
                u.cached_tokens
            ),
            (7, 3, 10, 2)
        );
    }

    #[test]
    fn responses_completed_event() {
        let mut tap = UsageTap::for_content_type(Some("text/event-stream"));
        tap.observe(
            b"data: {\"type\":\"response.output_text.delta\",\"delta\":\"response.completed\"}\n\n",
        );
        assert!(!tap.ended(), "only the event's type ends it");
        tap.observe(b"event: response.completed\r\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"usage\":{\"input_tokens\":11,\"output_tokens\":4,\"total_tokens\":15,\"input_tokens_details\":{\"cached_tokens\":0}}}}\r\n\r\n");
        assert!(tap.ended());
        let u = tap.finish().expect("usage");
        assert_eq!((u.input_tokens, u.output_tokens), (11, 4));
    }

    #[test]
    fn json_body_usage() {
        let mut tap = UsageTap::for_content_type(Some("application/json"));
        tap.observe(b"{\"id\":\"x\",\"usage\":{\"prompt_tokens\":5,");
        tap.observe(b"\"completion_tokens\":1,\"total_tokens\":6}}");
        assert_eq!(tap.finish().map(|u| u.total_tokens), Some(6));
        let mut none = UsageTap::for_content_type(Some("application/json"));
        none.observe(b"{\"object\":\"list\"}");
        assert_eq!(none.finish(), None);
    }

    #[test]
    fn a_parsed_answer_gives_usage_and_response_id() {
        let chat = serde_json::json!({"object": "chat.completion", "id": "chatcmpl-1",
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}});
        let mut tap = UsageTap::parsed(&chat);
        assert_eq!(tap.response_id(), None, "only Responses objects are owned");
        assert_eq!(tap.finish().map(|u| u.total_tokens), Some(10));
        let resp = serde_json::json!({"object": "response", "id": "resp_1",
            "usage": {"input_tokens": 4, "output_tokens": 2, "total_tokens": 6}});
        let mut tap = UsageTap::parsed(&resp);
        assert_eq!(tap.response_id().as_deref(), Some("resp_1"));
        assert_eq!(tap.finish().map(|u| u.output_tokens), Some(2));
    }
}
