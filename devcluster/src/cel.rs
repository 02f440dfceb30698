//! `x-kubernetes-validations`: CEL rules of a CRD schema, evaluated with `cel-interpreter`
//! against `self` (the value at the rule's node) and, for transition rules, `oldSelf` (the
//! stored value at the same path). A rule that evaluates to false, or fails to compile or
//! evaluate, is a 422 cause at the rule's field, as the apiserver reports it.
//!
//! Not covered: `messageExpression`, the Kubernetes CEL libraries (quantity, url, ip, format),
//! `optionalOldSelf`, and transition rules on list items (their old value is not correlated).

use crate::status::Cause;
use cel_interpreter::objects::{Key, Map};
use cel_interpreter::{Context, Program, Value as Cel};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Compiled rules, by source text (a CRD's rules are evaluated on every write).
fn compiled(rule: &str) -> Result<Arc<Program>, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Program>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(rule) {
        return Ok(p.clone());
    }
    let p = Arc::new(Program::compile(rule).map_err(|e| e.to_string())?);
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(rule.to_string(), p.clone());
    Ok(p)
}

/// JSON → CEL. Integers become `int` (CEL literals are ints; JSON has no unsigned type).
fn to_cel(v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cel::Int(i),
            None => Cel::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(a) => Cel::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(m) => {
            let map: HashMap<Key, Cel> = m
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            Cel::Map(Map { map: Arc::new(map) })
        }
    }
}

fn type_word(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
    }
}

pub fn check(schema: &Value, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    walk(schema, obj, old, "", true, &mut causes);
    causes
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn walk(
    s: &Value,
    v: &Value,
    old: Option<&Value>,
    path: &str,
    root: bool,
    causes: &mut Vec<Cause>,
) {
    for r in s["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let Some(rule) = r["rule"].as_str() else {
            continue;
        };
        let transition = rule.contains("oldSelf");
        if transition && old.is_none() {
            continue;
        }
        let field = match r["fieldPath"].as_str() {
            Some(fp) => format!("{path}{fp}").trim_start_matches('.').to_string(),
            None => path.to_string(),
        };
        let field = if field.is_empty() {
            "<nil>".to_string()
        } else {
            field
        };
        let reason = match r["reason"].as_str() {
            Some("FieldValueForbidden") => "FieldValueForbidden",
            Some("FieldValueRequired") => "FieldValueRequired",
            Some("FieldValueDuplicate") => "FieldValueDuplicate",
            _ => "FieldValueInvalid",
        };
        let outcome = compiled(rule).and_then(|p| {
            let mut ctx = Context::default();
            ctx.add_variable_from_value("self", to_cel(v));
            if let Some(o) = old {
                ctx.add_variable_from_value("oldSelf", to_cel(o));
            }
            p.execute(&ctx).map_err(|e| e.to_string())
        });
        let failure = match outcome {
            Ok(Cel::Bool(true)) => None,
            Ok(Cel::Bool(false)) => Some(
                r["message"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| format!("failed rule: {rule}")),
            ),
            Ok(other) => Some(format!(
                "rule {rule:?} did not evaluate to a bool: {other:?}"
            )),
            Err(e) => Some(format!("rule {rule:?} could not be evaluated: {e}")),
        };
        if let Some(msg) = failure {
            let (reason, message) = match reason {
                "FieldValueInvalid" => (
                    reason,
                    format!("Invalid value: \"{}\": {msg}", type_word(v)),
                ),
                "FieldValueForbidden" => (reason, format!("Forbidden: {msg}")),
                "FieldValueRequired" => (reason, format!("Required value: {msg}")),
                _ => (reason, format!("Duplicate value: {msg}")),
            };
            causes.push(Cause::new(reason, field, message));
        }
    }
    match v {
        Value::Object(m) => {
            let props = s["properties"].as_object();
            let extra = s.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in m {
                if root && k == "metadata" {
                    continue;
                }
                let cs = props.and_then(|p| p.get(k)).or(extra);
                if let Some(cs) = cs {
                    walk(
                        cs,
                        child,
                        old.and_then(|o| o.get(k)),
                        &join(path, k),
                        false,
                        causes,
                    );
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for (i, x) in items.iter().enumerate() {
                    walk(is, x, None, &format!("{path}[{i}]"), false, causes);
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
        json!({"type": "object", "properties": {"spec": {"type": "object",
        "x-kubernetes-validations": [
            {"rule": "self.minReplicas <= self.replicas", "message": "replicas must be at least minReplicas"},
            {"rule": "self.storageGi >= oldSelf.storageGi", "message": "storage cannot shrink", "fieldPath": ".storageGi"},
            {"rule": "!has(self.domain) || self.domain.matches('^[a-z.]+$')"}
        ],
        "properties": {
            "replicas": {"type": "integer"}, "minReplicas": {"type": "integer"}, "storageGi": {"type": "integer"},
            "domain": {"type": "string"},
            "members": {"type": "array", "items": {"type": "object", "x-kubernetes-validations": [{"rule": "size(self.name) > 0", "message": "name required"}]}}
        }}}})
    }

    #[test]
    fn rules_and_transition_rules() {
        let s = schema();
        let ok = json!({"spec": {"replicas": 2, "minReplicas": 1, "storageGi": 500, "members": [{"name": "a"}]}});
        assert!(check(&s, &ok, None).is_empty());
        let bad = json!({"spec": {"replicas": 1, "minReplicas": 2, "storageGi": 250, "domain": "Bad!", "members": [{"name": ""}]}});
        let causes = check(&s, &bad, None);
        let got: Vec<(&str, &str)> = causes
            .iter()
            .map(|c| (c.field.as_str(), c.message.as_str()))
            .collect();
        assert_eq!(
            got[0],
            (
                "spec",
                "Invalid value: \"object\": replicas must be at least minReplicas"
            )
        );
        assert_eq!(
            got[1].1,
            "Invalid value: \"object\": failed rule: !has(self.domain) || self.domain.matches('^[a-z.]+$')"
        );
        assert_eq!(
            got[2],
            (
                "spec.members[0]",
                "Invalid value: \"object\": name required"
            )
        );
        assert_eq!(
            got.len(),
            3,
            "the transition rule is skipped on create: {got:?}"
        );
        // On update, the transition rule compares with the stored value.
        let causes = check(&s, &ok, Some(&json!({"spec": {"storageGi": 1024}})));
        assert_eq!(causes.len(), 1);
        assert_eq!(
            (causes[0].field.as_str(), causes[0].message.as_str()),
            (
                "spec.storageGi",
                "Invalid value: \"object\": storage cannot shrink"
            )
        );
    }
}
