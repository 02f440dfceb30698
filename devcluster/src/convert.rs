//! Between the stored form of an object and the form served for one group/version. Only events
//! differ in shape: `events.k8s.io/v1` is a projection of the core event store, so `kubectl
//! describe` sees what kube-rs's Recorder wrote.

use crate::resources::ResourceDef;
use serde_json::{Map, Value};

/// (core/v1 field, events.k8s.io/v1 field)
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// Same-named fields present in both event versions.
const EVENT_SHARED: &[&str] = &[
    "metadata",
    "reason",
    "type",
    "eventTime",
    "series",
    "action",
    "related",
    "reportingInstance",
];

fn is_new_events(def: &ResourceDef) -> bool {
    def.group == "events.k8s.io" && def.plural == "events"
}

/// Stored → served.
pub fn to_external(def: &ResourceDef, mut obj: Value) -> Value {
    if is_new_events(def) {
        obj = rename_fields(&obj, true);
    }
    set_type(&mut obj, def);
    obj
}

/// Served → stored.
pub fn to_storage(def: &ResourceDef, mut obj: Value) -> Value {
    if is_new_events(def) {
        obj = rename_fields(&obj, false);
        obj["apiVersion"] = Value::from("v1");
        obj["kind"] = Value::from("Event");
        fill_core_event(&mut obj);
        return obj;
    }
    if def.plural == "events" {
        fill_core_event(&mut obj);
    }
    set_type(&mut obj, def);
    obj
}

/// Whether the stored bytes can be served as they are.
pub fn is_identity(def: &ResourceDef, stored_api_version: &str) -> bool {
    !is_new_events(def) && stored_api_version == def.api_version()
}

fn set_type(obj: &mut Value, def: &ResourceDef) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(def.api_version()));
        m.insert("kind".into(), Value::String(def.kind.clone()));
    }
}

fn rename_fields(obj: &Value, core_to_new: bool) -> Value {
    let Some(src) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::new();
    for (k, v) in src {
        if EVENT_SHARED.contains(&k.as_str()) || k == "apiVersion" || k == "kind" {
            out.insert(k.clone(), v.clone());
            continue;
        }
        let mapped = EVENT_FIELDS
            .iter()
            .find_map(|(core, new)| match core_to_new {
                true if k == core => Some(*new),
                false if k == new => Some(*core),
                _ => None,
            });
        match mapped {
            Some(m) => {
                out.insert(m.to_string(), v.clone());
            }
            None => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// kubectl describe sorts and ages events by these; derive them when only the new API's fields
/// were written.
fn fill_core_event(obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    let event_time = m.get("eventTime").and_then(Value::as_str).map(String::from);
    if let Some(series) = m.get("series").cloned() {
        if let Some(c) = series.get("count") {
            m.insert("count".into(), c.clone());
        }
        if let Some(t) = series["lastObservedTime"].as_str() {
            m.insert(
                "lastTimestamp".into(),
                Value::String(t.chars().take(19).collect::<String>() + "Z"),
            );
        }
    }
    if let Some(t) = &event_time {
        let secs = format!("{}Z", t.chars().take(19).collect::<String>());
        m.entry("firstTimestamp")
            .or_insert_with(|| Value::String(secs.clone()));
        m.entry("lastTimestamp").or_insert(Value::String(secs));
    }
    if let Some(rc) = m
        .get("reportingComponent")
        .and_then(Value::as_str)
        .map(String::from)
    {
        m.entry("source")
            .or_insert_with(|| serde_json::json!({"component": rc}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use serde_json::json;

    #[test]
    fn events_round_trip_between_apis() {
        let reg = Registry::with_builtins();
        let new = reg.get("events.k8s.io", "v1", "events").unwrap();
        let core = reg.get("", "v1", "events").unwrap();
        let written = json!({"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"x.1","namespace":"default"},
            "note":"tenant ready","reason":"Reconciled","regarding":{"kind":"Tenant","name":"x"},
            "reportingController":"tenant-controller","eventTime":"2026-11-28T13:02:23.556584Z","series":{"count":2,"lastObservedTime":"2026-11-28T13:02:25.000000Z"}});
        let stored = to_storage(&new, written.clone());
        assert_eq!(stored["involvedObject"]["name"], "x");
        assert_eq!(stored["message"], "tenant ready");
        assert_eq!(stored["count"], 2);
        assert_eq!(stored["lastTimestamp"], "2026-11-28T13:02:25Z");
        assert_eq!(to_external(&core, stored.clone())["apiVersion"], "v1");
        let back = to_external(&new, stored);
        assert_eq!(back["note"], "tenant ready");
        assert_eq!(back["regarding"]["name"], "x");
        assert_eq!(back["apiVersion"], "events.k8s.io/v1");
    }
}
