//! The catalogue's own checks: what its CRD schema cannot state (quantities parse, splits
//! fit, addresses parse, versions are pinned). Run for every tenant that uses it, and by the
//! CLI for every catalogue read.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::api::{CatalogDns, Image, ServiceCatalog};

use super::cidr::parse_networks;
use super::domain::{invalid, parse_domain};
use super::error::PlanError;
use super::quantity::parse_bytes;

/// Checks what the CRD schema cannot (quantities parse, splits fit, addresses parse) and
/// returns the name servers normalised to absolute ASCII names.
pub fn validate_catalog(catalog: &ServiceCatalog) -> Result<Vec<String>, PlanError> {
    let spec = &catalog.spec;
    let at = |field: String| {
        format!(
            "ServiceCatalog {:?} {field}",
            catalog.metadata.name.as_deref().unwrap_or("")
        )
    };
    if spec.tiers.is_empty() {
        return Err(invalid(
            &at("spec.tiers".into()),
            "[]",
            "is empty",
            "at least one tier",
        ));
    }
    let mut names = BTreeMap::new();
    for (i, tier) in spec.tiers.iter().enumerate() {
        if let Some(first) = names.insert(tier.name.as_str(), i) {
            return Err(invalid(
                &at(format!("spec.tiers[{i}].name")),
                &tier.name,
                &format!("duplicates spec.tiers[{first}].name"),
                "unique tier names",
            ));
        }
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
    for (service, image) in spec.images.named() {
        validate_image(&at(format!("spec.images.{service}")), image)?;
    }
    parse_networks(
        &at("spec.nas.allowedNetworks".into()),
        &spec.nas.allowed_networks,
    )?;
    validate_dns(&spec.dns, &at)
}

/// A repository without tag or digest (those have their own fields), a pinned tag, and a
/// digest of the one form runtimes accept here.
fn validate_image(field: &str, image: &Image) -> Result<(), PlanError> {
    // The last path segment: a `:` there is a tag (a registry port comes before a `/`).
    let last = image.repository.rsplit('/').next().unwrap_or_default();
    if image.repository.contains('@') || last.contains(':') {
        return Err(invalid(
            &format!("{field}.repository"),
            &image.repository,
            "carries a tag or digest",
            &format!(
                "a repository alone such as docker.io/library/redis, with the version in {field}.tag and an optional {field}.digest"
            ),
        ));
    }
    if image.tag == "latest" || image.tag.is_empty() {
        return Err(invalid(
            &format!("{field}.tag"),
            &image.tag,
            "is not a pinned version",
            "a version tag such as 1.27.2",
        ));
    }
    if let Some(digest) = &image.digest {
        let hex = digest.strip_prefix("sha256:").unwrap_or_default();
        let ok = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !ok {
            return Err(invalid(
                &format!("{field}.digest"),
                digest,
                "is not an image digest",
                "sha256: followed by 64 lower-case hexadecimal digits",
            ));
        }
    }
    Ok(())
}

fn validate_dns(dns: &CatalogDns, at: &dyn Fn(String) -> String) -> Result<Vec<String>, PlanError> {
    if dns.name_servers.is_empty() {
        return Err(invalid(
            &at("spec.dns.nameServers".into()),
            "[]",
            "is empty",
            "at least one name server",
        ));
    }
    let mut servers = Vec::with_capacity(dns.name_servers.len());
    for (i, ns) in dns.name_servers.iter().enumerate() {
        let d = parse_domain(
            &at(format!("spec.dns.nameServers[{i}]")),
            ns.trim_end_matches('.'),
        )?;
        servers.push(format!("{}.", d.ascii));
    }
    if dns
        .hostmaster
        .split_once('@')
        .is_none_or(|(local, host)| local.is_empty() || host.is_empty())
    {
        return Err(invalid(
            &at("spec.dns.hostmaster".into()),
            &dns.hostmaster,
            "is not a mailbox",
            "an address such as hostmaster@example.fr",
        ));
    }
    let target = &dns.web_target;
    match (&target.cname, target.addresses.is_empty()) {
        (Some(_), false) | (None, true) => {
            return Err(invalid(
                &at("spec.dns.webTarget".into()),
                &format!("{target:?}"),
                "must set exactly one of addresses and cname",
                "addresses: [203.0.113.10] or cname: ingress.example.fr",
            ));
        }
        (Some(cname), true) => {
            parse_domain(
                &at("spec.dns.webTarget.cname".into()),
                cname.trim_end_matches('.'),
            )?;
        }
        (None, false) => {
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
        }
    }
    Ok(servers)
}
