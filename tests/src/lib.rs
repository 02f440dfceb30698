//! Shared helpers of the end-to-end tests: where the workspace and the external tools are,
//! running a command with a deadline, parsing rendered manifests, the development cluster, and
//! the RBAC coverage check that compares the chart's rules with the requests the operator made.

pub mod chart;
pub mod cluster;
pub mod manifests;
pub mod rbac;
mod tools;

pub use tools::{
    Output, TOOLS_BIN_ENV, find_tool, in_ci, require_tool, run, run_with_timeout, workspace_root,
};
