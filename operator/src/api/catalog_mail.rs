//! How the syndicate's mail leaves the cluster (`ServiceCatalog.spec.mail`): SPF can only
//! authorise what the catalogue declares, and the mail server's egress follows the same
//! declaration.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Mail settings every tenant shares.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogMail {
    /// How outbound mail reaches other domains; required as soon as a tenant has mail on.
    pub outbound: MailOutbound,
}

/// Exactly one way out: the cluster's own egress addresses, or a relay (smarthost).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "((has(self.egressAddresses) && size(self.egressAddresses) > 0) ? 1 : 0) + (has(self.relay) ? 1 : 0) == 1",
    "message": "set exactly one of egressAddresses and relay"
}]))]
pub struct MailOutbound {
    /// The public IPv4/IPv6 addresses the nodes send from (each published as SPF `ip4:`/`ip6:`);
    /// the mail server then delivers directly on port 25.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), extend("x-kubernetes-list-type" = "set"))]
    pub egress_addresses: Vec<String>,
    /// A relay every outbound message goes through (SPF `include:` of the relay's record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<MailRelay>,
}

/// An SMTP relay (docker-mailserver's `RELAY_HOST`/`RELAY_PORT`/`RELAY_USER`/`RELAY_PASSWORD`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailRelay {
    /// Host name of the relay, e.g. `smtp-relay.gironde-numerique.fr`.
    #[schemars(length(min = 1, max = 253), regex(pattern = super::patterns::HOSTNAME))]
    pub host: String,
    /// Submission port of the relay.
    #[serde(default = "default_relay_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// The domain whose SPF record lists the relay's addresses, e.g. `_spf.gironde-numerique.fr`
    /// (published as `include:`).
    #[schemars(length(min = 1, max = 253))]
    pub spf_include: String,
    /// A Secret with keys `username` and `password` to authenticate to the relay. Without a
    /// namespace it is read from each tenant's namespace; with one, the operator copies it
    /// once into each tenant's namespace as `mail-relay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretRef>,
}

fn default_relay_port() -> u16 {
    587
}

/// A Secret by name, in a namespace when given.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    #[schemars(length(min = 1, max = 253), regex(pattern = super::patterns::DNS_SUBDOMAIN))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = super::patterns::DNS_LABEL))]
    pub namespace: Option<String>,
}
