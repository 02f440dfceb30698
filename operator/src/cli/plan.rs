//! `mutualis plan`: what a person reviews before applying, in the spirit of `terraform plan`.
//! Text for people; `-o json` for scripts (stable field names, numbers as numbers).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use serde::Serialize;

use super::{CliError, Format};
use crate::plan::quantity::format_bytes;
use crate::plan::{Plan, SecretRequest, Volume};

/// The JSON summary of one tenant.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub tier: &'a str,
    pub tier_storage: &'a str,
    pub member_count: usize,
    /// Euros per year.
    pub annual_contribution: i64,
    /// Service → quantity.
    pub storage: BTreeMap<String, String>,
    pub storage_total_bytes: u64,
    pub tier_bytes: u64,
    pub volumes: &'a [Volume],
    /// Kind → count.
    pub objects: BTreeMap<&'static str, usize>,
    pub zones: Vec<ZoneSummary<'a>>,
    pub secrets: &'a [SecretRequest],
    pub endpoints: &'a crate::api::Endpoints,
    pub notes: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneSummary<'a> {
    pub name: &'a str,
    pub unicode: &'a str,
    pub serial: u32,
    pub records: Vec<String>,
}

impl<'a> Summary<'a> {
    pub fn of(plan: &'a Plan) -> Summary<'a> {
        Summary {
            name: &plan.tenant,
            namespace: &plan.namespace,
            tier: &plan.tier,
            tier_storage: &plan.storage.tier_storage,
            member_count: plan.member_count,
            annual_contribution: plan.annual_contribution,
            storage: plan.storage.by_service(),
            storage_total_bytes: plan.storage.total_bytes(),
            tier_bytes: plan.storage.tier_bytes,
            volumes: &plan.storage.volumes,
            objects: plan.object_counts(),
            zones: plan
                .zones
                .iter()
                .map(|z| ZoneSummary {
                    name: &z.origin,
                    unicode: &z.unicode,
                    serial: z.version.serial,
                    records: z
                        .text
                        .lines()
                        .filter(|l| !l.starts_with('$'))
                        .map(str::to_owned)
                        .collect(),
                })
                .collect(),
            secrets: &plan.secrets,
            endpoints: &plan.endpoints,
            notes: &plan.notes,
        }
    }
}

pub fn write(
    plans: &mut dyn Iterator<Item = Plan>,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match format {
        Format::Json => {
            // A JSON array written summary by summary, indented as serde_json's pretty printer.
            out.write_all(b"[")?;
            let any = super::write_json_elements(
                plans,
                |p| serde_json::to_string_pretty(&Summary::of(p)),
                "  ",
                out,
            )?;
            out.write_all(if any { b"\n]\n" } else { b"]\n" })?;
        }
        Format::Yaml => {
            // One document per tenant, the same fields as JSON.
            for plan in plans {
                let yaml = serde_saphyr::to_string(&Summary::of(&plan))
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                out.write_all(b"---\n")?;
                out.write_all(yaml.as_bytes())?;
            }
        }
        Format::Text => {
            let mut total_objects = 0;
            let mut total_contribution = 0;
            let mut count = 0;
            for plan in plans {
                count += 1;
                out.write_all(text(&plan).as_bytes())?;
                total_objects += plan.objects.len();
                total_contribution += plan.annual_contribution;
            }
            writeln!(
                out,
                "Plan: {} tenant(s), {} object(s) to apply, {} EUR/year in contributions.",
                count, total_objects, total_contribution
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

fn text(plan: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Tenant {} (namespace {})", plan.tenant, plan.namespace);
    let _ = writeln!(
        s,
        "  tier:          {} ({})",
        plan.tier, plan.storage.tier_storage
    );
    let _ = writeln!(s, "  members:       {}", plan.member_count);
    let _ = writeln!(s, "  contribution:  {} EUR/year", plan.annual_contribution);
    let _ = writeln!(s, "  storage:");
    for v in &plan.storage.volumes {
        let _ = writeln!(
            s,
            "    {:<15} {:<18} {:>10}",
            v.service.name(),
            v.pvc,
            v.quantity()
        );
    }
    let _ = writeln!(
        s,
        "    {:<34} {:>10} of {} (unallocated {})",
        "total",
        format_bytes(plan.storage.total_bytes()),
        plan.storage.tier_storage,
        format_bytes(plan.storage.tier_bytes - plan.storage.total_bytes())
    );
    let e = &plan.endpoints;
    let _ = writeln!(s, "  endpoints:");
    for w in &e.websites {
        let _ = writeln!(s, "    website        {w}");
    }
    if let Some(m) = &e.mail_host {
        let _ = writeln!(s, "    mail           {m}");
    }
    if let Some(c) = &e.collaboration {
        let _ = writeln!(s, "    collaboration  {c}");
    }
    if let Some(n) = &e.nas {
        let _ = writeln!(s, "    nas            {n}");
    }
    if !plan.zones.is_empty() {
        // What the syndicate asks each domain's registrar for (glue: docs/dns.md).
        let _ = writeln!(
            s,
            "  delegation (at each domain's registrar; no DS record, the zones are unsigned):"
        );
        let servers = plan.endpoints.name_servers.join(", ");
        for z in &plan.zones {
            let _ = writeln!(s, "    delegate {} to {servers}", z.origin);
        }
        let _ = writeln!(s, "  DNS zones:");
        for z in &plan.zones {
            let unicode = if z.unicode != z.origin {
                format!(" ({})", z.unicode)
            } else {
                String::new()
            };
            let _ = writeln!(s, "    {}{} serial {}", z.origin, unicode, z.version.serial);
            for line in z.text.lines().filter(|l| !l.starts_with('$')) {
                let _ = writeln!(s, "      {line}");
            }
        }
    }
    let _ = writeln!(s, "  objects ({}):", plan.objects.len());
    for (kind, n) in plan.object_counts() {
        let _ = writeln!(s, "    + {n:>3} {kind}");
    }
    if !plan.secrets.is_empty() {
        let names: Vec<&str> = plan.secrets.iter().map(|x| x.name.as_str()).collect();
        let _ = writeln!(
            s,
            "  secrets generated in the cluster (values never shown): {}",
            names.join(", ")
        );
    }
    for note in &plan.notes {
        let _ = writeln!(s, "  note: {note}");
    }
    s.push('\n');
    s
}
