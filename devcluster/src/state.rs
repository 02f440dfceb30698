//! The cluster state behind the single lock, and the pieces shared with every connection.

use crate::Config;
use crate::recorder::RecordedRequest;
use crate::resources::{Registry, ResourceDef};
use crate::store::{Key, Store};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

pub struct State {
    pub store: Store,
    pub registry: Registry,
    /// Terminating objects held by a system finalizer (namespaces, CRDs, foreground owners),
    /// re-examined after every removal.
    pub pending: BTreeSet<Key>,
    /// Workloads whose readiness the simulator must revisit after the ready delay.
    pub timers: Vec<(Key, u64)>,
    /// (workload, generation) whose ready delay has passed.
    pub matured: HashSet<(Key, u64)>,
}

pub struct Shared {
    pub state: Mutex<State>,
    pub config: Config,
    pub rv_tx: watch::Sender<u64>,
    /// Set on shutdown: open watches end so the server can stop.
    pub stop_tx: watch::Sender<bool>,
    /// Bumped by the expiry test hook: open watches end with an in-stream 410.
    pub expire_tx: watch::Sender<u64>,
    pub requests: Mutex<Vec<RecordedRequest>>,
    /// Injected faults (own lock: drawn before the state is locked).
    pub faults: crate::faults::Faults,
}

impl Shared {
    pub fn new(config: Config) -> Arc<Self> {
        let mut state = State {
            store: Store::new(config.history),
            registry: Registry::with_builtins(),
            pending: BTreeSet::new(),
            timers: Vec::new(),
            matured: HashSet::new(),
        };
        state.seed();
        if config.k8up {
            crate::k8up::install(&mut state);
        }
        let (rv_tx, _) = watch::channel(state.store.rv());
        let (stop_tx, _) = watch::channel(false);
        let (expire_tx, _) = watch::channel(0);
        let faults = crate::faults::Faults::new(config.faults.clone());
        Arc::new(Self {
            faults,
            state: Mutex::new(state),
            config,
            rv_tx,
            stop_tx,
            expire_tx,
            requests: Mutex::new(Vec::new()),
        })
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic inside a handler must not take the whole cluster down with a poisoned lock.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes watchers after a write (cheap when nothing changed).
    pub fn notify(&self, rv: u64) {
        self.rv_tx.send_if_modified(|cur| {
            let changed = *cur != rv;
            *cur = rv;
            changed
        });
    }

    /// After a write released the lock: wake watchers, start the simulator's ready timers.
    pub fn after_commit(self: &Arc<Self>, rv: u64, timers: Vec<(Key, u64)>) {
        self.notify(rv);
        for (k, generation) in timers {
            let shared = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(shared.config.ready_delay).await;
                let mut st = shared.lock();
                st.matured.insert((k.clone(), generation));
                if let Some(def) = st.registry.by_storage(&k.storage) {
                    crate::simulate::after_write(&mut st, &shared.config, &def, &k);
                }
                let (rv, more) = (st.store.rv(), std::mem::take(&mut st.timers));
                drop(st);
                shared.after_commit(rv, more);
            });
        }
    }
}

impl State {
    /// The namespaces a fresh cluster has.
    fn seed(&mut self) {
        let def = self
            .registry
            .get("", "v1", "namespaces")
            .expect("namespaces");
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "uid": crate::clock::new_uid(), "creationTimestamp": crate::clock::now_rfc3339(),
                             "labels": {"kubernetes.io/metadata.name": ns}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            });
            self.store
                .put(&key(&def, "", ns), obj, crate::store::EventType::Added);
        }
    }

    pub fn def(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.registry.get(group, version, plural)
    }

    /// Whether a namespace exists, and whether it is terminating.
    pub fn namespace(&self, ns: &str) -> Option<bool> {
        let k = Key {
            storage: Arc::from(crate::resources::NAMESPACE_STORAGE),
            ns: String::new(),
            name: ns.to_string(),
        };
        self.store.get(&k).map(|s| s.idx.deleting)
    }
}

pub fn key(def: &ResourceDef, ns: &str, name: &str) -> Key {
    Key {
        storage: def.storage.clone(),
        ns: if def.namespaced {
            ns.to_string()
        } else {
            String::new()
        },
        name: name.to_string(),
    }
}

/// For the lead's tests: is a value present and truthy.
pub fn truthy(v: &Value) -> bool {
    matches!(v, Value::Bool(true)) || v.as_str() == Some("true")
}
