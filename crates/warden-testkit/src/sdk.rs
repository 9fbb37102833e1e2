//! Runs the Python SDK scripts in `tests/sdk/` (official `openai` and
//! `openai-agents`, installed into `.venv` by `./scripts/test`).

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use tokio::process::Command;

#[derive(Debug)]
pub struct SdkRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl SdkRun {
    /// The script's one-line JSON summary.
    pub fn summary(&self) -> anyhow::Result<serde_json::Value> {
        let line = self.stdout.lines().last().context("no output")?;
        Ok(serde_json::from_str(line)?)
    }
}

pub fn python() -> anyhow::Result<PathBuf> {
    let py = crate::repo_root().join(".venv/bin/python");
    if !py.exists() {
        bail!(
            "{} is missing: run ./scripts/test, which creates the venv from tests/sdk/requirements.txt",
            py.display()
        );
    }
    Ok(py)
}

/// Runs `tests/sdk/<script>` against `base_url` with `api_key`.
pub async fn run(
    script: &str,
    base_url: &str,
    api_key: &str,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<SdkRun> {
    let path = crate::repo_root().join("tests/sdk").join(script);
    let mut cmd = Command::new(python()?);
    cmd.arg(&path)
        .env("OPENAI_BASE_URL", base_url)
        .env("OPENAI_API_KEY", api_key)
        .env("OPENAI_AGENTS_DISABLE_TRACING", "1")
        .env_remove("OPENAI_ORG_ID")
        .env_remove("OPENAI_PROJECT_ID")
        .kill_on_drop(true);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .context("SDK script timed out")??;
    Ok(SdkRun {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
