//! `mutualis render`: every object of every tenant, as multi-document YAML or a JSON `List`.
//! Byte-identical across runs: input order is kept, maps are ordered, nothing is timestamped.

use std::io::Write;

use super::{CliError, Format};
use crate::plan::Plan;

/// Writes the objects of `plans`.
pub fn write(
    plans: &mut dyn Iterator<Item = Plan>,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match format {
        Format::Json => {
            // A `List` written item by item, indented as serde_json's pretty printer would.
            out.write_all(b"{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"metadata\": {},\n  \"items\": [")?;
            let objects = plans.flat_map(|plan| plan.objects);
            let any =
                super::write_json_elements(objects, serde_json::to_string_pretty, "    ", out)?;
            out.write_all(if any { b"\n  ]\n}\n" } else { b"]\n}\n" })?;
        }
        Format::Text | Format::Yaml => {
            let mut buf = String::with_capacity(64 * 1024);
            for plan in plans {
                buf.push_str(&header(&plan));
                for object in &plan.objects {
                    buf.push_str("---\n");
                    serde_saphyr::to_fmt_writer(&mut buf, object)
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                }
                out.write_all(buf.as_bytes())?;
                buf.clear();
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// A YAML comment before a tenant's objects: what a reviewer will not see in them.
fn header(plan: &Plan) -> String {
    let secrets: Vec<&str> = plan.secrets.iter().map(|s| s.name.as_str()).collect();
    let mut h = format!(
        "# Tenant {}: {} objects in namespace {}, tier {}, {} EUR/year.\n",
        plan.tenant,
        plan.objects.len(),
        plan.namespace,
        plan.tier,
        plan.annual_contribution
    );
    if !secrets.is_empty() {
        h.push_str(&format!(
            "# Secrets generated in the cluster on first apply, never rendered: {}.\n",
            secrets.join(", ")
        ));
    }
    for note in &plan.notes {
        h.push_str(&format!("# Note: {note}\n"));
    }
    h
}
