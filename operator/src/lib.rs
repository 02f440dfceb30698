//! mutualis: provisions a syndicate's pooled digital services (mail, websites, DNS,
//! collaborative space, NAS) for each subscribing `Tenant`, sized to its tier.
//!
//! Data flows one way: [`api`] ← `plan` ← reconcile ← `main`. `plan` is pure.

pub mod api;
pub mod cli;
pub mod plan;
pub mod reconcile;
pub mod telemetry;
