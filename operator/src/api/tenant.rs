//! `Tenant`: one subscriber (a *communauté de communes*, possibly with its member communes) and
//! the services it subscribed to, at the tier its council voted.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What an operations engineer declares for one subscriber.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "mutualis.io",
    version = "v1alpha1",
    kind = "Tenant",
    plural = "tenants",
    singular = "tenant",
    shortname = "tn",
    category = "mutualis",
    status = "TenantStatus",
    derive = "PartialEq",
    doc = "A subscriber to the syndicate's pooled services, provisioned at its tier.",
    printcolumn = r#"{"name":"Tier","type":"string","jsonPath":".spec.tier"}"#,
    printcolumn = r#"{"name":"Members","type":"integer","jsonPath":".status.memberCount"}"#,
    printcolumn = r#"{"name":"Contribution","type":"integer","description":"Annual contribution in euros","jsonPath":".status.annualContribution"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type=='Ready')].status"}"#,
    printcolumn = r#"{"name":"Backup","type":"date","description":"Age of the last successful backup","jsonPath":".status.backup.lastSuccessfulBackup"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"description":"Why the tenant is not Ready","jsonPath":".status.conditions[?(@.type=='Ready')].reason"}"#,
    printcolumn = r#"{"name":"Namespace","type":"string","priority":1,"jsonPath":".status.namespace"}"#,
    printcolumn = r#"{"name":"Domain","type":"string","priority":1,"jsonPath":".spec.domain"}"#,
    printcolumn = r#"{"name":"Provisioned","type":"string","priority":1,"description":"The tier in force (a refused change leaves the previous one)","jsonPath":".status.tier"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.members) || self.members.all(m, m.domain.lowerAscii() != self.domain.lowerAscii())",
        "message": "a member's domain must differ from the tenant's own domain",
        "fieldPath": ".members"
    },
    {
        "rule": "!has(self.members) || self.members.all(m, !has(m.name) || self.members.exists_one(o, has(o.name) && o.name == m.name))",
        "message": "member names must be unique",
        "fieldPath": ".members"
    },
    {
        "rule": "!has(oldSelf.subscription) || has(self.subscription)",
        "message": "the subscription record (the council's vote) cannot be removed once set",
        "fieldPath": ".subscription"
    }
]))]
pub struct TenantSpec {
    /// Name of the `ServiceCatalog` whose tiers, prices and images apply.
    #[schemars(length(min = 1, max = 253), regex(pattern = super::patterns::DNS_SUBDOMAIN))]
    pub catalog_ref: String,
    /// Name of the subscribed tier in that catalogue (for example `1tb`).
    #[schemars(length(min = 1, max = 63), regex(pattern = super::patterns::DNS_LABEL))]
    pub tier: String,
    /// The subscriber's name as people write it, e.g. `Les Coteaux Bordelais`.
    #[schemars(length(min = 1, max = 200))]
    pub display_name: String,
    /// The subscriber's primary domain; Unicode allowed (stored as IDNA in DNS).
    #[schemars(length(min = 3, max = super::patterns::MAX_DOMAIN), regex(pattern = super::patterns::DOMAIN))]
    pub domain: String,
    /// Member communes served through this subscription; each gets a mail domain, a website,
    /// a DNS zone and a NAS share.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["domain"]))]
    pub members: Vec<Member>,
    /// Mailboxes and aliases of the tenant's own domain.
    #[serde(default, skip_serializing_if = "super::DomainMail::is_empty")]
    pub mail: super::DomainMail,
    /// Where the website of the tenant's own domain comes from (SFTP by default).
    #[serde(default, skip_serializing_if = "super::SiteSource::is_empty")]
    pub site: super::SiteSource,
    /// Which catalogued services are on (all by default).
    #[serde(default)]
    pub services: Services,
    /// Who reaches the NAS from outside the cluster; the catalogue's `spec.nas` when empty.
    #[serde(default, skip_serializing_if = "NasAccess::is_empty")]
    pub nas: NasAccess,
    /// Who reaches the websites' SFTP server from outside the cluster; the NAS's networks when
    /// empty.
    #[serde(default, skip_serializing_if = "SftpAccess::is_empty")]
    pub sftp: SftpAccess,
    /// What happens to the tenant's data volumes when the Tenant is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// People or groups who get read access to the tenant's namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["kind", "name"]))]
    pub admins: Vec<Subject>,
    /// The council vote that subscribed (deliberation number and date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<Subscription>,
    /// A later backup hour or longer retention than the catalogue's (never less).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<super::TenantBackup>,
}

/// A member commune.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// Kubernetes-safe name (DNS-1123 label). When absent it is derived from `displayName`:
    /// lower case, accents and ligatures transliterated (`Sallebœuf` → `salleboeuf`), other
    /// characters turned into `-`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 40), regex(pattern = super::patterns::DNS_LABEL))]
    pub name: Option<String>,
    /// The commune's name as people write it.
    #[schemars(length(min = 1, max = 200))]
    pub display_name: String,
    /// The commune's own domain; Unicode allowed.
    #[schemars(length(min = 3, max = super::patterns::MAX_DOMAIN), regex(pattern = super::patterns::DOMAIN))]
    pub domain: String,
    /// Mailboxes and aliases of the commune's domain.
    #[serde(default, skip_serializing_if = "super::DomainMail::is_empty")]
    pub mail: super::DomainMail,
    /// Where the commune's website comes from (SFTP by default).
    #[serde(default, skip_serializing_if = "super::SiteSource::is_empty")]
    pub site: super::SiteSource,
}

/// The five catalogued services; each is on unless switched off.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Services {
    /// Mailboxes for every domain (SMTP, submission, IMAP).
    #[serde(default = "on")]
    pub mail: bool,
    /// A website per domain, over HTTPS.
    #[serde(default = "on")]
    pub website: bool,
    /// An authoritative DNS zone per domain.
    #[serde(default = "on")]
    pub dns: bool,
    /// A shared workspace (Nextcloud) with a group per member.
    #[serde(default = "on")]
    pub collaboration: bool,
    /// An SMB share per member.
    #[serde(default = "on")]
    pub nas: bool,
}

fn on() -> bool {
    true
}

impl Services {
    /// Whether `service` is switched on.
    pub fn is_on(&self, service: super::Service) -> bool {
        use super::Service as S;
        match service {
            S::Mail => self.mail,
            S::Website => self.website,
            S::Dns => self.dns,
            S::Collaboration => self.collaboration,
            S::Nas => self.nas,
        }
    }

    /// The services switched on, in [`super::Service::ALL`] order.
    pub fn enabled(&self) -> impl Iterator<Item = super::Service> + '_ {
        super::Service::ALL.into_iter().filter(|s| self.is_on(*s))
    }
}

impl Default for Services {
    fn default() -> Self {
        Services {
            mail: true,
            website: true,
            dns: true,
            collaboration: true,
            nas: true,
        }
    }
}

/// The networks allowed to reach a NAS over SMB from outside the cluster (the town halls',
/// the syndicate's VPN). With at least one, the NAS gets a LoadBalancer restricted to them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NasAccess {
    /// Networks in CIDR notation, e.g. `192.0.2.0/24` or `2001:db8:42::/48`; at most 32. A
    /// Tenant's list replaces the catalogue's; none anywhere: reached inside the cluster only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(min = 9, max = 43), regex(pattern = super::patterns::CIDR)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub allowed_networks: Vec<String>,
}

impl NasAccess {
    pub fn is_empty(&self) -> bool {
        self.allowed_networks.is_empty()
    }
}

/// The networks allowed to publish the websites over SFTP from outside the cluster (the town
/// halls', a web agency's). With at least one, SFTP gets a LoadBalancer restricted to them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SftpAccess {
    /// Networks in CIDR notation, at most 32. Empty: the networks that reach the NAS
    /// (`spec.nas.allowedNetworks`, else the catalogue's); none anywhere: inside the cluster only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(min = 9, max = 43), regex(pattern = super::patterns::CIDR)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub allowed_networks: Vec<String>,
}

impl SftpAccess {
    pub fn is_empty(&self) -> bool {
        self.allowed_networks.is_empty()
    }
}

/// Fate of data volumes when the Tenant goes away.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Keep the PersistentVolumeClaims (and their data); everything else is removed.
    #[default]
    Retain,
    /// Delete everything, data included.
    Delete,
}

/// Someone granted read access to the tenant's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct Subject {
    /// `User` or `Group`, as the cluster's authenticator names them.
    pub kind: SubjectKind,
    /// User or group name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// RBAC subject kinds a tenant admin can be.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SubjectKind {
    User,
    Group,
}

/// The council vote behind the subscription.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Deliberation number, e.g. `2017-37`.
    #[schemars(
        length(min = 1, max = 64),
        regex(pattern = r"^[0-9A-Za-z][0-9A-Za-z ./_-]*$")
    )]
    pub deliberation: String,
    /// Date of the vote, `YYYY-MM-DD`.
    #[schemars(regex(pattern = super::patterns::DATE))]
    pub date: String,
}

/// What the operator observed and allocated; every field is optional and omitted when empty.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, one condition per service, and `Valid` (see `mutualis::api::conditions`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The namespace holding the tenant's services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The tier currently provisioned: after a refused change (a shrink), still the previous one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Number of member communes served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_count: Option<i32>,
    /// Annual contribution in euros, from the catalogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annual_contribution: Option<i64>,
    /// Storage allocated to each service (service → quantity).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub storage: BTreeMap<String, String>,
    /// Where people reach the services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
    /// `metadata.generation` of the catalogue the last plan used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_generation: Option<i64>,
    /// Each zone and the SOA serial being published for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub zones: Vec<ZoneStatus>,
    /// The last successful backup and check, the repository, the latest restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<super::BackupStatus>,
    /// The tenant's data seen so far, `Secret/<name>` (generated credentials) and
    /// `PersistentVolumeClaim/<name>` (once Bound): one that disappears is reported
    /// (`CredentialsLost`, `VolumeLost`) and not re-created until restored or acknowledged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub provisioned: Vec<String>,
}

/// A published zone.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZoneStatus {
    /// The zone's name in A-label (ASCII, IDNA) form, as DNS serves it.
    pub name: String,
    /// The same name as people write it (Unicode).
    pub unicode: String,
    /// The SOA serial published.
    pub serial: u32,
}

/// Host names and URLs of a tenant's services.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// One HTTPS URL per domain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub websites: Vec<String>,
    /// Host name of the mail server (MX, IMAP, submission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_host: Option<String>,
    /// URL of the collaborative space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collaboration: Option<String>,
    /// SMB address of the NAS (`\\host` in Windows' words): its load balancer's address when
    /// networks outside the cluster reach it and the address is assigned, else its name inside
    /// the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nas: Option<String>,
    /// SFTP address of the websites' publishing server, in the same way as the NAS's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sftp: Option<String>,
    /// Name servers to delegate the zones to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub name_servers: Vec<String>,
}
