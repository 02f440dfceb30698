//! Where a domain's website comes from: by default files published over SFTP; optionally a
//! public git repository kept in sync into the site.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A domain's website source.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteSource {
    /// Serve the site from this git repository (a `git-sync` sidecar fetches it every minute)
    /// instead of the files published over SFTP; the domain then has no SFTP account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSource>,
}

impl SiteSource {
    pub fn is_empty(&self) -> bool {
        self.git.is_none()
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
