//! Sites served from git: one `git-sync` (v4) sidecar per domain declaring a git source, which
//! fetches the repository every minute into `.git-sync/<domain>/` on the content volume and
//! points the link `current` at the checked-out revision (a relative symlink, so nginx follows
//! it under its own mount path). nginx serves that domain from the link; swapping it is atomic,
//! so a visitor never sees half a revision. The domain's SFTP directory, if it has one, is kept
//! as it was (nothing published is deleted) but no longer served.

use k8s_openapi::api::core::v1::{Container, PodSpec};

use super::super::Ctx;
use super::sftp::SITES;
use crate::api::Service;
use crate::plan::builders::env;
use crate::plan::network::{Allow, Peer, PodsOf, Port};
use crate::plan::security::{mount, resources, restricted};
use crate::plan::site::ValidGit;

/// git-sync's user in its image.
const GIT_SYNC_UID: i64 = 65533;
/// Under the content volume: git-sync's roots, one per domain (outside every served root).
pub const GIT_DIR: &str = ".git-sync";
/// The link git-sync keeps on the checked-out revision, relative to its root.
pub const LINK: &str = "current";

/// Each domain (its owner's name and ASCII form) with its git source, in domain order.
pub fn sources<'a>(ctx: &Ctx<'a>) -> Vec<(&'a str, &'a str, &'a ValidGit)> {
    let t = ctx.tenant;
    std::iter::once((t.name(), t.domain().ascii.as_str(), t.site()))
        .chain(
            t.members()
                .iter()
                .map(|m| (m.name.as_str(), m.domain.ascii.as_str(), m.site.as_ref())),
        )
        .filter_map(|(owner, domain, site)| site.map(|g| (owner, domain, g)))
        .collect()
}

/// The HTTPS port of a validated repository URL.
fn port(repository: &str) -> i32 {
    let authority = repository
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap_or_default();
    authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(443)
}

/// The way out to the repositories' hosts (and nothing else) when a domain declares one.
pub fn network(tenant: &crate::plan::ValidatedTenant) -> Option<Allow> {
    let mut ports: Vec<i32> = std::iter::once(tenant.site())
        .chain(tenant.members().iter().map(|m| m.site.as_ref()))
        .flatten()
        .map(|g| port(&g.repository))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    (!ports.is_empty()).then(|| Allow {
        name: "allow-website-git",
        pods: PodsOf::Component(Service::Website, "website"),
        ingress: None,
        egress: Some((
            Peer::Anywhere,
            ports
                .into_iter()
                .map(|p| Port::tcp("git-https", p))
                .collect(),
        )),
    })
}

/// Adds a git-sync container per git-sourced domain to the website pod.
pub fn add(ctx: &Ctx<'_>, pod: &mut PodSpec) {
    // validate refused a git source without the catalogue's image.
    let Some(image) = ctx.tenant.catalog().images.git_sync.as_ref() else {
        return;
    };
    for (owner, domain, git) in sources(ctx) {
        let mut args = vec![
            format!("--repo={}", git.repository),
            format!("--root={SITES}/{GIT_DIR}/{domain}"),
            format!("--link={LINK}"),
            "--depth=1".to_owned(),
            "--period=60s".to_owned(),
            // A repository that is briefly unreachable is retried, not a crash loop.
            "--max-failures=-1".to_owned(),
        ];
        if let Some(r) = &git.git_ref {
            args.insert(1, format!("--ref={r}"));
        }
        pod.containers.push(Container {
            name: format!("git-sync-{owner}"),
            image: Some(image.reference()),
            args: Some(args),
            // The image's HOME (git's configuration) is /tmp: writable, per container.
            env: Some(vec![env("HOME", "/tmp")]),
            volume_mounts: Some(vec![
                mount("content", SITES, None, false),
                mount("tmp", "/tmp", Some(&format!("git-sync-{owner}")), false),
            ]),
            security_context: Some(restricted(GIT_SYNC_UID)),
            resources: Some(resources("10m", "32Mi", "200m", "128Mi")),
            ..Container::default()
        });
    }
}
