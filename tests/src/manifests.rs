//! Rendered Kubernetes manifests (`helm template`, `mutualis render`) as JSON values.

use serde_json::Value;

/// Parses a multi-document YAML stream, dropping empty documents (Helm emits some).
pub fn parse_documents(yaml: &str) -> Vec<Value> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(yaml)
        .unwrap_or_else(|e| panic!("rendered YAML does not parse: {e}\n{yaml}"));
    documents.into_iter().filter(|d| !d.is_null()).collect()
}

/// `kind/name` of an object, for messages.
pub fn key(object: &Value) -> String {
    format!("{}/{}", kind(object), name(object))
}

pub fn kind(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or("")
}

pub fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or("")
}

/// The only object of this kind and name, or a panic listing what there is.
#[track_caller]
pub fn find<'a>(objects: &'a [Value], kind_: &str, name_: &str) -> &'a Value {
    let mut matching = objects
        .iter()
        .filter(|o| kind(o) == kind_ && name(o) == name_);
    let found = matching.next().unwrap_or_else(|| {
        let keys: Vec<String> = objects.iter().map(key).collect();
        panic!("no {kind_}/{name_} among {keys:?}")
    });
    assert!(matching.next().is_none(), "{kind_}/{name_} rendered twice");
    found
}

/// Every object of a kind.
pub fn of_kind<'a>(objects: &'a [Value], kind_: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| kind(o) == kind_).collect()
}
