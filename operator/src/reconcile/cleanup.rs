//! Deletion of a Tenant, by its `deletionPolicy`. `Retain` removes the services and keeps the
//! namespace with every volume and the credentials that open them, free of owner references so
//! that no garbage collector takes them later; `Delete` removes everything but the backup
//! repository's key, kept for the catalogue's retention period (see `backup_key`).

use std::collections::BTreeSet;

use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::apply::{self, ChildKey};
use super::children::Retention;
use super::controller::Context;
use super::error::Result;
use super::report::event;
use crate::api::{DeletionPolicy, Tenant};

/// Annotation on what `Retain` kept: the uid of the Tenant it came from.
pub const RETAINED_FROM: &str = "mutualis.io/retained-from";

pub async fn run(tenant: &Tenant, ctx: &Context) -> Result<Action> {
    let name = tenant.name_any();
    let uid = tenant.uid().unwrap_or_default();
    let wrote = |kind: &str| ctx.wrote(kind);
    let namespaces: Vec<String> = ctx
        .children
        .all()
        .iter()
        .filter(|c| c.kind().retention == Retention::Namespace)
        .flat_map(|c| c.of_tenant(&name))
        .map(|n| n.name)
        .collect();

    match tenant.spec.deletion_policy {
        DeletionPolicy::Retain => {
            let removed = apply::prune(
                &ctx.client,
                &ctx.children,
                &ctx.records,
                &name,
                &BTreeSet::<ChildKey>::new(),
                false,
                &wrote,
            )
            .await?;
            let mut kept = 0usize;
            for cache in ctx.children.all() {
                if cache.kind().retention == Retention::Owned {
                    continue;
                }
                for child in cache.of_tenant(&name) {
                    kept += 1;
                    if child.annotations.get(RETAINED_FROM) == Some(&uid)
                        && child.owner_uids.is_empty()
                    {
                        continue;
                    }
                    let ar = &cache.kind().resource;
                    let api: Api<DynamicObject> = match &child.namespace {
                        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, ar),
                        None => Api::all_with(ctx.client.clone(), ar),
                    };
                    // Data never carries owner references, but one set by hand (or by an
                    // older version) must not let the garbage collector take it now.
                    let patch = serde_json::json!({
                        "metadata": {
                            "ownerReferences": null,
                            "annotations": { RETAINED_FROM: uid },
                        }
                    });
                    api.patch(&child.name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await?;
                    wrote(&ar.kind);
                }
            }
            event(
                ctx,
                tenant,
                EventType::Normal,
                "Retained",
                "Delete",
                &format!(
                    "deletionPolicy Retain: removed {} objects, kept {kept} (namespace {}, volumes and credentials)",
                    removed.len(),
                    namespaces.join(", ")
                ),
            )
            .await;
        }
        DeletionPolicy::Delete => {
            let mut kept_key = None;
            for ns in &namespaces {
                kept_key = kept_key.or(super::backup_key::keep(ctx, tenant, ns).await?);
            }
            apply::prune(
                &ctx.client,
                &ctx.children,
                &ctx.records,
                &name,
                &BTreeSet::<ChildKey>::new(),
                true,
                &wrote,
            )
            .await?;
            let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(ctx.client.clone());
            for ns in &namespaces {
                match api.delete(ns, &DeleteParams::background()).await {
                    Ok(_) => wrote("Namespace"),
                    Err(kube::Error::Api(s)) if s.is_not_found() => {}
                    Err(err) => return Err(err.into()),
                }
            }
            event(
                ctx,
                tenant,
                EventType::Normal,
                "Deleted",
                "Delete",
                &format!(
                    "deletionPolicy Delete: deleted namespace {} and all its data{}",
                    namespaces.join(", "),
                    kept_key.map_or_else(String::new, |k| format!(
                        "; the backup repository's key is kept as Secret {k}"
                    ))
                ),
            )
            .await;
        }
    }
    for ns in &namespaces {
        ctx.records.forget_namespace(ns);
    }
    ctx.pruned.lock().expect("pruned lock").remove(&name);
    ctx.telemetry.metrics.tenant.forget(&name);
    ctx.last_status
        .lock()
        .expect("last status lock")
        .remove(&name);
    Ok(Action::await_change())
}
