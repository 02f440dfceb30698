//! A domain's declared website source, checked once: a git source must be a public `https://`
//! repository without credentials, its ref a plain name, and the catalogue must name the
//! git-sync image that fetches it.

use super::domain::{invalid, parse_domain};
use super::error::PlanError;
use crate::api::{ServiceCatalogSpec, SiteSource};

/// A git repository a domain's site is served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidGit {
    pub repository: String,
    /// `None`: the repository's default branch.
    pub git_ref: Option<String>,
}

/// Checks `site` (at `field`, e.g. `spec.members[2].site`).
pub fn validate_site(
    field: &str,
    site: &SiteSource,
    catalog: &ServiceCatalogSpec,
) -> Result<Option<ValidGit>, PlanError> {
    let Some(git) = &site.git else {
        return Ok(None);
    };
    let repo_field = format!("{field}.git.repository");
    let url = &git.repository;
    let rest = url.strip_prefix("https://").ok_or_else(|| {
        invalid(
            &repo_field,
            url,
            "is not an https:// URL",
            "https://host/path of a public repository",
        )
    })?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if url.len() > 2048
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
        || path.is_empty()
    {
        return Err(invalid(
            &repo_field,
            url,
            "is not a repository URL",
            "https://host/path, at most 2048 characters, no spaces",
        ));
    }
    if authority.contains('@') {
        return Err(invalid(
            &repo_field,
            url,
            "carries credentials",
            "a public repository's URL without user or password (the spec is no place for a secret)",
        ));
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok_and(|p| p > 0) => host,
        Some(_) => {
            return Err(invalid(
                &repo_field,
                url,
                "has a bad port",
                "https://host[:port]/path",
            ));
        }
        None => authority,
    };
    parse_domain(&repo_field, host)?;
    if let Some(r) = &git.r#ref {
        let ok = !r.is_empty()
            && r.len() <= 255
            && !r.starts_with(['-', '.', '/'])
            && !r.contains("..")
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b));
        if !ok {
            return Err(invalid(
                &format!("{field}.git.ref"),
                r,
                "is not a branch, tag or commit name",
                "letters, digits, '.', '_', '/' and '-', not starting with '-', '.' or '/', no '..'",
            ));
        }
    }
    if catalog.images.git_sync.is_none() {
        return Err(invalid(
            &format!("{field}.git"),
            url,
            "cannot be synced: the catalogue names no spec.images.gitSync",
            "a catalogue with a git-sync image, or no git source",
        ));
    }
    Ok(Some(ValidGit {
        repository: url.clone(),
        git_ref: git.r#ref.clone(),
    }))
}
