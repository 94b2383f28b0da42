"""GitOps over HTTP with a token: git's own smart-HTTP server (`git http-backend`) behind a small
handler on 127.0.0.1 that demands the token, as GitHub does. The token must reach the server as a
header and never appear in a command line, a URL or an error message."""

from __future__ import annotations

import base64
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_ci.deploy import git as gitmod
from ml_ci.errors import DeployError
from tests.integration.test_gitops import NO_SMOKE, inputs, live
from tests.services import missing
from tests.unit.deploy.helpers import config

BACKEND = "/usr/lib/git-core/git-http-backend"
pytestmark = pytest.mark.integration
TOKEN = "ghs_test0123456789abcdef"


class GitHttpServer:
    """Serves the bare repositories under `root` with git http-backend; refuses requests without the token."""

    def __init__(self, root: Path):
        expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _cgi(self) -> None:
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="gitops"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                env = {
                    "GIT_PROJECT_ROOT": str(root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "REQUEST_METHOD": self.command,
                    "REMOTE_USER": "ci",
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                }
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                out = subprocess.run([BACKEND], input=body, env=env, capture_output=True, check=False).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
                status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
                self.send_response(status)
                for k, v in headers:
                    if k.lower() != "status":
                        self.send_header(k, v.strip())
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _cgi

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[GitHttpServer, Path]]:
    if not Path(BACKEND).exists():
        missing(f"git http-backend is not installed ({BACKEND}; apt-get install git)")
    bare = tmp_path / "srv" / "gitops.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(bare)], check=True)
    server = GitHttpServer(tmp_path / "srv")
    yield server, bare
    server.close()


def test_a_token_travels_as_a_header_only(
    tmp_path: Path, served: tuple[GitHttpServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml_ci.deploy.deployer import Deployer

    server, bare = served
    argv: list[list[str]] = []
    real_run = subprocess.run

    def spy(args: Any, *a: Any, **kw: Any) -> Any:
        argv.append(list(args))
        return real_run(args, *a, **kw)

    monkeypatch.setattr(f"{gitmod.__name__}.subprocess.run", spy)
    cfg = config(
        tmp_path / "repo",
        deploy={
            "strategy": "gitops",
            "environments": [{"name": "staging", **NO_SMOKE}],
            "gitops": {
                "repo": f"{server.url}/gitops.git",
                "path": "apps/tiny",
                "token_env": "GITOPS_TOKEN",
                "allow_insecure_http": True,
            },
        },
    )
    d = Deployer(cfg, {"GITOPS_TOKEN": TOKEN}, check_registry=False, log=lambda _: None)
    assert d.deploy("staging", inputs()).changed
    assert live(bare, "staging").status == "live"
    assert argv and all(TOKEN not in " ".join(a) for a in argv)
    encoded = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert all(encoded not in " ".join(a) for a in argv)
    assert TOKEN not in (bare / "config").read_text()

    wrong = Deployer(cfg, {"GITOPS_TOKEN": "ghs_wrong0123456789"}, check_registry=False, log=lambda _: None)
    with pytest.raises(DeployError) as e:
        wrong.deploy("staging", inputs("127.0.0.1:5000/acme/tiny@sha256:" + "b" * 64))
    assert "ghs_wrong0123456789" not in str(e.value)
    assert str(e.value) == (
        f"git ls-remote failed: fatal: Authentication failed for '{server.url}/gitops.git/' "
        "(check the token in $GITOPS_TOKEN, named by deploy.gitops.token_env)"
    )


def test_a_token_is_never_sent_over_plain_http_unless_allowed(
    tmp_path: Path, served: tuple[GitHttpServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """http:// would carry the token as Basic auth in clear text: refused before git runs at all, unless ml.yaml
    (deploy.gitops.allow_insecure_http) or the environment (ML_CI_GITOPS_ALLOW_HTTP=1) allows it."""
    from ml_ci.deploy.deployer import Deployer

    server, bare = served
    argv: list[list[str]] = []
    real_run = subprocess.run
    monkeypatch.setattr(
        f"{gitmod.__name__}.subprocess.run", lambda args, *a, **kw: argv.append(list(args)) or real_run(args, *a, **kw)
    )
    cfg = config(
        tmp_path / "repo",
        deploy={
            "strategy": "gitops",
            "environments": [{"name": "staging", **NO_SMOKE}],
            "gitops": {"repo": f"{server.url}/gitops.git", "path": "apps/tiny"},
        },
    )
    with pytest.raises(DeployError) as e:
        Deployer(cfg, {"GITOPS_TOKEN": TOKEN}, check_registry=False, log=lambda _: None).deploy("staging", inputs())
    assert str(e.value) == (
        f"deploy.gitops.repo {server.url}/gitops.git is plain http://: git would send the token in "
        "$GITOPS_TOKEN unencrypted (as Basic auth), so nothing was sent; use an https:// URL, or allow "
        "it with deploy.gitops.allow_insecure_http: true in ml.yaml or ML_CI_GITOPS_ALLOW_HTTP=1"
    )
    assert argv == []  # git never ran: the token went nowhere
    allowed = Deployer(cfg, {"GITOPS_TOKEN": TOKEN, "ML_CI_GITOPS_ALLOW_HTTP": "1"}, check_registry=False, log=lambda _: None)
    assert allowed.deploy("staging", inputs()).changed
    assert live(bare, "staging").status == "live"
