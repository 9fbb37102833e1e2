//! `mock-openai --port N [--no-record] [--threads N]`: serve the mock OpenAI upstream on
//! 127.0.0.1. Prints `listening on 127.0.0.1:PORT` to stderr once bound (port 0 picks one).

use std::io::Write as _;

use anyhow::{Context as _, bail};
use warden_testkit::mock_upstream;

struct Args {
    port: u16,
    record: bool,
    threads: Option<usize>,
}

const USAGE: &str = "usage: mock-openai [--port N] [--no-record] [--threads N]";

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        port: 0,
        record: true,
        threads: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (a, None),
        };
        let mut value = |name: &str| -> anyhow::Result<String> {
            inline
                .clone()
                .or_else(|| it.next())
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--port" | "-p" => args.port = value("--port")?.parse().context("--port")?,
            "--threads" => args.threads = Some(value("--threads")?.parse().context("--threads")?),
            "--no-record" => args.record = false,
            "--help" | "-h" => {
                let _ = writeln!(std::io::stderr(), "{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    rt.build()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
        let addr = listener.local_addr()?;
        let mut err = std::io::stderr();
        let _ = writeln!(err, "listening on {addr}");
        let _ = err.flush();
        tokio::select! {
            r = mock_upstream::serve(listener, args.record) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
