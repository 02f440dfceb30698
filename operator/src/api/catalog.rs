//! `ServiceCatalog`: the catalogue the syndicate's committee votes — tiers and prices, how a
//! tier's storage splits across services, the pinned image of each service, and the cluster
//! settings (storage class, ingress, TLS, DNS) every tenant shares.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The voted catalogue. Tenants name it in `spec.catalogRef`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "mutualis.io",
    version = "v1alpha1",
    kind = "ServiceCatalog",
    plural = "servicecatalogs",
    singular = "servicecatalog",
    shortname = "svccat",
    shortname = "catalog",
    category = "mutualis",
    derive = "PartialEq",
    doc = "The committee-voted catalogue: tiers, prices, service images and shared settings.",
    printcolumn(name = "Tiers", type_ = "string", json_path = ".spec.tiers[*].name"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ServiceCatalogSpec {
    /// Storage tiers a tenant can subscribe to.
    #[schemars(length(min = 1, max = 20), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub tiers: Vec<Tier>,
    /// The pinned image of each service.
    pub images: Images,
    /// StorageClass of every PersistentVolumeClaim; the cluster default when absent. It must
    /// allow volume expansion for tier upgrades to grow volumes in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = super::patterns::DNS_SUBDOMAIN))]
    pub storage_class_name: Option<String>,
    /// IngressClass of the websites and the collaborative space; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = super::patterns::DNS_SUBDOMAIN))]
    pub ingress_class_name: Option<String>,
    /// How HTTPS certificates are obtained; plain HTTP Ingresses when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// Values every tenant's DNS zones share.
    pub dns: CatalogDns,
    /// How mail leaves the cluster; required when a tenant has mail on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<super::CatalogMail>,
    /// The networks reaching every tenant's NAS unless the Tenant names its own, e.g. the
    /// syndicate's VPN range.
    #[serde(default, skip_serializing_if = "super::NasAccess::is_empty")]
    pub nas: super::NasAccess,
    /// Where and when every tenant is backed up; no backups when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<super::CatalogBackup>,
}

/// One subscription tier.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.split.mail + self.split.website + self.split.collaboration + self.split.nas <= 100",
    "message": "the storage split of a tier cannot exceed 100 percent",
    "fieldPath": ".split"
}, {
    "rule": "self.contribution.withMembers >= self.contribution.alone",
    "message": "the contribution with members cannot be lower than the contribution alone",
    "fieldPath": ".contribution"
}]))]
pub struct Tier {
    /// Identifier tenants use in `spec.tier`, e.g. `250gb`.
    #[schemars(length(min = 1, max = 63), regex(pattern = super::patterns::DNS_LABEL))]
    pub name: String,
    /// Total storage of the tier, e.g. `250Gi`; the tenant's ResourceQuota `requests.storage`.
    #[schemars(length(min = 1, max = 32), regex(pattern = super::patterns::STORAGE_QUANTITY))]
    pub storage: String,
    /// Annual contribution in euros.
    pub contribution: Contribution,
    /// Percentage of the tier's storage given to each service (the rest stays unallocated).
    pub split: StorageSplit,
}

/// Annual contribution of a tier, in whole euros.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contribution {
    /// The community subscribing alone (no member communes).
    #[schemars(range(min = 0, max = 100_000_000))]
    pub alone: i64,
    /// The community with its member communes.
    #[schemars(range(min = 0, max = 100_000_000))]
    pub with_members: i64,
}

/// Share of the tier's storage per service, in percent. DNS needs no volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSplit {
    /// Mailboxes.
    #[schemars(range(min = 0, max = 100))]
    pub mail: u8,
    /// Website content.
    #[schemars(range(min = 0, max = 100))]
    pub website: u8,
    /// Nextcloud files and its PostgreSQL database.
    #[schemars(range(min = 0, max = 100))]
    pub collaboration: u8,
    /// SMB shares.
    #[schemars(range(min = 0, max = 100))]
    pub nas: u8,
}

impl StorageSplit {
    /// The percentage of the tier given to `service`; `None` for a service without a volume.
    pub fn percent(&self, service: super::Service) -> Option<u8> {
        use super::Service as S;
        match service {
            S::Mail => Some(self.mail),
            S::Website => Some(self.website),
            S::Dns => None,
            S::Collaboration => Some(self.collaboration),
            S::Nas => Some(self.nas),
        }
    }

    /// Sum of every service's share, percent.
    pub fn total(&self) -> u32 {
        super::Service::ALL
            .into_iter()
            .filter_map(|s| self.percent(s))
            .map(u32::from)
            .sum()
    }
}

/// A pinned container image.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct Image {
    /// Repository without tag or digest, e.g. `docker.io/mailserver/docker-mailserver`
    /// (`redis:7` is refused: the version goes in `tag`, the digest in `digest`).
    #[schemars(length(min = 1, max = 255), regex(pattern = super::patterns::IMAGE_REPOSITORY))]
    pub repository: String,
    /// A pinned version tag (`latest` is refused).
    #[schemars(length(min = 1, max = 128), regex(pattern = super::patterns::IMAGE_TAG))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self != 'latest'", "message": "pin a version; 'latest' is not reproducible"}]))]
    pub tag: String,
    /// The image's digest (`sha256:<64 hex>`), to pin its content and not only its tag: the
    /// Pod spec then names `repository:tag@digest`, which the runtime pulls by digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(equal = 71), regex(pattern = super::patterns::IMAGE_DIGEST))]
    pub digest: Option<String>,
}

impl Image {
    /// `repository:tag`, or `repository:tag@digest`: the form a Pod spec wants.
    pub fn reference(&self) -> String {
        match &self.digest {
            Some(digest) => format!("{}:{}@{digest}", self.repository, self.tag),
            None => format!("{}:{}", self.repository, self.tag),
        }
    }
}

/// The image of each workload.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Images {
    /// docker-mailserver.
    pub mail: Image,
    /// nginx-unprivileged.
    pub website: Image,
    /// CoreDNS.
    pub dns: Image,
    /// Nextcloud (apache flavour).
    pub collaboration: Image,
    /// PostgreSQL for Nextcloud.
    pub database: Image,
    /// Redis for Nextcloud's locking and cache.
    pub cache: Image,
    /// Samba server.
    pub nas: Image,
    /// SFTPGo, the SFTP server beside nginx through which each domain's site is published;
    /// without it sites cannot be published by SFTP (the plan says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sftp: Option<Image>,
    /// git-sync (v4), which keeps a site declared with a git source up to date; needed only
    /// by tenants that declare one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_sync: Option<Image>,
}

impl Images {
    /// Every image with the field name the catalogue gives it (`spec.images.<name>`).
    pub fn named(&self) -> Vec<(&'static str, &Image)> {
        let mut named = vec![
            ("mail", &self.mail),
            ("website", &self.website),
            ("dns", &self.dns),
            ("collaboration", &self.collaboration),
            ("database", &self.database),
            ("cache", &self.cache),
            ("nas", &self.nas),
        ];
        named.extend(self.sftp.as_ref().map(|i| ("sftp", i)));
        named.extend(self.git_sync.as_ref().map(|i| ("gitSync", i)));
        named
    }
}

/// How HTTPS certificates are issued.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tls {
    /// cert-manager ClusterIssuer named on every Ingress.
    #[schemars(length(min = 1, max = 253), regex(pattern = super::patterns::DNS_SUBDOMAIN))]
    pub cluster_issuer: String,
    /// How the mail server's certificate is issued: by DNS-01, since the mail load balancer
    /// has no port 80 for HTTP-01.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<MailTls>,
}

/// DNS-01 with CNAME delegation (the acme-dns pattern; cert-manager's `cnameStrategy: Follow`):
/// each zone points `_acme-challenge.mail.<domain>` at `<tenant>.<challengeZone>`, a zone the
/// syndicate's DNS-01 issuer may update.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailTls {
    /// A DNS-01 ClusterIssuer of the syndicate (e.g. RFC 2136 against its own server).
    #[schemars(length(min = 1, max = 253), regex(pattern = super::patterns::DNS_SUBDOMAIN))]
    pub cluster_issuer: String,
    /// The zone the challenge records are delegated to, e.g. `acme.gironde-numerique.fr`.
    #[schemars(length(min = 1, max = 253), regex(pattern = super::patterns::HOSTNAME))]
    pub challenge_zone: String,
}

/// DNS values shared by every zone.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogDns {
    /// Authoritative name servers (NS records), fully qualified.
    #[schemars(length(min = 1, max = 13), extend("x-kubernetes-list-type" = "set"))]
    pub name_servers: Vec<String>,
    /// Mailbox of the zone's administrator, e.g. `hostmaster@gironde-numerique.fr`.
    #[schemars(
        length(min = 3, max = 253),
        regex(pattern = super::patterns::MAILBOX)
    )]
    pub hostmaster: String,
    /// Default TTL of records, seconds.
    #[serde(default = "default_ttl")]
    #[schemars(range(min = 60, max = 604_800))]
    pub ttl: u32,
    /// SOA timers.
    #[serde(default)]
    pub soa: SoaTimers,
    /// Where the web and collaboration host names point.
    pub web_target: WebTarget,
    /// Certificate authorities allowed to issue for the domains (CAA `issue`).
    #[serde(default = "default_caa")]
    #[schemars(length(max = 10), inner(length(min = 3, max = 253), regex(pattern = super::patterns::ISSUER)))]
    pub caa_issuers: Vec<String>,
    /// DMARC policy published for every domain.
    #[serde(default)]
    pub dmarc_policy: DmarcPolicy,
    /// Namespace of the shared name servers (the Helm chart's `dns.namespace`), where each
    /// tenant's zones are published as the ConfigMap `zones-<tenant>`.
    #[serde(default = "default_zones_namespace")]
    #[schemars(length(min = 1, max = 63), regex(pattern = super::patterns::DNS_LABEL))]
    pub zones_namespace: String,
}

fn default_zones_namespace() -> String {
    "mutualis-dns".to_owned()
}

fn default_ttl() -> u32 {
    3600
}

fn default_caa() -> Vec<String> {
    vec!["letsencrypt.org".to_owned()]
}

/// SOA timers, seconds (RFC 1912 recommendations by default).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.retry < self.refresh && self.expire > self.refresh",
    "message": "SOA timers need retry < refresh < expire"
}]))]
pub struct SoaTimers {
    #[serde(default = "default_refresh")]
    #[schemars(range(min = 60, max = 2_419_200))]
    pub refresh: u32,
    #[serde(default = "default_retry")]
    #[schemars(range(min = 60, max = 2_419_200))]
    pub retry: u32,
    #[serde(default = "default_expire")]
    #[schemars(range(min = 3600, max = 4_838_400))]
    pub expire: u32,
    /// Negative-caching TTL.
    #[serde(default = "default_minimum")]
    #[schemars(range(min = 60, max = 86_400))]
    pub minimum: u32,
}

fn default_refresh() -> u32 {
    7200
}
fn default_retry() -> u32 {
    3600
}
fn default_expire() -> u32 {
    1_209_600
}
fn default_minimum() -> u32 {
    3600
}

impl Default for SoaTimers {
    fn default() -> Self {
        SoaTimers {
            refresh: default_refresh(),
            retry: default_retry(),
            expire: default_expire(),
            minimum: default_minimum(),
        }
    }
}

/// The address of the cluster's ingress, as DNS should publish it: addresses (A/AAAA) or a
/// CNAME target, not both.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "(has(self.cname) ? 1 : 0) + ((has(self.addresses) && size(self.addresses) > 0) ? 1 : 0) == 1",
    "message": "set either addresses or cname"
}]))]
pub struct WebTarget {
    /// IPv4/IPv6 addresses of the ingress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "set"))]
    pub addresses: Vec<String>,
    /// Host name the web records alias to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = super::patterns::HOSTNAME))]
    pub cname: Option<String>,
}

/// DMARC `p=` policy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DmarcPolicy {
    None,
    #[default]
    Quarantine,
    Reject,
}

impl DmarcPolicy {
    /// The value DMARC records carry.
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcPolicy::None => "none",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::Reject => "reject",
        }
    }
}
