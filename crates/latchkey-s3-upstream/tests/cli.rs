//! Starts the real binary on port 0 and speaks plain HTTP/1.1 to it. Having
//! an integration test also makes `cargo test --workspace` build the binary
//! itself, so other crates' tests find it in the target directory.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failure should fail the test loudly"
)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

struct Server {
    child: Child,
    addr: String,
    _root: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Server {
    let root = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey-s3-upstream"))
        .args(["--host", "127.0.0.1", "--port", "0"])
        .args(args)
        .arg(root.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(!addr.ends_with(":0"), "the real port is printed: {addr}");
    Server {
        child,
        addr,
        _root: root,
    }
}

/// Sends one unsigned request; returns the status code and the body.
fn request(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split(' ').nth(1).unwrap().parse().unwrap();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn with_a_key_unsigned_requests_are_refused() {
    let server = start(&[
        "--access-key",
        "AKIDUPSTREAM",
        "--secret-key",
        "upstream-secret",
    ]);
    let (status, body) = request(&server.addr, "GET", "/", b"");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("AccessDenied"), "{body}");
    let (status, _) = request(&server.addr, "PUT", "/some-bucket", b"");
    assert_eq!(status, 403);
}

#[test]
fn without_a_key_it_stores_objects_path_style() {
    let server = start(&[]);
    assert_eq!(request(&server.addr, "PUT", "/a-bucket", b"").0, 200);
    assert_eq!(
        request(&server.addr, "PUT", "/a-bucket/dir/k.txt", b"hello").0,
        200
    );
    assert_eq!(
        request(&server.addr, "GET", "/a-bucket/dir/k.txt", b""),
        (200, "hello".to_owned())
    );
    assert_eq!(
        request(&server.addr, "GET", "/a-bucket/missing", b"").0,
        404
    );
}

#[test]
fn access_and_secret_key_go_together() {
    let out = Command::new(env!("CARGO_BIN_EXE_latchkey-s3-upstream"))
        .args(["--access-key", "AKIDUPSTREAM", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--secret-key"));
}
