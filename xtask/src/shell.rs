//! Paths and child processes shared by the tasks.

use std::env;
use std::error::Error;
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Tasks report failures as human-readable messages; nothing inspects them further.
pub(crate) type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

/// The workspace root: the parent of this crate's manifest directory.
///
/// `cargo run` (which the `cargo xtask` alias is) tells the binary where its manifest is at
/// run time, and that answer wins over the one compiled in: the build is shared between
/// clones through one target directory, so the compiled-in path may be that of another clone,
/// perhaps one deleted since.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.clone(), Path::to_path_buf)
}

/// The cargo target directory for the builds the tasks start.
///
/// `$CARGO_TARGET_DIR` wins; otherwise `$HOME/.cache/rakt/target`, which keeps build artifacts
/// out of the clone and shared between clones on one machine.
pub(crate) fn target_dir() -> Result<PathBuf> {
    let dir = match env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => std::path::absolute(PathBuf::from(dir))?,
        None => {
            let home = env::var_os("HOME")
                .filter(|home| !home.is_empty())
                .ok_or("neither CARGO_TARGET_DIR nor HOME is set")?;
            PathBuf::from(home).join(".cache/rakt/target")
        }
    };
    fs::create_dir_all(&dir)
        .map_err(|error| format!("cannot create target dir {}: {error}", dir.display()))?;
    Ok(dir)
}

/// A `cargo` command run from the workspace root.
pub(crate) fn cargo<I, S>(root: &Path, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new("cargo");
    command.args(args).current_dir(root);
    command
}

/// The command line as a person would type it, for messages.
pub(crate) fn describe(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    words.join(" ")
}

/// What a finished child process said and whether it succeeded.
#[derive(Debug)]
pub(crate) struct Captured {
    pub(crate) success: bool,
    /// Standard output and standard error, interleaved as the child wrote them.
    pub(crate) output: String,
}

/// Runs `command` to completion with its output captured rather than shown.
pub(crate) fn capture(mut command: Command) -> Result<Captured> {
    let (mut reader, writer) = std::io::pipe()?;
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot run `{}`: {error}", describe(&command)))?;
    // The command still owns the pipe's write ends; dropping it lets the read below end when the
    // child exits instead of waiting forever on our own copy.
    drop(command);
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes)?;
    let status = child.wait()?;
    Ok(Captured {
        success: status.success(),
        output: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// Runs `command` with its output going straight to the terminal; fails unless it succeeds.
pub(crate) fn run_visible(mut command: Command) -> Result<()> {
    let status = command
        .status()
        .map_err(|error| format!("cannot run `{}`: {error}", describe(&command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed: {status}", describe(&command)).into())
    }
}

/// Runs `command` and returns its standard output when it succeeds.
pub(crate) fn stdout_of(mut command: Command) -> Result<String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run `{}`: {error}", describe(&command)))?;
    if !output.status.success() {
        return Err(format!(
            "`{}` failed: {}\n{}",
            describe(&command),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// Whether `command` runs and exits successfully, with all its output discarded.
pub(crate) fn succeeds(mut command: Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A directory under the system temp dir that is removed again when dropped.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// Creates an empty directory whose name starts with `prefix` and is unique in this process.
    pub(crate) fn new(prefix: &str) -> Result<Self> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
        if path.exists() {
            fs::remove_dir_all(&path)?;
        }
        fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // A leftover temp dir is harmless, and a destructor has no one to report to.
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_interleaves_stdout_and_stderr() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo one; echo two >&2; echo three; exit 3"]);
        let captured = capture(command).unwrap();
        assert!(!captured.success);
        assert_eq!(captured.output, "one\ntwo\nthree\n");
    }

    #[test]
    fn temp_dir_is_removed_on_drop() {
        let dir = TempDir::new("xtask-shell-test").unwrap();
        let path = dir.path().to_path_buf();
        fs::write(path.join("file"), "x").unwrap();
        drop(dir);
        assert!(!path.exists());
    }
}
