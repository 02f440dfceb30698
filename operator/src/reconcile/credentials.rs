//! Generating credentials. The plan only names the Secrets it needs (render output goes into pull
//! requests, so it never holds a value); the apply step creates each Secret once, from the
//! operating system's random source, and never rotates it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};

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

/// An Ed25519 DKIM key pair (RFC 8463): the private key as PKCS#8 PEM, for the mail server, and
/// the public key in base64, for the `p=` tag of the DNS record.
pub struct DkimKeyPair {
    pub private_pem: String,
    pub public_base64: String,
}

pub fn dkim_key_pair() -> DkimKeyPair {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("the system random source failed");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("ring produced a valid key");
    let body = STANDARD.encode(pkcs8.as_ref());
    let mut private_pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        private_pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        private_pem.push('\n');
    }
    private_pem.push_str("-----END PRIVATE KEY-----\n");
    DkimKeyPair {
        private_pem,
        public_base64: STANDARD.encode(pair.public_key().as_ref()),
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
    fn dkim_public_key_matches_the_private_key() {
        let pair = dkim_key_pair();
        assert!(
            pair.private_pem
                .starts_with("-----BEGIN PRIVATE KEY-----\n")
        );
        let der: String = pair
            .private_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = STANDARD.decode(der).unwrap();
        let key = Ed25519KeyPair::from_pkcs8(&der).unwrap();
        assert_eq!(
            STANDARD.encode(key.public_key().as_ref()),
            pair.public_base64
        );
        assert_eq!(STANDARD.decode(&pair.public_base64).unwrap().len(), 32);
    }
}
