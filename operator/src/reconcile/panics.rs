//! A panic in one tenant's reconcile (a bug) must not take the operator, and every other
//! tenant, down with it. The controller runs each reconcile through [`guarded`]: a panic becomes
//! `Valid=False`/`Ready=False` with reason `ReconcileFailed` on that tenant alone, a Warning
//! event, a count in `mutualis_reconcile_panics_total`, and a slow retry.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::FutureExt;
use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::controller::Context;
use super::error::Result;
use super::report::{Refusal, refuse};
use crate::api::Tenant;
use crate::api::conditions::reasons;

/// Annotation that makes the reconcile of its Tenant panic, for the end-to-end tests of this
/// module. Honoured only when the operator runs with `MUTUALIS_TEST_HOOKS=1`; a production
/// operator ignores it, so a tenant's author cannot use it to do anything.
pub const TEST_PANIC_ANNOTATION: &str = "mutualis.io/test-panic";
/// Environment variable that turns the test hooks on.
pub const TEST_HOOKS_ENV: &str = "MUTUALIS_TEST_HOOKS";

/// How soon a tenant whose reconcile panicked is tried again (an edit retries at once).
const RETRY_AFTER_PANIC: Duration = Duration::from_secs(300);

fn test_hooks() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var(TEST_HOOKS_ENV).is_ok_and(|v| v == "1"))
}

/// Panics when the test hook asks for it (see [`TEST_PANIC_ANNOTATION`]).
fn test_hook(tenant: &Tenant) {
    if test_hooks() && tenant.annotations().contains_key(TEST_PANIC_ANNOTATION) {
        panic!(
            "test hook {TEST_PANIC_ANNOTATION} on Tenant {}",
            tenant.name_any()
        );
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without message".to_owned())
}

/// Runs the reconcile of `tenant`, turning a panic into a report on that tenant.
pub async fn guarded<F>(tenant: Arc<Tenant>, ctx: Arc<Context>, reconcile: F) -> Result<Action>
where
    F: Future<Output = Result<Action>>,
{
    let run = async {
        test_hook(&tenant);
        reconcile.await
    };
    // The reconcile holds no lock across an await, and what it shares (caches, records) is
    // updated whole or not at all: nothing is left half-done for the next reconcile to trip on.
    match AssertUnwindSafe(run).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            let name = tenant.name_any();
            ctx.telemetry.metrics.panicked();
            tracing::error!(tenant = %name, panic = %message, "reconcile panicked; the other tenants go on");
            let refusal = Refusal {
                reason: reasons::RECONCILE_FAILED,
                message: format!(
                    "the operator failed on this tenant (a bug: {}); nothing more was changed. Report it with the operator's logs; the operator retries every {} s and on every edit",
                    crate::plan::domain::shorten(&message),
                    RETRY_AFTER_PANIC.as_secs()
                ),
            };
            // The status write itself may fail (API down): retry sooner then.
            match AssertUnwindSafe(refuse(&tenant, &ctx, refusal))
                .catch_unwind()
                .await
            {
                Ok(Ok(())) => Ok(Action::requeue(RETRY_AFTER_PANIC)),
                Ok(Err(err)) => Err(err),
                Err(_) => Ok(Action::requeue(RETRY_AFTER_PANIC)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_payloads_are_read() {
        let p = std::panic::catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "static");
        let n = 3;
        let p = std::panic::catch_unwind(|| panic!("formatted {n}")).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "formatted 3");
    }
}
