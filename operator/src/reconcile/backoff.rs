//! The retry delay of a failing tenant, and the `Progressing` condition while it retries.
//!
//! Exponential backoff per tenant (1 s, 2 s, 4 s ... 300 s; a request the API server rejected
//! starts at 30 s), reset by success and by progress: a reconcile that wrote some objects before
//! it failed moved the tenant forward, so a cluster that fails one request in ten still converges
//! at the short delay instead of climbing to five minutes.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::ResourceExt;

use super::controller::Context;
use super::error::{Category, Error, Result};
use super::report::{known_status, write_status};
use super::status::{self, Verdict};
use crate::api::conditions::reasons;
use crate::api::{Tenant, TenantStatus};

/// The condition type of a reconcile under way or being retried.
pub const PROGRESSING: &str = "Progressing";
/// Longest delay between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(300);

tokio::task_local! {
    /// Writes of the reconcile running on this task (see [`count_writes`]).
    static WRITES: Cell<u32>;
}

/// Runs `reconcile` counting the writes it makes through [`wrote`]; returns both.
pub async fn count_writes<T>(reconcile: impl Future<Output = T>) -> (T, u32) {
    WRITES
        .scope(Cell::new(0), async {
            let out = reconcile.await;
            (out, WRITES.with(Cell::get))
        })
        .await
}

/// Counts one write of the current reconcile (no-op outside [`count_writes`]).
pub fn wrote() {
    let _ = WRITES.try_with(|w| w.set(w.get().saturating_add(1)));
}

/// Consecutive failures per tenant, and the delay the last one asked for.
#[derive(Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, (u32, Duration)>>,
}

impl Backoff {
    /// Records a failed reconcile and returns how long to wait before the next one. A reconcile
    /// that `progressed` (wrote something) counts as the first failure, not the next one.
    pub fn failed(&self, tenant: &str, category: Category, progressed: bool) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let entry = failures
            .entry(tenant.to_owned())
            .or_insert((0, Duration::ZERO));
        entry.0 = if progressed {
            1
        } else {
            entry.0.saturating_add(1)
        };
        entry.1 = delay(category, entry.0);
        entry.1
    }

    /// The delay the last failure of `tenant` asked for (the shortest if none was recorded).
    pub fn current(&self, tenant: &str) -> Duration {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .map_or(Duration::from_secs(1), |(_, d)| *d)
    }

    /// The tenant reconciled: the next failure starts from the shortest delay again.
    pub fn succeeded(&self, tenant: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(tenant);
    }

    /// Consecutive failures of `tenant` so far.
    pub fn failures(&self, tenant: &str) -> u32 {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .map_or(0, |(n, _)| *n)
    }
}

/// The delay after the `n`-th consecutive failure (n ≥ 1).
pub fn delay(category: Category, n: u32) -> Duration {
    let base = match category {
        Category::Transient => 1u64,
        Category::Rejected => 30,
    };
    let secs = base.saturating_mul(1 << n.saturating_sub(1).min(9));
    Duration::from_secs(secs).min(MAX_DELAY)
}

/// `Progressing` true with reason `Reconciling` while a failed reconcile is retried; every
/// other condition stays as it was (the services keep running as last applied).
pub async fn report_retrying(tenant: &Tenant, ctx: &Context, err: &Error) -> Result<()> {
    let old = known_status(tenant, ctx);
    let verdict = Verdict::new(
        PROGRESSING,
        true,
        reasons::RECONCILING,
        format!(
            "a reconcile failed and is retried with backoff: {}",
            crate::plan::domain::shorten(&err.to_string())
        ),
    );
    let mut conds = status::conditions(&old.conditions, &[verdict], tenant.metadata.generation);
    conds.extend(
        old.conditions
            .iter()
            .filter(|c| c.type_ != PROGRESSING)
            .cloned(),
    );
    let desired = TenantStatus {
        conditions: conds,
        ..old
    };
    tracing::debug!(tenant = %tenant.name_any(), "reporting Progressing");
    write_status(tenant, ctx, desired).await.map(|_| ())
}

/// `Progressing` false: the last reconcile applied everything.
pub fn done() -> Verdict {
    Verdict::new(
        PROGRESSING,
        false,
        reasons::RECONCILED,
        "the last reconcile applied the plan",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_five_minutes() {
        let d = |n| delay(Category::Transient, n).as_secs();
        assert_eq!([d(1), d(2), d(3), d(4)], [1, 2, 4, 8]);
        assert_eq!(d(9), 256);
        assert_eq!(d(10), 300);
        assert_eq!(d(u32::MAX), 300);
        assert_eq!(delay(Category::Rejected, 1).as_secs(), 30);
        assert_eq!(delay(Category::Rejected, 5).as_secs(), 300);
    }

    #[test]
    fn progress_resets_the_backoff() {
        let b = Backoff::default();
        for _ in 0..8 {
            b.failed("a", Category::Transient, false);
        }
        assert_eq!(
            b.failed("a", Category::Transient, false),
            Duration::from_secs(256)
        );
        // A failing reconcile that wrote objects made progress: back to the shortest delay.
        assert_eq!(
            b.failed("a", Category::Transient, true),
            Duration::from_secs(1)
        );
        assert_eq!(
            b.failed("a", Category::Transient, false),
            Duration::from_secs(2)
        );
        // Tenants back off independently; success forgets.
        assert_eq!(
            b.failed("b", Category::Transient, false),
            Duration::from_secs(1)
        );
        b.succeeded("a");
        assert_eq!(b.failures("a"), 0);
        assert_eq!(b.failures("b"), 1);
    }

    #[test]
    fn ten_percent_errors_never_reach_the_cap_when_each_attempt_progresses() {
        // Every attempt writes some objects before one of them fails.
        let b = Backoff::default();
        let worst = (0..100)
            .map(|_| b.failed("t", Category::Transient, true))
            .max()
            .unwrap();
        assert_eq!(worst, Duration::from_secs(1));
    }

    #[tokio::test]
    async fn writes_are_counted_per_reconcile() {
        let ((), n) = count_writes(async {
            wrote();
            wrote();
        })
        .await;
        assert_eq!(n, 2);
        wrote(); // outside a reconcile: nothing to count, no panic
    }
}
