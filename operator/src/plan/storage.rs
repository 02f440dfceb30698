//! How a tier's storage splits into volumes. The catalogue gives each service a percentage;
//! each volume is floored to whole GiB, so the PVCs of a tenant never add up to more than
//! the tier. A disabled service's share stays unallocated rather than being redistributed:
//! switching a service on or off must not resize the others' volumes.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::api::{Services, StorageSplit};

use super::Service;
use super::error::PlanError;
use super::quantity::{floor_gib, format_bytes};

/// PVC names, one per volume.
pub const MAIL_PVC: &str = "mail-data";
pub const WEBSITE_PVC: &str = "website-content";
pub const NEXTCLOUD_PVC: &str = "nextcloud-data";
pub const POSTGRES_PVC: &str = "postgres-data";
pub const NAS_PVC: &str = "nas-data";

/// Share of the collaboration allocation given to its PostgreSQL database, percent.
const DATABASE_SHARE: u64 = 10;
/// No volume is created smaller than this.
const MIN_VOLUME: u64 = 1024 * 1024 * 1024;

/// One PersistentVolumeClaim's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub service: Service,
    pub pvc: String,
    pub bytes: u64,
    /// The PVC's `resources.requests.storage`.
    pub quantity: String,
}

/// The tenant's storage: the tier and each volume carved from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageAllocation {
    /// The tier's storage as the catalogue writes it (the ResourceQuota's `requests.storage`).
    pub tier: String,
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
            *bytes.entry(v.service.as_str()).or_default() += v.bytes;
        }
        bytes
            .into_iter()
            .map(|(s, b)| (s.to_owned(), format_bytes(b)))
            .collect()
    }

    /// The size of a PVC by name (for the reconciler's shrink check).
    pub fn volume(&self, pvc: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.pvc == pvc)
    }
}

/// Splits `tier_bytes` across the enabled services.
pub(super) fn allocate(
    tier: &str,
    tier_bytes: u64,
    split: &StorageSplit,
    services: &Services,
    field: &str,
) -> Result<StorageAllocation, PlanError> {
    let share = |percent: u8| floor_gib(tier_bytes / 100 * u64::from(percent));
    let mut volumes = Vec::with_capacity(5);
    let mut push = |service: Service, pvc: &str, bytes: u64, percent: u8| {
        if bytes < MIN_VOLUME {
            return Err(PlanError::InvalidValue {
                field: format!("{field}.split.{}", service.as_str()),
                value: format!("{percent}%"),
                problem: format!(
                    "gives the {} volume {} of the {tier} tier while the service is enabled",
                    pvc,
                    format_bytes(bytes)
                ),
                allowed:
                    "a share of at least 1Gi per volume, or switch the service off in spec.services"
                        .into(),
            });
        }
        volumes.push(Volume {
            service,
            pvc: pvc.to_owned(),
            bytes,
            quantity: format_bytes(bytes),
        });
        Ok(())
    };
    if services.mail {
        push(Service::Mail, MAIL_PVC, share(split.mail), split.mail)?;
    }
    if services.website {
        push(
            Service::Website,
            WEBSITE_PVC,
            share(split.website),
            split.website,
        )?;
    }
    if services.collaboration {
        let all = share(split.collaboration);
        let database = floor_gib(all / 100 * DATABASE_SHARE).max(MIN_VOLUME.min(all / 2));
        push(
            Service::Collaboration,
            NEXTCLOUD_PVC,
            all - database,
            split.collaboration,
        )?;
        push(
            Service::Collaboration,
            POSTGRES_PVC,
            database,
            split.collaboration,
        )?;
    }
    if services.nas {
        push(Service::Nas, NAS_PVC, share(split.nas), split.nas)?;
    }
    Ok(StorageAllocation {
        tier: tier.to_owned(),
        tier_bytes,
        volumes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let a = allocate("t", tier, &split, &Services::default(), "tier").unwrap();
            assert!(a.total_bytes() <= tier, "{tier}: {}", a.total_bytes());
            assert_eq!(a.volumes.len(), 5);
        }
        let a = allocate("1Ti", TI, &split, &Services::default(), "tier").unwrap();
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
        let all = allocate("1Ti", TI, &split, &Services::default(), "tier").unwrap();
        let no_mail = Services {
            mail: false,
            ..Services::default()
        };
        let some = allocate("1Ti", TI, &split, &no_mail, "tier").unwrap();
        assert!(some.volume(MAIL_PVC).is_none());
        assert_eq!(some.volume(NAS_PVC), all.volume(NAS_PVC));
    }

    #[test]
    fn an_enabled_service_without_storage_is_refused() {
        let split = StorageSplit {
            mail: 0,
            website: 10,
            collaboration: 30,
            nas: 40,
        };
        let err = allocate("250Gi", 250 << 30, &split, &Services::default(), "tier")
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
