//! The `latchkey` command: the service (`serve`, `init`, `explain`) and the
//! client commands (`assume`, `unassume`, `exec`, `credential-process`,
//! `whoami`, `refresh`, `shell-init`, `completions`).

mod client;
mod config;
mod serve;

use std::process::ExitCode;

/// glibc's allocator spent a fifth of AssumeRole's CPU under load (perf,
/// BENCHMARKS.md) and kept freed arenas as RSS; mimalloc is made for many
/// small short-lived allocations across threads. Built as mimalloc 2 without
/// transparent huge pages, for RSS: see Cargo.toml.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{CommandFactory as _, Parser, Subcommand};

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
    /// Assume a role (ARN or role profile) and print the lines that export its
    /// session: `eval "$(latchkey assume ROLE)"` (fish: `latchkey assume ROLE | source`).
    Assume(client::AssumeArgs),
    /// Print the lines that restore the identity held before the last assume
    /// (nested assumes unwind one at a time).
    Unassume(client::UnassumeArgs),
    /// Run a command with a role's session in its environment; exits with its status.
    Exec(client::ExecArgs),
    /// Print a role's session as a `credential_process` object, for ~/.aws/config.
    CredentialProcess(client::CredentialProcessArgs),
    /// Show who the current credentials are (GetCallerIdentity) and the time they have left.
    Whoami(client::WhoamiArgs),
    /// Re-assume the session this shell assumed, when it is about to expire.
    Refresh(client::RefreshArgs),
    #[command(name = "__refresh-child", hide = true)]
    RefreshChild,
    /// Print shell functions so that `latchkey assume` and `unassume` export
    /// directly: `eval "$(latchkey shell-init bash)"` in ~/.bashrc.
    ShellInit(client::ShellInitArgs),
    /// Print shell completions: `latchkey completions bash > /etc/bash_completion.d/latchkey`.
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Copy an embedded (SQLite) data directory into an empty PostgreSQL database, for
    /// several nodes: same accounts, keys, secrets and session-token keys.
    Migrate(config::MigrateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::serve(args).map(|()| ExitCode::SUCCESS),
        Command::Init(args) => serve::init(args).map(|()| ExitCode::SUCCESS),
        Command::Explain(args) => serve::explain(args).map(|()| ExitCode::SUCCESS),
        Command::Audit(config::AuditCommand::Export(args)) => serve::audit_export(args).map(|()| ExitCode::SUCCESS),
        Command::Assume(args) => client::assume(args),
        Command::Unassume(args) => client::unassume(args),
        Command::Exec(args) => client::exec(args),
        Command::CredentialProcess(args) => client::credential_process(args),
        Command::Whoami(args) => client::whoami(args),
        Command::Refresh(args) => client::refresh(args),
        Command::RefreshChild => client::refresh_child(),
        Command::ShellInit(args) => client::shell_init(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "latchkey",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate(args) => serve::migrate(args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("latchkey: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
