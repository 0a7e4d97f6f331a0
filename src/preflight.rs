//! `stagerun preflight`: placeholder replaced below.
use crate::cli::PreflightArgs;
use anyhow::Result;
pub fn run(_a: &PreflightArgs) -> Result<u8> {
    Err(crate::exit::Exit::usage("preflight: not yet"))
}
