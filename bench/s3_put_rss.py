"""Peak RSS of latchkey while a 1 GiB object is PUT through its S3 front end
in one request, then read back (issue #17: "a 1 GiB upload stays under 100 MB
RSS"). Starts the workspace's test upstream (s3s-fs) and latchkey from
LATCHKEY_BIN_DIR (default target/debug), writes a 1 GiB file in a temp dir.

    cargo build -p latchkey -p latchkey-s3-upstream
    .venv/bin/python bench/s3_put_rss.py
"""
import os, subprocess, sys, time, threading, tempfile, pathlib, boto3, botocore.config, json
BIN = os.environ.get("LATCHKEY_BIN_DIR", str(pathlib.Path(__file__).resolve().parents[1] / "target" / "debug"))
tmp = pathlib.Path(tempfile.mkdtemp())
up = subprocess.Popen([f"{BIN}/latchkey-s3-upstream", "--port", "0", "--access-key", "UPK", "--secret-key", "UPS", str(tmp / "s3")], stdout=subprocess.PIPE, text=True)
upurl = up.stdout.readline().split("listening on ")[1].strip()
env = dict(os.environ, LATCHKEY_S3_UPSTREAM_ACCESS_KEY_ID="UPK", LATCHKEY_S3_UPSTREAM_SECRET_ACCESS_KEY="UPS", LATCHKEY_LOG="warn")
lk = subprocess.Popen([f"{BIN}/latchkey", "serve", "--data-dir", str(tmp / "lk"), "--listen", "127.0.0.1:0", "--s3-upstream", upurl], stderr=subprocess.PIPE, text=True, env=env)
for line in lk.stderr:
    if line.startswith("latchkey: listening on "):
        ep = line.split("listening on ")[1].strip(); break
threading.Thread(target=lambda: [None for _ in lk.stderr], daemon=True).start()
kv = dict(l.split(" = ", 1) for l in (tmp / "lk" / "root-credentials").read_text().splitlines() if " = " in l)
c = boto3.client("s3", endpoint_url=ep, region_name="us-east-1", aws_access_key_id=kv["aws_access_key_id"], aws_secret_access_key=kv["aws_secret_access_key"], config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}))
c.create_bucket(Bucket="big")
f = tmp / "gib.bin"
with open(f, "wb") as o:
    chunk = os.urandom(1 << 20)
    for _ in range(1024): o.write(chunk)
def rss(pid, key):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith(key): return int(l.split()[1]) // 1024
print("latchkey RSS before (MiB):", rss(lk.pid, "VmRSS"))
t = time.time()
with open(f, "rb") as body:
    c.put_object(Bucket="big", Key="gib.bin", Body=body)
print("1 GiB single PUT through latchkey: %.1f s" % (time.time() - t))
print("latchkey peak RSS (VmHWM, MiB):", rss(lk.pid, "VmHWM"))
t = time.time()
n = 0
for piece in c.get_object(Bucket="big", Key="gib.bin")["Body"].iter_chunks(1 << 20): n += len(piece)
print("1 GiB GET through latchkey: %.1f s, %d bytes" % (time.time() - t, n))
print("latchkey peak RSS after GET (VmHWM, MiB):", rss(lk.pid, "VmHWM"))
lk.kill(); up.kill()
