//! Bounded background generation of DKIM keys. An RSA-2048 key costs tens to hundreds of
//! milliseconds of CPU: generating it inside a reconcile would stall that worker and, with a
//! thousand new tenants, the whole controller. Instead a reconcile asks for the key and goes on
//! (the tenant's mail waits, `MailReady=False`, reason `DkimKeyPending`); at most `parallel`
//! keys are generated at once on blocking threads, and a finished key wakes its tenant's
//! reconcile, which stores it in the tenant's Secret.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use kube::runtime::reflector::ObjectRef;
use tokio::sync::Semaphore;

use super::credentials::{self, DkimKeyPair};
use crate::api::Tenant;

enum Slot {
    Pending,
    Ready(DkimKeyPair),
}

/// The generator every reconcile shares.
pub struct DkimKeys {
    slots: Arc<Semaphore>,
    keys: Arc<Mutex<HashMap<String, Slot>>>,
    wake: UnboundedSender<ObjectRef<Tenant>>,
}

impl DkimKeys {
    /// A generator running at most `parallel` generations at once, and the stream of tenants
    /// whose key became ready (the controller reconciles them).
    pub fn new(parallel: usize) -> (Arc<DkimKeys>, UnboundedReceiver<ObjectRef<Tenant>>) {
        let (wake, woken) = unbounded();
        let keys = DkimKeys {
            slots: Arc::new(Semaphore::new(parallel.max(1))),
            keys: Arc::default(),
            wake,
        };
        (Arc::new(keys), woken)
    }

    /// The key generated for `secret` (`namespace/name`) of `tenant`, taken out of the
    /// generator; `None` while it is being generated (a first call starts it).
    pub fn take_or_start(&self, secret: &str, tenant: &str) -> Option<DkimKeyPair> {
        let mut keys = self.keys.lock().expect("dkim keys lock");
        match keys.remove(secret) {
            Some(Slot::Ready(pair)) => return Some(pair),
            Some(Slot::Pending) => {
                keys.insert(secret.to_owned(), Slot::Pending);
                return None;
            }
            None => {}
        }
        keys.insert(secret.to_owned(), Slot::Pending);
        drop(keys);
        let (slots, keys, wake) = (self.slots.clone(), self.keys.clone(), self.wake.clone());
        let (secret, tenant) = (secret.to_owned(), tenant.to_owned());
        tokio::spawn(async move {
            let Ok(_permit) = slots.acquire_owned().await else {
                return;
            };
            match tokio::task::spawn_blocking(credentials::dkim_key_pair).await {
                Ok(pair) => {
                    keys.lock()
                        .expect("dkim keys lock")
                        .insert(secret, Slot::Ready(pair));
                }
                Err(err) => {
                    tracing::error!(%secret, %err, "DKIM key generation failed; retrying on the next reconcile");
                    keys.lock().expect("dkim keys lock").remove(&secret);
                }
            }
            let _ = wake.unbounded_send(ObjectRef::new(&tenant));
        });
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_key_is_generated_once_in_the_background_and_wakes_its_tenant() {
        let (keys, mut woken) = DkimKeys::new(1);
        assert!(keys.take_or_start("ns/mail-dkim", "t1").is_none());
        // Asking again while it is generated starts nothing new.
        assert!(keys.take_or_start("ns/mail-dkim", "t1").is_none());
        let tenant = tokio::time::timeout(std::time::Duration::from_secs(60), woken.next())
            .await
            .expect("a key within a minute")
            .unwrap();
        assert_eq!(tenant.name, "t1");
        let pair = keys
            .take_or_start("ns/mail-dkim", "t1")
            .expect("the key is ready");
        assert!(pair.private_pem.contains("PRIVATE KEY"));
        // Taken: a later request would generate a new key (the Secret holds this one).
        assert!(keys.keys.lock().unwrap().is_empty());
    }
}
