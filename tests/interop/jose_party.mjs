// A party whose JOSE library is panva/jose (Node, on WebCrypto and
// node:crypto), not ours: a second interoperability oracle of
// tests/broker/jose_interop.rs, beside jwcrypto_party.py, with the same
// commands.
//
//   seal DOCUMENT MEDIA_TYPE AUTHOR_PRIVATE_JWK RECIPIENT_PUBLIC_JWK...
//       Signs DOCUMENT (compact JWS, EdDSA or ES256 by the key, `cty` the
//       media type), encrypts the JWS to every recipient (ECDH-ES+A256KW,
//       A256GCM, `cty` JOSE) and prints the general JSON JWE.
//   seal-json DOCUMENT MEDIA_TYPE AUTHOR_PRIVATE_JWK RECIPIENT_PUBLIC_JWK...
//       The same with the signature in the flattened JSON serialization
//       (`cty` JOSE+JSON).
//   seal-shared-headers DOCUMENT MEDIA_TYPE AUTHOR_PRIVATE_JWK RECIPIENT_PUBLIC_JWK...
//       The same as seal with `alg` in the shared unprotected header and
//       `apu`/`apv` in the protected one.
//   layouts PLAINTEXT_FILE RECIPIENT_PUBLIC_JWK...
//       Encrypts the file to every recipient in each header layout RFC 7516
//       allows, and prints {"<layout>": general JSON JWE, ...}: `alg` per
//       recipient, in the protected header, in the shared unprotected
//       header, with additional authenticated data (`aad`), with
//       `apu`/`apv` per recipient or in the protected header, and (for the
//       first recipient alone) with `alg` and `kid` in the protected header.
//   sign-manifest MANIFEST_JSON_FILE AUTHOR_PRIVATE_JWK
//       Signs the manifest (compact JWS, `typ` ponte-manifest+jws) and
//       prints the token.
//   open ENVELOPE RECIPIENT_PRIVATE_JWK AUTHOR_PUBLIC_JWK
//       Decrypts the JWE, verifies the inner JWS (compact or JSON) and prints
//       {"media_type", "document_hex"}.
//
// Key arguments are files holding one JWK each. Needs `npm ci` in this
// folder (.ci/run does it).
import { readFileSync } from "node:fs";
import * as jose from "jose";

const jwkOf = (path) => JSON.parse(readFileSync(path, "utf8"));

// A signing key from its file: the key, its alg (EdDSA or ES256 by the
// key) and its kid.
async function signer(path) {
  const jwk = jwkOf(path);
  const alg = jwk.kty === "OKP" ? "EdDSA" : "ES256";
  return { key: await jose.importJWK(jwk, alg), alg, kid: jwk.kid };
}

async function seal(document, mediaType, authorPath, recipientPaths, innerJson, sharedHeaders) {
  const payload = readFileSync(document);
  const { key, alg, kid } = await signer(authorPath);
  const header = { alg, kid, cty: mediaType };
  const inner = innerJson
    ? JSON.stringify(await new jose.FlattenedSign(payload).setProtectedHeader(header).sign(key))
    : await new jose.CompactSign(payload).setProtectedHeader(header).sign(key);
  const keyAlg = "ECDH-ES+A256KW";
  const protectedHeader = { enc: "A256GCM", cty: innerJson ? "JOSE+JSON" : "JOSE" };
  const outer = new jose.GeneralEncrypt(new TextEncoder().encode(inner));
  if (sharedHeaders) {
    // alg for every recipient in the shared header, PartyUInfo and
    // PartyVInfo for every recipient in the protected one.
    outer
      .setProtectedHeader({ ...protectedHeader, apu: "aW9tLXRpcmFuYQ", apv: "Y2FzZTox" })
      .setSharedUnprotectedHeader({ alg: keyAlg });
  } else {
    outer.setProtectedHeader(protectedHeader);
  }
  for (const path of recipientPaths) {
    const r = jwkOf(path);
    outer
      .addRecipient(await jose.importJWK(r, keyAlg))
      .setUnprotectedHeader(sharedHeaders ? { kid: r.kid } : { alg: keyAlg, kid: r.kid });
  }
  process.stdout.write(JSON.stringify(await outer.encrypt()));
}

async function layouts(plaintextPath, recipientPaths) {
  const plaintext = readFileSync(plaintextPath);
  const recipients = [];
  for (const path of recipientPaths) {
    const r = jwkOf(path);
    recipients.push({ kid: r.kid, key: await jose.importJWK(r, "ECDH-ES+A256KW") });
  }
  const alg = "ECDH-ES+A256KW";
  const make = async (protectedHeader, shared, perRecipient, aad, partyInfo) => {
    const e = new jose.GeneralEncrypt(plaintext).setProtectedHeader(protectedHeader);
    if (shared) e.setSharedUnprotectedHeader(shared);
    if (aad) e.setAdditionalAuthenticatedData(new TextEncoder().encode(aad));
    for (const r of recipients) {
      const entry = e.addRecipient(r.key).setUnprotectedHeader(perRecipient(r));
      if (partyInfo) entry.setKeyManagementParameters(partyInfo);
    }
    return e.encrypt();
  };
  const info = (text) => new TextEncoder().encode(text);
  const out = {
    alg_per_recipient: await make({ enc: "A256GCM" }, null, (r) => ({ alg, kid: r.kid })),
    alg_protected: await make({ enc: "A256GCM", alg }, null, (r) => ({ kid: r.kid })),
    alg_shared: await make({ enc: "A256GCM" }, { alg }, (r) => ({ kid: r.kid })),
    aad: await make({ enc: "A256GCM" }, null, (r) => ({ alg, kid: r.kid }), "case:1"),
    // PartyUInfo and PartyVInfo enter the key derivation (RFC 7518 4.6.2),
    // per recipient or for all of them in the protected header.
    party_info_per_recipient: await make({ enc: "A256GCM" }, null, (r) => ({ alg, kid: r.kid }), null,
      { apu: info("iom-tirana"), apv: info("case:1") }),
    party_info_protected: await make({ enc: "A256GCM", apu: "aW9tLXRpcmFuYQ", apv: "Y2FzZTox" }, null,
      (r) => ({ alg, kid: r.kid })),
    // One recipient whose alg and kid are in the protected header, as RFC
    // 7520 5.4 writes it (only the first recipient).
    single_recipient_protected: await (async () => {
      const e = new jose.GeneralEncrypt(plaintext)
        .setProtectedHeader({ enc: "A256GCM", alg, kid: recipients[0].kid });
      e.addRecipient(recipients[0].key);
      return e.encrypt();
    })(),
  };
  process.stdout.write(JSON.stringify(out));
}

async function signManifest(manifestPath, authorPath) {
  const { key, alg, kid } = await signer(authorPath);
  const token = await new jose.CompactSign(readFileSync(manifestPath))
    .setProtectedHeader({ alg, kid, typ: "ponte-manifest+jws" })
    .sign(key);
  process.stdout.write(token);
}

async function open(envelopePath, recipientPath, authorPath) {
  const envelope = JSON.parse(readFileSync(envelopePath, "utf8"));
  const recipient = jwkOf(recipientPath);
  const author = jwkOf(authorPath);
  const { plaintext, protectedHeader } = await jose.generalDecrypt(
    envelope,
    await jose.importJWK(recipient, "ECDH-ES+A256KW"),
  );
  const alg = author.kty === "OKP" ? "EdDSA" : "ES256";
  const authorKey = await jose.importJWK(author, alg);
  const text = new TextDecoder().decode(plaintext);
  let inner;
  if (protectedHeader.cty === "JOSE") {
    inner = await jose.compactVerify(text, authorKey, { algorithms: [alg] });
  } else if (protectedHeader.cty === "JOSE+JSON") {
    // A JSON signature, flattened or general.
    const jws = JSON.parse(text);
    inner = jws.signatures
      ? await jose.generalVerify(jws, authorKey, { algorithms: [alg] })
      : await jose.flattenedVerify(jws, authorKey, { algorithms: [alg] });
  } else {
    throw new Error(`outer cty ${protectedHeader.cty} is neither JOSE nor JOSE+JSON`);
  }
  process.stdout.write(
    JSON.stringify({
      media_type: inner.protectedHeader.cty,
      document_hex: Buffer.from(inner.payload).toString("hex"),
    }),
  );
}

const [command, ...args] = process.argv.slice(2);
if (command === "seal") await seal(args[0], args[1], args[2], args.slice(3), false, false);
else if (command === "seal-json") await seal(args[0], args[1], args[2], args.slice(3), true, false);
else if (command === "seal-shared-headers") await seal(args[0], args[1], args[2], args.slice(3), false, true);
else if (command === "layouts") await layouts(args[0], args.slice(1));
else if (command === "sign-manifest") await signManifest(args[0], args[1]);
else if (command === "open") await open(args[0], args[1], args[2]);
else { console.error(`unknown command ${command}`); process.exit(2); }
