//! The three classic patch types: JSON Patch (RFC 6902), JSON merge patch (RFC 7386) and
//! strategic merge patch for built-in kinds (lists merged by the keys Kubernetes declares).

use crate::status::ApiError;
use serde_json::{Map, Value};

/// JSON Patch, op by op. A `test` of an absent path against `null` passes: kube-rs's finalizer
/// helper relies on it (`test /metadata/finalizers == null` before adding the first one).
pub fn json_patch(doc: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be an array of operations"))?;
    for op in ops {
        if op["op"] == "test"
            && op["value"].is_null()
            && let Some(path) = op["path"].as_str()
            && doc.pointer(path).is_none_or(Value::is_null)
        {
            continue;
        }
        let one: json_patch::Patch = serde_json::from_value(Value::Array(vec![op.clone()]))
            .map_err(|e| ApiError::bad_request(format!("invalid json patch operation: {e}")))?;
        json_patch::patch(doc, &one).map_err(|e| match e.kind {
            json_patch::PatchErrorKind::TestFailed => ApiError::new(422, "Invalid", format!("the server rejected our request due to an error in our request: testing value {} failed", op["path"])),
            _ => ApiError::new(422, "Invalid", format!("the server rejected our request due to an error in our request: {e}")),
        })?;
    }
    Ok(())
}

pub fn merge_patch(doc: &mut Value, patch: &Value) -> Result<(), ApiError> {
    if !patch.is_object() {
        return Err(ApiError::bad_request("merge patch must be a JSON object"));
    }
    json_patch::merge(doc, patch);
    Ok(())
}

/// The merge key of a list field in a built-in kind, by the field's name (and, for `ports`, by
/// what the items hold). `None` means the list is replaced whole.
pub fn builtin_list_key(field: &str, items: &[Value]) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "volumeClaimTemplates" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        _ => return None,
    })
}

/// Lists of scalars whose patch strategy is `merge` (set union), rather than replace.
fn builtin_set_list(field: &str) -> bool {
    matches!(field, "finalizers")
}

pub fn strategic_merge(doc: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let p = patch
        .as_object()
        .ok_or_else(|| ApiError::bad_request("strategic merge patch must be a JSON object"))?;
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    merge_map(doc.as_object_mut().expect("object"), p);
    Ok(())
}

fn merge_map(doc: &mut Map<String, Value>, patch: &Map<String, Value>) {
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        *doc = patch
            .iter()
            .filter(|(k, _)| !k.starts_with('$'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        return;
    }
    let retain: Option<Vec<String>> = patch.get("$retainKeys").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    });
    for (k, pv) in patch {
        if k.starts_with('$') {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(del)) = (doc.get_mut(field), pv.as_array()) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if pv.is_null() {
            doc.remove(k);
            continue;
        }
        match (doc.get_mut(k), pv) {
            (Some(Value::Object(dm)), Value::Object(pm)) => {
                if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                    doc.remove(k);
                } else {
                    merge_map(dm, pm);
                }
            }
            (Some(Value::Array(dl)), Value::Array(pl)) => merge_list(k, dl, pl),
            _ => {
                let mut v = pv.clone();
                strip_directives(&mut v);
                doc.insert(k.clone(), v);
            }
        }
    }
    if let Some(keep) = retain {
        doc.retain(|k, _| keep.contains(k));
    }
}

fn merge_list(field: &str, doc: &mut Vec<Value>, patch: &[Value]) {
    if builtin_set_list(field) {
        for p in patch {
            if !doc.contains(p) {
                doc.push(p.clone());
            }
        }
        return;
    }
    let Some(key) = builtin_list_key(field, patch) else {
        let mut v = Value::Array(patch.to_vec());
        strip_directives(&mut v);
        *doc = v.as_array().cloned().unwrap_or_default();
        return;
    };
    for p in patch {
        let Some(pm) = p.as_object() else { continue };
        if pm.get("$patch").and_then(Value::as_str) == Some("replace") {
            let mut v = Value::Array(
                patch
                    .iter()
                    .filter(|x| x.get("$patch").is_none())
                    .cloned()
                    .collect(),
            );
            strip_directives(&mut v);
            *doc = v.as_array().cloned().unwrap_or_default();
            return;
        }
        let id = pm.get(key);
        let pos = doc.iter().position(|d| d.get(key) == id && id.is_some());
        if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(i) = pos {
                doc.remove(i);
            }
            continue;
        }
        match pos {
            Some(i) => {
                if let Value::Object(dm) = &mut doc[i] {
                    merge_map(dm, pm);
                }
            }
            None => {
                let mut v = p.clone();
                strip_directives(&mut v);
                doc.push(v);
            }
        }
    }
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_absent_test_null_passes_and_failed_test_is_422() {
        let mut doc = json!({"metadata": {"name": "x"}});
        let add = json!([{"op":"test","path":"/metadata/finalizers","value":null},{"op":"add","path":"/metadata/finalizers","value":["f"]}]);
        json_patch(&mut doc, &add).unwrap();
        assert_eq!(doc["metadata"]["finalizers"], json!(["f"]));
        let err = json_patch(&mut doc, &add).unwrap_err();
        assert_eq!((err.code, err.reason), (422, "Invalid"));
        let rm = json!([{"op":"test","path":"/metadata/finalizers/0","value":"f"},{"op":"remove","path":"/metadata/finalizers/0"}]);
        json_patch(&mut doc, &rm).unwrap();
        assert_eq!(doc["metadata"]["finalizers"], json!([]));
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut doc = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}
        ]}}}});
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
            {"name": "b", "$patch": "delete"}
        ]}}}});
        strategic_merge(&mut doc, &patch).unwrap();
        assert_eq!(
            doc["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "image": "a:2", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}])
        );
    }
}
