//! A compact cache of children. kube-runtime's `Store` would keep a whole object per child
//! (an `ObjectMeta` alone is two B-tree maps, uid, timestamps: about 2 KiB); the reconciler
//! needs a tenth of that: the tenant, mutualis' own annotations, the versions, the owners' uids,
//! whether the object is being deleted, and for a few kinds a small state `X` taken from the
//! object (a workload's ready replicas, a volume's size). At a thousand tenants that is tens of
//! thousands of objects, so the difference is most of the operator's memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use futures::FutureExt;
use futures::future::BoxFuture;
use kube::core::Resource;
use kube::runtime::watcher::Event;
use tokio::sync::watch;

use super::children::{ChildCache, ChildKind, ChildMeta, TENANT_LABEL};

/// Prefix of the annotations and labels the operator reads.
const OURS: &str = "mutualis.io/";

#[derive(Debug)]
struct Entry<X> {
    tenant: Option<Arc<str>>,
    annotations: Box<[(Box<str>, Box<str>)]>,
    generation: Option<i64>,
    resource_version: Option<Box<str>>,
    owner_uids: Box<[Box<str>]>,
    deleting: bool,
    state: X,
}

type Key = (Option<Box<str>>, Box<str>);

/// The compact cache of one kind, filled from its watch events; `X` is the state kept of each
/// object beyond its metadata (`()` for metadata-only kinds).
pub struct CompactCache<X = ()> {
    kind: ChildKind,
    objects: RwLock<HashMap<Key, Entry<X>>>,
    /// Objects of a re-list in progress, swapped in when it ends.
    relist: std::sync::Mutex<Option<HashMap<Key, Entry<X>>>>,
    /// Tenant names, shared between entries.
    tenants: std::sync::Mutex<HashMap<Box<str>, Arc<str>>>,
    ready_tx: watch::Sender<bool>,
}

impl<X: Clone> CompactCache<X> {
    pub fn new(kind: ChildKind) -> Self {
        CompactCache {
            kind,
            objects: RwLock::default(),
            relist: Default::default(),
            tenants: Default::default(),
            ready_tx: watch::channel(false).0,
        }
    }

    fn entry<K: Resource>(&self, obj: &K, state: X) -> (Key, Entry<X>) {
        let m = obj.meta();
        let tenant = m
            .labels
            .as_ref()
            .and_then(|l| l.get(TENANT_LABEL))
            .map(|t| {
                let mut tenants = self.tenants.lock().expect("tenant names lock");
                tenants
                    .entry(t.as_str().into())
                    .or_insert_with(|| Arc::from(t.as_str()))
                    .clone()
            });
        let annotations = m
            .annotations
            .iter()
            .flatten()
            .filter(|(k, _)| k.starts_with(OURS))
            .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
            .collect();
        let owner_uids = m
            .owner_references
            .iter()
            .flatten()
            .map(|o| o.uid.as_str().into())
            .collect();
        let key = (
            m.namespace.as_deref().map(Into::into),
            m.name.as_deref().unwrap_or_default().into(),
        );
        let entry = Entry {
            tenant,
            annotations,
            generation: m.generation,
            resource_version: m.resource_version.as_deref().map(Into::into),
            owner_uids,
            deleting: m.deletion_timestamp.is_some(),
            state,
        };
        (key, entry)
    }

    /// Folds one watch event into the cache, keeping `state(object)` of each object.
    pub fn apply<K: Resource>(&self, event: &Event<K>, state: impl Fn(&K) -> X) {
        match event {
            Event::Apply(obj) => {
                let (key, entry) = self.entry(obj, state(obj));
                self.objects.write().expect("cache lock").insert(key, entry);
            }
            Event::Delete(obj) => {
                let (key, _) = self.entry(obj, state(obj));
                self.objects.write().expect("cache lock").remove(&key);
            }
            Event::Init => *self.relist.lock().expect("relist lock") = Some(HashMap::new()),
            Event::InitApply(obj) => {
                let (key, entry) = self.entry(obj, state(obj));
                if let Some(buffer) = self.relist.lock().expect("relist lock").as_mut() {
                    buffer.insert(key, entry);
                }
            }
            Event::InitDone => {
                if let Some(buffer) = self.relist.lock().expect("relist lock").take() {
                    *self.objects.write().expect("cache lock") = buffer;
                }
                self.ready_tx.send_replace(true);
            }
        }
    }

    /// The kind is not served (its CRD is absent): the cache is ready, and empty. Returns
    /// whether this changed anything (the first time), so the caller logs once.
    pub fn mark_absent(&self) -> bool {
        let had = !self.objects.read().expect("cache lock").is_empty();
        if had {
            self.objects.write().expect("cache lock").clear();
        }
        !self.ready_tx.send_replace(true) || had
    }

    /// The state kept of an object, if it is cached.
    pub fn state(&self, namespace: Option<&str>, name: &str) -> Option<X> {
        let key: Key = (namespace.map(Into::into), name.into());
        let objects = self.objects.read().expect("cache lock");
        objects.get(&key).map(|e| e.state.clone())
    }

    fn meta(key: &Key, e: &Entry<X>) -> ChildMeta {
        ChildMeta {
            namespace: key.0.as_deref().map(str::to_owned),
            name: key.1.to_string(),
            tenant: e.tenant.as_deref().map(str::to_owned),
            annotations: e
                .annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            generation: e.generation,
            resource_version: e.resource_version.as_deref().map(str::to_owned),
            owner_uids: e.owner_uids.iter().map(|u| u.to_string()).collect(),
            deleting: e.deleting,
        }
    }
}

impl<X: Clone + Send + Sync> ChildCache for CompactCache<X> {
    fn kind(&self) -> &ChildKind {
        &self.kind
    }

    fn get(&self, namespace: Option<&str>, name: &str) -> Option<ChildMeta> {
        let key: Key = (namespace.map(Into::into), name.into());
        let objects = self.objects.read().expect("cache lock");
        objects.get(&key).map(|e| Self::meta(&key, e))
    }

    fn of_tenant(&self, tenant: &str) -> Vec<ChildMeta> {
        let objects = self.objects.read().expect("cache lock");
        objects
            .iter()
            .filter(|(_, e)| e.tenant.as_deref() == Some(tenant))
            .map(|(k, e)| Self::meta(k, e))
            .collect()
    }

    fn ready(&self) -> BoxFuture<'static, bool> {
        let mut rx = self.ready_tx.subscribe();
        async move { rx.wait_for(|r| *r).await.is_ok() }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ApiResource;

    fn meta(name: &str, tenant: &str, rv: &str) -> kube::api::PartialObjectMeta<ConfigMap> {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "meta.k8s.io/v1",
            "kind": "PartialObjectMetadata",
            "metadata": {
                "name": name,
                "namespace": format!("mutualis-{tenant}"),
                "resourceVersion": rv,
                "uid": "u-1",
                "labels": {"mutualis.io/tenant": tenant, "app.kubernetes.io/name": "x"},
                "annotations": {"mutualis.io/applied-hash": "abc", "other.io/x": "y"},
                "ownerReferences": [{"apiVersion": "mutualis.io/v1alpha1", "kind": "Tenant", "name": tenant, "uid": "t-1"}]
            }
        }))
        .unwrap()
    }

    fn cache() -> CompactCache {
        CompactCache::<()>::new(kind())
    }

    fn kind() -> ChildKind {
        ChildKind {
            resource: ApiResource::erase::<ConfigMap>(&()),
            namespaced: true,
            retention: super::super::children::Retention::Owned,
            drift: super::super::children::DriftSignal::ResourceVersion,
        }
    }

    #[test]
    fn keeps_what_the_reconciler_reads_and_only_that() {
        let c = cache();
        c.apply(&Event::Apply(meta("zones", "tresses", "7")), |_| ());
        let m = c.get(Some("mutualis-tresses"), "zones").unwrap();
        assert_eq!(m.tenant.as_deref(), Some("tresses"));
        assert_eq!(m.resource_version.as_deref(), Some("7"));
        assert_eq!(m.owner_uids, ["t-1"]);
        assert_eq!(
            m.annotations,
            BTreeMap::from([("mutualis.io/applied-hash".to_owned(), "abc".to_owned())])
        );
        assert_eq!(c.of_tenant("tresses").len(), 1);
        assert!(c.of_tenant("pompignac").is_empty());
        c.apply(&Event::Delete(meta("zones", "tresses", "8")), |_| ());
        assert!(c.get(Some("mutualis-tresses"), "zones").is_none());
    }

    #[test]
    fn a_relist_replaces_the_contents_and_makes_the_cache_ready() {
        let c = cache();
        assert!(c.ready().now_or_never().is_none());
        c.apply(&Event::Apply(meta("gone", "tresses", "1")), |_| ());
        c.apply(
            &Event::<kube::api::PartialObjectMeta<ConfigMap>>::Init,
            |_| (),
        );
        c.apply(&Event::InitApply(meta("kept", "tresses", "2")), |_| ());
        assert!(
            c.get(Some("mutualis-tresses"), "gone").is_some(),
            "swapped only at the end"
        );
        c.apply(
            &Event::<kube::api::PartialObjectMeta<ConfigMap>>::InitDone,
            |_| (),
        );
        assert!(c.get(Some("mutualis-tresses"), "gone").is_none());
        assert!(c.get(Some("mutualis-tresses"), "kept").is_some());
        assert_eq!(c.ready().now_or_never(), Some(true));
    }
}
