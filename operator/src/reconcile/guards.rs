//! Checks before the first write of a reconcile, so that one tenant cannot take what belongs to
//! another: a domain an older tenant claims (`DomainConflict`), a namespace mutualis did not
//! create for it (`NamespaceConflict`, e.g. a Tenant named `system` and the operator's own
//! `mutualis-system`). A refused tenant gets nothing applied and is looked at again shortly, so
//! that it proceeds once the other tenant lets go (a deletion or an edit of another tenant does
//! not trigger its reconcile).

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use std::collections::HashSet;

use kube::runtime::controller::Action;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use super::children::TENANT_LABEL;
use super::controller::Context;
use super::error::Result;
use super::report::{Refusal, refuse};
use crate::api::Tenant;
use crate::api::conditions::reasons;
use crate::plan::claims::ClaimIndex;
use crate::plan::object::labels;

/// The claim index the reconciler shares.
pub type SharedClaims = std::sync::Arc<std::sync::Mutex<ClaimIndex>>;

/// An inspector of the Tenant watch that keeps `claims` in step with it. A re-list replaces
/// the index only once it is complete (tenants not listed again are dropped at its end).
pub fn indexer(
    claims: SharedClaims,
) -> impl FnMut(&std::result::Result<watcher::Event<Tenant>, watcher::Error>) {
    let mut relisted: Option<HashSet<String>> = None;
    move |event| {
        let Ok(event) = event else { return };
        let mut index = claims.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            watcher::Event::Apply(t) => index.upsert(t),
            watcher::Event::Delete(t) => index.remove(&t.name_any()),
            watcher::Event::Init => relisted = Some(HashSet::new()),
            watcher::Event::InitApply(t) => {
                index.upsert(t);
                if let Some(seen) = relisted.as_mut() {
                    seen.insert(t.name_any());
                }
            }
            watcher::Event::InitDone => {
                if let Some(seen) = relisted.take() {
                    index.retain(|name| seen.contains(name));
                }
            }
        }
    }
}

/// How soon a tenant refused for a conflict checks again.
pub const CONFLICT_RECHECK: Duration = Duration::from_secs(10);

/// `Some(action)` when `tenant` must not be applied: the refusal is reported already.
pub async fn check(tenant: &Tenant, ctx: &Context, namespace: &str) -> Result<Option<Action>> {
    // The controller may hand out tenants of its first list before the store holds them all:
    // never decide who came first on half a list.
    let _ = ctx.tenants.wait_until_ready().await;
    let refusal = match domain_conflict(tenant, ctx) {
        Some(refusal) => Some(refusal),
        None => namespace_conflict(tenant, ctx, namespace).await?,
    };
    match refusal {
        Some(refusal) => {
            tracing::info!(tenant = %tenant.name_any(), reason = refusal.reason, message = %refusal.message, "refused");
            refuse(tenant, ctx, refusal).await?;
            Ok(Some(Action::requeue(CONFLICT_RECHECK)))
        }
        None => Ok(None),
    }
}

/// Another tenant, older, already names one of this tenant's domains.
fn domain_conflict(tenant: &Tenant, ctx: &Context) -> Option<Refusal> {
    let index = ctx.claims.lock().unwrap_or_else(|p| p.into_inner());
    index.conflict(tenant).map(|err| Refusal {
        reason: reasons::DOMAIN_CONFLICT,
        message: err.to_string(),
    })
}

/// Whether `labels` say mutualis made this namespace for `tenant`.
pub fn is_tenant_namespace(
    labels_of: &std::collections::BTreeMap<String, String>,
    tenant: &str,
) -> bool {
    labels_of.get(TENANT_LABEL).map(String::as_str) == Some(tenant)
        && labels_of.get(labels::MANAGED_BY).map(String::as_str) == Some("mutualis")
}

/// The namespace exists and mutualis did not make it for this tenant. The cache holds only
/// namespaces mutualis manages; one missing from it is read once (before its creation, or when
/// it belongs to someone else).
async fn namespace_conflict(
    tenant: &Tenant,
    ctx: &Context,
    namespace: &str,
) -> Result<Option<Refusal>> {
    let name = tenant.name_any();
    let cached = ctx
        .children
        .cache("v1", "Namespace")
        .and_then(|c| c.get(None, namespace));
    if cached.as_ref().and_then(|c| c.tenant.as_deref()) == Some(name.as_str()) {
        return Ok(None);
    }
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    let Some(existing) = api.get_opt(namespace).await? else {
        return Ok(None);
    };
    if is_tenant_namespace(existing.labels(), &name) {
        return Ok(None);
    }
    let owner = existing
        .labels()
        .get(TENANT_LABEL)
        .map(|t| format!("Tenant {t:?}"))
        .unwrap_or_else(|| "someone else (it has no mutualis.io/tenant label)".to_owned());
    Ok(Some(Refusal {
        reason: reasons::NAMESPACE_CONFLICT,
        message: format!(
            "namespace {namespace:?} already exists and belongs to {owner}, not to this tenant; mutualis never adopts a namespace it did not create for the tenant. Rename the Tenant (its namespace is mutualis-<name>) or remove that namespace. Nothing was changed."
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_labelled_namespaces_are_the_tenants() {
        let l = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let ours = l(&[(TENANT_LABEL, "a"), (labels::MANAGED_BY, "mutualis")]);
        assert!(is_tenant_namespace(&ours, "a"));
        assert!(!is_tenant_namespace(&ours, "b"));
        assert!(!is_tenant_namespace(&l(&[(TENANT_LABEL, "a")]), "a"));
        assert!(!is_tenant_namespace(
            &l(&[("app.kubernetes.io/name", "mutualis")]),
            "system"
        ));
    }
}
