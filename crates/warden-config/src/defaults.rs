//! Defaults: the values a key takes when the file leaves it out, and the whole
//! embedded configuration used when there is no file at all.

use std::time::Duration;

use crate::raw::{RawConfig, RawConnection, RawGroupRule};

pub const LISTEN: &str = "127.0.0.1:8080";
pub const SQLITE_PATH: &str = "./warden.db";
pub const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
pub const MAX_UPLOAD_BYTES: u64 = 512 * 1024 * 1024;
pub const MAX_JSON_DEPTH: usize = 64;
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Long: reasoning models can think for minutes before the first byte.
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(600);
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
pub const GROUPS_CLAIM: &str = "groups";
pub const LEEWAY: Duration = Duration::from_secs(30);
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);
pub const JWKS_REFRESH: Duration = Duration::from_secs(600);
pub const JWKS_MIN_REFRESH: Duration = Duration::from_secs(10);
/// The whole analyzer step of one request: NER on a few messages takes
/// Presidio tens of milliseconds; a second means it is in trouble.
pub const ANALYZER_TIMEOUT_MS: u64 = 1000;
/// Presidio's own scale: its spaCy recognizer scores names 0.85.
pub const ANALYZER_SCORE_THRESHOLD: f64 = 0.5;
pub const ANALYZER_LANGUAGE: &str = "en";
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const OPENAI_KEY_ENV: &str = "OPENAI_API_KEY";
/// `[audit.export]`: entries per POST, the idle poll, the cursor's name.
pub const EXPORT_BATCH: u32 = 500;
pub const EXPORT_INTERVAL: Duration = Duration::from_secs(1);
pub const EXPORT_NAME: &str = "default";
/// Group that `warden keys create` puts keys in when none is named, and that
/// the embedded default policy lets use every model.
pub const DEFAULT_KEY_GROUP: &str = "users";

pub fn embedded() -> RawConfig {
    let mut raw = RawConfig::default();
    raw.connections.push(RawConnection {
        name: "openai".into(),
        base_url: OPENAI_BASE_URL.into(),
        api_key_env: Some(OPENAI_KEY_ENV.into()),
        api_key_file: None,
        api_key_optional: true,
        auth: None,
        models: vec!["*".into()],
        default: true,
        connect_timeout: None,
        first_byte_timeout: None,
        idle_timeout: None,
        headers: Default::default(),
    });
    raw.policy.groups.insert(
        DEFAULT_KEY_GROUP.into(),
        RawGroupRule {
            models: vec!["*".into()],
            endpoints: vec!["*".into()],
        },
    );
    raw
}
