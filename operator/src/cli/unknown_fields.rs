//! Unknown fields, caught offline the way the API server's strict field validation would:
//! serde ignores them, so a typo such as `deletionPolcy: Delete` would otherwise vanish and
//! leave the default (Retain) in force without a word.

use std::sync::OnceLock;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray,
};
use serde_json::Value;

/// The first field of `document` that the CRD schema of `kind` does not know: its path and
/// the fields allowed where it stands.
pub fn first_unknown(kind: &str, document: &Value) -> Option<(String, Vec<String>)> {
    let schema = schemas().iter().find(|(k, _)| k == kind).map(|(_, s)| s)?;
    let object = document.as_object()?;
    // `metadata` is ObjectMeta, which the CRD schema leaves open; check the rest.
    for (key, value) in object {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        let found = walk(schema, key, value, key.clone());
        if found.is_some() {
            return found;
        }
    }
    None
}

fn walk(
    parent: &JSONSchemaProps,
    key: &str,
    value: &Value,
    path: String,
) -> Option<(String, Vec<String>)> {
    let properties = parent.properties.as_ref()?;
    let Some(schema) = properties.get(key) else {
        return Some((path, properties.keys().cloned().collect()));
    };
    match value {
        Value::Object(map) if schema.properties.is_some() => map
            .iter()
            .find_map(|(k, v)| walk(schema, k, v, format!("{path}.{k}"))),
        Value::Array(items) => {
            let Some(JSONSchemaPropsOrArray::Schema(item)) = schema.items.as_ref() else {
                return None;
            };
            items.iter().enumerate().find_map(|(i, v)| {
                let map = v.as_object()?;
                item.properties.as_ref()?;
                map.iter()
                    .find_map(|(k, v)| walk(item, k, v, format!("{path}[{i}].{k}")))
            })
        }
        _ => None,
    }
}

fn schemas() -> &'static Vec<(String, JSONSchemaProps)> {
    static SCHEMAS: OnceLock<Vec<(String, JSONSchemaProps)>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        crate::api::crds()
            .into_iter()
            .filter_map(|crd| {
                let schema = crd
                    .spec
                    .versions
                    .into_iter()
                    .next()?
                    .schema?
                    .open_api_v3_schema?;
                Some((crd.spec.names.kind, schema))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typos_are_found_with_their_path_and_the_allowed_fields() {
        let doc = json!({"apiVersion": "mutualis.io/v1alpha1", "kind": "Tenant", "metadata": {"name": "x", "labels": {"a": "b"}},
            "spec": {"tier": "1tb", "members": [{"domain": "a.fr"}, {"domian": "b.fr"}]}});
        let (path, allowed) = first_unknown("Tenant", &doc).unwrap();
        assert_eq!(path, "spec.members[1].domian");
        assert_eq!(allowed, ["displayName", "domain", "mail", "name", "site"]);
        let typo = json!({"spec": {"deletionPolcy": "Delete"}});
        assert_eq!(
            first_unknown("Tenant", &typo).unwrap().0,
            "spec.deletionPolcy"
        );
        let fine = json!({"metadata": {"anything": 1}, "spec": {"services": {"mail": false}, "admins": [{"kind": "User", "name": "a"}]}});
        assert_eq!(first_unknown("Tenant", &fine), None);
        let catalog = json!({"spec": {"dns": {"soa": {"refrsh": 1}}}});
        assert_eq!(
            first_unknown("ServiceCatalog", &catalog).unwrap().0,
            "spec.dns.soa.refrsh"
        );
    }
}
