//! Custom resources through their CRD's structural schema and CEL rules, as the apiextensions
//! server admits them: the pipeline itself is the `crdvalidation` crate (shared with the
//! operator's offline commands); this module turns its findings into API errors and warnings
//! per `fieldValidation`.

use crate::resources::ResourceDef;
use crate::status::{ApiError, ApiResult};
use crate::write::FieldValidation;
use serde_json::Value;

pub fn admit(
    def: &ResourceDef,
    name: &str,
    obj: &mut Value,
    old: Option<&Value>,
    fv: FieldValidation,
) -> ApiResult<Vec<String>> {
    if &*def.storage == crate::resources::CRD_STORAGE {
        let causes = crate::crd::validate(obj);
        if !causes.is_empty() {
            return Err(ApiError::invalid(&def.kind, &def.group, name, causes));
        }
    }
    let Some(schema) = def.schema.clone() else {
        return Ok(vec![]);
    };
    let found = crdvalidation::admit(&schema, obj, old);
    let mut warnings = Vec::new();
    if !found.unknown.is_empty() {
        let listed = || {
            found
                .unknown
                .iter()
                .map(|u| format!("unknown field \"{u}\""))
        };
        match fv {
            FieldValidation::Strict => {
                let list: Vec<String> = listed().collect();
                return Err(ApiError::bad_request(format!(
                    "strict decoding error: {}",
                    list.join(", ")
                )));
            }
            FieldValidation::Warn => warnings.extend(listed()),
            FieldValidation::Ignore => {}
        }
    }
    if !found.causes.is_empty() {
        return Err(ApiError::invalid(&def.kind, &def.group, name, found.causes));
    }
    warnings.extend(
        found
            .warnings
            .into_iter()
            .map(|w| format!("devcluster: {w}")),
    );
    Ok(warnings)
}
