"""The README's "Two commands", run as written (issue #15), so they cannot
drift from what works and from what CI runs.

- The serve command is run through a shell exactly as the README writes it,
  from the repository root; only its data directory and listen address are
  moved, through LATCHKEY_DATA_DIR and LATCHKEY_LISTEN (settings the README
  documents), so it neither touches ./latchkey-data nor needs port 7300.
  scripts/test builds the release binary first, so here cargo only checks it.
- The test command is not run again from inside itself: CI's entry point,
  .ci/run, must run exactly that command line.
"""

import os
import re
import signal
import subprocess
import threading
import urllib.request

from conftest import REPO, clean_env

# Long enough for a cold release build when this file is run on its own.
BUILD_AND_START_TIMEOUT = 45 * 60


def two_commands():
    readme = (REPO / "README.md").read_text()
    section = re.search(r"^## Two commands\n(.*?)(?=^## )", readme, re.S | re.M)
    assert section, 'README.md has no "## Two commands" section'
    block = re.search(r"^```sh\n(.*?)^```", section.group(1), re.S | re.M)
    assert block, 'the "Two commands" section has no ```sh block'
    commands = [re.sub(r"\s+#.*$", "", line).strip() for line in block.group(1).splitlines()]
    commands = [c for c in commands if c]
    assert len(commands) == 2, f"expected two commands, found {commands}"
    return commands


def test_the_serve_command_as_written_starts_the_service(tmp_path):
    serve, _ = two_commands()
    env = clean_env(LATCHKEY_DATA_DIR=str(tmp_path / "data"), LATCHKEY_LISTEN="127.0.0.1:0")
    proc = subprocess.Popen(["bash", "-c", serve], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    lines, listening = [], threading.Event()
    endpoint = []

    def pump():
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if line.startswith("latchkey: listening on "):
                endpoint.append(line.split("listening on ", 1)[1].strip())
                listening.set()
        listening.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert listening.wait(BUILD_AND_START_TIMEOUT) and endpoint, "serve did not start:\n" + "\n".join(lines)
        with urllib.request.urlopen(endpoint[0] + "/healthz", timeout=10) as r:
            assert r.status == 200 and r.read() == b"ok\n"
        # The first start initialised the data dir and said where the key is.
        assert (tmp_path / "data" / "root-credentials").exists()
        assert any("root-credentials" in l for l in lines), "\n".join(lines)
        # A graceful stop on SIGTERM, as for any service manager.
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(30) == 0, "\n".join(lines)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_ci_runs_the_test_command_as_written():
    _, test = two_commands()
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    commands = [l.strip() for l in ci if l.strip() and not l.lstrip().startswith("#")]
    # .ci/run changes to the repository root, sets CI-only variables, then
    # runs the README's command, and nothing after it.
    assert 'cd "$(dirname "$0")/.."' in commands
    assert commands[-1] == test, f".ci/run must end with the README's test command {test!r}, not {commands[-1]!r}"
    others = [c for c in commands if c != test and not c.startswith(("set ", "cd ", "export "))]
    assert not others, f".ci/run should only set CI-only things before {test!r}: {others}"
