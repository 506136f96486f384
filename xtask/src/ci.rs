//! `cargo xtask ci`: every check CI runs, in order, stopping at the first failure.
//!
//! Each step's output is captured and shown only when the step fails, so a green log is one line
//! per step, followed by the test totals.

use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::provision::{self, Toolbox};
use crate::shell::{self, Result};
use crate::{codegen, layering};

/// Names the Python interpreter, with grpcio and grpcio-tools, that `rakt-remote`'s interop
/// test runs its client with.
const PYTHON_ENV: &str = "RAKT_PYTHON";

/// Names the `nats-server` the NATS backends' tests start.
const NATS_SERVER_ENV: &str = "RAKT_NATS_SERVER";

/// A step's extra lines to show on success, or everything it said on failure.
type StepResult = std::result::Result<Vec<String>, String>;

type Step = fn(&mut Ci) -> StepResult;

/// The steps, in the order they run.
const STEPS: &[(&str, Step)] = &[
    ("provision", Ci::provision),
    ("fmt", Ci::fmt),
    ("clippy", Ci::clippy),
    ("test", Ci::test),
    ("doctest", Ci::doctest),
    ("rustdoc", Ci::rustdoc),
    ("layering", Ci::layering),
    ("codegen", Ci::codegen),
    ("deny", Ci::deny),
];

pub(crate) fn run() -> Result<()> {
    let root = shell::workspace_root();
    let target_dir = shell::target_dir()?;
    println!("target dir: {}", target_dir.display());
    let mut ci = Ci {
        root,
        target_dir,
        toolbox: Toolbox::default(),
        tests: TestCounts::default(),
    };
    for (name, step) in STEPS {
        let started = Instant::now();
        let result = step(&mut ci);
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(notes) => {
                println!("{}", summary_line("ok", name, seconds));
                for note in notes {
                    println!("      {note}");
                }
            }
            Err(output) => {
                println!("{}", summary_line("FAIL", name, seconds));
                println!("{}", output.trim_end());
                return Err(format!("ci step `{name}` failed").into());
            }
        }
    }
    // Last, in the plain form log readers look for: "N passed, N failed, N skipped".
    println!("tests: {}", ci.tests);
    Ok(())
}

/// `ok    fmt            1.2s`
fn summary_line(status: &str, step: &str, seconds: f64) -> String {
    format!("{status:<6}{step:<15}{seconds:.1}s")
}

struct Ci {
    root: PathBuf,
    target_dir: PathBuf,
    toolbox: Toolbox,
    /// Totals over the test and doctest steps.
    tests: TestCounts,
}

impl Ci {
    fn provision(&mut self) -> StepResult {
        let (toolbox, notes) = provision::ensure_all(&self.target_dir.join("rakt-tools"))
            .map_err(|e| e.to_string())?;
        self.toolbox = toolbox;
        Ok(notes)
    }

    fn fmt(&mut self) -> StepResult {
        // rustfmt ignores CARGO_TERM_COLOR; escape codes would garble the log.
        self.cargo(&["fmt", "--all", "--", "--check", "--color", "never"])
            .map(|_| Vec::new())
    }

    fn clippy(&mut self) -> StepResult {
        let mut args = vec!["clippy", "--workspace", "--all-targets"];
        // Without a lock file there is nothing to hold the build to yet.
        if self.root.join("Cargo.lock").exists() {
            args.push("--locked");
        }
        args.extend(["--", "-D", "warnings"]);
        self.cargo(&args)?;
        // The optional telemetry of the runtime and of remoting, and its example, and the
        // discovery conformance suite, which the workspace build leaves out.
        let mut args = vec![
            "clippy",
            "-p",
            "rakt-actor",
            "-p",
            "rakt-remote",
            "-p",
            "rakt-discovery",
            "-p",
            "rakt-examples",
            "--all-features",
            "--all-targets",
        ];
        if self.root.join("Cargo.lock").exists() {
            args.push("--locked");
        }
        args.extend(["--", "-D", "warnings"]);
        self.cargo(&args).map(|_| Vec::new())
    }

    fn test(&mut self) -> StepResult {
        let has_nextest = shell::succeeds(shell::cargo(&self.root, ["nextest", "--version"]));
        let runner: &[&str] = if has_nextest {
            &["nextest", "run"]
        } else {
            &["test"]
        };
        let mut everything = runner.to_vec();
        everything.extend([
            "--workspace",
            // An explicit `--lib` overrides the benches' `[lib] test = false`, which would
            // build the peer frameworks in debug mode for an empty test binary.
            "--exclude",
            "rakt-benches",
            "--lib",
            "--bins",
            "--tests",
            "--examples",
        ]);
        if has_nextest {
            everything.push("--no-tests=warn");
        }
        let output = self.cargo(&everything)?;
        let mut notes = self.count_tests(&output);
        // The runtime's optional telemetry, which the workspace build leaves out, has a test
        // target of its own that needs both features.
        let mut telemetry = runner.to_vec();
        telemetry.extend([
            "-p",
            "rakt-actor",
            "--all-features",
            "--test",
            "actor_telemetry",
        ]);
        let output = self.cargo(&telemetry)?;
        notes.extend(self.count_tests(&output));
        // Trace context across nodes, behind remoting's `opentelemetry` feature.
        let mut trace = runner.to_vec();
        trace.extend([
            "-p",
            "rakt-remote",
            "--features",
            "opentelemetry",
            "--lib",
            "--test",
            "remote_trace",
        ]);
        let output = self.cargo(&trace)?;
        notes.extend(self.count_tests(&output));
        // The example that needs the same features.
        self.cargo(&[
            "run",
            "-p",
            "rakt-examples",
            "--features",
            "telemetry",
            "--example",
            "observability",
        ])?;
        notes.push("example observability ran with --features telemetry".to_owned());
        Ok(notes)
    }

    fn doctest(&mut self) -> StepResult {
        let output = self.cargo(&["test", "--workspace", "--doc"])?;
        let mut notes = self.count_tests(&output);
        // The examples of items behind the telemetry features and the conformance suite.
        let output = self.cargo(&[
            "test",
            "-p",
            "rakt-actor",
            "-p",
            "rakt-remote",
            "-p",
            "rakt-discovery",
            "--all-features",
            "--doc",
        ])?;
        notes.extend(self.count_tests(&output));
        Ok(notes)
    }

    fn rustdoc(&mut self) -> StepResult {
        let mut command =
            self.cargo_command(&["doc", "--workspace", "--no-deps", "--all-features"]);
        command.env("RUSTDOCFLAGS", "-D warnings");
        captured(command).map(|_| Vec::new())
    }

    fn layering(&mut self) -> StepResult {
        layering::check(&self.root)
            .map(|_| Vec::new())
            .map_err(|e| e.to_string())
    }

    fn codegen(&mut self) -> StepResult {
        codegen::codegen(&self.root, codegen::Mode::Check)
            .map(|_| Vec::new())
            .map_err(|e| e.to_string())
    }

    fn deny(&mut self) -> StepResult {
        let mut command = self.toolbox.command("cargo-deny");
        // Called the way cargo calls its plugins, with the subcommand name first.
        command
            .args(["deny", "check", "bans", "licenses", "sources"])
            .current_dir(&self.root);
        self.child_env(&mut command);
        captured(command).map(|_| Vec::new())
    }

    fn cargo(&self, args: &[&str]) -> std::result::Result<String, String> {
        captured(self.cargo_command(args))
    }

    fn cargo_command(&self, args: &[&str]) -> Command {
        let mut command = shell::cargo(&self.root, args);
        self.child_env(&mut command);
        command
    }

    fn child_env(&self, command: &mut Command) {
        command
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .env("CARGO_TERM_COLOR", "never");
        // The Python that tests drive a node from; the provisioned one wins over any other
        // the caller set, so CI runs the pinned packages.
        if let Some(python) = self.toolbox.program("python") {
            command.env(PYTHON_ENV, python);
        }
        if let Some(nats) = self.toolbox.program("nats-server") {
            command.env(NATS_SERVER_ENV, nats);
        }
    }

    /// Adds the runner's results to the totals and returns its summary as a line to show.
    fn count_tests(&mut self, output: &str) -> Vec<String> {
        let counts = TestCounts::parse(output);
        self.tests.add(counts);
        // nextest closes with one summary line; cargo test has one per test binary, so the
        // totals stand in for it.
        let nextest_summary = output
            .lines()
            .map(str::trim)
            .rfind(|line| line.starts_with("Summary ["));
        vec![nextest_summary.map_or_else(|| counts.to_string(), str::to_owned)]
    }
}

/// Runs `command` captured: its output on success, its command line and output on failure.
fn captured(command: Command) -> std::result::Result<String, String> {
    let described = shell::describe(&command);
    match shell::capture(command) {
        Ok(captured) if captured.success => Ok(captured.output),
        Ok(captured) => Err(format!("$ {described}\n{}", captured.output)),
        Err(error) => Err(error.to_string()),
    }
}

/// Test totals, as read from cargo test's `test result:` lines or nextest's `Summary` line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct TestCounts {
    passed: u64,
    failed: u64,
    skipped: u64,
}

impl TestCounts {
    fn parse(output: &str) -> Self {
        let mut counts = Self::default();
        for line in output.lines().map(str::trim) {
            if line.starts_with("test result:") {
                // `test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; …`
                counts.add(Self {
                    passed: count_before(line, "passed"),
                    failed: count_before(line, "failed"),
                    skipped: count_before(line, "ignored"),
                });
            } else if line.starts_with("Summary [") {
                // `Summary [   0.012s] 3 tests run: 2 passed, 1 failed, 4 skipped`
                counts.add(Self {
                    passed: count_before(line, "passed"),
                    failed: count_before(line, "failed"),
                    skipped: count_before(line, "skipped"),
                });
            }
        }
        counts
    }

    fn add(&mut self, other: Self) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

impl fmt::Display for TestCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// The number right before `word` in `line`, such as 3 in `3 passed`; 0 when there is none.
fn count_before(line: &str, word: &str) -> u64 {
    let words: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == ':')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .find(|pair| pair[1] == word)
        .and_then(|pair| pair[0].parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lines_align() {
        assert_eq!(
            summary_line("ok", "fmt", 1.234),
            "ok    fmt            1.2s"
        );
        assert_eq!(
            summary_line("FAIL", "clippy", 30.06),
            "FAIL  clippy         30.1s"
        );
    }

    #[test]
    fn counts_cargo_test_results_across_binaries() {
        let output = "\
running 3 tests
test a ... ok
test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running tests/mailbox_order.rs
test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s
";
        assert_eq!(
            TestCounts::parse(output),
            TestCounts {
                passed: 5,
                failed: 0,
                skipped: 1
            }
        );
    }

    #[test]
    fn counts_the_nextest_summary() {
        let output = "\
        PASS [   0.004s] rakt-mailbox tests::order
────────────
     Summary [   0.012s] 7 tests run: 6 passed, 1 failed, 2 skipped
";
        let counts = TestCounts::parse(output);
        assert_eq!(
            counts,
            TestCounts {
                passed: 6,
                failed: 1,
                skipped: 2
            }
        );
        assert_eq!(counts.to_string(), "6 passed, 1 failed, 2 skipped");
    }

    #[test]
    fn no_summary_counts_nothing() {
        assert_eq!(
            TestCounts::parse("warning: no tests to run\n"),
            TestCounts::default()
        );
    }
}
