//! The catalogued services: the one list every layer loops over. Adding a sixth service is an
//! edit here that the compiler then asks for everywhere it matters (every `match` on
//! [`Service`] is exhaustive, and nothing else spells the services out).

use serde::Serialize;

/// One catalogued service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Mail,
    Website,
    Dns,
    Collaboration,
    Nas,
}

impl Service {
    /// Every service, in the order plans build them and status lists them.
    pub const ALL: [Service; 5] = [
        Service::Mail,
        Service::Website,
        Service::Dns,
        Service::Collaboration,
        Service::Nas,
    ];

    /// The name in the API (`spec.services.<name>`), the `mutualis.io/service` label value
    /// and the key of `status.storage`.
    pub const fn name(self) -> &'static str {
        match self {
            Service::Mail => "mail",
            Service::Website => "website",
            Service::Dns => "dns",
            Service::Collaboration => "collaboration",
            Service::Nas => "nas",
        }
    }

    /// The condition type reporting this service's readiness in `Tenant.status.conditions`.
    pub const fn ready_condition(self) -> &'static str {
        match self {
            Service::Mail => "MailReady",
            Service::Website => "WebsiteReady",
            Service::Dns => "DnsReady",
            Service::Collaboration => "CollaborationReady",
            Service::Nas => "NasReady",
        }
    }

    /// The service of a `mutualis.io/service` label value, if it is one.
    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_conditions_are_distinct_and_round_trip() {
        let mut names: Vec<_> = Service::ALL.iter().map(|s| s.name()).collect();
        let mut conditions: Vec<_> = Service::ALL.iter().map(|s| s.ready_condition()).collect();
        names.dedup();
        conditions.sort();
        conditions.dedup();
        assert_eq!(names.len(), Service::ALL.len());
        assert_eq!(conditions.len(), Service::ALL.len());
        for s in Service::ALL {
            assert_eq!(Service::from_name(s.name()), Some(s));
            assert!(
                s.ready_condition()
                    .starts_with(&s.name()[..1].to_uppercase())
            );
        }
        assert_eq!(Service::from_name("tenancy"), None);
    }
}
