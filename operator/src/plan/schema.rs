//! The CRDs' structural schema and CEL rules on typed values: the rules the API server applies
//! before a Tenant or ServiceCatalog is stored, run again at the door of `validate` so that a
//! value built in Rust (a library caller, a test) meets the same single list of rules as one
//! read from YAML or admitted by the API. `validate` then checks only what a schema cannot.

use serde::Serialize;

use super::error::PlanError;
use crate::api::{ServiceCatalog, Tenant};

pub fn check_tenant(tenant: &Tenant) -> Result<(), PlanError> {
    check("Tenant", tenant, "")
}

/// Catalogue fields are named with the catalogue: `ServiceCatalog "x" spec.dns.ttl`.
pub fn check_catalog(catalog: &ServiceCatalog) -> Result<(), PlanError> {
    let name = catalog.metadata.name.as_deref().unwrap_or_default();
    check(
        "ServiceCatalog",
        catalog,
        &format!("ServiceCatalog {name:?} "),
    )
}

fn check(kind: &str, object: &impl Serialize, prefix: &str) -> Result<(), PlanError> {
    let (Some(schema), Ok(mut value)) = (
        crate::api::openapi_schema(kind),
        serde_json::to_value(object),
    ) else {
        return Ok(());
    };
    // The status is the operator's, written through its own subresource.
    if let Some(map) = value.as_object_mut() {
        map.remove("status");
    }
    let found = crdvalidation::admit(schema, &mut value, None);
    let first = found.causes.into_iter().next().or_else(|| {
        found
            .unknown
            .into_iter()
            .next()
            .map(|field| crdvalidation::Cause::new("FieldValueInvalid", field, "unknown field"))
    });
    match first {
        None => Ok(()),
        Some(cause) => Err(PlanError::Schema {
            field: format!("{prefix}{}", cause.field),
            message: cause.message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_meet_the_crd_rules() {
        let mut t: Tenant =
            serde_saphyr::from_str(include_str!("../../../examples/minimal.yaml")).unwrap();
        assert_eq!(check_tenant(&t), Ok(()));
        t.metadata.name = Some("Not_A_Name".into());
        let e = check_tenant(&t).unwrap_err();
        assert_eq!(e.field(), Some("metadata.name"), "{e}");
        // A subdomain, yet no namespace can be named after it: the CRD's root rule.
        t.metadata.name = Some("not.a.label".into());
        let e = check_tenant(&t).unwrap_err();
        assert_eq!(e.field(), Some("<nil>"));
        assert!(
            e.to_string()
                .contains("a Tenant name must be a DNS-1123 label"),
            "{e}"
        );
        t.metadata.name = Some("x".into());
        t.spec.tier = "1TB".into();
        let e = check_tenant(&t).unwrap_err().to_string();
        assert!(e.starts_with("spec.tier: Invalid value: \"1TB\""), "{e}");
        let mut c: ServiceCatalog =
            serde_saphyr::from_str(include_str!("../../../examples/catalog.yaml")).unwrap();
        assert_eq!(check_catalog(&c), Ok(()));
        c.spec.dns.ttl = 5;
        let e = check_catalog(&c).unwrap_err().to_string();
        assert!(
            e.starts_with("ServiceCatalog \"gironde-numerique\" spec.dns.ttl: Invalid value: 5"),
            "{e}"
        );
    }
}
