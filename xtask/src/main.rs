//! Rakt's developer tasks, run as `cargo xtask <task>`.
//!
//! # The xtask pattern
//!
//! Project automation is written in Rust, as an ordinary workspace member that is never published,
//! instead of in shell scripts or a Makefile.
//! The alias `xtask = "run --quiet --package xtask --"` in `.cargo/config.toml` turns
//! `cargo xtask ci` into `cargo run --package xtask -- ci`, so the only tool a contributor needs is
//! cargo itself, the tasks behave the same on every machine, and they are type-checked, linted
//! and tested like the rest of the code.
//! The crate keeps its dependencies tiny because it is built before anything else can run.
//!
//! # Tasks
//!
//! - `cargo xtask ci`: everything CI checks, in order: `provision` (install missing tools),
//!   `fmt`, `clippy`, `test`, `doctest`, `rustdoc`, `layering`, `codegen` (as `--check`) and
//!   `deny`.
//!   Each step prints one line with its wall time; the first failing step prints its captured
//!   output and stops the run with a non-zero exit code.
//!   `.ci/run` calls only this.
//! - `cargo xtask layering`: checks the crate layer table (a crate may depend only on lower
//!   layers) and that the core runtime `rakt-actor` never pulls in network stacks or backend
//!   clients.
//! - `cargo xtask codegen [--check]`: compiles `proto/**/*.proto` with `protox` and writes the
//!   Rust code into `crates/rakt-proto/src/generated/`; `--check` fails when the committed code
//!   differs from what the protos generate.
//! - `cargo xtask bench`: runs the benchmarks in `benches/` and rewrites the results table in
//!   `docs/benchmarks.md`.
//!
//! Repository hygiene rules (manifest lints, crate docs, the CI entry point) are `#[test]`s in
//! this crate, so a plain `cargo test` enforces them.
//!
//! Commands that build the workspace use `$CARGO_TARGET_DIR`, or `$HOME/.cache/rakt/target` when
//! it is unset, so that build artifacts live outside the clone.
#![allow(
    clippy::print_stdout,
    reason = "a command-line tool reports its results on stdout"
)]

mod bench;
mod ci;
mod codegen;
mod layering;
mod provision;
mod shell;
#[cfg(test)]
mod tidy;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  ci                 run every check CI runs, in order, stopping at the first failure
  layering           check the crate layer table and the core's dependency closure
  codegen [--check]  regenerate crates/rakt-proto/src/generated/ (or check it is current)
  bench              run the benchmarks and update docs/benchmarks.md
  help               print this message";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["ci"] => ci::run(),
        ["layering"] => layering::run(&shell::workspace_root()),
        ["codegen"] => codegen::run(&shell::workspace_root(), codegen::Mode::Write),
        ["codegen", "--check"] => codegen::run(&shell::workspace_root(), codegen::Mode::Check),
        ["bench"] => bench::run(),
        [] | ["help" | "-h" | "--help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("error: unknown arguments: {}\n\n{USAGE}", args.join(" "));
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
