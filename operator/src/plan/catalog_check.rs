//! The catalogue's own checks: its CRD schema and CEL rules (pinned tags, repositories without
//! tag, digests, DNS timers, one web target, unique tiers), then what a schema cannot state
//! (quantities parse, splits fit, domains are IDNA, addresses parse). Run for every tenant
//! that uses it, and by the CLI for every catalogue read.

use std::net::IpAddr;

use crate::api::{CatalogDns, ServiceCatalog};

use super::cidr::parse_networks;
use super::domain::{invalid, parse_domain};
use super::error::PlanError;
use super::hosts::MAX_NAME;
use super::quantity::parse_bytes;

/// Checks what the CRD schema cannot (quantities parse, splits fit, addresses parse) and
/// returns the name servers normalised to absolute ASCII names.
pub fn validate_catalog(catalog: &ServiceCatalog) -> Result<Vec<String>, PlanError> {
    super::schema::check_catalog(catalog)?;
    let spec = &catalog.spec;
    let at = |field: String| {
        format!(
            "ServiceCatalog {:?} {field}",
            catalog.metadata.name.as_deref().unwrap_or("")
        )
    };
    for (i, tier) in spec.tiers.iter().enumerate() {
        if !matches!(parse_bytes(&tier.storage), Some(b) if b >= 1024 * 1024 * 1024) {
            return Err(invalid(
                &at(format!("spec.tiers[{i}].storage")),
                &tier.storage,
                "is not a storage quantity of at least 1Gi",
                "a quantity such as 250Gi or 1Ti",
            ));
        }
        let s = &tier.split;
        let total = s.total();
        if total > 100 {
            return Err(invalid(
                &at(format!("spec.tiers[{i}].split")),
                &format!("{total}%"),
                "adds up to more than the tier",
                "a split of at most 100 percent",
            ));
        }
        let c = &tier.contribution;
        if c.alone < 0 || c.with_members < c.alone {
            return Err(invalid(
                &at(format!("spec.tiers[{i}].contribution")),
                &format!("alone={} withMembers={}", c.alone, c.with_members),
                "is inconsistent",
                "0 <= alone <= withMembers",
            ));
        }
    }
    parse_networks(
        &at("spec.nas.allowedNetworks".into()),
        &spec.nas.allowed_networks,
    )?;
    if let Some(mail) = &spec.mail {
        super::catalog_mail::check_outbound(&mail.outbound, &at)?;
    }
    validate_dns(&spec.dns, &at)
}

fn validate_dns(dns: &CatalogDns, at: &dyn Fn(String) -> String) -> Result<Vec<String>, PlanError> {
    let mut servers = Vec::with_capacity(dns.name_servers.len());
    for (i, ns) in dns.name_servers.iter().enumerate() {
        let d = parse_domain(
            &at(format!("spec.dns.nameServers[{i}]")),
            ns.trim_end_matches('.'),
        )?;
        servers.push(format!("{}.", d.ascii));
    }
    validate_hostmaster(&dns.hostmaster, &at("spec.dns.hostmaster".into()))?;
    for (i, issuer) in dns.caa_issuers.iter().enumerate() {
        parse_domain(&at(format!("spec.dns.caaIssuers[{i}]")), issuer)?;
    }
    // The schema's rules keep the timers in range and in order and set exactly one of
    // cname and addresses; what is set must parse.
    let target = &dns.web_target;
    if let Some(cname) = &target.cname {
        parse_domain(
            &at("spec.dns.webTarget.cname".into()),
            cname.trim_end_matches('.'),
        )?;
    }
    for (i, a) in target.addresses.iter().enumerate() {
        if a.parse::<IpAddr>().is_err() {
            return Err(invalid(
                &at(format!("spec.dns.webTarget.addresses[{i}]")),
                a,
                "is not an IP address",
                "an IPv4 or IPv6 address",
            ));
        }
    }
    Ok(servers)
}

/// The hostmaster mailbox becomes the SOA's RNAME `local.host.`: the schema's pattern makes
/// the local part one DNS label; the host must be a valid domain and the whole fit a name.
fn validate_hostmaster(value: &str, field: &str) -> Result<(), PlanError> {
    let (local, host) = value.split_once('@').unwrap_or(("", value));
    let host = parse_domain(field, host)?;
    if local.len() + 1 + host.ascii.len() > MAX_NAME {
        return Err(invalid(
            field,
            value,
            "is too long for the SOA record",
            &format!("at most {MAX_NAME} characters in ASCII form"),
        ));
    }
    Ok(())
}
