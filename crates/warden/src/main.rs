//! `warden`: the gateway binary and its CLI. This file only parses arguments
//! and hands off to a command module; each command owns one verb.

mod cli;
mod cmd;
#[cfg(feature = "heap-stats")]
mod heap;

use clap::Parser as _;

/// mimalloc over the system allocator: the data path allocates many small,
/// short-lived buffers (headers, JSON keys, records), where glibc's malloc
/// showed up at ~8% of CPU under load.
#[cfg(not(feature = "heap-stats"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    #[cfg(feature = "heap-stats")]
    heap::start();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            cmd::fail(&format!("cannot start the async runtime: {e}"));
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            cmd::fail(&format!("{e:#}"));
            std::process::ExitCode::FAILURE
        }
    }
}
