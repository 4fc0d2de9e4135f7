// A party whose JOSE library is go-jose (Go, on the standard library's
// crypto), not ours: an interoperability oracle of
// tests/broker/jose_interop.rs, with the commands of jwcrypto_party.py.
// go-jose has no X25519 key agreement, so its envelopes are for P-256
// recipient keys only; it signs with Ed25519 and P-256 keys.
//
//	seal DOCUMENT MEDIA_TYPE AUTHOR_PRIVATE_JWK RECIPIENT_PUBLIC_JWK...
//	    Signs DOCUMENT (compact JWS, EdDSA or ES256 by the key, `cty` the
//	    media type), encrypts the JWS to every recipient (ECDH-ES+A256KW,
//	    A256GCM, `cty` JOSE) and prints the general JSON JWE.
//	sign-manifest MANIFEST_JSON_FILE AUTHOR_PRIVATE_JWK
//	    Signs the manifest (compact JWS, `typ` ponte-manifest+jws) and
//	    prints the token.
//	open ENVELOPE RECIPIENT_PRIVATE_JWK AUTHOR_PUBLIC_JWK
//	    Decrypts the JWE, verifies the inner JWS and prints
//	    {"media_type", "document_hex"}.
//
// Key arguments are files holding one JWK each. Built against Debian's
// golang-go and golang-gopkg-square-go-jose.v2-dev (.ci/run installs them)
// in GOPATH mode: GO111MODULE=off GOPATH=/usr/share/gocode go run .
package main

import (
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	jose "gopkg.in/square/go-jose.v2"
)

func key(path string) jose.JSONWebKey {
	raw, err := os.ReadFile(path)
	check(err)
	var k jose.JSONWebKey
	check(json.Unmarshal(raw, &k))
	return k
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// signed is the file at path signed by the key at author: a compact JWS,
// EdDSA or ES256 by the key, with its kid and the extra header.
func signed(path, author string, extra map[jose.HeaderKey]interface{}) string {
	payload, err := os.ReadFile(path)
	check(err)
	signer := key(author)
	alg := jose.EdDSA
	if _, ok := signer.Key.(*ecdsa.PrivateKey); ok {
		alg = jose.ES256
	}
	options := &jose.SignerOptions{ExtraHeaders: extra}
	// A JSONWebKey as the signing key writes its kid into the header.
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: signer}, options)
	check(err)
	object, err := s.Sign(payload)
	check(err)
	token, err := object.CompactSerialize()
	check(err)
	return token
}

// general turns go-jose's flattened serialization, which it writes for one
// recipient, into the general one the profile takes; it says the same.
func general(serialized string) string {
	var value map[string]interface{}
	check(json.Unmarshal([]byte(serialized), &value))
	if _, ok := value["recipients"]; !ok {
		entry := map[string]interface{}{}
		for _, member := range []string{"header", "encrypted_key"} {
			if v, ok := value[member]; ok {
				entry[member] = v
			}
		}
		delete(value, "header")
		delete(value, "encrypted_key")
		value["recipients"] = []interface{}{entry}
	}
	out, err := json.Marshal(value)
	check(err)
	return string(out)
}

func seal(document, mediaType, author string, recipients []string) {
	inner := signed(document, author, map[jose.HeaderKey]interface{}{"cty": mediaType})
	var to []jose.Recipient
	for _, path := range recipients {
		r := key(path)
		to = append(to, jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: r.Key, KeyID: r.KeyID})
	}
	options := (&jose.EncrypterOptions{}).WithContentType("JOSE")
	encrypter, err := jose.NewMultiEncrypter(jose.A256GCM, to, options)
	check(err)
	object, err := encrypter.Encrypt([]byte(inner))
	check(err)
	fmt.Print(general(object.FullSerialize()))
}

func open(envelope, recipient, author string) {
	raw, err := os.ReadFile(envelope)
	check(err)
	outer, err := jose.ParseEncrypted(string(raw))
	check(err)
	own := key(recipient)
	_, header, plaintext, err := outer.DecryptMulti(own.Key)
	check(err)
	if cty := header.ExtraHeaders[jose.HeaderContentType]; cty != "JOSE" {
		check(fmt.Errorf("envelope cty %v, not JOSE", cty))
	}
	inner, err := jose.ParseSigned(string(plaintext))
	check(err)
	document, err := inner.Verify(key(author).Key)
	check(err)
	out, err := json.Marshal(map[string]interface{}{
		"media_type":   inner.Signatures[0].Protected.ExtraHeaders[jose.HeaderContentType],
		"document_hex": hex.EncodeToString(document),
	})
	check(err)
	fmt.Print(string(out))
}

func main() {
	if len(os.Args) < 2 {
		check(fmt.Errorf("usage: seal | sign-manifest | open"))
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "seal":
		seal(args[0], args[1], args[2], args[3:])
	case "sign-manifest":
		fmt.Print(signed(args[0], args[1], map[jose.HeaderKey]interface{}{"typ": "ponte-manifest+jws"}))
	case "open":
		open(args[0], args[1], args[2])
	default:
		check(fmt.Errorf("unknown command %s", os.Args[1]))
	}
}
