//! Reading the live cluster for `diff`: the inputs the reconciler would plan with, the volumes
//! a plan would shrink or grow, and the children it would prune.

use std::collections::BTreeSet;

use kube::api::{Api, DynamicObject, ListParams};
use kube::{Client, ResourceExt};

use super::DiffError;
use super::report::{Report, describe};
use crate::api::Tenant;
use crate::plan::object::labels;
use crate::plan::quantity::parse_bytes;
use crate::plan::secrets::DKIM_SECRET;
use crate::plan::{Object, Plan, PlanInputs, ZoneVersions};
use crate::reconcile::children::{ChildKind, Retention, TENANT_LABEL};
use crate::reconcile::inputs::dkim_from_annotations;

pub fn dynamic_api(
    client: &Client,
    kind: &ChildKind,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match namespace {
        Some(ns) if kind.namespaced => Api::namespaced_with(client.clone(), ns, &kind.resource),
        _ => Api::all_with(client.clone(), &kind.resource),
    }
}

pub fn kind_of<'a>(kinds: &'a [ChildKind], object: &Object) -> Option<&'a ChildKind> {
    let resource = object.api_resource();
    kinds.iter().find(|k| {
        k.resource.api_version == resource.api_version && k.resource.kind == resource.kind
    })
}

/// `from → to` when `planned` is a PersistentVolumeClaim larger than `live`.
pub fn growth(live: &DynamicObject, planned: &Object) -> Option<String> {
    let Object::PersistentVolumeClaim(pvc) = planned else {
        return None;
    };
    let want = pvc
        .spec
        .as_ref()?
        .resources
        .as_ref()?
        .requests
        .as_ref()?
        .get("storage")?;
    let have = live.data["spec"]["resources"]["requests"]["storage"].as_str()?;
    (parse_bytes(&want.0)? > parse_bytes(have)?).then(|| format!("{have} → {}", want.0))
}

/// Refuses the tenant, naming every volume, when a planned volume is smaller than the live one
/// (the operator would refuse it and change nothing). Returns whether the diff goes on.
pub async fn refuse_shrinks(
    client: &Client,
    plan: &Plan,
    report: &mut Report,
) -> Result<bool, DiffError> {
    let volumes: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(client.clone(), &plan.namespace);
    let mut shrunk = Vec::new();
    for volume in &plan.storage.volumes {
        let Some(live) = volumes.get_opt(volume.pvc).await? else {
            continue;
        };
        let have = live
            .spec
            .and_then(|s| s.resources?.requests?.get("storage").map(|q| q.0.clone()));
        if let Some(have) = have
            && let Some(h) = parse_bytes(&have)
            && volume.bytes < h
        {
            shrunk.push(format!(
                "PersistentVolumeClaim {}/{} from {have} to {}",
                plan.namespace,
                volume.pvc,
                volume.quantity()
            ));
        }
    }
    if shrunk.is_empty() {
        return Ok(true);
    }
    report.refuse(format!(
        "spec.tier {:?} would shrink {} volume(s); the operator refuses it and changes nothing",
        plan.tier,
        shrunk.len()
    ));
    for s in shrunk {
        report.line("!", format!("shrink {s}"));
    }
    Ok(false)
}

/// Live children of the tenant the plan no longer holds, as the reconciler would prune them.
pub async fn prunes(
    client: &Client,
    kinds: &[ChildKind],
    tenant: &Tenant,
    keep: &BTreeSet<(&str, Option<String>, String)>,
    report: &mut Report,
) -> Result<(), DiffError> {
    let delete_data = tenant.spec.deletion_policy == crate::api::DeletionPolicy::Delete;
    let selector = format!(
        "{TENANT_LABEL}={},{}={}",
        tenant.name_any(),
        labels::MANAGED_BY,
        labels::MUTUALIS
    );
    for kind in kinds {
        if kind.retention == Retention::Namespace
            || (kind.retention == Retention::Data && !delete_data)
        {
            continue;
        }
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &kind.resource);
        for live in api
            .list_metadata(&ListParams::default().labels(&selector))
            .await?
        {
            let key = (
                kind.resource.kind.as_str(),
                live.metadata.namespace.clone(),
                live.name_any(),
            );
            if live.metadata.deletion_timestamp.is_none() && !keep.contains(&key) {
                report.change(
                    "-",
                    format!("{} (pruned)", describe(key.0, key.1.as_deref(), &key.2)),
                );
            }
        }
    }
    Ok(())
}

/// The inputs the reconciler would plan with, read from the cluster instead of its caches:
/// the DKIM public key, the zone serials last published, the mail LoadBalancer's addresses.
pub async fn observe(client: &Client, draft: &Plan) -> Result<PlanInputs, DiffError> {
    let ns = &draft.namespace;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
    let dkim = secrets
        .get_metadata_opt(DKIM_SECRET)
        .await?
        .and_then(|s| dkim_from_annotations(s.annotations()));
    let mut previous_zones = ZoneVersions::default();
    // The zones ConfigMap lives in the shared name servers' namespace, not the tenant's.
    if let Some(object) = draft.zones_config_map() {
        let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(client.clone(), object.namespace().unwrap_or(ns));
        if let Some(cm) = config_maps.get_metadata_opt(object.name()).await? {
            previous_zones = ZoneVersions::from_annotations(
                cm.metadata
                    .annotations
                    .as_ref()
                    .unwrap_or(&Default::default()),
            );
        }
    }
    let services: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(client.clone(), ns);
    let mut mail_addresses = Vec::new();
    let mut load_balancer_addresses = std::collections::BTreeMap::new();
    let mail = draft.mail_load_balancer().map(|o| o.name().to_owned());
    for name in draft.load_balancers() {
        if let Some(live) = services.get_opt(name).await? {
            let found = crate::reconcile::children::service_addresses(&live);
            if mail.as_deref() == Some(name) {
                mail_addresses.clone_from(&found);
            }
            load_balancer_addresses.insert(name.to_owned(), found);
        }
    }
    let mail_certificate_issued = match draft.mail_certificate_secret() {
        Some(name) => secrets.get_metadata_opt(name).await?.is_some(),
        None => false,
    };
    Ok(PlanInputs {
        dkim,
        previous_zones,
        mail_addresses,
        mail_certificate_issued,
        load_balancer_addresses,
    })
}
