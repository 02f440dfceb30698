//! The I/O end of the pipeline (docs/architecture.md): the controller that turns each Tenant's plan into
//! cluster objects (server-side apply, prune), observes them into the Tenant's status, and runs
//! the deletion policy. Everything it decides from is in its caches; only writes go to the API.

pub mod apply;
pub mod backoff;
pub mod backup_jobs;
pub mod backup_key;
pub mod backups;
pub mod children;
pub mod cleanup;
pub mod compact;
pub mod controller;
pub mod crds;
pub mod credentials;
pub mod error;
pub mod fence;
pub mod guards;
pub mod inputs;
pub mod keygen;
pub mod leader;
pub mod losses;
pub mod panics;
pub mod report;
pub mod secrets;
pub mod status;
pub mod tenant;
pub mod volumes;
