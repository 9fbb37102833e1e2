use warden_config::{CedarSource, GroupRule, PolicyConfig};
use warden_core::{EndpointKind, Principal, PrincipalKind};

use crate::{DenyReason, PolicyEngine, PolicyRequest, Resource};

fn user(groups: &[&str]) -> Principal {
    Principal {
        kind: PrincipalKind::User,
        subject: "alice".into(),
        issuer: Some("https://idp".into()),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        key_id: None,
        model_scope: None,
    }
}

fn engine(cedar: &str) -> PolicyEngine {
    PolicyEngine::new(&PolicyConfig {
        groups: vec![
            GroupRule {
                group: "eng".into(),
                models: vec!["gpt-4o*".into(), "text-embedding-*".into()],
                endpoints: vec![],
            },
            GroupRule {
                group: "interns".into(),
                models: vec!["gpt-4o-mini".into()],
                endpoints: vec![EndpointKind::ChatCompletions, EndpointKind::Files],
            },
        ],
        cedar: vec![CedarSource {
            origin: "test.cedar".into(),
            text: cedar.into(),
        }],
    })
    .expect("policies compile")
}

fn ask(e: &PolicyEngine, p: &Principal, kind: EndpointKind, model: &str) -> crate::Verdict {
    e.authorize(&PolicyRequest {
        principal: p,
        endpoint: kind,
        resource: Resource::Model {
            connection: "openai",
            name: model,
        },
        stream: false,
        tools: &[],
        mcp_servers: &[],
        max_tokens: Some(100),
    })
}

#[test]
fn group_table_permits_and_default_denies() {
    let e = engine("");
    let eng = user(&["eng"]);
    let v = ask(&e, &eng, EndpointKind::ChatCompletions, "gpt-4o");
    assert!(v.allowed);
    assert_eq!(v.policy_ids, ["groups.eng.models"]);
    assert!(ask(&e, &eng, EndpointKind::Embeddings, "text-embedding-3-small").allowed);
    let v = ask(&e, &eng, EndpointKind::ChatCompletions, "o3-pro");
    assert!(!v.allowed);
    assert_eq!(v.deny, Some(DenyReason::NotPermitted));
    assert!(!ask(&e, &user(&[]), EndpointKind::ChatCompletions, "gpt-4o").allowed);
}

#[test]
fn endpoints_narrow_the_grant() {
    let e = engine("");
    let intern = user(&["interns"]);
    assert!(ask(&e, &intern, EndpointKind::ChatCompletions, "gpt-4o-mini").allowed);
    assert!(!ask(&e, &intern, EndpointKind::Responses, "gpt-4o-mini").allowed);
    let files = e.authorize(&PolicyRequest {
        principal: &intern,
        endpoint: EndpointKind::Files,
        resource: Resource::Connection("openai"),
        stream: false,
        tools: &[],
        mcp_servers: &[],
        max_tokens: None,
    });
    assert!(files.allowed);
    assert_eq!(files.policy_ids, ["groups.interns.endpoints"]);
}

#[test]
fn forbid_wins_and_names_its_reason() {
    let e = engine(
        r#"
        @id("no-streaming-big")
        @reason("streaming with more than 1000 tokens is not allowed")
        forbid (principal, action, resource) when { context.stream && context has max_tokens && context.max_tokens > 50 };
        "#,
    );
    let eng = user(&["eng"]);
    let v = e.authorize(&PolicyRequest {
        principal: &eng,
        endpoint: EndpointKind::ChatCompletions,
        resource: Resource::Model {
            connection: "openai",
            name: "gpt-4o",
        },
        stream: true,
        tools: &[],
        mcp_servers: &[],
        max_tokens: Some(100),
    });
    assert!(!v.allowed);
    assert_eq!(
        v.deny,
        Some(DenyReason::Forbidden {
            policy_id: "no-streaming-big".into(),
            message: Some("streaming with more than 1000 tokens is not allowed".into()),
        })
    );
}

#[test]
fn raw_cedar_can_use_context_tools_and_issuer() {
    let e = engine(
        r#"
        permit (principal, action == Warden::Action::"responses", resource)
        when { principal.issuer == "https://idp" && context.tools.contains("function:get_weather") };
        "#,
    );
    let p = user(&[]);
    let tools = vec!["function:get_weather".to_owned()];
    let mut req = PolicyRequest {
        principal: &p,
        endpoint: EndpointKind::Responses,
        resource: Resource::Model {
            connection: "openai",
            name: "o3-pro",
        },
        stream: false,
        tools: &tools,
        mcp_servers: &[],
        max_tokens: None,
    };
    let v = e.authorize(&req);
    assert!(v.allowed);
    assert_eq!(v.policy_ids, ["test.cedar#0"]);
    req.tools = &[];
    assert!(!e.authorize(&req).allowed);
}

#[test]
fn key_scope_narrows_policy() {
    let e = engine("");
    let mut key = user(&["eng"]);
    key.kind = PrincipalKind::Key;
    key.key_id = Some("abc".into());
    key.model_scope = Some(vec!["gpt-4o-mini".into()]);
    assert!(ask(&e, &key, EndpointKind::ChatCompletions, "gpt-4o-mini").allowed);
    let v = ask(&e, &key, EndpointKind::ChatCompletions, "gpt-4o");
    assert_eq!(v.deny, Some(DenyReason::OutsideKeyScope));
}

#[test]
fn bad_cedar_and_duplicate_ids_are_refused() {
    let bad = PolicyEngine::new(&PolicyConfig {
        groups: vec![],
        cedar: vec![CedarSource {
            origin: "x.cedar".into(),
            text: "permit (principal, action, resource".into(),
        }],
    });
    assert!(bad.unwrap_err().to_string().contains("x.cedar"));
    let dup = PolicyEngine::new(&PolicyConfig {
        groups: vec![],
        cedar: vec![CedarSource {
            origin: "d.cedar".into(),
            text: "@id(\"a\") permit(principal, action, resource);\n@id(\"a\") forbid(principal, action, resource);".into(),
        }],
    });
    assert!(matches!(dup, Err(crate::PolicyError::DuplicateId { .. })));
}

#[test]
fn permits_attach_obligations_only_when_they_decide() {
    let e = engine(
        r#"
        @id("interns-masked")
        @mask("strict")
        @mask_output("cards")
        @content_rules("no-codenames, intern-tools")
        permit (principal in Warden::Group::"interns", action, resource);

        @id("eng-masked")
        @mask("standard")
        permit (principal in Warden::Group::"eng", action, resource)
            when { context.endpoint == "chat.completions" };
        "#,
    );
    let intern = user(&["interns"]);
    let v = ask(&e, &intern, EndpointKind::ChatCompletions, "gpt-4o-mini");
    assert!(v.allowed);
    assert_eq!(v.obligations.mask, ["strict"]);
    assert_eq!(v.obligations.mask_output, ["cards"]);
    assert_eq!(
        v.obligations.content_rules,
        ["no-codenames", "intern-tools"]
    );

    // Two permits decide: both obligations are carried.
    let both = user(&["interns", "eng"]);
    let v = ask(&e, &both, EndpointKind::ChatCompletions, "gpt-4o-mini");
    assert_eq!(v.obligations.mask, ["standard", "strict"]);

    // The eng permit does not apply to embeddings: only the group table
    // decides, and it attaches nothing.
    let eng = user(&["eng"]);
    let v = ask(&e, &eng, EndpointKind::Embeddings, "text-embedding-3-small");
    assert!(v.allowed);
    assert_eq!(v.obligations, crate::Obligations::default());

    // Refused requests carry none.
    let v = ask(
        &e,
        &user(&["guests"]),
        EndpointKind::ChatCompletions,
        "gpt-4o",
    );
    assert!(!v.allowed);
    assert_eq!(v.obligations, crate::Obligations::default());

    let mut names = e.obligation_names("content_rules");
    names.sort();
    assert_eq!(
        names,
        [
            ("interns-masked".to_owned(), "intern-tools".to_owned()),
            ("interns-masked".to_owned(), "no-codenames".to_owned())
        ]
    );
}
