//! The `latchkey` command: the service (`serve`, `init`) and, later, the
//! client commands.

mod config;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Self-hostable, AWS-compatible IAM and STS.
///
/// latchkey answers the real `aws` CLI, boto3 and the AWS SDKs through
/// `--endpoint-url`, with AWS's parameters, limits, errors and response shapes,
/// and enforces what it promises: signatures, expiry, policies.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (initialising an empty data directory first).
    Serve(config::ServeArgs),
    /// Create a data directory: the store, the management account and its root access key.
    Init(config::InitArgs),
    /// Explain an encoded authorization message from an AccessDenied, using the
    /// data directory's keys (for the operator; API callers use DecodeAuthorizationMessage).
    Explain(config::ExplainArgs),
    /// Copy an embedded (SQLite) data directory into an empty PostgreSQL database, for
    /// several nodes: same accounts, keys, secrets and session-token keys.
    Migrate(config::MigrateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Init(args) => serve::init(args),
        Command::Explain(args) => serve::explain(args),
        Command::Migrate(args) => serve::migrate(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latchkey: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
