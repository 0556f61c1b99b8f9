//! `serve`, `init`, `explain` and `migrate`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use anyhow::Context;
use latchkey_model::AccountId;
use latchkey_server::setup::{self, Initialized};
use latchkey_server::state::State;
use latchkey_server::{App, Clock, OffsetClock, ServiceConfig, SystemClock};
use tracing_subscriber::EnvFilter;

use crate::config::{ExplainArgs, InitArgs, LogFormat, MigrateArgs, OutputFormat, ServeArgs, Settings};

fn init_logging(s: &Settings) {
    let filter = EnvFilter::try_new(&s.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    match s.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

pub fn init(args: InitArgs) -> anyhow::Result<()> {
    let s = Settings::for_init(&args)?;
    init_logging(&s);
    let account = s
        .account_id
        .as_deref()
        .map(|a| a.parse::<AccountId>())
        .transpose()
        .context("--account-id")?;
    let done = runtime()?.block_on(setup::init_at(&s.location(), account, SystemClock.now()))?;
    match args.output {
        OutputFormat::Json => {
            let obj = serde_json::json!({
                "AccountId": done.account.to_string(),
                "AccessKeyId": done.access_key_id.as_str(),
                "SecretAccessKey": done.secret.expose(),
            });
            let mut out = std::io::stdout().lock();
            writeln!(out, "{obj}")?;
            eprintln!("{}", describe(&done));
        }
        OutputFormat::Text => println!("{}", describe(&done)),
    }
    Ok(())
}

fn describe(done: &Initialized) -> String {
    let mut text = format!(
        "latchkey: initialised management account {} (root access key {}); root credentials written to {}",
        done.account,
        done.access_key_id,
        done.credentials_path.display()
    );
    if let Some(key) = &done.shared_key_path {
        text.push_str(&format!(
            "; master key in {}: give every node this file (--master-key-file) or its contents (LATCHKEY_MASTER_KEY)",
            key.display()
        ));
    }
    text
}

pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let s = Settings::for_serve(&args)?;
    init_logging(&s);
    runtime()?.block_on(run(s))
}

async fn run(s: Settings) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = match std::env::var("LATCHKEY_UNSAFE_CLOCK_OFFSET_SECS").ok().and_then(|v| v.parse().ok()) {
        // Test-only: lets a test see tokens expire without waiting.
        Some(offset) => {
            tracing::warn!(offset, "LATCHKEY_UNSAFE_CLOCK_OFFSET_SECS is set: the service's clock is shifted (tests only)");
            Arc::new(OffsetClock(offset))
        }
        None => Arc::new(SystemClock),
    };
    let opened = match &s.database_url {
        None => setup::open_at(&s.location(), clock.now())
            .await
            .with_context(|| format!("opening data directory {}", s.data_dir.display()))?,
        Some(url) => setup::open_at(&s.location(), clock.now())
            .await
            .with_context(|| format!("opening database {}", setup::redact_url(url)))?,
    };
    if let Some(done) = &opened.initialized {
        eprintln!("{}", describe(done));
    }
    let store = opened.store;
    let state = State::load(store.clone()).await.context("loading state")?;
    if std::env::var("LATCHKEY_CHECK_SNAPSHOTS").is_ok_and(|v| v == "1") {
        // Test-only: every write also pays for a full load.
        tracing::warn!("LATCHKEY_CHECK_SNAPSHOTS is set: each refreshed snapshot is compared with a full load (tests only)");
        state.check_refreshes(true);
    }
    let bound = state
        .bind_legacy_trusts()
        .await
        .map_err(|e| anyhow::anyhow!("binding the principals of stored trust policies: {}", e.message()))?;
    if bound > 0 {
        tracing::info!(roles = bound, "bound the users and roles of trust policies saved by an older latchkey to their unique ids");
    }
    let trail: Arc<dyn latchkey_audit::TrailStore> = if std::env::var("LATCHKEY_UNSAFE_AUDIT_DISCARD").is_ok_and(|v| v == "1") {
        // Benchmarks only: measures what durable audit costs.
        tracing::warn!("LATCHKEY_UNSAFE_AUDIT_DISCARD=1: audit records are thrown away (benchmarks only)");
        Arc::new(latchkey_audit::DiscardTrail)
    } else {
        setup::open_trail_at(&s.location()).await.context("opening the audit trail")?
    };
    let config = ServiceConfig {
        body_limit: s.body_limit,
        request_timeout: s.request_timeout,
        shutdown_grace: s.shutdown_grace,
        token_key_rotation: s.token_key_rotation,
        encode_authorization_messages: s.encode_authorization_messages,
        extra_regions: s.extra_regions.clone(),
        s3: s.s3.clone(),
        ..ServiceConfig::default()
    };
    // Refuse to start with an S3 upstream that cannot be reached as set.
    let front = latchkey_server::s3::Front::new(&config.s3).map_err(|e| anyhow::anyhow!("the S3 front end: {e}"))?;
    if let Some(up) = front.upstream() {
        tracing::info!(upstream = %up.url(), domain = config.s3.domain.as_deref().unwrap_or("-"), "serving S3 in front of the upstream store");
    }
    drop(front);
    let app = App::new(state, clock, config, trail.clone());
    let period = i64::try_from(s.token_key_rotation.as_secs()).unwrap_or(86_400);
    app.state
        .rotate_token_keys(app.clock.now(), period)
        .await
        .map_err(|e| anyhow::anyhow!("creating the session-token key: {}", e.message()))?;
    let retention = i64::try_from(s.audit_retention.as_secs()).unwrap_or(i64::MAX);
    let maintenance = tokio::spawn(maintain(app.clone(), period, retention));
    // With a shared database: pick up other nodes' writes (returns at once for SQLite).
    let follower = {
        let app = app.clone();
        tokio::spawn(async move { app.state.follow().await })
    };
    // Signal handlers go in before readiness is announced, so a SIGTERM sent
    // as soon as the address is printed is already a graceful stop.
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(s.listen).await.with_context(|| format!("listening on {}", s.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(address = %addr, data_dir = %s.data_dir.display(), "latchkey listening");
    eprintln!("latchkey: listening on http://{addr}");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let grace = s.shutdown_grace;
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop_tx.send(true);
        tokio::time::sleep(grace).await;
        tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests did not finish in time; exiting");
        std::process::exit(1);
    });
    let mut rx = stop_rx;
    latchkey_server::http::serve(app.clone(), listener, async move {
        let _ = rx.wait_for(|stop| *stop).await;
    })
    .await?;
    maintenance.abort();
    follower.abort();
    if let Err(e) = app.flush_role_use().await {
        tracing::warn!(error = %e.message(), "could not record last role use at shutdown");
    }
    if let Err(e) = app.trail.flush().await {
        tracing::error!(error = %e, "could not write the last audit records at shutdown");
    }
    trail.close().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Once a minute: rotate the session-token key when due, persist role use;
/// once an hour (and at start), drop audit records past their retention.
async fn maintain(app: Arc<App>, period: i64, retention: i64) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    let mut minutes: u64 = 0;
    loop {
        tick.tick().await;
        if minutes.is_multiple_of(60) {
            match app.trail.store().purge(app.clock.now().saturating_sub(retention)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(records = n, "dropped audit records past their retention"),
                Err(e) => tracing::warn!(error = %e, "dropping old audit records failed; will retry"),
            }
        }
        minutes += 1;
        if minutes == 1 {
            continue;
        }
        if let Err(e) = app.state.rotate_token_keys(app.clock.now(), period).await {
            tracing::warn!(error = %e.message(), "session-token key rotation failed; will retry");
        }
        if let Err(e) = app.flush_role_use().await {
            tracing::warn!(error = %e.message(), "recording role use failed; will retry");
        }
    }
}

/// Registers SIGTERM and SIGINT now; the returned future completes on either.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}

pub fn explain(args: ExplainArgs) -> anyhow::Result<()> {
    let s = Settings::for_common(&args.common)?;
    let location = s.location();
    init_logging(&Settings { log_level: "warn".into(), ..s });
    let encoded = if args.message == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        text
    } else {
        args.message.clone()
    };
    let encoded = encoded.rsplit("Encoded authorization failure message: ").next().unwrap_or_default().trim().to_owned();
    let record = runtime()?.block_on(async {
        let store = setup::open_existing_at(&location).await?;
        let snap = latchkey_server::state::Snapshot::build(store.load().await?);
        store.close().await;
        anyhow::Ok(snap.token_ring.as_ref().and_then(|ring| latchkey_server::authz::open_message(ring, &encoded)))
    })?;
    let record = record.context("not an authorization message sealed by this data directory's keys (or its key has been retired)")?;
    let field = |v: &serde_json::Value, k: &str| v.get(k).cloned().unwrap_or(serde_json::Value::Null);
    let message = field(&record, "message");
    if args.json {
        println!("{}", serde_json::to_string_pretty(&message)?);
        return Ok(());
    }
    // `pointer` looks paths up without panicking on a malformed record.
    let text = |v: &serde_json::Value, path: &str| v.pointer(path).and_then(|x| x.as_str()).unwrap_or("-").to_owned();
    let items = |v: &serde_json::Value, path: &str| v.pointer(path).and_then(|x| x.as_array()).cloned().unwrap_or_default();
    println!("{}", text(&message, "/reason"));
    println!();
    println!("  account:   {}", text(&record, "/account"));
    println!("  principal: {} ({})", text(&message, "/context/principal/arn"), text(&message, "/context/principal/id"));
    println!("  action:    {}", text(&message, "/context/action"));
    println!("  resource:  {}", text(&message, "/context/resource"));
    let explicit = message.pointer("/explicitDeny").and_then(serde_json::Value::as_bool) == Some(true);
    println!("  decision:  {}", if explicit { "explicit deny" } else { "implicit deny" });
    for st in items(&message, "/matchedStatements/items") {
        let index = st.pointer("/statementIndex").map(ToString::to_string).unwrap_or_default();
        let what = match (st.pointer("/policyId").and_then(|x| x.as_str()), st.pointer("/statementId").and_then(|x| x.as_str())) {
            (Some(p), Some(sid)) => format!("statement `{sid}` of {p}"),
            (Some(p), None) => format!("statement #{index} of {p}"),
            _ => "no statement allowed it".to_owned(),
        };
        println!("  by:        {} ({what})", text(&st, "/policyType"));
    }
    println!("  condition keys of the request:");
    for c in items(&message, "/context/conditions/items") {
        let values: Vec<String> = items(&c, "/values/items").iter().map(|v| text(v, "/value")).collect();
        println!("    {} = {}", text(&c, "/key"), values.join(", "));
    }
    Ok(())
}

pub fn audit_export(args: crate::config::ExportArgs) -> anyhow::Result<()> {
    let s = Settings::for_common(&args.common)?;
    let since = args.since.as_deref().map(|t| latchkey_model::parse_time(t).with_context(|| format!("--since: `{t}` is not RFC 3339 or Unix seconds"))).transpose()?;
    let until = args.until.as_deref().map(|t| latchkey_model::parse_time(t).with_context(|| format!("--until: `{t}` is not RFC 3339 or Unix seconds"))).transpose()?;
    let dir = s.data_dir.join(latchkey_audit::SegmentTrail::DIR_NAME);
    anyhow::ensure!(s.database_url.is_some() || dir.is_dir(), "no audit trail at {}", dir.display());
    let mut out: Box<dyn Write> = match &args.output {
        Some(file) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(file).with_context(|| format!("creating {}", file.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let written = match &s.database_url {
        // The shared trail: every node's forwarded events.
        Some(url) => runtime()?.block_on(latchkey_audit::export_postgres(url, since, until, &mut out))?,
        None => latchkey_audit::export(&dir, since, until, &mut out)?,
    };
    out.flush()?;
    eprintln!("latchkey: exported {written} audit events");
    Ok(())
}

pub fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new("warn").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let to = setup::redact_url(&args.to);
    let version = runtime()?
        .block_on(setup::migrate(&args.from, &args.to))
        .with_context(|| format!("migrating {} to {to}", args.from.display()))?;
    let key = if std::env::var(setup::MASTER_KEY_ENV).is_ok() {
        format!("the master key in {}", setup::MASTER_KEY_ENV)
    } else {
        args.from.join(latchkey_store::MasterKey::FILE_NAME).display().to_string()
    };
    println!(
        "latchkey: copied {} (store version {version}) into {to}; serve it with --database-url and give every node {key}",
        args.from.display()
    );
    Ok(())
}
