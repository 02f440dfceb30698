//! A document of ours through the CRD's own structural schema and CEL rules, before it becomes
//! a Rust value: the same `crdvalidation` pipeline the development cluster runs on every write,
//! on the very CRDs `mutualis crd` prints (built from the Rust types at run time, so they cannot
//! drift). What the API would refuse is refused here with its message; what the API would
//! accept (a `null` on an optional field, which it drops before defaulting) is accepted.
//!
//! YAML is read the way kubectl reads it (go-yaml v2, YAML 1.1 scalars): unquoted `no`, `off`,
//! `yes`, `on` are booleans, quoted ones are strings; the parity test holds the two together.

use serde_json::Value;

use super::error::{CliError, Origin};
use super::input::parse;
use super::yaml_path::line_of;
use crate::api::openapi_schema as schema_of;

/// `doc` as the API server would store it (defaulted, unknown fields refused as under
/// `kubectl apply`'s strict field validation), or the first reason it would refuse it.
pub fn admit(kind: &'static str, doc: &str, origin: &Origin) -> Result<Value, CliError> {
    let mut value: Value = parse(doc, origin)?;
    let Some(schema) = schema_of(kind) else {
        return Ok(value);
    };
    let name = value["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let found = crdvalidation::admit(schema, &mut value, None);
    let at = |field: &str| line_of(doc, field).map_or(origin.line, |l| origin.line + l - 1);
    if let Some(field) = found.unknown.first() {
        return Err(CliError::UnknownField {
            source_name: origin.source.clone(),
            line: at(field),
            allowed: crdvalidation::allowed_beside(schema, field).join(", "),
            field: field.clone(),
        });
    }
    if let Some(first) = found.causes.first() {
        // The API's notice that the CEL rules did not run is not an error of its own.
        let more = found.causes[1..]
            .iter()
            .filter(|c| c.message != crdvalidation::RULES_NOT_CHECKED)
            .count();
        return Err(CliError::Invalid {
            source_name: origin.source.clone(),
            line: at(&first.field),
            kind,
            name,
            cause: first.render(),
            more: match more {
                0 => String::new(),
                1 => " (and 1 more error)".into(),
                n => format!(" (and {n} more errors)"),
            },
        });
    }
    Ok(value)
}

/// The admitted value as `T`. The schema has checked every type, so this fails only where the
/// Rust type is narrower than its schema; the YAML parser then locates the field.
pub fn typed<T: serde::de::DeserializeOwned>(
    value: Value,
    doc: &str,
    origin: &Origin,
) -> Result<T, CliError> {
    serde_json::from_value(value).or_else(|e| {
        parse::<T>(doc, origin)?;
        Err(CliError::Yaml {
            source_name: origin.source.clone(),
            line: origin.line,
            column: 1,
            field: None,
            message: super::messages::shorten(&e.to_string()),
            snippet: String::new(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            source: "t.yaml".into(),
            document: 1,
            line: 1,
        }
    }

    const TENANT: &str = "apiVersion: mutualis.io/v1alpha1\nkind: Tenant\nmetadata:\n  name: x\nspec:\n  catalogRef: c\n  tier: 1tb\n  displayName: X\n  domain: x.fr\n";

    #[test]
    fn every_rule_of_the_crds_is_enforced_offline() {
        for kind in ["Tenant", "ServiceCatalog"] {
            let schema = schema_of(kind).expect(kind);
            assert_eq!(crdvalidation::uncompilable_rules(schema), vec![], "{kind}");
        }
        let rules = serde_json::to_string(schema_of("Tenant").unwrap()).unwrap();
        assert!(rules.contains("x-kubernetes-validations"));
    }

    #[test]
    fn defaults_are_applied_and_nulls_of_optional_fields_dropped() {
        let doc = format!("{TENANT}  deletionPolicy: null\n  nas:\n");
        let v = admit("Tenant", &doc, &origin()).unwrap();
        assert_eq!(v["spec"]["deletionPolicy"], "Retain");
        assert_eq!(v["spec"]["services"]["mail"], true);
        assert!(v["spec"].get("nas").is_none());
    }

    #[test]
    fn refusals_name_line_field_value_and_what_is_allowed() {
        let doc = format!("{TENANT}  services:\n    mail: \"off\"\n");
        let err = admit("Tenant", &doc, &origin()).unwrap_err().to_string();
        assert_eq!(
            err,
            "t.yaml:11: Tenant \"x\" is invalid: spec.services.mail: Invalid value: \"off\": spec.services.mail in body must be of type boolean: \"string\""
        );
        let typo = format!("{TENANT}  deletionPolcy: Delete\n");
        let err = admit("Tenant", &typo, &origin()).unwrap_err().to_string();
        assert!(
            err.starts_with("t.yaml:10: spec.deletionPolcy: unknown field; allowed here: admins, backup, catalogRef, deletionPolicy"),
            "{err}"
        );
        let long = TENANT.replace(
            "displayName: X",
            &format!("displayName: {}", "é".repeat(5000)),
        );
        let err = admit("Tenant", &long, &origin()).unwrap_err().to_string();
        assert!(err.len() < 500, "{}", err.len());
        assert!(
            err.contains("spec.displayName: Too long: \"éé")
                && err.contains("…: may not be more than 200 characters (found 5000)"),
            "{err}"
        );
    }
}
