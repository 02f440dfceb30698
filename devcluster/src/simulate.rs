//! What the kubelet, controller-manager and cloud provider would do, in the spirit of kwok:
//! namespaces are Active, PVCs bind (and expand), Deployments and StatefulSets become ready
//! after `Config::ready_delay` unless annotated `devcluster.mutualis.io/fail: "true"`,
//! LoadBalancer Services and Ingresses get an address. Also the apiserver's own defaulting of
//! a few built-ins.

use crate::Config;
use crate::meta::meta_mut;
use crate::resources::ResourceDef;
use crate::state::State;
use crate::status::{ApiError, ApiResult, Cause};
use crate::store::{EventType, Key};
use serde_json::{Value, json};

/// Annotation that keeps a Deployment or StatefulSet from ever becoming ready.
pub const FAIL_ANNOTATION: &str = "devcluster.mutualis.io/fail";

/// Registry-time defaulting and checks (the apiserver's strategies, not controllers).
pub fn admit(def: &ResourceDef, new: &mut Value, old: Option<&Value>) -> ApiResult<()> {
    let name = new["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => {
            meta_mut(new).entry("labels").or_insert_with(|| json!({}))["kubernetes.io/metadata.name"] =
                Value::from(name);
            if new["spec"]["finalizers"].is_null() {
                new["spec"]["finalizers"] = json!(["kubernetes"]);
            }
            if new["metadata"].get("deletionTimestamp").is_none() {
                new["status"] = json!({"phase": "Active"});
            }
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            new["status"] = crate::crd::status(new);
        }
        ("", "services") => {
            if new["spec"]["type"].is_null() {
                new["spec"]["type"] = "ClusterIP".into();
            }
            let ip = old
                .and_then(|o| o["spec"]["clusterIP"].as_str().map(String::from))
                .unwrap_or_else(|| fake_ip(&name));
            if new["spec"]["clusterIP"].is_null() {
                new["spec"]["clusterIP"] = Value::from(ip.clone());
                new["spec"]["clusterIPs"] = json!([ip]);
            }
        }
        ("", "persistentvolumeclaims") => {
            if let Some(old) = old {
                let before = quantity(&old["spec"]["resources"]["requests"]["storage"]);
                let after = quantity(&new["spec"]["resources"]["requests"]["storage"]);
                if let (Some(b), Some(a)) = (before, after)
                    && a < b
                {
                    return Err(ApiError::invalid(
                        &def.kind,
                        "",
                        &name,
                        vec![Cause::new(
                            "FieldValueForbidden",
                            "spec.resources.requests.storage",
                            "Forbidden: field can not be less than previous value",
                        )],
                    ));
                }
            }
        }
        ("", "secrets") => {
            if new["type"].as_str().is_none_or(str::is_empty) {
                new["type"] = "Opaque".into();
            }
            // stringData is write-only: folded into data, base64-encoded.
            if let Some(Value::Object(sd)) =
                new.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                for (k, v) in sd {
                    new["data"][&k] =
                        crate::proto::b64(v.as_str().unwrap_or_default().as_bytes()).into();
                }
            }
        }
        ("apps", "deployments" | "statefulsets")
            if new["spec"]["replicas"].is_null() && new["spec"].is_object() =>
        {
            new["spec"]["replicas"] = 1.into();
        }
        _ => {}
    }
    Ok(())
}

fn fake_ip(name: &str) -> String {
    let h = name
        .bytes()
        .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("10.96.{}.{}", (h >> 8) % 256, h % 254 + 1)
}

/// Kubernetes quantities (`250Gi`, `1Ti`, `500M`, `1.5`) as a number of units.
pub fn quantity(v: &Value) -> Option<f64> {
    let s = v
        .as_str()
        .map(String::from)
        .or_else(|| v.as_f64().map(|f| f.to_string()))?;
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "m" => 1e-3,
        _ => return None,
    };
    Some(n * mult)
}

/// Reacts to a stored write; status changes are ordinary writes (new resource version, event).
pub fn after_write(st: &mut State, cfg: &Config, def: &ResourceDef, k: &Key) {
    let Some(cur) = st.store.get(k) else { return };
    if cur.idx.deleting {
        return;
    }
    let obj = cur.value();
    let status = match (def.group.as_str(), def.plural.as_str()) {
        ("", "persistentvolumeclaims") => {
            let req = obj["spec"]["resources"]["requests"]["storage"].clone();
            let mut s = obj["status"].clone();
            s["phase"] = "Bound".into();
            s["accessModes"] = obj["spec"]["accessModes"].clone();
            if quantity(&req) > quantity(&s["capacity"]["storage"])
                || s["capacity"]["storage"].is_null()
            {
                s["capacity"] = json!({"storage": req});
            }
            Some(s)
        }
        ("apps", "deployments" | "statefulsets") => Some(workload_status(st, cfg, def, k, &obj)),
        // A Secret or ConfigMap that changes may let a waiting workload of its namespace start.
        ("", "secrets" | "configmaps") => {
            revisit_workloads(st, cfg, &k.ns);
            None
        }
        ("", "services") if obj["spec"]["type"] == "LoadBalancer" => {
            let ip = crate::addresses::allocate(st, &cfg.load_balancer_pool, &k.ns, &k.name, &obj);
            Some(match ip {
                Some(ip) => {
                    json!({"loadBalancer": {"ingress": [{"ip": ip.to_string(), "ipMode": "VIP"}]}})
                }
                None => json!({"loadBalancer": {}}),
            })
        }
        // A Service that stops being a LoadBalancer gives its address back.
        ("", "services") if !obj["status"]["loadBalancer"]["ingress"].is_null() => {
            Some(json!({"loadBalancer": {}}))
        }
        ("cert-manager.io", "certificates") => {
            let (status, issued) = crate::certificates::issue_certificate(st, &k.ns, &obj);
            if issued {
                revisit_workloads(st, cfg, &k.ns);
            }
            Some(status)
        }
        // A new issuer lets the Certificates waiting for it be issued.
        ("cert-manager.io", "clusterissuers" | "issuers") => {
            if let Some(def) = st.def("cert-manager.io", "v1", "certificates") {
                for k in crate::certificates::pending_certificates(st) {
                    after_write(st, cfg, &def, &k);
                }
            }
            None
        }
        ("networking.k8s.io", "ingresses") => {
            if crate::certificates::issue_for_ingress(st, &k.ns, &obj) {
                revisit_workloads(st, cfg, &k.ns);
            }
            Some(json!({"loadBalancer": {"ingress": [{"ip": cfg.ingress_address.to_string()}]}}))
        }
        _ if crate::k8up::is_k8up(def) => crate::k8up::after_write(st, cfg, def, k, &obj),
        _ => None,
    };
    let Some(status) = status else { return };
    if obj["status"] == status {
        return;
    }
    let released = def.plural == "services" && status["loadBalancer"]["ingress"].is_null();
    let mut next = obj;
    next["status"] = status;
    st.store.put(k, next, EventType::Modified);
    if released {
        assign_pending(st, cfg);
    }
}

/// Re-evaluates the Deployments and StatefulSets of `ns` that are not ready.
fn revisit_workloads(st: &mut State, cfg: &Config, ns: &str) {
    for plural in ["deployments", "statefulsets"] {
        let Some(def) = st.def("apps", "v1", plural) else {
            continue;
        };
        let waiting: Vec<Key> = st
            .store
            .list(&def.storage, Some(ns), None)
            .filter(|((n, _), s)| n == ns && s.value()["status"]["readyReplicas"].is_null())
            .map(|((n, name), _)| crate::state::key(&def, n, name))
            .collect();
        for k in waiting {
            after_write(st, cfg, &def, &k);
        }
    }
}

/// An address came free: LoadBalancer Services still waiting for one get it, oldest name first.
pub fn assign_pending(st: &mut State, cfg: &Config) {
    let Some(def) = st.def("", "v1", "services") else {
        return;
    };
    let waiting: Vec<Key> = st
        .store
        .list("/services", None, None)
        .filter(|(_, s)| s.idx.load_balancer.is_some_and(|lb| lb.ip.is_none()))
        .map(|((ns, name), _)| crate::state::key(&def, ns, name))
        .collect();
    for k in waiting {
        after_write(st, cfg, &def, &k);
    }
}

fn workload_status(st: &mut State, cfg: &Config, def: &ResourceDef, k: &Key, obj: &Value) -> Value {
    let generation = obj["metadata"]["generation"].as_u64().unwrap_or(1);
    let replicas = obj["spec"]["replicas"].as_u64().unwrap_or(1);
    // A pod whose Secret or ConfigMap keys are missing never starts (see `references`).
    let unstartable = crate::references::missing(st, &k.ns, &obj["spec"]["template"]);
    let failing = crate::state::truthy(&obj["metadata"]["annotations"][FAIL_ANNOTATION])
        || unstartable.is_some();
    let matured = cfg.ready_delay.is_zero() || st.matured.contains(&(k.clone(), generation));
    if !matured && !st.timers.contains(&(k.clone(), generation)) {
        st.timers.push((k.clone(), generation));
    }
    // Pods that were ready stay ready while a change rolls out (a scale or a new template does
    // not take the old pods down at once); all are ready once the delay has passed.
    let previously = obj["status"]["readyReplicas"].as_u64().unwrap_or(0);
    let ready = match (failing, matured) {
        (true, _) => 0,
        (false, true) => replicas,
        (false, false) => previously.min(replicas),
    };
    let available = ready >= replicas.saturating_sub(max_unavailable(obj, replicas));
    let now = crate::clock::now_rfc3339();
    let since = |t: &str, s: &str| {
        obj["status"]["conditions"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["type"] == t && c["status"] == s))
            .and_then(|c| c["lastTransitionTime"].as_str().map(String::from))
            .unwrap_or_else(|| now.clone())
    };
    let mut s = json!({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas});
    if ready > 0 {
        s["readyReplicas"] = ready.into();
        s["availableReplicas"] = ready.into();
    } else {
        s["unavailableReplicas"] = replicas.into();
    }
    if def.plural == "deployments" {
        let (avail, reason, msg) = if available {
            (
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        } else if let Some(why) = &unstartable {
            (
                "False",
                "MinimumReplicasUnavailable",
                &*format!(
                    "Deployment does not have minimum availability (devcluster: pods cannot start: {why})"
                ),
            )
        } else if failing {
            (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability (devcluster: failure simulated by annotation).",
            )
        } else {
            (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        };
        s["conditions"] = json!([
            {"type": "Available", "status": avail, "reason": reason, "message": msg, "lastUpdateTime": since("Available", avail), "lastTransitionTime": since("Available", avail)},
            {"type": "Progressing", "status": "True", "reason": if ready == replicas { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" },
             "message": format!("ReplicaSet \"{}\" is progressing.", k.name), "lastUpdateTime": since("Progressing", "True"), "lastTransitionTime": since("Progressing", "True")},
        ]);
    } else {
        s.as_object_mut()
            .expect("object")
            .remove("unavailableReplicas");
        s["currentReplicas"] = replicas.into();
        s["currentRevision"] = format!("{}-{generation}", k.name).into();
        s["updateRevision"] = format!("{}-{generation}", k.name).into();
        s["collisionCount"] = 0.into();
    }
    s
}

/// `spec.strategy.rollingUpdate.maxUnavailable` of a Deployment (default 25 %, rounded down).
fn max_unavailable(obj: &Value, replicas: u64) -> u64 {
    let v = &obj["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"];
    if let Some(n) = v.as_u64() {
        return n;
    }
    let pct = v
        .as_str()
        .and_then(|p| p.strip_suffix('%'))
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(25);
    replicas * pct / 100
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Shared, key};
    use crate::write::{FieldValidation, PatchKind, Sub, WriteOp, WriteReq, write};
    use std::time::Duration;

    #[test]
    fn ready_pods_stay_ready_while_a_change_rolls_out() {
        let cfg = Config {
            ready_delay: Duration::from_secs(60),
            ..Config::default()
        };
        let shared = Shared::new(cfg.clone());
        let mut st = shared.lock();
        let def = st.def("apps", "v1", "deployments").unwrap();
        let req = WriteReq {
            def: def.clone(),
            ns: "default".into(),
            name: "web".into(),
            sub: Sub::Main,
            dry_run: false,
            validation: FieldValidation::Strict,
            manager: "t".into(),
        };
        let body = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "w"}}, "template": {"metadata": {"labels": {"app": "w"}}}}});
        write(&mut st, &cfg, &req, WriteOp::Create(body)).unwrap();
        let k = key(&def, "default", "web");
        let status = |st: &State| st.store.get(&k).unwrap().value()["status"].clone();
        assert_eq!(
            status(&st)["readyReplicas"],
            Value::Null,
            "nothing ready before the delay"
        );
        // The delay passes for generation 1.
        st.matured.insert((k.clone(), 1));
        after_write(&mut st, &cfg, &def, &k);
        assert_eq!(status(&st)["readyReplicas"], 4);
        // Scale to 5: the 4 ready pods stay ready; 25 % may be unavailable, so still Available.
        write(
            &mut st,
            &cfg,
            &req,
            WriteOp::Patch(PatchKind::Merge, json!({"spec": {"replicas": 5}})),
        )
        .unwrap();
        let s = status(&st);
        assert_eq!(
            (
                s["readyReplicas"].as_u64(),
                s["observedGeneration"].as_u64()
            ),
            (Some(4), Some(2))
        );
        assert_eq!(s["conditions"][0]["status"], "True");
        // The failure annotation takes everything down; removing it brings it back (delay passed).
        st.matured.insert((k.clone(), 2));
        write(
            &mut st,
            &cfg,
            &req,
            WriteOp::Patch(
                PatchKind::Merge,
                json!({"metadata": {"annotations": {FAIL_ANNOTATION: "true"}}}),
            ),
        )
        .unwrap();
        assert_eq!(status(&st)["conditions"][0]["status"], "False");
        write(
            &mut st,
            &cfg,
            &req,
            WriteOp::Patch(
                PatchKind::Merge,
                json!({"metadata": {"annotations": {FAIL_ANNOTATION: null}}}),
            ),
        )
        .unwrap();
        assert_eq!(status(&st)["readyReplicas"], 5);
    }
}
