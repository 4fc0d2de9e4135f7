// A party whose JOSE library is node-jose (Cisco's, on Node), not ours and
// not panva/jose: an interoperability oracle of
// tests/broker/jose_interop.rs, with the commands of jwcrypto_party.py.
// node-jose has neither Ed25519 nor X25519, so it signs with P-256 keys
// (ES256) and seals for P-256 recipient keys only.
//
//   seal DOCUMENT MEDIA_TYPE AUTHOR_PRIVATE_JWK RECIPIENT_PUBLIC_JWK...
//       Signs DOCUMENT (compact JWS, ES256, `cty` the media type), encrypts
//       the JWS to every recipient (ECDH-ES+A256KW, A256GCM, `cty` JOSE)
//       and prints the general JSON JWE.
//   sign-manifest MANIFEST_JSON_FILE AUTHOR_PRIVATE_JWK
//       Signs the manifest (compact JWS, `typ` ponte-manifest+jws) and
//       prints the token.
//   open ENVELOPE RECIPIENT_PRIVATE_JWK AUTHOR_PUBLIC_JWK
//       Decrypts the JWE, verifies the inner JWS and prints
//       {"media_type", "document_hex"}.
//
// Key arguments are files holding one JWK each. Needs `npm ci` in this
// folder (.ci/run does it).
import { readFileSync } from "node:fs";
import nodeJose from "node-jose";

const { JWK, JWS, JWE } = nodeJose;
const keyOf = (path) => JWK.asKey(JSON.parse(readFileSync(path, "utf8")));

async function signed(path, authorPath, header) {
  const key = await keyOf(authorPath);
  return JWS.createSign(
    { format: "compact", fields: { alg: "ES256", kid: key.kid, ...header } },
    { key, reference: false },
  )
    .update(readFileSync(path))
    .final();
}

async function seal(document, mediaType, authorPath, recipientPaths) {
  const inner = await signed(document, authorPath, { cty: mediaType });
  const recipients = [];
  for (const path of recipientPaths) {
    const key = await keyOf(path);
    recipients.push({ key, header: { alg: "ECDH-ES+A256KW", kid: key.kid } });
  }
  const envelope = await JWE.createEncrypt(
    { format: "general", contentAlg: "A256GCM", fields: { cty: "JOSE" }, protect: ["enc", "cty"] },
    recipients,
  )
    .update(Buffer.from(inner))
    .final();
  process.stdout.write(JSON.stringify(envelope));
}

async function open(envelopePath, recipientPath, authorPath) {
  const envelope = JSON.parse(readFileSync(envelopePath, "utf8"));
  const own = await keyOf(recipientPath);
  // node-jose reads every entry's ephemeral key, and fails on an X25519
  // one it cannot read, so the recipient hands it only its own entry (by
  // the kid in the entry's header, when it has one there), as a holder of
  // one key does; the entries are independent and not authenticated.
  envelope.recipients = envelope.recipients.filter(
    (entry) => (entry.header?.kid ?? own.kid) === own.kid,
  );
  const outer = await JWE.createDecrypt(own).decrypt(envelope);
  if (outer.protected.indexOf("cty") < 0 || outer.header.cty !== "JOSE") {
    throw new Error(`outer cty ${outer.header.cty} is not a protected JOSE`);
  }
  const inner = await JWS.createVerify(await keyOf(authorPath)).verify(outer.plaintext.toString());
  process.stdout.write(
    JSON.stringify({ media_type: inner.header.cty, document_hex: inner.payload.toString("hex") }),
  );
}

const [command, ...args] = process.argv.slice(2);
if (command === "seal") await seal(args[0], args[1], args[2], args.slice(3));
else if (command === "sign-manifest") process.stdout.write(await signed(args[0], args[1], { typ: "ponte-manifest+jws" }));
else if (command === "open") await open(args[0], args[1], args[2]);
else { console.error(`unknown command ${command}`); process.exit(2); }
