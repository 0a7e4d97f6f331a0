//! The integration tests: one binary, a module per concern (as ripgrep's
//! tests/tests.rs and just's tests/lib.rs). Every test runs the built
//! stagerun against real parts: a real sshd on loopback, the real Docker
//! engine, real podman, real git, real signals. tests/memory.rs stays a
//! binary of its own (it reads the peak RSS of its children).

mod common;

mod architecture;
mod ci_files;
mod cli_settings;
mod config;
mod dist;
mod dist_image;
mod e2e_docker;
mod e2e_faults;
mod e2e_persist;
mod e2e_podman;
mod e2e_preflight;
mod e2e_reattach;
mod e2e_ssh;
mod gate;
mod help;
mod history;
mod kubectl;
mod outputs;
mod push;
mod readable;
mod reliability;
mod run_local;
mod signals;
mod snapshots;
mod status;
mod suite_formats;
mod tap_conformance;
mod verdicts;
