//! The part of K8up's API (`k8up.io/v1`, <https://github.com/k8up-io/k8up>) that mutualis
//! writes: the `Schedule` of each tenant and the `Restore` the `restore` command creates. Field
//! names follow K8up's Go types (`api/v1/*.go`); the CRDs they are checked against are kept in
//! `third_party/k8up/`. Only what mutualis sets is modelled; the schema validation of the
//! rendered objects against those CRDs catches a misspelt field.

use k8s_openapi::api::core::v1::{PodSecurityContext, ResourceRequirements, SecretKeySelector};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// API group of K8up's resources.
pub const GROUP: &str = "k8up.io";
pub const VERSION: &str = "v1";
pub const API_VERSION: &str = "k8up.io/v1";

/// The annotation K8up reads on a pod: a command whose standard output is backed up instead
/// of (or beside) the volumes, e.g. a database dump.
pub const BACKUP_COMMAND_ANNOTATION: &str = "k8up.io/backupcommand";
/// The file extension K8up gives that output in the snapshot (e.g. `.sql`).
pub const FILE_EXTENSION_ANNOTATION: &str = "k8up.io/file-extension";
/// On a PersistentVolumeClaim: `"true"` backs it up, `"false"` leaves it out.
pub const BACKUP_ANNOTATION: &str = "k8up.io/backup";

macro_rules! k8up_resource {
    ($t:ident, $kind:literal, $plural:literal) => {
        impl k8s_openapi::Resource for $t {
            const API_VERSION: &'static str = API_VERSION;
            const GROUP: &'static str = GROUP;
            const KIND: &'static str = $kind;
            const VERSION: &'static str = VERSION;
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = k8s_openapi::NamespaceResourceScope;
        }

        impl k8s_openapi::Metadata for $t {
            type Ty = ObjectMeta;
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }

        // apiVersion and kind are written by the serializer, as k8s-openapi's types do.
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let mut st = s.serialize_struct($kind, 4)?;
                st.serialize_field("apiVersion", API_VERSION)?;
                st.serialize_field("kind", $kind)?;
                st.serialize_field("metadata", &self.metadata)?;
                st.serialize_field("spec", &self.spec)?;
                st.end()
            }
        }
    };
}

/// A K8up `Schedule`: the tenant's backups, checks and prunes, and the repository they use.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Schedule {
    pub metadata: ObjectMeta,
    pub spec: ScheduleSpec,
}
k8up_resource!(Schedule, "Schedule", "schedules");

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    pub backend: Backend,
    pub backup: BackupSchedule,
    pub check: JobSchedule,
    pub prune: PruneSchedule,
    /// Finished jobs K8up keeps (bounds the Backup objects per tenant).
    pub successful_jobs_history_limit: i32,
    pub failed_jobs_history_limit: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_security_context: Option<PodSecurityContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_requirements_template: Option<ResourceRequirements>,
}

/// Where a repository is and how it is opened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backend {
    /// The restic password (`RESTIC_PASSWORD`).
    pub repo_password_secret_ref: SecretKeySelector,
    pub s3: S3Spec,
}

/// An S3 repository: restic's `s3:<endpoint>/<bucket>` (the bucket may carry a prefix).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Spec {
    pub endpoint: String,
    pub bucket: String,
    #[serde(rename = "accessKeyIDSecretRef")]
    pub access_key_id_secret_ref: SecretKeySelector,
    pub secret_access_key_secret_ref: SecretKeySelector,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupSchedule {
    /// Cron expression (UTC).
    pub schedule: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSchedule {
    pub schedule: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneSchedule {
    pub schedule: String,
    pub retention: Retention,
}

/// restic `forget --keep-*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    pub keep_daily: i32,
    pub keep_weekly: i32,
    pub keep_monthly: i32,
}

/// A K8up `Restore`: one snapshot (or the latest) of one tenant's repository, into a volume.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Restore {
    pub metadata: ObjectMeta,
    pub spec: RestoreSpec,
}
k8up_resource!(Restore, "Restore", "restores");

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSpec {
    pub backend: Backend,
    /// The snapshot ID (`restic snapshots`); the latest when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Only the paths under this one (restic `--include`), e.g. `/data/nas-data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_filter: Option<String>,
    pub restore_method: RestoreMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_security_context: Option<PodSecurityContext>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreMethod {
    pub folder: FolderRestore,
}

/// Restore into a PersistentVolumeClaim.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderRestore {
    pub claim_name: String,
}
