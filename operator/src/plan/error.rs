//! Why a Tenant cannot be planned. Every variant names the field path, the value and what is
//! allowed, so the message can go as-is into a condition or a terminal.

use crate::api::conditions::reasons;

/// A Tenant (or the catalogue it uses) that cannot be turned into a plan. Always the user's
/// fault: report it and wait for a change, retrying changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "spec.catalogRef: ServiceCatalog {catalog_ref:?} not found; available: {}",
        list(available)
    )]
    CatalogNotFound {
        catalog_ref: String,
        available: Vec<String>,
    },

    #[error(
        "spec.tier: {tier:?} is not a tier of ServiceCatalog {catalog:?}; allowed: {}",
        list(allowed)
    )]
    UnknownTier {
        tier: String,
        catalog: String,
        allowed: Vec<String>,
    },

    #[error(
        "{field}: {value:?} is not a valid domain ({reason}); expected a name like \"example.fr\" or \"sallebœuf.fr\""
    )]
    InvalidDomain {
        field: String,
        value: String,
        reason: String,
    },

    #[error("{field}: domain {value:?} is already used by {first}; every domain must be distinct")]
    DuplicateDomain {
        field: String,
        value: String,
        first: String,
    },

    #[error(
        "{field}: member name {value:?} is already used by {first}; member names must be unique"
    )]
    DuplicateMember {
        field: String,
        value: String,
        first: String,
    },

    #[error(
        "{field}: cannot derive a Kubernetes name from display name {display_name:?} (no Latin letter or digit); set {field} explicitly to a DNS-1123 label"
    )]
    UnderivableName { field: String, display_name: String },

    #[error(
        "{field}: domain {value:?} is already claimed by Tenant {other:?} ({other_field}), which came first; a domain belongs to one tenant: remove it here, or from Tenant {other:?} first"
    )]
    DomainConflict {
        field: String,
        value: String,
        other: String,
        other_field: String,
    },

    /// Refused by the CRD's structural schema or CEL rules, in the API server's words.
    #[error("{field}: {message}")]
    Schema { field: String, message: String },

    #[error("{field}: {value:?} {problem}; allowed: {allowed}")]
    InvalidValue {
        field: String,
        value: String,
        problem: String,
        allowed: String,
    },
}

impl PlanError {
    /// The condition reason the reconciler reports for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            PlanError::CatalogNotFound { .. } => reasons::CATALOG_NOT_FOUND,
            PlanError::UnknownTier { .. } => reasons::TIER_NOT_FOUND,
            PlanError::DomainConflict { .. } => reasons::DOMAIN_CONFLICT,
            _ => reasons::INVALID_SPEC,
        }
    }

    /// The field path the error is about, e.g. `spec.members[2].domain`.
    pub fn field(&self) -> Option<&str> {
        match self {
            PlanError::CatalogNotFound { .. } => Some("spec.catalogRef"),
            PlanError::UnknownTier { .. } => Some("spec.tier"),
            PlanError::InvalidDomain { field, .. }
            | PlanError::DuplicateDomain { field, .. }
            | PlanError::DuplicateMember { field, .. }
            | PlanError::UnderivableName { field, .. }
            | PlanError::DomainConflict { field, .. }
            | PlanError::InvalidValue { field, .. }
            | PlanError::Schema { field, .. } => Some(field),
        }
    }

    /// A short stable label for metrics and events.
    pub fn label(&self) -> &'static str {
        match self {
            PlanError::CatalogNotFound { .. } => "catalog_not_found",
            PlanError::UnknownTier { .. } => "unknown_tier",
            PlanError::InvalidDomain { .. } => "invalid_domain",
            PlanError::DuplicateDomain { .. } => "duplicate_domain",
            PlanError::DuplicateMember { .. } => "duplicate_member",
            PlanError::UnderivableName { .. } => "underivable_name",
            PlanError::InvalidValue { .. } => "invalid_value",
            PlanError::Schema { .. } => "schema",
            PlanError::DomainConflict { .. } => "domain_conflict",
        }
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items
            .iter()
            .map(|i| format!("{i:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
