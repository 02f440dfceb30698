//! Generated credentials. The plan never holds secret values (render output goes into pull
//! requests, and a value derived at plan time would be rotated by every reconcile). It asks
//! for Secrets instead; the apply step creates each one once, if absent, and never rotates it.

use serde::Serialize;

use crate::api::Service;

/// Name of the Secret holding the tenant's DKIM key.
pub const DKIM_SECRET: &str = "mail-dkim";
/// Key of the DKIM private key in [`DKIM_SECRET`].
pub const DKIM_PRIVATE_KEY: &str = "ed25519.private";
/// Key of the DKIM public key (base64 of the 32 raw bytes) in [`DKIM_SECRET`]; what the
/// reconciler reads to fill `PlanInputs::dkim`.
pub const DKIM_PUBLIC_KEY: &str = "ed25519.public";
/// DKIM selector of every mutualis domain (`mutualis._domainkey.<domain>`).
pub const DKIM_SELECTOR: &str = "mutualis";

/// A Secret the apply step must make exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRequest {
    pub namespace: String,
    pub name: String,
    pub service: Service,
    /// Each key of the Secret and how to generate its value.
    pub keys: Vec<(String, SecretKind)>,
}

/// How to generate one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SecretKind {
    /// Random characters from `[A-Za-z0-9]` (safe in every config format the services use).
    Password { length: u8 },
    /// An Ed25519 key pair for DKIM: the private key as PKCS#8 PEM under this key, and the raw
    /// public key, base64, under `public_key`.
    Ed25519DkimKey { public_key: String },
}
