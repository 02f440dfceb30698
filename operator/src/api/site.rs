//! Where a domain's website comes from: by default files published over SFTP; optionally a
//! public git repository kept in sync into the site.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A domain's website source.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.git) || !has(self.sftpPublicKeys)",
        "message": "a site served from git has no SFTP account to give keys to",
        "fieldPath": ".sftpPublicKeys"
    }
]))]
pub struct SiteSource {
    /// SSH public keys (`authorized_keys` lines: `ssh-ed25519 AAAA… comment`) that may log in
    /// to the domain's SFTP account besides its password; at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 10),
        inner(
            length(min = 16, max = 8192),
            regex(
                pattern = r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$"
            )
        )
    )]
    pub sftp_public_keys: Vec<String>,
    /// Serve the site from this git repository (a `git-sync` sidecar fetches it every minute)
    /// instead of the files published over SFTP; the domain then has no SFTP account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSource>,
}

impl SiteSource {
    pub fn is_empty(&self) -> bool {
        self.git.is_none() && self.sftp_public_keys.is_empty()
    }
}

/// A public git repository served as a static site (its files as they are: no build step).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitSource {
    /// `https://` URL of the repository, without credentials (public repositories only: a URL
    /// in the spec is no place for a secret).
    #[schemars(
        length(min = 9, max = 2048),
        regex(pattern = r"^https://[^\s@/]+/\S+$")
    )]
    pub repository: String,
    /// Branch, tag or commit to serve; the repository's default branch when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
    )]
    pub r#ref: Option<String>,
}
