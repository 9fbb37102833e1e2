use std::path::{Path, PathBuf};

use super::*;

fn env_with_keys(name: &str) -> Option<String> {
    (name != "UNSET_VAR").then(|| format!("sk-test-{name}"))
}

#[test]
fn masking_profiles_validate_types_actions_and_keys() {
    let ok = format!(
        "{MINIMAL}\n[pii]\nhash_key_env = \"PII_HASH_KEY_VAR\"\n[pii.profiles.p]\nEMAIL = \"hash\"\n[[pii.apply]]\ngroup = \"*\"\nprofile = \"p\"\n"
    );
    let c = parse(&ok).expect("valid");
    assert!(c.pii.profile_for(&[]).is_some(), "`*` applies to everyone");
    let gb = ok.replace("[pii]\n", "[pii]\nphone_regions = [\"gb\"]\n");
    let c = parse(&gb).expect("valid");
    let profile = c.pii.profile_for(&[]).expect("profile");
    assert_eq!(
        profile.detect.phone_regions,
        vec![
            warden_pii::Detect::with_regions(["GB"])
                .expect("GB")
                .phone_regions[0]
        ]
    );
    assert!(
        !format!("{c:?}").contains("sk-test-PII_HASH_KEY_VAR"),
        "the hash key is never in Debug output"
    );
    let cases = [
        (
            "[pii.profiles.p]\nPERSON_NAME = \"redact\"",
            "pii.profiles.p.PERSON_NAME",
        ),
        (
            "[pii]\nphone_regions = [\"US\", \"ZZ\"]",
            "pii.phone_regions",
        ),
        (
            "[pii.profiles.p]\nEMAIL = \"scramble\"",
            "pii.profiles.p.EMAIL",
        ),
        ("[pii.profiles.p]\nEMAIL = \"hash\"", "pii.hash_key_env"),
        (
            "[[pii.apply]]\ngroup = \"eng\"\nprofile = \"nope\"",
            "pii.apply[0].profile",
        ),
    ];
    for (extra, key) in cases {
        match parse(&format!("{MINIMAL}\n{extra}\n")) {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{extra}"),
            other => panic!("{extra}: expected Invalid at {key}, got {other:?}"),
        }
    }
}

const ANALYZER: &str =
    "[pii.analyzer]\nurl = \"http://127.0.0.1:5002/\"\nentities = [\"PERSON\", \"LOCATION\"]\n";

#[test]
fn analyzer_defaults_and_profiles_naming_its_types() {
    let text = format!(
        "{MINIMAL}\n{ANALYZER}\n[pii.profiles.p]\nPERSON = \"pseudonymize\"\nEMAIL = \"redact\"\n[[pii.apply]]\ngroup = \"*\"\nprofile = \"p\"\n"
    );
    let c = parse(&text).expect("valid");
    let a = c.pii.analyzer.as_ref().expect("analyzer");
    assert_eq!(a.url, "http://127.0.0.1:5002");
    assert_eq!(a.entities, ["PERSON", "LOCATION"]);
    assert_eq!(a.timeout, std::time::Duration::from_millis(1000));
    assert!(!a.fail_open, "fails closed by default");
    assert!((a.score_threshold - 0.5).abs() < f64::EPSILON);
    assert_eq!(a.language, "en");
    let profile = c.pii.profile_for(&[]).expect("profile");
    assert_eq!(
        profile.actions.get("PERSON"),
        Some(&warden_pii::mask::Action::Pseudonymize)
    );
    assert_eq!(
        a.entities_for(profile),
        ["PERSON"],
        "only what the profile masks"
    );
    // Loading again reuses the interned names.
    let again = parse(&text).expect("valid");
    let b = again.pii.analyzer.as_ref().expect("analyzer");
    assert!(std::ptr::eq(a.entities[0], b.entities[0]));
    let set = text.replace(
        "entities =",
        "timeout_ms = 250\non_error = \"open\"\nscore_threshold = 0.7\nlanguage = \"de\"\nentities =",
    );
    let c = parse(&set).expect("valid");
    let a = c.pii.analyzer.as_ref().expect("analyzer");
    assert_eq!(a.timeout, std::time::Duration::from_millis(250));
    assert!(a.fail_open);
    assert_eq!(a.language, "de");
}

#[test]
fn analyzer_mistakes_name_their_key() {
    let with = |analyzer: &str, profile: &str| {
        format!("{MINIMAL}\n[pii.analyzer]\n{analyzer}\n[pii.profiles.p]\n{profile}\n")
    };
    let ok = "url = \"http://a:5002\"\nentities = [\"PERSON\"]";
    let cases = [
        (
            with("url = \"ftp://a\"\nentities = [\"PERSON\"]", ""),
            "pii.analyzer.url",
        ),
        (
            with("url = \"http://a\"\nentities = []", ""),
            "pii.analyzer.entities",
        ),
        (
            with("url = \"http://a\"\nentities = [\"person\"]", ""),
            "pii.analyzer.entities",
        ),
        (
            with("url = \"http://a\"\nentities = [\"PHONE_NUMBER\"]", ""),
            "pii.analyzer.entities",
        ),
        (
            with(
                "url = \"http://a\"\nentities = [\"PERSON\", \"PERSON\"]",
                "",
            ),
            "pii.analyzer.entities",
        ),
        (
            with(
                "url = \"http://a\"\nentities = [\"A_VERY_LONG_ENTITY_TYPE_NAME\"]",
                "",
            ),
            "pii.analyzer.entities",
        ),
        (
            with(&format!("{ok}\ntimeout_ms = 0"), ""),
            "pii.analyzer.timeout_ms",
        ),
        (
            with(&format!("{ok}\non_error = \"ignore\""), ""),
            "pii.analyzer.on_error",
        ),
        (
            with(&format!("{ok}\nscore_threshold = 1.5"), ""),
            "pii.analyzer.score_threshold",
        ),
        (
            with(&format!("{ok}\nlanguage = \"\""), ""),
            "pii.analyzer.language",
        ),
        // A type the analyzer is not asked for.
        (with(ok, "LOCATION = \"redact\""), "pii.profiles.p.LOCATION"),
    ];
    for (text, key) in cases {
        match parse(&text) {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
            other => panic!("{text}: expected Invalid at {key}, got {other:?}"),
        }
    }
    // Without an analyzer, the message says what PERSON needs.
    let err = parse(&format!(
        "{MINIMAL}\n[pii.profiles.p]\nPERSON = \"redact\"\n"
    ))
    .expect_err("unknown type");
    assert!(err.to_string().contains("[pii.analyzer]"), "{err}");
    // Unknown keys in the table are refused.
    let err = parse(&with(&format!("{ok}\ntimeout = 5"), "")).expect_err("unknown key");
    assert!(err.to_string().contains("timeout"), "{err}");
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    from_toml(text, Source::File(PathBuf::from("t.toml")), &env_with_keys)
}

const MINIMAL: &str = r#"
[[connection]]
name = "openai"
base_url = "https://api.openai.com/v1/"
api_key_env = "OPENAI_API_KEY"
models = ["gpt-*"]
"#;

#[test]
fn minimal_config_gets_defaults() {
    let c = parse(MINIMAL).expect("valid");
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.server.max_body_bytes, 16 * 1024 * 1024);
    assert_eq!(c.server.header_timeout, std::time::Duration::from_secs(30));
    assert_eq!(c.server.body_timeout, std::time::Duration::from_secs(60));
    assert_eq!(c.connections[0].base_url, "https://api.openai.com/v1");
    assert!(c.connections[0].models.matches("gpt-4o"));
    assert!(!c.connections[0].models.matches("o3-pro"));
    assert_eq!(
        c.default_connection().map(|c| c.name.as_str()),
        Some("openai")
    );
}

#[test]
fn unknown_key_names_file_and_key() {
    let err = parse(&format!("{MINIMAL}\n[server]\nlistne = \"x\"\n")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("t.toml"), "{msg}");
    assert!(msg.contains("listne"), "{msg}");
}

#[test]
fn bad_values_name_key_and_reason() {
    let cases = [
        ("[server]\nlisten = \"nope\"", "server.listen"),
        ("[server]\nmax_json_depth = 1000", "server.max_json_depth"),
        ("[server]\nheader_timeout = \"0s\"", "server.header_timeout"),
        ("[server]\nbody_timeout = \"2h\"", "server.body_timeout"),
        (
            "[[issuer]]\nname='a'\nissuer='https://idp'\naudiences=['w']\nalgorithms=['HS256']",
            "issuer[0].algorithms",
        ),
        (
            "[[issuer]]\nname='a'\nissuer='https://idp'\naudiences=[]",
            "issuer[0].audiences",
        ),
        (
            "[[issuer]]\nname='a'\nissuer='https://idp'\naudiences=['w']\nleeway='5m'",
            "issuer[0].leeway",
        ),
        (
            "[policy.groups.eng]\nmodels=['gpt-[4]']",
            "policy.groups.eng.models",
        ),
        (
            "[policy.groups.eng]\nendpoints=['chat']",
            "policy.groups.eng.endpoints",
        ),
    ];
    for (extra, key) in cases {
        let err = parse(&format!("{MINIMAL}\n{extra}\n")).unwrap_err();
        match err {
            ConfigError::Invalid { key: k, .. } => assert_eq!(k, key, "for {extra}"),
            other => panic!("{extra}: expected Invalid at {key}, got {other}"),
        }
    }
}

#[test]
fn a_base_url_with_a_query_or_fragment_is_refused() {
    for url in [
        "https://example.openai.azure.com/openai/v1?api-version=preview",
        "https://api.example.com/v1?key=sk-in-the-url",
        "https://api.example.com/v1#frag",
        "https://api.example.com/v1/?",
    ] {
        let text = MINIMAL.replace("https://api.openai.com/v1/", url);
        match parse(&text) {
            Err(ConfigError::Invalid { key, reason, .. }) => {
                assert_eq!(key, "connection[0].base_url", "{url}");
                assert!(reason.contains("appended"), "{url}: {reason}");
                assert!(!reason.contains("sk-in-the-url"), "the URL is not echoed");
            }
            other => panic!("{url}: expected Invalid, got {other:?}"),
        }
    }
}

#[test]
fn missing_secret_env_stops_startup() {
    let text = MINIMAL.replace("OPENAI_API_KEY", "UNSET_VAR");
    let err = parse(&text).unwrap_err();
    assert!(err.to_string().contains("UNSET_VAR"), "{err}");
}

#[test]
fn a_lenient_load_records_missing_secrets_and_holds_no_value_for_them() {
    let text = format!(
        "{}\n[store]\npostgres_url_env = \"UNSET_VAR\"\n[pii]\nhash_key_env = \"UNSET_VAR\"\n[pii.profiles.p]\nEMAIL = \"hash\"\n[audit.export]\nwebhook = \"https://siem.example.com/w\"\nsecret_env = \"UNSET_VAR\"\n",
        MINIMAL.replace("OPENAI_API_KEY", "UNSET_VAR")
    );
    let source = || Source::File(PathBuf::from("t.toml"));
    let err = from_toml(&text, source(), &env_with_keys).expect_err("strict");
    assert!(err.to_string().contains("UNSET_VAR"), "{err}");

    let c =
        from_toml_with_mode(&text, source(), &env_with_keys, SecretMode::Lenient).expect("lenient");
    let keys: Vec<&str> = c.missing_secrets.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "store.postgres_url_env",
            "connection[0].api_key_env",
            "pii.hash_key_env",
            "audit.export.secret_env"
        ]
    );
    assert_eq!(
        c.missing_secrets[1].to_string(),
        "t.toml: `connection[0].api_key_env`: environment variable `UNSET_VAR` is not set or empty"
    );
    assert!(c.connections[0].credential.is_none());
    assert!(c.connections[0].credential_source.ends_with("(missing)"));
    assert!(c.store.postgres_url.is_none());
    assert_eq!(
        c.store.postgres_url_env.as_deref(),
        Some("UNSET_VAR"),
        "still PostgreSQL, never SQLite by accident"
    );
    assert!(c.pii.profiles["p"].hash_key.is_empty());
    assert!(c.audit.export.as_ref().is_some_and(|e| e.secret.is_none()));

    // A strict load, or one with every secret, records nothing.
    let c = parse(MINIMAL).expect("valid");
    assert!(c.missing_secrets.is_empty());
    // Set but unfit is a mistake in both modes.
    let short = |name: &str| (name == "SHORT").then(|| "short".to_owned());
    let text = format!("{MINIMAL}\n[pii]\nhash_key_env = \"SHORT\"\n");
    let any = |name: &str| short(name).or_else(|| env_with_keys(name));
    match from_toml_with_mode(&text, source(), &any, SecretMode::Lenient) {
        Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "pii.hash_key_env"),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn secret_values_never_in_debug_output() {
    let c = parse(MINIMAL).expect("valid");
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("sk-test"), "secret leaked into Debug: {dbg}");
}

#[test]
fn embedded_default_starts_without_key() {
    let c = embedded_default(&|_| None).expect("valid");
    assert!(c.connections[0].credential.is_none());
    assert_eq!(c.store.sqlite_path, Path::new("./warden.db"));
    assert_eq!(c.policy.groups[0].group, DEFAULT_KEY_GROUP);
}

/// Every config shipped in `examples/` must parse and validate.
#[test]
fn every_example_config_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/ exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            load_with_env(&path, &env_with_keys)
                .unwrap_or_else(|e| panic!("{} does not validate: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(seen >= 2, "expected example configs in {}", dir.display());
}

#[test]
fn output_profiles_apply_by_group_and_cannot_name_analyzer_types() {
    let base = format!(
        "{MINIMAL}\n[pii.profiles.cards]\nPAYMENT_CARD = \"redact\"\n[[pii.apply]]\ngroup = \"eng\"\noutput_profile = \"cards\"\n"
    );
    let c = parse(&base).expect("valid");
    let eng = ["eng".to_owned()];
    assert!(c.pii.profile_for(&eng).is_none(), "no request profile");
    assert_eq!(
        c.pii.output_profile_for(&eng).map(|p| p.name.as_str()),
        Some("cards")
    );
    assert!(c.pii.profiles.contains_key("cards"));

    let person = format!(
        "{MINIMAL}\n[pii.analyzer]\nurl = \"http://127.0.0.1:5002\"\nentities = [\"PERSON\"]\n[pii.profiles.names]\nPERSON = \"redact\"\n[[pii.apply]]\ngroup = \"eng\"\noutput_profile = \"names\"\n"
    );
    match parse(&person) {
        Err(ConfigError::Invalid { key, reason, .. }) => {
            assert_eq!(key, "pii.apply[0].output_profile");
            assert!(reason.contains("PERSON"), "{reason}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    match parse(&format!("{MINIMAL}\n[[pii.apply]]\ngroup = \"eng\"\n")) {
        Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "pii.apply[0]"),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn admin_section_needs_groups_and_has_no_default() {
    let c = parse(MINIMAL).expect("valid");
    assert!(c.admin.is_none(), "no [admin]: no admin API");

    let c = parse(&format!("{MINIMAL}\n[admin]\ngroups = [\"security\"]\n")).expect("valid");
    let admin = c.admin.expect("admin");
    assert_eq!(admin.groups, ["security"]);
    assert_eq!(admin.listen, None, "served on the main listener");

    let c = parse(&format!(
        "{MINIMAL}\n[admin]\ngroups = [\"security\", \"sre\"]\nlisten = \"127.0.0.1:9091\"\n"
    ))
    .expect("valid");
    let admin = c.admin.expect("admin");
    assert_eq!(
        admin.listen.map(|l| l.to_string()).as_deref(),
        Some("127.0.0.1:9091")
    );

    let cases = [
        ("[admin]", "admin.groups"),
        ("[admin]\nlisten = \"127.0.0.1:9091\"", "admin.groups"),
        ("[admin]\ngroups = []", "admin.groups"),
        ("[admin]\ngroups = [\"\"]", "admin.groups"),
        ("[admin]\ngroups = [\"*\"]", "admin.groups"),
        (
            "[admin]\ngroups = [\"security\"]\nlisten = \"nope\"",
            "admin.listen",
        ),
        (
            "[server]\nlisten = \"127.0.0.1:8080\"\n[admin]\ngroups = [\"security\"]\nlisten = \"127.0.0.1:8080\"",
            "admin.listen",
        ),
    ];
    for (extra, key) in cases {
        match parse(&format!("{MINIMAL}\n{extra}\n")) {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{extra}"),
            other => panic!("{extra}: expected Invalid at {key}, got {other:?}"),
        }
    }
    let err = parse(&format!(
        "{MINIMAL}\n[admin]\ngroups = [\"security\"]\ngroup = \"x\"\n"
    ))
    .expect_err("unknown key");
    assert!(err.to_string().contains("group"), "{err}");
}

#[test]
fn audit_export_defaults_and_mistakes_name_their_key() {
    use secrecy::ExposeSecret as _;
    assert!(parse(MINIMAL).expect("valid").audit.export.is_none());
    let hook = "[audit.export]\nwebhook = \"https://ops:pw@siem.example.com:8443/in/?token=t0k\"";
    let c = parse(&format!("{MINIMAL}\n{hook}\n")).expect("valid");
    let e = c.audit.export.expect("export");
    assert_eq!(e.batch, 500);
    assert_eq!(e.interval, std::time::Duration::from_secs(1));
    assert_eq!(e.name, "default");
    assert!(e.secret.is_none(), "unsigned without secret_env");
    assert_eq!(e.webhook_shown(), "https://siem.example.com:8443/in/");
    assert!(
        e.webhook.expose_secret().ends_with("?token=t0k"),
        "kept whole"
    );

    let full = format!(
        "{MINIMAL}\n{hook}\nsecret_env = \"EXPORT_SECRET\"\nbatch = 10000\ninterval = \"250ms\"\nname = \"splunk-1\"\n"
    );
    let c = parse(&full).expect("valid");
    let dbg = format!("{c:?}");
    assert!(
        !dbg.contains("sk-test-EXPORT_SECRET") && !dbg.contains("t0k") && !dbg.contains("pw@"),
        "neither the secret nor the URL's credentials in Debug: {dbg}"
    );
    let e = c.audit.export.expect("export");
    assert_eq!(
        e.secret.as_ref().map(|s| s.expose_secret().to_owned()),
        Some("sk-test-EXPORT_SECRET".to_owned())
    );
    assert_eq!(
        (e.batch, e.interval, e.name.as_str()),
        (10_000, std::time::Duration::from_millis(250), "splunk-1")
    );

    let cases = [
        ("[audit.export]", "audit.export.webhook"),
        (
            "[audit.export]\nwebhook = \"ftp://siem.example.com/in\"",
            "audit.export.webhook",
        ),
        (
            "[audit.export]\nwebhook = \"https://\"",
            "audit.export.webhook",
        ),
        (
            "[audit.export]\nwebhook = \"siem.example.com/in\"",
            "audit.export.webhook",
        ),
        (
            "[audit.export]\nwebhook = \"https://s/in\"\nsecret_env = \"UNSET_VAR\"",
            "audit.export.secret_env",
        ),
        (
            "[audit.export]\nwebhook = \"https://s/in\"\nbatch = 0",
            "audit.export.batch",
        ),
        (
            "[audit.export]\nwebhook = \"https://s/in\"\nbatch = 10001",
            "audit.export.batch",
        ),
        (
            "[audit.export]\nwebhook = \"https://s/in\"\ninterval = \"1ms\"",
            "audit.export.interval",
        ),
        (
            "[audit.export]\nwebhook = \"https://s/in\"\nname = \"\"",
            "audit.export.name",
        ),
        (
            "[audit.export]\nwebhook = \"https://s/in\"\nname = \"a b\"",
            "audit.export.name",
        ),
    ];
    for (extra, key) in cases {
        match parse(&format!("{MINIMAL}\n{extra}\n")) {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{extra}"),
            other => panic!("{extra}: expected Invalid at {key}, got {other:?}"),
        }
    }
    // A URL that may carry a token is never repeated in the message.
    let err = parse(&format!(
        "{MINIMAL}\n[audit.export]\nwebhook = \"siem.example.com/in?token=t0k\"\n"
    ))
    .expect_err("invalid");
    assert!(!err.to_string().contains("t0k"), "{err}");
    let err = parse(&format!(
        "{MINIMAL}\n[audit.export]\nwebhook = \"https://s/in\"\nwebhok = \"x\"\n"
    ))
    .expect_err("unknown key");
    assert!(err.to_string().contains("webhok"), "{err}");
}

#[test]
fn recording_and_traces_defaults_and_mistakes_name_their_key() {
    let c = parse(MINIMAL).expect("valid");
    assert_eq!(c.audit.record_bodies, RecordBodies::Metadata);
    assert_eq!(
        (c.audit.body_max_bytes, c.audit.body_retention),
        (256 * 1024, None)
    );
    assert_eq!(c.traces.forward, None);
    let c = parse(&format!(
        "{MINIMAL}\n[audit]\nrecord_bodies = \"full\"\nbody_max_bytes = 4096\nbody_retention = \"2h\"\n"
    ))
    .expect("valid");
    assert_eq!(
        (
            c.audit.record_bodies,
            c.audit.body_max_bytes,
            c.audit.body_retention
        ),
        (
            RecordBodies::Full,
            4096,
            Some(std::time::Duration::from_secs(7200))
        )
    );
    let cases = [
        ("[audit]\nrecord_bodies = \"all\"", "audit.record_bodies"),
        ("[audit]\nbody_max_bytes = 10", "audit.body_max_bytes"),
        (
            "[audit]\nbody_max_bytes = 99999999999",
            "audit.body_max_bytes",
        ),
        ("[audit]\nbody_retention = \"5m\"", "audit.body_retention"),
        ("[traces]\nforward = \"nowhere\"", "traces.forward"),
        ("[traces]\nsend = \"x\"", "send"),
    ];
    for (extra, key) in cases {
        let err = parse(&format!("{MINIMAL}\n{extra}\n")).expect_err(extra);
        assert!(err.to_string().contains(key), "{extra}: {err}");
    }
}

#[test]
fn approvals_defaults_and_mistakes_name_their_key() {
    let base = format!("{MINIMAL}\n[approvals]\napprover_groups = [\"security\"]\n");
    let c = parse(&base).expect("valid");
    let a = c.approvals.expect("approvals");
    assert_eq!(
        a.hold,
        std::time::Duration::from_secs(570),
        "under the SDKs' 600 s"
    );
    assert_eq!(a.keepalive, std::time::Duration::from_secs(15));
    assert!(a.rules.is_empty() && a.webhooks.is_empty());
    let c = parse(&format!(
        "{base}[[approvals.rule]]\nid = \"r\"\nmin_cost_usd = 2.5\noutside_hours = \"08:30-18:00\"\nendpoints = [\"responses\"]\nquorum = 2\nmode = \"async\"\n"
    ))
    .expect("valid");
    let r = &c.approvals.expect("approvals").rules[0];
    assert_eq!(r.min_cost_usd_micros, Some(2_500_000));
    assert_eq!(r.outside_hours, Some((510, 1080)));
    assert_eq!(
        r.endpoints,
        Some(vec![warden_core::EndpointKind::Responses])
    );
    assert_eq!(
        r.approver_groups,
        ["security"],
        "the section's approvers by default"
    );
    assert_eq!(
        (r.quorum, r.mode),
        (2, warden_core::approval::ApprovalMode::Async)
    );
    let cases = [
        ("[approvals]\nhold = \"5m\"", "approvals.approver_groups"),
        (
            "[approvals]\napprover_groups = []",
            "approvals.approver_groups",
        ),
        (
            "[approvals]\napprover_groups = [\"s*\"]",
            "approvals.approver_groups",
        ),
        (
            "[approvals]\napprover_groups = [\"s\"]\nhold = \"2h\"",
            "approvals.hold",
        ),
        (
            "[approvals]\napprover_groups = [\"s\"]\nhold = \"20m\"\nexpiry = \"10m\"",
            "approvals.expiry",
        ),
        (
            "[approvals]\napprover_groups = [\"s\"]\n[[approvals.rule]]\nid = \"\"",
            "approvals.rule[0].id",
        ),
        (
            "[approvals]\napprover_groups = [\"s\"]\n[[approvals.rule]]\nid = \"a\"\n[[approvals.rule]]\nid = \"a\"",
            "approvals.rule[1].id",
        ),
        (
            "[approvals]\napprover_groups = [\"s\"]\n[[approvals.rule]]\nid = \"a\"\nendpoints = [\"chat\"]",
            "approvals.rule[0].endpoints",
        ),
        (
            "[approvals]\napprover_groups = [\"s\"]\n[[approvals.rule]]\nid = \"a\"\nmin_cost_usd = -1.0",
            "approvals.rule[0].min_cost_usd",
        ),
        (
            "[approvals]\napprover_groups = [\"s\"]\n[[approvals.rule]]\nid = \"a\"\noutside_hours = \"18:00-08:00\"",
            "approvals.rule[0].outside_hours",
        ),
        (
            "[approvals]\napprover_groups = [\"s\"]\n[[approvals.rule]]\nid = \"a\"\nquorum = 0",
            "approvals.rule[0].quorum",
        ),
        (
            "[approvals]\napprover_groups = [\"s\"]\n[[approvals.rule]]\nid = \"a\"\nmode = \"later\"",
            "approvals.rule[0].mode",
        ),
        (
            "[approvals]\napprover_groups = [\"s\"]\n[[approvals.rule]]\nid = \"a\"\npolicy_only = true\nmodels = [\"x\"]",
            "approvals.rule[0].policy_only",
        ),
        (
            "[approvals]\napprover_groups = [\"s\"]\n[[approvals.webhook]]\nurl = \"hooks.example.com\"",
            "approvals.webhook[0].url",
        ),
        (
            "[approvals]\napprover_groups = [\"s\"]\n[[approvals.webhook]]\nurl = \"https://h/x\"\nformat = \"teams\"",
            "approvals.webhook[0].format",
        ),
        (
            "[approvals]\napprover_groups = [\"s\"]\n[[approvals.webhook]]\nurl = \"https://h/x\"\nsecret_env = \"UNSET_VAR\"",
            "approvals.webhook[0].secret_env",
        ),
    ];
    for (extra, key) in cases {
        match parse(&format!("{MINIMAL}\n{extra}\n")) {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{extra}"),
            other => panic!("{extra}: expected Invalid at {key}, got {other:?}"),
        }
    }
    // A Slack URL carries its token: never repeated in an error.
    let err = parse(&format!(
        "{MINIMAL}\n[approvals]\napprover_groups = [\"s\"]\n[[approvals.webhook]]\nurl = \"hooks.slack.com/services/T0/B0/secrettoken\"\n"
    ))
    .expect_err("invalid");
    assert!(!err.to_string().contains("secrettoken"), "{err}");
}
