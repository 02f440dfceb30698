//! validate: the only door from a raw `Tenant` + `ServiceCatalog` to the builders. Everything
//! the builders assume (IDNA-valid distinct domains, unique member names, an existing tier
//! whose storage parses and whose split fits) is checked here once.

use std::collections::BTreeMap;

use crate::api::{
    DeletionPolicy, ServiceCatalog, ServiceCatalogSpec, Services, Subject, Subscription, Tenant,
    Tier,
};

pub use super::catalog_check::validate_catalog;
use super::catalog_mail::{Outbound, required_outbound};
use super::cidr::parse_networks;
pub use super::domain::{Domain, parse_domain};
use super::domain::{invalid, is_calendar_date};
use super::error::PlanError;
use super::hosts::check_derived;
use super::mailboxes::{DeclaredMail, ValidMail, validate_mail};
use super::names::derive_name;
use super::quantity::parse_bytes;
use super::services::volumes_of;
use super::site::{ValidGit, validate_site};
use super::storage::{StorageAllocation, allocate};

/// A member commune after validation: a Kubernetes-safe name and an IDNA domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidMember {
    pub name: String,
    pub display_name: String,
    pub domain: Domain,
    /// The commune's mailboxes and aliases.
    pub mail: ValidMail,
    /// The git repository the commune's site is served from, if any (else SFTP).
    pub site: Option<ValidGit>,
    /// SSH public keys of the commune's SFTP account (`type base64`).
    pub sftp_keys: Vec<String>,
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
    pub(super) mail: ValidMail,
    pub(super) site: Option<ValidGit>,
    pub(super) sftp_keys: Vec<String>,
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
    pub(super) outbound: Option<Outbound>,
    pub(super) nas_networks: Vec<String>,
    pub(super) sftp_networks: Vec<String>,
    pub(super) backup: Option<super::backup::ValidBackup>,
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
    /// The mailboxes and aliases of the tenant's own domain.
    pub fn mail(&self) -> &ValidMail {
        &self.mail
    }
    /// The git repository the tenant's own site is served from, if any (else SFTP).
    pub fn site(&self) -> Option<&ValidGit> {
        self.site.as_ref()
    }
    /// SSH public keys of the SFTP account of the tenant's own domain (`type base64`).
    pub fn sftp_keys(&self) -> &[String] {
        &self.sftp_keys
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
    /// How mail leaves the cluster; `Some` whenever mail is on.
    pub fn outbound(&self) -> Option<&Outbound> {
        self.outbound.as_ref()
    }
    /// Volumes carved from the tier.
    pub fn storage(&self) -> &StorageAllocation {
        &self.storage
    }
    /// The networks reaching the NAS from outside the cluster: the Tenant's, else the
    /// catalogue's; empty: inside the cluster only.
    /// The backup settings, when the catalogue has a backup target.
    pub fn backup(&self) -> Option<&super::backup::ValidBackup> {
        self.backup.as_ref()
    }

    pub fn nas_networks(&self) -> &[String] {
        &self.nas_networks
    }
    /// The networks reaching the websites' SFTP server from outside the cluster: the Tenant's
    /// `spec.sftp`, else the NAS's.
    pub fn sftp_networks(&self) -> &[String] {
        &self.sftp_networks
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
    // The CRD's schema and CEL rules first (names, lengths, patterns, enums, list keys); what
    // follows is only what a schema cannot say.
    super::schema::check_tenant(tenant)?;
    let spec = &tenant.spec;
    let catalog_name = catalog.metadata.name.clone().unwrap_or_default();
    if spec.catalog_ref != catalog_name {
        return Err(PlanError::CatalogNotFound {
            catalog_ref: spec.catalog_ref.clone(),
            available: vec![catalog_name],
        });
    }
    let name = tenant.metadata.name.clone().unwrap_or_default();
    let name_servers = validate_catalog(catalog)?;
    let outbound = spec
        .services
        .is_on(crate::api::Service::Mail)
        .then(|| required_outbound(catalog))
        .transpose()?;
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
        volumes_of,
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
    check_derived("spec.domain", &domain.ascii, true)?;
    let mut seen_domains: BTreeMap<String, String> = BTreeMap::new();
    seen_domains.insert(domain.ascii.clone(), "spec.domain".into());
    // The tenant's own NAS share and user carry its name: members cannot take it.
    let mut seen_names: BTreeMap<String, String> = BTreeMap::from([(
        name.clone(),
        "metadata.name (the tenant's own share)".to_owned(),
    )]);
    let mut members = Vec::with_capacity(spec.members.len());
    for (i, m) in spec.members.iter().enumerate() {
        let field = format!("spec.members[{i}]");
        let member_domain = parse_domain(&format!("{field}.domain"), &m.domain)?;
        check_derived(&format!("{field}.domain"), &member_domain.ascii, false)?;
        if let Some(first) =
            seen_domains.insert(member_domain.ascii.clone(), format!("{field}.domain"))
        {
            return Err(PlanError::DuplicateDomain {
                field: format!("{field}.domain"),
                value: m.domain.clone(),
                first,
            });
        }
        // An explicit name met the schema's DNS-1123 pattern and length.
        let member_name = match &m.name {
            Some(n) => n.clone(),
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
        let (site, sftp_keys) = validate_site(&format!("{field}.site"), &m.site, &catalog.spec)?;
        members.push(ValidMember {
            name: member_name,
            display_name: m.display_name.clone(),
            domain: member_domain,
            mail: ValidMail::default(),
            site,
            sftp_keys,
        });
    }
    let declared: Vec<DeclaredMail<'_>> = std::iter::once(DeclaredMail {
        field: "spec".to_owned(),
        domain: &domain.ascii,
        mail: &spec.mail,
    })
    .chain(
        members
            .iter()
            .zip(&spec.members)
            .enumerate()
            .map(|(i, (v, m))| DeclaredMail {
                field: format!("spec.members[{i}]"),
                domain: &v.domain.ascii,
                mail: &m.mail,
            }),
    )
    .collect();
    let mut mail = validate_mail(&declared)?.into_iter();
    let own_mail = mail.next().unwrap_or_default();
    for (m, valid) in members.iter_mut().zip(mail) {
        m.mail = valid;
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
    let nas_networks = if spec.nas.is_empty() {
        // validate_catalog checked the catalogue's.
        catalog.spec.nas.allowed_networks.clone()
    } else {
        parse_networks("spec.nas.allowedNetworks", &spec.nas.allowed_networks)?
    };
    let sftp_networks = if spec.sftp.is_empty() {
        nas_networks.clone()
    } else {
        parse_networks("spec.sftp.allowedNetworks", &spec.sftp.allowed_networks)?
    };
    let (site, sftp_keys) = validate_site("spec.site", &spec.site, &catalog.spec)?;
    let backup = super::backup::validate(spec.backup.as_ref(), catalog.spec.backup.as_ref())?;
    Ok(ValidatedTenant {
        backup,
        site,
        sftp_keys,
        sftp_networks,
        nas_networks,
        namespace: format!("mutualis-{name}"),
        name,
        display_name: spec.display_name.clone(),
        domain,
        mail: own_mail,
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
        outbound,
    })
}
