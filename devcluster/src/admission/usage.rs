//! What each object counts against a quota: upstream's evaluators in
//! `pkg/quota/v1/evaluator/core` (services, claims, pods) and the generic object counts.
//! A workload counts as `replicas` pods shaped by its template, after LimitRange defaults.

use super::limits::{ContainerDefaults, pod_as_admitted, pod_totals};
use super::quantity::Quantity;
use super::{WORKLOADS, pod_shape};
use serde_json::Value;
use std::collections::BTreeMap;

pub type Usage = BTreeMap<String, Quantity>;

pub const ALIASES: &[&str] = &[
    "configmaps",
    "secrets",
    "resourcequotas",
    "replicationcontrollers",
];

/// `count/deployments.apps`, `count/configmaps`.
pub fn count_key(storage: &str) -> String {
    match storage.split_once('/') {
        Some(("", plural)) => format!("count/{plural}"),
        Some((group, plural)) => format!("count/{plural}.{group}"),
        None => format!("count/{storage}"),
    }
}

pub fn is_compute(key: &str) -> bool {
    matches!(
        key,
        "pods" | "cpu" | "memory" | "ephemeral-storage" | "count/pods"
    ) || key.starts_with("limits.")
        || key.starts_with("hugepages-")
        || (key.starts_with("requests.") && key != "requests.storage")
}

/// Whether objects of `storage` count towards the quota resource `key`.
pub fn tracks(storage: &str, key: &str) -> bool {
    if key == count_key(storage) {
        return true;
    }
    match storage {
        "/services" => matches!(
            key,
            "services" | "services.loadbalancers" | "services.nodeports"
        ),
        "/persistentvolumeclaims" => {
            matches!(key, "persistentvolumeclaims" | "requests.storage")
                || key.ends_with(".storageclass.storage.k8s.io/requests.storage")
                || key.ends_with(".storageclass.storage.k8s.io/persistentvolumeclaims")
        }
        s if WORKLOADS.contains(&s) && is_compute(key) => true,
        s => s
            .strip_prefix('/')
            .is_some_and(|p| ALIASES.contains(&p) && p == key),
    }
}

/// Whether `key` counts objects of `storage` one each, whatever their content (not for the
/// kinds that hold pods: a workload's pods depend on its spec).
pub fn is_object_count(storage: &str, key: &str) -> bool {
    !WORKLOADS.contains(&storage)
        && (key == count_key(storage)
            || storage.strip_prefix('/') == Some(key)
                && matches!(key, "services" | "persistentvolumeclaims")
            || storage
                .strip_prefix('/')
                .is_some_and(|p| p == key && ALIASES.contains(&p)))
}

/// Storages whose objects a quota resource counts.
pub fn storages_for(key: &str) -> Vec<String> {
    let mut out: Vec<String> = ["/services", "/persistentvolumeclaims"]
        .into_iter()
        .chain(WORKLOADS.iter().copied())
        .filter(|s| tracks(s, key))
        .map(String::from)
        .collect();
    if let Some(alias) = ALIASES.iter().find(|a| **a == key) {
        out.push(format!("/{alias}"));
    }
    if let Some(rest) = key.strip_prefix("count/") {
        let s = match rest.split_once('.') {
            Some((plural, group)) => format!("{group}/{plural}"),
            None => format!("/{rest}"),
        };
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

pub fn known(key: &str) -> bool {
    key.starts_with("count/") || !storages_for(key).is_empty()
}

fn one() -> Quantity {
    Quantity::from_int(1)
}

/// What one stored object counts (all resources it touches, zeros included).
pub fn usage(storage: &str, obj: &Value, defaults: &ContainerDefaults) -> Usage {
    let mut u = Usage::new();
    u.insert(count_key(storage), one());
    let spec = &obj["spec"];
    match storage {
        "/services" => {
            u.insert("services".into(), one());
            let ports = spec["ports"].as_array().map_or(0, Vec::len) as i64;
            let (lb, node_ports) = match spec["type"].as_str() {
                Some("NodePort") => (0, ports),
                Some("LoadBalancer") if spec["allocateLoadBalancerNodePorts"] == false => {
                    // Only ports with an explicit nodePort still take one.
                    let explicit = spec["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|p| p["nodePort"].as_i64().is_some_and(|n| n != 0))
                        .count() as i64;
                    (1, explicit)
                }
                Some("LoadBalancer") => (1, ports),
                _ => (0, 0),
            };
            u.insert("services.loadbalancers".into(), Quantity::from_int(lb));
            u.insert("services.nodeports".into(), Quantity::from_int(node_ports));
        }
        "/persistentvolumeclaims" => {
            u.insert("persistentvolumeclaims".into(), one());
            let storage = Quantity::from_json(&spec["resources"]["requests"]["storage"]);
            if let Some(q) = storage {
                u.insert("requests.storage".into(), q);
            }
            if let Some(class) = spec["storageClassName"].as_str().filter(|c| !c.is_empty()) {
                let prefix = format!("{class}.storageclass.storage.k8s.io/");
                u.insert(format!("{prefix}persistentvolumeclaims"), one());
                if let Some(q) = storage {
                    u.insert(format!("{prefix}requests.storage"), q);
                }
            }
        }
        s => {
            if let Some(alias) = s.strip_prefix('/').filter(|p| ALIASES.contains(p)) {
                u.insert(alias.to_string(), one());
            }
            if let Some(shape) = pod_shape(s, obj) {
                let admitted = pod_as_admitted(&shape.spec, defaults);
                for (k, q) in pod_usage(&admitted) {
                    let total = q.times(shape.pods);
                    let prev = u.get(&k).copied().unwrap_or_else(Quantity::zero);
                    if k == "count/pods" && s == "/pods" {
                        continue; // a bare Pod is one object whatever its phase
                    }
                    u.insert(k, prev.add(total));
                }
            }
        }
    }
    u
}

/// One pod's compute usage (`PodUsageFunc` and `podComputeUsageHelper`).
fn pod_usage(spec: &Value) -> Usage {
    let mut u = Usage::new();
    u.insert("pods".into(), one());
    u.insert("count/pods".into(), one());
    for (k, q) in pod_totals(spec, "requests") {
        match k.as_str() {
            "cpu" | "memory" | "ephemeral-storage" => {
                u.insert(k.clone(), q);
                u.insert(format!("requests.{k}"), q);
            }
            h if h.starts_with("hugepages-") => {
                u.insert(h.to_string(), q);
                u.insert(format!("requests.{h}"), q);
            }
            e if e.contains('/') => {
                u.insert(format!("requests.{e}"), q);
            }
            _ => {}
        }
    }
    for (k, q) in pod_totals(spec, "limits") {
        if matches!(k.as_str(), "cpu" | "memory" | "ephemeral-storage") {
            u.insert(format!("limits.{k}"), q);
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn get(u: &Usage, k: &str) -> String {
        u.get(k).map(|q| q.to_string()).unwrap_or_default()
    }

    #[test]
    fn services_count_node_ports_as_upstream() {
        let none = ContainerDefaults::default();
        let two = json!([{"port": 25}, {"port": 993, "nodePort": 30993}]);
        let svc = |spec: Value| json!({"spec": spec});
        let np = usage(
            "/services",
            &svc(json!({"type": "NodePort", "ports": two})),
            &none,
        );
        assert_eq!(
            (
                get(&np, "services.nodeports"),
                get(&np, "services.loadbalancers")
            ),
            ("2".into(), "0".into())
        );
        let lb = usage(
            "/services",
            &svc(json!({"type": "LoadBalancer", "ports": two})),
            &none,
        );
        assert_eq!(get(&lb, "services.nodeports"), "2");
        let lb =
            json!({"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false, "ports": two});
        let lb = usage("/services", &svc(lb), &none);
        // Only the explicit nodePort still takes one.
        assert_eq!(
            (
                get(&lb, "services.nodeports"),
                get(&lb, "services.loadbalancers")
            ),
            ("1".into(), "1".into())
        );
        assert_eq!(get(&lb, "count/services"), "1");
    }

    #[test]
    fn workloads_count_their_pods() {
        let none = ContainerDefaults::default();
        let pod = json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}}]}});
        let cron = json!({"spec": {"jobTemplate": {"spec": {"parallelism": 3, "template": pod}}}});
        let u = usage("batch/cronjobs", &cron, &none);
        assert_eq!(get(&u, "requests.cpu"), "750m");
        assert_eq!(get(&u, "limits.memory"), "6Gi");
        assert_eq!(
            (
                get(&u, "pods"),
                get(&u, "count/pods"),
                get(&u, "count/cronjobs.batch")
            ),
            ("3".into(), "3".into(), "1".into())
        );
        let idle = json!({"spec": {"replicas": 0, "template": pod}});
        let u = usage("apps/deployments", &idle, &none);
        assert_eq!(
            (get(&u, "requests.cpu"), get(&u, "count/deployments.apps")),
            ("0".into(), "1".into())
        );
        let done = json!({"spec": pod["spec"], "status": {"phase": "Succeeded"}});
        let u = usage("/pods", &done, &none);
        assert_eq!(
            (get(&u, "pods"), get(&u, "count/pods")),
            ("0".into(), "1".into())
        );
        let claim = json!({"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "250Gi"}}}});
        let u = usage("/persistentvolumeclaims", &claim, &none);
        assert_eq!(
            get(&u, "fast.storageclass.storage.k8s.io/requests.storage"),
            "250Gi"
        );
        assert!(tracks("example.io/tenants", "count/tenants.example.io"));
        assert!(!tracks("/configmaps", "count/secrets"));
    }
}
