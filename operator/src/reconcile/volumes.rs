//! The tenant's volumes against the cluster: a planned volume smaller than the live one is a
//! shrink (refused: it would lose data), a larger one grows in place, and a volume is ready once
//! bound at its planned size. Sizes are compared in bytes, as the plan typed them.

use super::children::VolumeState;
use super::compact::CompactCache;
use crate::api::conditions::reasons;
use crate::plan::Volume;
use crate::plan::quantity::format_bytes;

/// A planned volume and the size it has in the cluster now.
pub struct Change<'a> {
    pub volume: &'a Volume,
    pub live_bytes: u64,
}

fn live<'a>(
    volumes: &'a [Volume],
    namespace: &str,
    cache: &CompactCache<VolumeState>,
) -> impl Iterator<Item = Change<'a>> {
    volumes.iter().filter_map(move |v| {
        let live_bytes = cache.state(Some(namespace), v.pvc)?.requested?;
        Some(Change {
            volume: v,
            live_bytes,
        })
    })
}

/// Volumes the plan would make smaller than they are.
pub fn shrinking<'a>(
    volumes: &'a [Volume],
    namespace: &str,
    cache: &CompactCache<VolumeState>,
) -> Vec<Change<'a>> {
    live(volumes, namespace, cache)
        .filter(|c| c.volume.bytes < c.live_bytes)
        .collect()
}

/// Volumes the apply will grow.
pub fn growing<'a>(
    volumes: &'a [Volume],
    namespace: &str,
    cache: &CompactCache<VolumeState>,
) -> Vec<Change<'a>> {
    live(volumes, namespace, cache)
        .filter(|c| c.volume.bytes > c.live_bytes)
        .collect()
}

/// `mail-data from 100Gi to 50Gi, nas-data from …`: every volume named, none left out.
pub fn describe(changes: &[Change<'_>]) -> String {
    changes
        .iter()
        .map(|c| {
            format!(
                "{} from {} to {}",
                c.volume.pvc,
                format_bytes(c.live_bytes),
                c.volume.quantity()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The refusal message of a change that would shrink volumes.
pub fn shrink_refusal(tier: &str, shrunk: &[Change<'_>]) -> String {
    format!(
        "refused: spec.tier {tier:?} would shrink PersistentVolumeClaim {}; volumes cannot shrink without losing data. Choose a tier at least as large, or migrate the data first. Nothing was changed.",
        describe(shrunk)
    )
}

/// The note of the one `Resized` event of a reconcile: it names every volume grown, so an
/// event recorder that groups by reason and object can never hide one.
pub fn resized_note(grown: &[Change<'_>]) -> String {
    let what = if grown.len() == 1 {
        "PersistentVolumeClaim"
    } else {
        "PersistentVolumeClaims"
    };
    format!("{what} grown: {}", describe(grown))
}

/// Why a planned volume is not ready, if it is not: (reason, message).
pub fn problem(state: Option<VolumeState>, volume: &Volume) -> Option<(&'static str, String)> {
    let name = volume.pvc;
    let Some(v) = state else {
        return Some((
            reasons::VOLUME_PENDING,
            format!("PersistentVolumeClaim {name} is being created"),
        ));
    };
    let phase = v.phase.as_deref().unwrap_or("Pending");
    if phase != "Bound" {
        return Some((
            reasons::VOLUME_PENDING,
            format!("PersistentVolumeClaim {name} is {phase}"),
        ));
    }
    if v.capacity.is_none_or(|have| have < volume.bytes) {
        return Some((
            reasons::VOLUME_RESIZING,
            format!(
                "PersistentVolumeClaim {name} is being expanded from {} to {}",
                v.capacity
                    .map_or_else(|| "unknown".to_owned(), format_bytes),
                volume.quantity()
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Service;

    const GI: u64 = 1 << 30;

    fn vol(pvc: &'static str, gib: u64) -> Volume {
        Volume {
            service: Service::Mail,
            pvc,
            bytes: gib * GI,
        }
    }

    #[test]
    fn every_grown_volume_is_named_in_one_note() {
        let (a, b) = (vol("mail-data", 100), vol("nas-data", 400));
        let grown = [
            Change {
                volume: &a,
                live_bytes: 50 * GI,
            },
            Change {
                volume: &b,
                live_bytes: 200 * GI,
            },
        ];
        assert_eq!(
            resized_note(&grown),
            "PersistentVolumeClaims grown: mail-data from 50Gi to 100Gi, nas-data from 200Gi to 400Gi"
        );
    }

    #[test]
    fn a_volume_is_ready_only_bound_at_its_planned_size() {
        let v = vol("mail-data", 100);
        assert_eq!(problem(None, &v).unwrap().0, reasons::VOLUME_PENDING);
        let bound = |capacity| VolumeState {
            requested: Some(100 * GI),
            phase: Some("Bound".into()),
            capacity,
        };
        let (reason, message) = problem(Some(bound(Some(50 * GI))), &v).unwrap();
        assert_eq!(reason, reasons::VOLUME_RESIZING);
        assert!(message.contains("from 50Gi to 100Gi"), "{message}");
        assert!(problem(Some(bound(Some(100 * GI))), &v).is_none());
        assert!(problem(Some(bound(None)), &v).is_some());
    }
}
