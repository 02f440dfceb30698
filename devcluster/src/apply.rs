//! Server-side apply: merge the applied configuration into the live object, track what each
//! field manager owns, report conflicts unless forced, and remove fields a manager stopped
//! applying when nobody else owns them.

use crate::fieldset::{Ctx, FieldSet, ListType, Path, get, item_key, remove_at};
use crate::managed::{self, Entry};
use crate::resources::ResourceDef;
use crate::status::{ApiError, Target};
use crate::write::Sub;
use serde_json::{Map, Value, json};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[derive(Debug)]
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
            // A list item's `.` is co-owned existence, never a conflict; its fields are compared.
            if p.last().is_some_and(|l| l == ".") {
                continue;
            }
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
        // The apiserver's last-applied manager: conflicts only over fields a client-side
        // `kubectl apply` set (its last-applied-configuration) do not block the move to
        // server-side apply; the apply takes them over.
        let taken_over = old
            .and_then(|o| o["metadata"]["annotations"][LAST_APPLIED].as_str())
            .and_then(|a| serde_json::from_str::<Value>(a).ok())
            .map(|last| FieldSet::of(&last, ctx))
            .is_some_and(|set| conflicts.iter().all(|c| set.contains(&c.path)));
        if !taken_over {
            return Err(conflicts);
        }
        for e in entries.iter_mut().filter(|e| !mine(e)) {
            for c in &conflicts {
                e.fields.remove(&c.path);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    fn cm() -> ResourceDef {
        (*Registry::with_builtins()
            .get("", "v1", "configmaps")
            .unwrap())
        .clone()
    }

    fn deploy() -> ResourceDef {
        (*Registry::with_builtins()
            .get("apps", "v1", "deployments")
            .unwrap())
        .clone()
    }

    fn managers(v: &Value) -> Vec<String> {
        v["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn conflicts_force_and_co_ownership() {
        let def = cm();
        let a = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "1", "mine": "a"}});
        let v1 =
            apply(&def, None, &a, "alice", false, Sub::Main).unwrap_or_else(|_| panic!("create"));
        // Bob sets a different value of alice's field: conflict, naming the field and manager.
        let b = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "2"}});
        let err = apply(&def, Some(&v1), &b, "bob", false, Sub::Main).expect_err("conflict");
        assert_eq!(
            (err[0].manager.as_str(), render_path(&err[0].path).as_str()),
            ("alice", ".data.k")
        );
        let e = conflict_error(
            Target {
                group: "",
                resource: "configmaps",
                name: "x",
            },
            &err,
        );
        assert_eq!((e.code, e.reason), (409, "Conflict"));
        assert_eq!(
            e.details.unwrap()["causes"][0]["reason"],
            "FieldManagerConflict"
        );
        // The same value is shared ownership, not a conflict.
        let same = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "1"}});
        let shared = apply(&def, Some(&v1), &same, "bob", false, Sub::Main)
            .unwrap_or_else(|_| panic!("co-own"));
        assert_eq!(managers(&shared), vec!["alice", "bob"]);
        // Forced: bob takes the field; alice keeps the rest.
        let v2 =
            apply(&def, Some(&v1), &b, "bob", true, Sub::Main).unwrap_or_else(|_| panic!("force"));
        assert_eq!(v2["data"], json!({"k": "2", "mine": "a"}));
        let alice = &v2["metadata"]["managedFields"][0];
        assert_eq!(alice["fieldsV1"], json!({"f:data": {"f:mine": {}}}));
        // Alice stops applying `mine`: removed, because nobody else owns it; `k` is bob's and stays.
        let a2 =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}});
        let v3 = apply(&def, Some(&v2), &a2, "alice", false, Sub::Main)
            .unwrap_or_else(|_| panic!("shrink"));
        assert_eq!(v3["data"], json!({"k": "2"}));
    }

    #[test]
    fn containers_merge_by_name_and_removed_items_go() {
        let def = deploy();
        let spec = |containers: Value| json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": containers}}}});
        let v1 = apply(
            &def,
            None,
            &spec(json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}])),
            "op",
            false,
            Sub::Main,
        )
        .unwrap_or_else(|_| panic!());
        // Another manager adds an env var to container a (co-owned list item).
        let v2 = apply(
            &def,
            Some(&v1),
            &spec(json!([{"name": "a", "env": [{"name": "X", "value": "1"}]}])),
            "other",
            false,
            Sub::Main,
        )
        .unwrap_or_else(|_| panic!());
        let c = &v2["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            c[0],
            json!({"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]})
        );
        // op drops container b: it is removed; a stays with the other manager's env.
        let v3 = apply(
            &def,
            Some(&v2),
            &spec(json!([{"name": "a", "image": "a:2"}])),
            "op",
            false,
            Sub::Main,
        )
        .unwrap_or_else(|_| panic!());
        let c = &v3["spec"]["template"]["spec"]["containers"];
        assert_eq!(c.as_array().unwrap().len(), 1);
        assert_eq!(
            c[0],
            json!({"name": "a", "image": "a:2", "env": [{"name": "X", "value": "1"}]})
        );
    }

    #[test]
    fn status_apply_touches_only_status() {
        let mut def = cm();
        def.status = true;
        let old = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "spec": {"a": 1}});
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "spec": {"a": 2}, "status": {"ok": true}});
        let v =
            apply(&def, Some(&old), &body, "ctl", false, Sub::Status).unwrap_or_else(|_| panic!());
        assert_eq!(v["spec"]["a"], 1);
        assert_eq!(v["status"]["ok"], true);
        assert_eq!(v["metadata"]["managedFields"][0]["subresource"], "status");
    }

    #[test]
    fn crd_list_types_come_from_the_schema() {
        let mut def = cm();
        def.builtin = false;
        def.schema = Some(std::sync::Arc::new(
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "members": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"], "items": {"type": "object"}},
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "order": {"type": "array", "items": {"type": "string"}}}}}}),
        ));
        let body = |members: Value, tags: Value, order: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "t"}, "spec": {"members": members, "tags": tags, "order": order}});
        let v1 = apply(
            &def,
            None,
            &body(json!([{"name": "a"}]), json!(["x"]), json!(["1", "2"])),
            "ops",
            false,
            Sub::Main,
        )
        .unwrap();
        let v2 = apply(
            &def,
            Some(&v1),
            &body(json!([{"name": "b"}]), json!(["y"]), json!(["3"])),
            "ctl",
            true,
            Sub::Main,
        )
        .unwrap();
        assert_eq!(
            v2["spec"]["members"],
            json!([{"name": "a"}, {"name": "b"}]),
            "map lists merge by key"
        );
        assert_eq!(v2["spec"]["tags"], json!(["x", "y"]), "sets merge");
        assert_eq!(
            v2["spec"]["order"],
            json!(["3"]),
            "atomic lists are replaced (forced)"
        );
    }
}
