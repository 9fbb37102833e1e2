//! Dev-only test harness shared by Warden's integration tests and benchmarks.
//!
//! - [`mock_upstream`]: a fast mock of the OpenAI API that records what it received.
//! - [`oidc`]: launches the real `oidc-provider` (Node) on 127.0.0.1 and mints tokens.
//! - [`presidio`]: a fake Presidio analyzer (dictionary instead of NER) for `[pii.analyzer]`.
//! - [`gateway`]: a real Warden gateway in-process on port 0 with a temp SQLite store.
//! - [`sdk`]: runs the Python `openai` / `openai-agents` scripts under `tests/sdk/`.

pub mod gateway;
mod mock_objects;
pub mod mock_upstream;
pub mod oidc;
pub mod presidio;
pub mod sdk;
pub mod webhook;

use std::path::PathBuf;

/// The repository root (where `testkit/`, `tests/` and `.venv/` live).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Installs the TLS crypto provider reqwest needs; call before making clients.
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
