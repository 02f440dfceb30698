//! The mailboxes and aliases a Tenant declares per domain, checked once: local part syntax and
//! length, no reserved or repeated name, every alias target a real mailbox or alias when it is
//! one of the tenant's own addresses. Builders read the result as full ASCII addresses.

use std::collections::{BTreeMap, BTreeSet};

use super::domain::{invalid, parse_domain};
use super::error::PlanError;
use super::hosts::{MAILBOXES, MAX_ADDRESS};
use crate::api::DomainMail;

/// RFC 5321: a local part is at most 64 octets.
pub const MAX_LOCAL_PART: usize = 64;

/// The mailboxes and aliases of one domain after validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidMail {
    /// Local parts, in spec order.
    pub mailboxes: Vec<String>,
    /// Alias local part → full ASCII addresses it delivers to, in spec order.
    pub aliases: Vec<(String, Vec<String>)>,
}

/// One domain's declaration: where it sits in the spec, its ASCII form, what it declares.
pub struct DeclaredMail<'a> {
    pub field: String,
    pub domain: &'a str,
    pub mail: &'a DomainMail,
}

/// Whether `local` is a local part the operator creates (the CRD's `LOCAL_PART` pattern).
pub fn is_local_part(local: &str) -> bool {
    local.len() <= MAX_LOCAL_PART
        && !local.is_empty()
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
                && !atom.starts_with(['-', '_'])
                && !atom.ends_with(['-', '_'])
        })
}

const LOCAL_PART_RULE: &str = "at most 64 lower-case letters, digits, '_' and '-', in atoms separated by single dots, each starting and ending with a letter or digit";

fn check_local(field: &str, local: &str, domain: &str) -> Result<(), PlanError> {
    if !is_local_part(local) {
        return Err(invalid(
            field,
            local,
            "is not a local part the operator creates",
            LOCAL_PART_RULE,
        ));
    }
    if MAILBOXES.contains(&local) {
        return Err(invalid(
            field,
            local,
            "is reserved: it already reaches the tenant's postmaster",
            &format!("any local part but {}", MAILBOXES.join(", ")),
        ));
    }
    let address = format!("{local}@{domain}");
    if address.len() > MAX_ADDRESS {
        return Err(invalid(
            field,
            &address,
            &format!("is {} characters long", address.len()),
            &format!("an address of at most {MAX_ADDRESS} characters (RFC 5321)"),
        ));
    }
    Ok(())
}

/// Checks every domain's mailboxes and aliases together (an alias may name another domain's
/// mailbox); the result is in the order of `declared`.
pub fn validate_mail(declared: &[DeclaredMail<'_>]) -> Result<Vec<ValidMail>, PlanError> {
    // Every address of the tenant's domains that receives mail: reserved, mailbox or alias.
    let mut known: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for d in declared {
        let names = known.entry(d.domain).or_default();
        names.extend(MAILBOXES);
        let mut seen = BTreeMap::new();
        for (i, local) in d.mail.mailboxes.iter().enumerate() {
            let field = format!("{}.mail.mailboxes[{i}]", d.field);
            check_local(&field, local, d.domain)?;
            if let Some(first) = seen.insert(local.as_str(), field.clone()) {
                return Err(invalid(
                    &field,
                    local,
                    &format!("repeats {first}"),
                    "each mailbox once",
                ));
            }
            names.insert(local);
        }
        for (i, alias) in d.mail.aliases.iter().enumerate() {
            let field = format!("{}.mail.aliases[{i}].name", d.field);
            check_local(&field, &alias.name, d.domain)?;
            if let Some(first) = seen.insert(alias.name.as_str(), field.clone()) {
                return Err(invalid(
                    &field,
                    &alias.name,
                    &format!("is already declared at {first}"),
                    "a name that is neither a mailbox nor another alias of the domain",
                ));
            }
            names.insert(&alias.name);
        }
    }
    declared
        .iter()
        .map(|d| {
            let aliases = d
                .mail
                .aliases
                .iter()
                .enumerate()
                .map(|(i, alias)| {
                    let field = format!("{}.mail.aliases[{i}].to", d.field);
                    let targets = targets(&field, &alias.name, &alias.to, d.domain, &known)?;
                    Ok((alias.name.clone(), targets))
                })
                .collect::<Result<_, PlanError>>()?;
            Ok(ValidMail {
                mailboxes: d.mail.mailboxes.clone(),
                aliases,
            })
        })
        .collect()
}

/// An alias's targets as full ASCII addresses.
fn targets(
    field: &str,
    name: &str,
    to: &[String],
    domain: &str,
    known: &BTreeMap<&str, BTreeSet<&str>>,
) -> Result<Vec<String>, PlanError> {
    if to.is_empty() || to.len() > 20 {
        return Err(invalid(
            field,
            &to.join(","),
            &format!("has {} addresses", to.len()),
            "1 to 20 addresses",
        ));
    }
    let self_address = format!("{name}@{domain}");
    let mut out: Vec<String> = Vec::with_capacity(to.len());
    for (j, target) in to.iter().enumerate() {
        let field = format!("{field}[{j}]");
        let (local, target_domain) = match target.split_once('@') {
            None => (target.as_str(), domain.to_owned()),
            Some((local, d)) => (local, parse_domain(&field, d)?.ascii),
        };
        let ours = known.get(target_domain.as_str());
        let local_ok = if ours.is_some() {
            is_local_part(local)
        } else {
            // Outside the tenant: any dot-atom local part (RFC 5322) the other side accepts.
            !local.is_empty()
                && local.len() <= MAX_LOCAL_PART
                && local.split('.').all(|a| {
                    !a.is_empty()
                        && a.bytes().all(|b| {
                            b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&b)
                        })
                })
        };
        if !local_ok {
            return Err(invalid(
                &field,
                target,
                "is not a mail address",
                "a local part of the domain, or local@domain",
            ));
        }
        if let Some(names) = ours
            && !names.contains(local)
        {
            return Err(invalid(
                &field,
                target,
                &format!("names no mailbox or alias of {target_domain}"),
                &format!(
                    "one of {}",
                    names.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let address = format!("{local}@{target_domain}");
        if address == self_address {
            return Err(invalid(
                &field,
                target,
                "is the alias itself",
                "another address",
            ));
        }
        if out.contains(&address) {
            return Err(invalid(
                &field,
                target,
                "is listed twice",
                "each address once",
            ));
        }
        out.push(address);
    }
    Ok(out)
}
