//! The assume flow, with I/O: source credentials from the AWS SDK's own
//! config loader and providers, profile chains, MFA prompts on the
//! terminal, the cache, AssumeRole / GetSessionToken / GetCallerIdentity
//! against whatever STS endpoint is configured.

use std::io::{BufRead as _, BufReader, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow, bail};
use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata as _};
use aws_types::SdkConfig;
use aws_types::region::Region;

use crate::cache::{self, Cache, Entry, Key};
use crate::creds::{Creds, format_time};
use crate::explain;
use crate::profile::{self, Base, Hop, Plan, Profiles as _};
use crate::request::{self, AssumeRequest};

/// The region STS is called in when nothing configures one (STS's global
/// endpoint lives there; latchkey accepts every AWS region).
const FALLBACK_REGION: &str = "us-east-1";

/// Default lifetime of an MFA-backed session token (GetSessionToken's own default).
const MFA_SESSION_SECS: u32 = 43_200;

/// A role session obtained by `assume`.
#[derive(Debug, Clone)]
pub struct Assumed {
    pub creds: Creds,
    /// The role assumed last (`arn:…:role/NAME`).
    pub role_arn: String,
    /// The session's ARN (`arn:…:assumed-role/NAME/SESSION`).
    pub session_arn: String,
    pub session_name: String,
    /// Whether it came from the cache.
    pub cached: bool,
}

/// Whoever runs the flow: where to say things (stderr) and how to ask for
/// MFA codes.
pub trait Ui {
    fn warn(&self, message: &str);
    fn info(&self, message: &str);
    fn mfa_code(&self, serial: &str) -> anyhow::Result<String>;
}

/// Messages on stderr; MFA codes read from `/dev/tty`, so prompting works
/// while stdout is captured by `eval "$(…)"`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TerminalUi {
    pub quiet: bool,
}

impl Ui for TerminalUi {
    fn warn(&self, message: &str) {
        eprintln!("latchkey: warning: {message}");
    }

    fn info(&self, message: &str) {
        if !self.quiet {
            eprintln!("latchkey: {message}");
        }
    }

    fn mfa_code(&self, serial: &str) -> anyhow::Result<String> {
        let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").map_err(|_| {
            anyhow!("an MFA code is needed for `{serial}` and there is no terminal to ask on: pass --token-code")
        })?;
        let mut out = tty.try_clone().context("opening the terminal")?;
        let mut input = BufReader::new(tty);
        for _ in 0..3 {
            write!(out, "MFA code for {serial}: ").context("writing to the terminal")?;
            out.flush().context("writing to the terminal")?;
            let mut line = String::new();
            if input.read_line(&mut line).context("reading from the terminal")? == 0 {
                break;
            }
            if let Some(code) = request::parse_mfa_code(&line) {
                return Ok(code);
            }
            writeln!(out, "an MFA code is six digits").context("writing to the terminal")?;
        }
        bail!("no valid MFA code entered for `{serial}`")
    }
}

/// The client's context: the loaded AWS config, the profiles, the cache.
pub struct Client {
    sdk: SdkConfig,
    profiles: aws_config::profile::ProfileSet,
    cache: Option<Cache>,
}

/// Names the profiles but never their properties, which hold static keys.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("region", &self.sdk.region())
            .field("endpoint_url", &self.sdk.endpoint_url())
            .field("profiles", &self.profiles.profiles().collect::<Vec<_>>())
            .field("cache", &self.cache)
            .finish()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Client {
    /// Loads the AWS config the way the SDKs do: `profile` (else
    /// `AWS_PROFILE`), `endpoint_url` from the flag, `AWS_ENDPOINT_URL[_STS]`
    /// or the profile, the region from the flag, the environment or the profile.
    pub async fn load(profile: Option<&str>, endpoint_url: Option<&str>, region: Option<&str>) -> anyhow::Result<Self> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        if let Some(e) = endpoint_url {
            loader = loader.endpoint_url(e);
        }
        if let Some(r) = region {
            loader = loader.region(Region::new(r.to_owned()));
        }
        let sdk = loader.load().await;
        let profiles = aws_config::profile::load(
            &aws_types::os_shim_internal::Fs::real(),
            &aws_types::os_shim_internal::Env::real(),
            &aws_runtime::env_config::file::EnvConfigFiles::default(),
            None,
        )
        .await
        .map_err(|e| anyhow!("reading the AWS config files: {}", DisplayErrorContext(&e)))?;
        let cache = cache::default_dir(&env).map(Cache::new);
        Ok(Self { sdk, profiles, cache })
    }

    /// [`Client::load`] for a request: a role profile given as the target
    /// supplies the region and endpoint, as `--profile` does for a role ARN.
    pub async fn load_for(req: &AssumeRequest) -> anyhow::Result<Self> {
        let profile = match &req.profile {
            Some(p) if profile::is_role_arn(&req.target) => Some(p.as_str()),
            _ if !profile::is_role_arn(&req.target) => Some(req.target.as_str()),
            _ => None,
        };
        Self::load(profile, req.endpoint_url.as_deref(), req.region.as_deref()).await
    }

    fn region(&self) -> String {
        self.sdk.region().map_or_else(|| FALLBACK_REGION.to_owned(), |r| r.as_ref().to_owned())
    }

    fn sts(&self, creds: &Creds, endpoint: Option<&str>) -> aws_sdk_sts::Client {
        let mut conf = aws_sdk_sts::config::Builder::from(&self.sdk)
            .region(Region::new(self.region()))
            .credentials_provider(creds.to_sdk());
        if let Some(e) = endpoint {
            conf = conf.endpoint_url(e);
        }
        aws_sdk_sts::Client::from_conf(conf.build())
    }

    /// The plan for a request: base credentials, then each role.
    pub fn plan(&self, req: &AssumeRequest) -> anyhow::Result<Plan> {
        if profile::is_role_arn(&req.target) {
            let mut plan = self.source_plan(req.profile.as_deref())?;
            plan.hops.push(Hop { role_arn: req.target.clone(), ..Hop::default() });
            Ok(plan)
        } else {
            let plan = profile::resolve(&self.profiles, &req.target)?;
            if plan.hops.is_empty() {
                bail!(
                    "profile `{}` has no role_arn, so there is no role to assume: give a role ARN (with --profile {} as its source), or a role profile",
                    req.target,
                    req.target
                );
            }
            Ok(plan)
        }
    }

    /// Where the credentials a role ARN is assumed with come from, in the
    /// standard order: an explicit `--profile` wins; then the environment's
    /// keys; then `AWS_PROFILE` or the `default` profile; then the SDK's
    /// default chain (containers, instance metadata).
    fn source_plan(&self, profile: Option<&str>) -> anyhow::Result<Plan> {
        if let Some(p) = profile {
            return Ok(profile::resolve(&self.profiles, p)?);
        }
        if env("AWS_ACCESS_KEY_ID").is_some() {
            return Ok(Plan { base: Base::Environment, hops: vec![] });
        }
        if let Some(p) = env("AWS_PROFILE").or_else(|| env("AWS_DEFAULT_PROFILE")) {
            return Ok(profile::resolve(&self.profiles, &p)?);
        }
        if self.profiles.exists("default") {
            return Ok(profile::resolve(&self.profiles, "default")?);
        }
        Ok(Plan { base: Base::DefaultChain, hops: vec![] })
    }

    /// The base credentials of a plan.
    async fn base_credentials(&self, base: &Base) -> anyhow::Result<Creds> {
        let provided = match base {
            Base::Environment => {
                let id = env("AWS_ACCESS_KEY_ID").ok_or_else(|| anyhow!("AWS_ACCESS_KEY_ID is not set"))?;
                let secret = env("AWS_SECRET_ACCESS_KEY").ok_or_else(|| anyhow!("AWS_SECRET_ACCESS_KEY is not set"))?;
                return Ok(Creds {
                    access_key_id: id,
                    secret_access_key: secret,
                    session_token: env("AWS_SESSION_TOKEN").or_else(|| env("AWS_SECURITY_TOKEN")),
                    expiration: env("AWS_CREDENTIAL_EXPIRATION").as_deref().and_then(crate::creds::parse_time),
                });
            }
            Base::StaticKeys(name) => {
                let get = |k: &str| self.profiles.get_profile(name).and_then(|p| p.get(k)).map(str::to_owned);
                let (Some(id), Some(secret)) = (get("aws_access_key_id"), get("aws_secret_access_key")) else {
                    bail!(
                        "profile `{name}` names itself as source_profile but has no aws_access_key_id/aws_secret_access_key"
                    );
                };
                return Ok(Creds {
                    access_key_id: id,
                    secret_access_key: secret,
                    session_token: get("aws_session_token"),
                    expiration: None,
                });
            }
            Base::Profile(name) => aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_name(name)
                .build()
                .provide_credentials()
                .await
                .map_err(|e| anyhow!("credentials of profile `{name}`: {}", DisplayErrorContext(&e)))?,
            Base::DefaultChain => aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                .build()
                .await
                .provide_credentials()
                .await
                .map_err(|e| {
                    anyhow!(
                        "no AWS credentials found (environment, shared files, containers, instance metadata): {}",
                        DisplayErrorContext(&e)
                    )
                })?,
        };
        Ok(Creds::from_sdk(&provided))
    }

    /// Assumes what `req` names, hop by hop.
    pub async fn assume(&self, req: &AssumeRequest, ui: &dyn Ui) -> anyhow::Result<Assumed> {
        let plan = self.plan(req)?;
        if req.profile.is_some() && !profile::is_role_arn(&req.target) {
            ui.warn(&format!(
                "--profile is ignored: profile `{}` says where its own credentials come from (source_profile)",
                req.target
            ));
        }
        let endpoint: Option<String> = req
            .endpoint_url
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL_STS"))
            .or_else(|| self.sdk.endpoint_url().map(str::to_owned))
            .or_else(|| profile::endpoint_of(&plan).map(str::to_owned));
        let mut source = self.base_credentials(&plan.base).await?;
        if let Some(exp) = source.expiration
            && source.remaining(SystemTime::now()).is_none()
        {
            bail!(
                "the source credentials ({}) expired at {}: refresh them, or `latchkey unassume`",
                source.access_key_id,
                format_time(exp)
            );
        }
        let mut token_code = req.token_code.clone();
        let last = plan.hops.len().saturating_sub(1);
        let mut result = None;
        for (i, hop) in plan.hops.iter().enumerate() {
            let is_last = i == last;
            let spec = HopSpec::new(hop, if is_last { Some(req) } else { None });
            let chained = if i > 0 { true } else { self.is_role_session(&source, &spec, endpoint.as_deref()).await };
            let assumed =
                self.hop(&source, &spec, chained, endpoint.as_deref(), req.no_cache, &mut token_code, ui).await?;
            source = assumed.creds.clone();
            result = Some(assumed);
        }
        result.ok_or_else(|| anyhow!("nothing to assume"))
    }

    /// Whether `source` is itself a role session: then AWS caps the next
    /// session at an hour. Only asked of the endpoint when it matters.
    async fn is_role_session(&self, source: &Creds, spec: &HopSpec<'_>, endpoint: Option<&str>) -> bool {
        if !source.is_temporary() {
            return false;
        }
        if env("LATCHKEY_ROLE_ARN").is_some() && env("AWS_ACCESS_KEY_ID").as_deref() == Some(&source.access_key_id) {
            return true;
        }
        if spec.duration.is_none_or(|d| d <= request::CHAIN_CAP_SECS) {
            return false;
        }
        match self.sts(source, endpoint).get_caller_identity().send().await {
            Ok(id) => id.arn().is_some_and(|a| a.contains(":assumed-role/")),
            Err(_) => false,
        }
    }

    #[expect(clippy::too_many_arguments, reason = "one hop of the flow, called from one place")]
    async fn hop(
        &self,
        source: &Creds,
        spec: &HopSpec<'_>,
        chained: bool,
        endpoint: Option<&str>,
        no_cache: bool,
        token_code: &mut Option<String>,
        ui: &dyn Ui,
    ) -> anyhow::Result<Assumed> {
        let (duration, warning) = request::chain_capped(spec.duration, chained, spec.role_arn);
        if let Some(w) = warning {
            ui.warn(&w);
        }
        let region = self.region();
        let endpoint_key = endpoint.unwrap_or("default");
        let mut serial = spec.serial_number;

        // With an MFA session configured, the code goes to GetSessionToken
        // once; the role is then assumed with that session, which carries
        // the MFA, so further roles need no new code until it expires.
        let mfa_source;
        let mut source = source;
        if let Some(s) = serial
            && spec.mfa_session
            && !source.is_temporary()
        {
            mfa_source =
                self.mfa_session(source, s, spec.mfa_session_duration, endpoint, no_cache, token_code, ui).await?;
            source = &mfa_source;
            serial = None;
        }

        let key = Key {
            kind: "assume-role",
            endpoint: endpoint_key,
            region: &region,
            source_key_id: &source.access_key_id,
            role_arn: spec.role_arn,
            session_name: spec.session_name,
            duration,
            external_id: spec.external_id,
            serial_number: serial,
            source_identity: spec.source_identity,
            policy: spec.policy,
            policy_arns: spec.policy_arns,
            tags: spec.tags,
            transitive_tag_keys: spec.transitive_tag_keys,
        };
        if !no_cache
            && let Some(cache) = &self.cache
            && let Some(entry) = cache.get(&key, SystemTime::now())
        {
            return Ok(Assumed {
                creds: entry.credentials,
                role_arn: spec.role_arn.to_owned(),
                session_arn: entry.arn,
                session_name: entry.session_name.unwrap_or_default(),
                cached: true,
            });
        }

        let session_name = spec.session_name.map_or_else(
            || {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                request::default_session_name(env("USER").or_else(|| env("LOGNAME")).as_deref(), now)
            },
            str::to_owned,
        );
        let code = match serial {
            Some(s) => Some(match token_code.take() {
                Some(c) => request::parse_mfa_code(&c).ok_or_else(|| anyhow!("--token-code must be six digits"))?,
                None => ui.mfa_code(s)?,
            }),
            None => None,
        };
        let mut call = self
            .sts(source, endpoint)
            .assume_role()
            .role_arn(spec.role_arn)
            .role_session_name(&session_name)
            .set_duration_seconds(duration.map(|d| i32::try_from(d).unwrap_or(i32::MAX)))
            .set_external_id(spec.external_id.map(str::to_owned))
            .set_serial_number(serial.map(str::to_owned))
            .set_token_code(code)
            .set_source_identity(spec.source_identity.map(str::to_owned))
            .set_policy(spec.policy.map(str::to_owned));
        for arn in spec.policy_arns {
            call = call.policy_arns(aws_sdk_sts::types::PolicyDescriptorType::builder().arn(arn).build());
        }
        for (k, v) in spec.tags {
            let tag = aws_sdk_sts::types::Tag::builder().key(k).value(v).build().context("building a session tag")?;
            call = call.tags(tag);
        }
        for k in spec.transitive_tag_keys {
            call = call.transitive_tag_keys(k);
        }
        let out = match call.send().await {
            Ok(out) => out,
            Err(err) => {
                return Err(self
                    .explain_failure(
                        source,
                        endpoint,
                        spec,
                        serial.is_some(),
                        err.as_service_error().map(|e| (e.code(), e.message())),
                        &err,
                    )
                    .await);
            }
        };
        let creds =
            Creds::from_sts(out.credentials().ok_or_else(|| anyhow!("AssumeRole answered without credentials"))?);
        let session_arn = out.assumed_role_user().map(|u| u.arn().to_owned()).unwrap_or_default();
        let entry =
            Entry { credentials: creds.clone(), arn: session_arn.clone(), session_name: Some(session_name.clone()) };
        if let Some(cache) = &self.cache {
            if no_cache {
                cache.remove(&key);
            } else if let Err(e) = cache.put(&key, &entry) {
                ui.warn(&format!("could not cache the session in {}: {e}", cache.dir().display()));
            }
        }
        Ok(Assumed { creds, role_arn: spec.role_arn.to_owned(), session_arn, session_name, cached: false })
    }

    #[expect(clippy::too_many_arguments, reason = "one step of the flow, called from one place")]
    async fn mfa_session(
        &self,
        source: &Creds,
        serial: &str,
        duration: Option<u32>,
        endpoint: Option<&str>,
        no_cache: bool,
        token_code: &mut Option<String>,
        ui: &dyn Ui,
    ) -> anyhow::Result<Creds> {
        let region = self.region();
        let duration = duration.unwrap_or(MFA_SESSION_SECS);
        let key = Key {
            kind: "session-token",
            endpoint: endpoint.unwrap_or("default"),
            region: &region,
            source_key_id: &source.access_key_id,
            role_arn: "",
            session_name: None,
            duration: Some(duration),
            external_id: None,
            serial_number: Some(serial),
            source_identity: None,
            policy: None,
            policy_arns: &[],
            tags: &[],
            transitive_tag_keys: &[],
        };
        if !no_cache
            && let Some(cache) = &self.cache
            && let Some(entry) = cache.get(&key, SystemTime::now())
        {
            return Ok(entry.credentials);
        }
        let code = match token_code.take() {
            Some(c) => request::parse_mfa_code(&c).ok_or_else(|| anyhow!("--token-code must be six digits"))?,
            None => ui.mfa_code(serial)?,
        };
        let out = self
            .sts(source, endpoint)
            .get_session_token()
            .duration_seconds(i32::try_from(duration).unwrap_or(i32::MAX))
            .serial_number(serial)
            .token_code(code)
            .send()
            .await
            .map_err(|err| match err.as_service_error() {
                Some(e) => anyhow!(
                    "GetSessionToken with MFA device `{serial}` failed: {}: {}",
                    e.code().unwrap_or("error"),
                    e.message().unwrap_or_default()
                ),
                None => anyhow!("GetSessionToken failed: {}", transport(&err, endpoint)),
            })?;
        let creds =
            Creds::from_sts(out.credentials().ok_or_else(|| anyhow!("GetSessionToken answered without credentials"))?);
        if let Some(cache) = &self.cache
            && !no_cache
        {
            let entry = Entry { credentials: creds.clone(), arn: String::new(), session_name: None };
            if let Err(e) = cache.put(&key, &entry) {
                ui.warn(&format!("could not cache the MFA session in {}: {e}", cache.dir().display()));
            }
        }
        Ok(creds)
    }

    async fn explain_failure<E: std::error::Error + Send + Sync + 'static, R: std::fmt::Debug + 'static>(
        &self,
        source: &Creds,
        endpoint: Option<&str>,
        spec: &HopSpec<'_>,
        mfa_given: bool,
        service: Option<(Option<&str>, Option<&str>)>,
        err: &aws_sdk_sts::error::SdkError<E, R>,
    ) -> anyhow::Error {
        let Some((code, message)) = service else {
            return anyhow!("AssumeRole on `{}` failed: {}", spec.role_arn, transport(err, endpoint));
        };
        let code = code.unwrap_or("error");
        let message = message.unwrap_or_default();
        let caller = message
            .strip_prefix("User: ")
            .and_then(|m| m.split_once(" is not authorized"))
            .map(|(arn, _)| arn.to_owned());
        let failure = explain::Failure {
            code,
            message,
            role_arn: spec.role_arn,
            caller_arn: caller.as_deref(),
            mfa_given,
            external_id_given: spec.external_id.is_some(),
        };
        // Best effort: the caller may not be allowed to decode.
        let decoded = match explain::split_encoded(message).1 {
            Some(blob) if code == "AccessDenied" => self
                .sts(source, endpoint)
                .decode_authorization_message()
                .encoded_message(blob)
                .send()
                .await
                .ok()
                .and_then(|o| o.decoded_message().and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())),
            _ => None,
        };
        anyhow!(explain::explain(&failure, decoded.as_ref()))
    }

    /// GetCallerIdentity for the current credentials (the standard chain).
    pub async fn whoami(&self) -> anyhow::Result<WhoAmI> {
        let provider = self.sdk.credentials_provider().ok_or_else(|| anyhow!("no AWS credentials are configured"))?;
        let provided = provider.provide_credentials().await.map_err(|e| {
            anyhow!(
                "no usable AWS credentials (environment, shared files, containers, instance metadata): {}",
                DisplayErrorContext(&e)
            )
        })?;
        let mut creds = Creds::from_sdk(&provided);
        if creds.expiration.is_none() && env("AWS_ACCESS_KEY_ID").as_deref() == Some(&creds.access_key_id) {
            creds.expiration = env("AWS_CREDENTIAL_EXPIRATION").as_deref().and_then(crate::creds::parse_time);
        }
        if let Some(exp) = creds.expiration
            && creds.remaining(SystemTime::now()).is_none()
        {
            bail!(
                "the credentials ({}) expired at {}: `latchkey unassume`, or assume the role again",
                creds.access_key_id,
                format_time(exp)
            );
        }
        let endpoint = self.sdk.endpoint_url().map(str::to_owned);
        let id = self.sts(&creds, endpoint.as_deref()).get_caller_identity().send().await.map_err(|err| {
            match err.as_service_error().map(|e| (e.code(), e.message())) {
                Some((Some("ExpiredToken"), _)) => {
                    anyhow!(
                        "the credentials ({}) have expired: `latchkey unassume`, or assume the role again",
                        creds.access_key_id
                    )
                }
                Some((code, message)) => anyhow!(
                    "GetCallerIdentity refused the credentials ({}): {}: {}",
                    creds.access_key_id,
                    code.unwrap_or("error"),
                    message.unwrap_or_default()
                ),
                None => anyhow!("GetCallerIdentity failed: {}", transport(&err, endpoint.as_deref())),
            }
        })?;
        Ok(WhoAmI {
            arn: id.arn().unwrap_or_default().to_owned(),
            account: id.account().unwrap_or_default().to_owned(),
            user_id: id.user_id().unwrap_or_default().to_owned(),
            access_key_id: creds.access_key_id.clone(),
            expiration: creds.expiration,
        })
    }
}

/// A failure that is not STS's answer (no connection, a timeout, a bad
/// response): what happened and its root cause, and the endpoint.
fn transport(err: &(dyn std::error::Error + 'static), endpoint: Option<&str>) -> String {
    let mut root = err;
    while let Some(next) = root.source() {
        root = next;
    }
    let cause = if std::ptr::addr_eq(root, err) { String::new() } else { format!(": {root}") };
    format!("{err}{cause} (endpoint: {})", endpoint.unwrap_or("the default STS endpoint for the region"))
}

/// The result of `whoami`.
#[derive(Debug, Clone)]
pub struct WhoAmI {
    pub arn: String,
    pub account: String,
    pub user_id: String,
    pub access_key_id: String,
    pub expiration: Option<SystemTime>,
}

/// One hop's parameters: the profile's, overridden for the last hop by
/// what the command line says.
#[derive(Debug)]
struct HopSpec<'a> {
    role_arn: &'a str,
    session_name: Option<&'a str>,
    duration: Option<u32>,
    external_id: Option<&'a str>,
    serial_number: Option<&'a str>,
    source_identity: Option<&'a str>,
    policy: Option<&'a str>,
    policy_arns: &'a [String],
    tags: &'a [(String, String)],
    transitive_tag_keys: &'a [String],
    mfa_session: bool,
    mfa_session_duration: Option<u32>,
}

impl<'a> HopSpec<'a> {
    fn new(hop: &'a Hop, req: Option<&'a AssumeRequest>) -> Self {
        let mut spec = HopSpec {
            role_arn: &hop.role_arn,
            session_name: hop.session_name.as_deref(),
            duration: hop.duration,
            external_id: hop.external_id.as_deref(),
            serial_number: hop.mfa_serial.as_deref(),
            source_identity: None,
            policy: None,
            policy_arns: &[],
            tags: &[],
            transitive_tag_keys: &[],
            mfa_session: hop.mfa_session,
            mfa_session_duration: None,
        };
        if let Some(r) = req {
            spec.session_name = r.session_name.as_deref().or(spec.session_name);
            spec.duration = r.duration.or(spec.duration);
            spec.external_id = r.external_id.as_deref().or(spec.external_id);
            spec.serial_number = r.serial_number.as_deref().or(spec.serial_number);
            spec.source_identity = r.source_identity.as_deref();
            spec.policy = r.policy.as_deref();
            spec.policy_arns = &r.policy_arns;
            spec.tags = &r.tags;
            spec.transitive_tag_keys = &r.transitive_tag_keys;
            spec.mfa_session = r.mfa_session || spec.mfa_session;
            spec.mfa_session_duration = r.mfa_session_duration;
        }
        spec
    }
}
