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
            let mut first = true;
            for plan in plans {
                for object in &plan.objects {
                    out.write_all(if first { b"\n" } else { b",\n" })?;
                    first = false;
                    let text =
                        serde_json::to_string_pretty(object).map_err(std::io::Error::from)?;
                    for (i, line) in text.lines().enumerate() {
                        if i > 0 {
                            out.write_all(b"\n")?;
                        }
                        out.write_all(b"    ")?;
                        out.write_all(line.as_bytes())?;
                    }
                }
            }
            out.write_all(if first { b"]\n}\n" } else { b"\n  ]\n}\n" })?;
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
