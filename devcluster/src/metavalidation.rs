//! ObjectMeta validation the apiserver applies to every kind: label keys and values,
//! annotation keys and total size, owner references, finalizer names. Names with accents
//! (Sallebœuf) are exactly what this catches before a real cluster would.

use crate::status::Cause;
use crdvalidation::is_dns1123_subdomain as is_subdomain;
use serde_json::Value;

const LABEL_VALUE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAME_PART: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];
const MAX_ANNOTATIONS: usize = 256 * 1024;

fn name_part_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// A qualified name (`prefix/name` or `name`), as label and annotation keys are.
fn key_problem(k: &str) -> Option<String> {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix
        && !is_subdomain(p)
    {
        return Some("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".into());
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 characters".into());
    }
    (!name_part_ok(name)).then(|| NAME_PART.to_string())
}

pub fn validate(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let m = &obj["metadata"];
    for (k, v) in m["labels"].as_object().into_iter().flatten() {
        if let Some(p) = key_problem(k) {
            causes.push(Cause::new(
                "FieldValueInvalid",
                "metadata.labels",
                format!("Invalid value: {k:?}: {p}"),
            ));
        }
        match v.as_str() {
            Some(s) if s.is_empty() || name_part_ok(s) => {}
            Some(s) if s.len() > 63 => causes.push(Cause::new(
                "FieldValueInvalid",
                "metadata.labels",
                format!("Invalid value: {s:?}: must be no more than 63 characters"),
            )),
            _ => causes.push(Cause::new(
                "FieldValueInvalid",
                "metadata.labels",
                format!(
                    "Invalid value: {}: {LABEL_VALUE}",
                    serde_json::to_string(v).unwrap_or_default()
                ),
            )),
        }
    }
    let mut size = 0;
    for (k, v) in m["annotations"].as_object().into_iter().flatten() {
        if let Some(p) = key_problem(k) {
            causes.push(Cause::new(
                "FieldValueInvalid",
                "metadata.annotations",
                format!("Invalid value: {k:?}: {p}"),
            ));
        }
        if !v.is_string() {
            causes.push(Cause::new(
                "FieldValueInvalid",
                format!("metadata.annotations.{k}"),
                "Invalid value: annotations must be strings",
            ));
        }
        size += k.len() + v.as_str().map_or(0, str::len);
    }
    if size > MAX_ANNOTATIONS {
        causes.push(Cause::new(
            "FieldValueTooLong",
            "metadata.annotations",
            format!("Too long: may not be more than {MAX_ANNOTATIONS} bytes"),
        ));
    }
    for (i, r) in m["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        for f in ["apiVersion", "kind", "name", "uid"] {
            if r[f].as_str().is_none_or(str::is_empty) {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    format!("metadata.ownerReferences[{i}].{f}"),
                    "Required value",
                ));
            }
        }
    }
    let controllers = m["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["controller"] == true)
        .count();
    if controllers > 1 {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "metadata.ownerReferences",
            "Invalid value: Only one reference can have Controller set to true",
        ));
    }
    for (i, f) in m["finalizers"].as_array().into_iter().flatten().enumerate() {
        let name = f.as_str().unwrap_or_default();
        let ok = STANDARD_FINALIZERS.contains(&name)
            || (name.contains('/') && key_problem(name).is_none())
            || name.ends_with(".apiextensions.k8s.io");
        if !ok {
            causes.push(Cause::new(
                "FieldValueInvalid",
                format!("metadata.finalizers[{i}]"),
                format!("Invalid value: {name:?}: name is neither a standard finalizer name nor is it fully qualified"),
            ));
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_annotations_owners_finalizers() {
        let ok = json!({"metadata": {"labels": {"app.kubernetes.io/name": "mail", "mutualis.io/tenant": "coteaux-bordelais", "empty": ""},
            "annotations": {"mutualis.io/display-name": "Sallebœuf"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u", "controller": true}],
            "finalizers": ["mutualis.io/cleanup", "kubernetes"]}});
        assert!(validate(&ok).is_empty(), "{:?}", validate(&ok));
        let bad = json!({"metadata": {"labels": {"commune": "Sallebœuf", "Bad Key": "x", "UPPER.example/x": "y"},
            "ownerReferences": [{"kind": "X", "name": "x", "uid": "u"}],
            "finalizers": ["cleanup"]}});
        let fields: Vec<String> = validate(&bad).into_iter().map(|c| c.field).collect();
        assert_eq!(
            fields,
            vec![
                "metadata.labels",
                "metadata.labels",
                "metadata.labels",
                "metadata.ownerReferences[0].apiVersion",
                "metadata.finalizers[0]"
            ]
        );
    }
}
