//! `mutualis restore`: asks K8up to restore one volume of one tenant from one snapshot of the
//! tenant's repository — in place (the service's own PersistentVolumeClaim) or into a claim of
//! another namespace — by creating a K8up `Restore`. The operator then reports its progress in
//! the Tenant's `status.backup.lastRestore` and in events. The Restore's backend is the one
//! the plan gives the tenant's Schedule, so it opens the same repository with the same key.

use std::io::Write;

use clap::Args;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};

use crate::api::k8up::{FolderRestore, Restore, RestoreMethod, RestoreSpec};
use crate::api::{Service, ServiceCatalog, Tenant};
use crate::plan::backup::{self, ValidBackup};
use crate::plan::object::labels;

#[derive(Args, Debug, Clone)]
pub struct RestoreArgs {
    /// The Tenant whose backup to restore.
    pub tenant: String,
    /// The service whose volume to restore: mail, website, collaboration (Nextcloud's files)
    /// or nas.
    #[arg(long, value_name = "SERVICE")]
    pub service: String,
    /// The restic snapshot ID to restore (`kubectl get snapshots -n mutualis-TENANT`).
    #[arg(long, value_name = "ID")]
    pub snapshot: String,
    /// Restore into this namespace instead of the tenant's (the claim must exist there; the
    /// repository's two Secrets are copied into it).
    #[arg(long, value_name = "NS")]
    pub to_namespace: Option<String>,
    /// The PersistentVolumeClaim to restore into (default: the service's own).
    #[arg(long, value_name = "PVC")]
    pub to_claim: Option<String>,
    /// Print the Restore as YAML instead of creating it.
    #[arg(long)]
    pub dry_run: bool,
    /// The kubeconfig context to use (its current context when absent).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{0}")]
    Refused(String),
    #[error("no usable Kubernetes configuration: {0}")]
    Config(String),
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

fn refuse(message: impl Into<String>) -> RestoreError {
    RestoreError::Refused(message.into())
}

/// The claim a service's data lives on (the database is restored from its dump, by hand).
fn claim_of(service: Service) -> Option<&'static str> {
    crate::plan::services::volumes_of(service)
        .iter()
        .map(|v| v.pvc)
        .find(|pvc| *pvc != crate::plan::services::collaboration::POSTGRES_PVC)
}

/// The snapshot IDs restic prints: 8 to 64 lower-case hex digits.
fn valid_snapshot(id: &str) -> bool {
    (8..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The Restore for `args` of `tenant`, in `namespace`.
pub fn restore_object(
    args: &RestoreArgs,
    tenant: &str,
    backup: &ValidBackup,
    namespace: &str,
    claim: &str,
) -> Restore {
    let name = format!("restore-{}-{}", args.service, &args.snapshot[..8]);
    Restore {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace.to_owned()),
            labels: Some(
                [
                    (labels::TENANT, tenant),
                    (labels::SERVICE, "backup"),
                    (labels::PART_OF, labels::MUTUALIS),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ),
            ..ObjectMeta::default()
        },
        spec: RestoreSpec {
            backend: backup::backend(backup, tenant),
            snapshot: Some(args.snapshot.clone()),
            restore_filter: None,
            restore_method: RestoreMethod {
                folder: FolderRestore {
                    claim_name: claim.to_owned(),
                },
            },
            pod_security_context: Some(backup::job_security()),
        },
    }
}

pub async fn run(args: RestoreArgs, out: &mut dyn Write) -> Result<(), RestoreError> {
    let service = Service::from_name(&args.service).ok_or_else(|| {
        refuse(format!(
            "--service: {:?} is not a service; allowed: mail, website, collaboration, nas",
            args.service
        ))
    })?;
    let default_claim = claim_of(service).ok_or_else(|| {
        refuse(format!(
            "--service: {service} has no volume (its data is in the plan: nothing to restore); allowed: mail, website, collaboration, nas"
        ))
    })?;
    if !valid_snapshot(&args.snapshot) {
        return Err(refuse(format!(
            "--snapshot: {:?} is not a restic snapshot ID; expected 8 to 64 lower-case hex digits, as `kubectl get snapshots` lists them",
            args.snapshot
        )));
    }
    let config = super::run::kube_config(args.context.as_deref())
        .await
        .map_err(RestoreError::Config)?;
    let client = crate::reconcile::controller::client(config)?;
    let tenant = Api::<Tenant>::all(client.clone())
        .get_opt(&args.tenant)
        .await?
        .ok_or_else(|| refuse(format!("Tenant {:?} not found", args.tenant)))?;
    let catalog = Api::<ServiceCatalog>::all(client.clone())
        .get_opt(&tenant.spec.catalog_ref)
        .await?
        .ok_or_else(|| {
            refuse(format!(
                "ServiceCatalog {:?} not found",
                tenant.spec.catalog_ref
            ))
        })?;
    let valid = crate::plan::validate(&tenant, &catalog).map_err(|e| refuse(e.to_string()))?;
    let backup = valid.backup().ok_or_else(|| {
        refuse(format!(
            "ServiceCatalog {:?} has no spec.backup: tenant {:?} has no backups to restore",
            tenant.spec.catalog_ref, args.tenant
        ))
    })?;
    let home = valid.namespace();
    let namespace = args.to_namespace.as_deref().unwrap_or(home);
    let claim = args.to_claim.as_deref().unwrap_or(default_claim);
    let restore = restore_object(&args, &tenant.name_any(), backup, namespace, claim);
    if args.dry_run {
        let yaml = serde_saphyr::to_string(&restore).expect("a Restore serializes");
        writeln!(out, "{}", yaml.trim_end())?;
        return Ok(());
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    if claims.get_opt(claim).await?.is_none() {
        return Err(refuse(format!(
            "--to-claim: PersistentVolumeClaim {namespace}/{claim} does not exist; create it first (at least as large as {default_claim})"
        )));
    }
    if namespace != home {
        copy_secrets(&client, home, namespace).await?;
    }
    let api: Api<Restore> = Api::namespaced(client, namespace);
    match api.create(&PostParams::default(), &restore).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.is_already_exists() => {
            return Err(refuse(format!(
                "Restore {namespace}/{} already exists: this snapshot was already asked for; delete it to ask again",
                restore.name_any()
            )));
        }
        Err(err) => return Err(err.into()),
    }
    writeln!(
        out,
        "created Restore {namespace}/{}: snapshot {} of tenant {} into PersistentVolumeClaim {claim}\nprogress: kubectl get tenant {} -o jsonpath='{{.status.backup.lastRestore}}'",
        restore.name_any(),
        args.snapshot,
        args.tenant,
        args.tenant
    )?;
    Ok(())
}

/// The repository key and S3 credentials, copied into the namespace a Restore runs in (K8up
/// reads a job's Secrets from its own namespace). An existing Secret there is left alone.
async fn copy_secrets(client: &Client, from: &str, to: &str) -> Result<(), RestoreError> {
    let source: Api<Secret> = Api::namespaced(client.clone(), from);
    let target: Api<Secret> = Api::namespaced(client.clone(), to);
    for name in [backup::REPOSITORY_SECRET, backup::S3_SECRET] {
        let secret = source.get_opt(name).await?.ok_or_else(|| {
            refuse(format!(
                "Secret {from}/{name} does not exist: no backup has been set up yet"
            ))
        })?;
        let copy = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(to.to_owned()),
                ..ObjectMeta::default()
            },
            data: secret.data,
            type_: secret.type_,
            ..Secret::default()
        };
        match target.create(&PostParams::default(), &copy).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.is_already_exists() => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_restores_its_own_volume_never_the_raw_database() {
        assert_eq!(claim_of(Service::Nas), Some("nas-data"));
        assert_eq!(claim_of(Service::Mail), Some("mail-data"));
        assert_eq!(claim_of(Service::Collaboration), Some("nextcloud-data"));
        assert_eq!(claim_of(Service::Dns), None);
        assert!(valid_snapshot("4f1c2e3d"));
        assert!(
            !valid_snapshot("4F1C2E3D") && !valid_snapshot("abc") && !valid_snapshot("zzzzzzzz")
        );
    }
}
