//! `metadata.managedFields`: who owns which field. Server-side apply reads and writes the
//! `Apply` entries; every other write gives its manager the fields it changed (an `Update`
//! entry), taking them away from everyone else, as the real field manager does.

use crate::fieldset::{Ctx, FieldSet, get};
use crate::resources::ResourceDef;
use crate::write::Sub;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Entry {
    pub manager: String,
    pub apply: bool,
    pub subresource: bool,
    pub api_version: String,
    pub time: String,
    pub fields: FieldSet,
}

pub fn read(obj: Option<&Value>) -> Vec<Entry> {
    let Some(list) = obj.and_then(|o| o["metadata"]["managedFields"].as_array()) else {
        return vec![];
    };
    list.iter()
        .map(|e| Entry {
            manager: e["manager"].as_str().unwrap_or_default().to_string(),
            apply: e["operation"] == "Apply",
            subresource: e["subresource"] == "status",
            api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
            time: e["time"].as_str().unwrap_or_default().to_string(),
            fields: FieldSet::from_json(&e["fieldsV1"]),
        })
        .collect()
}

pub fn write(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": if e.apply { "Apply" } else { "Update" },
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": e.fields.to_json(),
            });
            if e.subresource {
                v["subresource"] = "status".into();
            }
            v
        })
        .collect();
    let m = crate::meta::meta_mut(obj);
    if list.is_empty() {
        m.remove("managedFields");
    } else {
        m.insert("managedFields".into(), Value::Array(list));
    }
}

/// For a non-apply write: the manager takes the fields whose value changed.
pub fn record(
    def: &ResourceDef,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    sub: Sub,
    created: bool,
) {
    // A client that sends managedFields of its own (kubectl migrating client-side-apply
    // ownership to server-side apply does) is taken at its word; absent ones are kept.
    let given = new["metadata"]
        .get("managedFields")
        .filter(|m| !m.is_null());
    let explicit = given.is_some() && given != old.and_then(|o| o["metadata"].get("managedFields"));
    let mut entries = if explicit { read(Some(new)) } else { read(old) };
    let all = FieldSet::of(new, Ctx::root(def));
    let changed: Vec<_> = all
        .leaves()
        .into_iter()
        .filter(|p| created || old.and_then(|o| get(o, p)) != get(new, p))
        .filter(|p| (sub == Sub::Status) == (p.first().map(String::as_str) == Some("f:status")))
        .collect();
    // Fields that disappeared are dropped from every manager.
    if let Some(old) = old {
        for e in &mut entries {
            for p in e.fields.leaves() {
                if get(old, &p).is_some() && get(new, &p).is_none() {
                    e.fields.remove(&p);
                }
            }
        }
    }
    if changed.is_empty() {
        write(new, &entries);
        return;
    }
    for e in &mut entries {
        for p in &changed {
            e.fields.remove(p);
        }
    }
    let status = sub == Sub::Status;
    let idx = match entries
        .iter()
        .position(|e| e.manager == manager && !e.apply && e.subresource == status)
    {
        Some(i) => i,
        None => {
            entries.push(Entry {
                manager: manager.to_string(),
                apply: false,
                subresource: status,
                api_version: def.api_version(),
                time: String::new(),
                fields: FieldSet::default(),
            });
            entries.len() - 1
        }
    };
    for p in &changed {
        entries[idx].fields.insert(p);
    }
    entries[idx].time = crate::clock::now_rfc3339();
    write(new, &entries);
}
