"""A party whose JOSE library is jwcrypto (Python, on `cryptography`), not
ours: the interoperability oracle of tests/broker/jose_interop.rs.

    seal DOCUMENT MEDIA_TYPE AUTHOR_PRIVATE_JWK RECIPIENT_PUBLIC_JWK...
        Signs DOCUMENT (compact JWS, EdDSA or ES256 by the key, `cty` the
        media type), encrypts the JWS to every recipient (ECDH-ES+A256KW,
        A256GCM, `cty` JOSE) and prints the general JSON JWE.
    sign-manifest MANIFEST_JSON_FILE AUTHOR_PRIVATE_JWK
        Signs the manifest (compact JWS, `typ` ponte-manifest+jws) and
        prints the token.
    open ENVELOPE RECIPIENT_PRIVATE_JWK AUTHOR_PUBLIC_JWK
        Decrypts the JWE, verifies the inner JWS (compact or JSON) and prints
        {"media_type", "document_hex"}.

Key arguments are files holding one JWK each.
"""

import json
import sys

from jwcrypto import jwe, jwk, jws


def key(path):
    with open(path, "rb") as f:
        return jwk.JWK.from_json(f.read())


def general(serialized):
    """jwcrypto writes one recipient in the flattened syntax; the profile
    takes the general syntax, which says the same."""
    value = json.loads(serialized)
    if "recipients" not in value:
        entry = {"header": value.pop("header")}
        if "encrypted_key" in value:
            entry["encrypted_key"] = value.pop("encrypted_key")
        value["recipients"] = [entry]
    return json.dumps(value)


def signed(path, author, **header):
    """The file at `path` signed by the key at `author` (compact JWS; EdDSA
    or ES256 by the key, its kid, and `header`)."""
    with open(path, "rb") as f:
        payload = f.read()
    signer = key(author)
    alg = "EdDSA" if signer.get("kty") == "OKP" else "ES256"
    token = jws.JWS(payload)
    token.add_signature(
        signer, None, json.dumps({"alg": alg, "kid": signer.get("kid"), **header})
    )
    return token.serialize(compact=True)


def seal(document, media_type, author, recipients):
    inner = signed(document, author, cty=media_type)
    envelope = jwe.JWE(inner.encode(), protected=json.dumps({"enc": "A256GCM", "cty": "JOSE"}))
    for path in recipients:
        recipient = key(path)
        envelope.add_recipient(
            recipient, header=json.dumps({"alg": "ECDH-ES+A256KW", "kid": recipient.get("kid")})
        )
    print(general(envelope.serialize()))


def sign_manifest(manifest, author):
    print(signed(manifest, author, typ="ponte-manifest+jws"))


def open_(envelope, recipient, author):
    with open(envelope, "rb") as f:
        text = f.read().decode()
    outer = jwe.JWE()
    outer.deserialize(text, key=key(recipient))
    cty = json.loads(outer.objects["protected"]).get("cty")
    assert cty in ("JOSE", "JOSE+JSON"), cty
    # jwcrypto reads the compact and the JSON serializations alike.
    inner = jws.JWS()
    inner.deserialize(outer.payload.decode(), key=key(author))
    header = inner.jose_header
    if isinstance(header, list):  # the general JSON serialization
        header = header[0]
    print(
        json.dumps(
            {
                "media_type": header.get("cty"),
                "document_hex": inner.payload.hex(),
            }
        )
    )


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "seal":
        seal(args[0], args[1], args[2], args[3:])
    elif command == "sign-manifest":
        sign_manifest(args[0], args[1])
    elif command == "open":
        open_(args[0], args[1], args[2])
    else:
        sys.exit(f"unknown command {command}")
