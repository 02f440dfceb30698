//! Which fields of a live object a server-side dry-run apply would change: both are compared
//! as JSON, leaving out what every write changes anyway (managed fields, versions, status).

use serde_json::Value;

use crate::reconcile::apply::APPLIED_HASH;

/// Metadata fields that move on every write, or that the API server alone sets.
const VOLATILE_METADATA: &[&str] = &["managedFields", "resourceVersion", "generation"];

/// Removes the volatile parts of `object`: `status`, the metadata above, and the operator's
/// applied-hash annotation (it follows the plan; alone, it changes nothing that runs).
fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in VOLATILE_METADATA {
                meta.remove(*field);
            }
            if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                annotations.remove(APPLIED_HASH);
                if annotations.is_empty() {
                    meta.remove("annotations");
                }
            }
        }
    }
    object
}

/// The paths (`spec.template.spec.containers[0].image`) where `after` differs from `before`,
/// in document order; empty when the write would change nothing that matters.
pub fn changed_fields(before: &Value, after: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(&comparable(before), &comparable(after), "", &mut out);
    out
}

fn walk(before: &Value, after: &Value, path: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else if key.contains('.') || key.contains('/') {
                    // Label and annotation keys hold dots: quote them as kubectl's JSONPath does.
                    format!("{path}[{key:?}]")
                } else {
                    format!("{path}.{key}")
                };
                walk(
                    b.get(key).unwrap_or(&Value::Null),
                    a.get(key).unwrap_or(&Value::Null),
                    &child,
                    out,
                );
            }
        }
        (Value::Array(b), Value::Array(a)) if b.len() == a.len() => {
            for (i, (b, a)) in b.iter().zip(a).enumerate() {
                walk(b, a, &format!("{path}[{i}]"), out);
            }
        }
        (b, a) if b != a => out.push(path.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn volatile_fields_are_ignored_and_real_changes_named() {
        let live = json!({
            "metadata": {"name": "web", "resourceVersion": "7", "generation": 2,
                "managedFields": [{"manager": "mutualis"}],
                "annotations": {"mutualis.io/applied-hash": "aaa"},
                "labels": {"mutualis.io/tenant": "x"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": "nginx:1.27"}]}}},
            "status": {"readyReplicas": 1}
        });
        let mut same = live.clone();
        same["metadata"]["resourceVersion"] = json!("8");
        same["metadata"]["annotations"]["mutualis.io/applied-hash"] = json!("bbb");
        same["status"] = json!({});
        assert!(changed_fields(&live, &same).is_empty());

        let mut changed = live.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
        changed["metadata"]["labels"]["mutualis.io/service"] = json!("website");
        changed["spec"]["paused"] = json!(true);
        assert_eq!(
            changed_fields(&live, &changed),
            [
                "metadata.labels[\"mutualis.io/service\"]",
                "spec.paused",
                "spec.template.spec.containers[0].image"
            ]
        );
        let mut longer = live.clone();
        longer["spec"]["template"]["spec"]["containers"] = json!([{"image": "a"}, {"image": "b"}]);
        assert_eq!(
            changed_fields(&live, &longer),
            ["spec.template.spec.containers"]
        );
    }
}
