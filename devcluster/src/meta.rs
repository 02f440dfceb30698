//! Object metadata rules the apiserver enforces on every write: name formats, server-set fields,
//! and dropping empty collections (kube-rs's finalizer helper tests `/metadata/finalizers` for
//! `null`, which only passes when an empty list is absent).

use crate::resources::ResourceDef;
use crate::status::Cause;
use serde_json::{Map, Value};

const DNS1123_LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_LABEL: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

// Shared with the offline commands, which hold custom resources' names to the same rule.
use crdvalidation::is_dns1123_label as is_label;

/// Checks `metadata.name` by the rule the resource's real validator uses.
pub fn validate_name(def: &ResourceDef, name: &str) -> Option<Cause> {
    let invalid = |msg: &str| {
        Some(Cause::new(
            "FieldValueInvalid",
            "metadata.name",
            format!("Invalid value: {name:?}: {msg}"),
        ))
    };
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => (!is_label(name)).then(|| invalid(DNS1123_LABEL)).flatten(),
        ("", "services") => (!(is_label(name) && name.as_bytes()[0].is_ascii_lowercase()))
            .then(|| invalid(DNS1035_LABEL))
            .flatten(),
        ("rbac.authorization.k8s.io", _) => {
            let bad = name.is_empty()
                || name == "."
                || name == ".."
                || name.contains('/')
                || name.contains('%');
            bad.then(|| invalid("may not contain '/' or '%' and may not be '.' or '..'"))
                .flatten()
        }
        _ => crdvalidation::name_cause(name),
    }
}

pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let m = obj.as_object_mut().expect("object");
    let meta = m
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut().expect("object")
}

/// Drops empty (or null) collections and fields that must not be persisted empty.
pub fn strip_empty(obj: &mut Value) {
    let m = meta_mut(obj);
    for f in [
        "finalizers",
        "ownerReferences",
        "labels",
        "annotations",
        "managedFields",
    ] {
        let empty = match m.get(f) {
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(o)) => o.is_empty(),
            Some(Value::Null) => true,
            _ => false,
        };
        if empty {
            m.remove(f);
        }
    }
    for f in [
        "generateName",
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "selfLink",
    ] {
        if m.get(f)
            .is_some_and(|v| v.is_null() || v.as_str() == Some(""))
        {
            m.remove(f);
        }
    }
}

const GEN_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Five random characters, as the apiserver's name generator appends to `generateName`.
pub fn generated_suffix() -> String {
    let uid = crate::clock::new_uid();
    uid.bytes()
        .filter(u8::is_ascii_hexdigit)
        .take(5)
        .map(|b| GEN_ALPHABET[b as usize % GEN_ALPHABET.len()] as char)
        .collect()
}

/// Equal but for the parts that never count as a change (`resourceVersion`, the timestamps
/// of `managedFields`): a write producing an equal object is a no-op. A change of ownership
/// alone (a new manager applying the same values) still counts, as on a real server.
pub fn same_content(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            if let Some(Value::Array(entries)) = m.get_mut("managedFields") {
                for e in entries {
                    if let Some(e) = e.as_object_mut() {
                        e.remove("time");
                    }
                }
            }
        }
        v
    }
    strip(a) == strip(b)
}

/// Everything but `metadata` and `status`: a change here bumps `generation`.
pub fn spec_part(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        for f in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(f);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn names_follow_the_resource_rule() {
        let reg = Registry::with_builtins();
        let ns = reg.get("", "v1", "namespaces").unwrap();
        let cm = reg.get("", "v1", "configmaps").unwrap();
        let role = reg
            .get("rbac.authorization.k8s.io", "v1", "clusterroles")
            .unwrap();
        let svc = reg.get("", "v1", "services").unwrap();
        assert!(validate_name(&ns, "coteaux-bordelais").is_none());
        assert!(validate_name(&ns, "a.b").is_some());
        assert!(validate_name(&cm, "a.b-c").is_none());
        assert!(validate_name(&cm, "Sallebœuf").is_some());
        assert!(validate_name(&cm, "-x").is_some());
        assert!(validate_name(&role, "system:controller:x").is_none());
        assert!(validate_name(&svc, "1abc").is_some());
    }
}
