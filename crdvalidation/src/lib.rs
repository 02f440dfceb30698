//! The API server's handling of a custom resource against its CRD's structural schema, in the
//! apiextensions server's order: drop nulls of non-nullable fields, apply `default`s, prune
//! unknown fields, validate (types, required, enums, patterns, bounds, sizes, list-type
//! uniqueness) and evaluate the `x-kubernetes-validations` CEL rules.
//!
//! One implementation for two users: the development cluster runs it on every write of a
//! custom resource, and `mutualis render`/`plan` run it on their input, so the offline commands
//! accept exactly what the API accepts. No Kubernetes client types: JSON values in, causes out.

pub mod cel;
pub mod schema;

use serde_json::Value;

/// One `details.causes` entry of a 422: the field path, a reason as the API names it
/// (`FieldValueInvalid`, `FieldValueRequired`, ...) and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

impl Cause {
    pub fn new(reason: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason,
            field: field.into(),
            message: message.into(),
        }
    }

    /// `spec.plan: Unsupported value: "bad"` — the field path prefixes the message.
    pub fn render(&self) -> String {
        if self.field.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }
}

/// The cause the API server adds when schema errors kept the CEL rules from running.
pub const RULES_NOT_CHECKED: &str = "Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

/// What admission found. The object has been defaulted and pruned in place.
#[derive(Debug, Default)]
pub struct Admission {
    /// Paths of the fields pruned as unknown (`spec.deletionPolcy`). Under strict field
    /// validation (kubectl's default) any one refuses the write.
    pub unknown: Vec<String>,
    /// Schema and CEL violations; any one refuses the write.
    pub causes: Vec<Cause>,
    /// Rules that could not be evaluated and were therefore not enforced.
    pub warnings: Vec<String>,
}

/// Defaults, prunes and validates `obj` (a whole object, `apiVersion` to `status`) against the
/// CRD version's `openAPIV3Schema`; `old` is the stored object on update (transition rules).
pub fn admit(openapi_schema: &Value, obj: &mut Value, old: Option<&Value>) -> Admission {
    let mut causes = Vec::new();
    // The schema leaves `metadata` to ObjectMeta validation, which holds a custom resource's
    // name to a DNS-1123 subdomain.
    if let Some(name) = obj["metadata"]["name"].as_str().filter(|n| !n.is_empty()) {
        causes.extend(name_cause(name));
    }
    schema::default(obj, openapi_schema, true);
    let mut unknown = Vec::new();
    schema::prune(obj, openapi_schema, "", true, &mut unknown);
    schema::validate(obj, openapi_schema, "", true, &mut causes);
    // As the apiextensions server (`hasBlockingErr`): a wrong type, a missing field, a value
    // outside its enum, too long or too many stops the CEL rules, which would otherwise run on
    // values their types do not describe (and cost more than the limits allow).
    let blocked = causes.iter().any(|c| {
        matches!(
            c.reason,
            "FieldValueTypeInvalid"
                | "FieldValueNotSupported"
                | "FieldValueRequired"
                | "FieldValueTooLong"
                | "FieldValueTooMany"
        )
    });
    // The server has a CEL validator (and says it did not run) only when the schema has rules.
    let has_rules = || {
        let mut any = false;
        cel::each_rule(openapi_schema, &mut |_| any = true);
        any
    };
    let warnings = if blocked && has_rules() {
        causes.push(Cause::new("FieldValueInvalid", "<nil>", RULES_NOT_CHECKED));
        Vec::new()
    } else if blocked {
        Vec::new()
    } else {
        let (cel_causes, warnings) = cel::check(openapi_schema, obj, old);
        causes.extend(cel_causes);
        warnings
    };
    Admission {
        unknown,
        causes,
        warnings,
    }
}

/// The API server's message for a name that is not a DNS-1123 subdomain.
pub const DNS1123_SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// A DNS-1123 label: at most 63 lower-case letters, digits and `-`, alphanumeric at both ends.
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain: labels joined by dots, at most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// The cause for a custom resource's `metadata.name` that is not a DNS-1123 subdomain.
pub fn name_cause(name: &str) -> Option<Cause> {
    (!is_dns1123_subdomain(name)).then(|| {
        Cause::new(
            "FieldValueInvalid",
            "metadata.name",
            format!(
                "Invalid value: {}: {DNS1123_SUBDOMAIN}",
                schema::show(&Value::from(name))
            ),
        )
    })
}

/// The fields the schema allows in the object that holds `path` (`spec.members[2].domian` →
/// the member's fields), for a message about an unknown field.
pub fn allowed_beside(openapi_schema: &Value, path: &str) -> Vec<String> {
    let parent = path.rfind('.').map_or("", |i| &path[..i]);
    let mut s = openapi_schema;
    for part in parent.split('.').filter(|p| !p.is_empty()) {
        let (key, indexes) = part.split_once('[').unwrap_or((part, ""));
        s = s["properties"]
            .get(key)
            .unwrap_or_else(|| &s["additionalProperties"]);
        for _ in indexes.split('[').filter(|i| !i.is_empty()) {
            s = &s["items"];
        }
    }
    let mut names: Vec<String> = s["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    if parent.is_empty() {
        names.retain(|n| n != "status");
        names.extend(["apiVersion", "kind", "metadata"].map(String::from));
    }
    names.sort();
    names
}

/// Every CEL rule of a schema that does not compile here, with its error: such a rule would
/// go unenforced, so the owner of a CRD can assert there is none.
pub fn uncompilable_rules(openapi_schema: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    cel::each_rule(openapi_schema, &mut |rule| {
        if let Err(e) = cel::compile(rule) {
            out.push((rule.to_string(), e));
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_dns_subdomains() {
        assert!(is_dns1123_subdomain("gironde-numerique.fr"));
        for bad in ["Gironde", "a_b", "-a", "a..b", ""] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
        assert!(!is_dns1123_subdomain(&"a.".repeat(127)));
        let mut obj = json!({"metadata": {"name": "Bad_Name"}});
        let a = admit(&json!({"type": "object"}), &mut obj, None);
        assert_eq!(a.causes[0].field, "metadata.name");
        assert!(
            a.causes[0]
                .message
                .starts_with("Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain")
        );
    }

    #[test]
    fn allowed_fields_are_those_beside_the_unknown_one() {
        let s = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "members": {"type": "array", "items": {"type": "object", "properties": {"name": {}, "domain": {}}}},
                "tier": {}}},
            "status": {}}});
        assert_eq!(
            allowed_beside(&s, "spec.members[3].domian"),
            ["domain", "name"]
        );
        assert_eq!(allowed_beside(&s, "spec.tierr"), ["members", "tier"]);
        assert_eq!(
            allowed_beside(&s, "specc"),
            ["apiVersion", "kind", "metadata", "spec"]
        );
    }

    #[test]
    fn admission_defaults_then_validates_and_reports_unknown_fields() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object",
            "x-kubernetes-validations": [{"rule": "self.n >= 1", "message": "n must be positive"}],
            "properties": {"n": {"type": "integer", "default": 0}, "on": {"type": "boolean"}}}}});
        let mut obj = json!({"spec": {"on": "true", "typo": 1}});
        let a = admit(&s, &mut obj, None);
        assert_eq!(a.unknown, ["spec.typo"]);
        assert_eq!(obj["spec"]["n"], 0, "defaulted before the rules ran");
        let fields: Vec<&str> = a.causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["spec.on", "<nil>"], "a type error stops the rules");
        assert!(a.causes[1].message.contains("rules were not checked"));
        let mut obj = json!({"spec": {"on": true}});
        let a = admit(&s, &mut obj, None);
        let fields: Vec<&str> = a.causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["spec"], "well typed: the rules run");
        // A list rule on a string would make the interpreter panic: it is never reached.
        let s = json!({"type": "object", "properties": {"members": {"type": "array", "items": {"type": "string"},
            "x-kubernetes-validations": [{"rule": "self.all(m, m != 'x')"}]}}});
        let a = admit(&s, &mut json!({"members": "x.fr"}), None);
        assert_eq!(a.causes.len(), 2);
        // Without rules there is nothing that did not run: no notice.
        let plain = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
        let a = admit(&plain, &mut json!({"n": "1"}), None);
        assert_eq!(a.causes.len(), 1, "{:?}", a.causes);
        assert!(a.warnings.is_empty());
        let mut bad_rule = json!({"x-kubernetes-validations": [{"rule": "self.("}]});
        assert_eq!(uncompilable_rules(&bad_rule).len(), 1);
        bad_rule["x-kubernetes-validations"][0]["rule"] = json!("true");
        assert!(uncompilable_rules(&bad_rule).is_empty());
    }
}
