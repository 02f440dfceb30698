//! Fields the real apiserver refuses to change after creation. An operator that changes them
//! works against a lenient fake and fails on a real cluster, so they are enforced here too:
//! workload selectors, the StatefulSet spec outside its mutable fields (volumeClaimTemplates!),
//! PVC specs outside the storage request, immutable ConfigMaps and Secrets, Secret types,
//! Service cluster IPs, Job templates.

use crate::resources::ResourceDef;
use crate::status::{ApiError, ApiResult, Cause};
use serde_json::Value;

const STS_MUTABLE: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
    "revisionHistoryLimit",
];

fn immutable(field: &str, v: &Value) -> Cause {
    let shown = serde_json::to_string(v).unwrap_or_default();
    Cause::new(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {shown}: field is immutable"),
    )
}

fn without(v: &Value, keep: &[&str]) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.retain(|k, _| !keep.contains(&k.as_str()));
    }
    v
}

pub fn check(def: &ResourceDef, old: &Value, new: &Value) -> ApiResult<()> {
    let mut causes = Vec::new();
    let (o, n) = (&old["spec"], &new["spec"]);
    match (def.group.as_str(), def.plural.as_str()) {
        ("apps", "deployments") if o["selector"] != n["selector"] => {
            causes.push(immutable("spec.selector", &n["selector"]))
        }
        ("apps", "statefulsets") if without(o, STS_MUTABLE) != without(n, STS_MUTABLE) => {
            causes.push(Cause::new(
                    "FieldValueForbidden",
                    "spec",
                    "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                ));
        }
        ("", "persistentvolumeclaims") => {
            let strip = |s: &Value| {
                let mut s = without(s, &["volumeAttributesClassName", "volumeName"]);
                if let Some(r) = s.get_mut("resources").and_then(Value::as_object_mut) {
                    r.remove("requests");
                }
                s
            };
            if strip(o) != strip(n) {
                causes.push(Cause::new("FieldValueForbidden", "spec", "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"));
            }
        }
        ("", "configmaps" | "secrets") => {
            if old["immutable"] == true {
                for f in ["data", "binaryData", "immutable"] {
                    if old[f] != new[f] {
                        causes.push(Cause::new(
                            "FieldValueForbidden",
                            f,
                            "Forbidden: field is immutable when `immutable` is set",
                        ));
                    }
                }
            }
            if def.plural == "secrets" && old["type"] != new["type"] {
                causes.push(immutable("type", &new["type"]));
            }
        }
        ("", "services") => {
            // An update that leaves the cluster IP out keeps it (the apiserver copies it over).
            let (a, b) = (&o["clusterIP"], &n["clusterIP"]);
            if a.is_string() && b.as_str().is_some_and(|ip| !ip.is_empty()) && a != b {
                causes.push(immutable("spec.clusterIPs[0]", b));
            }
        }
        ("batch", "jobs") => {
            for f in ["template", "selector", "completions"] {
                if o[f] != n[f] && !(f == "completions" && o["parallelism"] != n["parallelism"]) {
                    causes.push(immutable(&format!("spec.{f}"), &n[f]));
                }
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        return Ok(());
    }
    let name = new["metadata"]["name"].as_str().unwrap_or_default();
    Err(ApiError::invalid(&def.kind, &def.group, name, causes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use serde_json::json;

    #[test]
    fn statefulset_claim_templates_and_selectors_are_immutable() {
        let reg = Registry::with_builtins();
        let sts = reg.get("apps", "v1", "statefulsets").unwrap();
        let old = json!({"metadata": {"name": "s"}, "spec": {"replicas": 1, "volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": "1Gi"}}}}]}});
        let mut scaled = old.clone();
        scaled["spec"]["replicas"] = 3.into();
        assert!(check(&sts, &old, &scaled).is_ok());
        let mut grown = old.clone();
        grown["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] =
            "2Gi".into();
        let e = check(&sts, &old, &grown).unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        assert!(
            e.message
                .contains("updates to statefulset spec for fields other than"),
            "{}",
            e.message
        );

        let deploy = reg.get("apps", "v1", "deployments").unwrap();
        let a =
            json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "a"}}}});
        let b =
            json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "b"}}}});
        assert!(
            check(&deploy, &a, &b)
                .unwrap_err()
                .message
                .contains("spec.selector: Invalid value")
        );

        let pvc = reg.get("", "v1", "persistentvolumeclaims").unwrap();
        let p1 = json!({"spec": {"storageClassName": "a", "resources": {"requests": {"storage": "1Gi"}}}});
        let p2 = json!({"spec": {"storageClassName": "a", "resources": {"requests": {"storage": "2Gi"}}}});
        let p3 = json!({"spec": {"storageClassName": "b", "resources": {"requests": {"storage": "1Gi"}}}});
        assert!(check(&pvc, &p1, &p2).is_ok());
        assert!(check(&pvc, &p1, &p3).is_err());

        let cm = reg.get("", "v1", "configmaps").unwrap();
        let c1 = json!({"immutable": true, "data": {"k": "1"}});
        let c2 = json!({"immutable": true, "data": {"k": "2"}});
        assert!(check(&cm, &c1, &c2).is_err());
        assert!(check(&cm, &json!({"data": {"k": "1"}}), &c2).is_ok());
    }
}
