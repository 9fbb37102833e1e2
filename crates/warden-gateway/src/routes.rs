//! Which OpenAI endpoints Warden serves, and what each needs inspected.
//! A path not listed here is answered 404 and never forwarded.

use http::Method;
use warden_core::EndpointKind;

/// How a request body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    /// No body expected (GET, DELETE); any body is still passed through.
    None,
    /// JSON, read whole (up to the body limit) and probed.
    Json,
    /// multipart/form-data carrying a `model` field: read whole (up to the
    /// upload limit) to find the model.
    MultipartModel,
    /// Streamed through without inspection (file uploads, upload parts).
    Stream,
}

/// Where the model a request uses comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFrom {
    /// The body's `model`; `default` if the body may omit it.
    Body { default: Option<&'static str> },
    /// No model: the request acts on a connection (files, batches, ...).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub kind: EndpointKind,
    pub body: BodyMode,
    pub model: ModelFrom,
    /// Served by Warden itself (model listing).
    pub local: bool,
}

const fn route(kind: EndpointKind, body: BodyMode, model: ModelFrom) -> Route {
    Route {
        kind,
        body,
        model,
        local: false,
    }
}

const REQUIRED: ModelFrom = ModelFrom::Body { default: None };

/// Classifies `method` + the path below `/v1`. `None`: not an endpoint we serve.
pub fn classify(method: &Method, path: &str) -> Option<Route> {
    use BodyMode as B;
    use EndpointKind as K;
    let segs: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    if segs.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return None;
    }
    let get = method == Method::GET;
    let post = method == Method::POST;
    let delete = method == Method::DELETE;
    let body_for = |m: &Method| if m == Method::POST { B::Json } else { B::None };
    let r = match (segs.as_slice(), method) {
        (["chat", "completions"], _) if post => route(K::ChatCompletions, B::Json, REQUIRED),
        (["chat", "completions"], _) if get => route(K::ChatCompletions, B::None, ModelFrom::None),
        (["chat", "completions", _], m) if get || post || delete => {
            route(K::ChatCompletions, body_for(m), ModelFrom::None)
        }
        (["chat", "completions", _, "messages"], _) if get => {
            route(K::ChatCompletions, B::None, ModelFrom::None)
        }
        (["completions"], _) if post => route(K::Completions, B::Json, REQUIRED),
        (["responses"], _) if post => route(K::Responses, B::Json, REQUIRED),
        (["responses", _], _) if get || delete => route(K::Responses, B::None, ModelFrom::None),
        (["responses", _, "input_items"], _) if get => {
            route(K::Responses, B::None, ModelFrom::None)
        }
        (["responses", _, "cancel"], _) if post => route(K::Responses, B::Json, ModelFrom::None),
        (["traces", "ingest"], _) if post => route(K::Traces, B::Json, ModelFrom::None),
        (["embeddings"], _) if post => route(K::Embeddings, B::Json, REQUIRED),
        (["moderations"], _) if post => route(
            K::Moderations,
            B::Json,
            ModelFrom::Body {
                default: Some("omni-moderation-latest"),
            },
        ),
        (["models"], _) if get => Route {
            local: true,
            ..route(K::Models, B::None, ModelFrom::None)
        },
        (["models", _], _) if get => Route {
            local: true,
            ..route(K::Models, B::None, ModelFrom::None)
        },
        (["files"], _) if post => route(K::Files, B::Stream, ModelFrom::None),
        (["files"], _) if get => route(K::Files, B::None, ModelFrom::None),
        (["files", _], _) if get || delete => route(K::Files, B::None, ModelFrom::None),
        (["files", _, "content"], _) if get => route(K::Files, B::None, ModelFrom::None),
        (["uploads"], _) if post => route(K::Uploads, B::Json, ModelFrom::None),
        (["uploads", _, "parts"], _) if post => route(K::Uploads, B::Stream, ModelFrom::None),
        (["uploads", _, "complete" | "cancel"], _) if post => {
            route(K::Uploads, B::Json, ModelFrom::None)
        }
        (["batches"], m) if get || post => route(K::Batches, body_for(m), ModelFrom::None),
        (["batches", _], _) if get => route(K::Batches, B::None, ModelFrom::None),
        (["batches", _, "cancel"], _) if post => route(K::Batches, B::Json, ModelFrom::None),
        (["vector_stores", rest @ ..], m) if rest.len() <= 5 && (get || post || delete) => {
            route(K::VectorStores, body_for(m), ModelFrom::None)
        }
        (["images", "generations"], _) if post => route(
            K::Images,
            B::Json,
            ModelFrom::Body {
                default: Some("dall-e-2"),
            },
        ),
        (["images", "edits" | "variations"], _) if post => route(
            K::Images,
            B::MultipartModel,
            ModelFrom::Body {
                default: Some("dall-e-2"),
            },
        ),
        (["audio", "speech"], _) if post => route(K::Audio, B::Json, REQUIRED),
        (["audio", "transcriptions" | "translations"], _) if post => {
            route(K::Audio, B::MultipartModel, REQUIRED)
        }
        _ => return None,
    };
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_openai_surface_and_nothing_else() {
        let ok = [
            ("POST", "/chat/completions", EndpointKind::ChatCompletions),
            ("POST", "/responses", EndpointKind::Responses),
            ("GET", "/responses/resp_1", EndpointKind::Responses),
            ("DELETE", "/responses/resp_1", EndpointKind::Responses),
            (
                "GET",
                "/responses/resp_1/input_items",
                EndpointKind::Responses,
            ),
            ("POST", "/embeddings", EndpointKind::Embeddings),
            ("POST", "/moderations", EndpointKind::Moderations),
            ("GET", "/models", EndpointKind::Models),
            ("POST", "/files", EndpointKind::Files),
            ("GET", "/files/file-1/content", EndpointKind::Files),
            ("POST", "/uploads/u1/parts", EndpointKind::Uploads),
            ("POST", "/batches", EndpointKind::Batches),
            (
                "GET",
                "/vector_stores/vs_1/files",
                EndpointKind::VectorStores,
            ),
            ("POST", "/images/generations", EndpointKind::Images),
            ("POST", "/audio/transcriptions", EndpointKind::Audio),
            ("POST", "/traces/ingest", EndpointKind::Traces),
        ];
        for (m, p, kind) in ok {
            let r = classify(&m.parse().unwrap_or(Method::GET), p);
            assert_eq!(r.map(|r| r.kind), Some(kind), "{m} {p}");
        }
        let refused = [
            ("GET", "/chat/completion"),
            ("PUT", "/chat/completions"),
            ("POST", "/admin"),
            ("GET", "/files/../admin"),
            ("GET", "//models"),
            ("POST", "/fine_tuning/jobs"),
            ("GET", "/traces/ingest"),
        ];
        for (m, p) in refused {
            assert!(
                classify(&m.parse().unwrap_or(Method::GET), p).is_none(),
                "{m} {p}"
            );
        }
    }
}
