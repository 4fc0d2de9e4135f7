#!/usr/bin/env bash
# A party whose JOSE implementation is latchset's `jose` (C, on OpenSSL; the
# library behind Clevis and Tang), not ours: an interoperability oracle of
# tests/broker/jose_interop.rs, with the commands of jwcrypto_party.py. It
# has neither Ed25519 nor X25519, so it signs with P-256 keys (ES256) and
# seals for P-256 recipient keys only.
#
#   seal DOCUMENT MEDIA_TYPE AUTHOR_PRIVATE_JWK RECIPIENT_PUBLIC_JWK...
#       Signs DOCUMENT (compact JWS, ES256, `cty` the media type), encrypts
#       the JWS to every recipient (ECDH-ES+A256KW, A256GCM, `cty` JOSE) and
#       prints the general JSON JWE.
#   sign-manifest MANIFEST_JSON_FILE AUTHOR_PRIVATE_JWK
#       Signs the manifest (compact JWS, `typ` ponte-manifest+jws) and
#       prints the token.
#   open ENVELOPE RECIPIENT_PRIVATE_JWK AUTHOR_PUBLIC_JWK
#       Decrypts the JWE, verifies the inner JWS and prints
#       {"media_type", "document_hex"}.
#
# Key arguments are files holding one JWK each. Needs Debian's `jose`
# package (.ci/run installs it).
set -euo pipefail

kid() { jose fmt -j "$1" -O -g kid -u-; }

# signed FILE AUTHOR HEADER_JSON: FILE signed by AUTHOR (ES256, its kid and
# the header's members), compact.
signed() {
  local protected
  protected=$(jose fmt -j "$3" -O -q ES256 -s alg -U -q "$(kid "$2")" -s kid -U -o-)
  jose jws sig -I "$1" -k "$2" -s "{\"protected\":$protected}" -c -o-
}

case "$1" in
  seal)
    document=$2 media_type=$3 author=$4
    shift 4
    inner=$(mktemp)
    trap 'rm -f "$inner"' EXIT
    signed "$document" "$author" "{\"cty\":\"$media_type\"}" >"$inner"
    args=()
    for recipient in "$@"; do
      args+=(-r "{\"header\":{\"alg\":\"ECDH-ES+A256KW\",\"kid\":\"$(kid "$recipient")\"}}" -k "$recipient")
    done
    # It writes one recipient in the flattened syntax; the profile takes
    # the general syntax, which says the same.
    jose jwe enc -i '{"protected":{"enc":"A256GCM","cty":"JOSE"}}' -I "$inner" "${args[@]}" -o- |
      python3 -c '
import json, sys
value = json.load(sys.stdin)
if "recipients" not in value:
    value["recipients"] = [{m: value.pop(m) for m in ("header", "encrypted_key") if m in value}]
print(json.dumps(value))'
    ;;
  sign-manifest)
    signed "$2" "$3" '{"typ":"ponte-manifest+jws"}'
    ;;
  open)
    envelope=$2 recipient=$3 author=$4
    cty=$(jose fmt -j "$envelope" -O -g protected -S -y -O -g cty -u-)
    [ "$cty" = JOSE ] || { echo "envelope cty $cty, not JOSE" >&2; exit 1; }
    inner=$(jose jwe dec -i "$envelope" -k "$recipient")
    document_hex=$(jose jws ver -i "$inner" -k "$author" -O- | od -An -v -tx1 | tr -d ' \n')
    media_type=$(printf %s "${inner%%.*}" | jose b64 dec -i- | jose fmt -j- -O -g cty -u-)
    printf '{"media_type":"%s","document_hex":"%s"}\n' "$media_type" "$document_hex"
    ;;
  *)
    echo "unknown command $1" >&2
    exit 1
    ;;
esac
