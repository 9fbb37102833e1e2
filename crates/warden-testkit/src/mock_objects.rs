//! The mock's stored objects: files, uploads, vector stores (with their
//! files and file batches), batches and stored chat completions, kept in
//! memory so tests can create, list, read and delete them through Warden.
//!
//! | route | behaviour |
//! | --- | --- |
//! | `POST /v1/files` | a `file` object (`file-N`) |
//! | `POST /v1/uploads`, `.../parts`, `.../complete`, `.../cancel` | an `upload` (`upload_N`); completing it creates a `file`, inside the answer |
//! | `POST /v1/vector_stores`, `POST /v1/vector_stores/{id}/files`, `.../file_batches` | a `vector_store` (`vs_N`), a `vector_store.file`, a `vector_store.files_batch` |
//! | `POST /v1/batches`, `POST /v1/batches/{id}/cancel` | a `batch` (`batch_N`), completed at once, with an output file (`file-outN`) |
//! | `GET` a collection | `{"object":"list","data":[every object],"first_id","last_id","has_more":false}` |
//! | `GET`, `DELETE` one object; `GET /v1/files/{id}/content` | the object, `{"deleted":true}`, the file's bytes (`application/octet-stream`); 404 when unknown |
//! | `POST /v1/audio/transcriptions`, `.../translations` | `{"text": "transcript: <the form's prompt>", "segments": [...]}` |
//!
//! Stored chat completions (`"store": true`) are added by the chat handler.

use std::collections::BTreeMap;

use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// Objects by collection, then id (ordered, so lists are stable).
#[derive(Debug, Default)]
pub(crate) struct Objects {
    by_kind: BTreeMap<&'static str, BTreeMap<String, Value>>,
    contents: BTreeMap<String, Bytes>,
}

impl Objects {
    pub(crate) fn put(&mut self, kind: &'static str, v: Value) {
        if let Some(id) = v["id"].as_str() {
            self.by_kind
                .entry(kind)
                .or_default()
                .insert(id.to_owned(), v.clone());
        }
    }

    fn list(&self, kind: &'static str) -> Value {
        let data: Vec<Value> = self
            .by_kind
            .get(kind)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        let edge = |v: Option<&Value>| v.map_or(Value::Null, |v| v["id"].clone());
        json!({"object": "list", "first_id": edge(data.first()), "last_id": edge(data.last()),
            "has_more": false, "data": data})
    }
}

/// Answers a stored-object route, or `None` when `rest` is not one.
pub(crate) fn handle(
    objects: &mut Objects,
    method: &Method,
    rest: &str,
    (body, content_type): (&Bytes, Option<&str>),
    n: u64,
) -> Option<Response> {
    let segs: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let json_body = || serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let created = 1_767_225_600 + n;
    let (status, v) = match (method, segs.as_slice()) {
        (&Method::POST, ["files"]) => {
            let id = format!("file-{n}");
            let form = content_type.and_then(|ct| form_fields(ct, body));
            let field = |name: &str| {
                form.as_ref()
                    .and_then(|f| f.iter().find(|(n, _)| n == name))
                    .map(|(_, v)| v.clone())
            };
            let content = field("file").unwrap_or_else(|| body.clone());
            let purpose = field("purpose")
                .map(|p| String::from_utf8_lossy(&p).into_owned())
                .unwrap_or_else(|| "batch".into());
            let v = json!({"id": id, "object": "file", "bytes": content.len(), "created_at": created,
                "filename": "upload", "purpose": purpose});
            objects.contents.insert(id.clone(), content);
            objects.put("files", v.clone());
            (StatusCode::OK, v)
        }
        (&Method::POST, ["audio", "transcriptions" | "translations"]) => {
            // The transcript is the form's `prompt`, so tests choose it.
            let prompt = content_type
                .and_then(|ct| form_fields(ct, body))
                .and_then(|f| f.into_iter().find(|(n, _)| n == "prompt"))
                .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default();
            (
                StatusCode::OK,
                json!({"text": format!("transcript: {prompt}"),
                    "segments": [{"id": 0, "text": format!("transcript: {prompt}")}]}),
            )
        }
        (&Method::GET, ["files", id, "content"]) => {
            return Some(match objects.contents.get(*id) {
                Some(b) => (
                    StatusCode::OK,
                    [(http::header::CONTENT_TYPE, "application/octet-stream")],
                    b.clone(),
                )
                    .into_response(),
                None => not_found(id),
            });
        }
        (&Method::POST, ["uploads"]) => {
            let v = json!({"id": format!("upload_{n}"), "object": "upload", "status": "pending",
                "created_at": created, "filename": json_body()["filename"]});
            objects.put("uploads", v.clone());
            (StatusCode::OK, v)
        }
        (&Method::POST, ["uploads", id, "parts"]) => (
            StatusCode::OK,
            json!({"id": format!("part_{n}"), "object": "upload.part", "upload_id": id}),
        ),
        (&Method::POST, ["uploads", id, action @ ("complete" | "cancel")]) => {
            let Some(mut up) = objects
                .by_kind
                .get("uploads")
                .and_then(|m| m.get(*id))
                .cloned()
            else {
                return Some(not_found(id));
            };
            if *action == "complete" {
                let file = json!({"id": format!("file-{n}"), "object": "file", "bytes": 0,
                    "created_at": created, "filename": up["filename"], "purpose": "batch"});
                objects.put("files", file.clone());
                up["status"] = json!("completed");
                up["file"] = file;
            } else {
                up["status"] = json!("cancelled");
            }
            objects.put("uploads", up.clone());
            (StatusCode::OK, up)
        }
        (&Method::POST, ["vector_stores"]) => {
            let v = json!({"id": format!("vs_{n}"), "object": "vector_store", "created_at": created,
                "name": json_body()["name"], "status": "completed"});
            objects.put("vector_stores", v.clone());
            (StatusCode::OK, v)
        }
        (&Method::POST, ["vector_stores", vs, "files"]) => (
            StatusCode::OK,
            json!({"id": json_body()["file_id"], "object": "vector_store.file", "vector_store_id": vs,
                "status": "completed"}),
        ),
        (&Method::POST, ["vector_stores", vs, "file_batches"]) => (
            StatusCode::OK,
            json!({"id": format!("vsfb_{n}"), "object": "vector_store.files_batch",
                "vector_store_id": vs, "status": "completed"}),
        ),
        (&Method::POST, ["batches"]) => {
            let b = json_body();
            // The upstream makes the output file; here at once, with one
            // answer line.
            let out = format!("file-out{n}");
            let line = json!({"custom_id": "req-1", "response": {"status_code": 200,
                "body": {"choices": [{"message": {"role": "assistant", "content": "done"}}]}}});
            objects
                .contents
                .insert(out.clone(), Bytes::from(format!("{line}\n")));
            objects.put(
                "files",
                json!({"id": out, "object": "file", "purpose": "batch_output",
                "bytes": 0, "created_at": created, "filename": "batch_output.jsonl"}),
            );
            let v = json!({"id": format!("batch_{n}"), "object": "batch", "endpoint": b["endpoint"],
                "input_file_id": b["input_file_id"], "status": "completed", "created_at": created,
                "output_file_id": out, "error_file_id": null});
            objects.put("batches", v.clone());
            (StatusCode::OK, v)
        }
        (&Method::POST, ["batches", id, "cancel"]) => {
            let Some(mut v) = objects
                .by_kind
                .get("batches")
                .and_then(|m| m.get(*id))
                .cloned()
            else {
                return Some(not_found(id));
            };
            v["status"] = json!("cancelling");
            (StatusCode::OK, v)
        }
        (&Method::GET, [kind @ ("files" | "vector_stores" | "batches")]) => {
            (StatusCode::OK, objects.list(collection(kind)))
        }
        (&Method::GET, ["chat", "completions"]) => (StatusCode::OK, objects.list("chat")),
        (&Method::GET, ["chat", "completions", id, ..])
        | (&Method::DELETE, ["chat", "completions", id]) => {
            return Some(one(objects, method, "chat", id, "chat.completion.deleted"));
        }
        (
            &Method::GET | &Method::DELETE,
            [
                kind @ ("files" | "vector_stores" | "batches" | "uploads"),
                id,
                ..,
            ],
        ) => {
            let kind = collection(kind);
            let deleted = format!("{}.deleted", kind.trim_end_matches('s'));
            return Some(one(objects, method, kind, id, &deleted));
        }
        _ => return None,
    };
    Some((status, axum::Json(v)).into_response())
}

/// The fields of a `multipart/form-data` body, by name (a test mock's
/// reading: the part headers' `name`, the bytes up to the next boundary).
fn form_fields(content_type: &str, body: &Bytes) -> Option<Vec<(String, Bytes)>> {
    let boundary = content_type.split("boundary=").nth(1)?.trim_matches('"');
    let delimiter = format!("--{boundary}");
    let text = body.as_ref();
    let mut out = Vec::new();
    let mut at = memchr::memmem::find(text, delimiter.as_bytes())? + delimiter.len();
    loop {
        let rest = &text[at..];
        if rest.starts_with(b"--") {
            return Some(out);
        }
        let head_end = memchr::memmem::find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]);
        let name = head.split("name=\"").nth(1)?.split('"').next()?.to_owned();
        let data_start = at + head_end + 4;
        let end = memchr::memmem::find(&text[data_start..], format!("\r\n{delimiter}").as_bytes())?;
        out.push((name, body.slice(data_start..data_start + end)));
        at = data_start + end + 2 + delimiter.len();
    }
}

fn collection(name: &str) -> &'static str {
    match name {
        "files" => "files",
        "vector_stores" => "vector_stores",
        "batches" => "batches",
        "uploads" => "uploads",
        _ => "chat",
    }
}

fn one(
    objects: &mut Objects,
    method: &Method,
    kind: &'static str,
    id: &str,
    deleted: &str,
) -> Response {
    let map = objects.by_kind.entry(kind).or_default();
    let found = if method == Method::DELETE {
        map.remove(id)
            .map(|_| json!({"id": id, "object": deleted, "deleted": true}))
    } else {
        map.get(id).cloned()
    };
    match found {
        Some(v) => (StatusCode::OK, axum::Json(v)).into_response(),
        None => not_found(id),
    }
}

fn not_found(id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": {"message": format!("No such object: {id}"),
            "type": "invalid_request_error", "param": null, "code": null}})),
    )
        .into_response()
}
