//! The mailboxes and aliases declared for one domain (the tenant's own or a member's): the
//! operator creates the accounts, each with a generated initial password in a Secret.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Mailboxes and aliases of one domain.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.aliases) || !has(self.mailboxes) || self.aliases.all(a, !(a.name in self.mailboxes))",
        "message": "an alias cannot have the name of a mailbox of the same domain",
        "fieldPath": ".aliases"
    }
]))]
pub struct DomainMail {
    /// Local parts of the domain's mailboxes (`mairie` is `mairie@<domain>`): lower case
    /// letters, digits, `.`, `_` and `-`. Each gets an account whose initial password is the
    /// key of the same name in Secret `mail-accounts-<tenant or member name>`. `postmaster`,
    /// `abuse`, `hostmaster` and `dmarc-reports` are reserved (they reach the tenant's
    /// postmaster). Removing one keeps its stored mail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 100),
        inner(length(min = 1, max = 64), regex(pattern = super::patterns::LOCAL_PART)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub mailboxes: Vec<String>,
    /// Addresses of the domain that forward to others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 100),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub aliases: Vec<MailAlias>,
}

impl DomainMail {
    pub fn is_empty(&self) -> bool {
        self.mailboxes.is_empty() && self.aliases.is_empty()
    }
}

/// `name@<domain>` delivers to every address of `to`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailAlias {
    /// The alias's local part (same rules as a mailbox's).
    #[schemars(length(min = 1, max = 64), regex(pattern = super::patterns::LOCAL_PART))]
    pub name: String,
    /// Where its mail goes: a local part (a mailbox or alias of the same domain) or a full
    /// address (another domain of the tenant, or outside).
    #[schemars(
        length(min = 1, max = 20),
        inner(length(min = 1, max = 254), regex(pattern = super::patterns::ALIAS_TARGET))
    )]
    pub to: Vec<String>,
}
