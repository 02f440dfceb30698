//! The catalogue's own checks: what its CRD schema cannot state (quantities parse, splits
//! fit, addresses parse, versions are pinned). Run for every tenant that uses it, and by the
//! CLI for every catalogue read.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::api::{CatalogDns, Image, ServiceCatalog};

use super::cidr::parse_networks;
use super::domain::{invalid, parse_domain};
use super::error::PlanError;
use super::hosts::{MAX_LABEL, MAX_NAME};
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
        check_repository(
            &at(format!("spec.images.{service}.repository")),
            &image.repository,
        )?;
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
    validate_hostmaster(&dns.hostmaster, &at("spec.dns.hostmaster".into()))?;
    for (i, issuer) in dns.caa_issuers.iter().enumerate() {
        parse_domain(&at(format!("spec.dns.caaIssuers[{i}]")), issuer)?;
    }
    check_timers(dns, at)?;
    let target = &dns.web_target;
    match (&target.cname, target.addresses.is_empty()) {
        (Some(_), false) | (None, true) => {
            return Err(invalid(
                &at("spec.dns.webTarget".into()),
                &format!(
                    "cname={:?} addresses={:?}",
                    target.cname.as_deref().unwrap_or(""),
                    target.addresses
                ),
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

/// The hostmaster mailbox becomes the SOA's RNAME `local.host.`: the local part is one DNS
/// label (no dot, at most 63 characters) and the host a valid domain.
fn validate_hostmaster(value: &str, field: &str) -> Result<(), PlanError> {
    let allowed = "an address such as hostmaster@example.fr: a local part of 1 to 63 letters, digits, '-' or '_' (no dot), '@', a domain";
    let Some((local, host)) = value.split_once('@') else {
        return Err(invalid(field, value, "is not a mailbox (no '@')", allowed));
    };
    let local_ok = !local.is_empty()
        && local.len() <= MAX_LABEL
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !local_ok {
        return Err(invalid(
            field,
            value,
            "has a local part that cannot be a DNS label",
            allowed,
        ));
    }
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

/// A repository names no tag and no digest: `tag` does (`redis:7` would render `redis:7:8.2.2`).
/// A registry port (`registry.example:5000/mail`) sits before a `/`, a tag after the last one.
fn check_repository(field: &str, repository: &str) -> Result<(), PlanError> {
    let last = repository.rsplit('/').next().unwrap_or(repository);
    let allowed = "a repository without tag or digest, such as docker.io/library/redis; the version goes in tag";
    if repository.contains('@') || last.contains(':') {
        return Err(invalid(
            field,
            repository,
            "carries a tag or digest",
            allowed,
        ));
    }
    let chars_ok = repository
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/:".contains(&b));
    if repository.is_empty()
        || !chars_ok
        || repository.starts_with('/')
        || repository.ends_with('/')
        || repository.contains("//")
    {
        return Err(invalid(
            field,
            repository,
            "is not an image repository",
            allowed,
        ));
    }
    Ok(())
}

/// TTLs and SOA timers as the CRD bounds them (RFC 1912): a catalogue read offline meets the
/// same rules as one the API server admitted.
fn check_timers(dns: &CatalogDns, at: &dyn Fn(String) -> String) -> Result<(), PlanError> {
    let s = &dns.soa;
    let ranges = [
        ("spec.dns.ttl", dns.ttl, 60, 604_800),
        ("spec.dns.soa.refresh", s.refresh, 60, 2_419_200),
        ("spec.dns.soa.retry", s.retry, 60, 2_419_200),
        ("spec.dns.soa.expire", s.expire, 3600, 4_838_400),
        ("spec.dns.soa.minimum", s.minimum, 60, 86_400),
    ];
    for (field, value, min, max) in ranges {
        if !(min..=max).contains(&value) {
            return Err(invalid(
                &at(field.into()),
                &value.to_string(),
                "is out of range",
                &format!("{min} to {max} seconds"),
            ));
        }
    }
    if !(s.retry < s.refresh && s.refresh < s.expire) {
        return Err(invalid(
            &at("spec.dns.soa".into()),
            &format!(
                "refresh={} retry={} expire={}",
                s.refresh, s.retry, s.expire
            ),
            "has its timers out of order",
            "retry < refresh < expire",
        ));
    }
    Ok(())
}
