//! Deletion as the apiserver and kube-controller-manager do it together: finalizers and
//! `deletionTimestamp`, owner-reference garbage collection (background, foreground, orphan),
//! namespace and CRD teardown. The controllers' work happens synchronously under the lock.

use crate::Config;
use crate::meta::meta_mut;
use crate::resources::{CRD_STORAGE, NAMESPACE_STORAGE, ResourceDef, storage_key};
use crate::state::{State, key};
use crate::status::{ApiError, ApiResult, Target};
use crate::store::{EventType, Key, Stored};
use serde_json::{Value, json};
use std::sync::Arc;

pub const FOREGROUND: &str = "foregroundDeletion";
pub const CRD_CLEANUP: &str = "customresourcecleanup.apiextensions.k8s.io";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub propagation: Option<Propagation>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

pub enum Deleted {
    /// Removed at once: the final state.
    Gone(Arc<Stored>),
    /// Held by finalizers: the terminating object.
    Terminating(Arc<Stored>),
}

pub fn delete(
    st: &mut State,
    cfg: &Config,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    opts: &DeleteOpts,
) -> ApiResult<Deleted> {
    let k = key(def, ns, name);
    let target = Target {
        group: &def.group,
        resource: &def.plural,
        name,
    };
    let Some(cur) = st.store.get(&k) else {
        return Err(ApiError::not_found(target));
    };
    if &*k.storage == NAMESPACE_STORAGE && matches!(name, "default" | "kube-system" | "kube-public")
    {
        let msg = format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted");
        return Err(ApiError::new(403, "Forbidden", msg));
    }
    if opts.uid.as_ref().is_some_and(|u| *u != cur.idx.uid) {
        return Err(ApiError::conflict(
            target,
            &format!(
                "Precondition failed: UID in precondition: {}, UID in object meta: {}",
                opts.uid.as_deref().unwrap_or(""),
                cur.idx.uid
            ),
        ));
    }
    if opts
        .resource_version
        .as_ref()
        .is_some_and(|r| *r != cur.rv.to_string())
    {
        return Err(ApiError::conflict(
            target,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {}, ResourceVersion in object meta: {}",
                opts.resource_version.as_deref().unwrap_or(""),
                cur.rv
            ),
        ));
    }
    if opts.dry_run {
        return Ok(if cur.idx.finalizers.is_empty() {
            Deleted::Gone(cur)
        } else {
            Deleted::Terminating(cur)
        });
    }
    if cur.idx.deleting {
        // A repeated DELETE changes nothing.
        return Ok(Deleted::Terminating(cur));
    }
    Ok(delete_key(
        st,
        cfg,
        &k,
        opts.propagation.unwrap_or(Propagation::Background),
    ))
}

/// Deletes one stored object by key with a propagation policy (also used by the GC itself).
pub fn delete_key(st: &mut State, cfg: &Config, k: &Key, policy: Propagation) -> Deleted {
    let cur = st.store.get(k).expect("caller checked");
    if cur.idx.deleting {
        return Deleted::Terminating(cur);
    }
    let mut obj = cur.value();
    let mut system: Option<&str> = None;
    match &*k.storage {
        NAMESPACE_STORAGE => system = Some("kubernetes"),
        CRD_STORAGE => system = Some(CRD_CLEANUP),
        _ if policy == Propagation::Foreground
            && !st.store.dependents_of(&cur.idx.uid).is_empty() =>
        {
            system = Some(FOREGROUND)
        }
        _ => {}
    }
    if policy == Propagation::Orphan {
        orphan_dependents(st, cfg, &cur.idx.uid);
    }
    let has_finalizers = !cur.idx.finalizers.is_empty() || system.is_some();
    if !has_finalizers {
        return Deleted::Gone(remove_now(st, cfg, k, obj));
    }
    let m = meta_mut(&mut obj);
    m.insert(
        "deletionTimestamp".into(),
        crate::clock::now_rfc3339().into(),
    );
    m.insert("deletionGracePeriodSeconds".into(), 0.into());
    if let Some(f) = system.filter(|f| *f != "kubernetes") {
        let list = m.entry("finalizers").or_insert_with(|| json!([]));
        if let Some(a) = list.as_array_mut() {
            a.push(f.into());
        }
    }
    if &*k.storage == NAMESPACE_STORAGE {
        obj["status"]["phase"] = "Terminating".into();
    }
    let stored = st.store.put(k, obj, EventType::Modified);
    if system.is_some() {
        st.pending.insert(k.clone());
    }
    match &*k.storage {
        NAMESPACE_STORAGE => {
            for child in st.store.keys_in_namespace(&k.name) {
                if st.store.get(&child).is_some() {
                    delete_key(st, cfg, &child, Propagation::Background);
                }
            }
        }
        CRD_STORAGE => {
            let crd = stored.value();
            let storage = storage_key(
                crd["spec"]["group"].as_str().unwrap_or(""),
                crd["spec"]["names"]["plural"].as_str().unwrap_or(""),
            );
            for child in st.store.keys_of(&storage) {
                if st.store.get(&child).is_some() {
                    delete_key(st, cfg, &child, Propagation::Background);
                }
            }
        }
        _ if system == Some(FOREGROUND) => {
            for child in st.store.dependents_of(&cur.idx.uid) {
                if st.store.get(&child).is_some() {
                    delete_key(st, cfg, &child, Propagation::Foreground);
                }
            }
        }
        _ => {}
    }
    settle(st, cfg);
    match st.store.get(k) {
        Some(s) => Deleted::Terminating(s),
        None => Deleted::Gone(stored),
    }
}

/// Removes an object for good, then lets the garbage collector and the pending system
/// finalizers react.
pub fn remove_now(st: &mut State, cfg: &Config, k: &Key, mut last: Value) -> Arc<Stored> {
    let m = meta_mut(&mut last);
    if m.get("deletionTimestamp").is_none() {
        m.insert(
            "deletionTimestamp".into(),
            crate::clock::now_rfc3339().into(),
        );
        m.insert("deletionGracePeriodSeconds".into(), 0.into());
    }
    let uid = last["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let Some(stored) = st.store.remove(k, last) else {
        return Arc::new(Stored {
            rv: st.store.rv(),
            json: Default::default(),
            idx: Default::default(),
        });
    };
    if &*k.storage == CRD_STORAGE {
        st.registry.remove_crd(&k.name);
    }
    st.pending.remove(k);
    crate::admission::after_change(st, cfg, k);
    if &*k.storage == "/services" {
        crate::simulate::assign_pending(st, cfg);
    }
    collect_garbage(st, cfg, &uid);
    settle(st, cfg);
    stored
}

/// Background GC: dependents whose owners (by uid) are all gone are deleted.
fn collect_garbage(st: &mut State, cfg: &Config, owner_uid: &str) {
    for dep in st.store.dependents_of(owner_uid) {
        let Some(s) = st.store.get(&dep) else {
            continue;
        };
        if s.idx.owners.iter().all(|o| !st.store.uid_exists(&o.uid)) {
            delete_key(st, cfg, &dep, Propagation::Background);
        }
    }
}

/// The garbage collector also removes an object whose owner references all point at uids that
/// do not exist (an owner deleted earlier, or a stale uid after the owner was recreated).
pub fn collect_if_orphaned(st: &mut State, cfg: &Config, k: &Key) {
    let Some(s) = st.store.get(k) else { return };
    if !s.idx.deleting
        && !s.idx.owners.is_empty()
        && s.idx.owners.iter().all(|o| !st.store.uid_exists(&o.uid))
    {
        delete_key(st, cfg, k, Propagation::Background);
    }
}

/// Orphan propagation: dependents lose their owner reference to this owner and survive.
fn orphan_dependents(st: &mut State, cfg: &Config, owner_uid: &str) {
    for dep in st.store.dependents_of(owner_uid) {
        let Some(s) = st.store.get(&dep) else {
            continue;
        };
        let mut v = s.value();
        if let Some(refs) = v["metadata"]["ownerReferences"].as_array_mut() {
            refs.retain(|r| r["uid"].as_str() != Some(owner_uid));
        }
        crate::meta::strip_empty(&mut v);
        st.store.put(&dep, v, EventType::Modified);
        let _ = cfg;
    }
}

/// Lifts system finalizers whose condition now holds, until nothing more changes.
pub fn settle(st: &mut State, cfg: &Config) {
    loop {
        let mut progressed = false;
        for k in st.pending.clone() {
            let Some(s) = st.store.get(&k) else {
                st.pending.remove(&k);
                continue;
            };
            let (done, finalizer) = match &*k.storage {
                NAMESPACE_STORAGE => (st.store.count_in_namespace(&k.name) == 0, None),
                CRD_STORAGE => {
                    let v = s.value();
                    let storage = storage_key(
                        v["spec"]["group"].as_str().unwrap_or(""),
                        v["spec"]["names"]["plural"].as_str().unwrap_or(""),
                    );
                    (st.store.keys_of(&storage).is_empty(), Some(CRD_CLEANUP))
                }
                _ => {
                    let blocking = st.store.dependents_of(&s.idx.uid).into_iter().any(|d| {
                        st.store.get(&d).is_some_and(|ds| {
                            ds.idx.owners.iter().any(|o| o.uid == s.idx.uid && o.block)
                        })
                    });
                    (!blocking, Some(FOREGROUND))
                }
            };
            if !done {
                continue;
            }
            st.pending.remove(&k);
            progressed = true;
            let mut v = s.value();
            if let Some(f) = finalizer
                && let Some(list) = v["metadata"]["finalizers"].as_array_mut()
            {
                list.retain(|x| x.as_str() != Some(f));
            }
            crate::meta::strip_empty(&mut v);
            if v["metadata"].get("finalizers").is_none() {
                if &*k.storage == NAMESPACE_STORAGE {
                    v["spec"]["finalizers"] = json!([]);
                }
                remove_now(st, cfg, &k, v);
            } else {
                st.store.put(&k, v, EventType::Modified);
            }
        }
        if !progressed {
            return;
        }
    }
}
