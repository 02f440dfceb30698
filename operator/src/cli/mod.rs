//! The offline commands: `render`, `plan` and `crd`. They read files, call the pure plan and
//! print; nothing here talks to a cluster.

pub mod crd;
