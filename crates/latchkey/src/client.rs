//! The client commands: `assume`, `unassume`, `exec`, `credential-process`,
//! `whoami`, `refresh`, `shell-init`. The work is in `latchkey-client`;
//! this module is the command line around it.

use std::ffi::OsString;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, ValueEnum};
use latchkey_client::creds::{Creds, format_time, human, parse_time};
use latchkey_client::flow::{Assumed, Client, TerminalUi};
use latchkey_client::request::{self, AssumeRequest};
use latchkey_client::scripts::{self, InitShell};
use latchkey_client::shell::{self, Shell};
use latchkey_client::stack;

/// How `assume` prints the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// ` export NAME='value'` lines for bash and zsh
    Env,
    /// ` set -gx NAME 'value'` lines for fish
    Fish,
    /// The credential_process object {"Version":1,...}
    Json,
}

/// The role and how to assume it (shared by assume, exec, credential-process).
#[derive(Debug, Args)]
pub struct RoleArgs {
    /// A role ARN, or the name of a role profile (role_arn, source_profile, mfa_serial, ...)
    #[arg(value_name = "ROLE_ARN|PROFILE")]
    target: String,

    /// Role session name [default: latchkey-$USER-$EPOCH_SECONDS, or the profile's role_session_name]
    #[arg(long, value_name = "NAME")]
    session_name: Option<String>,

    /// Session lifetime: seconds, or like 15m, 1h [default: the role's default, one hour]
    #[arg(long, value_name = "SECS", value_parser = request::parse_duration)]
    duration: Option<u32>,

    /// ExternalId the role's trust policy requires
    #[arg(long, value_name = "ID")]
    external_id: Option<String>,

    /// MFA device serial number (ARN) [default: the profile's mfa_serial]
    #[arg(long, value_name = "ARN")]
    serial_number: Option<String>,

    /// The MFA code; without it latchkey asks on the terminal (/dev/tty)
    #[arg(long, value_name = "CODE")]
    token_code: Option<String>,

    /// SourceIdentity for the session
    #[arg(long, value_name = "S")]
    source_identity: Option<String>,

    /// A session policy (JSON file) narrowing the session
    #[arg(long, value_name = "FILE")]
    policy_file: Option<PathBuf>,

    /// A managed policy ARN narrowing the session (repeatable)
    #[arg(long = "policy-arn", value_name = "ARN")]
    policy_arns: Vec<String>,

    /// A session tag (repeatable)
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = request::parse_tag)]
    tags: Vec<(String, String)>,

    /// A tag key that passes on to chained sessions (repeatable)
    #[arg(long = "transitive-tag-key", value_name = "KEY")]
    transitive_tag_keys: Vec<String>,

    /// STS endpoint [default: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, the profile's endpoint_url, AWS]
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,

    /// The profile whose credentials assume the role [default: the environment's keys, AWS_PROFILE, default]
    #[arg(long, value_name = "P")]
    profile: Option<String>,

    /// Region to call STS in [default: AWS_REGION, the profile's region, us-east-1]
    #[arg(long, value_name = "REGION")]
    region: Option<String>,

    /// Neither use nor keep a cached session
    #[arg(long)]
    no_cache: bool,

    /// Enter the MFA code once for a GetSessionToken session (cached) and assume
    /// roles with it, as aws-vault does; also `latchkey_mfa_session = true` in a profile
    #[arg(long, env = "LATCHKEY_MFA_SESSION")]
    mfa_session: bool,

    /// Lifetime of that MFA session [default: 12h]
    #[arg(long, value_name = "SECS", value_parser = request::parse_duration, requires = "mfa_session")]
    mfa_session_duration: Option<u32>,
}

impl RoleArgs {
    fn request(&self) -> anyhow::Result<AssumeRequest> {
        let policy = match &self.policy_file {
            Some(p) => Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?),
            None => None,
        };
        if let Some(code) = &self.token_code
            && request::parse_mfa_code(code).is_none()
        {
            bail!("--token-code must be six digits");
        }
        Ok(AssumeRequest {
            target: self.target.clone(),
            session_name: self.session_name.clone(),
            duration: self.duration,
            external_id: self.external_id.clone(),
            serial_number: self.serial_number.clone(),
            token_code: self.token_code.clone(),
            source_identity: self.source_identity.clone(),
            policy,
            policy_arns: self.policy_arns.clone(),
            tags: self.tags.clone(),
            transitive_tag_keys: self.transitive_tag_keys.clone(),
            endpoint_url: self.endpoint_url.clone(),
            profile: self.profile.clone(),
            region: self.region.clone(),
            no_cache: self.no_cache,
            mfa_session: self.mfa_session,
            mfa_session_duration: self.mfa_session_duration,
        })
    }
}

/// `latchkey assume`
#[derive(Debug, Args)]
pub struct AssumeArgs {
    #[command(flatten)]
    role: RoleArgs,

    /// Output format
    #[arg(long, value_enum, env = "LATCHKEY_FORMAT", default_value = "env")]
    format: Format,
}

/// `latchkey unassume`
#[derive(Debug, Args)]
pub struct UnassumeArgs {
    /// Output format (env or fish)
    #[arg(long, value_enum, env = "LATCHKEY_FORMAT", default_value = "env")]
    format: Format,
}

/// `latchkey exec`
#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    role: RoleArgs,

    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

/// `latchkey credential-process`
#[derive(Debug, Args)]
pub struct CredentialProcessArgs {
    #[command(flatten)]
    role: RoleArgs,
}

/// `latchkey whoami`
#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// STS endpoint [default: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, the profile's endpoint_url, AWS]
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,

    /// Use this profile's credentials instead of the standard chain's
    #[arg(long, value_name = "P")]
    profile: Option<String>,

    /// Region to call STS in
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
}

/// `latchkey refresh`
#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Refresh only when the session expires within this long (seconds, or like 5m)
    #[arg(long, value_name = "SECS", value_parser = request::parse_duration, default_value = "300")]
    within: u32,

    /// Refresh whatever the time left
    #[arg(long)]
    force: bool,

    /// Say nothing when there is nothing to do
    #[arg(long)]
    quiet: bool,

    /// Output format (env or fish)
    #[arg(long, value_enum, env = "LATCHKEY_FORMAT", default_value = "env")]
    format: Format,
}

/// `latchkey shell-init`
#[derive(Debug, Args)]
pub struct ShellInitArgs {
    /// The shell
    #[arg(value_enum)]
    shell: InitShellArg,

    /// Also refresh the assumed session at the prompt when it has less than
    /// five minutes left (may prompt for an MFA code)
    #[arg(long)]
    refresh: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InitShellArg {
    Bash,
    Zsh,
    Fish,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}

fn shell_of(format: Format) -> anyhow::Result<Shell> {
    match format {
        Format::Env => Ok(Shell::Posix),
        Format::Fish => Ok(Shell::Fish),
        Format::Json => {
            bail!("--format json is for assume and credential-process; use env or fish")
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The command line after the subcommand, quoted for a shell, for hints.
fn shown_args() -> String {
    std::env::args()
        .skip(2)
        .map(|a| {
            if a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+".contains(c)) {
                a
            } else {
                shell::quote(Shell::Posix, &a)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn refuse_terminal(command: &str) {
    let args = shown_args();
    let line = if args.is_empty() { command.to_owned() } else { format!("{command} {args}") };
    let hint = if command == "credential-process" {
        format!(
            "latchkey: credentials are not printed to a terminal. credential-process is for the AWS SDKs and CLI:\n    credential_process = latchkey {line}\n  in a profile of ~/.aws/config; in a shell use `latchkey assume` or `latchkey exec`."
        )
    } else {
        let mut hint = format!(
            "latchkey: credentials are not printed to a terminal. To use them:\n    eval \"$(latchkey {line})\"    # bash, zsh\n    latchkey {line} --format fish | source    # fish\n"
        );
        if command == "assume" {
            hint.push_str(&format!("    latchkey exec {args} -- COMMAND ARGS...    # one command\n"));
        }
        hint.push_str(&format!(
            "  or once, in your shell's startup file: eval \"$(latchkey shell-init bash)\" (or zsh;\n  fish: latchkey shell-init fish | source); then `latchkey {command} ...` exports directly."
        ));
        hint
    };
    eprintln!("{hint}");
}

fn announce(assumed: &Assumed) {
    let left = assumed
        .creds
        .expiration
        .and_then(|e| {
            assumed.creds.remaining(SystemTime::now()).map(|d| format!(" until {} ({} left)", format_time(e), human(d)))
        })
        .unwrap_or_default();
    let cached = if assumed.cached { ", from the cache" } else { "" };
    eprintln!("latchkey: assumed {}{left}{cached}", assumed.session_arn);
}

async fn assume_request(req: &AssumeRequest) -> anyhow::Result<Assumed> {
    Client::load_for(req).await?.assume(req, &TerminalUi::default()).await
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).context("writing to stdout")
}

pub fn assume(args: AssumeArgs) -> anyhow::Result<ExitCode> {
    let req = args.role.request()?;
    let assumed = runtime()?.block_on(assume_request(&req))?;
    announce(&assumed);
    if std::io::stdout().is_terminal() {
        refuse_terminal("assume");
        return Ok(ExitCode::SUCCESS);
    }
    match args.format {
        Format::Json => print(&format!("{}\n", assumed.creds.process_json()))?,
        format => {
            let changes = stack::push(&env, &latchkey_client::frame(&assumed, &req))?;
            print(&shell::render(shell_of(format)?, &changes))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn unassume(args: UnassumeArgs) -> anyhow::Result<ExitCode> {
    let shell = shell_of(args.format)?;
    let depth = stack::decode(&env(stack::STACK_VAR).unwrap_or_default())?.len();
    let restored = stack::beneath(&env)?;
    let changes = stack::pop(&env)?;
    if depth == 0 {
        eprintln!("latchkey: nothing assumed to unwind; clearing the AWS credential variables");
    } else {
        let who = restored
            .get("LATCHKEY_ROLE_ARN")
            .map(|r| format!("role {r}"))
            .or_else(|| restored.get("AWS_ACCESS_KEY_ID").map(|k| format!("access key {k}")))
            .unwrap_or_else(|| "the identity from your profile or default chain".to_owned());
        eprintln!("latchkey: back to {who} ({} level{} left)", depth - 1, if depth == 2 { "" } else { "s" });
    }
    if std::io::stdout().is_terminal() && restored.contains_key("AWS_SECRET_ACCESS_KEY") {
        refuse_terminal("unassume");
        return Ok(ExitCode::SUCCESS);
    }
    print(&shell::render(shell, &changes))?;
    Ok(ExitCode::SUCCESS)
}

pub fn exec(args: ExecArgs) -> anyhow::Result<ExitCode> {
    let req = args.role.request()?;
    let assumed = runtime()?.block_on(assume_request(&req))?;
    let changes = stack::push(&env, &latchkey_client::frame(&assumed, &req))?;
    let (program, rest) = args.command.split_first().ok_or_else(|| anyhow!("no command given after --"))?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(rest);
    for (name, value) in &changes {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    let status = cmd.status().with_context(|| format!("running `{}`", program.to_string_lossy()))?;
    Ok(exit_code(status))
}

fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    if let Some(code) = status.code() {
        return ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(sig) = status.signal() {
            return ExitCode::from(u8::try_from(128 + (sig & 0x7f)).unwrap_or(1));
        }
    }
    ExitCode::FAILURE
}

pub fn credential_process(args: CredentialProcessArgs) -> anyhow::Result<ExitCode> {
    let req = args.role.request()?;
    let assumed = runtime()?.block_on(assume_request(&req))?;
    if std::io::stdout().is_terminal() {
        announce(&assumed);
        refuse_terminal("credential-process");
        return Ok(ExitCode::SUCCESS);
    }
    print(&format!("{}\n", assumed.creds.process_json()))?;
    Ok(ExitCode::SUCCESS)
}

pub fn whoami(args: WhoamiArgs) -> anyhow::Result<ExitCode> {
    let who = runtime()?.block_on(async {
        let client =
            Client::load(args.profile.as_deref(), args.endpoint_url.as_deref(), args.region.as_deref()).await?;
        client.whoami().await
    })?;
    let mut text = format!(
        "{}\n  account     {}\n  user id     {}\n  access key  {}\n",
        who.arn, who.account, who.user_id, who.access_key_id
    );
    match who.expiration {
        Some(exp) => {
            let left = exp.duration_since(SystemTime::now()).ok();
            text.push_str(&format!(
                "  expires     {} ({} left)\n",
                format_time(exp),
                left.map_or_else(|| "none".to_owned(), human)
            ));
        }
        None => text.push_str("  expires     never (long-term credentials)\n"),
    }
    if let Some(role) = env("LATCHKEY_ROLE_ARN").filter(|_| who.arn.contains(":assumed-role/")) {
        let depth = stack::decode(&env(stack::STACK_VAR).unwrap_or_default()).map_or(0, |f| f.len());
        text.push_str(&format!("  assumed     {role} (latchkey stack depth {depth})\n"));
    }
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The environment variable that carries the request to the refresh child.
const REFRESH_REQUEST: &str = "LATCHKEY_REFRESH_REQUEST";

pub fn refresh(args: RefreshArgs) -> anyhow::Result<ExitCode> {
    let shell = shell_of(args.format)?;
    let Some(target) = env("LATCHKEY_TARGET") else {
        if args.quiet {
            return Ok(ExitCode::SUCCESS);
        }
        bail!("nothing to refresh: no session assumed by latchkey in this shell");
    };
    let left = env("LATCHKEY_EXPIRATION")
        .as_deref()
        .and_then(parse_time)
        .map(|e| e.duration_since(SystemTime::now()).unwrap_or_default());
    if !args.force && left.is_some_and(|l| l > Duration::from_secs(u64::from(args.within))) {
        return Ok(ExitCode::SUCCESS);
    }
    // The session is re-assumed from the identity beneath it, in a child
    // whose environment holds that identity, so every credential source
    // (environment, profile, default chain) sees what the first assume saw.
    let beneath = stack::beneath(&env)?;
    let exe = std::env::current_exe().context("finding the latchkey executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("__refresh-child").env(REFRESH_REQUEST, &target).env_remove(stack::STACK_VAR);
    for name in stack::MANAGED {
        match beneath.get(name) {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    cmd.stdin(std::process::Stdio::null()).stderr(std::process::Stdio::inherit());
    let out = cmd.output().context("running the refresh")?;
    if !out.status.success() {
        return Ok(ExitCode::FAILURE);
    }
    let child: ChildOutput = serde_json::from_slice(&out.stdout).context("reading the refreshed session")?;
    let req: AssumeRequest = serde_json::from_str(&target).context("reading LATCHKEY_TARGET")?;
    let assumed = Assumed {
        creds: child.credentials,
        role_arn: child.role_arn,
        session_arn: child.session_arn,
        session_name: child.session_name,
        cached: child.cached,
    };
    if !args.quiet {
        announce(&assumed);
    }
    if std::io::stdout().is_terminal() {
        refuse_terminal("refresh");
        return Ok(ExitCode::SUCCESS);
    }
    print(&shell::render(shell, &stack::replace(&latchkey_client::frame(&assumed, &req))))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ChildOutput {
    credentials: Creds,
    role_arn: String,
    session_arn: String,
    session_name: String,
    cached: bool,
}

/// The child half of `refresh`: assumes the request in its environment
/// and prints the session as JSON on its stdout, a pipe to the parent.
pub fn refresh_child() -> anyhow::Result<ExitCode> {
    let text = env(REFRESH_REQUEST).ok_or_else(|| anyhow!("{REFRESH_REQUEST} is not set"))?;
    let mut req: AssumeRequest = serde_json::from_str(&text).context("reading the refresh request")?;
    req.no_cache = false;
    if std::io::stdout().is_terminal() {
        bail!("this is the inner half of `latchkey refresh`");
    }
    let assumed = runtime()?.block_on(assume_request(&req))?;
    let out = ChildOutput {
        credentials: assumed.creds,
        role_arn: assumed.role_arn,
        session_arn: assumed.session_arn,
        session_name: assumed.session_name,
        cached: assumed.cached,
    };
    print(&serde_json::to_string(&out)?)?;
    Ok(ExitCode::SUCCESS)
}

pub fn shell_init(args: ShellInitArgs) -> anyhow::Result<ExitCode> {
    let shell = match args.shell {
        InitShellArg::Bash => InitShell::Bash,
        InitShellArg::Zsh => InitShell::Zsh,
        InitShellArg::Fish => InitShell::Fish,
    };
    print(&scripts::script(shell, args.refresh))?;
    Ok(ExitCode::SUCCESS)
}
