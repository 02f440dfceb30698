//! The names the plan derives from a domain (`www.`, `mail.`, `cloud.`, `_dmarc.`, the DKIM
//! owner, the RFC 2142 mailboxes). The builders take them from here and `validate` checks every
//! one of them against DNS limits, so a domain that is valid alone but too long once prefixed is
//! refused with a reason instead of reaching the zone builder.

use super::domain::shorten;
use super::error::PlanError;
use super::secrets::DKIM_SELECTOR;

/// Longest DNS name (RFC 1035: 255 octets on the wire, 253 characters written without the
/// final dot).
pub const MAX_NAME: usize = 253;
/// Longest DNS label.
pub const MAX_LABEL: usize = 63;
/// Longest mail address (RFC 5321 path of 256 octets less the angle brackets).
pub const MAX_ADDRESS: usize = 254;

/// The website's second host name on every domain.
pub const WWW: &str = "www";
/// The mail server's host, under the tenant's own domain.
pub const MAIL: &str = "mail";
/// The collaborative space's host, under the tenant's own domain.
pub const CLOUD: &str = "cloud";
/// The owner of the DMARC policy of every domain.
pub const DMARC: &str = "_dmarc";
/// The owner of the ACME DNS-01 challenge of the mail host, delegated by CNAME to the
/// catalogue's challenge zone (`spec.tls.mail`).
pub const MAIL_ACME_CHALLENGE: &str = "_acme-challenge.mail";
/// Mailboxes every domain routes to the tenant's postmaster (RFC 2142, plus DMARC reports).
pub const MAILBOXES: [&str; 4] = ["postmaster", "abuse", "hostmaster", "dmarc-reports"];

/// `label.domain` (ASCII, no trailing dot).
pub fn under(label: &str, domain: &str) -> String {
    format!("{label}.{domain}")
}

/// The DKIM owner label of `selector`: `<selector>._domainkey`.
pub fn dkim_label(selector: &str) -> String {
    format!("{selector}._domainkey")
}

/// The ASCII (IDNA) form of a validated domain, without a trailing dot.
pub fn ascii(domain: &str) -> String {
    let domain = domain.trim_end_matches('.');
    idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_owned())
}

/// The SOA's RNAME for `hostmaster` (`local@host` → `local.host`, host in ASCII form); the
/// catalogue check made sure the local part is one label and the host a domain.
pub fn soa_mailbox(hostmaster: &str) -> String {
    let (local, host) = hostmaster.split_once('@').unwrap_or(("", hostmaster));
    let host = idna::domain_to_ascii(host).unwrap_or_else(|_| host.to_owned());
    under(local, &host)
}

/// Every prefix the plan may put in front of a domain: on `primary` (the tenant's own domain)
/// or on every domain. The single list `validate` checks and the limits below derive from.
pub fn prefixes(primary: bool) -> Vec<String> {
    let mut p = vec![WWW.to_owned(), DMARC.to_owned(), dkim_label(DKIM_SELECTOR)];
    if primary {
        p.extend([
            MAIL.to_owned(),
            CLOUD.to_owned(),
            MAIL_ACME_CHALLENGE.to_owned(),
        ]);
    }
    p
}

/// Longest domain (ASCII form) whose every derived name still fits [`MAX_NAME`].
pub fn max_domain_len() -> usize {
    let longest = prefixes(true).iter().map(String::len).max().unwrap_or(0);
    MAX_NAME - longest - 1
}

/// Checks that `ascii` and every name derived from it fit DNS and mail limits.
pub fn check_derived(field: &str, ascii: &str, primary: bool) -> Result<(), PlanError> {
    check_name(field, ascii, ascii, "")?;
    // Every domain, a member's too, keeps to the CRD's one limit: the API and the offline
    // commands refuse the same (a member may become a tenant's own domain).
    if ascii.len() > max_domain_len() {
        return Err(too_long(
            field,
            ascii,
            &format!("is {} characters long in ASCII (IDNA) form", ascii.len()),
        ));
    }
    for prefix in prefixes(primary) {
        check_name(field, ascii, &under(&prefix, ascii), &format!("{prefix}."))?;
    }
    for local in MAILBOXES {
        let address = format!("{local}@{ascii}");
        if address.len() > MAX_ADDRESS {
            return Err(too_long(
                field,
                ascii,
                &format!(
                    "makes the mail address {local}@… {} characters long",
                    address.len()
                ),
            ));
        }
    }
    Ok(())
}

fn check_name(field: &str, domain: &str, name: &str, prefix: &str) -> Result<(), PlanError> {
    if name.len() > MAX_NAME {
        let what = if prefix.is_empty() {
            format!("is {} characters long in ASCII (IDNA) form", name.len())
        } else {
            format!("makes {prefix}<domain> {} characters long", name.len())
        };
        return Err(too_long(field, domain, &what));
    }
    if let Some(label) = name.split('.').find(|l| l.len() > MAX_LABEL) {
        return Err(PlanError::InvalidValue {
            field: field.to_owned(),
            value: shorten(domain),
            problem: format!(
                "has a label of {} characters ({})",
                label.len(),
                shorten(label)
            ),
            allowed: format!("labels of at most {MAX_LABEL} characters"),
        });
    }
    Ok(())
}

fn too_long(field: &str, domain: &str, what: &str) -> PlanError {
    PlanError::InvalidValue {
        field: field.to_owned(),
        value: shorten(domain),
        problem: what.to_owned(),
        allowed: format!(
            "a domain of at most {} characters in ASCII form, so that the names the plan derives ({}) stay within {MAX_NAME}",
            max_domain_len(),
            prefixes(true)
                .iter()
                .map(|p| format!("{p}."))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::patterns::MAX_DOMAIN;

    #[test]
    fn the_crd_limit_is_the_plan_limit() {
        assert_eq!(MAX_DOMAIN, max_domain_len());
        assert_eq!(max_domain_len(), 253 - "_acme-challenge.mail.".len());
    }

    /// A domain of exactly `len` ASCII characters: labels of 50, then the rest, then `.fr`.
    fn domain_of(len: usize) -> String {
        let mut s = String::new();
        while len - s.len() > 53 {
            s.push_str(&"a".repeat(50));
            s.push('.');
        }
        s.push_str(&"a".repeat(len - s.len() - 3));
        s + ".fr"
    }

    #[test]
    fn derived_names_are_checked() {
        let ok = domain_of(max_domain_len());
        assert_eq!(ok.len(), max_domain_len());
        check_derived("spec.domain", &ok, true).unwrap();
        let long = domain_of(max_domain_len() + 1);
        let err = check_derived("spec.domain", &long, true)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("spec.domain: ") && err.contains("233 characters long"),
            "{err}"
        );
        assert!(err.contains("at most 232 characters"), "{err}");
        assert!(err.len() < 500, "{} bytes: {err}", err.len());
    }

    #[test]
    fn long_labels_are_named() {
        let d = format!("{}.fr", "b".repeat(64));
        let err = check_derived("spec.members[0].domain", &d, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("label of 64 characters") && err.contains("at most 63"),
            "{err}"
        );
    }
}
