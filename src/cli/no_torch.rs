//! The commands that compute, in a build without libtorch (`--no-default-features`): they take
//! any arguments and say how to get the full build.

use std::process::ExitCode;

use anyhow::{bail, Result};

/// Whatever follows the command.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    _rest: Vec<String>,
}

/// The error a torch command gives in this build.
pub fn refuse(command: &str) -> Result<ExitCode> {
    bail!(
        "`lmeff {command}` needs libtorch, and this lmeff was built without it \
         (--no-default-features, for login nodes and laptops). Build the full lmeff where it \
         will compute: `make setup && make build` in a checkout, or `cargo install --path .` \
         with LIBTORCH pointing at libtorch 2.11 (see the README: make setup)"
    )
}
