//! `warden config check FILE`: everything `serve` validates, without serving.
//! It runs where the production secrets are not (a laptop, CI): a missing
//! secret is a warning, unless `--strict` asks for `serve`'s rule.

use crate::cli::ConfigCommand;
use crate::cmd::{load_config, load_config_lenient};

#[expect(clippy::print_stdout, reason = "the command's output")]
pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Check { file, strict } => {
            let config = if strict {
                load_config(Some(&file))?
            } else {
                load_config_lenient(Some(&file))?
            };
            let policy = warden_policy::PolicyEngine::new(&config.policy)?;
            warden_gateway::check_obligations(&policy, &config)?;
            println!(
                "{}: ok ({} connection(s), {} issuer(s), {} polic{})",
                file.display(),
                config.connections.len(),
                config.issuers.len(),
                policy.policy_count(),
                if policy.policy_count() == 1 {
                    "y"
                } else {
                    "ies"
                }
            );
            let missing = config.missing_secrets.len();
            if missing > 0 {
                println!(
                    "{missing} secret(s) not set here (warned above): `warden serve` needs them"
                );
            }
            Ok(())
        }
    }
}
