//! `x-kubernetes-validations` (CEL). Placeholder until a CEL evaluator is wired in.

use crate::status::Cause;
use serde_json::Value;

pub fn check(_schema: &Value, _obj: &Value, _old: Option<&Value>) -> Vec<Cause> {
    Vec::new()
}
