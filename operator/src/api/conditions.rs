//! Condition types and reasons of `Tenant.status.conditions` (`metav1.Condition`). Reasons are
//! CamelCase, as Kubernetes API conventions want; the reconciler and the plan share them here
//! so `kubectl wait --for=condition=...` users can rely on the names.

/// The tenant is fully provisioned: every enabled service is ready. When false, the message
/// names the services that are not.
pub const READY: &str = "Ready";
/// The spec is valid against its catalogue (tier exists, domains valid, no shrink...).
pub const VALID: &str = "Valid";
// Each service's own Ready condition type is `Service::ready_condition` (api::service).

/// The tenant's data is backed up: the last backup succeeded, less than two schedule intervals
/// ago. Not part of `Ready` (the services serve without it); alerts and dashboards read it.
pub const BACKUP_READY: &str = "BackupReady";

/// Reasons.
pub mod reasons {
    /// The last backup succeeded within two schedule intervals.
    pub const BACKUP_SUCCEEDED: &str = "BackupSucceeded";
    /// The latest backup failed (message has K8up's).
    pub const BACKUP_FAILED: &str = "BackupFailed";
    /// The last success is older than twice the schedule.
    pub const BACKUP_STALE: &str = "BackupStale";
    /// No backup has completed yet.
    pub const NO_BACKUP_YET: &str = "NoBackupYet";
    /// The catalogue has no backup target.
    pub const BACKUP_NOT_CONFIGURED: &str = "NotConfigured";
    /// Everything asked for is in place.
    pub const READY: &str = "Ready";
    /// The spec passed validation.
    pub const VALID_SPEC: &str = "ValidSpec";
    /// The spec is invalid (message says which field and why).
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// `spec.catalogRef` names no ServiceCatalog.
    pub const CATALOG_NOT_FOUND: &str = "CatalogNotFound";
    /// `spec.tier` names no tier of the catalogue.
    pub const TIER_NOT_FOUND: &str = "TierNotFound";
    /// The new tier or split would shrink an existing volume; refused to protect data.
    pub const SHRINK_REFUSED: &str = "ShrinkRefused";
    /// Objects are being created or updated.
    pub const PROGRESSING: &str = "Progressing";
    /// A workload exists but is not yet available.
    pub const NOT_AVAILABLE: &str = "NotAvailable";
    /// A PersistentVolumeClaim is not bound yet.
    pub const VOLUME_PENDING: &str = "VolumePending";
    /// A volume is being expanded after a tier upgrade.
    pub const VOLUME_RESIZING: &str = "VolumeResizing";
    /// The service is switched off in `spec.services`.
    pub const DISABLED: &str = "Disabled";
    /// Applying an object failed (message has the API server's answer).
    pub const APPLY_FAILED: &str = "ApplyFailed";
    /// At least one service is not ready (message lists them).
    pub const SERVICES_NOT_READY: &str = "ServicesNotReady";
    /// The mail server waits for its DKIM key, generated in the background.
    pub const DKIM_KEY_PENDING: &str = "DkimKeyPending";
    /// The mail server's TLS certificate is not issued yet (cert-manager).
    pub const CERTIFICATE_PENDING: &str = "CertificatePending";
    /// The tenant is being deleted.
    pub const DELETING: &str = "Deleting";
    /// The operator failed on this tenant (a bug, caught): the message has the panic.
    pub const RECONCILE_FAILED: &str = "ReconcileFailed";
    /// A domain of the tenant is already claimed by an older tenant (message names it).
    pub const DOMAIN_CONFLICT: &str = "DomainConflict";
    /// The tenant's namespace exists and does not belong to it (message names it).
    pub const NAMESPACE_CONFLICT: &str = "NamespaceConflict";
    /// A reconcile is under way or being retried after a failure.
    pub const RECONCILING: &str = "Reconciling";
    /// A generated Secret the tenant had is gone; not re-created until restored or
    /// acknowledged (`mutualis.io/acknowledge-lost`), since its data may need the old value.
    pub const CREDENTIALS_LOST: &str = "CredentialsLost";
    /// A volume claim the tenant had Bound is gone; not re-created empty until restored or
    /// acknowledged (`mutualis.io/acknowledge-lost`).
    pub const VOLUME_LOST: &str = "VolumeLost";
    /// The last reconcile applied the whole plan.
    pub const RECONCILED: &str = "Reconciled";
}
