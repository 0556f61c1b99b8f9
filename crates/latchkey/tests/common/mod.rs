//! A latchkey server started for a test: its own temp data dir, a free port,
//! killed on drop.

#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test support: a failure here should fail the test loudly"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

/// Log lines of any server reporting that a snapshot it patched after a
/// write differed from the store (check mode, below): a dropped [`Server`]
/// fails the test holding it when there are any.
static DIVERGED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

pub struct RootCreds {
    pub account: String,
    pub access_key_id: String,
    pub secret: String,
}

pub struct Server {
    child: Option<Child>,
    pub endpoint: String,
    pub dir: tempfile::TempDir,
    pub root: RootCreds,
}

/// `latchkey init --output json` in `dir`.
pub fn init(dir: &Path, account: Option<&str>) -> RootCreds {
    let mut cmd = Command::new(BIN);
    cmd.args(["init", "--data-dir"]).arg(dir).args(["--output", "json"]);
    if let Some(a) = account {
        cmd.args(["--account-id", a]);
    }
    let out = cmd.env_remove("LATCHKEY_MASTER_KEY").output().unwrap();
    assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    RootCreds {
        account: v["AccountId"].as_str().unwrap().to_owned(),
        access_key_id: v["AccessKeyId"].as_str().unwrap().to_owned(),
        secret: v["SecretAccessKey"].as_str().unwrap().to_owned(),
    }
}

/// Starts `latchkey serve` on `dir` and waits until it listens.
pub fn spawn(dir: &Path, extra_env: &[(&str, &str)]) -> (Child, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--data-dir"])
        .arg(dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("LATCHKEY_LOG", "warn")
        // Each snapshot patched after a write is compared with a full load.
        .env("LATCHKEY_CHECK_SNAPSHOTS", "1")
        .env_remove("LATCHKEY_MASTER_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("latchkey: listening on ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(addr.to_owned());
            }
            if line.contains("snapshot diverged") {
                DIVERGED.lock().unwrap().push(line.clone());
            }
            if std::env::var_os("LATCHKEY_TEST_ECHO").is_some() {
                eprintln!("[server] {line}");
            }
        }
    });
    let endpoint = rx.recv_timeout(Duration::from_secs(30)).expect("server did not start");
    (child, endpoint)
}

impl Server {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = init(dir.path(), None);
        let (child, endpoint) = spawn(dir.path(), &[]);
        Self { child: Some(child), endpoint, dir, root }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same data dir (a new port).
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        let (child, endpoint) = spawn(self.dir.path(), &[]);
        self.child = Some(child);
        self.endpoint = endpoint;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let diverged = std::mem::take(&mut *DIVERGED.lock().unwrap());
        if !std::thread::panicking() {
            assert!(diverged.is_empty(), "a server's incremental snapshot diverged from the store:\n{}", diverged.join("\n"));
        }
    }
}

pub async fn sdk_config(endpoint: &str, key: &str, secret: &str, token: Option<&str>) -> aws_config::SdkConfig {
    let creds = aws_credential_types::Credentials::new(key, secret, token.map(str::to_owned), None, "test");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .load()
        .await
}
