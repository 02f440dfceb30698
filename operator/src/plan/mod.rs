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
pub mod cidr;
pub mod domain;
pub mod error;
mod inputs;
pub mod kinds;
pub mod names;
pub mod network;
pub mod object;
mod output;
pub mod quantity;
mod quota;
pub mod secrets;
mod security;
pub mod services;
pub mod storage;
pub mod tenancy;
pub mod validate;
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
