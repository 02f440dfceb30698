//! `x-kubernetes-validations`: CEL rules of a CRD schema, evaluated with `cel-interpreter`
//! against `self` (the value at the rule's node) and, for transition rules, `oldSelf` (the
//! stored value at the same path). A rule that evaluates to false, or fails to compile or
//! evaluate, is a 422 cause at the rule's field, as the apiserver reports it.
//!
//! Of the Kubernetes CEL libraries, the string functions `lowerAscii`, `upperAscii`, `trim`,
//! `replace`, `indexOf` and `lastIndexOf` are provided. Not covered: `messageExpression`,
//! the other libraries (quantity, url, ip, format, lists), `optionalOldSelf`, and transition
//! rules on list items (their old value is not correlated). A rule that does not compile or
//! evaluate here (for instance because it calls one of those) is not enforced: the write goes
//! through with a `Warning` saying so, since a real server would have accepted the CRD.

use crate::Cause;
use cel_interpreter::extractors::This;
use cel_interpreter::objects::{Key, Map};
use cel_interpreter::{Context, Program, Value as Cel};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Compiled rules, by source text (a CRD's rules are evaluated on every write).
pub fn compile(rule: &str) -> Result<Arc<Program>, String> {
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

/// The value a failed rule is reported with: the API names the type of the value at the
/// rule's field (`"object"`); a scalar is named itself (shortened), which says more.
fn shown_at(v: &Value, field_path: Option<&str>) -> String {
    let mut at = v;
    for key in field_path
        .unwrap_or_default()
        .split('.')
        .filter(|k| !k.is_empty())
    {
        match at.get(key) {
            Some(x) => at = x,
            None => break,
        }
    }
    match at {
        Value::Object(_) | Value::Array(_) | Value::Null => format!("\"{}\"", type_word(at)),
        scalar => crate::schema::show(scalar),
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

/// Causes of the rules that failed, and warnings about rules that could not be evaluated.
pub fn check(schema: &Value, obj: &Value, old: Option<&Value>) -> (Vec<Cause>, Vec<String>) {
    let mut out = Outcome::default();
    walk(schema, obj, old, "", true, &mut out);
    (out.causes, out.warnings)
}

#[derive(Default)]
struct Outcome {
    causes: Vec<Cause>,
    warnings: Vec<String>,
}

/// The Kubernetes string library functions that `cel-interpreter` lacks.
fn kubernetes_strings(ctx: &mut Context) {
    ctx.add_function("lowerAscii", |This(s): This<Arc<String>>| {
        s.to_ascii_lowercase()
    });
    ctx.add_function("upperAscii", |This(s): This<Arc<String>>| {
        s.to_ascii_uppercase()
    });
    ctx.add_function("trim", |This(s): This<Arc<String>>| s.trim().to_string());
    ctx.add_function(
        "replace",
        |This(s): This<Arc<String>>, from: Arc<String>, to: Arc<String>| {
            s.replace(from.as_str(), to.as_str())
        },
    );
    ctx.add_function("indexOf", |This(s): This<Arc<String>>, sub: Arc<String>| {
        s.find(sub.as_str())
            .map_or(-1, |i| s[..i].chars().count() as i64)
    });
    ctx.add_function(
        "lastIndexOf",
        |This(s): This<Arc<String>>, sub: Arc<String>| {
            s.rfind(sub.as_str())
                .map_or(-1, |i| s[..i].chars().count() as i64)
        },
    );
}

/// Calls `f` with the source of every rule of the schema, at any depth.
pub fn each_rule(s: &Value, f: &mut dyn FnMut(&str)) {
    for r in s["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(rule) = r["rule"].as_str() {
            f(rule);
        }
    }
    for child in s["properties"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
    {
        each_rule(child, f);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = s.get(key).filter(|c| c.is_object()) {
            each_rule(child, f);
        }
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn walk(s: &Value, v: &Value, old: Option<&Value>, path: &str, root: bool, out: &mut Outcome) {
    // `self` converted once for all the node's rules (the root's is the whole object).
    let mut self_cel: Option<Cel> = None;
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
        let outcome = compile(rule).and_then(|p| {
            let mut ctx = Context::default();
            kubernetes_strings(&mut ctx);
            ctx.add_variable_from_value("self", self_cel.get_or_insert_with(|| to_cel(v)).clone());
            if let Some(o) = old {
                ctx.add_variable_from_value("oldSelf", to_cel(o));
            }
            // The interpreter has unfinished paths that panic (`todo!`); a rule it cannot
            // evaluate is reported as such, never a crash of the server or of the command.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.execute(&ctx)))
                .map_err(|_| "the CEL interpreter failed on this value".to_string())?
                .map_err(|e| e.to_string())
        });
        let failure = match outcome {
            Ok(Cel::Bool(true)) => None,
            Ok(Cel::Bool(false)) => Some(
                r["message"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| format!("failed rule: {rule}")),
            ),
            Ok(other) => {
                out.warnings.push(format!(
                    "CEL rule {rule:?} at {field} gave {other:?}, not a bool; not enforced"
                ));
                None
            }
            Err(e) => {
                out.warnings.push(format!(
                    "CEL rule {rule:?} at {field} could not be evaluated ({e}); not enforced"
                ));
                None
            }
        };
        if let Some(msg) = failure {
            let (reason, message) = match reason {
                "FieldValueInvalid" => (
                    reason,
                    format!(
                        "Invalid value: {}: {msg}",
                        shown_at(v, r["fieldPath"].as_str())
                    ),
                ),
                "FieldValueForbidden" => (reason, format!("Forbidden: {msg}")),
                "FieldValueRequired" => (reason, format!("Required value: {msg}")),
                _ => (reason, format!("Duplicate value: {msg}")),
            };
            out.causes.push(Cause::new(reason, field, message));
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
                        out,
                    );
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for (i, x) in items.iter().enumerate() {
                    walk(is, x, None, &format!("{path}[{i}]"), false, out);
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
        assert!(check(&s, &ok, None).0.is_empty());
        let bad = json!({"spec": {"replicas": 1, "minReplicas": 2, "storageGi": 250, "domain": "Bad!", "members": [{"name": ""}]}});
        let causes = check(&s, &bad, None).0;
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
        let causes = check(&s, &ok, Some(&json!({"spec": {"storageGi": 1024}}))).0;
        assert_eq!(causes.len(), 1);
        assert_eq!(
            (causes[0].field.as_str(), causes[0].message.as_str()),
            (
                "spec.storageGi",
                "Invalid value: 500: storage cannot shrink"
            )
        );
    }

    #[test]
    fn the_project_rules_evaluate() {
        let s = json!({"type": "object", "x-kubernetes-validations": [
            {"rule": "self.metadata.name.size() <= 54 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')", "message": "bad name"}],
            "properties": {"spec": {"type": "object", "x-kubernetes-validations": [
                {"rule": "!has(self.members) || self.members.all(m, m.domain.lowerAscii() != self.domain.lowerAscii())", "message": "member domain"},
                {"rule": "(has(self.cname) ? 1 : 0) + ((has(self.addresses) && size(self.addresses) > 0) ? 1 : 0) == 1", "message": "one of"},
                {"rule": "quantity(self.size).isGreaterThan(quantity('1Gi'))", "message": "unsupported library"}],
            "properties": {"members": {"type": "array"}, "domain": {"type": "string"}, "cname": {"type": "string"}, "addresses": {"type": "array"}}}}});
        let good = json!({"metadata": {"name": "coteaux"}, "spec": {"domain": "Coteaux.fr", "members": [{"domain": "tresses.fr"}], "cname": "x"}});
        let (causes, warnings) = check(&s, &good, None);
        assert!(causes.is_empty(), "{causes:?}");
        assert_eq!(
            warnings.len(),
            1,
            "the quantity() rule is reported, not enforced: {warnings:?}"
        );
        let bad = json!({"metadata": {"name": "Bad_Name"}, "spec": {"domain": "a.fr", "members": [{"domain": "A.FR"}], "addresses": ["1.2.3.4"], "cname": "x"}});
        let msgs: Vec<String> = check(&s, &bad, None)
            .0
            .into_iter()
            .map(|c| c.message)
            .collect();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
    }
}
