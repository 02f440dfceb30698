//! A Tenant deleted under `deletionPolicy: Delete` takes its namespace, and with it the Secret
//! holding its backup repository's key. The repository itself (in the catalogue's bucket) is
//! never deleted by mutualis or K8up; without the key it could not be read. So before the
//! namespace goes, the key is copied into the namespace of the catalogue's S3 credentials, as
//! `backup-key-<tenant>`, annotated with the date until which the catalogue says it is kept
//! (`spec.backup.deletionRetentionDays`). Nothing deletes it automatically: after that date a
//! person may delete it (and the bucket prefix), see docs/backups.md.
//! The annotation `mutualis.io/keep-backup-key: "false"` on the Tenant says otherwise.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::{Timestamp, ToSpan};
use kube::ResourceExt;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::reflector::ObjectRef;

use super::controller::Context;
use super::error::Result;
use crate::api::{ServiceCatalog, Tenant};
use crate::plan::backup::{PASSWORD_KEY, REPOSITORY_SECRET};
use crate::plan::object::labels;

/// On the kept key: until when the catalogue keeps it (RFC 3339).
pub const KEEP_UNTIL: &str = "mutualis.io/keep-until";
/// On the kept key: the repository it opens.
pub const REPOSITORY: &str = "mutualis.io/repository";
/// On a Tenant: `"false"` lets `Delete` take the key with the namespace.
pub const KEEP_KEY_ANNOTATION: &str = "mutualis.io/keep-backup-key";
/// Label of kept keys, to list them.
pub const KEPT_KEY_LABEL: &str = "mutualis.io/backup-key-of";

/// The name of a deleted tenant's kept key.
pub fn kept_name(tenant: &str) -> String {
    format!("backup-key-{tenant}")
}

/// Copies the tenant's repository key out of its namespace; returns where it went.
pub async fn keep(ctx: &Context, tenant: &Tenant, namespace: &str) -> Result<Option<String>> {
    if tenant
        .annotations()
        .get(KEEP_KEY_ANNOTATION)
        .map(String::as_str)
        == Some("false")
    {
        return Ok(None);
    }
    let Some(catalog) = ctx
        .catalogs
        .get(&ObjectRef::<ServiceCatalog>::new(&tenant.spec.catalog_ref))
    else {
        return Ok(None);
    };
    let Some(backup) = catalog.spec.backup.as_ref() else {
        return Ok(None);
    };
    let source: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(key) = source
        .get_opt(REPOSITORY_SECRET)
        .await?
        .and_then(|s| s.data)
        .and_then(|mut d| d.remove(PASSWORD_KEY))
    else {
        return Ok(None);
    };
    let name = tenant.name_any();
    let until = Timestamp::now()
        .checked_add((i64::from(backup.deletion_retention_days) * 24).hours())
        .unwrap_or(Timestamp::MAX);
    let home = &backup.s3.credentials_secret_ref.namespace;
    let repository = format!(
        "s3:{}/{}/{name}",
        backup.s3.endpoint.trim_end_matches('/'),
        backup.s3.bucket
    );
    let kept = Secret {
        metadata: ObjectMeta {
            name: Some(kept_name(&name)),
            namespace: Some(home.clone()),
            labels: Some(BTreeMap::from([
                (labels::MANAGED_BY.to_owned(), labels::MUTUALIS.to_owned()),
                (KEPT_KEY_LABEL.to_owned(), name.clone()),
            ])),
            annotations: Some(BTreeMap::from([
                (KEEP_UNTIL.to_owned(), until.to_string()),
                (REPOSITORY.to_owned(), repository),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(PASSWORD_KEY.to_owned(), key)])),
        ..Secret::default()
    };
    let target: Api<Secret> = Api::namespaced(ctx.client.clone(), home);
    match target.create(&PostParams::default(), &kept).await {
        Ok(_) => ctx.wrote("Secret"),
        // A retry of this deletion, or an earlier tenant of the same name: that key is kept.
        Err(kube::Error::Api(s)) if s.is_already_exists() => {}
        Err(err) => return Err(err.into()),
    }
    Ok(Some(format!("{home}/{} until {until}", kept_name(&name))))
}
