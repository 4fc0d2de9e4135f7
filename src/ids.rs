//! Random identifiers: a prefix and 26 lowercase base32 characters (128
//! random bits), so an id says nothing about the person or case behind it.

use ring::rand::{SecureRandom, SystemRandom};

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Length of the random part.
const RANDOM_CHARS: usize = 26;

/// A fresh id such as `case-…` or `doc-…`; `None` only if the system has no
/// secure random source.
pub fn random(prefix: &str) -> Option<String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(format!("{prefix}{}", base32(&bytes)))
}

/// Whether `raw` is `prefix` followed by a random part.
pub fn is_random(prefix: &str, raw: &str) -> bool {
    raw.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == RANDOM_CHARS && rest.bytes().all(|b| BASE32.contains(&b)))
}

/// RFC 4648 base32, lowercase, unpadded.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648() {
        // RFC 4648 section 10, lowercased and unpadded.
        assert_eq!(base32(b"f"), "my");
        assert_eq!(base32(b"foob"), "mzxw6yq");
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
    }

    #[test]
    fn ids_are_random_and_recognised() {
        let a = random("case-").unwrap();
        assert_ne!(a, random("case-").unwrap());
        assert!(is_random("case-", &a));
        assert!(!is_random("doc-", &a));
        assert!(!is_random("case-", "case-../../etc"));
    }
}
