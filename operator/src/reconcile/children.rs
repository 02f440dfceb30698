//! The kinds of objects a tenant's plan creates, and the operator's caches of them.
//!
//! Every child kind is watched once, cluster-wide, filtered by the `managed-by` label, into a
//! compact cache (see `compact`): most kinds as metadata only; the four whose state feeds the
//! tenant's status (Deployments, StatefulSets, PersistentVolumeClaims, Services) are watched
//! whole but only a few fields of them are kept. Reconciles read these caches, never the API.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, Namespace, PersistentVolumeClaim, ResourceQuota, Secret, Service,
    ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{ApiResource, PartialObjectMeta};
use kube::core::{Resource, ResourceExt};
use kube::runtime::reflector::ObjectRef;
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

/// A cache of one child kind, whatever the cached representation.
pub trait ChildCache: Send + Sync {
    fn kind(&self) -> &ChildKind;
    fn get(&self, namespace: Option<&str>, name: &str) -> Option<ChildMeta>;
    /// Every cached object labelled as belonging to `tenant`.
    fn of_tenant(&self, tenant: &str) -> Vec<ChildMeta>;
    /// Resolves once the cache has had its initial list (false if its writer is gone).
    fn ready(&self) -> futures::future::BoxFuture<'static, bool>;
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

/// A compact cache of the children of kind `K` (as watched: whole, or `PartialObjectMeta`),
/// keeping `state(object)` of each, and the trigger stream that keeps it filled. With
/// `own_writes_trigger` false, the watch event of our own last apply does not trigger a
/// reconcile; it must stay true where the API server's answer to a write may already carry
/// a new status (a scaled-down Deployment is available at once).
fn compact_cache<K, X>(
    api: Api<K>,
    kind: ChildKind,
    records: &Arc<AppliedRecords>,
    own_writes_trigger: bool,
    state: fn(&K) -> X,
) -> (Arc<CompactCache<X>>, Trigger)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    X: Clone + Send + Sync + 'static,
{
    let cache = Arc::new(CompactCache::new(kind.clone()));
    let stream = watcher(api, watch_config())
        .default_backoff()
        .filter_map({
            let cache = cache.clone();
            let records = records.clone();
            let kind = kind.resource.kind.clone();
            move |event| {
                let trigger = event.ok().and_then(|event| {
                    cache.apply(&event, state);
                    match &event {
                        watcher::Event::Apply(o)
                        | watcher::Event::Delete(o)
                        | watcher::Event::InitApply(o) => {
                            if own_writes_trigger {
                                tenant_of(o.labels())
                            } else {
                                trigger_for(o, &kind, &records)
                            }
                        }
                        watcher::Event::Init | watcher::Event::InitDone => None,
                    }
                });
                async move { trigger }
            }
        })
        .boxed();
    (cache, stream)
}

/// What status reads of a Deployment or StatefulSet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadState {
    pub replicas: i32,
    /// Available (Deployment) or ready (StatefulSet) replicas.
    pub ready: i32,
    pub generation: Option<i64>,
    pub observed_generation: Option<i64>,
}

/// What the reconciler reads of a PersistentVolumeClaim.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeState {
    /// `spec.resources.requests.storage`.
    pub requested: Option<String>,
    pub phase: Option<String>,
    /// `status.capacity.storage`.
    pub capacity: Option<String>,
}

fn deployment_state(d: &Deployment) -> WorkloadState {
    let status = d.status.as_ref();
    WorkloadState {
        replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        ready: status.and_then(|s| s.available_replicas).unwrap_or(0),
        generation: d.metadata.generation,
        observed_generation: status.and_then(|s| s.observed_generation),
    }
}

fn statefulset_state(s: &StatefulSet) -> WorkloadState {
    let status = s.status.as_ref();
    WorkloadState {
        replicas: s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        generation: s.metadata.generation,
        observed_generation: status.and_then(|s| s.observed_generation),
    }
}

fn volume_state(v: &PersistentVolumeClaim) -> VolumeState {
    let storage = |m: Option<
        &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >| { m.and_then(|m| m.get("storage")).map(|q| q.0.clone()) };
    VolumeState {
        requested: storage(
            v.spec
                .as_ref()
                .and_then(|s| s.resources.as_ref())
                .and_then(|r| r.requests.as_ref()),
        ),
        phase: v.status.as_ref().and_then(|s| s.phase.clone()),
        capacity: storage(v.status.as_ref().and_then(|s| s.capacity.as_ref())),
    }
}

/// The load-balancer addresses of a Service (the mail host's DNS records).
fn service_addresses(s: &Service) -> Vec<std::net::IpAddr> {
    let mut out: Vec<std::net::IpAddr> = s
        .status
        .iter()
        .flat_map(|s| s.load_balancer.iter())
        .flat_map(|lb| lb.ingress.iter().flatten())
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Every cache the reconciler reads.
#[derive(Clone)]
pub struct Children {
    caches: Vec<Arc<dyn ChildCache>>,
    pub deployments: Arc<CompactCache<WorkloadState>>,
    pub statefulsets: Arc<CompactCache<WorkloadState>>,
    pub volumes: Arc<CompactCache<VolumeState>>,
    pub services: Arc<CompactCache<Vec<std::net::IpAddr>>>,
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
                let (cache, trigger) = compact_cache(
                    Api::<PartialObjectMeta<$k>>::all(client.clone()),
                    kind_of::<$k>($ns, $ret, $drift),
                    records,
                    false,
                    |_| (),
                );
                caches.push(cache.clone() as Arc<dyn ChildCache>);
                triggers.push(trigger);
                cache
            }};
        }
        macro_rules! whole {
            ($k:ty, $ns:expr, $ret:expr, $drift:expr, $state:expr) => {{
                let (cache, trigger) = compact_cache(
                    Api::<$k>::all(client.clone()),
                    kind_of::<$k>($ns, $ret, $drift),
                    records,
                    true,
                    $state,
                );
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
        let deployments = whole!(Deployment, true, R::Owned, D::Generation, deployment_state);
        let statefulsets = whole!(
            StatefulSet,
            true,
            R::Owned,
            D::Generation,
            statefulset_state
        );
        let services = whole!(Service, true, R::Owned, D::Hash, service_addresses);
        let volumes = whole!(PersistentVolumeClaim, true, R::Data, D::Hash, volume_state);

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
