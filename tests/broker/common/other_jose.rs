//! Parties whose JOSE library is not ours, driven through the scripts in
//! `tests/interop/`.

use std::path::PathBuf;

use super::manifest_dir;

/// A JOSE library that is not ours, driven as a party through a script in
/// `tests/interop/` (same commands for each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherJose {
    /// jwcrypto (Python, on `cryptography`): `jwcrypto_party.py`.
    Jwcrypto,
    /// panva/jose (Node, on WebCrypto): `jose_party.mjs`.
    NodeJose,
    /// joserfc (Python, on `cryptography`, not jwcrypto): `joserfc_party.py`.
    Joserfc,
    /// go-jose (Go, on the standard library): `gojose/main.go`.
    GoJose,
    /// latchset's `jose` (C, on OpenSSL): `latchset_jose_party.sh`.
    LatchsetJose,
    /// node-jose (Cisco's, Node): `node_jose_party.mjs`.
    CiscoNodeJose,
}

impl OtherJose {
    pub const ALL: [OtherJose; 6] = [
        OtherJose::Jwcrypto,
        OtherJose::NodeJose,
        OtherJose::Joserfc,
        OtherJose::GoJose,
        OtherJose::LatchsetJose,
        OtherJose::CiscoNodeJose,
    ];

    /// Whether the library has the curve (`Ed25519`, `X25519`, `P-256`):
    /// go-jose has no X25519; latchset's `jose` and node-jose have neither
    /// Ed25519 nor X25519. The others have all of the profile's.
    pub fn has_curve(self, crv: &str) -> bool {
        match self {
            OtherJose::GoJose => crv != "X25519",
            OtherJose::LatchsetJose | OtherJose::CiscoNodeJose => crv == "P-256",
            _ => true,
        }
    }

    /// Runs the party with `args`; its standard output.
    pub fn run<S: AsRef<std::ffi::OsStr>>(self, args: &[S]) -> String {
        let interop = manifest_dir().join("tests/interop");
        let (mut command, needs) = match self {
            OtherJose::Jwcrypto => (
                python(interop.join("jwcrypto_party.py")),
                "`pip install jwcrypto`",
            ),
            OtherJose::NodeJose => {
                let mut node = std::process::Command::new("node");
                node.arg(interop.join("jose_party.mjs"));
                (node, "`npm ci` in tests/interop")
            }
            OtherJose::Joserfc => (
                python(interop.join("joserfc_party.py")),
                "`pip install joserfc==1.8.0`",
            ),
            OtherJose::GoJose => {
                // Debian's go-jose source, in GOPATH mode: nothing is
                // fetched, and Go's build cache makes later runs quick.
                let mut go = std::process::Command::new("go");
                go.args(["run", "main.go"])
                    .current_dir(interop.join("gojose"))
                    .env("GO111MODULE", "off")
                    .env("GOPATH", "/usr/share/gocode")
                    .env("GOFLAGS", "");
                (
                    go,
                    "Debian's golang-go and golang-gopkg-square-go-jose.v2-dev",
                )
            }
            OtherJose::LatchsetJose => {
                let mut bash = std::process::Command::new("bash");
                bash.arg(interop.join("latchset_jose_party.sh"));
                (bash, "Debian's jose")
            }
            OtherJose::CiscoNodeJose => {
                let mut node = std::process::Command::new("node");
                node.arg(interop.join("node_jose_party.mjs"));
                (node, "`npm ci` in tests/interop")
            }
        };
        let out = command.args(args).output().unwrap_or_else(|e| {
            panic!("{self:?} party runs ({needs}, which .ci/run installs): {e}")
        });
        assert!(
            out.status.success(),
            "{self:?} party failed (needs {needs}, which .ci/run installs):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn python(script: PathBuf) -> std::process::Command {
    let mut python = std::process::Command::new("python3");
    python.arg(script);
    python
}
