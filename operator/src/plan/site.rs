//! A domain's declared website source, checked once: a git source must be a public `https://`
//! repository without credentials, its ref a plain name, and the catalogue must name the
//! git-sync image that fetches it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

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

/// The key types SFTPGo (golang.org/x/crypto/ssh) accepts in `authorized_keys` form.
const KEY_TYPES: [&str; 7] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// An `authorized_keys` line reduced to `type base64` (the comment dropped: it is for people,
/// and leaving it out keeps the users file free of any character a shell or JSON would
/// interpret), after checking the key blob is well-formed base64 whose wire format names the
/// same type (RFC 4253 §6.6: a length-prefixed type string first).
fn public_key(field: &str, line: &str) -> Result<String, PlanError> {
    let refuse = |problem: &str| {
        invalid(
            field,
            line,
            problem,
            &format!("an authorized_keys line of type {}", KEY_TYPES.join(", ")),
        )
    };
    let mut parts = line.split_whitespace();
    let (Some(kind), Some(blob)) = (parts.next(), parts.next()) else {
        return Err(refuse("is not `type base64 [comment]`"));
    };
    if !KEY_TYPES.contains(&kind) {
        return Err(refuse("has an unknown key type"));
    }
    let bytes = STANDARD.decode(blob).map_err(|_| refuse("is not base64"))?;
    let named = bytes
        .get(..4)
        .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize)
        .and_then(|n| bytes.get(4..4 + n));
    if named != Some(kind.as_bytes()) {
        return Err(refuse("holds a key of another type than it says"));
    }
    Ok(format!("{kind} {blob}"))
}

/// Checks `site` (at `field`, e.g. `spec.members[2].site`): its git source, and the SFTP
/// public keys (normalised) when it has none.
pub fn validate_site(
    field: &str,
    site: &SiteSource,
    catalog: &ServiceCatalogSpec,
) -> Result<(Option<ValidGit>, Vec<String>), PlanError> {
    let keys_field = format!("{field}.sftpPublicKeys");
    if site.sftp_public_keys.len() > 10 {
        return Err(invalid(
            &keys_field,
            &format!("{} keys", site.sftp_public_keys.len()),
            "lists too many keys",
            "at most 10",
        ));
    }
    let keys = site
        .sftp_public_keys
        .iter()
        .enumerate()
        .map(|(i, k)| public_key(&format!("{keys_field}[{i}]"), k))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(git) = &site.git else {
        return Ok((None, keys));
    };
    if !keys.is_empty() {
        return Err(invalid(
            &keys_field,
            &site.sftp_public_keys[0],
            "is given to a site served from git, which has no SFTP account",
            "no keys, or no git source",
        ));
    }
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
    Ok((
        Some(ValidGit {
            repository: url.clone(),
            git_ref: git.r#ref.clone(),
        }),
        keys,
    ))
}
