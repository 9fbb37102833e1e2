//! Who created each Responses API object, so only its creator may read,
//! delete, cancel, list the input of, or continue (`previous_response_id`)
//! it. Anyone else gets 404, the same answer as for an id that does not
//! exist, so ids cannot be probed.
//!
//! The request records are the source of truth (`response_id`, written when
//! the creating call's body ends). Records are written behind the response,
//! so the owners of recent responses are also kept here, bounded, for the
//! moment between the answer and its record.

use std::collections::HashMap;
use std::sync::Mutex;

use warden_core::Principal;
use warden_store::Owner;

use crate::Gateway;
use crate::error::GatewayError;

/// Recent owners kept in memory; beyond this the map starts over (the
/// records have them by then).
const RECENT: usize = 65_536;

/// A response's creator and session.
pub type Created = (Owner, Option<String>);

#[derive(Debug, Default)]
pub struct ResponseOwners {
    recent: Mutex<HashMap<String, Created>>,
}

impl ResponseOwners {
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

/// `resp_...` from `/responses/{id}[/...]`.
pub fn id_in_path(sub_path: &str) -> Option<&str> {
    let rest = sub_path.strip_prefix("/responses/")?;
    let id = rest.split('/').next()?;
    (!id.is_empty()).then_some(id)
}

/// Who created response `id`, and its session; `None` when Warden has no
/// record of it. A store that cannot answer is an error.
pub async fn created(gw: &Gateway, id: &str) -> Result<Option<Created>, GatewayError> {
    match gw.owners.get(id) {
        Some(c) => Ok(Some(c)),
        None => gw.store.response_owner(id).await.map_err(|error| {
            tracing::error!(%error, "cannot read a response's owner");
            GatewayError::StoreUnavailable
        }),
    }
}

/// Refuses unless `principal` created response `id`; its session when
/// allowed. Fails closed: an id Warden has no record of, or a store that
/// cannot answer, is refused.
pub async fn check(
    gw: &Gateway,
    principal: &Principal,
    id: &str,
) -> Result<Option<String>, GatewayError> {
    match created(gw, id).await? {
        Some((owner, session)) if owner == owner_of(principal) => Ok(session),
        _ => Err(GatewayError::ResponseNotFound(
            id.chars().take(100).collect(),
        )),
    }
}
