//! Backups of every tenant, run by K8up: the tenant's `Schedule` (daily backup, weekly prune and
//! check) against its own restic repository — the tenant's prefix of the catalogue's bucket —
//! opened with a password generated for this tenant alone; the catalogue's S3 credentials
//! copied into the namespace, where K8up reads them; and what makes the backup consistent:
//! PostgreSQL dumped by `pg_dump` (K8up's backup command, run before the volumes are read)
//! instead of its raw files, every other volume backed up whole.
//!
//! Backup is a property of every tenant, not a sixth service: it follows the catalogue and
//! whatever services are on.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodSecurityContext, SecretKeySelector};

use super::network::{Allow, Peer, PodsOf, Port};
use super::object::{Object, Part};
use super::secrets::SecretKind;
use super::services::{Ctx, Out};
use crate::api::k8up::{
    BACKUP_ANNOTATION, BACKUP_COMMAND_ANNOTATION, Backend, BackupSchedule,
    FILE_EXTENSION_ANNOTATION, JobSchedule, PruneSchedule, Retention, S3Spec, Schedule,
    ScheduleSpec,
};
use crate::api::{
    BackupTarget, CatalogBackup, DailyTime, RetentionCounts, TenantBackup, WeeklyTime,
};
use crate::plan::PlanError;
use crate::plan::services::collaboration::POSTGRES_PVC;

/// Name of the tenant's K8up `Schedule`.
pub const SCHEDULE: &str = "backup";
/// The Secret holding the tenant's repository password (generated once, never changed: a new
/// password would not open the existing repository).
pub const REPOSITORY_SECRET: &str = "backup-repository";
/// Its key: K8up's `backend.repoPasswordSecretRef`, restic's `RESTIC_PASSWORD`.
pub const PASSWORD_KEY: &str = "password";
/// The copy of the catalogue's S3 credentials in the tenant's namespace.
pub const S3_SECRET: &str = "backup-s3";
/// Keys of the S3 credentials, in the catalogue's Secret and in the copy.
pub const ACCESS_KEY_ID: &str = "access-key-id";
pub const SECRET_ACCESS_KEY: &str = "secret-access-key";
/// Length of the generated repository password (`[A-Za-z0-9]`: ~285 bits).
const PASSWORD_LENGTH: u8 = 48;
/// Finished Backup/Check/Prune objects K8up keeps per kind: bounds what the operator watches.
const JOBS_KEPT: i32 = 3;
/// A pod annotated for the database dump: `pg_dump` in the PostgreSQL container, its password
/// read from the mounted file (never an argument, never the pod's environment).
pub(crate) const PG_DUMP: &str = "sh -c 'PGPASSWORD=\"$(cat /run/secrets/mutualis/db-password)\" exec pg_dump --clean --if-exists --no-owner -h 127.0.0.1 -U nextcloud -d nextcloud'";

/// The backup settings of a tenant, within what its catalogue allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidBackup {
    pub target: BackupTarget,
    pub at: DailyTime,
    pub retention: RetentionCounts,
    pub check: WeeklyTime,
    pub deletion_retention_days: u16,
}

impl ValidBackup {
    /// The tenant's restic repository: `s3:<endpoint>/<bucket>/<tenant>`, exactly as K8up
    /// builds it from the Schedule's `endpoint` and `bucket` (`S3Spec.String()`).
    pub fn repository(&self, tenant: &str) -> String {
        format!(
            "s3:{}/{}",
            self.target.endpoint.trim_end_matches('/'),
            bucket_path(&self.target, tenant)
        )
    }

    /// How often a backup runs; `BackupReady` turns False after twice this without success.
    pub const fn interval_seconds(&self) -> i64 {
        24 * 3600
    }
}

fn bucket_path(target: &BackupTarget, tenant: &str) -> String {
    format!("{}/{tenant}", target.bucket)
}

/// The tenant's backup settings: the catalogue's, with a later hour or longer retention if the
/// Tenant asks. `None` when the catalogue has no backup target.
pub fn validate(
    tenant: Option<&TenantBackup>,
    catalog: Option<&CatalogBackup>,
) -> Result<Option<ValidBackup>, PlanError> {
    let Some(catalog) = catalog else {
        return match tenant {
            Some(_) => Err(PlanError::InvalidValue {
                field: "spec.backup".into(),
                value: "set".into(),
                problem: "cannot be honoured: the ServiceCatalog has no spec.backup target".into(),
                allowed: "no spec.backup, or a catalogue with spec.backup".into(),
            }),
            None => Ok(None),
        };
    };
    let mut valid = ValidBackup {
        target: catalog.s3.clone(),
        at: catalog.schedule,
        retention: catalog.retention,
        check: catalog.check,
        deletion_retention_days: catalog.deletion_retention_days,
    };
    let Some(t) = tenant else {
        return Ok(Some(valid));
    };
    if let Some(hour) = t.hour {
        if hour < catalog.schedule.hour || hour > 23 {
            return Err(PlanError::InvalidValue {
                field: "spec.backup.hour".into(),
                value: hour.to_string(),
                problem: "is earlier than the catalogue's backup hour (or not an hour)".into(),
                allowed: format!("{} to 23 (UTC)", catalog.schedule.hour),
            });
        }
        valid.at.hour = hour;
    }
    if let Some(r) = t.retention {
        let min = catalog.retention;
        for (field, asked, least) in [
            ("daily", r.daily, min.daily),
            ("weekly", r.weekly, min.weekly),
            ("monthly", r.monthly, min.monthly),
        ] {
            if asked < least {
                return Err(PlanError::InvalidValue {
                    field: format!("spec.backup.retention.{field}"),
                    value: asked.to_string(),
                    problem: "keeps fewer snapshots than the catalogue's minimum".into(),
                    allowed: format!("{least} or more"),
                });
            }
        }
        valid.retention = r;
    }
    Ok(Some(valid))
}

/// The Schedule, the two Secrets it needs, and the annotations that tell K8up what to back up
/// and how. Runs after every service builder: it annotates their volumes and the database.
pub fn build(ctx: &Ctx<'_>, out: &mut Out) {
    let t = ctx.tenant;
    let Some(backup) = t.backup() else {
        out.notes.push(
            "no backups: the ServiceCatalog has no spec.backup target (K8up Schedule not created)"
                .into(),
        );
        return;
    };
    // Every service with data off: nothing to back up (the repository and its key, if any,
    // stay: the key Secret is data, never pruned).
    if !out
        .objects
        .iter()
        .any(|o| o.kind() == "PersistentVolumeClaim")
    {
        out.notes
            .push("no backups: no service with data is on (no volume to back up)".into());
        return;
    }
    out.secret(
        ctx,
        REPOSITORY_SECRET,
        Part::Backup,
        vec![(
            PASSWORD_KEY.into(),
            SecretKind::Password {
                length: PASSWORD_LENGTH,
            },
        )],
    );
    let source = &backup.target.credentials_secret_ref;
    out.secret(
        ctx,
        S3_SECRET,
        Part::Backup,
        [ACCESS_KEY_ID, SECRET_ACCESS_KEY]
            .into_iter()
            .map(|key| {
                (
                    key.to_owned(),
                    SecretKind::CopiedFrom {
                        namespace: source.namespace.clone(),
                        name: source.name.clone(),
                        key: key.to_owned(),
                    },
                )
            })
            .collect(),
    );
    annotate_workloads(out);
    out.push(Object::from(schedule(ctx, backup)));
}

/// The K8up backend of the tenant's repository (the Schedule's, and a Restore's).
pub fn backend(backup: &ValidBackup, tenant: &str) -> Backend {
    let key = |name: &str, key: &str| SecretKeySelector {
        name: name.to_owned(),
        key: key.to_owned(),
        optional: Some(false),
    };
    Backend {
        repo_password_secret_ref: key(REPOSITORY_SECRET, PASSWORD_KEY),
        s3: S3Spec {
            endpoint: backup.target.endpoint.trim_end_matches('/').to_owned(),
            bucket: bucket_path(&backup.target, tenant),
            access_key_id_secret_ref: key(S3_SECRET, ACCESS_KEY_ID),
            secret_access_key_secret_ref: key(S3_SECRET, SECRET_ACCESS_KEY),
        },
    }
}

/// The security context of K8up's job pods: root, because the mail and NAS volumes hold files
/// of many owners that a whole-volume backup (and a restore keeping ownership) must read and
/// write; the namespace's `baseline` Pod Security level allows it. Seccomp stays on.
pub fn job_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_user: Some(0),
        seccomp_profile: Some(k8s_openapi::api::core::v1::SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..PodSecurityContext::default()
    }
}

/// K8up's job pods (label `k8upjob: "true"`) reach the bucket outside the cluster and the
/// Kubernetes API (the backup pod runs the annotated pods' dump command through `pods/exec`);
/// the namespace's default deny holds for everything else.
pub fn network(b: &ValidBackup) -> Allow {
    let mut ports = vec![Port::tcp("kube-api", 443), Port::tcp("kube-api-alt", 6443)];
    let s3 = i32::from(endpoint_port(&b.target.endpoint));
    if ports.iter().all(|p| p.port != s3) {
        ports.push(Port::tcp("s3", s3));
    }
    Allow {
        name: "allow-backup-egress",
        pods: PodsOf::Labelled(BTreeMap::from([("k8upjob".to_owned(), "true".to_owned())])),
        ingress: None,
        egress: Some((Peer::Anywhere, ports)),
    }
}

/// The port of an `http(s)://host[:port]` endpoint.
fn endpoint_port(endpoint: &str) -> u16 {
    let (default, rest) = match endpoint.strip_prefix("https://") {
        Some(rest) => (443, rest),
        None => (80, endpoint.strip_prefix("http://").unwrap_or(endpoint)),
    };
    rest.trim_end_matches('/')
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(default)
}

fn schedule(ctx: &Ctx<'_>, b: &ValidBackup) -> Schedule {
    let check = format!(
        "{} {} * * {}",
        b.check.minute, b.check.hour, b.check.day_of_week
    );
    Schedule {
        metadata: ctx.meta(SCHEDULE, Part::Backup, "k8up", "backup"),
        spec: ScheduleSpec {
            backend: backend(b, ctx.tenant.name()),
            backup: BackupSchedule {
                schedule: format!("{} {} * * *", b.at.minute, b.at.hour),
            },
            // Prune and check are exclusive jobs: K8up runs them one after the other.
            prune: PruneSchedule {
                schedule: check.clone(),
                retention: Retention {
                    keep_daily: i32::from(b.retention.daily),
                    keep_weekly: i32::from(b.retention.weekly),
                    keep_monthly: i32::from(b.retention.monthly),
                },
            },
            check: JobSchedule { schedule: check },
            successful_jobs_history_limit: JOBS_KEPT,
            failed_jobs_history_limit: JOBS_KEPT,
            pod_security_context: Some(job_security()),
            resource_requirements_template: Some(crate::plan::security::resources(
                "100m", "256Mi", "1", "1Gi",
            )),
        },
    }
}

/// Every volume is backed up whole (`k8up.io/backup: "true"`: K8up's default skips nothing,
/// but the annotation states it), except the database's raw files, which a running PostgreSQL
/// leaves inconsistent: its pod is annotated with the `pg_dump` K8up runs first.
fn annotate_workloads(out: &mut Out) {
    for o in &mut out.objects {
        match o {
            Object::PersistentVolumeClaim(pvc) => {
                let dumped = pvc.metadata.name.as_deref() == Some(POSTGRES_PVC);
                pvc.metadata
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(BACKUP_ANNOTATION.into(), (!dumped).to_string());
            }
            Object::Deployment(d) if d.metadata.name.as_deref() == Some("postgres") => {
                let template = d
                    .spec
                    .as_mut()
                    .and_then(|s| s.template.metadata.as_mut())
                    .expect("the database Deployment has a pod template with metadata");
                let a = template.annotations.get_or_insert_with(BTreeMap::new);
                a.insert(BACKUP_COMMAND_ANNOTATION.into(), PG_DUMP.into());
                a.insert(FILE_EXTENSION_ANNOTATION.into(), ".sql".into());
            }
            _ => {}
        }
    }
}
