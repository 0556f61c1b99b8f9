//! `latchkey-s3-upstream`: a test-only S3 server to stand behind latchkey's
//! S3 front end.
//!
//! It is `s3s-fs`'s file-system S3 server (Apache-2.0), built from the
//! library so that it shares the workspace's build cache; the server setup
//! follows `s3s-fs` 0.14.1's own `main.rs`. Requests are SigV4-verified
//! against one access key (`s3s`'s `SimpleAuth`), path-style by default and
//! virtual-hosted-style for each `--domain`.
//!
//! Once the listener is bound it prints one line, `listening on
//! http://ADDR:PORT`, to stdout and flushes it, so a test can start it with
//! `--port 0` and read the real port from that line. Logs go to stderr
//! (`RUST_LOG`, default `error`).

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::S3Result;
use s3s::auth::SimpleAuth;
use s3s::host::{MultiDomain, S3Host, VirtualHost};
use s3s::service::S3ServiceBuilder;
use s3s_fs::FileSystem;
use tokio::net::TcpListener;

/// A file-system S3 server (s3s-fs) for latchkey's tests. Not for production.
#[derive(Debug, Parser)]
#[command(version)]
struct Opt {
    /// Host name or address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,

    /// Port to listen on; 0 picks a free one (the real one is printed).
    #[arg(long, default_value_t = 8014)]
    port: u16,

    /// Access key that requests must be signed with.
    #[arg(long, requires = "secret_key")]
    access_key: Option<String>,

    /// Secret key for --access-key.
    #[arg(long, requires = "access_key")]
    secret_key: Option<String>,

    /// Base domain for virtual-hosted-style requests (BUCKET.DOMAIN);
    /// may be repeated. Path-style requests work either way.
    #[arg(long, value_parser = parse_domain)]
    domain: Vec<String>,

    /// Root directory of the stored data (created if missing); each bucket
    /// is a subdirectory.
    root: PathBuf,
}

fn parse_domain(s: &str) -> Result<String, String> {
    if s.contains('/') {
        Err(format!(
            "expected a domain name, found a URL-like string: {s:?}"
        ))
    } else {
        Ok(s.to_owned())
    }
}

fn main() -> anyhow::Result<()> {
    let opt = Opt::parse();

    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?
        .block_on(run(opt))
}

async fn run(opt: Opt) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opt.root)
        .with_context(|| format!("creating {}", opt.root.display()))?;
    let fs = FileSystem::new(&opt.root)
        .map_err(|e| anyhow::anyhow!("opening {}: {e:?}", opt.root.display()))?;

    let service = {
        let mut b = S3ServiceBuilder::new(fs);
        if let (Some(ak), Some(sk)) = (opt.access_key, opt.secret_key) {
            b.set_auth(SimpleAuth::from_single(ak, sk));
            tracing::info!("authentication is enabled");
        }
        if !opt.domain.is_empty() {
            let domains = MultiDomain::new(&opt.domain).context("parsing --domain")?;
            b.set_host(PortStripping(domains));
            tracing::info!("virtual-hosted-style requests are enabled");
        }
        b.build()
    };

    let mut shutdown = std::pin::pin!(shutdown_signal()?);
    let listener = TcpListener::bind((opt.host.as_str(), opt.port))
        .await
        .with_context(|| format!("binding {}:{}", opt.host, opt.port))?;
    announce(listener.local_addr().context("reading the bound address")?)?;

    let http_server = ConnBuilder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();

    loop {
        let socket = tokio::select! {
            res = listener.accept() => match res {
                Ok((socket, _)) => socket,
                Err(err) => {
                    tracing::error!("error accepting connection: {err}");
                    continue;
                }
            },
            () = shutdown.as_mut() => break,
        };
        // Small responses must not wait for a delayed ACK (Nagle).
        let _ = socket.set_nodelay(true);
        let conn = http_server.serve_connection(TokioIo::new(socket), service.clone());
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }

    tokio::select! {
        () = graceful.shutdown() => tracing::debug!("shut down gracefully"),
        () = tokio::time::sleep(std::time::Duration::from_secs(10)) => {
            tracing::debug!("waited 10 seconds for graceful shutdown, aborting");
        }
    }
    Ok(())
}

/// `s3s` 0.14 hands the whole `Host` header, port included, to the host
/// parser, and `MultiDomain` then takes `bucket.domain:port` (or, for a
/// path-style request, `domain:port`) for a custom bucket domain; so match
/// on the name alone. (Hosts that are IP literals never get here.)
#[derive(Debug)]
struct PortStripping(MultiDomain);

impl S3Host for PortStripping {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.parse::<u16>().is_ok() => name,
            _ => host,
        };
        self.0.parse_host_header(name)
    }
}

/// The one line tests wait for; `SocketAddr`'s display brackets IPv6.
fn announce(addr: SocketAddr) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{addr}")?;
    out.flush()?;
    Ok(())
}

/// SIGINT or SIGTERM (Ctrl-C elsewhere). On Unix the handlers are installed
/// before this returns, so a signal sent as soon as the address is announced
/// stops the server gracefully instead of killing it outright.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
