//! The command line. The offline commands (`render`, `plan`, `crd`) read files, call the pure
//! plan and print, talking to no cluster; `run` starts the operator against a cluster and `dev`
//! (feature `dev`, on by default, off in the production image) against the development cluster.

mod admission;
pub mod crd;
#[cfg(feature = "dev")]
pub mod dev;
pub mod diff;
pub mod error;
pub mod input;
mod messages;
pub mod plan;
pub mod render;
pub mod restore;
pub mod run;
pub mod version;
mod yaml_path;

pub use error::CliError;

use crate::plan::{PlanInputs, ValidatedTenant};
use input::Manifests;

/// Output format of `render` and `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Multi-document YAML (`render`) or a human summary (`plan`).
    Text,
    /// YAML: the objects (`render`, same as text) or one summary document per tenant (`plan`).
    Yaml,
    /// JSON: a `v1/List` (`render`) or an array of tenant summaries (`plan`).
    Json,
}

/// Validates every tenant of `manifests` against its catalogue, in input order. All tenants
/// are validated before anything is printed, so bad input never yields partial output.
pub fn validate_all(manifests: &Manifests) -> Result<Vec<ValidatedTenant>, CliError> {
    let claims = crate::plan::claims::ClaimIndex::of(manifests.tenants.iter().map(|(_, t, _)| t));
    manifests
        .tenants
        .iter()
        .map(|(origin, tenant, doc)| {
            let fail = |error: crate::plan::PlanError| {
                let line = error
                    .field()
                    .and_then(|f| yaml_path::line_of(doc, f))
                    .map_or(origin.line, |l| origin.line + l - 1);
                CliError::Plan {
                    source_name: origin.source.clone(),
                    line,
                    tenant: tenant.metadata.name.clone().unwrap_or_default(),
                    error: Box::new(error),
                }
            };
            let catalog = manifests.catalog(&tenant.spec.catalog_ref).ok_or_else(|| {
                fail(crate::plan::PlanError::CatalogNotFound {
                    catalog_ref: tenant.spec.catalog_ref.clone(),
                    available: manifests
                        .catalogs
                        .iter()
                        .filter_map(|(_, c, _)| c.metadata.name.clone())
                        .collect(),
                })
            })?;
            let valid = crate::plan::validate(tenant, catalog).map_err(fail)?;
            // Two tenants of the input naming one domain: the later (by name) is refused, as
            // the operator would refuse it.
            match claims.conflict(tenant) {
                Some(conflict) => Err(fail(conflict)),
                None => Ok(valid),
            }
        })
        .collect()
}

/// `mutualis render` and `mutualis plan`: read, plan every tenant, print.
pub fn run_offline(
    command: Offline,
    paths: &[std::path::PathBuf],
    format: Format,
    stdin: &mut dyn std::io::Read,
    out: &mut dyn std::io::Write,
) -> Result<(), CliError> {
    let manifests = input::read(paths, stdin)?;
    if let Some(note) = manifests.skipped_note() {
        eprintln!("{note}");
    }
    check_catalogs(&manifests)?;
    let tenants = validate_all(&manifests)?;
    drop(manifests);
    // Built one at a time and written at once: memory stays that of one plan, whatever the
    // number of tenants. Offline: no DKIM key, first serials.
    let inputs = PlanInputs::default();
    let mut plans = tenants.iter().map(|t| crate::plan::build(t, &inputs));
    match command {
        Offline::Render => render::write(&mut plans, format, out),
        Offline::Plan => plan::write(&mut plans, format, out),
    }
}

/// Whether `err` (or what caused it) is a write to a closed pipe: the reader (`| head -1`)
/// has all it wanted, so the command ends quietly and successfully, as `cat` would.
pub fn closed_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// Which offline command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offline {
    Render,
    Plan,
}

/// Catalogues are checked even when no tenant uses them: a committee's typo should not wait
/// for the first subscriber to surface.
fn check_catalogs(manifests: &Manifests) -> Result<(), CliError> {
    for (origin, catalog, doc) in &manifests.catalogs {
        if let Err(error) = crate::plan::validate_catalog(catalog) {
            // Catalogue fields read `ServiceCatalog "name" spec...`; locate the `spec...` part.
            let line = error
                .field()
                .and_then(|f| f.find(" spec.").map(|i| &f[i + 1..]))
                .and_then(|f| yaml_path::line_of(doc, f))
                .map_or(origin.line, |l| origin.line + l - 1);
            return Err(CliError::Catalog {
                source_name: origin.source.clone(),
                line,
                error: Box::new(error),
            });
        }
    }
    Ok(())
}

/// Writes `items` as the elements of a JSON array, streamed one at a time (`json` gives each
/// one's pretty JSON) and indented as serde_json's pretty printer would at `indent`; the caller
/// writes the brackets. Returns whether any item was written (the closing layout depends on it).
pub(crate) fn write_json_elements<I>(
    items: impl Iterator<Item = I>,
    json: impl Fn(&I) -> serde_json::Result<String>,
    indent: &str,
    out: &mut dyn std::io::Write,
) -> Result<bool, CliError> {
    let mut first = true;
    for item in items {
        out.write_all(if first { b"\n" } else { b",\n" })?;
        first = false;
        let text = json(&item).map_err(std::io::Error::from)?;
        for (i, line) in text.lines().enumerate() {
            if i > 0 {
                out.write_all(b"\n")?;
            }
            out.write_all(indent.as_bytes())?;
            out.write_all(line.as_bytes())?;
        }
    }
    Ok(!first)
}
