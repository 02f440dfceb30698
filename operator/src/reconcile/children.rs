//! The kinds of objects a tenant's plan creates, and the operator's caches of them.
//!
//! Every child kind is watched once, cluster-wide, filtered by the `managed-by` label. Most are
//! watched as metadata only (memory does not grow with the children's size); the three whose
//! state feeds the tenant's status (Deployments, StatefulSets, PersistentVolumeClaims) are kept
//! whole but stripped of what status does not need. Reconciles read these caches, never the API.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use futures::FutureExt;
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, StatefulSet, StatefulSetSpec};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, Namespace, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    ResourceQuota, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ApiResource, PartialObjectMeta};
use kube::core::{Resource, ResourceExt};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde::de::DeserializeOwned;

use super::apply::{AppliedRecords, ChildKey};
use super::compact::CompactCache;
use crate::api::Tenant;

/// Label every child carries: which tenant it belongs to.
pub const TENANT_LABEL: &str = "mutualis.io/tenant";
/// Label selector of everything the operator manages.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=mutualis";

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
    /// Others write its status often (quota usage, volume binding): only the applied-hash
    /// annotation is compared; other drift is corrected at the periodic resync.
    Hash,
}

/// A child kind: its API coordinates and the policies above.
#[derive(Clone, Debug)]
pub struct ChildKind {
    pub resource: ApiResource,
    pub namespaced: bool,
    pub retention: Retention,
    pub drift: DriftSignal,
}

/// The metadata of one cached child.
#[derive(Clone, Debug)]
pub struct ChildMeta {
    pub namespace: Option<String>,
    pub name: String,
    /// The `mutualis.io/tenant` label.
    pub tenant: Option<String>,
    /// mutualis' own annotations (`mutualis.io/...`).
    pub annotations: BTreeMap<String, String>,
    pub generation: Option<i64>,
    pub resource_version: Option<String>,
    pub owner_uids: Vec<String>,
    pub deleting: bool,
}

impl ChildMeta {
    fn of<K: Resource>(obj: &K) -> Self {
        let m = obj.meta();
        ChildMeta {
            namespace: m.namespace.clone(),
            name: m.name.clone().unwrap_or_default(),
            tenant: m.labels.as_ref().and_then(|l| l.get(TENANT_LABEL).cloned()),
            annotations: m.annotations.clone().unwrap_or_default(),
            generation: m.generation,
            resource_version: m.resource_version.clone(),
            owner_uids: m
                .owner_references
                .iter()
                .flatten()
                .map(|o| o.uid.clone())
                .collect(),
            deleting: m.deletion_timestamp.is_some(),
        }
    }
}

/// A cache of one child kind, whatever the cached representation.
pub trait ChildCache: Send + Sync {
    fn kind(&self) -> &ChildKind;
    fn get(&self, namespace: Option<&str>, name: &str) -> Option<ChildMeta>;
    /// Every cached object labelled as belonging to `tenant`.
    fn of_tenant(&self, tenant: &str) -> Vec<ChildMeta>;
    /// Resolves once the cache has had its initial list (false if its writer is gone).
    fn ready(&self) -> futures::future::BoxFuture<'static, bool>;
}

struct Cache<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    kind: ChildKind,
    store: Store<K>,
}

impl<K> ChildCache for Cache<K>
where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    fn kind(&self) -> &ChildKind {
        &self.kind
    }

    fn get(&self, namespace: Option<&str>, name: &str) -> Option<ChildMeta> {
        let mut key = ObjectRef::<K>::new(name);
        if let Some(ns) = namespace {
            key = key.within(ns);
        }
        self.store.get(&key).map(|o| ChildMeta::of(o.as_ref()))
    }

    fn of_tenant(&self, tenant: &str) -> Vec<ChildMeta> {
        self.store
            .state_filter(|o| o.labels().get(TENANT_LABEL).map(String::as_str) == Some(tenant))
            .iter()
            .map(|o| ChildMeta::of(o.as_ref()))
            .collect()
    }

    fn ready(&self) -> futures::future::BoxFuture<'static, bool> {
        let store = self.store.clone();
        async move { store.wait_until_ready().await.is_ok() }.boxed()
    }
}

/// A trigger stream: one item per child change, mapped to its tenant by label.
pub type Trigger = std::pin::Pin<Box<dyn Stream<Item = ObjectRef<Tenant>> + Send>>;

fn tenant_of(labels: &BTreeMap<String, String>) -> Option<ObjectRef<Tenant>> {
    labels.get(TENANT_LABEL).map(|t| ObjectRef::new(t))
}

/// The tenant to reconcile for a change of `obj`, unless the change is our own last apply.
fn trigger_for<K: Resource>(
    obj: &K,
    kind: &str,
    records: &AppliedRecords,
) -> Option<ObjectRef<Tenant>> {
    let meta = obj.meta();
    let key = ChildKey {
        kind: kind.to_owned(),
        namespace: meta.namespace.clone(),
        name: meta.name.clone().unwrap_or_default(),
    };
    if records.is_own_write(&key, meta.resource_version.as_deref()) {
        return None;
    }
    tenant_of(obj.labels())
}

fn watch_config() -> watcher::Config {
    watcher::Config::default().labels(MANAGED_SELECTOR)
}

fn kind_of<K: Resource<DynamicType = ()>>(
    namespaced: bool,
    retention: Retention,
    drift: DriftSignal,
) -> ChildKind {
    ChildKind {
        resource: ApiResource::erase::<K>(&()),
        namespaced,
        retention,
        drift,
    }
}

/// A metadata-only, compact cache of `K` and the trigger stream that keeps it filled.
fn metadata_cache<K>(
    client: &Client,
    kind: ChildKind,
    records: &Arc<AppliedRecords>,
) -> (Arc<CompactCache>, Trigger)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let cache = Arc::new(CompactCache::new(kind.clone()));
    let stream = watcher(
        Api::<PartialObjectMeta<K>>::all(client.clone()),
        watch_config(),
    )
    .default_backoff()
    .filter_map({
        let cache = cache.clone();
        let records = records.clone();
        let kind = kind.resource.kind.clone();
        move |event| {
            let trigger = event.ok().and_then(|event| {
                cache.apply(&event);
                match &event {
                    watcher::Event::Apply(o)
                    | watcher::Event::Delete(o)
                    | watcher::Event::InitApply(o) => trigger_for(o, &kind, &records),
                    watcher::Event::Init | watcher::Event::InitDone => None,
                }
            });
            async move { trigger }
        }
    })
    .boxed();
    (cache, stream)
}

/// Keeps of a cached child's metadata what the reconciler reads: name, namespace, version,
/// generation, deletion, our labels and annotations, and the owners' uids. Memory then grows
/// with the number of children, not with their size (thousands per thousand tenants).
pub fn slim(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    meta.uid = None;
    meta.creation_timestamp = None;
    meta.generate_name = None;
    if let Some(labels) = meta.labels.as_mut() {
        labels.retain(|k, _| k.starts_with("mutualis.io/"));
    }
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|k, _| k.starts_with("mutualis.io/"));
    }
    for owner in meta.owner_references.iter_mut().flatten() {
        // Only the uid is compared; the other fields are required strings, emptied.
        owner.api_version = String::new();
        owner.kind = String::new();
        owner.name = String::new();
    }
}

/// A whole-object cache of `K`, with `strip` removing what status does not need.
fn object_cache<K>(
    client: &Client,
    kind: ChildKind,
    strip: fn(&mut K),
) -> (Arc<dyn ChildCache>, Store<K>, Trigger)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store::<K>();
    let stream = watcher(Api::<K>::all(client.clone()), watch_config())
        .default_backoff()
        .modify(move |o: &mut K| {
            slim(o.meta_mut());
            strip(o);
        })
        .reflect(writer)
        .touched_objects()
        // Every change counts here, our own writes included: the answer to a write may
        // already carry a new status (a scaled-down Deployment is available at once), and
        // status is what these caches are for.
        .filter_map(|r| async move { r.ok().and_then(|o| tenant_of(o.labels())) })
        .boxed();
    let cache = Arc::new(Cache {
        kind,
        store: store.clone(),
    });
    (cache, store, stream)
}

/// Every cache the reconciler reads.
#[derive(Clone)]
pub struct Children {
    caches: Vec<Arc<dyn ChildCache>>,
    pub deployments: Store<Deployment>,
    pub statefulsets: Store<StatefulSet>,
    pub volumes: Store<PersistentVolumeClaim>,
    pub services: Store<Service>,
    pub config_maps: Arc<CompactCache>,
    pub secrets: Arc<CompactCache>,
}

impl Children {
    /// Starts nothing: returns the caches and the streams that fill them (the controller polls
    /// the streams as triggers).
    pub fn new(client: &Client, records: &Arc<AppliedRecords>) -> (Self, Vec<Trigger>) {
        use DriftSignal as D;
        use Retention as R;
        let mut caches = Vec::new();
        let mut triggers = Vec::new();
        macro_rules! meta {
            ($k:ty, $ns:expr, $ret:expr, $drift:expr) => {{
                let (cache, trigger) =
                    metadata_cache::<$k>(client, kind_of::<$k>($ns, $ret, $drift), records);
                caches.push(cache.clone() as Arc<dyn ChildCache>);
                triggers.push(trigger);
                cache
            }};
        }
        meta!(Namespace, false, R::Namespace, D::Hash);
        meta!(ResourceQuota, true, R::Owned, D::Hash);
        meta!(LimitRange, true, R::Owned, D::ResourceVersion);
        meta!(NetworkPolicy, true, R::Owned, D::ResourceVersion);
        meta!(ServiceAccount, true, R::Owned, D::ResourceVersion);
        meta!(Role, true, R::Owned, D::ResourceVersion);
        meta!(RoleBinding, true, R::Owned, D::ResourceVersion);
        let config_maps = meta!(ConfigMap, true, R::Owned, D::ResourceVersion);
        let secrets = meta!(Secret, true, R::Data, D::ResourceVersion);
        meta!(Ingress, true, R::Owned, D::Hash);
        meta!(CronJob, true, R::Owned, D::Generation);

        let (cache, deployments, trigger) = object_cache::<Deployment>(
            client,
            kind_of::<Deployment>(true, R::Owned, D::Generation),
            |d| {
                if let Some(spec) = d.spec.as_mut() {
                    *spec = DeploymentSpec {
                        replicas: spec.replicas,
                        ..Default::default()
                    };
                }
                if let Some(status) = d.status.as_mut() {
                    status.conditions = None;
                }
            },
        );
        caches.push(cache);
        triggers.push(trigger);
        let (cache, statefulsets, trigger) = object_cache::<StatefulSet>(
            client,
            kind_of::<StatefulSet>(true, R::Owned, D::Generation),
            |s| {
                if let Some(spec) = s.spec.as_mut() {
                    *spec = StatefulSetSpec {
                        replicas: spec.replicas,
                        ..Default::default()
                    };
                }
                if let Some(status) = s.status.as_mut() {
                    status.conditions = None;
                }
            },
        );
        caches.push(cache);
        triggers.push(trigger);
        // Services are kept for their load-balancer address (the mail host's DNS records).
        let (cache, services, trigger) =
            object_cache::<Service>(client, kind_of::<Service>(true, R::Owned, D::Hash), |s| {
                s.spec = None
            });
        caches.push(cache);
        triggers.push(trigger);
        let (cache, volumes, trigger) = object_cache::<PersistentVolumeClaim>(
            client,
            kind_of::<PersistentVolumeClaim>(true, R::Data, D::Hash),
            |v| {
                if let Some(spec) = v.spec.as_mut() {
                    *spec = PersistentVolumeClaimSpec {
                        resources: spec.resources.take(),
                        ..Default::default()
                    };
                }
                if let Some(status) = v.status.as_mut() {
                    status.conditions = None;
                    status.access_modes = None;
                }
            },
        );
        caches.push(cache);
        triggers.push(trigger);

        (
            Children {
                caches,
                deployments,
                statefulsets,
                volumes,
                services,
                config_maps,
                secrets,
            },
            triggers,
        )
    }

    /// The cache of the kind `api_version`/`kind`, if the operator manages that kind.
    pub fn cache(&self, api_version: &str, kind: &str) -> Option<&Arc<dyn ChildCache>> {
        self.caches.iter().find(|c| {
            c.kind().resource.api_version == api_version && c.kind().resource.kind == kind
        })
    }

    pub fn all(&self) -> &[Arc<dyn ChildCache>] {
        &self.caches
    }

    /// Waits until every cache has had its initial list, so that no decision (skip, prune,
    /// shrink check) is taken on an empty cache.
    pub async fn wait_until_ready(&self) -> bool {
        futures::future::join_all(self.caches.iter().map(|c| c.ready()))
            .await
            .into_iter()
            .all(|ok| ok)
    }
}

/// API kinds of the children, for write metrics.
pub const WRITTEN_KINDS: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "Ingress",
    "CronJob",
    "Deployment",
    "StatefulSet",
    "PersistentVolumeClaim",
    "Tenant",
];
