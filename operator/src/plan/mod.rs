//! The plan: a pure function from a `Tenant` and its `ServiceCatalog` to every Kubernetes
//! object of the tenant's services, its storage allocation, DNS zones and contribution.
//!
//! validate → size → build. No I/O, no clock, no randomness: the same inputs give the same
//! plan, so `mutualis render` and the controller can never disagree. What the plan cannot
//! know offline (DKIM public key, previous zone serials, the mail load balancer's address)
//! comes in through [`PlanInputs`].

pub mod backup;
mod build;
mod builders;
mod catalog_check;
pub mod catalog_mail;
pub mod certificate;
pub mod cidr;
pub mod claims;
pub(crate) mod domain;
pub mod error;
pub mod hosts;
mod inputs;
pub mod kinds;
pub mod mailboxes;
pub(crate) mod names;
pub(crate) mod network;
pub mod object;
mod output;
pub mod quantity;
mod quota;
mod schema;
pub mod secrets;
mod security;
pub(crate) mod services;
pub mod site;
pub(crate) mod storage;
pub(crate) mod tenancy;
pub(crate) mod validate;
pub mod zone;

#[cfg(test)]
mod tests;

pub use crate::api::Endpoints;
pub use build::build;
pub use error::PlanError;
pub use inputs::{DkimPublicKey, PlanInputs};
pub use object::Object;
pub use output::{Plan, Waiting};
pub use secrets::{SecretKind, SecretRequest};
pub use services::dns::ZONE_LABEL;
pub use storage::{StorageAllocation, Volume};
pub use validate::{Domain, ValidMember, ValidatedTenant, validate, validate_catalog};
pub use zone::{ZoneFile, ZoneVersion, ZoneVersions};

pub use crate::api::Service;
use crate::api::{ServiceCatalog, Tenant};

/// validate then build, for callers that do not keep the `ValidatedTenant`.
pub fn plan(
    tenant: &Tenant,
    catalog: &ServiceCatalog,
    inputs: &PlanInputs,
) -> Result<Plan, PlanError> {
    Ok(build(&validate(tenant, catalog)?, inputs))
}
