//! Server-side apply: merge the applied configuration into the live object, track what each
//! field manager owns, report conflicts unless forced, and remove fields a manager stopped
//! applying when nobody else owns them.

use crate::fieldset::{Ctx, FieldSet, ListType, Path, get, item_key, remove_at};
use crate::managed::{self, Entry};
use crate::resources::ResourceDef;
use crate::status::{ApiError, Target};
use crate::write::Sub;
use serde_json::{Map, Value, json};

pub struct Conflict {
    pub manager: String,
    pub path: Path,
}

pub fn apply(
    def: &ResourceDef,
    old: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    sub: Sub,
) -> Result<Value, Vec<Conflict>> {
    let mut applied = applied.clone();
    if let Some(m) = applied.as_object_mut() {
        match sub {
            Sub::Status => {
                m.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"))
            }
            Sub::Main if def.status => {
                m.remove("status");
            }
            Sub::Main => {}
        }
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
            meta.remove("resourceVersion");
        }
    }
    let ctx = Ctx::root(def);
    let mut new_set = FieldSet::of(&applied, ctx);
    if sub == Sub::Status {
        new_set.0.retain(|k, _| k == "f:status");
    }
    let mut entries = managed::read(old);
    let status = sub == Sub::Status;
    let mine = |e: &Entry| e.manager == manager && e.apply && e.subresource == status;

    let base = old.cloned().unwrap_or_else(|| json!({}));
    let mut conflicts = Vec::new();
    for e in entries.iter_mut().filter(|e| !mine(e)) {
        for p in e.fields.leaves() {
            if new_set.contains(&p)
                && get(&base, &p) != get(&applied, &p)
                && get(&base, &p).is_some()
            {
                if force {
                    e.fields.remove(&p);
                } else {
                    conflicts.push(Conflict {
                        manager: e.manager.clone(),
                        path: p,
                    });
                }
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }

    let mut out = base;
    let previous = entries
        .iter()
        .find(|e| mine(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    for p in previous.leaves() {
        let owned_elsewhere = entries.iter().any(|e| !mine(e) && e.fields.contains(&p));
        if !new_set.contains(&p) && !owned_elsewhere {
            remove_at(&mut out, &p);
        }
    }
    merge(&mut out, &applied, ctx);

    entries.retain(|e| !mine(e));
    entries.push(Entry {
        manager: manager.to_string(),
        apply: true,
        subresource: status,
        api_version: def.api_version(),
        time: crate::clock::now_rfc3339(),
        fields: new_set,
    });
    // Keep the order stable (by first appearance) so that repeated applies are no-ops.
    let order: Vec<String> = managed::read(old)
        .iter()
        .map(|e| format!("{}{}{}", e.manager, e.apply, e.subresource))
        .collect();
    entries.sort_by_key(|e| {
        order
            .iter()
            .position(|o| *o == format!("{}{}{}", e.manager, e.apply, e.subresource))
            .unwrap_or(usize::MAX)
    });
    managed::write(&mut out, &entries);
    Ok(out)
}

/// Deep merge of an applied configuration: maps by key, lists by their list type.
pub fn merge(dst: &mut Value, src: &Value, ctx: Ctx) {
    match (dst.as_object_mut(), src) {
        (Some(d), Value::Object(s)) if !ctx.atomic_map() => {
            for (k, sv) in s {
                let child = ctx.child(k);
                match d.get_mut(k) {
                    Some(dv) if !sv.is_null() => merge(dv, sv, child),
                    _ => {
                        d.insert(k.clone(), sv.clone());
                    }
                }
            }
        }
        _ => match (dst.as_array_mut(), src) {
            (Some(d), Value::Array(s)) => match ctx.list_type(s) {
                ListType::Atomic => *dst = src.clone(),
                ListType::Set => {
                    for x in s {
                        if !d.contains(x) {
                            d.push(x.clone());
                        }
                    }
                }
                ListType::Map(keys) => {
                    for x in s {
                        let id = item_key(&keys, x);
                        match d.iter_mut().find(|i| item_key(&keys, i) == id) {
                            Some(existing) => merge(existing, x, ctx.item()),
                            None => d.push(x.clone()),
                        }
                    }
                }
            },
            _ => *dst = src.clone(),
        },
    }
}

/// `.spec.plan`, as kubectl prints conflicting fields.
pub fn render_path(p: &Path) -> String {
    let mut s = String::new();
    for e in p {
        if e == "." {
            continue;
        }
        match e.split_once(':') {
            Some(("f", f)) => {
                s.push('.');
                s.push_str(f);
            }
            Some((_, k)) => {
                s.push('[');
                s.push_str(k);
                s.push(']');
            }
            None => s.push_str(e),
        }
    }
    s
}

pub fn conflict_error(t: Target, conflicts: &[Conflict]) -> ApiError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{}\"", c.manager), "field": render_path(&c.path)}))
        .collect();
    let listed: Vec<String> = conflicts
        .iter()
        .map(|c| format!("conflict with \"{}\": {}", c.manager, render_path(&c.path)))
        .collect();
    let message = if conflicts.len() == 1 {
        format!("Apply failed with 1 conflict: {}", listed[0])
    } else {
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            listed.join("\n")
        )
    };
    let mut details = Map::new();
    details.insert("name".into(), t.name.into());
    details.insert("group".into(), t.group.into());
    details.insert("kind".into(), t.resource.into());
    details.insert("causes".into(), Value::Array(causes));
    ApiError {
        code: 409,
        reason: "Conflict",
        message,
        details: Some(Value::Object(details)),
    }
}
