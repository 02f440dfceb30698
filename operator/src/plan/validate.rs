//! validate: the only door from a raw `Tenant` + `ServiceCatalog` to the builders. Everything
//! the builders assume (IDNA-valid distinct domains, unique member names, an existing tier
//! whose storage parses and whose split fits) is checked here once.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::api::patterns::{MAX_MEMBER_NAME, MAX_TENANT_NAME};
use crate::api::{
    CatalogDns, DeletionPolicy, ServiceCatalog, ServiceCatalogSpec, Services, Subject,
    Subscription, Tenant, Tier,
};

use super::error::PlanError;
use super::names::{derive_name, is_dns_label};
use super::quantity::parse_bytes;
use super::storage::{StorageAllocation, allocate};

/// A domain as written (Unicode, lower case) and as DNS carries it (IDNA ASCII).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Punycode form, e.g. `xn--salleboeuf-xyz.fr`; what zones, Ingress hosts and mail use.
    pub ascii: String,
    /// Unicode form for people, e.g. `sallebœuf.fr`.
    pub unicode: String,
}

/// A member commune after validation: a Kubernetes-safe name and an IDNA domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidMember {
    pub name: String,
    pub display_name: String,
    pub domain: Domain,
}

/// The tier a tenant subscribed to, with its storage in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidTier {
    pub tier: Tier,
    pub bytes: u64,
}

/// A Tenant that passed [`validate`] against its catalogue. Only `validate` builds one, so
/// the builders never see unchecked input.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedTenant {
    pub(super) name: String,
    pub(super) namespace: String,
    pub(super) display_name: String,
    pub(super) domain: Domain,
    pub(super) members: Vec<ValidMember>,
    pub(super) services: Services,
    pub(super) deletion_policy: DeletionPolicy,
    pub(super) admins: Vec<Subject>,
    pub(super) subscription: Option<Subscription>,
    pub(super) tier: ValidTier,
    pub(super) catalog_name: String,
    pub(super) catalog: ServiceCatalogSpec,
    pub(super) name_servers: Vec<String>,
    pub(super) storage: StorageAllocation,
}

impl ValidatedTenant {
    pub fn name(&self) -> &str {
        &self.name
    }
    /// `mutualis-<tenant>`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
    pub fn display_name(&self) -> &str {
        &self.display_name
    }
    pub fn domain(&self) -> &Domain {
        &self.domain
    }
    pub fn members(&self) -> &[ValidMember] {
        &self.members
    }
    pub fn services(&self) -> &Services {
        &self.services
    }
    pub fn deletion_policy(&self) -> DeletionPolicy {
        self.deletion_policy
    }
    pub fn tier(&self) -> &ValidTier {
        &self.tier
    }
    pub fn catalog_name(&self) -> &str {
        &self.catalog_name
    }
    pub fn catalog(&self) -> &ServiceCatalogSpec {
        &self.catalog
    }
    pub fn admins(&self) -> &[Subject] {
        &self.admins
    }
    pub fn subscription(&self) -> Option<&Subscription> {
        self.subscription.as_ref()
    }
    /// Name servers as fully qualified ASCII names with a trailing dot.
    pub fn name_servers(&self) -> &[String] {
        &self.name_servers
    }
    /// Volumes carved from the tier.
    pub fn storage(&self) -> &StorageAllocation {
        &self.storage
    }
    /// Every domain, the tenant's first, then members in spec order.
    pub fn domains(&self) -> impl Iterator<Item = &Domain> {
        std::iter::once(&self.domain).chain(self.members.iter().map(|m| &m.domain))
    }
    /// Euros per year: the "with members" price as soon as one member commune is served.
    pub fn annual_contribution(&self) -> i64 {
        let c = &self.tier.tier.contribution;
        if self.members.is_empty() {
            c.alone
        } else {
            c.with_members
        }
    }
}

/// Checks a Tenant against the catalogue it names.
pub fn validate(tenant: &Tenant, catalog: &ServiceCatalog) -> Result<ValidatedTenant, PlanError> {
    let spec = &tenant.spec;
    let catalog_name = catalog.metadata.name.clone().unwrap_or_default();
    if spec.catalog_ref != catalog_name {
        return Err(PlanError::CatalogNotFound {
            catalog_ref: spec.catalog_ref.clone(),
            available: vec![catalog_name],
        });
    }
    let name = tenant.metadata.name.clone().unwrap_or_default();
    if !is_dns_label(&name, MAX_TENANT_NAME) {
        return Err(PlanError::InvalidName {
            field: "metadata.name".into(),
            value: name,
            max: MAX_TENANT_NAME,
        });
    }
    let name_servers = validate_catalog(catalog)?;
    let (tier_index, tier) = catalog
        .spec
        .tiers
        .iter()
        .enumerate()
        .find(|(_, t)| t.name == spec.tier)
        .ok_or_else(|| PlanError::UnknownTier {
            tier: spec.tier.clone(),
            catalog: catalog_name.clone(),
            allowed: catalog.spec.tiers.iter().map(|t| t.name.clone()).collect(),
        })?;
    // validate_catalog checked every tier's storage already.
    let bytes = parse_bytes(&tier.storage).unwrap_or_default();
    let storage = allocate(
        &tier.storage,
        bytes,
        &tier.split,
        &spec.services,
        &format!("ServiceCatalog {catalog_name:?} spec.tiers[{tier_index}]"),
    )?;

    if spec.display_name.trim().is_empty() {
        return Err(invalid(
            "spec.displayName",
            &spec.display_name,
            "is empty",
            "a non-blank name",
        ));
    }
    let domain = parse_domain("spec.domain", &spec.domain)?;
    let mut seen_domains: BTreeMap<String, String> = BTreeMap::new();
    seen_domains.insert(domain.ascii.clone(), "spec.domain".into());
    let mut seen_names: BTreeMap<String, String> = BTreeMap::new();
    let mut members = Vec::with_capacity(spec.members.len());
    for (i, m) in spec.members.iter().enumerate() {
        let field = format!("spec.members[{i}]");
        let member_domain = parse_domain(&format!("{field}.domain"), &m.domain)?;
        if let Some(first) =
            seen_domains.insert(member_domain.ascii.clone(), format!("{field}.domain"))
        {
            return Err(PlanError::DuplicateDomain {
                field: format!("{field}.domain"),
                value: m.domain.clone(),
                first,
            });
        }
        let member_name = match &m.name {
            Some(n) if is_dns_label(n, MAX_MEMBER_NAME) => n.clone(),
            Some(n) => {
                return Err(PlanError::InvalidName {
                    field: format!("{field}.name"),
                    value: n.clone(),
                    max: MAX_MEMBER_NAME,
                });
            }
            None => derive_name(&m.display_name).ok_or_else(|| PlanError::UnderivableName {
                field: format!("{field}.name"),
                display_name: m.display_name.clone(),
            })?,
        };
        if let Some(first) = seen_names.insert(member_name.clone(), format!("{field}.name")) {
            return Err(PlanError::DuplicateMember {
                field: format!("{field}.name"),
                value: member_name,
                first,
            });
        }
        if m.display_name.trim().is_empty() {
            return Err(invalid(
                &format!("{field}.displayName"),
                &m.display_name,
                "is empty",
                "a non-blank name",
            ));
        }
        members.push(ValidMember {
            name: member_name,
            display_name: m.display_name.clone(),
            domain: member_domain,
        });
    }
    if let Some(sub) = spec
        .subscription
        .as_ref()
        .filter(|s| !is_calendar_date(&s.date))
    {
        return Err(invalid(
            "spec.subscription.date",
            &sub.date,
            "is not a calendar date",
            "YYYY-MM-DD",
        ));
    }
    Ok(ValidatedTenant {
        namespace: format!("mutualis-{name}"),
        name,
        display_name: spec.display_name.clone(),
        domain,
        members,
        services: spec.services.clone(),
        deletion_policy: spec.deletion_policy,
        admins: spec.admins.clone(),
        subscription: spec.subscription.clone(),
        tier: ValidTier {
            tier: tier.clone(),
            bytes,
        },
        catalog_name,
        catalog: catalog.spec.clone(),
        name_servers,
        storage,
    })
}

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
        let total = u32::from(s.mail)
            + u32::from(s.website)
            + u32::from(s.collaboration)
            + u32::from(s.nas);
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
    let images = [
        ("mail", &spec.images.mail),
        ("website", &spec.images.website),
        ("dns", &spec.images.dns),
        ("collaboration", &spec.images.collaboration),
        ("database", &spec.images.database),
        ("cache", &spec.images.cache),
        ("nas", &spec.images.nas),
    ];
    for (service, image) in images {
        if image.tag == "latest" || image.tag.is_empty() {
            return Err(invalid(
                &at(format!("spec.images.{service}.tag")),
                &image.tag,
                "is not a pinned version",
                "a version tag such as 1.27.2",
            ));
        }
    }
    validate_dns(&spec.dns, &at)
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

/// IDNA (UTS #46, strict STD3 rules) plus what a registrable domain needs: two labels or
/// more, a non-numeric top-level label, no trailing dot.
pub fn parse_domain(field: &str, value: &str) -> Result<Domain, PlanError> {
    let bad = |reason: &str| PlanError::InvalidDomain {
        field: field.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    if value.is_empty() {
        return Err(bad("empty"));
    }
    if value.ends_with('.') {
        return Err(bad("trailing dot"));
    }
    if value.chars().any(char::is_whitespace) {
        return Err(bad("contains whitespace"));
    }
    let ascii = idna::domain_to_ascii_strict(value)
        .map_err(|_| bad("not a valid internationalized domain name"))?;
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(bad("needs at least two labels"));
    }
    if labels.iter().any(|l| l.is_empty() || l.len() > 63) {
        return Err(bad("empty or over-long label"));
    }
    if labels[labels.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the top-level label is numeric"));
    }
    let (unicode, _) = idna::domain_to_unicode(&ascii);
    Ok(Domain { ascii, unicode })
}

fn is_calendar_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (
        s[0..4].parse::<u32>(),
        s[5..7].parse::<u32>(),
        s[8..10].parse::<u32>(),
    ) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

fn invalid(field: &str, value: &str, problem: &str, allowed: &str) -> PlanError {
    PlanError::InvalidValue {
        field: field.to_owned(),
        value: value.to_owned(),
        problem: problem.to_owned(),
        allowed: allowed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_go_through_idna() {
        let d = parse_domain("spec.domain", "Sallebœuf.fr").unwrap();
        assert_eq!(d.ascii, "xn--sallebuf-ptb.fr");
        assert_eq!(d.unicode, "sallebœuf.fr");
        for (bad, why) in [
            ("fr", "two labels"),
            ("exa mple.fr", "whitespace"),
            ("example.fr.", "trailing dot"),
            ("ex_ample.fr", "internationalized"),
            ("example.123", "numeric"),
            ("-example.fr", "internationalized"),
        ] {
            let err = parse_domain("spec.domain", bad).unwrap_err().to_string();
            assert!(
                err.contains(why) && err.contains("spec.domain") && err.contains(bad),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn calendar_dates_must_exist() {
        assert!(is_calendar_date("2017-10-17"));
        assert!(is_calendar_date("2024-02-29"));
        assert!(!is_calendar_date("2023-02-29"));
        assert!(!is_calendar_date("2017-13-01"));
        assert!(!is_calendar_date("17-10-2017"));
    }
}
