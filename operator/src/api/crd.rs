//! The CustomResourceDefinitions as installed: what `kube` derives from the types, plus the
//! rules a field-level schema cannot state (the Tenant name must fit a namespace name).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, ValidationRule,
};
use kube::CustomResourceExt;

use super::patterns::MAX_TENANT_NAME;
use super::{ServiceCatalog, Tenant};

/// Both CRDs, catalogue first (tenants refer to it), exactly as `crds/` holds them.
pub fn crds() -> Vec<CustomResourceDefinition> {
    let mut tenant = Tenant::crd();
    for version in &mut tenant.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            add_root_rule(
                schema,
                // The namespace is `mutualis-<name>`: a DNS label of at most 63 characters.
                format!(
                    "self.metadata.name.size() <= {MAX_TENANT_NAME} && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')"
                ),
                format!(
                    "a Tenant name must be a DNS-1123 label of at most {MAX_TENANT_NAME} characters (its namespace is mutualis-<name>)"
                ),
            );
        }
    }
    vec![ServiceCatalog::crd(), tenant]
}

/// The `openAPIV3Schema` of a kind's served version, as JSON: what the API server (and the
/// `crdvalidation` pipeline, offline) validates a `Tenant` or `ServiceCatalog` against.
pub fn openapi_schema(kind: &str) -> Option<&'static serde_json::Value> {
    static SCHEMAS: std::sync::OnceLock<Vec<(String, serde_json::Value)>> =
        std::sync::OnceLock::new();
    SCHEMAS
        .get_or_init(|| {
            crds()
                .into_iter()
                .filter_map(|crd| {
                    let kind = crd.spec.names.kind.clone();
                    let json = serde_json::to_value(crd).ok()?;
                    let schema = json["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
                    Some((kind, schema))
                })
                .collect()
        })
        .iter()
        .find(|(k, _)| k == kind)
        .map(|(_, s)| s)
}

/// The files of `crds/`: one per CRD, named after it (`tenants.mutualis.io.yaml`).
pub fn crd_files() -> Vec<(String, String)> {
    crds()
        .into_iter()
        .map(|crd| {
            let name = format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("crd"));
            (
                name,
                serde_saphyr::to_string(&crd).expect("a CRD always serializes"),
            )
        })
        .collect()
}

/// Both CRDs as one multi-document YAML stream, what `mutualis crd` prints.
pub fn crds_yaml() -> String {
    let mut out = String::new();
    for (_, yaml) in crd_files() {
        out.push_str("---\n");
        out.push_str(&yaml);
    }
    out
}

fn add_root_rule(schema: &mut JSONSchemaProps, rule: String, message: String) {
    schema
        .x_kubernetes_validations
        .get_or_insert_with(Vec::new)
        .push(ValidationRule {
            rule,
            message: Some(message),
            ..ValidationRule::default()
        });
}
