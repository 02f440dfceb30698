//! What a kubelet checks before it starts a container: every Secret and ConfigMap key the pod
//! references exists (unless the reference is `optional`). A workload whose pod template names
//! a missing key never becomes ready here, as its pods would stay in
//! `CreateContainerConfigError` (environment) or `ContainerCreating` (volumes) on a real node.

use serde_json::Value;

use crate::state::State;

/// Why a pod built from `template` (a `PodTemplateSpec`) in `ns` could not start, if it could not.
pub fn missing(st: &State, ns: &str, template: &Value) -> Option<String> {
    let spec = &template["spec"];
    let mut problems = Vec::new();
    let containers = ["initContainers", "containers"]
        .into_iter()
        .flat_map(|k| spec[k].as_array().into_iter().flatten());
    for c in containers {
        for e in c["env"].as_array().into_iter().flatten() {
            let from = &e["valueFrom"];
            for (kind, r) in [
                ("Secret", &from["secretKeyRef"]),
                ("ConfigMap", &from["configMapKeyRef"]),
            ] {
                if r.is_object() && !optional(r) {
                    check(
                        st,
                        ns,
                        kind,
                        str(&r["name"]),
                        Some(str(&r["key"])),
                        &mut problems,
                    );
                }
            }
        }
        for e in c["envFrom"].as_array().into_iter().flatten() {
            for (kind, r) in [
                ("Secret", &e["secretRef"]),
                ("ConfigMap", &e["configMapRef"]),
            ] {
                if r.is_object() && !optional(r) {
                    check(st, ns, kind, str(&r["name"]), None, &mut problems);
                }
            }
        }
    }
    for v in spec["volumes"].as_array().into_iter().flatten() {
        let sources =
            std::iter::once(v).chain(v["projected"]["sources"].as_array().into_iter().flatten());
        for s in sources {
            for (kind, r, name) in [
                ("Secret", &s["secret"], &s["secret"]["secretName"]),
                ("Secret", &s["secret"], &s["secret"]["name"]),
                ("ConfigMap", &s["configMap"], &s["configMap"]["name"]),
            ] {
                if !r.is_object() || optional(r) || !name.is_string() {
                    continue;
                }
                let items: Vec<&str> = r["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| str(&i["key"]))
                    .collect();
                if items.is_empty() {
                    check(st, ns, kind, str(name), None, &mut problems);
                }
                for key in items {
                    check(st, ns, kind, str(name), Some(key), &mut problems);
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    (!problems.is_empty()).then(|| problems.join("; "))
}

fn str(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn optional(r: &Value) -> bool {
    r["optional"].as_bool() == Some(true)
}

/// The kubelet's words: `secret "x" not found`, `couldn't find key k in Secret ns/x`.
fn check(st: &State, ns: &str, kind: &str, name: &str, key: Option<&str>, out: &mut Vec<String>) {
    let storage = if kind == "Secret" {
        "/secrets"
    } else {
        "/configmaps"
    };
    let object = st
        .store
        .list(storage, Some(ns), None)
        .find(|((n, obj), _)| n == ns && obj == name)
        .map(|(_, o)| o.value());
    let Some(object) = object else {
        out.push(format!("{} \"{name}\" not found", kind.to_lowercase()));
        return;
    };
    if let Some(key) = key {
        let has = ["data", "binaryData", "stringData"]
            .iter()
            .any(|f| object[*f].get(key).is_some());
        if !has {
            out.push(format!("couldn't find key {key} in {kind} {ns}/{name}"));
        }
    }
}
