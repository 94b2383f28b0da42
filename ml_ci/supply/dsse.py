"""DSSE envelopes: a statement about the image, signed with a key from a secret, checked with its public key.

Docs draft. *Why*: the SBOM and the provenance say what an image is and where it came from; a signature
says who vouches for that, so that a deploy can refuse a document that someone else wrote or changed.
GitHub's artifact attestations sign keyless in a workflow that has an OIDC token; a self-hosted runner or a
laptop has none, so ml-ci signs with a key of its own. *What*: `sign` wraps a payload (an in-toto statement:
payloadType `application/vnd.in-toto+json`) in a DSSE envelope (https://github.com/secure-systems-lab/dsse)
signed over DSSE's pre-authentication encoding, which covers the payload type and the payload, with a
private key read from an environment variable that holds a PEM (a CI secret): ed25519 or ECDSA (P-256,
P-384, P-521), through securesystemslib's signer API. `verify` returns the payload only when a signature
in the envelope verifies with the expected public key (a PEM file or variable) and the payload type is the
expected one; otherwise it raises `SignatureMismatch` (a DeployError, exit 5) that says which of these did
not match: the envelope itself, the payload type, no signature at all, signatures by other keys only (their
key ids are named), or a signature by the expected key id that does not verify (the payload or its type was
changed after signing, or the signature was). `generate_keypair` makes a key pair, `write_keypair` into
two files (the private one 0600, never overwritten).

The key id is the key's fingerprint: the sha256 of its public key in DER (SubjectPublicKeyInfo), which
anyone can compute with `openssl pkey -pubin -in key.pub -outform DER | sha256sum`. It is a hint for finding
the key, never trusted by itself: a signature counts only once the key verifies it.

*What it trusts*: the public key it is given, and nothing in the envelope but what that key signed. Whoever
holds the private key can sign anything, so it belongs in a secret of the release job only; the deploy
jobs need the public key alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ml_ci.errors import DeployError, OperationalError

PAYLOAD_TYPE = "application/vnd.in-toto+json"
MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"  # an envelope as an OCI artifact (the in-toto/DSSE convention)
KEY_ENV = "ML_CI_SIGNING_KEY"  # the default variable holding the private key's PEM
PUBLIC_KEY_ENV = "ML_CI_VERIFY_KEY"  # the default variable holding the public key's PEM
KeyKind = Literal["ed25519", "ecdsa-p256"]
KINDS: tuple[KeyKind, ...] = ("ed25519", "ecdsa-p256")

Reason = Literal["envelope", "payload-type", "no-signature", "key-id", "signature"]


class SignatureMismatch(DeployError):
    """Verification failed; `reason` says what did not match, the message says it in words."""

    def __init__(self, reason: Reason, message: str):
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes  # PKCS#8, unencrypted: what the signing secret holds
    public_pem: bytes  # SubjectPublicKeyInfo: what the verifiers get
    keyid: str


def fingerprint(public_key: Any) -> str:
    """The key id of a cryptography public key: sha256 of its DER SubjectPublicKeyInfo, in hex."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return hashlib.sha256(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def _pem(text: str | bytes) -> bytes:
    """A PEM as a secret may hold it: some CI systems keep a multi-line value with literal `\\n`s."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if b"-----BEGIN" in data and b"\n" not in data.strip() and b"\\n" in data:
        data = data.replace(b"\\n", b"\n")
    return data.strip() + b"\n"


def _check_kind(key: Any, source: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    public = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(public, ed25519.Ed25519PublicKey):
        return
    if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1 | ec.SECP384R1 | ec.SECP521R1):
        return
    if isinstance(public, ec.EllipticCurvePublicKey):
        what = f"an ECDSA key on {public.curve.name}"
    else:
        kind = type(public).__name__.removeprefix("_").removesuffix("PublicKey")
        what = f"an {kind} key" if kind[:1] in "AEIORU" else f"a {kind} key"
    raise OperationalError(f"{source} holds {what}; ml-ci signs with ed25519 or ECDSA on P-256, P-384 or P-521")


def _sslib_key(public_key: Any) -> Any:
    # securesystemslib.signer exports these by importing them, without __all__, which mypy's strict mode flags.
    from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]

    return SSlibKey.from_crypto(public_key, keyid=fingerprint(public_key))


def signer_from_pem(pem: str | bytes, source: str, password: bytes | None = None) -> Any:
    """A securesystemslib CryptoSigner of the private key in pem; `source` names where it came from in errors."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner  # type: ignore[attr-defined]

    try:
        private = load_pem_private_key(_pem(pem), password=password)
    except (ValueError, TypeError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise OperationalError(f"{source} does not hold a PEM private key that can be read: {why}") from None
    _check_kind(private, source)
    return CryptoSigner(private, _sslib_key(private.public_key()))


def signer_from_env(env: Mapping[str, str], name: str = KEY_ENV, password_name: str | None = None) -> Any:
    """The signer of the private key whose PEM the variable `name` holds (a CI secret); OperationalError when it
    is unset or not a supported key. `password_name` names a variable with the key's password, if encrypted."""
    value = env.get(name, "")
    if not value.strip():
        raise OperationalError(
            f"{name} is not set: it should hold the PEM private key that signs the image's attestations "
            "(ed25519 or ECDSA P-256; ml_ci.supply.dsse.generate_keypair makes one)"
        )
    password = None
    if password_name:
        if not env.get(password_name):
            raise OperationalError(f"{password_name} is not set: it should hold the password of the key in {name}")
        password = env[password_name].encode("utf-8")
    return signer_from_pem(value, name, password)


def public_key_from_pem(pem: str | bytes, source: str) -> Any:
    """The securesystemslib key (key id: its fingerprint) of a PEM public key; OperationalError naming source."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        public = load_pem_public_key(_pem(pem))
    except (ValueError, TypeError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise OperationalError(f"{source} does not hold a PEM public key that can be read: {why}") from None
    _check_kind(public, source)
    return _sslib_key(public)


def public_key_from_file(path: Path) -> Any:
    try:
        pem = path.read_bytes()
    except OSError as e:
        raise OperationalError(f"{path}: the public key cannot be read ({e.strerror or e})") from None
    return public_key_from_pem(pem, str(path))


def public_key_from_env(env: Mapping[str, str], name: str = PUBLIC_KEY_ENV) -> Any:
    value = env.get(name, "")
    if not value.strip():
        raise OperationalError(
            f"{name} is not set: it should hold the PEM public key that the image's signatures are checked with"
        )
    return public_key_from_pem(value, name)


def generate_keypair(kind: KeyKind = "ed25519") -> KeyPair:
    """A new key pair: the private key's PEM goes into the signing secret, the public key's to the verifiers."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    if kind == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    elif kind == "ecdsa-p256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"unknown key kind {kind!r}; expected one of {', '.join(KINDS)}")
    return KeyPair(
        private_pem=private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
        public_pem=private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        keyid=fingerprint(private.public_key()),
    )


def write_keypair(private_path: Path, public_path: Path, kind: KeyKind = "ed25519") -> KeyPair:
    """A new key pair written to two files: the private key readable by its owner only (0600), created, never
    overwritten (OperationalError naming a file that is already there, before anything is written)."""
    import os

    for path in (private_path, public_path):
        if path.exists():
            raise OperationalError(f"{path} already exists; ml-ci never overwrites a key (remove it or choose another path)")
    pair = generate_keypair(kind)
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pair.private_pem)
        public_path.write_bytes(pair.public_pem)
    except OSError as e:
        raise OperationalError(f"{e.filename or private_path}: cannot write the key ({e.strerror or e})") from None
    return pair


def _pae(payload_type: str, payload: bytes) -> bytes:
    from securesystemslib.dsse import Envelope

    return Envelope(payload, payload_type, {}).pae()


def sign(payload: bytes, signer: Any, payload_type: str = PAYLOAD_TYPE) -> bytes:
    """The DSSE envelope (JSON, sorted keys) of payload signed by signer (`signer_from_env`)."""
    from securesystemslib.dsse import Envelope

    envelope = Envelope(payload, payload_type, {})
    envelope.sign(signer)
    return json.dumps(envelope.to_dict(), sort_keys=True, separators=(",", ":")).encode("utf-8")


def _b64(value: Any, what: str, source: str) -> bytes:
    """DSSE allows standard and URL-safe base64."""
    if not isinstance(value, str):
        raise SignatureMismatch("envelope", f"{source} is not a DSSE envelope: its {what} is not a base64 string")
    try:
        alphabet = "-_" in value
        return (base64.urlsafe_b64decode if alphabet else base64.b64decode)(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise SignatureMismatch("envelope", f"{source} is not a DSSE envelope: its {what} is not base64") from None


@dataclass(frozen=True)
class _Signature:
    keyid: str
    sig: bytes


def _parse(envelope: bytes | str, source: str) -> tuple[str, bytes, list[_Signature]]:
    try:
        data = json.loads(envelope)
    except ValueError as e:
        raise SignatureMismatch("envelope", f"{source} is not a DSSE envelope: not JSON ({e})") from None
    if not isinstance(data, dict) or not {"payload", "payloadType"} <= set(data):
        raise SignatureMismatch(
            "envelope", f"{source} is not a DSSE envelope: expected an object with payload, payloadType, signatures"
        )
    payload_type = data["payloadType"]
    if not isinstance(payload_type, str):
        raise SignatureMismatch("envelope", f"{source} is not a DSSE envelope: its payloadType is not a string")
    payload = _b64(data["payload"], "payload", source)
    rows = data.get("signatures")
    rows = [] if rows is None else rows  # absent or null: no signature, which verify names
    if not isinstance(rows, list):
        raise SignatureMismatch("envelope", f"{source} is not a DSSE envelope: its signatures are not a list")
    signatures = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise SignatureMismatch("envelope", f"{source} is not a DSSE envelope: signatures[{i}] is not an object")
        keyid = row.get("keyid") or ""
        signatures.append(_Signature(keyid=str(keyid), sig=_b64(row.get("sig"), f"signatures[{i}].sig", source)))
    return payload_type, payload, signatures


def verify(envelope: bytes | str, key: Any, *, payload_type: str = PAYLOAD_TYPE, source: str = "the envelope") -> bytes:
    """The payload of envelope when a signature in it by key (`public_key_from_file`/`_env`) verifies and its
    payload type is payload_type; SignatureMismatch (exit 5) naming what did not match otherwise. `source`
    names the envelope in messages (the image and the artifact it was found as)."""
    from securesystemslib.exceptions import UnverifiedSignatureError, VerificationError
    from securesystemslib.signer import Signature  # type: ignore[attr-defined]

    found_type, payload, signatures = _parse(envelope, source)
    if found_type != payload_type:
        raise SignatureMismatch("payload-type", f"{source}: its payload type is {found_type!r}, not {payload_type!r}")
    if not signatures:
        raise SignatureMismatch("no-signature", f"{source} carries no signature (expected one by key {key.keyid})")
    # A signature without a key id (DSSE makes it optional) is tried with the key as well.
    mine = [s for s in signatures if s.keyid in (key.keyid, "")]
    if not mine:
        others = ", ".join(sorted({s.keyid for s in signatures}))
        raise SignatureMismatch("key-id", f"{source} is signed by key {others}, not by the expected key {key.keyid}")
    pae = _pae(found_type, payload)
    for s in mine:
        try:
            key.verify_signature(Signature(key.keyid, s.sig.hex()), pae)
        except (UnverifiedSignatureError, VerificationError):
            continue
        return payload
    raise SignatureMismatch(
        "signature",
        f"{source}: the signature by key {key.keyid} does not verify: the payload or its type was changed after "
        "signing, or the signature was",
    )
