//! `vsiem`: one binary for every ECU, the gateway, the V-SOC and the demo (the zenohd/vector
//! style: one artifact to ship). The binary is glue: the work is in the `vsiem-*` crates.

mod cli;
mod commands;
mod demo;
mod replay;
mod testbed;

use clap::Parser;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use vsiem_actors::gateway::access::Denials;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let denials = Denials::default();
    init_tracing(cli.log_json, &denials);
    vsiem_actors::arm_fail_points();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vsiem: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli.command, denials)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vsiem: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: info for vsiem, warn for the rest).
/// Beside them, whatever `RUST_LOG` says, `denials` counts the refusals of the access control
/// of a router in this process (the gateway's).
fn init_tracing(json: bool, denials: &Denials) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,vsiem=info,vsiem_actors=info")
    });
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let logs = if json {
        logs.json().boxed()
    } else {
        logs.boxed()
    };
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(denials.layer())
        .init();
}
