//! Backups: where the catalogue sends every tenant's backups (an S3-compatible bucket outside the
//! cluster), when, how long they are kept and how often the repository is checked; what a Tenant
//! may change within that; and what the status reports. The engine is K8up (restic): each
//! tenant gets its own repository under the bucket, encrypted with its own generated key.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The catalogue's backup settings; without them no tenant is backed up (a plan note says so).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogBackup {
    /// The S3-compatible bucket every repository lives in, one prefix per tenant.
    pub s3: BackupTarget,
    /// The daily backup's time (UTC); tenants may only choose a later hour the same day.
    pub schedule: DailyTime,
    /// Snapshots kept after each prune: the minimum; a Tenant may keep more, never fewer.
    pub retention: RetentionCounts,
    /// When the repository's integrity is checked (`restic check`), weekly.
    pub check: WeeklyTime,
    /// Days a deleted Tenant's repository key is kept under `deletionPolicy: Delete`, so its
    /// backups stay readable that long (a Tenant deleted under `Retain` keeps it for good).
    #[serde(default = "default_deletion_retention_days")]
    #[schemars(range(min = 1, max = 3650))]
    pub deletion_retention_days: u16,
}

fn default_deletion_retention_days() -> u16 {
    90
}

/// An S3-compatible target.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupTarget {
    /// The endpoint URL, e.g. `https://s3.fr-par.scw.cloud` (outside the cluster).
    #[schemars(
        length(min = 8, max = 253),
        regex(pattern = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$")
    )]
    pub endpoint: String,
    /// The bucket; each tenant's repository is the prefix named after the tenant.
    #[schemars(
        length(min = 3, max = 63),
        regex(pattern = r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
    )]
    pub bucket: String,
    /// The Secret holding the bucket's credentials under the keys `access-key-id` and
    /// `secret-access-key` (copied once into each tenant's namespace, where K8up reads it).
    pub credentials_secret_ref: BackupCredentialsRef,
}

/// A Secret by namespace and name (the operator's namespace, typically).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupCredentialsRef {
    #[schemars(length(min = 1, max = 63), regex(pattern = super::patterns::DNS_LABEL))]
    pub namespace: String,
    #[schemars(length(min = 1, max = 253), regex(pattern = super::patterns::DNS_SUBDOMAIN))]
    pub name: String,
}

/// A time of day, UTC.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyTime {
    #[schemars(range(min = 0, max = 23))]
    pub hour: u8,
    #[serde(default)]
    #[schemars(range(min = 0, max = 59))]
    pub minute: u8,
}

/// A day of the week (0 = Sunday, as cron counts) and a time of day, UTC.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WeeklyTime {
    #[schemars(range(min = 0, max = 6))]
    pub day_of_week: u8,
    #[schemars(range(min = 0, max = 23))]
    pub hour: u8,
    #[serde(default)]
    #[schemars(range(min = 0, max = 59))]
    pub minute: u8,
}

/// How many snapshots each prune keeps (restic `forget --keep-daily/--keep-weekly/--keep-monthly`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetentionCounts {
    #[schemars(range(min = 1, max = 3650))]
    pub daily: u16,
    #[schemars(range(min = 0, max = 520))]
    pub weekly: u16,
    #[schemars(range(min = 0, max = 240))]
    pub monthly: u16,
}

/// What a Tenant may change within the catalogue's backup settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantBackup {
    /// Hour (UTC) of the daily backup: the catalogue's or later, the same day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 23))]
    pub hour: Option<u8>,
    /// More snapshots than the catalogue keeps; each count at least the catalogue's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionCounts>,
}

/// What the operator observed of the tenant's backups.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    /// The repository (restic URL) the tenant's backups go to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// When the last successful backup finished (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_backup: Option<String>,
    /// When the last successful repository check finished (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<String>,
    /// The latest Backup that failed (its name): each new one is reported once, by an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failed_backup: Option<String>,
    /// The latest restore asked for, and where it stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restore: Option<RestoreStatus>,
}

/// A restore and its progress.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStatus {
    /// The K8up `Restore` object's name.
    pub name: String,
    /// `Pending`, `Progressing`, `Succeeded` or `Failed`.
    pub phase: String,
}
