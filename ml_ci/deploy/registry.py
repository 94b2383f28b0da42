"""Check that a digest exists in its registry (`HEAD /v2/<name>/manifests/<digest>`) before any deploy.

Speaks the OCI distribution API with urllib: plain HTTP for loopback registries (as Docker treats
them), HTTPS elsewhere, and the Bearer token challenge that ghcr.io and Docker Hub use.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, Optional

from ml_ci.config.model import Image
from ml_ci.errors import DeployError, OperationalError
from ml_ci.records.imageref import ImageRef

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_LOOPBACK = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$")


def base_url(registry: str) -> str:
    return f"{'http' if _LOOPBACK.match(registry) else 'https'}://{registry}"


def credentials(image: Image, env: Mapping[str, str]) -> Optional[tuple[str, str]]:
    user = env.get(image.registry_username_env) if image.registry_username_env else None
    password = env.get(image.registry_password_env) if image.registry_password_env else None
    return (user or "token", password) if password else None


def _challenge(header: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def _request(url: str, headers: dict[str, str], method: str = "HEAD", timeout: float = 15) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), b""
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise OperationalError(f"the registry at {url.split('/v2/')[0]} does not answer ({reason})") from None


def _token(challenge: dict[str, str], repository: str, auth: Optional[tuple[str, str]]) -> str:
    query = {"service": challenge.get("service", ""), "scope": f"repository:{repository}:pull"}
    url = f"{challenge['realm']}?{urllib.parse.urlencode(query)}"
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    status, _, body = _request(url, headers, method="GET")
    if status != 200:
        raise DeployError(f"the registry refused a pull token for {repository} (HTTP {status}); check the registry credentials")
    data = json.loads(body or b"{}")
    return str(data.get("token") or data.get("access_token") or "")


def _fetch(ref: ImageRef, path: str, auth: Optional[tuple[str, str]], method: str = "HEAD") -> tuple[int, bytes]:
    """One request to /v2/<repository>/<path>, answering the registry's auth challenge when it makes one."""
    url = f"{base_url(ref.registry)}/v2/{ref.repository}/{path}"
    headers = {"Accept": ACCEPT}
    status, resp_headers, body = _request(url, headers, method)
    challenge_header = next((v for k, v in resp_headers.items() if k.lower() == "www-authenticate"), "")
    if status == 401 and challenge_header.lower().startswith("bearer"):
        headers["Authorization"] = f"Bearer {_token(_challenge(challenge_header), ref.repository, auth)}"
        status, _, body = _request(url, headers, method)
    elif status == 401 and auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        status, _, body = _request(url, headers, method)
    return status, body


def labels(ref: ImageRef, *, auth: Optional[tuple[str, str]] = None) -> dict[str, str]:
    """The image's labels, from its config blob (for an index: its linux/amd64 image, else its first)."""

    def get(path: str) -> Any:
        status, body = _fetch(ref, path, auth, "GET")
        if status != 200:
            raise DeployError(f"{ref}: the registry answered HTTP {status} to GET /v2/{ref.repository}/{path}")
        try:
            return json.loads(body)
        except json.JSONDecodeError:
            raise DeployError(f"{ref}: the registry sent something that is not JSON for {path}") from None

    manifest = get(f"manifests/{ref.digest}")
    if isinstance(manifest.get("manifests"), list) and manifest["manifests"]:
        entries = manifest["manifests"]
        chosen = next((m for m in entries if (m.get("platform") or {}).get("architecture") == "amd64"), entries[0])
        manifest = get(f"manifests/{chosen['digest']}")
    config_digest = (manifest.get("config") or {}).get("digest")
    if not isinstance(config_digest, str):
        return {}
    found = (get(f"blobs/{config_digest}").get("config") or {}).get("Labels") or {}
    return {str(k): str(v) for k, v in found.items()}


def check_digest(ref: ImageRef, *, auth: Optional[tuple[str, str]] = None) -> None:
    """Raise DeployError unless the registry has the manifest `ref` names."""
    status, _ = _fetch(ref, f"manifests/{ref.digest}", auth)
    if status == 200:
        return
    if status == 404:
        raise DeployError(
            f"{ref}: the registry {ref.registry} has no such manifest; push the image first "
            "(`ml-ci build --push`) or check the digest"
        )
    if status in (401, 403):
        raise DeployError(
            f"{ref}: the registry denied access (HTTP {status}); check image.registry_username_env/registry_password_env"
        )
    raise DeployError(f"{ref}: the registry answered HTTP {status} to a manifest check")
