//! Bounded background generation of DKIM keys. An RSA-2048 key costs about a tenth of a second
//! of CPU: generating it inside a reconcile would stall that worker and, with a thousand new
//! tenants, the whole controller. Instead a reconcile asks for the key and goes on (the
//! tenant's mail waits, `MailReady=False`, reason `DkimKeyPending`); a few dedicated threads
//! generate the keys at the lowest CPU priority, so they only use what the reconciles leave,
//! and a finished key is stored in the tenant's Secret by `tenant::store_keys` (or, failing
//! that, by a reconcile of the tenant).

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use kube::runtime::reflector::ObjectRef;

use super::credentials::{self, DkimKeyPair};
use crate::api::Tenant;

enum Slot {
    Pending,
    Ready(DkimKeyPair),
    /// Taken, to be written into its Secret: until the Secret cache shows it (`forget`), a
    /// caller that does not see it yet waits rather than generating another key.
    Taken,
}

type Keys = Arc<Mutex<HashMap<String, Slot>>>;

/// The generator every reconcile shares.
pub struct DkimKeys {
    keys: Keys,
    /// `(secret, tenant)` to generate, taken by the key threads.
    jobs: Mutex<mpsc::Sender<(String, String)>>,
}

impl DkimKeys {
    /// A generator with `threads` key threads, and the stream of tenants whose key became
    /// ready (the controller reconciles them). The threads end when the generator is dropped.
    pub fn new(threads: usize) -> (Arc<DkimKeys>, UnboundedReceiver<ObjectRef<Tenant>>) {
        let (wake, woken) = unbounded();
        let (jobs, queue) = mpsc::channel();
        let queue = Arc::new(Mutex::new(queue));
        let keys = Keys::default();
        for i in 0..threads.max(1) {
            let (queue, keys, wake) = (queue.clone(), keys.clone(), wake.clone());
            std::thread::Builder::new()
                .name(format!("dkim-keygen-{i}"))
                .spawn(move || generate(&queue, &keys, &wake))
                .expect("a DKIM key thread starts");
        }
        let keys = DkimKeys {
            keys,
            jobs: Mutex::new(jobs),
        };
        (Arc::new(keys), woken)
    }

    /// The key generated for `secret` (`namespace/name`) of `tenant`, taken out of the
    /// generator; `None` while it is being generated (a first call starts it).
    pub fn take_or_start(&self, secret: &str, tenant: &str) -> Option<DkimKeyPair> {
        let mut keys = self.keys.lock().expect("dkim keys lock");
        match keys.remove(secret) {
            Some(Slot::Ready(pair)) => {
                keys.insert(secret.to_owned(), Slot::Taken);
                return Some(pair);
            }
            Some(slot @ (Slot::Pending | Slot::Taken)) => {
                keys.insert(secret.to_owned(), slot);
                return None;
            }
            None => {}
        }
        keys.insert(secret.to_owned(), Slot::Pending);
        drop(keys);
        let job = (secret.to_owned(), tenant.to_owned());
        if self.jobs.lock().expect("dkim jobs lock").send(job).is_err() {
            // No thread left (they only end with the generator): the next reconcile retries.
            self.keys.lock().expect("dkim keys lock").remove(secret);
        }
        None
    }

    /// A key taken but not stored (the write failed): the next `take_or_start` gets it again.
    pub fn give_back(&self, secret: &str, pair: DkimKeyPair) {
        self.keys
            .lock()
            .expect("dkim keys lock")
            .insert(secret.to_owned(), Slot::Ready(pair));
    }

    /// The Secret `secret` holds its key (the cache shows it): nothing is kept for it any
    /// more, and a later request (the Secret lost, then acknowledged) generates a new key.
    pub fn forget(&self, secret: &str) {
        let mut keys = self.keys.lock().expect("dkim keys lock");
        if matches!(keys.get(secret), Some(Slot::Taken)) {
            keys.remove(secret);
        }
    }
}

/// One key thread: lowers its own priority, then generates the keys asked for, one at a time.
fn generate(
    queue: &Mutex<mpsc::Receiver<(String, String)>>,
    keys: &Keys,
    wake: &UnboundedSender<ObjectRef<Tenant>>,
) {
    lowest_priority();
    loop {
        let job = queue.lock().expect("dkim queue lock").recv();
        let Ok((secret, tenant)) = job else {
            return;
        };
        match std::panic::catch_unwind(credentials::dkim_key_pair) {
            Ok(pair) => {
                keys.lock()
                    .expect("dkim keys lock")
                    .insert(secret, Slot::Ready(pair));
            }
            Err(_) => {
                tracing::error!(%secret, "DKIM key generation failed; retrying on the next reconcile");
                keys.lock().expect("dkim keys lock").remove(&secret);
            }
        }
        let _ = wake.unbounded_send(ObjectRef::new(&tenant));
    }
}

/// Nice 19 for the calling thread (on Linux the nice value is per thread): the reconciles,
/// the watches and the health endpoints always come first.
fn lowest_priority() {
    #[cfg(unix)]
    if let Err(err) = rustix::process::nice(19) {
        tracing::warn!(%err, "cannot lower the DKIM key thread's priority");
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
        // Taken, on its way to the Secret: a caller whose cache does not show it yet waits,
        // and no second key is generated.
        assert!(keys.take_or_start("ns/mail-dkim", "t1").is_none());
        assert!(matches!(
            keys.keys.lock().unwrap().get("ns/mail-dkim"),
            Some(Slot::Taken)
        ));
        // A key whose write failed is given back, and taken again by the next attempt.
        let public = pair.public_base64.clone();
        keys.give_back("ns/mail-dkim", pair);
        let again = keys
            .take_or_start("ns/mail-dkim", "t1")
            .expect("given back");
        assert_eq!(again.public_base64, public);
        // Once the Secret is seen to hold it, nothing is kept; a later request starts anew.
        keys.forget("ns/mail-dkim");
        assert!(keys.keys.lock().unwrap().is_empty());
        assert!(keys.take_or_start("ns/mail-dkim", "t1").is_none());
        assert!(matches!(
            keys.keys.lock().unwrap().get("ns/mail-dkim"),
            Some(Slot::Pending)
        ));
    }

    /// The key threads run at the lowest priority, and only them.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_key_threads_run_at_the_lowest_priority() {
        let own_nice = || {
            let own = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
            let after = own[own.rfind(')').unwrap() + 2..].to_owned();
            after.split(' ').nth(16).unwrap().to_owned()
        };
        let before = own_nice();
        let (keys, mut woken) = DkimKeys::new(1);
        assert!(keys.take_or_start("ns/mail-dkim", "t1").is_none());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(60), woken.next()).await;
        let nice_of = |name: &str| -> Option<i64> {
            std::fs::read_dir("/proc/self/task")
                .ok()?
                .flatten()
                .find_map(|task| {
                    let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
                    if comm.trim() != name {
                        return None;
                    }
                    let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
                    // Field 19 of /proc/[tid]/stat, counted after the command's closing parenthesis.
                    let after = &stat[stat.rfind(')')? + 2..];
                    after.split(' ').nth(16)?.parse().ok()
                })
        };
        assert_eq!(nice_of("dkim-keygen-0"), Some(19));
        assert_eq!(own_nice(), before, "the caller keeps its priority");
    }
}
