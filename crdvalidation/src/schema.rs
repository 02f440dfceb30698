//! The structural-schema steps, in the order the apiextensions server runs them: defaulting,
//! pruning of unknown fields (the caller rejects or warns per `fieldValidation`), then
//! validation of types, required fields, enums, patterns, bounds, sizes and the uniqueness of
//! `x-kubernetes-list-type: map`/`set` lists (422 causes).

use crate::Cause;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn preserves(s: &Value) -> bool {
    s["x-kubernetes-preserve-unknown-fields"] == true
}

/// Fills `default`s of absent properties; drops nulls of non-nullable fields first, as the
/// server does before defaulting.
pub fn default(v: &mut Value, s: &Value, root: bool) {
    match v {
        Value::Object(m) => {
            if let Some(props) = s["properties"].as_object() {
                m.retain(|k, x| {
                    !(x.is_null() && props.get(k).is_some_and(|p| p["nullable"] != true))
                });
                for (k, p) in props {
                    if root && k == "metadata" {
                        continue;
                    }
                    if !m.contains_key(k)
                        && let Some(d) = p.get("default")
                    {
                        m.insert(k.clone(), d.clone());
                    }
                    if let Some(child) = m.get_mut(k) {
                        default(child, p, false);
                    }
                }
            } else if let Some(ap) = s.get("additionalProperties").filter(|a| a.is_object()) {
                for child in m.values_mut() {
                    default(child, ap, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for i in items {
                    default(i, is, false);
                }
            }
        }
        _ => {}
    }
}

pub fn prune(v: &mut Value, s: &Value, path: &str, root: bool, unknown: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            let embedded = s["x-kubernetes-embedded-resource"] == true;
            if let Some(props) = s["properties"].as_object() {
                let keep_all = preserves(s);
                let mut drop = Vec::new();
                for k in m.keys() {
                    let meta_field = (root || embedded)
                        && matches!(k.as_str(), "apiVersion" | "kind" | "metadata");
                    if !props.contains_key(k) && !keep_all && !meta_field {
                        drop.push(k.clone());
                    }
                }
                for k in drop {
                    m.remove(&k);
                    unknown.push(join(path, &k));
                }
                for (k, child) in m.iter_mut() {
                    if let Some(p) = props.get(k)
                        && !(root && k == "metadata")
                    {
                        prune(child, p, &join(path, k), false, unknown);
                    }
                }
            } else if let Some(ap) = s.get("additionalProperties").filter(|a| a.is_object()) {
                for (k, child) in m.iter_mut() {
                    prune(child, ap, &join(path, k), false, unknown);
                }
            } else if !preserves(s)
                && s.get("additionalProperties").is_none()
                && s["type"] == "object"
                && !embedded
            {
                // An object with no declared fields keeps nothing, as a structural schema says.
                for k in m.keys().cloned().collect::<Vec<_>>() {
                    if !(root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata")) {
                        m.remove(&k);
                        unknown.push(join(path, &k));
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for (i, x) in items.iter_mut().enumerate() {
                    prune(x, is, &format!("{path}[{i}]"), false, unknown);
                }
            }
        }
        _ => {}
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A schema's pattern, compiled once: compiling a Unicode class such as `[^.\s]` costs far more
/// than matching it, and every write checks the same few patterns. A pattern that does not
/// compile is not enforced (the API server would have refused the CRD).
fn pattern(p: &str) -> Option<Arc<regex::Regex>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Arc<regex::Regex>>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    cache
        .entry(p.to_string())
        .or_insert_with(|| regex::Regex::new(p).ok().map(Arc::new))
        .clone()
}

/// How much of a value a message repeats: a 40 KB string is named, not echoed.
const SHOWN_CHARS: usize = 80;

/// A value as a message quotes it, cut to [`SHOWN_CHARS`] characters.
pub fn show(v: &Value) -> String {
    let full = match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if full.chars().count() <= SHOWN_CHARS {
        return full;
    }
    let cut: String = full.chars().take(SHOWN_CHARS).collect();
    format!("{cut}…")
}

/// Items that repeat a key of a `map` list (or a whole item of a `set` list), as the API's
/// `ValidateListSetsAndMaps` reports them: at the later item, `Duplicate value`.
fn duplicates(items: &[Value], s: &Value, path: &str, causes: &mut Vec<Cause>) {
    let keys: Vec<&str> = s["x-kubernetes-list-map-keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let identity = |item: &Value| -> Option<Value> {
        match s["x-kubernetes-list-type"].as_str() {
            Some("set") => Some(item.clone()),
            Some("map") if !keys.is_empty() => {
                let mut id = serde_json::Map::new();
                for k in &keys {
                    // An item without a key field is a schema error reported elsewhere.
                    id.insert((*k).to_string(), item.get(*k)?.clone());
                }
                Some(Value::Object(id))
            }
            _ => None,
        }
    };
    let mut seen: Vec<Value> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(id) = identity(item) else { continue };
        if seen.contains(&id) {
            causes.push(Cause::new(
                "FieldValueDuplicate",
                format!("{path}[{i}]"),
                format!("Duplicate value: {}", show(&id)),
            ));
        } else {
            seen.push(id);
        }
    }
}

pub fn validate(v: &Value, s: &Value, path: &str, root: bool, causes: &mut Vec<Cause>) {
    let here = if path.is_empty() {
        "<root>".to_string()
    } else {
        path.to_string()
    };
    if v.is_null() {
        if s["nullable"] != true && !root {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                &here,
                format!(
                    "Invalid value: \"null\": {here} in body must be of type {}",
                    s["type"].as_str().unwrap_or("object")
                ),
            ));
        }
        return;
    }
    let actual = type_name(v);
    if s["x-kubernetes-int-or-string"] == true {
        if !matches!(actual, "integer" | "string") {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                &here,
                format!(
                    "Invalid value: {}: {here} in body must be of type integer-or-string",
                    show(v)
                ),
            ));
            return;
        }
    } else if let Some(want) = s["type"].as_str() {
        let ok = want == actual || (want == "number" && actual == "integer");
        if !ok {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                &here,
                format!(
                    "Invalid value: {}: {here} in body must be of type {want}: \"{actual}\"",
                    show(v)
                ),
            ));
            return;
        }
    }
    if let Some(options) = s["enum"].as_array()
        && !options.contains(v)
    {
        let listed: Vec<String> = options.iter().map(show).collect();
        causes.push(Cause::new(
            "FieldValueNotSupported",
            &here,
            format!(
                "Unsupported value: {}: supported values: {}",
                show(v),
                listed.join(", ")
            ),
        ));
    }
    match v {
        Value::String(x) => {
            if let Some(p) = s["pattern"].as_str()
                && pattern(p).is_some_and(|re| !re.is_match(x))
            {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    &here,
                    format!(
                        "Invalid value: {}: {here} in body should match '{p}'",
                        show(v)
                    ),
                ));
            }
            let n = x.chars().count() as u64;
            if let Some(max) = s["maxLength"].as_u64().filter(|m| n > *m) {
                causes.push(Cause::new(
                    "FieldValueTooLong",
                    &here,
                    format!(
                        "Too long: {}: may not be more than {max} characters (found {n})",
                        show(v)
                    ),
                ));
            }
            if let Some(min) = s["minLength"].as_u64().filter(|m| n < *m) {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    &here,
                    format!(
                        "Invalid value: {}: {here} in body should be at least {min} chars long",
                        show(v)
                    ),
                ));
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or_default();
            if let Some(min) = s["minimum"].as_f64() {
                let excl = s["exclusiveMinimum"] == true;
                if x < min || (excl && x == min) {
                    causes.push(Cause::new("FieldValueInvalid", &here, format!("Invalid value: {}: {here} in body should be greater than or equal to {min}", show(v))));
                }
            }
            if let Some(max) = s["maximum"].as_f64() {
                let excl = s["exclusiveMaximum"] == true;
                if x > max || (excl && x == max) {
                    causes.push(Cause::new("FieldValueInvalid", &here, format!("Invalid value: {}: {here} in body should be less than or equal to {max}", show(v))));
                }
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if let Some(max) = s["maxItems"].as_u64().filter(|m| n > *m) {
                causes.push(Cause::new(
                    "FieldValueTooMany",
                    &here,
                    format!("Too many: {n}: must have at most {max} items"),
                ));
            }
            if let Some(min) = s["minItems"].as_u64().filter(|m| n < *m) {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    &here,
                    format!("Invalid value: {n}: {here} in body should have at least {min} items"),
                ));
            }
            if let Some(is) = s.get("items") {
                for (i, x) in items.iter().enumerate() {
                    validate(x, is, &format!("{path}[{i}]"), false, causes);
                }
            }
            duplicates(items, s, path, causes);
        }
        Value::Object(m) => {
            for r in s["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !m.contains_key(r) {
                    causes.push(Cause::new(
                        "FieldValueRequired",
                        join(path, r),
                        "Required value",
                    ));
                }
            }
            if let Some(props) = s["properties"].as_object() {
                for (k, x) in m {
                    if root && k == "metadata" {
                        continue;
                    }
                    if let Some(p) = props.get(k) {
                        validate(x, p, &join(path, k), false, causes);
                    }
                }
            } else if let Some(ap) = s.get("additionalProperties").filter(|a| a.is_object()) {
                for (k, x) in m {
                    validate(x, ap, &join(path, k), false, causes);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["plan"], "properties": {
                "plan": {"type": "string", "enum": ["gold", "silver"]},
                "replicas": {"type": "integer", "minimum": 1, "default": 1},
                "domain": {"type": "string", "pattern": "^[a-z.]+$"},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }})
    }

    #[test]
    fn defaults_prunes_and_validates() {
        let s = schema();
        let mut obj = json!({"apiVersion": "x/v1", "kind": "T", "metadata": {"name": "a"},
            "spec": {"plan": "gold", "extra": 1, "free": {"anything": [1]}, "labels": {"a": "b"}}, "junk": true});
        default(&mut obj, &s, true);
        let mut unknown = vec![];
        prune(&mut obj, &s, "", true, &mut unknown);
        assert_eq!(unknown, vec!["junk".to_string(), "spec.extra".to_string()]);
        assert_eq!(obj["spec"]["replicas"], 1);
        assert_eq!(obj["spec"]["free"]["anything"], json!([1]));
        let mut causes = vec![];
        validate(&obj, &s, "", true, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
    }

    #[test]
    fn map_and_set_lists_refuse_repeated_keys() {
        let s = json!({"type": "object", "properties": {
            "members": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["domain"],
                "items": {"type": "object", "properties": {"domain": {"type": "string"}, "name": {"type": "string"}}}},
            "nets": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "free": {"type": "array", "items": {"type": "string"}}}});
        let obj = json!({"members": [{"domain": "a.fr", "name": "x"}, {"domain": "b.fr"}, {"domain": "a.fr", "name": "y"}],
            "nets": ["10.0.0.0/8", "10.0.0.0/8"], "free": ["a", "a"]});
        let mut causes = vec![];
        validate(&obj, &s, "", true, &mut causes);
        let got: Vec<String> = causes.iter().map(Cause::render).collect();
        assert_eq!(
            got,
            [
                "members[2]: Duplicate value: {\"domain\":\"a.fr\"}",
                "nets[1]: Duplicate value: \"10.0.0.0/8\""
            ]
        );
    }

    #[test]
    fn long_values_are_cut() {
        let shown = show(&json!("x".repeat(10_000)));
        assert_eq!(shown.chars().count(), SHOWN_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(show(&json!("short")), "\"short\"");
    }

    #[test]
    fn causes_name_the_field() {
        let s = schema();
        let obj = json!({"spec": {"plan": "bad", "replicas": 0, "domain": "A!", "tags": ["a", "b", "c"], "labels": {"x": 1}}});
        let mut causes = vec![];
        validate(&obj, &s, "", true, &mut causes);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "spec.domain",
                "spec.labels.x",
                "spec.plan",
                "spec.replicas",
                "spec.tags"
            ]
        );
        assert_eq!(
            causes[2].message,
            "Unsupported value: \"bad\": supported values: \"gold\", \"silver\""
        );
        let mut causes = vec![];
        validate(&json!({"spec": {}}), &s, "", true, &mut causes);
        assert_eq!(
            (causes[0].field.as_str(), causes[0].reason),
            ("spec.plan", "FieldValueRequired")
        );
    }
}
