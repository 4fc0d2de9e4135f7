//! The Concat KDF of NIST SP 800-56A as JOSE uses it for ECDH-ES (RFC 7518
//! section 4.6.2), with SHA-256.

/// Derives `bits` of key material from the shared secret `z`.
pub fn concat_kdf(z: &[u8], algorithm: &str, apu: &[u8], apv: &[u8], bits: u32) -> Vec<u8> {
    let length = (bits / 8) as usize;
    let mut out = Vec::with_capacity(length + 32);
    let mut counter: u32 = 1;
    while out.len() < length {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&counter.to_be_bytes());
        ctx.update(z);
        for field in [algorithm.as_bytes(), apu, apv] {
            ctx.update(&(field.len() as u32).to_be_bytes());
            ctx.update(field);
        }
        ctx.update(&bits.to_be_bytes());
        out.extend_from_slice(ctx.finish().as_ref());
        counter += 1;
    }
    out.truncate(length);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{b64, b64_decode};

    #[test]
    fn rfc7518_appendix_c_vector() {
        // RFC 7518 appendix C: Alice's ephemeral P-256 key, Bob's static key,
        // ECDH-ES with A128GCM, apu "Alice" (QWxpY2U), apv "Bob" (Qm9i).
        let alice_d = b64_decode("0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo").unwrap();
        let mut bob = vec![4u8];
        bob.extend(b64_decode("weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ").unwrap());
        bob.extend(b64_decode("e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck").unwrap());
        let alice = p256::SecretKey::from_slice(&alice_d).unwrap();
        let bob = p256::PublicKey::from_sec1_bytes(&bob).unwrap();
        let z = p256::ecdh::diffie_hellman(alice.to_nonzero_scalar(), bob.as_affine());
        let apu = b64_decode("QWxpY2U").unwrap();
        let apv = b64_decode("Qm9i").unwrap();
        let key = concat_kdf(z.raw_secret_bytes(), "A128GCM", &apu, &apv, 128);
        assert_eq!(b64(&key), "VqqN6vgjbSBcIijNcacQGg");
    }
}
