//! `warden config check FILE`: everything `serve` validates, without serving.

use crate::cli::ConfigCommand;

#[expect(clippy::print_stdout, reason = "the command's output")]
pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Check { file } => {
            let config = warden_config::load(&file)?;
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
            Ok(())
        }
    }
}
