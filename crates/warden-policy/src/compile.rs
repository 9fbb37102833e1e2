//! The config's group table, compiled to Cedar text.
//!
//! `[policy.groups.eng] models = ["gpt-4o*"]` becomes
//! ```cedar
//! @id("groups.eng.models")
//! permit (principal in Warden::Group::"eng", action in [<model actions>], resource is Warden::Model)
//! when { resource.name like "gpt-4o*" };
//! ```
//! and model-less endpoints it lists become a `permit` on `Warden::Connection`
//! (with `responses` and `chat.completions`, so the group can reach the stored
//! responses and chat completions it created).
//! Names were checked by config validation (no quotes, only `*` as wildcard),
//! so interpolating them is safe.

use std::fmt::Write as _;

use warden_config::GroupRule;
use warden_core::EndpointKind;

fn action_list(kinds: impl Iterator<Item = EndpointKind>) -> String {
    let items: Vec<String> = kinds
        .map(|k| format!("Warden::Action::\"{}\"", k.as_str()))
        .collect();
    format!("[{}]", items.join(", "))
}

pub fn group_table(rules: &[GroupRule]) -> String {
    let mut out = String::new();
    for rule in rules {
        let g = &rule.group;
        let all = rule.endpoints.is_empty();
        let model_kinds: Vec<EndpointKind> = EndpointKind::ALL
            .into_iter()
            .filter(|k| k.carries_model() && (all || rule.endpoints.contains(k)))
            .collect();
        if !rule.models.is_empty() && !model_kinds.is_empty() {
            let likes: Vec<String> = rule
                .models
                .iter()
                .map(|m| format!("resource.name like \"{m}\""))
                .collect();
            let _ = writeln!(
                out,
                "@id(\"groups.{g}.models\")\npermit (principal in Warden::Group::\"{g}\", action in {}, resource is Warden::Model)\nwhen {{ {} }};\n",
                action_list(model_kinds.into_iter()),
                likes.join(" || ")
            );
        }
        let mut plain: Vec<EndpointKind> = rule
            .endpoints
            .iter()
            .copied()
            .filter(|k| !k.carries_model())
            .collect();
        // Reading, deleting, cancelling a stored response or stored chat
        // completion names no model. A group that may create them may also
        // reach the ones it made; the gateway answers 404 for anyone else's
        // (`owners`).
        for stored in [EndpointKind::Responses, EndpointKind::ChatCompletions] {
            if !rule.models.is_empty() && (all || rule.endpoints.contains(&stored)) {
                plain.push(stored);
            }
        }
        if !plain.is_empty() {
            let _ = writeln!(
                out,
                "@id(\"groups.{g}.endpoints\")\npermit (principal in Warden::Group::\"{g}\", action in {}, resource is Warden::Connection);\n",
                action_list(plain.into_iter())
            );
        }
    }
    out
}
