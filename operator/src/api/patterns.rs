//! Regular expressions shared by the CRD schemas (OpenAPI `pattern`, RE2/ECMA dialect) and
//! the limits behind them. The plan re-checks the same rules with full IDNA processing, so a
//! manifest that slips past an older API server is still refused with a clear reason.

/// A DNS-1123 label: what Kubernetes accepts as a namespace or a Service name.
pub const DNS_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// A DNS-1123 subdomain: what Kubernetes accepts as the name of most objects.
pub const DNS_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// A domain name as people write it: Unicode labels allowed (IDNA happens in the plan), at
/// least two labels, no spaces, no scheme, no path, no trailing dot, no underscore.
pub const DOMAIN: &str = r"^([^.\s/:@_*]{1,63}\.)+[^.\s/:@_*0-9][^.\s/:@_*]{0,62}$";

/// A fully qualified host name in ASCII (name servers, CNAME targets), trailing dot optional.
pub const HOSTNAME: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?\.?$";

/// A calendar date, `YYYY-MM-DD` (the plan checks the day exists).
pub const DATE: &str = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";

/// A Kubernetes quantity of bytes such as `250Gi`, `1Ti` or `500G`.
pub const STORAGE_QUANTITY: &str = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$";

/// An image repository without tag or digest (`docker.io/library/nginx`, `mailserver/docker-mailserver`,
/// `registry.example:5000/team/app`). A port needs a path after it, so `redis:7` (a tag) and
/// `nginx@sha256:…` (a digest) are refused: they go in `tag` and `digest`.
pub const IMAGE_REPOSITORY: &str = r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+(/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)+|(/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)*)$";

/// An image digest: `sha256:` and 64 lower-case hex digits.
pub const IMAGE_DIGEST: &str = r"^sha256:[a-f0-9]{64}$";

/// The hostmaster mailbox: a local part that can be one DNS label (the SOA RNAME), `@`, a host.
pub const MAILBOX: &str =
    r"^[A-Za-z0-9_-]{1,63}@([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?$";

/// The local part of a mailbox or alias the operator creates: lower case (mail servers fold
/// case, so `Mairie` and `mairie` would be one account), dot-separated atoms of letters, digits,
/// `_` and `-`, none empty and none starting or ending with `-` (no `+`: it is the recipient
/// delimiter). RFC 5321 limits it to 64 characters.
pub const LOCAL_PART: &str = r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9_-]*[a-z0-9])?)*$";

/// Where an alias delivers: a local part of the same domain, or a full address (its domain may
/// be written in Unicode); the plan checks the parts.
pub const ALIAS_TARGET: &str = r"^[^@\s,]+(@[^@\s,]+)?$";

/// A CAA issuer domain (`letsencrypt.org`).
pub const ISSUER: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?$";

/// An image tag: pinned versions only in practice, `latest` is refused by the plan.
pub const IMAGE_TAG: &str = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$";

/// A network in CIDR notation, IPv4 (`192.0.2.0/24`) or IPv6 (`2001:db8::/48`); the plan
/// checks the address parses and its host bits are zero.
pub const CIDR: &str = r"^(([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}|[0-9A-Fa-f:.]+/[0-9]{1,3})$";

/// Most networks one NAS admits (a LoadBalancer's source ranges, a policy's peers).
pub const MAX_NAS_NETWORKS: usize = 32;

/// Tenant names become namespace names `mutualis-<tenant>`, which must stay a DNS label (63).
pub const MAX_TENANT_NAME: usize = 54;

/// Member names end up in object names and share names; keep room for prefixes.
pub const MAX_MEMBER_NAME: usize = 40;

/// Longest domain (ASCII form) the plan accepts: 253 less the longest prefix it adds to a
/// domain (`mutualis._domainkey.`); the plan checks the same bound after IDNA, and a unit test
/// ties this number to the plan's own list of prefixes.
pub const MAX_DOMAIN: usize = 232;
