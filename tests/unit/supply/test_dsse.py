"""DSSE signing and verification (ml_ci.supply.dsse): the round trip with each supported key, and each
tampering case failing with a message that names what did not match."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from ml_ci.errors import DeployError, OperationalError
from ml_ci.supply import dsse
from ml_ci.supply.dsse import SignatureMismatch

STATEMENT = json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": [{"digest": {"sha256": "ab" * 32}}]}).encode()


@pytest.fixture(scope="module", params=dsse.KINDS)
def pair(request: pytest.FixtureRequest) -> dsse.KeyPair:
    kind: dsse.KeyKind = request.param
    return dsse.generate_keypair(kind)


@pytest.fixture(scope="module")
def other() -> dsse.KeyPair:
    return dsse.generate_keypair("ed25519")


def signed(pair: dsse.KeyPair, payload: bytes = STATEMENT, payload_type: str = dsse.PAYLOAD_TYPE) -> bytes:
    signer = dsse.signer_from_env({dsse.KEY_ENV: pair.private_pem.decode()})
    return dsse.sign(payload, signer, payload_type)


def key(pair: dsse.KeyPair) -> Any:
    return dsse.public_key_from_pem(pair.public_pem, "test key")


def edit(envelope: bytes, **changes: Any) -> bytes:
    data = json.loads(envelope)
    data.update(changes)
    return json.dumps(data).encode()


def test_round_trip(pair: dsse.KeyPair) -> None:
    envelope = signed(pair)
    data = json.loads(envelope)
    assert data["payloadType"] == "application/vnd.in-toto+json"
    assert base64.b64decode(data["payload"]) == STATEMENT
    assert [s["keyid"] for s in data["signatures"]] == [pair.keyid]
    assert dsse.verify(envelope, key(pair)) == STATEMENT


def test_the_key_id_is_the_public_keys_der_fingerprint(pair: dsse.KeyPair) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

    der = load_pem_public_key(pair.public_pem).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert pair.keyid == hashlib.sha256(der).hexdigest()
    assert key(pair).keyid == pair.keyid


def test_ed25519_envelopes_are_the_same_bytes_for_the_same_payload() -> None:
    pair = dsse.generate_keypair("ed25519")
    assert signed(pair) == signed(pair)  # ed25519 signatures are deterministic; ECDSA's are not


def test_a_payload_changed_after_signing_fails(pair: dsse.KeyPair) -> None:
    changed = STATEMENT.replace(b"ab", b"cd")
    envelope = edit(signed(pair), payload=base64.b64encode(changed).decode())
    with pytest.raises(SignatureMismatch) as e:
        dsse.verify(envelope, key(pair), source="provenance of img@sha256:ab")
    assert e.value.reason == "signature"
    assert str(e.value) == (
        f"provenance of img@sha256:ab: the signature by key {pair.keyid} does not verify: the payload or its type was "
        "changed after signing, or the signature was"
    )


def test_a_signature_from_another_key_fails_naming_both_keys(pair: dsse.KeyPair, other: dsse.KeyPair) -> None:
    with pytest.raises(SignatureMismatch) as e:
        dsse.verify(signed(other), key(pair))
    assert e.value.reason == "key-id"
    assert str(e.value) == f"the envelope is signed by key {other.keyid}, not by the expected key {pair.keyid}"


def test_another_keys_signature_under_the_expected_key_id_fails(pair: dsse.KeyPair, other: dsse.KeyPair) -> None:
    """A forger who copies the expected key id onto their own signature gets no further."""
    envelope = json.loads(signed(other))
    envelope["signatures"][0]["keyid"] = pair.keyid
    with pytest.raises(SignatureMismatch, match=f"the signature by key {pair.keyid} does not verify") as e:
        dsse.verify(json.dumps(envelope), key(pair))
    assert e.value.reason == "signature"


def test_a_missing_signature_fails(pair: dsse.KeyPair) -> None:
    for envelope in (edit(signed(pair), signatures=[]), edit(signed(pair), signatures=None)):
        with pytest.raises(SignatureMismatch) as e:
            dsse.verify(envelope, key(pair))
        assert e.value.reason == "no-signature"
        assert str(e.value) == f"the envelope carries no signature (expected one by key {pair.keyid})"


def test_a_wrong_payload_type_fails(pair: dsse.KeyPair) -> None:
    with pytest.raises(SignatureMismatch) as e:
        dsse.verify(signed(pair, payload_type="application/json"), key(pair))
    assert e.value.reason == "payload-type"
    assert str(e.value) == "the envelope: its payload type is 'application/json', not 'application/vnd.in-toto+json'"


def test_a_payload_type_changed_after_signing_fails_as_a_bad_signature(pair: dsse.KeyPair) -> None:
    """DSSE signs the type with the payload: relabelling a signed envelope breaks its signature."""
    envelope = edit(signed(pair, payload_type="application/json"), payloadType=dsse.PAYLOAD_TYPE)
    with pytest.raises(SignatureMismatch) as e:
        dsse.verify(envelope, key(pair))
    assert e.value.reason == "signature"


def test_an_altered_signature_fails(pair: dsse.KeyPair) -> None:
    envelope = json.loads(signed(pair))
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    sig[-1] ^= 1
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    with pytest.raises(SignatureMismatch) as e:
        dsse.verify(json.dumps(envelope), key(pair))
    assert e.value.reason == "signature"


def test_one_good_signature_among_others_verifies(pair: dsse.KeyPair, other: dsse.KeyPair) -> None:
    mine, theirs = json.loads(signed(pair)), json.loads(signed(other))
    mine["signatures"] = theirs["signatures"] + mine["signatures"]
    assert dsse.verify(json.dumps(mine), key(pair)) == STATEMENT


def test_a_signature_without_key_id_is_tried_with_the_key(pair: dsse.KeyPair) -> None:
    """DSSE's keyid is optional (cosign leaves it empty); such a signature counts when the key verifies it."""
    envelope = json.loads(signed(pair))
    del envelope["signatures"][0]["keyid"]
    assert dsse.verify(json.dumps(envelope), key(pair)) == STATEMENT


def test_url_safe_base64_is_read(pair: dsse.KeyPair) -> None:
    envelope = json.loads(signed(pair))
    envelope["payload"] = base64.urlsafe_b64encode(STATEMENT).decode().rstrip("=")
    assert dsse.verify(json.dumps(envelope), key(pair)) == STATEMENT


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "not JSON"),
        ("[]", "expected an object with payload, payloadType, signatures"),
        ('{"payload": 3, "payloadType": "x"}', "its payload is not a base64 string"),
        ('{"payload": "a$b", "payloadType": "x"}', "its payload is not base64"),
        ('{"payload": "", "payloadType": "x", "signatures": {}}', "its signatures are not a list"),
        ('{"payload": "", "payloadType": "x", "signatures": [3]}', r"signatures\[0\] is not an object"),
    ],
)
def test_what_is_not_an_envelope_is_named(text: str, message: str) -> None:
    with pytest.raises(SignatureMismatch, match=f"^sbom.dsse is not a DSSE envelope: .*{message}") as e:
        dsse.verify(text, key(dsse.generate_keypair()), source="sbom.dsse")
    assert e.value.reason == "envelope"


def test_a_mismatch_is_a_deploy_error() -> None:
    assert issubclass(SignatureMismatch, DeployError)
    assert SignatureMismatch("key-id", "x").exit_code == 5


def test_keys_from_files_and_variables(tmp_path: Path, pair: dsse.KeyPair) -> None:
    path = tmp_path / "key.pub"
    path.write_bytes(pair.public_pem)
    assert dsse.public_key_from_file(path).keyid == pair.keyid
    assert dsse.public_key_from_env({dsse.PUBLIC_KEY_ENV: pair.public_pem.decode()}).keyid == pair.keyid
    # A secret stored on one line with literal \n (some CI systems keep them so) is read as well.
    one_line = pair.private_pem.decode().replace("\n", "\\n")
    assert dsse.signer_from_env({"KEY": one_line}, "KEY").public_key.keyid == pair.keyid


def test_an_encrypted_private_key_with_its_password() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, PrivateFormat

    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"pw"))
    signer = dsse.signer_from_env({"K": pem.decode(), "P": "pw"}, "K", "P")
    assert dsse.verify(dsse.sign(b"{}", signer), signer.public_key) == b"{}"
    with pytest.raises(OperationalError, match=r"^P is not set: it should hold the password of the key in K$"):
        dsse.signer_from_env({"K": pem.decode()}, "K", "P")
    with pytest.raises(OperationalError, match=r"^K does not hold a PEM private key that can be read: "):
        dsse.signer_from_env({"K": pem.decode()}, "K")


def test_key_errors_name_where_the_key_came_from(tmp_path: Path, pair: dsse.KeyPair) -> None:
    with pytest.raises(OperationalError, match=f"^{dsse.KEY_ENV} is not set: it should hold the PEM private key"):
        dsse.signer_from_env({})
    with pytest.raises(OperationalError, match=r"^SIGN does not hold a PEM private key that can be read: "):
        dsse.signer_from_env({"SIGN": "hello"}, "SIGN")
    with pytest.raises(OperationalError, match=r"^SIGN does not hold a PEM private key"):
        dsse.signer_from_env({"SIGN": pair.public_pem.decode()}, "SIGN")  # the public half by mistake
    with pytest.raises(OperationalError, match=f"^{dsse.PUBLIC_KEY_ENV} is not set"):
        dsse.public_key_from_env({})
    with pytest.raises(OperationalError, match=re.escape(f"{tmp_path / 'absent.pub'}: the public key cannot be read")):
        dsse.public_key_from_file(tmp_path / "absent.pub")


def test_unsupported_key_types_are_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    k1 = ec.generate_private_key(ec.SECP256K1())
    pem = k1.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    with pytest.raises(OperationalError, match=r"^K holds an ECDSA key on secp256k1; ml-ci signs with ed25519 or ECDSA on P-256"):
        dsse.signer_from_env({"K": pem.decode()}, "K")
    pub = rsa.generate_private_key(65537, 2048).public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(OperationalError, match=r"^rsa\.pub holds an RSA key; "):
        dsse.public_key_from_pem(pub, "rsa.pub")
    with pytest.raises(ValueError, match="unknown key kind 'dsa'"):
        dsse.generate_keypair("dsa")  # type: ignore[arg-type]


def test_ecdsa_p384_keys_sign_too() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    signer = dsse.signer_from_pem(pem, "K")
    assert dsse.verify(dsse.sign(STATEMENT, signer), signer.public_key) == STATEMENT


def test_write_keypair_keeps_the_private_key_to_its_owner_and_overwrites_nothing(tmp_path: Path) -> None:
    private, public = tmp_path / "ml-ci.key", tmp_path / "ml-ci.pub"
    pair = dsse.write_keypair(private, public, "ecdsa-p256")
    assert private.stat().st_mode & 0o777 == 0o600
    assert dsse.signer_from_pem(private.read_bytes(), str(private)).public_key.keyid == pair.keyid
    assert dsse.public_key_from_file(public).keyid == pair.keyid
    with pytest.raises(OperationalError, match=re.escape(f"{private} already exists; ml-ci never overwrites a key")):
        dsse.write_keypair(private, tmp_path / "other.pub")
    assert not (tmp_path / "other.pub").exists()
    with pytest.raises(OperationalError, match="cannot write the key"):
        dsse.write_keypair(tmp_path / "absent" / "k", tmp_path / "absent" / "k.pub")


def test_securesystemslib_reads_and_verifies_the_envelope_itself(pair: dsse.KeyPair) -> None:
    """The envelope is DSSE as the reference library reads it, not a format of ml-ci's own."""
    from securesystemslib.dsse import Envelope

    envelope = Envelope.from_dict(json.loads(signed(pair)))
    assert (envelope.payload, envelope.payload_type) == (STATEMENT, dsse.PAYLOAD_TYPE)
    assert list(envelope.verify([key(pair)], 1)) == [pair.keyid]
