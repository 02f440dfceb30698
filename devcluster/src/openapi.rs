//! OpenAPI v3, only as much as kubectl needs: an index whose hashes change with the served
//! resources, and per group/version documents whose PATCH operations carry the GVK and a
//! `fieldValidation` parameter (without it `kubectl apply --server-side` falls back to v2).

use crate::resources::{Registry, ResourceDef};
use serde_json::{Map, Value, json};

fn gv_key(d: &ResourceDef) -> String {
    if d.group.is_empty() {
        format!("api/{}", d.version)
    } else {
        format!("apis/{}/{}", d.group, d.version)
    }
}

fn hash(v: &Value) -> String {
    // FNV-1a over the document: any change to it yields a new hash (kubectl caches by hash).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in v.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016X}")
}

pub fn index(reg: &Registry) -> Value {
    let mut paths = Map::new();
    let mut keys: Vec<String> = reg.all().map(|d| gv_key(d)).collect();
    keys.dedup();
    for k in keys {
        if let Some(doc) = document(reg, &k) {
            paths.insert(
                k.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{k}?hash={}", hash(&doc))}),
            );
        }
    }
    json!({"paths": paths})
}

fn params() -> Value {
    let p = |n: &str| json!({"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": true});
    json!([
        p("dryRun"),
        p("fieldManager"),
        p("fieldValidation"),
        p("force")
    ])
}

/// The document of one group/version (`api/v1`, `apis/g/v`).
pub fn document(reg: &Registry, gv: &str) -> Option<Value> {
    let defs: Vec<_> = reg.all().filter(|d| gv_key(d) == gv).cloned().collect();
    if defs.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for d in &defs {
        let gvk = json!({"group": d.group, "version": d.version, "kind": d.kind});
        let item = if d.namespaced {
            format!(
                "{}/namespaces/{{namespace}}/{}/{{name}}",
                d.gv_path(),
                d.plural
            )
        } else {
            format!("{}/{}/{{name}}", d.gv_path(), d.plural)
        };
        let op = |action: &str| json!({"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": action, "parameters": params(), "responses": {"200": {"description": "OK"}}});
        paths.insert(item.clone(), json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}));
        if d.status {
            paths.insert(
                format!("{item}/status"),
                json!({"patch": op("patch"), "put": op("put")}),
            );
        }
        let name = format!(
            "{}.{}.{}",
            if d.group.is_empty() {
                "io.k8s.api.core"
            } else {
                &d.group
            },
            d.version,
            d.kind
        );
        // Only custom resources get a schema: for built-ins kubectl uses its compiled-in types.
        if let Some(s) = d.schema.as_deref() {
            let mut schema = s.clone();
            schema["x-kubernetes-group-version-kind"] = json!([gvk]);
            schemas.insert(name, schema);
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}
