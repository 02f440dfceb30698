//! Who owns a domain when two tenants name it. A domain (a tenant's own or a member's) is one
//! DNS zone, one mail domain and one website: two tenants serving it would fight over it. The
//! first claimant keeps it: the older Tenant by creation time, ties broken by name; a later one
//! is refused until it drops the domain or the first one goes away. Domains are compared in
//! IDNA ASCII form, case-insensitively, so `Sallebœuf.fr` and `xn--sallebuf-ptb.fr` collide.

use std::collections::{BTreeSet, HashMap};

use crate::api::Tenant;

use super::error::PlanError;

/// One domain named by a tenant, in comparable form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The field that names it (`spec.domain`, `spec.members[2].domain`).
    pub field: String,
    /// As written.
    pub value: String,
    /// IDNA ASCII, lower case (the written value lower-cased when it is no valid domain:
    /// validation refuses it anyway, and it still must not shadow someone else's).
    pub key: String,
}

/// The comparable form of a domain.
pub fn domain_key(domain: &str) -> String {
    let trimmed = domain.trim().trim_end_matches('.');
    if trimmed.is_ascii() {
        // The common case, without IDNA processing: an ASCII name (punycode included) is its
        // own ASCII form, compared case-insensitively.
        return trimmed.to_ascii_lowercase();
    }
    idna::domain_to_ascii(trimmed)
        .unwrap_or_else(|_| trimmed.to_owned())
        .to_ascii_lowercase()
}

/// Every domain `tenant` names, its own first.
pub fn claims_of(tenant: &Tenant) -> Vec<Claim> {
    let own = std::iter::once(("spec.domain".to_owned(), &tenant.spec.domain));
    let members = tenant
        .spec
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("spec.members[{i}].domain"), &m.domain));
    own.chain(members)
        .map(|(field, value)| Claim {
            key: domain_key(value),
            field,
            value: value.clone(),
        })
        .collect()
}

/// Whether `a` claimed before `b`: older creation first (a tenant not yet stored, with no
/// creation time, comes last), then by name.
pub fn precedes(a: &Tenant, b: &Tenant) -> bool {
    order(a) < order(b)
}

fn order(t: &Tenant) -> (i64, String) {
    let created = t
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(i64::MAX, |ts| ts.0.as_second());
    (created, t.metadata.name.clone().unwrap_or_default())
}

/// The first domain of `tenant` that an earlier tenant of `others` already claims, as the
/// error `tenant` is refused with. `others` may hold `tenant` itself (it is skipped by name).
pub fn conflict<'a>(
    tenant: &Tenant,
    others: impl IntoIterator<Item = &'a Tenant>,
) -> Option<PlanError> {
    let name = tenant.metadata.name.as_deref().unwrap_or_default();
    let mine = claims_of(tenant);
    let mut earlier: Vec<&Tenant> = others
        .into_iter()
        .filter(|o| o.metadata.name.as_deref() != Some(name) && precedes(o, tenant))
        .collect();
    // The oldest claimant is named, whatever order the caller's store gives.
    earlier.sort_by_key(|t| order(t));
    for claim in &mine {
        for other in &earlier {
            if let Some(theirs) = claims_of(other).into_iter().find(|c| c.key == claim.key) {
                return Some(PlanError::DomainConflict {
                    field: claim.field.clone(),
                    value: super::domain::shorten(&claim.value),
                    other: other.metadata.name.clone().unwrap_or_default(),
                    other_field: theirs.field,
                });
            }
        }
    }
    None
}

/// Every tenant's claims, indexed by domain, so that a check costs the tenant's own domains
/// rather than a scan of every tenant. The reconciler keeps one up to date from the Tenant
/// watch; the offline commands build one from their input.
#[derive(Debug, Default)]
pub struct ClaimIndex {
    /// Domain key → claimants, earliest first: (order, tenant, field).
    by_domain: HashMap<String, BTreeSet<(Order, String)>>,
    /// Tenant → its claims as indexed, for removal.
    by_tenant: HashMap<String, (Order, Vec<Claim>)>,
}

type Order = (i64, String);

impl ClaimIndex {
    /// An index of `tenants`.
    pub fn of<'a>(tenants: impl IntoIterator<Item = &'a Tenant>) -> Self {
        let mut index = ClaimIndex::default();
        for t in tenants {
            index.upsert(t);
        }
        index
    }

    /// Adds or replaces the claims of `tenant`.
    pub fn upsert(&mut self, tenant: &Tenant) {
        let name = tenant.metadata.name.clone().unwrap_or_default();
        self.remove(&name);
        let order = order(tenant);
        let claims = claims_of(tenant);
        for c in &claims {
            self.by_domain
                .entry(c.key.clone())
                .or_default()
                .insert((order.clone(), c.field.clone()));
        }
        self.by_tenant.insert(name, (order, claims));
    }

    /// Forgets the claims of the tenant named `name`.
    pub fn remove(&mut self, name: &str) {
        let Some((order, claims)) = self.by_tenant.remove(name) else {
            return;
        };
        for c in claims {
            if let Some(set) = self.by_domain.get_mut(&c.key) {
                set.remove(&(order.clone(), c.field));
                if set.is_empty() {
                    self.by_domain.remove(&c.key);
                }
            }
        }
    }

    /// Forgets everything (the watch starts over).
    pub fn clear(&mut self) {
        self.by_domain.clear();
        self.by_tenant.clear();
    }

    /// Keeps only the tenants whose name passes `keep`.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let gone: Vec<String> = self
            .by_tenant
            .keys()
            .filter(|n| !keep(n))
            .cloned()
            .collect();
        for name in gone {
            self.remove(&name);
        }
    }

    /// The first domain of `tenant` that an earlier tenant claims, as in [`conflict`].
    pub fn conflict(&self, tenant: &Tenant) -> Option<PlanError> {
        let me = order(tenant);
        for claim in claims_of(tenant) {
            let Some(claimants) = self.by_domain.get(&claim.key) else {
                continue;
            };
            if let Some(((_, other), other_field)) = claimants
                .iter()
                .find(|((_, name), _)| *name != me.1)
                .filter(|(o, _)| *o < me)
            {
                return Some(PlanError::DomainConflict {
                    field: claim.field,
                    value: super::domain::shorten(&claim.value),
                    other: other.clone(),
                    other_field: other_field.clone(),
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn tenant(name: &str, created: Option<i64>, domain: &str, members: &[&str]) -> Tenant {
        let mut yaml = format!(
            "apiVersion: mutualis.io/v1alpha1\nkind: Tenant\nmetadata: {{name: {name}}}\nspec:\n  catalogRef: c\n  tier: t\n  displayName: {name}\n  domain: {domain}\n  members: ["
        );
        for m in members {
            yaml.push_str(&format!("{{displayName: m, domain: {m}}}, "));
        }
        yaml.push_str("]\n");
        let mut t: Tenant = serde_saphyr::from_str(&yaml).unwrap();
        t.metadata.creation_timestamp =
            created.map(|s| Time(k8s_openapi::jiff::Timestamp::from_second(s).unwrap()));
        t
    }

    #[test]
    fn the_older_tenant_keeps_its_domain() {
        let a = tenant("zeta", Some(100), "shared.fr", &[]);
        let b = tenant("alpha", Some(200), "alpha.fr", &["Shared.FR"]);
        assert_eq!(conflict(&a, [&a, &b]), None);
        let err = conflict(&b, [&a, &b]).unwrap();
        assert_eq!(err.reason(), "DomainConflict");
        let text = err.to_string();
        assert!(
            text.starts_with("spec.members[0].domain: ")
                && text.contains("Tenant \"zeta\"")
                && text.contains("spec.domain"),
            "{text}"
        );
    }

    #[test]
    fn ties_go_by_name_and_unicode_meets_punycode() {
        let a = tenant("a", Some(100), "a.fr", &["sallebœuf.fr"]);
        let b = tenant("b", Some(100), "xn--sallebuf-ptb.fr", &[]);
        assert_eq!(conflict(&a, [&b]), None);
        assert!(conflict(&b, [&a]).is_some());
        // Member against member, and tenants offline (no creation time) order by name.
        let c = tenant("c", None, "c.fr", &["x.fr"]);
        let d = tenant("d", None, "d.fr", &["X.fr"]);
        assert_eq!(conflict(&c, [&d]), None);
        assert!(
            conflict(&d, [&c])
                .unwrap()
                .to_string()
                .contains("spec.members[0].domain")
        );
    }

    #[test]
    fn the_index_agrees_with_the_pairwise_check() {
        let a = tenant("a", Some(100), "a.fr", &["shared.fr"]);
        let b = tenant("b", Some(200), "Shared.fr", &[]);
        let c = tenant("c", Some(50), "c.fr", &[]);
        let mut index = ClaimIndex::of([&a, &b, &c]);
        for t in [&a, &b, &c] {
            assert_eq!(
                index.conflict(t),
                conflict(t, [&a, &b, &c]),
                "{:?}",
                t.metadata.name
            );
        }
        assert!(index.conflict(&b).is_some());
        // The first claimant goes: the second proceeds.
        index.remove("a");
        assert_eq!(index.conflict(&b), None);
        // An edit moves a tenant's claims.
        let a2 = tenant("a", Some(100), "a.fr", &["shared.fr", "other.fr"]);
        index.upsert(&a2);
        assert!(index.conflict(&b).is_some());
        let a3 = tenant("a", Some(100), "a.fr", &[]);
        index.upsert(&a3);
        assert_eq!(index.conflict(&b), None);
        index.clear();
        assert_eq!(index.conflict(&a2), None);
    }

    #[test]
    fn distinct_domains_do_not_conflict() {
        let a = tenant("a", Some(1), "a.fr", &["m.a.fr"]);
        let b = tenant("b", Some(2), "b.fr", &["a.fr.example"]);
        assert_eq!(conflict(&b, [&a]), None);
    }
}
