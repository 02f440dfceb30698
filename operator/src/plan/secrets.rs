//! Generated credentials. The plan never holds secret values (render output goes into pull
//! requests, and a value derived at plan time would be rotated by every reconcile). It asks
//! for Secrets instead; the apply step creates each one once, if absent, and never rotates it.

use serde::Serialize;

use super::object::Part;

/// Name of the Secret holding the tenant's DKIM key.
pub const DKIM_SECRET: &str = "mail-dkim";
/// Key of the DKIM private key (RSA-2048, PKCS#8 PEM) in [`DKIM_SECRET`].
pub const DKIM_PRIVATE_KEY: &str = "rsa.private";
/// Key of the DKIM public key (base64 SubjectPublicKeyInfo, the record's `p=`) in
/// [`DKIM_SECRET`].
pub const DKIM_PUBLIC_KEY: &str = "rsa.public";
/// DKIM selector of every mutualis domain (`mutualis._domainkey.<domain>`).
pub const DKIM_SELECTOR: &str = "mutualis";

/// A Secret the apply step must make exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRequest {
    pub namespace: String,
    pub name: String,
    /// What the Secret serves (its `mutualis.io/service` label).
    pub service: Part,
    /// Each key of the Secret and how to generate its value.
    pub keys: Vec<(String, SecretKind)>,
}

/// How to generate one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SecretKind {
    /// Random characters from `[A-Za-z0-9]` (safe in every config format the services use).
    Password { length: u8 },
    /// An RSA-2048 key pair for DKIM: the private key as PKCS#8 PEM under this key, and the
    /// public key (base64 SubjectPublicKeyInfo) under `public_key`. Generated in the background:
    /// the mail server waits for it.
    RsaDkimKey { public_key: String },
    /// A copy of `key` of Secret `namespace/name` (credentials the syndicate holds, such as the
    /// mail relay's), taken once when the key is missing; a rotation deletes the copy.
    CopiedFrom {
        namespace: String,
        name: String,
        key: String,
    },
}
