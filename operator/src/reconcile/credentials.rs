//! Generating credentials. The plan only names the Secrets it needs (render output goes into pull
//! requests, so it never holds a value); the apply step creates each Secret once, from the
//! operating system's random source, and never rotates it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::{SecureRandom, SystemRandom};

/// Letters and digits only: the value goes into config files and URLs unescaped.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// A random password of `length` characters.
pub fn password(length: usize) -> String {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(length);
    let mut buf = [0u8; 64];
    // Rejection sampling keeps every character equally likely.
    let limit = u8::MAX - (u8::MAX % ALPHABET.len() as u8);
    while out.len() < length {
        rng.fill(&mut buf).expect("the system random source failed");
        for b in buf {
            if b < limit && out.len() < length {
                out.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
            }
        }
    }
    out
}

/// An RSA-2048 DKIM key pair: the private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`,
/// which OpenSSL 3.0 and rspamd read), and the public key as the base64 of its
/// SubjectPublicKeyInfo, the `p=` tag of the DNS record (RFC 6376 §3.6.1).
pub struct DkimKeyPair {
    pub private_pem: String,
    pub public_base64: String,
}

/// Bits of every DKIM key: what receivers verify everywhere and docker-mailserver advises.
pub const DKIM_RSA_BITS: usize = 2048;

/// Generates a key pair: tens to hundreds of milliseconds of CPU, so callers run it on a
/// blocking thread (see `reconcile::keygen`), never on the reconcile loop.
pub fn dkim_key_pair() -> DkimKeyPair {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, DKIM_RSA_BITS)
        .expect("RSA key generation from the system random source");
    let private_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .expect("a generated RSA key encodes")
        .to_string();
    let public = key
        .to_public_key()
        .to_public_key_der()
        .expect("an RSA public key encodes");
    DkimKeyPair {
        private_pem,
        public_base64: STANDARD.encode(public.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_have_the_length_and_alphabet_asked_and_differ() {
        let a = password(32);
        let b = password(32);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn dkim_key_is_rsa_2048_and_its_public_half_is_the_record() {
        use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
        use rsa::traits::PublicKeyParts;
        let pair = dkim_key_pair();
        assert!(
            pair.private_pem
                .starts_with("-----BEGIN PRIVATE KEY-----\n")
        );
        let key = rsa::PrivateKey::from_pkcs8_pem(&pair.private_pem).unwrap();
        assert_eq!(key.size() * 8, DKIM_RSA_BITS);
        let der = STANDARD.decode(&pair.public_base64).unwrap();
        let public = rsa::PublicKey::from_public_key_der(&der).unwrap();
        assert_eq!(
            public.to_public_key_der().unwrap().as_bytes(),
            key.to_public_key().to_public_key_der().unwrap().as_bytes()
        );
        assert_ne!(dkim_key_pair().public_base64, pair.public_base64);
    }
}
