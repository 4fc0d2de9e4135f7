"""A party whose JOSE library is joserfc (Python, on `cryptography`; not
jwcrypto), not ours: an interoperability oracle of
tests/broker/jose_interop.rs, with the commands of jwcrypto_party.py.

    seal DOCUMENT MEDIA_TYPE AUTHOR_PRIVATE_JWK RECIPIENT_PUBLIC_JWK...
        Signs DOCUMENT (compact JWS, EdDSA or ES256 by the key, `cty` the
        media type), encrypts the JWS to every recipient (ECDH-ES+A256KW,
        A256GCM, `cty` JOSE) and prints the general JSON JWE.
    seal-json DOCUMENT MEDIA_TYPE AUTHOR_PRIVATE_JWK RECIPIENT_PUBLIC_JWK...
        The same with the signature in the general JSON serialization
        (`cty` JOSE+JSON).
    sign-manifest MANIFEST_JSON_FILE AUTHOR_PRIVATE_JWK
        Signs the manifest (compact JWS, `typ` ponte-manifest+jws) and
        prints the token.
    open ENVELOPE RECIPIENT_PRIVATE_JWK AUTHOR_PUBLIC_JWK
        Decrypts the JWE, verifies the inner JWS (compact or JSON) and
        prints {"media_type", "document_hex"}.

Key arguments are files holding one JWK each. Needs `pip install
joserfc==1.8.0` (.ci/run does it).
"""

import json
import sys

import warnings

from joserfc import jwe, jws
from joserfc.jwk import JWKRegistry

# joserfc's default registries leave out algorithms it calls optional;
# name the profile's own. It warns that RFC 9864 deprecates the name EdDSA,
# which is still the profile's.
SIGNING = ["EdDSA", "ES256"]
ENCRYPTION = ["ECDH-ES+A256KW", "A256GCM"]
warnings.filterwarnings("ignore", message="EdDSA is deprecated")


def key(path):
    with open(path, "rb") as f:
        return JWKRegistry.import_key(json.load(f))


def alg_of(signer):
    return "EdDSA" if signer.key_type == "OKP" else "ES256"


def signed(path, author, json_form=False, **header):
    """The file at `path` signed by the key at `author` (EdDSA or ES256 by
    the key, its kid, and `header`): a compact JWS, or a general JSON one."""
    with open(path, "rb") as f:
        payload = f.read()
    signer = key(author)
    protected = {"alg": alg_of(signer), "kid": signer.kid, **header}
    if json_form:
        value = jws.serialize_json(
            [{"protected": protected}], payload, signer, algorithms=SIGNING
        )
        return json.dumps(value)
    return jws.serialize_compact(protected, payload, signer, algorithms=SIGNING)


def seal(document, media_type, author, recipients, json_form=False):
    inner = signed(document, author, json_form, cty=media_type)
    protected = {"enc": "A256GCM", "cty": "JOSE+JSON" if json_form else "JOSE"}
    envelope = jwe.GeneralJSONEncryption(protected, inner.encode())
    for path in recipients:
        recipient = key(path)
        envelope.add_recipient({"alg": "ECDH-ES+A256KW", "kid": recipient.kid}, recipient)
    print(json.dumps(jwe.encrypt_json(envelope, None, algorithms=ENCRYPTION)))


def sign_manifest(manifest, author):
    print(signed(manifest, author, typ="ponte-manifest+jws"))


def open_(envelope, recipient, author):
    with open(envelope, "rb") as f:
        value = json.load(f)
    own = key(recipient)
    # joserfc opens every entry it is given, with the one key, so the
    # recipient hands it only its own entry (by the kid in the entry's
    # header, when it has one there), as a holder of one key does; the
    # entries are independent and not authenticated.
    value["recipients"] = [
        entry
        for entry in value["recipients"]
        if entry.get("header", {}).get("kid", own.kid) == own.kid
    ]
    outer = jwe.decrypt_json(value, own, algorithms=ENCRYPTION)
    cty = outer.protected.get("cty")
    assert cty in ("JOSE", "JOSE+JSON"), cty
    if cty == "JOSE":
        inner = jws.deserialize_compact(outer.plaintext, key(author), algorithms=SIGNING)
        header, payload = inner.protected, inner.payload
    else:
        inner = jws.deserialize_json(
            json.loads(outer.plaintext), key(author), algorithms=SIGNING
        )
        header, payload = inner.members[0].headers(), inner.payload
    print(json.dumps({"media_type": header.get("cty"), "document_hex": payload.hex()}))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "seal":
        seal(args[0], args[1], args[2], args[3:])
    elif command == "seal-json":
        seal(args[0], args[1], args[2], args[3:], json_form=True)
    elif command == "sign-manifest":
        sign_manifest(args[0], args[1])
    elif command == "open":
        open_(args[0], args[1], args[2])
    else:
        sys.exit(f"unknown command {command}")
