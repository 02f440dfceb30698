//! `mutualis crd`: print the CustomResourceDefinitions generated from the Rust types.

use std::io::Write;

/// Writes both CRDs as multi-document YAML.
pub fn run(out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all(crate::api::crds_yaml().as_bytes())
}
