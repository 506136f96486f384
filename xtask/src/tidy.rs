//! Repository hygiene rules, as tests, so that a plain `cargo test` enforces them.
//!
//! Each test walks the real repository and lists every offence in one failure message.

use std::fs;
use std::path::{Path, PathBuf};

use crate::layering;
use crate::shell::workspace_root;

/// The folders under `crates/` that hold a manifest, sorted.
fn crate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(workspace_root().join("crates"))
        .expect("crates/ exists")
        .map(|entry| entry.expect("crates/ is readable").path())
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn assert_no_offences(rule: &str, offences: &[String]) {
    assert!(offences.is_empty(), "{rule}:\n  {}", offences.join("\n  "));
}

#[test]
fn crate_manifests_use_workspace_lints_and_dependencies() {
    let mut offences = Vec::new();
    for dir in crate_dirs() {
        let path = dir.join("Cargo.toml");
        let manifest = Manifest::parse(&read(&path));
        if !manifest.is_true("lints.workspace") {
            offences.push(format!(
                "{}: missing `[lints] workspace = true`",
                path.display()
            ));
        }
        for dependency in manifest.internal_dependencies_not_from_workspace() {
            offences.push(format!(
                "{}: `{dependency}` must be declared as `{dependency}.workspace = true`",
                path.display()
            ));
        }
    }
    assert_no_offences("crate manifests", &offences);
}

#[test]
fn crate_folders_are_named_after_their_package() {
    let mut offences = Vec::new();
    for dir in crate_dirs() {
        let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
        let manifest = Manifest::parse(&read(&dir.join("Cargo.toml")));
        let name = manifest.string("package.name").unwrap_or_default();
        if name != folder {
            offences.push(format!("crates/{folder} holds package `{name}`"));
        }
    }
    assert_no_offences("crate folders", &offences);
}

#[test]
fn every_crate_has_a_layer() {
    let offences: Vec<String> = crate_dirs()
        .iter()
        .map(|dir| dir.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|name| layering::layer_of(name).is_none())
        .map(|name| format!("crates/{name} is not in the layer table of xtask/src/layering.rs"))
        .collect();
    assert_no_offences("layer table", &offences);
}

#[test]
fn crate_docs_open_with_an_inner_doc_comment() {
    let mut offences = Vec::new();
    for dir in crate_dirs() {
        let lib = dir.join("src/lib.rs");
        if lib.is_file() && !read(&lib).starts_with("//!") {
            offences.push(format!(
                "{} must start with `//!` crate docs",
                lib.display()
            ));
        }
    }
    assert_no_offences("crate docs", &offences);
}

#[test]
fn ci_runs_cargo_xtask_ci() {
    let path = workspace_root().join(".ci/run");
    let script = read(&path);
    let calls_xtask = script
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .any(|line| line.contains("cargo xtask ci"));
    assert!(calls_xtask, "{} must call `cargo xtask ci`", path.display());

    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(&path).unwrap().permissions().mode();
    assert!(mode & 0o111 != 0, "{} must be executable", path.display());
}

/// Just enough of a Cargo manifest for these rules: every `key = value` line under its table,
/// as a dotted key and the raw value text.
///
/// Our manifests are plain enough for a line reader; a full TOML parser would be the biggest
/// dependency of xtask.
#[derive(Debug)]
struct Manifest {
    entries: Vec<(Vec<String>, String)>,
}

impl Manifest {
    fn parse(text: &str) -> Self {
        let mut table: Vec<String> = Vec::new();
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = strip_comment(line).trim();
            if let Some(header) = line.strip_prefix('[') {
                let header = header.trim_start_matches('[').trim_end_matches(']');
                table = dotted(header);
            } else if let Some((key, value)) = line.split_once('=') {
                // Lines inside a multi-line array start with a quote; they are not keys.
                if key.trim_start().starts_with(['"', '\'']) {
                    continue;
                }
                let mut full = table.clone();
                full.extend(dotted(key));
                entries.push((full, value.trim().to_owned()));
            }
        }
        Self { entries }
    }

    fn value(&self, key: &str) -> Option<&str> {
        let key = dotted(key);
        self.entries
            .iter()
            .find(|(full, _)| *full == key)
            .map(|(_, value)| value.as_str())
    }

    fn is_true(&self, key: &str) -> bool {
        self.value(key) == Some("true")
    }

    fn string(&self, key: &str) -> Option<String> {
        let value = self.value(key)?;
        Some(value.trim_matches('"').to_owned())
    }

    /// Internal dependencies, of any kind and target, not written as `.workspace = true`.
    fn internal_dependencies_not_from_workspace(&self) -> Vec<String> {
        let mut seen: Vec<(String, bool)> = Vec::new();
        for (key, value) in &self.entries {
            let Some(at) = key.iter().position(|part| part.ends_with("dependencies")) else {
                continue;
            };
            let Some(name) = key.get(at + 1) else {
                continue;
            };
            if !layering::is_internal(name) {
                continue;
            }
            let rest = &key[at + 2..];
            let from_workspace = match rest {
                // `rakt-actor = { workspace = true, features = [...] }`
                [] => {
                    let compact: String = value.split_whitespace().collect();
                    compact.starts_with('{') && compact.contains("workspace=true")
                }
                // `rakt-actor.workspace = true`, or `workspace = true` under
                // `[dependencies.rakt-actor]`
                [field] if field == "workspace" => value == "true",
                _ => false,
            };
            match seen.iter_mut().find(|(seen_name, _)| seen_name == name) {
                Some((_, ok)) => *ok |= from_workspace,
                None => seen.push((name.clone(), from_workspace)),
            }
        }
        seen.into_iter()
            .filter(|(_, ok)| !ok)
            .map(|(name, _)| name)
            .collect()
    }
}

/// `a.b . "c"` → `["a", "b", "c"]`.
fn dotted(key: &str) -> Vec<String> {
    key.split('.')
        .map(|part| part.trim().trim_matches(['"', '\'']).to_owned())
        .collect()
}

/// The line up to a `#` that is not inside a string.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), _) if c == open => quote = None,
            (None, '#') => return &line[..at],
            _ => {}
        }
    }
    line
}

#[test]
fn the_manifest_reader_understands_our_forms() {
    let manifest = Manifest::parse(
        r##"
[package]
name = "rakt-actor" # the core
description = "has a # inside"

[dependencies]
rakt-mailbox.workspace = true
rakt-proto = { workspace = true, features = ["serde"] }
rakt-remote = { path = "../rakt-remote", version = "0.1.0" }
tokio = { workspace = true, features = [
    "rt = really",
] }

[dev-dependencies.rakt-testkit]
workspace = true

[target.'cfg(unix)'.build-dependencies]
rakt-codegen = "0.1"

[lints]
workspace = true
"##,
    );
    assert!(manifest.is_true("lints.workspace"));
    assert_eq!(
        manifest.string("package.name").as_deref(),
        Some("rakt-actor")
    );
    assert_eq!(
        manifest.string("package.description").as_deref(),
        Some("has a # inside")
    );
    assert_eq!(
        manifest.internal_dependencies_not_from_workspace(),
        ["rakt-remote", "rakt-codegen"]
    );
    assert!(!Manifest::parse("[package]\nname = \"x\"\n").is_true("lints.workspace"));
}
