//! The kinds of objects a tenant's plan creates, and the operator's caches of them.
//!
//! Every kind of `plan::kinds::CHILD_KINDS` is watched once, cluster-wide, filtered by the
//! `managed-by` label, into a compact cache (see `compact`): most kinds as metadata only; those
//! whose state feeds the tenant's status (`Cached::State`: Deployments, PersistentVolumeClaims,
//! Services) are watched whole but only a few fields of them are kept. Reconciles read these
//! caches, never the API.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, Namespace, PersistentVolumeClaim, ResourceQuota, Secret, Service,
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
use crate::plan::certificate::Certificate;
use crate::plan::kinds::{CHILD_KINDS, Cached};
pub use crate::plan::kinds::{DriftSignal, Retention};
use crate::plan::object::labels;

/// Label every child carries: which tenant it belongs to.
pub const TENANT_LABEL: &str = labels::TENANT;

/// Label selector of everything the operator manages.
pub fn managed_selector() -> String {
    format!("{}={}", labels::MANAGED_BY, labels::MUTUALIS)
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
    watcher::Config::default().labels(&managed_selector())
}

/// The cache's view of a table entry, with the API coordinates of its Rust type (checked
/// against the table's in a test of `plan::kinds`).
fn kind_of<K: Resource<DynamicType = ()>>(k: &crate::plan::kinds::ChildKind) -> ChildKind {
    ChildKind {
        resource: ApiResource::erase::<K>(&()),
        namespaced: k.namespaced,
        retention: k.retention,
        drift: k.drift,
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
            let prerequisite = crate::plan::kinds::child_kind(&kind)
                .and_then(|k| k.prerequisite());
            move |event| {
                if let (Err(err), Some(what)) = (&event, prerequisite)
                    && not_served(err)
                {
                    // The kind's CRD is not installed: an empty cache is the truth, and the
                    // watcher keeps retrying, so installing it later fills the cache.
                    if cache.mark_absent() {
                        tracing::warn!(kind = %kind, "{kind} is not served by this cluster: install {what} before a tenant needs one");
                    }
                }
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

/// Whether a watch failed because the API server does not serve the resource (no CRD).
fn not_served(err: &watcher::Error) -> bool {
    match err {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s)) => s.is_not_found(),
        _ => false,
    }
}

/// What status reads of a Deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadState {
    pub replicas: i32,
    /// Available replicas.
    pub ready: i32,
    pub generation: Option<i64>,
    pub observed_generation: Option<i64>,
}

/// What the reconciler reads of a PersistentVolumeClaim, sizes in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeState {
    /// `spec.resources.requests.storage`.
    pub requested: Option<u64>,
    pub phase: Option<String>,
    /// `status.capacity.storage`.
    pub capacity: Option<u64>,
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

fn volume_state(v: &PersistentVolumeClaim) -> VolumeState {
    let storage =
        |m: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
            m.and_then(|m| m.get("storage"))
                .and_then(|q| crate::plan::quantity::parse_bytes(&q.0))
        };
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

/// What `DriftSignal::Spec` compares: a digest of the labels, annotations and spec of an
/// object, the same for the watched object and the apply's answer (both are decoded into the
/// same type and serialized again, so the wire's key order does not matter). Status, the
/// resource version and managed fields are left out: others' status writes change nothing.
pub fn drift_digest<K: Resource, S: serde::Serialize>(obj: &K, spec: Option<&S>) -> u64 {
    use std::hash::{Hash, Hasher};
    let m = obj.meta();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(&(&m.labels, &m.annotations, spec))
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

pub fn quota_digest(q: &ResourceQuota) -> u64 {
    drift_digest(q, q.spec.as_ref())
}

pub fn service_digest(s: &Service) -> u64 {
    drift_digest(s, s.spec.as_ref())
}

pub fn ingress_digest(i: &Ingress) -> u64 {
    drift_digest(i, i.spec.as_ref())
}

/// What the reconciler keeps of a Service: its load-balancer addresses (the mail host's DNS
/// records) and its drift digest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceState {
    pub addresses: Vec<std::net::IpAddr>,
    pub digest: u64,
}

fn service_state(s: &Service) -> ServiceState {
    ServiceState {
        addresses: service_addresses(s),
        digest: service_digest(s),
    }
}

/// The load-balancer addresses of a Service (the mail host's DNS records).
/// A Service's load-balancer addresses, sorted, each once (the caches' reading; `diff` reads
/// the live object the same way).
pub fn service_addresses(s: &Service) -> Vec<std::net::IpAddr> {
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
    pub volumes: Arc<CompactCache<VolumeState>>,
    pub services: Arc<CompactCache<ServiceState>>,
    pub config_maps: Arc<CompactCache>,
    pub secrets: Arc<CompactCache>,
    /// K8up's Backups, Checks and Restores in the tenants' namespaces (not children: K8up
    /// creates them), for the backup status.
    pub backup_jobs: Arc<super::backup_jobs::JobCache>,
    /// The drift digest of each quota and Ingress (`DriftSignal::Spec`).
    pub quotas: Arc<CompactCache<u64>>,
    pub ingresses: Arc<CompactCache<u64>>,
}

impl Children {
    /// Starts nothing: returns a cache for every kind of `CHILD_KINDS` and the streams that
    /// fill them (the controller polls the streams as triggers).
    pub fn new(client: &Client, records: &Arc<AppliedRecords>) -> (Self, Vec<Trigger>) {
        let mut caches: Vec<Arc<dyn ChildCache>> = Vec::new();
        let mut triggers = Vec::new();
        let (mut deployments, mut volumes, mut services, mut config_maps, mut secrets) =
            (None, None, None, None, None);
        let (mut quotas, mut ingresses) = (None, None);
        for k in CHILD_KINDS {
            macro_rules! meta {
                ($t:ty) => {{
                    let (cache, trigger) = compact_cache(
                        Api::<PartialObjectMeta<$t>>::all(client.clone()),
                        kind_of::<$t>(k),
                        records,
                        false,
                        |_| (),
                    );
                    caches.push(cache.clone());
                    triggers.push(trigger);
                    cache
                }};
            }
            macro_rules! whole {
                ($t:ty, $state:expr) => {
                    whole!($t, $state, true)
                };
                ($t:ty, $state:expr, $own_writes_trigger:expr) => {{
                    let (cache, trigger) = compact_cache(
                        Api::<$t>::all(client.clone()),
                        kind_of::<$t>(k),
                        records,
                        $own_writes_trigger,
                        $state,
                    );
                    caches.push(cache.clone());
                    triggers.push(trigger);
                    cache
                }};
            }
            // The Rust type of each kind of the table; `Cached` says which caches keep state.
            match (k.kind, k.cached) {
                ("Namespace", Cached::Metadata) => drop(meta!(Namespace)),
                ("ResourceQuota", Cached::State) => {
                    // Our own apply's event brings nothing the status reads.
                    quotas = Some(whole!(ResourceQuota, quota_digest, false));
                }
                ("LimitRange", Cached::Metadata) => drop(meta!(LimitRange)),
                ("NetworkPolicy", Cached::Metadata) => drop(meta!(NetworkPolicy)),
                ("Role", Cached::Metadata) => drop(meta!(Role)),
                ("RoleBinding", Cached::Metadata) => drop(meta!(RoleBinding)),
                ("Secret", Cached::Metadata) => secrets = Some(meta!(Secret)),
                ("ConfigMap", Cached::Metadata) => config_maps = Some(meta!(ConfigMap)),
                ("Certificate", Cached::Metadata) => drop(meta!(Certificate)),
                ("Ingress", Cached::State) => {
                    ingresses = Some(whole!(Ingress, ingress_digest, false));
                }
                ("CronJob", Cached::Metadata) => drop(meta!(CronJob)),
                ("Schedule", Cached::Metadata) => drop(meta!(crate::api::k8up::Schedule)),
                ("PersistentVolumeClaim", Cached::State) => {
                    volumes = Some(whole!(PersistentVolumeClaim, volume_state));
                }
                ("Service", Cached::State) => {
                    services = Some(whole!(Service, service_state));
                }
                ("Deployment", Cached::State) => {
                    deployments = Some(whole!(Deployment, deployment_state));
                }
                (kind, cached) => unreachable!("no cache for {kind} ({cached:?}): add it here"),
            }
        }
        let (backup_jobs, job_triggers) = super::backup_jobs::watch(client);
        triggers.extend(job_triggers);
        let missing = |what: &str| format!("plan::kinds::CHILD_KINDS has no {what}");
        (
            Children {
                caches,
                deployments: deployments.unwrap_or_else(|| panic!("{}", missing("Deployment"))),
                volumes: volumes.unwrap_or_else(|| panic!("{}", missing("PersistentVolumeClaim"))),
                services: services.unwrap_or_else(|| panic!("{}", missing("Service"))),
                config_maps: config_maps.unwrap_or_else(|| panic!("{}", missing("ConfigMap"))),
                secrets: secrets.unwrap_or_else(|| panic!("{}", missing("Secret"))),
                backup_jobs,
                quotas: quotas.unwrap_or_else(|| panic!("{}", missing("ResourceQuota"))),
                ingresses: ingresses.unwrap_or_else(|| panic!("{}", missing("Ingress"))),
            },
            triggers,
        )
    }

    /// The spec digest of a cached child of a `DriftSignal::Spec` kind.
    pub fn spec_digest(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<u64> {
        match kind {
            "ResourceQuota" => self.quotas.state(namespace, name),
            "Service" => self.services.state(namespace, name).map(|s| s.digest),
            "Ingress" => self.ingresses.state(namespace, name),
            _ => None,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache for every kind of the table, and nothing else.
    #[tokio::test]
    async fn a_cache_for_every_child_kind() {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let (children, triggers) = Children::new(&client, &Arc::new(AppliedRecords::default()));
        let kinds: Vec<&str> = children
            .all()
            .iter()
            .map(|c| c.kind().resource.kind.as_str())
            .collect();
        let table: Vec<&str> = CHILD_KINDS.iter().map(|k| k.kind).collect();
        assert_eq!(kinds, table);
        let k8up_jobs = super::super::backup_jobs::JobKind::ALL.len();
        assert_eq!(triggers.len(), CHILD_KINDS.len() + k8up_jobs);
        for k in CHILD_KINDS {
            let c = children.cache(&k.api_version(), k.kind).unwrap();
            assert_eq!(c.kind().resource.plural, k.plural);
            assert_eq!(c.kind().namespaced, k.namespaced);
        }
    }
}
