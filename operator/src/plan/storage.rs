//! How a tier's storage splits into volumes. The catalogue gives each service a percentage;
//! each volume is floored to whole GiB, so the PVCs of a tenant never add up to more than
//! the tier. A disabled service's share stays unallocated rather than being redistributed:
//! switching a service on or off must not resize the others' volumes.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use super::error::PlanError;
use super::quantity::{floor_gib, format_bytes};
use crate::api::{Service, Services, StorageSplit};

/// No volume is created smaller than this.
const MIN_VOLUME: u64 = 1024 * 1024 * 1024;

/// How a volume takes its part of its service's allocation. Each service module declares its
/// volumes (`VOLUMES`) with one of these; [`allocate`] turns them into sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// This percentage of the service's allocation (at least 1Gi, at most half of it).
    Percent(u8),
    /// What the service's other volumes leave (every service has exactly one).
    Rest,
}

/// A volume a service asks for: the PVC's name and its share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeSpec {
    pub pvc: &'static str,
    pub share: Share,
}

/// One PersistentVolumeClaim of the plan, typed: the reconciler compares bytes, never strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub service: Service,
    pub pvc: &'static str,
    pub bytes: u64,
}

impl Volume {
    /// The size as a Kubernetes quantity (`100Gi`), the PVC's `resources.requests.storage`.
    pub fn quantity(&self) -> String {
        format_bytes(self.bytes)
    }
}

impl Serialize for Volume {
    /// `plan -o json|yaml` shows the quantity beside the bytes, for people.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut v = s.serialize_struct("Volume", 4)?;
        v.serialize_field("service", &self.service)?;
        v.serialize_field("pvc", self.pvc)?;
        v.serialize_field("bytes", &self.bytes)?;
        v.serialize_field("quantity", &self.quantity())?;
        v.end()
    }
}

/// The tenant's storage: the tier's total and each volume carved from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageAllocation {
    /// The tier's storage as the catalogue writes it (`1Ti`): the ResourceQuota's
    /// `requests.storage`. (The tier's *name*, `1tb`, is `Plan::tier`.)
    #[serde(rename = "tier")]
    pub tier_storage: String,
    pub tier_bytes: u64,
    pub volumes: Vec<Volume>,
}

impl StorageAllocation {
    /// Bytes of all volumes.
    pub fn total_bytes(&self) -> u64 {
        self.volumes.iter().map(|v| v.bytes).sum()
    }

    /// Service name → quantity, as `Tenant.status.storage` and `plan -o json` report it.
    pub fn by_service(&self) -> BTreeMap<String, String> {
        let mut bytes: BTreeMap<&str, u64> = BTreeMap::new();
        for v in &self.volumes {
            *bytes.entry(v.service.name()).or_default() += v.bytes;
        }
        bytes
            .into_iter()
            .map(|(s, b)| (s.to_owned(), format_bytes(b)))
            .collect()
    }

    /// The volume of a PVC by name.
    pub fn volume(&self, pvc: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.pvc == pvc)
    }

    /// The volume a service builder asked for. Every enabled service's volumes were allocated
    /// by `validate`, so a name the allocation does not know is a bug, not an input error.
    pub fn planned(&self, pvc: &str) -> &Volume {
        self.volume(pvc).unwrap_or_else(|| {
            panic!("bug: volume {pvc:?} was not allocated (is it in its service's VOLUMES?)")
        })
    }
}

/// Splits `tier_bytes` across the enabled services, each by the volumes it declares
/// (`volumes_of`).
pub(super) fn allocate(
    tier_storage: &str,
    tier_bytes: u64,
    split: &StorageSplit,
    services: &Services,
    volumes_of: fn(Service) -> &'static [VolumeSpec],
    field: &str,
) -> Result<StorageAllocation, PlanError> {
    let mut volumes = Vec::with_capacity(5);
    for service in services.enabled() {
        let Some(percent) = split.percent(service) else {
            continue;
        };
        let all = floor_gib(tier_bytes / 100 * u64::from(percent));
        let specs = volumes_of(service);
        let fixed = |p: u8| floor_gib(all / 100 * u64::from(p)).max(MIN_VOLUME.min(all / 2));
        let others: u64 = specs
            .iter()
            .filter_map(|v| match v.share {
                Share::Percent(p) => Some(fixed(p)),
                Share::Rest => None,
            })
            .sum();
        for spec in specs {
            let bytes = match spec.share {
                Share::Percent(p) => fixed(p),
                Share::Rest => all - others.min(all),
            };
            if bytes < MIN_VOLUME {
                return Err(PlanError::InvalidValue {
                    field: format!("{field}.split.{}", service.name()),
                    value: format!("{percent}%"),
                    problem: format!(
                        "gives the {} volume {} of the {tier_storage} tier while the service is enabled",
                        spec.pvc,
                        format_bytes(bytes)
                    ),
                    allowed: "a share of at least 1Gi per volume, or switch the service off in spec.services"
                        .into(),
                });
            }
            volumes.push(Volume {
                service,
                pvc: spec.pvc,
                bytes,
            });
        }
    }
    Ok(StorageAllocation {
        tier_storage: tier_storage.to_owned(),
        tier_bytes,
        volumes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::services::volumes_of;
    use crate::plan::services::{mail, nas};

    const TI: u64 = 1 << 40;

    #[test]
    fn volumes_never_exceed_the_tier() {
        let split = StorageSplit {
            mail: 20,
            website: 10,
            collaboration: 30,
            nas: 40,
        };
        for tier in [250u64 << 30, 500 << 30, TI, 3 * TI + 12345] {
            let a = allocate("t", tier, &split, &Services::default(), volumes_of, "tier").unwrap();
            assert!(a.total_bytes() <= tier, "{tier}: {}", a.total_bytes());
            assert_eq!(a.volumes.len(), 5);
        }
        let a = allocate("1Ti", TI, &split, &Services::default(), volumes_of, "tier").unwrap();
        let collaboration: u64 = a
            .volumes
            .iter()
            .filter(|v| v.service == Service::Collaboration)
            .map(|v| v.bytes)
            .sum();
        assert_eq!(a.by_service()["collaboration"], format_bytes(collaboration));
        assert_eq!(a.by_service()["nas"], "409Gi");
    }

    #[test]
    fn disabled_services_leave_their_share_unallocated() {
        let split = StorageSplit {
            mail: 20,
            website: 10,
            collaboration: 30,
            nas: 40,
        };
        let all = allocate("1Ti", TI, &split, &Services::default(), volumes_of, "tier").unwrap();
        let no_mail = Services {
            mail: false,
            ..Services::default()
        };
        let some = allocate("1Ti", TI, &split, &no_mail, volumes_of, "tier").unwrap();
        assert!(some.volume(mail::DATA_PVC).is_none());
        assert_eq!(some.volume(nas::DATA_PVC), all.volume(nas::DATA_PVC));
    }

    #[test]
    fn an_enabled_service_without_storage_is_refused() {
        let split = StorageSplit {
            mail: 0,
            website: 10,
            collaboration: 30,
            nas: 40,
        };
        let err = allocate(
            "250Gi",
            250 << 30,
            &split,
            &Services::default(),
            volumes_of,
            "tier",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("tier.split.mail")
                && err.contains("0%")
                && err.contains("switch the service off"),
            "{err}"
        );
    }
}
