//! Server-side Tables (`kubectl get`): Name, the printer columns, and Age rendered as a human
//! duration. Rows carry a PartialObjectMetadata so that `-A` and `--show-labels` work.

use crate::resources::{Column, ResourceDef};
use serde_json::{Value, json};

fn col(name: &str, type_: &str, json_path: &str, priority: i64) -> Column {
    Column {
        name: name.into(),
        type_: type_.into(),
        format: String::new(),
        description: String::new(),
        priority,
        json_path: json_path.into(),
    }
}

/// Columns of the built-ins, close to what `kubectl get` shows against a real cluster.
/// A `json_path` starting with `=` names a computed cell.
pub fn builtin_columns(plural: &str) -> Vec<Column> {
    match plural {
        "namespaces" => vec![col("Status", "string", ".status.phase", 0)],
        "configmaps" => vec![col("Data", "integer", "=count:data", 0)],
        "secrets" => vec![
            col("Type", "string", ".type", 0),
            col("Data", "integer", "=count:data", 0),
        ],
        "services" => vec![
            col("Type", "string", ".spec.type", 0),
            col("Cluster-IP", "string", ".spec.clusterIP", 0),
            col("External-IP", "string", "=external-ip", 0),
            col("Port(s)", "string", "=ports", 0),
        ],
        "persistentvolumeclaims" => vec![
            col("Status", "string", ".status.phase", 0),
            col("Volume", "string", ".spec.volumeName", 0),
            col("Capacity", "string", ".status.capacity.storage", 0),
            col("Access Modes", "string", "=access-modes", 0),
            col("StorageClass", "string", ".spec.storageClassName", 0),
        ],
        "deployments" => vec![
            col("Ready", "string", "=ready", 0),
            col("Up-to-date", "integer", ".status.updatedReplicas", 0),
            col("Available", "integer", ".status.availableReplicas", 0),
        ],
        "statefulsets" => vec![col("Ready", "string", "=ready", 0)],
        "resourcequotas" => vec![
            col("Request", "string", "=quota:request", 0),
            col("Limit", "string", "=quota:limit", 0),
        ],
        "customresourcedefinitions" => {
            vec![col("Created At", "date", ".metadata.creationTimestamp", 0)]
        }
        "events" => vec![
            col("Type", "string", ".type", 0),
            col("Reason", "string", ".reason", 0),
            col("Object", "string", "=involved", 0),
            col("Message", "string", "=message", 0),
        ],
        _ => vec![],
    }
}

fn all_columns(def: &ResourceDef) -> Vec<Column> {
    let mut cols = vec![Column {
        name: "Name".into(),
        type_: "string".into(),
        format: "name".into(),
        description: "Name must be unique within a namespace.".into(),
        priority: 0,
        json_path: ".metadata.name".into(),
    }];
    let age = col("Age", "date", ".metadata.creationTimestamp", 0);
    if def.builtin && def.plural == "resourcequotas" {
        // Upstream prints a quota's age before its usage.
        cols.push(age);
        cols.extend(def.columns.iter().cloned());
        return cols;
    }
    cols.extend(def.columns.iter().cloned());
    // Custom resources with no printer columns show Name and Age; built-ins always end in Age.
    if def.builtin || def.columns.is_empty() {
        cols.push(age);
    }
    cols
}

fn cell(c: &Column, obj: &Value) -> Value {
    if let Some(computed) = c.json_path.strip_prefix('=') {
        return computed_cell(computed, obj);
    }
    let found = crate::jsonpath::select(obj, &c.json_path);
    let Some(first) = found.first() else {
        return Value::Null;
    };
    match c.type_.as_str() {
        "date" => first
            .as_str()
            .and_then(crate::clock::age_of)
            .map(Value::from)
            .unwrap_or(Value::Null),
        "integer" | "number" | "boolean" => first.clone(),
        _ => {
            let text: Vec<String> = found
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            Value::from(text.join(","))
        }
    }
}

/// `requests.cpu: 500m/2, requests.storage: 0/1Ti` (or the `limits.*` ones), as upstream's
/// quota printer.
fn quota_cell(obj: &Value, limits: bool) -> Value {
    let st = &obj["status"];
    let text = |v: &Value| {
        v.as_str()
            .map(String::from)
            .unwrap_or_else(|| v.to_string())
    };
    let parts: Vec<String> = st["hard"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("limits.") == limits)
        .map(|(k, hard)| {
            let used = st["used"].get(k).map_or_else(|| "0".to_string(), text);
            format!("{k}: {used}/{}", text(hard))
        })
        .collect();
    parts.join(", ").into()
}

fn computed_cell(which: &str, obj: &Value) -> Value {
    let st = &obj["status"];
    match which {
        "quota:request" => quota_cell(obj, false),
        "quota:limit" => quota_cell(obj, true),
        "count:data" => {
            let n = obj["data"].as_object().map_or(0, |m| m.len())
                + obj["binaryData"].as_object().map_or(0, |m| m.len());
            n.into()
        }
        "ready" => format!(
            "{}/{}",
            st["readyReplicas"].as_u64().unwrap_or(0),
            obj["spec"]["replicas"].as_u64().unwrap_or(1)
        )
        .into(),
        "external-ip" => {
            let ips: Vec<String> = st["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["ip"].as_str().map(String::from))
                .collect();
            match (ips.is_empty(), obj["spec"]["type"] == "LoadBalancer") {
                (true, true) => "<pending>".into(),
                (true, false) => "<none>".into(),
                _ => ips.join(",").into(),
            }
        }
        "ports" => {
            let ports: Vec<String> = obj["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
                .collect();
            if ports.is_empty() {
                "<none>".into()
            } else {
                ports.join(",").into()
            }
        }
        "access-modes" => {
            let modes: Vec<&str> = obj["status"]["accessModes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|m| match m {
                    "ReadWriteOnce" => "RWO",
                    "ReadOnlyMany" => "ROX",
                    "ReadWriteMany" => "RWX",
                    "ReadWriteOncePod" => "RWOP",
                    other => other,
                })
                .collect();
            modes.join(",").into()
        }
        "message" => obj
            .get("message")
            .or(obj.get("note"))
            .cloned()
            .unwrap_or(Value::Null),
        "involved" => {
            // core/v1 says involvedObject, events.k8s.io/v1 says regarding.
            let o = if obj["involvedObject"].is_object() {
                &obj["involvedObject"]
            } else {
                &obj["regarding"]
            };
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or_default().to_lowercase(),
                o["name"].as_str().unwrap_or_default()
            )
            .into()
        }
        _ => Value::Null,
    }
}

pub fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]})
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Object,
    Metadata,
}

impl IncludeObject {
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

pub fn row(def: &ResourceDef, obj: &Value, include: IncludeObject) -> Value {
    let cells: Vec<Value> = all_columns(def).iter().map(|c| cell(c, obj)).collect();
    let mut r = json!({"cells": cells});
    match include {
        IncludeObject::None => {}
        IncludeObject::Object => r["object"] = obj.clone(),
        IncludeObject::Metadata => r["object"] = partial_metadata(obj),
    }
    r
}

pub fn table(def: &ResourceDef, rows: Vec<Value>, rv: &str, cont: Option<&str>) -> Value {
    let cols: Vec<Value> = all_columns(def)
        .iter()
        .map(|c| json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}))
        .collect();
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = cont.filter(|c| !c.is_empty()) {
        meta["continue"] = c.into();
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": cols, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn crd_columns_and_ages() {
        let mut def = (*Registry::with_builtins()
            .get("", "v1", "configmaps")
            .unwrap())
        .clone();
        def.builtin = false;
        def.columns = vec![
            col("Plan", "string", ".spec.plan", 0),
            col(
                "Ready",
                "string",
                ".status.conditions[?(@.type==\"Ready\")].status",
                0,
            ),
            col("Age", "date", ".metadata.creationTimestamp", 0),
            col("Members", "integer", ".spec.count", 1),
        ];
        let obj = json!({"metadata": {"name": "x", "creationTimestamp": crate::clock::now_rfc3339()}, "spec": {"plan": "gold"}});
        let r = row(&def, &obj, IncludeObject::Metadata);
        assert_eq!(r["cells"], json!(["x", "gold", null, "0s", null]));
        assert_eq!(r["object"]["kind"], "PartialObjectMetadata");
        let t = table(&def, vec![r], "7", None);
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 5);
        assert_eq!(t["columnDefinitions"][4]["priority"], 1);
    }
}
