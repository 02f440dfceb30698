//! What the plan needs to know from the cluster: the only way observed state enters the pure
//! plan. The reconciler fills it from its caches; offline commands use the default.

use std::net::IpAddr;

use super::zone::ZoneVersions;

/// The DKIM public key the mail service signs with, read by the reconciler from the
/// [`super::secrets::DKIM_SECRET`] Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimPublicKey {
    /// `ed25519` or `rsa` (the DKIM `k=` tag).
    pub algorithm: String,
    /// Base64 of the public key (the DKIM `p=` tag).
    pub public_key_base64: String,
    pub selector: String,
}

/// What the plan needs to know from the cluster. `PlanInputs::default()` is the offline
/// case (`mutualis render`): no DKIM record, serials start at 1, no mail host address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanInputs {
    /// The tenant's DKIM public key once the apply step created it; `None` omits DKIM records.
    pub dkim: Option<DkimPublicKey>,
    /// Zone versions as last published (see [`ZoneVersions::from_annotations`]).
    pub previous_zones: ZoneVersions,
    /// External addresses of the mail LoadBalancer Service, for the `mail.<domain>` A/AAAA
    /// records; empty until the cloud assigns one.
    pub mail_addresses: Vec<IpAddr>,
    /// Whether the mail certificate's Secret exists (cert-manager issued it); until then the
    /// mail service reports `CertificatePending`.
    pub mail_certificate_issued: bool,
    /// External addresses of the tenant's LoadBalancer Services (the NAS, SFTP), by Service
    /// name: what `status.endpoints` tells the town halls to connect to.
    pub load_balancer_addresses: std::collections::BTreeMap<String, Vec<IpAddr>>,
}
