//! `cargo xtask codegen [--check]`: Rust code for the wire types in `proto/`.
//!
//! Every `proto/**/*.proto` is compiled by `protox` (pure Rust: no system `protoc`) into one
//! `FileDescriptorSet`, which [`generate`] turns into one Rust file per proto package
//! (`rakt.v1.rs`).
//! The messages are committed in `crates/rakt-proto/src/generated/`, and the gRPC service stubs
//! (tonic) in `crates/rakt-remote/src/generated/`, where they name the messages of `rakt-proto`:
//! the actor runtime, which depends on `rakt-proto`, never reaches tonic. So building Rakt needs
//! neither a build script nor a code generator, and review sees every change to the wire types.
//! Codegen owns those folders: a file that no proto generates is stale and gets removed.
//! `--check` generates into a temporary folder and fails when anything differs.

use std::fs;
use std::path::{Path, PathBuf};

use prost_types::FileDescriptorSet;

use crate::shell::{Result, TempDir};

/// The proto tree and include path, relative to the workspace root.
const PROTO_DIR: &str = "proto";
/// Where the generated messages are committed, relative to the workspace root.
const GENERATED_DIR: &str = "crates/rakt-proto/src/generated";
/// Where the generated service stubs are committed, relative to the workspace root.
const SERVICES_DIR: &str = "crates/rakt-remote/src/generated";

/// A generator and the folder it owns.
type Target = (&'static str, fn(FileDescriptorSet, &Path) -> Result<()>);

const TARGETS: [Target; 2] = [(GENERATED_DIR, generate), (SERVICES_DIR, generate_services)];

/// Whether to update the committed code or only compare against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Write,
    Check,
}

pub(crate) fn run(root: &Path, mode: Mode) -> Result<()> {
    println!("{}", codegen(root, mode)?);
    Ok(())
}

/// Generates the code and writes or checks it; returns a report, one line per folder.
pub(crate) fn codegen(root: &Path, mode: Mode) -> Result<String> {
    let proto_dir = root.join(PROTO_DIR);
    let protos = proto_files(&proto_dir)?;
    let fds = if protos.is_empty() {
        None
    } else {
        Some(compile(&proto_dir, &protos)?)
    };
    let mut reports = Vec::new();
    for (dir, generator) in TARGETS {
        let fresh = TempDir::new("rakt-codegen")?;
        if let Some(fds) = &fds {
            generator(fds.clone(), fresh.path())?;
        }
        reports.push(sync(fresh.path(), root, dir, protos.len(), mode)?);
    }
    Ok(reports.join("\n"))
}

/// Compares freshly generated code with the committed folder `dir`, and updates it or fails.
fn sync(fresh: &Path, root: &Path, dir: &str, protos: usize, mode: Mode) -> Result<String> {
    let committed = root.join(dir);
    let drift = compare(fresh, &committed)?;
    match mode {
        Mode::Check if drift.is_empty() => {
            Ok(format!("codegen: {dir} matches {protos} proto file(s)"))
        }
        Mode::Check => {
            let lines: Vec<String> = drift
                .iter()
                .map(|drift| format!("  {dir}/{drift}"))
                .collect();
            Err(format!(
                "generated code is out of date; run `cargo xtask codegen`:\n{}",
                lines.join("\n")
            )
            .into())
        }
        Mode::Write => {
            apply(fresh, &committed, &drift)?;
            Ok(if drift.is_empty() {
                format!("codegen: {dir} is up to date")
            } else {
                format!("codegen: updated {} file(s) in {dir}", drift.len())
            })
        }
    }
}

/// Every `.proto` file under `proto_dir`, relative to it, sorted so the output is stable.
fn proto_files(proto_dir: &Path) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, base: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, base, found)?;
            } else if path.extension().is_some_and(|ext| ext == "proto") {
                found.push(path.strip_prefix(base)?.to_path_buf());
            }
        }
        Ok(())
    }
    let mut found = Vec::new();
    if proto_dir.is_dir() {
        walk(proto_dir, proto_dir, &mut found)?;
    }
    found.sort();
    Ok(found)
}

/// Parses and type-checks the protos, with `proto_dir` as the only include path.
fn compile(proto_dir: &Path, protos: &[PathBuf]) -> Result<FileDescriptorSet> {
    let fds = protox::Compiler::new([proto_dir])?
        // Source info carries the proto comments into the generated docs.
        .include_source_info(true)
        // The code generator needs imported messages (well-known types) to resolve field types;
        // it maps `google.protobuf` to `prost-types` and writes no file for it.
        .include_imports(true)
        .open_files(protos)
        .map_err(|error| format!("cannot compile protos: {error:?}"))?
        .file_descriptor_set();
    Ok(fds)
}

/// Writes the gRPC client and server of every service into `out_dir`, one Rust file per proto
/// package that has services, naming the messages of `rakt-proto` instead of generating them.
///
/// Beside them goes `descriptor.bin`, the encoded descriptors of every proto file (imports
/// included, comments left out), which the server's reflection service hands to tools such as
/// `grpcurl`.
fn generate_services(mut fds: FileDescriptorSet, out_dir: &Path) -> Result<()> {
    if fds.file.iter().all(|file| file.service.is_empty()) {
        return Ok(());
    }
    let mut described = fds.clone();
    for file in &mut described.file {
        file.source_code_info = None;
    }
    fs::write(
        out_dir.join(DESCRIPTOR_FILE),
        prost::Message::encode_to_vec(&described),
    )?;
    // Only the services are wanted: with the messages and enums taken out, and every `rakt`
    // package mapped to `rakt-proto`, the generator writes the stubs alone.
    fds.file.retain(|file| !file.service.is_empty());
    for file in &mut fds.file {
        file.message_type.clear();
        file.enum_type.clear();
    }
    if fds.file.is_empty() {
        return Ok(());
    }
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .out_dir(out_dir)
        .extern_path(".rakt", "::rakt_proto")
        .compile_fds(fds)?;
    Ok(())
}

/// The encoded descriptor set written beside the services.
const DESCRIPTOR_FILE: &str = "descriptor.bin";

/// Writes one Rust file per proto package into `out_dir`.
///
/// This and [`generate_services`] are the only functions that know the code generator.
fn generate(fds: FileDescriptorSet, out_dir: &Path) -> Result<()> {
    prost_build::Config::new()
        .out_dir(out_dir)
        // Messages implement `prost::Name`, so they can travel inside `Any` envelopes.
        .enable_type_names()
        // Payloads that remoting carries by the thousand: as `Bytes`, a decoded frame lends
        // each envelope a slice of itself instead of a copy, and a link encodes many messages
        // into one buffer.
        .bytes([
            ".rakt.v1.RemoteEnvelope.payload",
            ".rakt.v1.TypedPayload.payload",
        ])
        .compile_fds(fds)?;
    Ok(())
}

/// One difference between freshly generated and committed code, as a file name and a reason.
#[derive(Debug, PartialEq, Eq)]
struct Drift {
    file: String,
    kind: DriftKind,
}

#[derive(Debug, PartialEq, Eq)]
enum DriftKind {
    Changed,
    Missing,
    Stale,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reason = match self.kind {
            DriftKind::Changed => "differs from what the protos generate",
            DriftKind::Missing => "is missing",
            DriftKind::Stale => "is stale: no proto generates it",
        };
        write!(f, "{}: {reason}", self.file)
    }
}

/// Every file that differs between the `fresh` and `committed` folders, by name.
fn compare(fresh: &Path, committed: &Path) -> Result<Vec<Drift>> {
    let fresh_files = file_names(fresh)?;
    let committed_files = file_names(committed)?;
    let mut drift = Vec::new();
    for file in &fresh_files {
        let kind = if !committed_files.contains(file) {
            DriftKind::Missing
        } else if fs::read(fresh.join(file))? != fs::read(committed.join(file))? {
            DriftKind::Changed
        } else {
            continue;
        };
        drift.push(Drift {
            file: file.clone(),
            kind,
        });
    }
    for file in committed_files {
        if !fresh_files.contains(&file) {
            drift.push(Drift {
                file,
                kind: DriftKind::Stale,
            });
        }
    }
    drift.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(drift)
}

/// The files directly in `dir`, sorted; none when it does not exist.
fn file_names(dir: &Path) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let name = entry.file_name();
            let name = name
                .to_str()
                .ok_or_else(|| format!("file name is not UTF-8: {}", entry.path().display()))?;
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Makes `committed` equal to `fresh`, touching only the drifted files.
fn apply(fresh: &Path, committed: &Path, drift: &[Drift]) -> Result<()> {
    fs::create_dir_all(committed)?;
    for drift in drift {
        let target = committed.join(&drift.file);
        match drift.kind {
            DriftKind::Changed | DriftKind::Missing => {
                fs::copy(fresh.join(&drift.file), &target)?;
            }
            DriftKind::Stale => fs::remove_file(&target)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = r#"
syntax = "proto3";
package demo.v1;

import "google/protobuf/timestamp.proto";

// A greeting.
message Hello {
  string name = 1;
  google.protobuf.Timestamp at = 2;
}

// Says hello back.
service Greeter {
  rpc Greet(Hello) returns (Hello);
}
"#;

    /// A workspace-shaped folder with one proto file.
    fn sample_root() -> TempDir {
        let root = TempDir::new("xtask-codegen-test").unwrap();
        fs::create_dir_all(root.path().join("proto/demo/v1")).unwrap();
        fs::write(root.path().join("proto/demo/v1/hello.proto"), HELLO).unwrap();
        root
    }

    #[test]
    fn generates_one_file_per_package_with_type_names() {
        let root = sample_root();
        let report = codegen(root.path(), Mode::Write).unwrap();
        assert_eq!(
            report,
            format!(
                "codegen: updated 1 file(s) in {GENERATED_DIR}\n\
                 codegen: updated 2 file(s) in {SERVICES_DIR}"
            )
        );
        let generated = root.path().join(GENERATED_DIR);
        assert_eq!(file_names(&generated).unwrap(), ["demo.v1.rs"]);
        let code = fs::read_to_string(generated.join("demo.v1.rs")).unwrap();
        assert!(code.contains("pub struct Hello"), "{code}");
        assert!(code.contains("/// A greeting."), "{code}");
        assert!(code.contains("impl ::prost::Name for Hello"), "{code}");
        assert!(code.contains("::prost_types::Timestamp"), "{code}");
        assert!(!code.contains("tonic"), "messages only: {code}");
    }

    #[test]
    fn services_are_generated_apart_naming_the_proto_crate() {
        let root = sample_root();
        codegen(root.path(), Mode::Write).unwrap();
        let services = root.path().join(SERVICES_DIR);
        assert_eq!(
            file_names(&services).unwrap(),
            ["demo.v1.rs", DESCRIPTOR_FILE]
        );
        let encoded = fs::read(services.join(DESCRIPTOR_FILE)).unwrap();
        let described: FileDescriptorSet = prost::Message::decode(encoded.as_slice()).unwrap();
        let names: Vec<&str> = described.file.iter().map(|file| file.name()).collect();
        assert_eq!(
            names,
            ["google/protobuf/timestamp.proto", "demo/v1/hello.proto"]
        );
        let code = fs::read_to_string(services.join("demo.v1.rs")).unwrap();
        assert!(code.contains("pub mod greeter_client"), "{code}");
        assert!(code.contains("pub mod greeter_server"), "{code}");
        // Messages are not generated again: the stubs name those of rakt-proto.
        assert!(!code.contains("pub struct Hello"), "{code}");
    }

    #[test]
    fn check_passes_after_write_and_is_deterministic() {
        let root = sample_root();
        codegen(root.path(), Mode::Write).unwrap();
        codegen(root.path(), Mode::Check).unwrap();
        assert_eq!(
            codegen(root.path(), Mode::Write).unwrap(),
            format!(
                "codegen: {GENERATED_DIR} is up to date\n\
                 codegen: {SERVICES_DIR} is up to date"
            )
        );
    }

    #[test]
    fn check_names_changed_missing_and_stale_files() {
        let root = sample_root();
        let generated = root.path().join(GENERATED_DIR);
        let error = codegen(root.path(), Mode::Check).unwrap_err().to_string();
        assert!(error.contains("demo.v1.rs: is missing"), "{error}");

        codegen(root.path(), Mode::Write).unwrap();
        fs::write(generated.join("demo.v1.rs"), "// edited by hand\n").unwrap();
        fs::write(generated.join("old.v0.rs"), "// left over\n").unwrap();
        let error = codegen(root.path(), Mode::Check).unwrap_err().to_string();
        assert!(
            error.contains("demo.v1.rs: differs from what the protos generate"),
            "{error}"
        );
        assert!(
            error.contains("old.v0.rs: is stale: no proto generates it"),
            "{error}"
        );

        // Writing repairs both, and removes the stale file.
        codegen(root.path(), Mode::Write).unwrap();
        codegen(root.path(), Mode::Check).unwrap();
        assert_eq!(file_names(&generated).unwrap(), ["demo.v1.rs"]);
    }

    #[test]
    fn a_broken_proto_fails_with_its_file_name() {
        let root = sample_root();
        fs::write(
            root.path().join("proto/demo/v1/broken.proto"),
            "syntax = \"proto3\";\npackage demo.v1;\nmessage Oops { Missing field = 1; }\n",
        )
        .unwrap();
        let error = codegen(root.path(), Mode::Check).unwrap_err().to_string();
        assert!(error.contains("broken.proto"), "{error}");
    }

    #[test]
    fn no_protos_and_no_generated_folder_is_up_to_date() {
        let root = TempDir::new("xtask-codegen-test").unwrap();
        codegen(root.path(), Mode::Check).unwrap();
    }
}
