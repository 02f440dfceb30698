//! The object store: one global resource version, objects kept as their serialized JSON with a
//! small index beside them (labels, owners, finalizers), and a bounded event history that watches
//! replay from. Everything here runs under the cluster's single lock.

use bytes::Bytes;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

/// Identity of a stored object: storage key ("group/plural"), namespace ("" if cluster-scoped), name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub storage: Arc<str>,
    pub ns: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Owner {
    pub uid: String,
    pub block: bool,
}

/// What selectors, GC and deletion need without parsing the JSON again.
#[derive(Debug, Clone, Default)]
pub struct Index {
    pub uid: String,
    pub api_version: String,
    pub labels: Vec<(String, String)>,
    pub owners: Vec<Owner>,
    pub finalizers: Vec<String>,
    pub deleting: bool,
    /// Extra field-selector values (events' `involvedObject.*`, `type`, `reason`).
    pub fields: Vec<(String, String)>,
    /// A Service of type LoadBalancer, and the address it was given: what the address pool
    /// needs on every such write, without parsing every Service again.
    pub load_balancer: Option<LoadBalancer>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadBalancer {
    pub ip: Option<std::net::Ipv4Addr>,
}

#[derive(Debug)]
pub struct Stored {
    pub rv: u64,
    pub json: Bytes,
    pub idx: Index,
}

impl Stored {
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub key: Key,
    pub obj: Arc<Stored>,
    /// The labels before a MODIFIED event, when they changed: a label-selected watch turns an
    /// object leaving (entering) its selection into DELETED (ADDED), as the apiserver does.
    pub prev_labels: Option<Vec<(String, String)>>,
}

type Objects = HashMap<Arc<str>, BTreeMap<(String, String), Arc<Stored>>>;

pub struct Store {
    rv: u64,
    objects: Objects,
    history: VecDeque<Event>,
    history_cap: usize,
    /// Highest resource version no longer in the history: a watch from below it has expired.
    compacted: u64,
    by_uid: HashMap<String, Key>,
    dependents: HashMap<String, BTreeSet<Key>>,
}

impl Store {
    pub fn new(history_cap: usize) -> Self {
        // Start from the clock (milliseconds) and treat everything before as compacted: a
        // client that outlived a previous devcluster resumes with a version this one never
        // issued, and gets 410 and re-lists instead of silently missing or replaying events.
        let start = crate::clock::now_millis();
        Self {
            rv: start,
            objects: HashMap::new(),
            history: VecDeque::new(),
            history_cap: history_cap.max(16),
            compacted: start,
            by_uid: HashMap::new(),
            dependents: HashMap::new(),
        }
    }

    pub fn rv(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, key: &Key) -> Option<Arc<Stored>> {
        self.objects
            .get(&key.storage)?
            .get(&(key.ns.clone(), key.name.clone()))
            .cloned()
    }

    pub fn uid_exists(&self, uid: &str) -> bool {
        self.by_uid.contains_key(uid)
    }

    /// Objects of a storage key in name order, optionally in one namespace, starting after `after`.
    #[allow(clippy::type_complexity)]
    pub fn list<'a>(
        &'a self,
        storage: &str,
        ns: Option<&'a str>,
        after: Option<(String, String)>,
    ) -> impl Iterator<Item = (&'a (String, String), &'a Arc<Stored>)> + 'a {
        use std::ops::Bound;
        let start = match after {
            Some(k) => Bound::Excluded(k),
            None => match ns {
                Some(n) => Bound::Included((n.to_string(), String::new())),
                None => Bound::Unbounded,
            },
        };
        self.objects
            .get(storage)
            .into_iter()
            .flat_map(move |m| m.range((start.clone(), Bound::Unbounded)))
            .take_while(move |((n, _), _)| ns.is_none_or(|want| want == n))
    }

    pub fn count_in_namespace(&self, ns: &str) -> usize {
        self.objects
            .values()
            .map(|m| {
                m.range((ns.to_string(), String::new())..)
                    .take_while(|((n, _), _)| n == ns)
                    .count()
            })
            .sum()
    }

    pub fn keys_in_namespace(&self, ns: &str) -> Vec<Key> {
        let mut out = Vec::new();
        for (storage, m) in &self.objects {
            for ((n, name), _) in m
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
            {
                out.push(Key {
                    storage: storage.clone(),
                    ns: n.clone(),
                    name: name.clone(),
                });
            }
        }
        out
    }

    pub fn keys_of(&self, storage: &str) -> Vec<Key> {
        self.objects
            .get(storage)
            .map(|m| {
                m.keys()
                    .map(|(ns, name)| Key {
                        storage: Arc::from(storage),
                        ns: ns.clone(),
                        name: name.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn dependents_of(&self, uid: &str) -> Vec<Key> {
        self.dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Stores a new version with the next resource version and records the event.
    pub fn put(&mut self, key: &Key, mut obj: Value, kind: EventType) -> Arc<Stored> {
        self.rv += 1;
        set_rv(&mut obj, self.rv);
        let stored = Arc::new(Stored {
            rv: self.rv,
            idx: index(&key.storage, &obj),
            json: Bytes::from(serde_json::to_vec(&obj).unwrap_or_default()),
        });
        let old = self
            .objects
            .entry(key.storage.clone())
            .or_default()
            .insert((key.ns.clone(), key.name.clone()), stored.clone());
        let mut prev_labels = None;
        if let Some(old) = old {
            self.unindex(key, &old);
            if old.idx.labels != stored.idx.labels {
                prev_labels = Some(old.idx.labels.clone());
            }
        }
        self.by_uid.insert(stored.idx.uid.clone(), key.clone());
        for o in &stored.idx.owners {
            self.dependents
                .entry(o.uid.clone())
                .or_default()
                .insert(key.clone());
        }
        self.record(key, kind, stored.clone(), prev_labels);
        stored
    }

    /// Removes an object; the DELETED event carries its final state with a new resource version.
    pub fn remove(&mut self, key: &Key, mut last: Value) -> Option<Arc<Stored>> {
        let old = self
            .objects
            .get_mut(&key.storage)?
            .remove(&(key.ns.clone(), key.name.clone()))?;
        self.unindex(key, &old);
        self.rv += 1;
        set_rv(&mut last, self.rv);
        let stored = Arc::new(Stored {
            rv: self.rv,
            idx: index(&key.storage, &last),
            json: Bytes::from(serde_json::to_vec(&last).unwrap_or_default()),
        });
        self.record(key, EventType::Deleted, stored.clone(), None);
        Some(stored)
    }

    fn unindex(&mut self, key: &Key, old: &Stored) {
        if self.by_uid.get(&old.idx.uid) == Some(key) {
            self.by_uid.remove(&old.idx.uid);
        }
        for o in &old.idx.owners {
            if let Some(set) = self.dependents.get_mut(&o.uid) {
                set.remove(key);
                if set.is_empty() {
                    self.dependents.remove(&o.uid);
                }
            }
        }
    }

    fn record(
        &mut self,
        key: &Key,
        kind: EventType,
        obj: Arc<Stored>,
        prev_labels: Option<Vec<(String, String)>>,
    ) {
        self.history.push_back(Event {
            rv: self.rv,
            kind,
            key: key.clone(),
            obj,
            prev_labels,
        });
        while self.history.len() > self.history_cap {
            if let Some(e) = self.history.pop_front() {
                self.compacted = e.rv;
            }
        }
    }

    /// Events after `rv`, or `Err(oldest)` when the history no longer reaches back that far.
    pub fn events_since(&self, rv: u64, max: usize) -> Result<Vec<Event>, u64> {
        // A version from the future was issued by another server (a restart): expired too.
        if rv < self.compacted || rv > self.rv {
            return Err(self.compacted + 1);
        }
        let start = self.history.partition_point(|e| e.rv <= rv);
        Ok(self.history.iter().skip(start).take(max).cloned().collect())
    }

    /// Test hook: forget the history so every older watch position expires.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

fn index(storage: &str, obj: &Value) -> Index {
    let meta = &obj["metadata"];
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut idx = Index {
        uid: meta["uid"].as_str().unwrap_or_default().to_string(),
        api_version: obj["apiVersion"].as_str().unwrap_or_default().to_string(),
        labels: meta["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        owners: meta["ownerReferences"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|o| {
                        Some(Owner {
                            uid: o["uid"].as_str()?.to_string(),
                            block: o["blockOwnerDeletion"].as_bool().unwrap_or(false),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
        finalizers: strs(&meta["finalizers"]),
        deleting: meta.get("deletionTimestamp").is_some_and(|v| !v.is_null()),
        fields: Vec::new(),
        load_balancer: None,
    };
    if storage == "/services" && obj["spec"]["type"] == "LoadBalancer" {
        idx.load_balancer = Some(LoadBalancer {
            ip: crate::addresses::lb_ip(obj),
        });
    }
    if storage == crate::resources::EVENTS_STORAGE {
        for f in [
            "name",
            "namespace",
            "kind",
            "uid",
            "apiVersion",
            "fieldPath",
            "resourceVersion",
        ] {
            if let Some(v) = obj["involvedObject"][f].as_str() {
                idx.fields
                    .push((format!("involvedObject.{f}"), v.to_string()));
            }
        }
        for f in ["reason", "type", "reportingComponent"] {
            if let Some(v) = obj[f].as_str() {
                idx.fields.push((f.to_string(), v.to_string()));
            }
        }
        if let Some(v) = obj["source"]["component"].as_str() {
            idx.fields.push(("source".into(), v.to_string()));
        }
    }
    if let Some(phase) = obj["status"]["phase"].as_str() {
        idx.fields.push(("status.phase".into(), phase.to_string()));
    }
    if let Some(t) = obj["type"].as_str().filter(|_| storage == "/secrets") {
        idx.fields.push(("type".into(), t.to_string()));
    }
    idx
}
