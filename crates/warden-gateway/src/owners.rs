//! Who created each object the upstream stores for a caller (Responses,
//! files, uploads, vector stores, batches, stored chat completions), so
//! that only its creator may use it. One mechanism for every kind:
//!
//! - a call that creates an object ([`Access::creates`]) has the object's
//!   id taken from the answer as it streams past (`usage.rs`), kept in the
//!   request record (`response_id`: the object the call created) and, for
//!   the write-behind window, in a bounded map here;
//! - a call that names an object in its path ([`Access::item`]) or in its
//!   body ([`referenced`]: `file_id`, `file_ids`, `input_file_id`,
//!   `vector_store_ids`, ...) is refused unless the caller created it;
//! - a list of a kind ([`Access::lists`]) is filtered down to the caller's
//!   own objects (`pipeline.rs`).
//!
//! Anyone else gets 404, the same answer as for an id that does not exist,
//! so ids cannot be probed. An id Warden never recorded (created before
//! this, or elsewhere) is refused to everyone: fail closed. Members of
//! `[objects] admin_groups` may use every object; such a use is marked in
//! the record's policies (`objects.admin`).

use std::collections::HashMap;
use std::sync::Mutex;

use http::Method;
use serde_json::Value;
use warden_core::Principal;
use warden_store::Owner;

use crate::Gateway;
use crate::error::GatewayError;

/// Recent owners kept in memory; beyond this the map starts over (the
/// records have them by then).
const RECENT: usize = 65_536;

/// An object's creator and (for responses) session.
pub type Created = (Owner, Option<String>);

/// The kinds of object the upstream stores for a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Response,
    File,
    Upload,
    VectorStore,
    Batch,
    ChatCompletion,
}

impl ObjectKind {
    /// The answer's `object` field for this kind.
    pub fn object(self) -> &'static str {
        match self {
            ObjectKind::Response => "response",
            ObjectKind::File => "file",
            ObjectKind::Upload => "upload",
            ObjectKind::VectorStore => "vector_store",
            ObjectKind::Batch => "batch",
            ObjectKind::ChatCompletion => "chat.completion",
        }
    }

    /// How a refusal names it.
    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::Response => "response",
            ObjectKind::File => "file",
            ObjectKind::Upload => "upload",
            ObjectKind::VectorStore => "vector store",
            ObjectKind::Batch => "batch",
            ObjectKind::ChatCompletion => "chat completion",
        }
    }
}

/// What a call does with stored objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Access<'a> {
    /// The object the path names (`/files/{id}/content` names the file).
    pub item: Option<(ObjectKind, &'a str)>,
    /// The kind of object the call creates.
    pub creates: Option<ObjectKind>,
    /// The kind a list call lists.
    pub lists: Option<ObjectKind>,
}

/// What `method` on `sub_path` (below `/v1`) does with stored objects.
/// Runs on every request, so it walks the path without allocating. A
/// `POST /chat/completions` creates an object only when its body says
/// `"store": true`: [`Access::creates_with`] decides that once the body is
/// read.
pub fn access<'a>(method: &Method, sub_path: &'a str) -> Access<'a> {
    let mut segs = sub_path.trim_start_matches('/').split('/');
    let post = method == Method::POST;
    let get = method == Method::GET;
    let kind = match segs.next() {
        Some("responses") => ObjectKind::Response,
        Some("files") => ObjectKind::File,
        Some("uploads") => ObjectKind::Upload,
        Some("vector_stores") => ObjectKind::VectorStore,
        Some("batches") => ObjectKind::Batch,
        Some("chat") if segs.next() == Some("completions") => ObjectKind::ChatCompletion,
        _ => return Access::default(),
    };
    // The collection path, then the id after it.
    match segs.next() {
        None if post => Access {
            creates: Some(kind),
            ..Access::default()
        },
        None if get && kind != ObjectKind::Response && kind != ObjectKind::Upload => Access {
            lists: Some(kind),
            ..Access::default()
        },
        None => Access::default(),
        Some(id) => {
            // Completing an upload creates its file.
            let completes = kind == ObjectKind::Upload
                && post
                && segs.next() == Some("complete")
                && segs.next().is_none();
            Access {
                item: Some((kind, id)),
                creates: completes.then_some(ObjectKind::File),
                lists: None,
            }
        }
    }
}

impl Access<'_> {
    /// The kind of object the call creates, given the JSON body's `store`
    /// (only a stored chat completion is one).
    pub fn creates_with(&self, stores: bool) -> Option<ObjectKind> {
        self.creates
            .filter(|k| *k != ObjectKind::ChatCompletion || stores)
    }
}

#[derive(Debug, Default)]
pub struct ObjectOwners {
    recent: Mutex<HashMap<String, Created>>,
}

impl ObjectOwners {
    pub fn insert(&self, id: String, owner: Created) {
        let mut map = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= RECENT {
            map.clear();
        }
        map.insert(id, owner);
    }

    fn get(&self, id: &str) -> Option<Created> {
        self.recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }
}

pub fn owner_of(principal: &Principal) -> Owner {
    Owner {
        issuer: principal.issuer.clone(),
        subject: Some(principal.subject.clone()),
    }
}

/// Whether `principal` may use every caller's objects.
pub fn sees_all(gw: &Gateway, principal: &Principal) -> bool {
    let admins = &gw.config.objects.admin_groups;
    !admins.is_empty() && principal.groups.iter().any(|g| admins.contains(g))
}

/// Who created object `id`, and its session; `None` when Warden has no
/// record of it. A store that cannot answer is an error.
pub async fn created(gw: &Gateway, id: &str) -> Result<Option<Created>, GatewayError> {
    match gw.owners.get(id) {
        Some(c) => Ok(Some(c)),
        None => gw.store.response_owner(id).await.map_err(|error| {
            tracing::error!(%error, "cannot read an object's owner");
            GatewayError::StoreUnavailable
        }),
    }
}

/// Refuses unless `principal` created `id` (of `kind`); its session when
/// allowed. Fails closed: an id Warden has no record of, or a store that
/// cannot answer, is refused.
pub async fn check(
    gw: &Gateway,
    principal: &Principal,
    kind: ObjectKind,
    id: &str,
) -> Result<Option<String>, GatewayError> {
    match created(gw, id).await? {
        Some((owner, session)) if owner == owner_of(principal) => Ok(session),
        _ => Err(not_found(kind, id)),
    }
}

pub fn not_found(kind: ObjectKind, id: &str) -> GatewayError {
    let id: String = id.chars().take(100).collect();
    match kind {
        ObjectKind::Response => GatewayError::ResponseNotFound(id),
        kind => GatewayError::ObjectNotFound { kind, id },
    }
}

/// Whether `principal` created `id` (lists keep only these).
pub async fn owns(gw: &Gateway, principal: &Principal, id: &str) -> Result<bool, GatewayError> {
    Ok(created(gw, id)
        .await?
        .is_some_and(|(owner, _)| owner == owner_of(principal)))
}

/// The most of a list answer Warden reads to filter it.
const LIST_MAX: usize = 16 * 1024 * 1024;

/// A list answer with only the caller's own objects in `data`, its
/// `first_id` / `last_id` taken from what is left (so paging with
/// `after=last_id` goes on from the caller's last object). Status and
/// content type are the upstream's.
pub async fn own_list(
    gw: &Gateway,
    principal: &Principal,
    response: reqwest::Response,
) -> Result<axum::response::Response, GatewayError> {
    let status = response.status().as_u16();
    if response
        .content_length()
        .is_some_and(|n| n > LIST_MAX as u64)
    {
        return Err(GatewayError::UpstreamUnreachable(
            "a list answer too large to filter".into(),
        ));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| GatewayError::UpstreamUnreachable(e.to_string()))?;
    let unreadable =
        || GatewayError::UpstreamUnreachable("a list answer that is not a JSON list".into());
    if bytes.len() > LIST_MAX {
        return Err(unreadable());
    }
    let mut v: Value = serde_json::from_slice(&bytes).map_err(|_| unreadable())?;
    let items = v
        .get_mut("data")
        .and_then(Value::as_array_mut)
        .map(std::mem::take)
        .ok_or_else(unreadable)?;
    let mut kept = Vec::with_capacity(items.len());
    for item in items {
        let Some(id) = item.get("id").and_then(Value::as_str) else {
            continue; // nothing to tie it to anyone: not shown
        };
        if owns(gw, principal, id).await? {
            kept.push(item);
        }
    }
    let edge = |i: Option<&Value>| i.and_then(|i| i.get("id")).cloned().unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        if obj.contains_key("first_id") {
            obj.insert("first_id".into(), edge(kept.first()));
        }
        if obj.contains_key("last_id") {
            obj.insert("last_id".into(), edge(kept.last()));
        }
        obj.insert("data".into(), Value::Array(kept));
    }
    let body = serde_json::to_vec(&v).map_err(|_| unreadable())?;
    axum::response::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(body))
        .map_err(|_| unreadable())
}

/// Keys whose values name stored objects in a request body, at any depth.
const REFERENCES: [(&str, ObjectKind); 6] = [
    ("file_id", ObjectKind::File),
    ("file_ids", ObjectKind::File),
    ("input_file_id", ObjectKind::File),
    ("vector_store_id", ObjectKind::VectorStore),
    ("vector_store_ids", ObjectKind::VectorStore),
    ("previous_response_id", ObjectKind::Response),
];

/// The objects a JSON body names (batch input files, files attached to
/// vector stores, `input_file` parts, `file_search` vector stores). Cheap
/// for the usual body: parsed only when one of the keys, or a `\u` escape
/// that could spell one (`"file\u005fid"` is `file_id` to the upstream),
/// appears in it.
pub fn referenced(body: &[u8]) -> Vec<(ObjectKind, String)> {
    let mentions = |key: &[u8]| memchr::memmem::find(body, key).is_some();
    if !mentions(b"file_id") && !mentions(b"vector_store_id") && !mentions(b"\\u") {
        return Vec::new();
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(&v, &mut out);
    out
}

fn walk(v: &Value, out: &mut Vec<(ObjectKind, String)>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
        Value::Object(fields) => {
            for (key, value) in fields {
                // Citations in replayed answers name files the upstream
                // made (container files): the model's output, not a
                // reference the caller makes.
                if key == "annotations" {
                    continue;
                }
                if let Some((_, kind)) = REFERENCES.iter().find(|(k, _)| k == key) {
                    // `previous_response_id` is checked where it is read.
                    if *kind == ObjectKind::Response {
                        continue;
                    }
                    match value {
                        Value::String(id) => out.push((*kind, id.clone())),
                        Value::Array(ids) => out.extend(
                            ids.iter()
                                .filter_map(Value::as_str)
                                .map(|id| (*kind, id.to_owned())),
                        ),
                        _ => {}
                    }
                }
                walk(value, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_objects() {
        fn a(m: Method, p: &str) -> Access<'_> {
            access(&m, p)
        }
        assert_eq!(a(Method::POST, "/files").creates, Some(ObjectKind::File));
        assert_eq!(a(Method::GET, "/files").lists, Some(ObjectKind::File));
        assert_eq!(
            a(Method::GET, "/files/file-1/content").item,
            Some((ObjectKind::File, "file-1"))
        );
        let done = a(Method::POST, "/uploads/up_1/complete");
        assert_eq!(done.item, Some((ObjectKind::Upload, "up_1")));
        assert_eq!(done.creates, Some(ObjectKind::File));
        assert_eq!(
            a(Method::POST, "/vector_stores/vs_1/files").item,
            Some((ObjectKind::VectorStore, "vs_1"))
        );
        assert_eq!(a(Method::GET, "/batches").lists, Some(ObjectKind::Batch));
        assert_eq!(
            a(Method::POST, "/chat/completions").creates_with(false),
            None
        );
        assert_eq!(
            a(Method::POST, "/chat/completions").creates_with(true),
            Some(ObjectKind::ChatCompletion)
        );
        assert_eq!(a(Method::POST, "/uploads/up_1/complete/x").creates, None);
        assert_eq!(
            a(Method::GET, "/chat/completions/chatcmpl-1/messages").item,
            Some((ObjectKind::ChatCompletion, "chatcmpl-1"))
        );
        assert_eq!(a(Method::POST, "/embeddings"), Access::default());
    }

    #[test]
    fn bodies_name_objects_at_any_depth() {
        let body = br#"{"input_file_id":"file-a","file_ids":["file-b"],
            "input":[{"content":[{"type":"input_file","file_id":"file-c"}]}],
            "tools":[{"type":"file_search","vector_store_ids":["vs_1"]}]}"#;
        let got = referenced(body);
        assert_eq!(
            got,
            [
                (ObjectKind::File, "file-a".to_owned()),
                (ObjectKind::File, "file-b".to_owned()),
                (ObjectKind::File, "file-c".to_owned()),
                (ObjectKind::VectorStore, "vs_1".to_owned()),
            ]
        );
        assert!(referenced(br#"{"model":"gpt-4o"}"#).is_empty());
        // A key spelled with an escape is the same key to the upstream.
        assert_eq!(
            referenced(br#"{"input_file\u005fid":"file-a","vector\u005fstore_ids":["vs_1"]}"#),
            [
                (ObjectKind::File, "file-a".to_owned()),
                (ObjectKind::VectorStore, "vs_1".to_owned()),
            ]
        );
        let replayed = br#"{"input":[{"type":"message","role":"assistant","content":[{"type":"output_text",
            "text":"see","annotations":[{"type":"container_file_citation","file_id":"cfile_1"}]}]}]}"#;
        assert!(referenced(replayed).is_empty());
    }
}
