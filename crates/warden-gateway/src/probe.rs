//! One pass over a JSON request body that checks it and pulls out what the
//! later stages need, without building a DOM.
//!
//! Checks: the body is one JSON object; nesting is at most `max_depth`; no
//! top-level key appears twice (two `model` keys could make Warden and the
//! upstream disagree on which model is used). Extracts: `model`, `stream`,
//! whether `stream_options` is present, every tool however it is named
//! (`warden_core::tools`), the output-token cap and the number of choices.
//!
//! Hand-written visitors rather than `serde_json::Value` so the walk
//! allocates only for the fields it keeps; serde_json does the parsing.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use warden_core::tools::{McpServer, Tools};

/// What the rest of the pipeline needs to know about a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub model: Option<String>,
    pub stream: bool,
    pub has_stream_options: bool,
    /// `stream_options.include_usage` is `true`.
    pub include_usage: bool,
    /// `store` is `true` (a stored chat completion).
    pub store: bool,
    /// Every tool the request offers or forces, however it names it.
    pub tools: Tools,
    /// `max_tokens`, `max_completion_tokens` or `max_output_tokens`: the
    /// cap on each choice's output.
    pub max_tokens: Option<u64>,
    /// One of those keys is present, even as `null`.
    pub states_max_tokens: bool,
    /// How many outputs the model generates (`n`, `best_of`; at least 1).
    pub choices: u64,
    /// Responses API: the response this one continues.
    pub previous_response_id: Option<String>,
    /// Responses API: the conversation this call belongs to
    /// (`"conversation": "conv_..."` or `{"id": "conv_..."}`).
    pub conversation: Option<String>,
}

impl Default for Probe {
    fn default() -> Probe {
        Probe {
            model: None,
            stream: false,
            has_stream_options: false,
            include_usage: false,
            store: false,
            tools: Tools::default(),
            max_tokens: None,
            states_max_tokens: false,
            choices: 1,
            previous_response_id: None,
            conversation: None,
        }
    }
}

impl Probe {
    /// The most output the call may produce: the per-choice cap times the
    /// number of choices, when the request states a cap.
    pub fn output_tokens(&self) -> Option<u64> {
        self.max_tokens.map(|m| m.saturating_mul(self.choices))
    }
}

/// The two shapes of the Responses API's `conversation`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Conversation {
    Id(String),
    Object { id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("the request body is not valid JSON: {0}")]
    Invalid(String),
    #[error("the request body must be a JSON object")]
    NotObject,
    #[error("the request body nests deeper than {0} levels")]
    TooDeep(usize),
    #[error("the key `{0}` appears more than once in the request body")]
    DuplicateKey(String),
    #[error("`{field}` must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    #[error("`model` is required")]
    MissingModel,
}

impl ProbeError {
    pub fn code(&self) -> &'static str {
        match self {
            ProbeError::Invalid(_) | ProbeError::NotObject => "invalid_json",
            ProbeError::TooDeep(_) => "nesting_too_deep",
            ProbeError::DuplicateKey(_) => "duplicate_key",
            ProbeError::WrongType { .. } => "invalid_type",
            ProbeError::MissingModel => "missing_model",
        }
    }

    pub fn param(&self) -> Option<&'static str> {
        match self {
            ProbeError::WrongType { field, .. } => Some(field),
            ProbeError::MissingModel => Some("model"),
            _ => None,
        }
    }
}

/// Marker in serde errors so the probe's own failures survive serde_json's
/// error type and come back out as the right [`ProbeError`].
const TOO_DEEP: &str = "\u{1}too_deep";
const DUPLICATE: &str = "\u{1}duplicate:";
const WRONG_TYPE: &str = "\u{1}wrong_type:";

pub fn probe(body: &[u8], max_depth: usize) -> Result<Probe, ProbeError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let result = de.deserialize_any(Top { max_depth }).and_then(|p| {
        de.end()?;
        Ok(p)
    });
    result.map_err(|e| {
        let msg = e.to_string();
        if msg.starts_with(TOO_DEEP) || msg.starts_with("recursion limit exceeded") {
            ProbeError::TooDeep(max_depth)
        } else if let Some(key) = msg.strip_prefix(DUPLICATE) {
            ProbeError::DuplicateKey(key.split(" at line").next().unwrap_or(key).to_owned())
        } else if let Some(rest) = msg.strip_prefix(WRONG_TYPE) {
            let field = rest.split(" at line").next().unwrap_or(rest);
            wrong_type(field)
        } else if msg.starts_with("invalid type") && msg.contains("expected a JSON object") {
            ProbeError::NotObject
        } else {
            ProbeError::Invalid(msg)
        }
    })
}

fn wrong_type(field: &str) -> ProbeError {
    let (field, expected) = match field {
        "model" => ("model", "a string"),
        "stream" => ("stream", "a boolean"),
        "tools" => ("tools", "an array of tool objects with a plain `type`"),
        "n" => ("n", "a non-negative integer"),
        "store" => ("store", "a boolean"),
        "previous_response_id" => ("previous_response_id", "a string"),
        "conversation" => ("conversation", "a string or an object with an `id`"),
        _ => ("max_tokens", "a non-negative integer"),
    };
    ProbeError::WrongType { field, expected }
}

struct Top {
    max_depth: usize,
}

/// Turns serde's "invalid type/value" for a known field into the probe's
/// wrong-type marker; syntax errors (bad UTF-8, truncation) pass unchanged.
fn typed<E: de::Error>(field: &'static str) -> impl Fn(E) -> E {
    move |e| {
        let msg = e.to_string();
        if msg.starts_with("invalid type") || msg.starts_with("invalid value") {
            E::custom(format_args!("{WRONG_TYPE}{field}"))
        } else {
            e
        }
    }
}

/// A key, borrowed when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Visitor<'de> for Top {
    type Value = Probe;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Probe, A::Error> {
        let mut p = Probe::default();
        let mut seen: Vec<Cow<'de, str>> = Vec::with_capacity(16);
        let child = Skip(self.max_depth.saturating_sub(1));
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format_args!("{DUPLICATE}{key}")));
            }
            match key.as_ref() {
                "model" => {
                    p.model = Some(map.next_value::<String>().map_err(typed("model"))?);
                }
                "stream" => {
                    p.stream = map
                        .next_value::<Option<bool>>()
                        .map_err(typed("stream"))?
                        .unwrap_or(false);
                }
                "max_tokens" | "max_completion_tokens" | "max_output_tokens" => {
                    p.states_max_tokens = true;
                    let v = map
                        .next_value::<Option<u64>>()
                        .map_err(typed("max_tokens"))?;
                    p.max_tokens = p.max_tokens.max(v);
                }
                "tools" | "functions" => map
                    .next_value_seed(ToolList {
                        depth: child.0,
                        out: &mut p.tools,
                    })
                    .map_err(typed("tools"))?,
                "tool_choice" | "function_call" => map
                    .next_value_seed(ToolObject {
                        depth: child.0,
                        out: &mut p.tools,
                        choice: true,
                    })
                    .map_err(typed("tools"))?,
                "n" | "best_of" => {
                    let v = map.next_value::<Option<u64>>().map_err(typed("n"))?;
                    p.choices = p.choices.max(v.unwrap_or(1));
                }
                "previous_response_id" => {
                    p.previous_response_id = map
                        .next_value::<Option<String>>()
                        .map_err(typed("previous_response_id"))?;
                }
                "conversation" => {
                    p.conversation = map
                        .next_value::<Option<Conversation>>()
                        .map_err(|e: A::Error| {
                            if e.to_string().starts_with("data did not match any variant") {
                                de::Error::custom(format_args!("{WRONG_TYPE}conversation"))
                            } else {
                                e
                            }
                        })?
                        .map(|c| match c {
                            Conversation::Id(id) | Conversation::Object { id } => id,
                        });
                }
                "store" => {
                    p.store = map
                        .next_value::<Option<bool>>()
                        .map_err(typed("store"))?
                        .unwrap_or(false);
                }
                "stream_options" => {
                    p.has_stream_options = true;
                    p.include_usage = map.next_value_seed(IncludeUsage(child.0))?;
                }
                _ => map.next_value_seed(child)?,
            }
            seen.push(key);
        }
        Ok(p)
    }
}

/// Walks any value, refusing nesting deeper than its budget.
#[derive(Clone, Copy)]
struct Skip(usize);

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let child = self.deeper()?;
        while seq.next_element_seed(child)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let child = self.deeper()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(child)?;
        }
        Ok(())
    }
}

impl Skip {
    fn deeper<E: de::Error>(self) -> Result<Skip, E> {
        match self.0.checked_sub(1) {
            Some(d) => Ok(Skip(d)),
            None => Err(E::custom(TOO_DEEP)),
        }
    }
}

/// `stream_options`: whether `include_usage` is `true`.
struct IncludeUsage(usize);

impl<'de> DeserializeSeed<'de> for IncludeUsage {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for IncludeUsage {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a stream_options object")
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let child = Skip(self.0).deeper()?;
        let mut include = false;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if key == "include_usage" {
                include = map.next_value::<Option<bool>>()?.unwrap_or(false);
            } else {
                map.next_value_seed(child)?;
            }
        }
        Ok(include)
    }
}

/// A list of tools (`tools`, legacy `functions`, an `allowed_tools`
/// choice's `tools`): each element is a tool object.
struct ToolList<'a> {
    depth: usize,
    out: &'a mut Tools,
}

impl<'de> DeserializeSeed<'de> for ToolList<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ToolList<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of tools")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let child = Skip(self.depth).deeper()?;
        while seq
            .next_element_seed(ToolObject {
                depth: child.0,
                out: &mut *self.out,
                choice: false,
            })?
            .is_some()
        {}
        Ok(())
    }
}

/// One tool object, or (with `choice`) a tool choice, which may also be a
/// string (`"auto"`, `"none"`, `"required"`) naming no tool.
///
/// Chat: `{"type":"function","function":{"name"}}`, `{"type":"custom",
/// "custom":{"name"}}`; legacy `functions[]` and `function_call`: `{"name"}`
/// (type `function` when absent); Responses: `{"type":..., "name"?}`, hosted
/// MCP `{"type":"mcp","server_label","server_url"|"connector_id"}`; choices
/// `{"type":"allowed_tools","tools":[...]}` (Responses) and
/// `{"type":"allowed_tools","allowed_tools":{"tools":[...]}}` (chat).
struct ToolObject<'a> {
    depth: usize,
    out: &'a mut Tools,
    choice: bool,
}

impl<'de> DeserializeSeed<'de> for ToolObject<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ToolObject<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tool object")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        if self.choice {
            Ok(())
        } else {
            Err(E::invalid_type(de::Unexpected::Unit, &self))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if self.choice {
            Ok(())
        } else {
            Err(E::invalid_type(de::Unexpected::Str(v), &self))
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let child = Skip(self.depth).deeper()?;
        let (mut kind, mut name) = (None::<String>, None::<String>);
        let mut server = McpServer::default();
        // Tools named inside an `allowed_tools` choice are added as found.
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match key.as_ref() {
                "type" => kind = map.next_value::<Option<String>>()?,
                "name" => name = map.next_value::<Option<String>>()?,
                "function" | "custom" => {
                    if let Some(n) = map.next_value_seed(FunctionName(child.0))? {
                        name = Some(n);
                    }
                }
                "server_label" => server.label = map.next_value::<Option<String>>()?,
                "server_url" => server.url = map.next_value::<Option<String>>()?,
                "connector_id" => server.connector = map.next_value::<Option<String>>()?,
                "tools" => map.next_value_seed(ToolList {
                    depth: child.0,
                    out: &mut *self.out,
                })?,
                "allowed_tools" => map.next_value_seed(AllowedTools {
                    depth: child.0,
                    out: &mut *self.out,
                })?,
                _ => map.next_value_seed(child)?,
            }
        }
        let kind = kind.unwrap_or_else(|| "function".to_owned());
        if kind.is_empty()
            || !kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            // A type policy could not name: refused rather than guessed at.
            return Err(de::Error::custom(format_args!("{WRONG_TYPE}tools")));
        }
        match kind.as_str() {
            "allowed_tools" => {}
            "mcp" => self.out.add_mcp(server),
            _ => self.out.add(&kind, name.as_deref()),
        }
        Ok(())
    }
}

/// The chat `allowed_tools` choice's inner object: `{"mode", "tools"}`.
struct AllowedTools<'a> {
    depth: usize,
    out: &'a mut Tools,
}

impl<'de> DeserializeSeed<'de> for AllowedTools<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AllowedTools<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an allowed_tools object")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let child = Skip(self.depth).deeper()?;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if key == "tools" {
                map.next_value_seed(ToolList {
                    depth: child.0,
                    out: &mut *self.out,
                })?;
            } else {
                map.next_value_seed(child)?;
            }
        }
        Ok(())
    }
}

/// `function: { "name": ... }` in a chat tool (and `custom: {"name"}`).
struct FunctionName(usize);

impl<'de> DeserializeSeed<'de> for FunctionName {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FunctionName {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a function object")
    }
    fn visit_unit<E>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        let child = Skip(self.0).deeper()?;
        let mut name = None;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if key == "name" {
                name = map.next_value::<Option<String>>()?;
            } else {
                map.next_value_seed(child)?;
            }
        }
        Ok(name)
    }
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
