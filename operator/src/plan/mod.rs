//! The plan: a pure function from a `Tenant` and its `ServiceCatalog` to every Kubernetes
//! object of the tenant's services, its storage allocation, DNS zones and contribution.
//!
//! validate → size → build. No I/O, no clock, no randomness: the same inputs give the same
//! plan, so `mutualis render` and the controller can never disagree. What the plan cannot
//! know offline (DKIM public key, previous zone serials, the mail load balancer's address)
//! comes in through [`PlanInputs`].

mod build;
mod builders;
mod catalog_check;
pub mod claims;
pub mod domain;
pub mod error;
pub mod hosts;
pub mod names;
pub mod object;
pub mod quantity;
pub mod secrets;
mod security;
pub mod services;
pub mod storage;
pub mod tenancy;
pub mod validate;
pub mod zone;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

pub use crate::api::Endpoints;
pub use build::build;
pub use error::PlanError;
pub use object::Object;
pub use secrets::{SecretKind, SecretRequest};
pub use storage::{StorageAllocation, Volume};
pub use validate::{Domain, ValidMember, ValidatedTenant, validate, validate_catalog};
pub use zone::{ZoneFile, ZoneVersion, ZoneVersions};

use crate::api::{ServiceCatalog, Tenant};

/// The catalogued services, plus `tenancy` for what surrounds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Tenancy,
    Mail,
    Website,
    Dns,
    Collaboration,
    Nas,
}

impl Service {
    /// The value of the `mutualis.io/service` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Tenancy => "tenancy",
            Service::Mail => "mail",
            Service::Website => "website",
            Service::Dns => "dns",
            Service::Collaboration => "collaboration",
            Service::Nas => "nas",
        }
    }
}

/// The DKIM public key the mail service signs with, read by the reconciler from the
/// [`secrets::DKIM_SECRET`] Secret.
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
}

/// Everything a tenant should have in the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub tenant: String,
    pub namespace: String,
    pub tier: String,
    pub member_count: usize,
    /// Euros per year.
    pub annual_contribution: i64,
    /// Objects in apply order: Namespace, quota, network policies, RBAC, ConfigMaps, PVCs,
    /// Services, Deployments, Ingresses, CronJobs. No owner references (the apply step adds them).
    pub objects: Vec<Object>,
    pub storage: StorageAllocation,
    /// One zone per domain when DNS is enabled.
    pub zones: Vec<ZoneFile>,
    /// Secrets the apply step creates once if absent.
    pub secrets: Vec<SecretRequest>,
    pub endpoints: Endpoints,
    /// Things a reviewer should know (e.g. DKIM record pending).
    pub notes: Vec<String>,
}

impl Plan {
    /// Number of objects of each kind.
    pub fn object_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for o in &self.objects {
            *counts.entry(o.kind()).or_default() += 1;
        }
        counts
    }

    /// The zone versions to record on the zone ConfigMap.
    pub fn zone_versions(&self) -> ZoneVersions {
        ZoneVersions(
            self.zones
                .iter()
                .map(|z| (z.origin.clone(), z.version.clone()))
                .collect(),
        )
    }
}

/// validate then build, for callers that do not keep the `ValidatedTenant`.
pub fn plan(
    tenant: &Tenant,
    catalog: &ServiceCatalog,
    inputs: &PlanInputs,
) -> Result<Plan, PlanError> {
    Ok(build(&validate(tenant, catalog)?, inputs))
}
