//! LimitRange defaulting, as the LimitRanger admission plugin applies it to a pod: containers
//! (and init containers) without a request or limit get the namespace's `Container` defaults.
//!
//! The dev cluster has no pods, so the defaults are applied to a copy of a workload's pod
//! template, for quota evaluation only: the stored workload is never changed (upstream
//! defaults the pods the controllers create, not the templates).

use super::quantity::Quantity;
use serde_json::{Map, Value};

/// The `default` (limits) and `defaultRequest` (requests) of a namespace's `Container` items,
/// after the LimitRange's own defaulting: a missing default limit is the `max`, a missing
/// default request is the default limit, else the `min` (`SetDefaults_LimitRangeItem`).
#[derive(Debug, Default, Clone)]
pub struct ContainerDefaults {
    pub limits: Map<String, Value>,
    pub requests: Map<String, Value>,
}

impl ContainerDefaults {
    pub fn from_limit_ranges(ranges: &[Value]) -> Self {
        let mut out = Self::default();
        for lr in ranges {
            let Some(items) = lr["spec"]["limits"].as_array() else {
                continue;
            };
            for item in items.iter().filter(|i| i["type"] == "Container") {
                let obj = |k: &str| item[k].as_object().cloned().unwrap_or_default();
                let (max, min) = (obj("max"), obj("min"));
                let mut default = obj("default");
                let mut request = obj("defaultRequest");
                for (k, v) in &max {
                    default.entry(k.clone()).or_insert_with(|| v.clone());
                }
                for (k, v) in &default {
                    request.entry(k.clone()).or_insert_with(|| v.clone());
                }
                for (k, v) in &min {
                    request.entry(k.clone()).or_insert_with(|| v.clone());
                }
                // Later items overwrite earlier ones, as upstream's loop does.
                out.limits.extend(default);
                out.requests.extend(request);
            }
        }
        out
    }
}

/// The pod spec as the pod would be admitted: requests defaulted from limits (the API's pod
/// defaulting), then the LimitRange defaults for what is still missing.
pub fn pod_as_admitted(spec: &Value, defaults: &ContainerDefaults) -> Value {
    let mut spec = spec.clone();
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers.iter_mut().filter(|c| c.is_object()) {
            let res = c
                .as_object_mut()
                .expect("object")
                .entry("resources")
                .or_insert_with(|| Value::Object(Map::new()));
            if !res.is_object() {
                *res = Value::Object(Map::new());
            }
            let res = res.as_object_mut().expect("object");
            let limits = res
                .get("limits")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut requests = res
                .get("requests")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for (k, v) in &limits {
                requests.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let mut limits = limits;
            for (k, v) in &defaults.limits {
                limits.entry(k.clone()).or_insert_with(|| v.clone());
            }
            for (k, v) in &defaults.requests {
                requests.entry(k.clone()).or_insert_with(|| v.clone());
            }
            res.insert("limits".into(), Value::Object(limits));
            res.insert("requests".into(), Value::Object(requests));
        }
    }
    spec
}

/// LimitRanger on a Pod being created: the stored Pod gets the defaults (and, as the API's pod
/// defaulting, requests copied from limits); returns the `kubernetes.io/limit-ranger`
/// annotation upstream sets, naming what was set.
pub fn default_pod(spec: &mut Value, defaults: &ContainerDefaults) -> Option<String> {
    let mut notes = Vec::new();
    for (list, prefix) in [
        ("containers", "container"),
        ("initContainers", "init container"),
    ] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers.iter_mut().filter(|c| c.is_object()) {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            let res = &mut c["resources"];
            if !res.is_object() {
                *res = Value::Object(Map::new());
            }
            if let Some(limits) = res["limits"].as_object().cloned() {
                for (k, v) in limits {
                    if res["requests"][&k].is_null() {
                        res["requests"][&k] = v;
                    }
                }
            }
            let mut set = |field: &str, from: &Map<String, Value>| -> Vec<String> {
                let mut names: Vec<String> = Vec::new();
                for (k, v) in from {
                    if res[field][k].is_null() {
                        res[field][k] = v.clone();
                        names.push(k.clone());
                    }
                }
                names.sort();
                names
            };
            let requests = set("requests", &defaults.requests);
            let limits = set("limits", &defaults.limits);
            if !requests.is_empty() {
                notes.push(format!(
                    "{} request for {prefix} {name}",
                    requests.join(", ")
                ));
            }
            if !limits.is_empty() {
                notes.push(format!("{} limit for {prefix} {name}", limits.join(", ")));
            }
            if res.as_object().is_some_and(Map::is_empty) {
                c.as_object_mut().expect("object").remove("resources");
            }
        }
    }
    (!notes.is_empty()).then(|| format!("LimitRanger plugin set: {}", notes.join("; ")))
}

/// Pod-level requests or limits (`resourcehelper.PodRequests`/`PodLimits`): the sum over the
/// containers and sidecars (init containers with `restartPolicy: Always`), or the largest init
/// container plus the sidecars started before it, whichever is larger; plus `overhead`.
pub fn pod_totals(spec: &Value, field: &str) -> Vec<(String, Quantity)> {
    let of = |c: &Value| -> Vec<(String, Quantity)> {
        c["resources"][field]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), Quantity::from_json(v)?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut sum: Vec<(String, Quantity)> = Vec::new();
    let add = |into: &mut Vec<(String, Quantity)>, items: &[(String, Quantity)]| {
        for (k, q) in items {
            match into.iter_mut().find(|(n, _)| n == k) {
                Some((_, have)) => *have = have.add(*q),
                None => into.push((k.clone(), *q)),
            }
        }
    };
    let take_max = |into: &mut Vec<(String, Quantity)>, items: &[(String, Quantity)]| {
        for (k, q) in items {
            match into.iter_mut().find(|(n, _)| n == k) {
                Some((_, have)) => *have = have.max(*q),
                None => into.push((k.clone(), *q)),
            }
        }
    };
    for c in spec["containers"].as_array().into_iter().flatten() {
        add(&mut sum, &of(c));
    }
    let mut sidecars: Vec<(String, Quantity)> = Vec::new();
    let mut init_max: Vec<(String, Quantity)> = Vec::new();
    for c in spec["initContainers"].as_array().into_iter().flatten() {
        let own = of(c);
        if c["restartPolicy"] == "Always" {
            add(&mut sum, &own);
            add(&mut sidecars, &own);
            take_max(&mut init_max, &sidecars.clone());
        } else {
            let mut tmp = own;
            add(&mut tmp, &sidecars);
            take_max(&mut init_max, &tmp);
        }
    }
    take_max(&mut sum, &init_max);
    if let Some(overhead) = spec["overhead"].as_object() {
        let items: Vec<(String, Quantity)> = overhead
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), Quantity::from_json(v)?)))
            .collect();
        add(&mut sum, &items);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let lr = json!({"spec": {"limits": [{"type": "Container",
            "default": {"cpu": "500m", "memory": "512Mi"}, "defaultRequest": {"cpu": "50m"}}]}});
        let d = ContainerDefaults::from_limit_ranges(&[lr]);
        // defaultRequest.memory comes from default.memory.
        assert_eq!(d.requests["memory"], "512Mi");
        let spec = json!({"containers": [
            {"name": "a"},
            {"name": "b", "resources": {"limits": {"cpu": "2"}}},
        ]});
        let out = pod_as_admitted(&spec, &d);
        assert_eq!(out["containers"][0]["resources"]["requests"]["cpu"], "50m");
        assert_eq!(
            out["containers"][0]["resources"]["limits"]["memory"],
            "512Mi"
        );
        // A limit without a request: the request is the limit, not the LimitRange default.
        assert_eq!(out["containers"][1]["resources"]["requests"]["cpu"], "2");
        let req = pod_totals(&out, "requests");
        let cpu = req.iter().find(|(k, _)| k == "cpu").unwrap().1;
        assert_eq!(cpu.to_string(), "2050m");
    }

    #[test]
    fn a_created_pod_gets_the_defaults_and_the_annotation() {
        let lr = json!({"spec": {"limits": [{"type": "Container",
            "default": {"cpu": "500m", "memory": "512Mi"}, "defaultRequest": {"cpu": "50m"}}]}});
        let d = ContainerDefaults::from_limit_ranges(&[lr]);
        let mut spec = json!({"initContainers": [{"name": "init", "resources": {"limits": {"cpu": "1"}}}],
            "containers": [{"name": "app"}]});
        let note = default_pod(&mut spec, &d).unwrap();
        assert_eq!(
            note,
            "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app; memory request for init container init; memory limit for init container init"
        );
        assert_eq!(
            spec["initContainers"][0]["resources"]["requests"]["cpu"],
            "1"
        );
        assert_eq!(
            spec["containers"][0]["resources"]["requests"]["memory"],
            "512Mi"
        );
        assert!(
            default_pod(
                &mut json!({"containers": [{"name": "x"}]}),
                &ContainerDefaults::default()
            )
            .is_none()
        );
    }

    #[test]
    fn init_containers_count_at_their_peak() {
        let spec = json!({
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "3"}}}],
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}},
                           {"name": "b", "resources": {"requests": {"cpu": "1"}}}],
        });
        let cpu = pod_totals(&spec, "requests")[0].1;
        assert_eq!(cpu.to_string(), "3");
    }
}
