//! Admission, as the apiserver's built-in plugins do it: LimitRange defaults (for evaluation
//! only), Pod Security, ResourceQuota. One hook in the write pipeline (`admit`, after
//! validation, before storing) and one after every stored change (`after_change`, which keeps
//! quota status current).
//!
//! The dev cluster has no pods: a workload stands for `replicas` pods shaped by its template
//! (`pod_shape`), and those are what quota counts and Pod Security judges.

pub mod limits;
pub mod podsecurity;
mod psa_baseline;
mod psa_checks;
mod psa_restricted;
pub mod quantity;
pub mod quota;
mod scopes;
pub mod usage;

use crate::Config;
use crate::resources::ResourceDef;
use crate::state::State;
use crate::status::{ApiResult, Target};
use crate::store::{EventType, Key};
use serde_json::Value;

/// Storages of the kinds that hold a pod (template).
pub const WORKLOADS: &[&str] = &[
    "/pods",
    "apps/deployments",
    "apps/statefulsets",
    "apps/daemonsets",
    "apps/replicasets",
    "batch/jobs",
    "batch/cronjobs",
    "/replicationcontrollers",
];

/// The pod a kind stands for: its metadata, spec and how many such pods would run.
pub struct PodShape {
    pub meta: Value,
    pub spec: Value,
    /// Deployments, StatefulSets, ReplicaSets: `spec.replicas` (default 1); Jobs and CronJobs:
    /// `parallelism` (default 1); DaemonSets: 1 (one node); Pods: 1, 0 once finished.
    pub pods: u64,
}

pub fn pod_shape(storage: &str, obj: &Value) -> Option<PodShape> {
    let spec = &obj["spec"];
    let (template, pods) = match storage {
        "/pods" => {
            let done = matches!(
                obj["status"]["phase"].as_str(),
                Some("Succeeded" | "Failed")
            );
            return Some(PodShape {
                meta: obj["metadata"].clone(),
                spec: spec.clone(),
                pods: u64::from(!done),
            });
        }
        "apps/deployments"
        | "apps/statefulsets"
        | "apps/replicasets"
        | "/replicationcontrollers" => (&spec["template"], spec["replicas"].as_u64().unwrap_or(1)),
        "apps/daemonsets" => (&spec["template"], 1),
        "batch/jobs" => (&spec["template"], spec["parallelism"].as_u64().unwrap_or(1)),
        "batch/cronjobs" => {
            let job = &spec["jobTemplate"]["spec"];
            (&job["template"], job["parallelism"].as_u64().unwrap_or(1))
        }
        _ => return None,
    };
    template.is_object().then(|| PodShape {
        meta: template["metadata"].clone(),
        spec: template["spec"].clone(),
        pods,
    })
}

fn namespace_labels(st: &State, ns: &str) -> Value {
    let k = Key {
        storage: std::sync::Arc::from(crate::resources::NAMESPACE_STORAGE),
        ns: String::new(),
        name: ns.to_string(),
    };
    st.store
        .get(&k)
        .map(|s| s.value()["metadata"]["labels"].clone())
        .unwrap_or(Value::Null)
}

/// Admission of a main-resource write (create, update, patch, apply) that passed validation:
/// refuses with 403 (or 422 for bad quota or namespace labels), or returns warnings.
pub fn admit(
    st: &State,
    cfg: &Config,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    new: &mut Value,
    old: Option<&Value>,
) -> ApiResult<Vec<String>> {
    let mut warnings = Vec::new();
    let storage: &str = &def.storage;
    if storage == "/pods" && old.is_none() && cfg.limit_range_defaults {
        // The one object LimitRanger changes: a Pod, when it is created.
        let defaults = quota::defaults_of(st, ns, true);
        if let Some(note) = limits::default_pod(&mut new["spec"], &defaults) {
            new["metadata"]["annotations"]["kubernetes.io/limit-ranger"] = note.into();
        }
    }
    let new = &*new;
    if storage == crate::resources::NAMESPACE_STORAGE && cfg.pod_security {
        podsecurity::check_namespace(name, new, old)?;
    }
    if storage == quota::QUOTA_STORAGE {
        quota::validate(new, name)?; // API validation: holds with quota admission off too
    }
    if !def.namespaced {
        return Ok(warnings);
    }
    let target = Target {
        group: &def.group,
        resource: &def.plural,
        name,
    };
    let leaving = new["metadata"].get("deletionTimestamp").is_some();
    if cfg.pod_security
        && !leaving
        && let Some(shape) = pod_shape(storage, new)
    {
        // Upstream refuses Pods; workloads only in strict mode (their pods would be refused).
        let enforce = storage == "/pods" || cfg.pod_security_strict;
        let labels = namespace_labels(st, ns);
        let verdict = podsecurity::admit(&labels, target, &shape.meta, &shape.spec, enforce)?;
        warnings.extend(verdict.warnings);
    }
    if cfg.resource_quota {
        let defaults = quota::defaults_of(st, ns, cfg.limit_range_defaults);
        quota::admit(st, &defaults, storage, target, ns, new, old)?;
    }
    Ok(warnings)
}

/// After an object of a namespace was stored or removed: the quotas of that namespace that
/// count it (or every quota, when a LimitRange or a quota changed) get their status recomputed.
pub fn after_change(st: &mut State, cfg: &Config, k: &Key) {
    if !cfg.resource_quota || k.ns.is_empty() || st.namespace(&k.ns) != Some(false) {
        return;
    }
    let storage: &str = &k.storage;
    let every = storage == quota::LIMITRANGE_STORAGE || storage == quota::QUOTA_STORAGE;
    let quotas: Vec<(String, Value)> = st
        .store
        .list(quota::QUOTA_STORAGE, Some(&k.ns), None)
        .map(|((_, n), s)| (n.clone(), s.value()))
        .collect();
    if quotas.is_empty() {
        return;
    }
    let defaults = quota::defaults_of(st, &k.ns, cfg.limit_range_defaults);
    for (name, q) in quotas {
        let counts = every || quota::hard(&q).keys().any(|h| usage::tracks(storage, h));
        if !counts {
            continue;
        }
        let status = quota::status(st, &k.ns, &q, &defaults);
        if q["status"] == status {
            continue;
        }
        let mut next = q;
        next["status"] = status;
        let qk = Key {
            storage: std::sync::Arc::from(quota::QUOTA_STORAGE),
            ns: k.ns.clone(),
            name,
        };
        st.store.put(&qk, next, EventType::Modified);
    }
}
