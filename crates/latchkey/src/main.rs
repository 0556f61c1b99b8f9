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
    /// The audit trail (CloudTrail records of every call).
    #[command(subcommand)]
    Audit(config::AuditCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Init(args) => serve::init(args),
        Command::Explain(args) => serve::explain(args),
        Command::Audit(config::AuditCommand::Export(args)) => serve::audit_export(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latchkey: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
