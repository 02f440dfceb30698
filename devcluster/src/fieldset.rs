//! Field sets in the `fieldsV1` format of `managedFields` (`{"f:spec":{"f:plan":{}}}`, list items
//! as `k:{"name":"a"}` with `.` for the item itself, set members as `v:"x"`), and how list fields
//! are merged: by key, as a set, or replaced whole.

use crate::resources::ResourceDef;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A field path, one element per level (`f:spec`, `k:{"name":"a"}`, `.`).
pub type Path = Vec<String>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSet(pub BTreeMap<String, FieldSet>);

#[derive(Debug, Clone, PartialEq)]
pub enum ListType {
    Atomic,
    Set,
    Map(Vec<String>),
}

/// Where we are in the object: the field name that led here and the schema node, if any.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub def: &'a ResourceDef,
    pub schema: Option<&'a Value>,
    pub field: &'a str,
    pub in_metadata: bool,
}

impl<'a> Ctx<'a> {
    pub fn root(def: &'a ResourceDef) -> Self {
        Self {
            def,
            schema: def.schema.as_deref(),
            field: "",
            in_metadata: false,
        }
    }

    pub fn child(&self, field: &'a str) -> Ctx<'a> {
        let schema = self.schema.and_then(|s| {
            s["properties"]
                .get(field)
                .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
        });
        Ctx {
            def: self.def,
            schema,
            field,
            in_metadata: self.in_metadata || (self.field.is_empty() && field == "metadata"),
        }
    }

    pub fn item(&self) -> Ctx<'a> {
        Ctx {
            def: self.def,
            schema: self.schema.and_then(|s| s.get("items")),
            field: self.field,
            in_metadata: self.in_metadata,
        }
    }

    pub fn list_type(&self, items: &[Value]) -> ListType {
        if self.in_metadata {
            return match self.field {
                "finalizers" => ListType::Set,
                "ownerReferences" => ListType::Map(vec!["uid".into()]),
                _ => ListType::Atomic,
            };
        }
        if let Some(s) = self.schema {
            return match s["x-kubernetes-list-type"].as_str() {
                Some("set") => ListType::Set,
                Some("map") => ListType::Map(
                    s["x-kubernetes-list-map-keys"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|k| k.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                _ => ListType::Atomic,
            };
        }
        if self.def.builtin
            && let Some(k) = crate::patch::builtin_list_key(self.field, items)
        {
            // Server-side apply keys ports by number *and* protocol (`+listMapKey=protocol`),
            // unlike the strategic merge patch: 53/UDP and 53/TCP are two items, not one.
            if self.field == "ports" {
                return ListType::Map(vec![k.into(), "protocol".into()]);
            }
            return ListType::Map(vec![k.into()]);
        }
        ListType::Atomic
    }

    /// Maps whose content is replaced whole (`x-kubernetes-map-type: atomic`).
    pub fn atomic_map(&self) -> bool {
        self.schema
            .is_some_and(|s| s["x-kubernetes-map-type"] == "atomic")
    }
}

pub fn item_key(keys: &[String], item: &Value) -> String {
    let mut m = Map::new();
    for k in keys {
        // A port's protocol defaults to TCP: an applied item without it is the stored TCP one.
        let absent = if k == "protocol" {
            Value::from("TCP")
        } else {
            Value::Null
        };
        m.insert(k.clone(), item.get(k).cloned().unwrap_or(absent));
    }
    format!("k:{}", Value::Object(m))
}

impl FieldSet {
    /// The fields an object (as applied) sets.
    pub fn of(obj: &Value, ctx: Ctx) -> Self {
        let mut out = FieldSet::default();
        let Some(m) = obj.as_object() else { return out };
        for (k, v) in m {
            if ctx.field.is_empty() && (k == "apiVersion" || k == "kind") {
                continue;
            }
            if ctx.field.is_empty() && k == "metadata" {
                let mut meta = FieldSet::default();
                for f in ["labels", "annotations", "finalizers", "ownerReferences"] {
                    if let Some(x) = v.get(f) {
                        meta.0.insert(
                            format!("f:{f}"),
                            Self::value(x, ctx.child("metadata").child(f)),
                        );
                    }
                }
                if !meta.0.is_empty() {
                    out.0.insert("f:metadata".into(), meta);
                }
                continue;
            }
            out.0.insert(format!("f:{k}"), Self::value(v, ctx.child(k)));
        }
        out
    }

    fn value(v: &Value, ctx: Ctx) -> Self {
        match v {
            Value::Object(_) if !ctx.atomic_map() => {
                let mut out = FieldSet::default();
                for (k, x) in v.as_object().expect("object") {
                    out.0.insert(format!("f:{k}"), Self::value(x, ctx.child(k)));
                }
                out
            }
            Value::Array(items) => match ctx.list_type(items) {
                ListType::Atomic => FieldSet::default(),
                ListType::Set => FieldSet(
                    items
                        .iter()
                        .map(|i| (format!("v:{i}"), FieldSet::default()))
                        .collect(),
                ),
                ListType::Map(keys) => {
                    let mut out = FieldSet::default();
                    for i in items {
                        let mut node = Self::value(i, ctx.item());
                        node.0.insert(".".into(), FieldSet::default());
                        out.0.insert(item_key(&keys, i), node);
                    }
                    out
                }
            },
            _ => FieldSet::default(),
        }
    }

    pub fn from_json(v: &Value) -> Self {
        FieldSet(
            v.as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, x)| (k.clone(), Self::from_json(x)))
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        )
    }

    /// Every owned path: leaves, and `.` entries standing for a list item.
    pub fn leaves(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for (k, v) in &self.0 {
            prefix.push(k.clone());
            if v.0.is_empty() {
                out.push(prefix.clone());
            } else {
                v.collect(prefix, out);
            }
            prefix.pop();
        }
    }

    pub fn contains(&self, path: &[String]) -> bool {
        let mut node = self;
        for p in path {
            match node.0.get(p) {
                Some(n) => node = n,
                None => return false,
            }
        }
        node.0.is_empty()
    }

    pub fn insert(&mut self, path: &[String]) {
        let mut node = self;
        for p in path {
            node = node.0.entry(p.clone()).or_default();
        }
    }

    /// Removes a path and prunes parents left empty (an empty node would mean "owns it all").
    pub fn remove(&mut self, path: &[String]) {
        fn go(node: &mut FieldSet, path: &[String]) -> bool {
            let Some((first, rest)) = path.split_first() else {
                return false;
            };
            if rest.is_empty() {
                node.0.remove(first);
            } else if let Some(child) = node.0.get_mut(first)
                && go(child, rest)
            {
                node.0.remove(first);
            }
            node.0.is_empty()
        }
        go(self, path);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The value at a field path.
pub fn get<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(v);
    };
    let next = step(v, first)?;
    get(next, rest)
}

fn step<'a>(v: &'a Value, elem: &str) -> Option<&'a Value> {
    if elem == "." {
        return Some(v);
    }
    if let Some(f) = elem.strip_prefix("f:") {
        return v.get(f);
    }
    let items = v.as_array()?;
    if let Some(k) = elem.strip_prefix("k:") {
        let want: Map<String, Value> = serde_json::from_str(k).ok()?;
        return items.iter().find(|i| {
            want.iter()
                .all(|(wk, wv)| i.get(wk).unwrap_or(&Value::Null) == wv)
        });
    }
    if let Some(x) = elem.strip_prefix("v:") {
        let want: Value = serde_json::from_str(x).ok()?;
        return items.iter().find(|i| **i == want);
    }
    items.get(elem.strip_prefix("i:")?.parse::<usize>().ok()?)
}

/// Removes the field at a path from an object (a `.` path removes the list item itself).
pub fn remove_at(v: &mut Value, path: &[String]) {
    let path: Vec<String> = if path.last().map(String::as_str) == Some(".") {
        path[..path.len() - 1].to_vec()
    } else {
        path.to_vec()
    };
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut node = v;
    for p in parent {
        let next = match p.strip_prefix("f:") {
            Some(f) => node.get_mut(f),
            None => {
                let target = step(node, p).cloned();
                node.as_array_mut()
                    .and_then(|a| a.iter_mut().find(|i| Some(&**i) == target.as_ref()))
            }
        };
        match next {
            Some(n) => node = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = node.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(target) = step(node, last).cloned()
        && let Some(a) = node.as_array_mut()
    {
        a.retain(|i| *i != target);
    }
}
