//! Whether mutualis' CRDs are installed, as the controller's own watches see it: a list or
//! watch of Tenants or ServiceCatalogs answered 404 means the CRD is gone (deleted by hand, a
//! chart uninstall). That is an outage, not a quiet state: `/readyz` fails, a warning is logged
//! and `mutualis_crd_present{crd}` drops to 0 until a list succeeds again. No extra request and
//! no RBAC on CustomResourceDefinitions is needed.

use std::time::Duration;

use kube::api::ListParams;
use kube::runtime::watcher;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use crate::telemetry::Telemetry;

/// How often a missing CRD is looked for: a watch that restarts on an empty resource brings no
/// event that would say it is back.
const RECHECK: Duration = Duration::from_secs(2);

/// The Tenant CRD's name.
pub const TENANTS: &str = "tenants.mutualis.io";
/// The ServiceCatalog CRD's name.
pub const CATALOGS: &str = "servicecatalogs.mutualis.io";

/// Whether a watcher error says the resource does not exist.
pub fn is_not_found(err: &watcher::Error) -> bool {
    match err {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => {
            matches!(e, kube::Error::Api(s) if s.code == 404)
        }
        watcher::Error::WatchError(s) => s.code == 404,
        watcher::Error::NoResourceVersion => false,
    }
}

/// An inspector for the watch stream of `crd`'s resources, flipping its presence. While the
/// CRD is missing, a one-item list every few seconds (with `client`; none in unit tests) finds
/// it back.
pub fn observer<K>(
    crd: &'static str,
    telemetry: Telemetry,
    client: Option<Client>,
) -> impl FnMut(&Result<watcher::Event<K>, watcher::Error>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    telemetry.set_crd_present(crd, true);
    move |event| match event {
        Err(err) if is_not_found(err) => {
            if telemetry.set_crd_present(crd, false) {
                tracing::warn!(crd, error = %err, "the CustomResourceDefinition is missing: nothing is reconciled until it is installed again; /readyz fails meanwhile");
                if let Some(client) = &client {
                    tokio::spawn(look_for::<K>(crd, telemetry.clone(), client.clone()));
                }
            }
        }
        Err(_) => {}
        Ok(_) => {
            if telemetry.set_crd_present(crd, true) {
                tracing::info!(crd, "the CustomResourceDefinition is back");
            }
        }
    }
}

/// Lists one object of `K` until that works, then marks `crd` present again.
async fn look_for<K>(crd: &'static str, telemetry: Telemetry, client: Client)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client);
    while !telemetry.crd_present(crd) {
        tokio::time::sleep(RECHECK).await;
        if api.list(&ListParams::default().limit(1)).await.is_ok()
            && telemetry.set_crd_present(crd, true)
        {
            tracing::info!(crd, "the CustomResourceDefinition is back");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("x", "NotFound")
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn a_404_is_a_missing_crd_and_a_list_brings_it_back() {
        assert!(is_not_found(&watcher::Error::InitialListFailed(api_error(
            404
        ))));
        assert!(!is_not_found(&watcher::Error::InitialListFailed(
            api_error(500)
        )));
        let t = Telemetry::new();
        t.health.set_ready(true);
        let mut observe = observer::<crate::api::Tenant>(TENANTS, t.clone(), None);
        assert!(t.health.is_ready());
        observe(&Err(watcher::Error::WatchStartFailed(api_error(404))));
        assert!(!t.health.is_ready());
        assert!(
            t.metrics
                .render()
                .contains("mutualis_crd_present{crd=\"tenants.mutualis.io\"} 0")
        );
        observe(&Err(watcher::Error::WatchFailed(api_error(503))));
        assert!(!t.health.is_ready(), "another error changes nothing");
        observe(&Ok(watcher::Event::InitDone));
        assert!(t.health.is_ready());
        assert!(
            t.metrics
                .render()
                .contains("mutualis_crd_present{crd=\"tenants.mutualis.io\"} 1")
        );
    }
}
