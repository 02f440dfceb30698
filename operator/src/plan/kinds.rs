//! The one table of the kinds of objects a tenant has: what the plan may produce, in apply
//! order, and for each what the reconciler needs to know — whether it is namespaced, what
//! happens to it when the plan drops it (retention), how an edit by someone else shows (drift
//! signal) — and so which caches it keeps and which RBAC verbs the chart must grant. The
//! reconciler's caches and a test of the chart's ClusterRole are derived from this table.

/// What happens to a kind's objects when the plan stops holding them, and on tenant deletion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Owned by the Tenant; pruned when the plan no longer holds it.
    Owned,
    /// Tenant data (volumes and the credentials that open them): never carries an owner
    /// reference, so no garbage collector can take it; deleted only under `deletionPolicy: Delete`.
    Data,
    /// The tenant's namespace: kept while the tenant exists and under `Retain` (it holds the data).
    Namespace,
}

/// How the reconciler notices that someone edited a child it applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriftSignal {
    /// The object's `metadata.generation` moves on spec edits only.
    Generation,
    /// Nobody but us writes this kind: any new resourceVersion is an edit.
    ResourceVersion,
    /// Others write its status (quota usage, load-balancer and ingress addresses): a digest of
    /// its labels, annotations and `spec`, kept by the whole-object watch, is compared with the
    /// one our last apply answered, so an edit is corrected at once and a status write costs
    /// nothing.
    Spec,
    /// Only the applied-hash annotation is compared; other drift is corrected at the periodic
    /// resync. Left to PersistentVolumeClaims alone: their one mutable applied field is the
    /// storage request, which cannot shrink and whose growth by someone else is kept on
    /// purpose (no volume shrinks), so there is nothing to correct promptly.
    Hash,
}

/// What the reconciler keeps of each object of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cached {
    /// Metadata only (a metadata watch).
    Metadata,
    /// A few fields of the state, read into status (the whole object is watched).
    State,
}

/// One kind of child object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildKind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The resource name in URLs and RBAC rules.
    pub plural: &'static str,
    pub namespaced: bool,
    pub retention: Retention,
    pub drift: DriftSignal,
    pub cached: Cached,
}

impl ChildKind {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// What installs this kind on a cluster, when Kubernetes itself does not: the operator
    /// works without it (its cache stays empty) and says what to install when a plan needs it.
    pub fn prerequisite(&self) -> Option<&'static str> {
        match self.group {
            "cert-manager.io" => Some("cert-manager"),
            "k8up.io" => Some("K8up"),
            _ => None,
        }
    }

    /// The RBAC verbs the operator needs on this kind: informers (`list`, `watch`) and reads
    /// (`get`), server-side apply or creation (`create`, `patch`), pruning and cleanup (`delete`).
    pub fn verbs(&self) -> &'static [&'static str] {
        &["get", "list", "watch", "create", "patch", "delete"]
    }
}

#[allow(clippy::too_many_arguments)] // one row of the table below, read as such
const fn kind(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    retention: Retention,
    drift: DriftSignal,
    cached: Cached,
) -> ChildKind {
    ChildKind {
        group,
        version,
        kind,
        plural,
        namespaced,
        retention,
        drift,
        cached,
    }
}

use Cached::{Metadata, State};
use DriftSignal::{Generation, Hash, ResourceVersion, Spec};
use Retention::{Data, Namespace, Owned};

/// Every kind, in apply order: what others depend on first. Secrets are not planned objects
/// (the plan only requests them, see `secrets`) but are children all the same.
#[rustfmt::skip]
pub const CHILD_KINDS: &[ChildKind] = &[
    kind("", "v1", "Namespace", "namespaces", false, Namespace, ResourceVersion, Metadata),
    kind("", "v1", "ResourceQuota", "resourcequotas", true, Owned, Spec, State),
    kind("", "v1", "LimitRange", "limitranges", true, Owned, ResourceVersion, Metadata),
    kind("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, Owned, ResourceVersion, Metadata),
    kind("rbac.authorization.k8s.io", "v1", "Role", "roles", true, Owned, ResourceVersion, Metadata),
    kind("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, Owned, ResourceVersion, Metadata),
    kind("", "v1", "Secret", "secrets", true, Data, ResourceVersion, Metadata),
    kind("", "v1", "ConfigMap", "configmaps", true, Owned, ResourceVersion, Metadata),
    kind("cert-manager.io", "v1", "Certificate", "certificates", true, Owned, Generation, Metadata),
    kind("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, Data, Hash, State),
    // A load-balancer or ingress controller writes their status: compared by digest too.
    kind("", "v1", "Service", "services", true, Owned, Spec, State),
    kind("apps", "v1", "Deployment", "deployments", true, Owned, Generation, State),
    kind("networking.k8s.io", "v1", "Ingress", "ingresses", true, Owned, Spec, State),
    kind("batch", "v1", "CronJob", "cronjobs", true, Owned, Generation, Metadata),
    // K8up writes the Schedule's status (and a finalizer): only spec edits are drift.
    kind("k8up.io", "v1", "Schedule", "schedules", true, Owned, Generation, Metadata),
];

/// Kinds the operator only watches, never writes: K8up's jobs in the tenants' namespaces, whose
/// state goes into the backup status. (group, plural); the verbs a watch needs.
pub const OBSERVED_KINDS: &[(&str, &str)] = &[
    ("k8up.io", "backups"),
    ("k8up.io", "checks"),
    ("k8up.io", "restores"),
];
pub const OBSERVED_VERBS: &[&str] = &["list", "watch"];

/// The table entry of `kind`.
pub fn child_kind(kind: &str) -> Option<&'static ChildKind> {
    CHILD_KINDS.iter().find(|k| k.kind == kind)
}

/// Rank of a kind in apply order (its place in [`CHILD_KINDS`]).
pub fn apply_rank(kind: &str) -> usize {
    CHILD_KINDS
        .iter()
        .position(|k| k.kind == kind)
        .unwrap_or_else(|| panic!("bug: {kind} is not in plan::kinds::CHILD_KINDS"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Object;

    /// One object of every variant of `Object`: each must be in the table with the same API
    /// coordinates its type has, so the caches and RBAC derived from the table cover the plan.
    #[test]
    fn every_object_variant_is_a_child_kind_with_its_coordinates() {
        use k8s_openapi::api::{apps, batch, core, networking, rbac};
        let all: Vec<Object> = vec![
            core::v1::Namespace::default().into(),
            core::v1::ResourceQuota::default().into(),
            core::v1::LimitRange::default().into(),
            networking::v1::NetworkPolicy::default().into(),
            rbac::v1::Role::default().into(),
            rbac::v1::RoleBinding::default().into(),
            core::v1::ConfigMap::default().into(),
            crate::plan::certificate::Certificate::default().into(),
            core::v1::PersistentVolumeClaim::default().into(),
            core::v1::Service::default().into(),
            apps::v1::Deployment::default().into(),
            networking::v1::Ingress::default().into(),
            batch::v1::CronJob::default().into(),
            crate::api::k8up::Schedule::default().into(),
        ];
        for o in &all {
            let k = child_kind(o.kind()).unwrap_or_else(|| panic!("{} not in the table", o.kind()));
            let ar = o.api_resource();
            assert_eq!(k.api_version(), ar.api_version, "{}", k.kind);
            assert_eq!(k.plural, ar.plural, "{}", k.kind);
        }
        // Secrets are the one kind the table holds without a planned object.
        assert_eq!(CHILD_KINDS.len(), all.len() + 1);
    }

    #[test]
    fn kinds_are_unique() {
        let mut names: Vec<_> = CHILD_KINDS.iter().map(|k| k.kind).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CHILD_KINDS.len());
    }
}
