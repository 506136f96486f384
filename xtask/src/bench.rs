//! `cargo xtask bench`: runs the benchmarks and publishes the results table.
//!
//! The `runtime` bench (criterion) measures each workload twice, as `<group>/rakt` and
//! `<group>/baseline`; the `idle_actor` bench measures memory and writes its own JSON.
//! The medians are compared against the targets in [`WORKLOADS`] and rendered as a markdown
//! table between the markers in `docs/benchmarks.md`.
//!
//! The `peers` bench (criterion) then measures two workloads on Rakt, actix, ractor, kameo and
//! the baseline, as `<group>/<id>` with the ids in [`PEER_IDS`], and the `peers_memory` bench
//! writes the idle-actor memory of the four frameworks. They are rendered as a second table,
//! below the first and between the same markers, with no targets: the numbers are there to be
//! compared side by side.
//!
//! Last, the `remote` bench measures remote tell throughput and ask latency between two nodes
//! on loopback beside a bare tonic baseline, and writes its own JSON; it becomes a third table,
//! checked against the remoting targets ([`REMOTE_TELL_MIN_PER_SECOND`],
//! [`REMOTE_TELL_MIN_RATIO`], [`REMOTE_ASK_P50_MAX_RATIO`]).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::shell::{self, Result};

/// A timed workload: a criterion group with a `rakt` and a `baseline` function.
#[derive(Debug, Clone, Copy)]
struct Workload {
    group: &'static str,
    /// The highest acceptable rakt ÷ baseline ratio of the medians.
    max_ratio: f64,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        group: "tell_1m",
        max_ratio: 1.5,
    },
    Workload {
        group: "ask_100k",
        max_ratio: 1.25,
    },
    Workload {
        group: "fanout_1000x1000",
        max_ratio: 2.0,
    },
    Workload {
        group: "spawn_stop_100k",
        max_ratio: 1.0,
    },
    Workload {
        group: "ping_pong_100k",
        max_ratio: 1.5,
    },
    Workload {
        group: "restart_10k",
        max_ratio: 1.0,
    },
    Workload {
        group: "schedule_100k",
        max_ratio: 1.0,
    },
    Workload {
        group: "passivate_100k",
        max_ratio: 2.0,
    },
    Workload {
        group: "router_fanout_100k",
        max_ratio: 2.0,
    },
];

/// The most memory an idle actor may take, in bytes.
const IDLE_ACTOR_MAX_BYTES: f64 = 1024.0;

/// The most memory an idle actor that passivates may take, in bytes: what the passivation
/// task keeps for it may add at most 128 bytes.
const PASSIVATING_ACTOR_MAX_BYTES: f64 = IDLE_ACTOR_MAX_BYTES + 128.0;

/// The benchmark runs, as `cargo` arguments, in order.
const BENCH_COMMANDS: &[&[&str]] = &[
    &["bench", "-p", "rakt-benches", "--bench", "runtime"],
    &["bench", "-p", "rakt-benches", "--bench", "idle_actor"],
];

/// A workload of the `peers` bench: a criterion group with one function per id in [`PEER_IDS`].
#[derive(Debug, Clone, Copy)]
struct PeerWorkload {
    group: &'static str,
    /// The row label in the peers table.
    label: &'static str,
}

const PEER_WORKLOADS: &[PeerWorkload] = &[
    PeerWorkload {
        group: "peers_tell_1m",
        label: "tell 1M",
    },
    PeerWorkload {
        group: "peers_ask_100k",
        label: "ask 100k",
    },
];

/// The criterion function ids of every peer workload, in column order.
const PEER_IDS: [&str; 5] = ["rakt", "actix", "ractor", "kameo", "baseline"];

/// The frameworks whose idle actors `peers_memory` measures, in column order: [`PEER_IDS`]
/// without the baseline.
const PEER_FRAMEWORKS: [&str; 4] = ["rakt", "actix", "ractor", "kameo"];

/// The peer benchmark runs, as `cargo` arguments, in order, after [`BENCH_COMMANDS`].
const PEER_BENCH_COMMANDS: &[&[&str]] = &[
    &["bench", "-p", "rakt-benches", "--bench", "peers"],
    &["bench", "-p", "rakt-benches", "--bench", "peers_memory"],
];

/// The remoting benchmark, run after the peers: two nodes on loopback beside a bare tonic
/// baseline; it writes its own JSON.
const REMOTE_BENCH_COMMAND: &[&str] = &["bench", "-p", "rakt-benches", "--bench", "remote"];

/// Remote tells per second that Rakt must reach, whatever the baseline.
const REMOTE_TELL_MIN_PER_SECOND: f64 = 1_000_000.0;

/// The least share of the bare stream's tell throughput that Rakt must reach.
const REMOTE_TELL_MIN_RATIO: f64 = 0.7;

/// The most a remote ask's median round trip may take, as a multiple of a bare unary call's.
const REMOTE_ASK_P50_MAX_RATIO: f64 = 1.2;

/// The sender–receiver pairs the remoting bench measures with.
const REMOTE_PAIRS: [u32; 2] = [1, 8];

const DOC: &str = "docs/benchmarks.md";
const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";

/// The document written when there is none yet.
const NEW_DOC: &str = "\
# Benchmarks

Each workload runs once on Rakt and once on a bare tokio baseline that does the same work without actors.
The table below is rewritten by `cargo xtask bench`; edit the text around the markers, not the table.

<!-- bench:begin -->
<!-- bench:end -->
";

/// The medians of one workload, in nanoseconds.
#[derive(Debug, Clone, Copy)]
struct Timing {
    workload: Workload,
    rakt_ns: f64,
    baseline_ns: f64,
}

/// What the `idle_actor` bench writes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct IdleMemory {
    rakt_bytes_per_actor: f64,
    rakt_passivating_bytes_per_actor: f64,
    baseline_bytes_per_task: f64,
}

/// The medians of one peer workload, in nanoseconds, in the order of [`PEER_IDS`].
#[derive(Debug, Clone, Copy)]
struct PeerTiming {
    workload: PeerWorkload,
    medians_ns: [f64; PEER_IDS.len()],
}

/// What the `peers_memory` bench writes: bytes per idle actor with its handle, in the order of
/// [`PEER_FRAMEWORKS`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct PeerMemory {
    bytes_per_actor: [f64; PEER_FRAMEWORKS.len()],
}

/// What the `remote` bench writes: tells per second and ask percentiles in microseconds, for
/// Rakt and the bare baseline, per number of pairs in [`REMOTE_PAIRS`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct RemoteResults {
    /// `(rakt, baseline)` messages per second.
    tells: [(f64, f64); REMOTE_PAIRS.len()],
    /// `(rakt, baseline)` microseconds, p50 then p99.
    asks: [[(f64, f64); 2]; REMOTE_PAIRS.len()],
}

/// Where and how the numbers were measured.
#[derive(Debug)]
struct Setting {
    date: String,
    rustc: String,
    cores: usize,
}

pub(crate) fn run() -> Result<()> {
    let root = shell::workspace_root();
    let target = shell::target_dir()?;
    println!("target dir: {}", target.display());
    for args in BENCH_COMMANDS
        .iter()
        .chain(PEER_BENCH_COMMANDS)
        .chain(std::iter::once(&REMOTE_BENCH_COMMAND))
    {
        let mut command = shell::cargo(&root, *args);
        // The memory benches find their output folder through this variable too.
        command.env("CARGO_TARGET_DIR", &target);
        shell::run_visible(command)?;
    }

    let timings = WORKLOADS
        .iter()
        .map(|workload| read_timing(&target, *workload))
        .collect::<Result<Vec<_>>>()?;
    let memory = read_idle_memory(&target.join("rakt-bench/idle_actor.json"))?;
    let peer_timings = PEER_WORKLOADS
        .iter()
        .map(|workload| read_peer_timing(&target, *workload))
        .collect::<Result<Vec<_>>>()?;
    let peer_memory = read_peer_memory(&target.join("rakt-bench/peers_memory.json"))?;
    let remote = read_remote(&target.join("rakt-bench/remote.json"))?;
    let mut rustc = Command::new("rustc");
    rustc.arg("-V").current_dir(&root);
    let setting = Setting {
        date: today(),
        rustc: shell::stdout_of(rustc)?.trim().to_owned(),
        cores: std::thread::available_parallelism()?.get(),
    };
    let table = stack(
        &stack(
            &render(&timings, memory, &setting),
            &render_peers(&peer_timings, peer_memory),
        ),
        &render_remote(&remote),
    );

    let path = root.join(DOC);
    let doc = match fs::read_to_string(&path) {
        Ok(doc) => doc,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => NEW_DOC.to_owned(),
        Err(error) => return Err(format!("cannot read {DOC}: {error}").into()),
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(&path, splice(&doc, &table)?)?;
    println!("{table}\nupdated {DOC}");
    Ok(())
}

fn read_timing(target: &Path, workload: Workload) -> Result<Timing> {
    let median = |id: &str| {
        let path = target
            .join("criterion")
            .join(workload.group)
            .join(id)
            .join("new/estimates.json");
        read_median_ns(&path)
    };
    Ok(Timing {
        workload,
        rakt_ns: median("rakt")?,
        baseline_ns: median("baseline")?,
    })
}

fn read_peer_timing(target: &Path, workload: PeerWorkload) -> Result<PeerTiming> {
    let mut medians_ns = [0.0; PEER_IDS.len()];
    for (median, id) in medians_ns.iter_mut().zip(PEER_IDS) {
        let path = target
            .join("criterion")
            .join(workload.group)
            .join(id)
            .join("new/estimates.json");
        *median = read_median_ns(&path)?;
    }
    Ok(PeerTiming {
        workload,
        medians_ns,
    })
}

/// The median point estimate, in nanoseconds, from a criterion `estimates.json`.
fn read_median_ns(path: &Path) -> Result<f64> {
    let json = read_json(path)?;
    json.pointer("/median/point_estimate")
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("{}: no number at median.point_estimate", path.display()).into())
}

fn read_idle_memory(path: &Path) -> Result<IdleMemory> {
    let json = read_json(path)?;
    let number = |key: &str| {
        json.get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("{}: no number at {key}", path.display()))
    };
    Ok(IdleMemory {
        rakt_bytes_per_actor: number("rakt_bytes_per_actor")?,
        rakt_passivating_bytes_per_actor: number("rakt_passivating_bytes_per_actor")?,
        baseline_bytes_per_task: number("baseline_bytes_per_task")?,
    })
}

fn read_peer_memory(path: &Path) -> Result<PeerMemory> {
    let json = read_json(path)?;
    let mut bytes_per_actor = [0.0; PEER_FRAMEWORKS.len()];
    for (bytes, key) in bytes_per_actor.iter_mut().zip(PEER_FRAMEWORKS) {
        *bytes = json
            .get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("{}: no number at {key}", path.display()))?;
    }
    Ok(PeerMemory { bytes_per_actor })
}

fn read_remote(path: &Path) -> Result<RemoteResults> {
    let json = read_json(path)?;
    let number = |key: String| {
        json.get(&key)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("{}: no number at {key}", path.display()))
    };
    let mut results = RemoteResults {
        tells: [(0.0, 0.0); REMOTE_PAIRS.len()],
        asks: [[(0.0, 0.0); 2]; REMOTE_PAIRS.len()],
    };
    for (index, pairs) in REMOTE_PAIRS.iter().enumerate() {
        results.tells[index] = (
            number(format!("tell_{pairs}_rakt"))?,
            number(format!("tell_{pairs}_baseline"))?,
        );
        for (slot, percentile) in ["p50", "p99"].iter().enumerate() {
            results.asks[index][slot] = (
                number(format!("ask_{pairs}_{percentile}_rakt"))?,
                number(format!("ask_{pairs}_{percentile}_baseline"))?,
            );
        }
    }
    Ok(results)
}

fn read_json(path: &Path) -> Result<Value> {
    let text = fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|error| format!("{} is not valid JSON: {error}", path.display()).into())
}

/// The markdown that goes between the markers.
fn render(timings: &[Timing], memory: IdleMemory, setting: &Setting) -> String {
    let mut out = String::from(
        "| workload | rakt (median) | baseline (median) | ratio | target | met |\n\
         | --- | ---: | ---: | ---: | ---: | :---: |\n",
    );
    for timing in timings {
        let ratio = timing.rakt_ns / timing.baseline_ns;
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {ratio:.2} | ≤ {:.2} | {} |",
            timing.workload.group,
            duration(timing.rakt_ns),
            duration(timing.baseline_ns),
            timing.workload.max_ratio,
            met(ratio <= timing.workload.max_ratio),
        );
    }
    let _ = writeln!(
        out,
        "| idle actor memory | {:.0} B/actor | {:.0} B/task | {:.2} | ≤ {IDLE_ACTOR_MAX_BYTES:.0} B | {} |",
        memory.rakt_bytes_per_actor,
        memory.baseline_bytes_per_task,
        memory.rakt_bytes_per_actor / memory.baseline_bytes_per_task,
        met(memory.rakt_bytes_per_actor <= IDLE_ACTOR_MAX_BYTES),
    );
    let _ = writeln!(
        out,
        "| passivating idle actor memory | {:.0} B/actor | {:.0} B/task | {:.2} | ≤ {PASSIVATING_ACTOR_MAX_BYTES:.0} B | {} |",
        memory.rakt_passivating_bytes_per_actor,
        memory.baseline_bytes_per_task,
        memory.rakt_passivating_bytes_per_actor / memory.baseline_bytes_per_task,
        met(memory.rakt_passivating_bytes_per_actor <= PASSIVATING_ACTOR_MAX_BYTES),
    );
    let commands: Vec<String> = BENCH_COMMANDS
        .iter()
        .map(|args| format!("`cargo {}`", args.join(" ")))
        .collect();
    let _ = write!(
        out,
        "\nRatio is rakt ÷ baseline, lower is better; the memory target is absolute.\n\
         Measured on {} with `{}` on {} cores (`nproc`).\n\
         Command: `cargo xtask bench`, which runs {}.\n",
        setting.date,
        setting.rustc,
        setting.cores,
        commands.join(" and "),
    );
    out
}

/// The markdown of the peers table, which goes below the one of [`render`].
fn render_peers(timings: &[PeerTiming], memory: PeerMemory) -> String {
    let mut out = format!(
        "**Peers, same run**\n\n| workload | {} |\n| --- |{}\n",
        PEER_IDS.join(" | "),
        " ---: |".repeat(PEER_IDS.len()),
    );
    for timing in timings {
        let cells: Vec<String> = timing.medians_ns.iter().map(|ns| duration(*ns)).collect();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "| {} | {} |", timing.workload.label, cells.join(" | "));
    }
    // `peers_memory` measures no baseline: the idle tokio task is in the table above.
    let cells: Vec<String> = memory
        .bytes_per_actor
        .iter()
        .map(|bytes| format!("{bytes:.0} B"))
        .chain(std::iter::once("–".to_owned()))
        .collect();
    let _ = writeln!(out, "| idle actor bytes | {} |", cells.join(" | "));
    let commands: Vec<String> = PEER_BENCH_COMMANDS
        .iter()
        .map(|args| format!("`cargo {}`", args.join(" ")))
        .collect();
    let groups: Vec<String> = PEER_WORKLOADS
        .iter()
        .map(|workload| format!("`{}`", workload.group))
        .collect();
    let _ = write!(
        out,
        "\nTimes are the medians of {}, lower is better; idle actor bytes are the live heap bytes \
         per idle actor, handle included, of 10,000 actors of each framework.\n\
         actix runs on its own single-threaded `actix_rt::System`, the others on one two-worker \
         tokio runtime; the baseline is the bare tokio one of the table above.\n\
         Same machine and toolchain as above; `cargo xtask bench` also runs {}.\n",
        groups.join(" and "),
        commands.join(" and "),
    );
    out
}

/// The markdown of the remoting table, which goes below the peers table.
fn render_remote(results: &RemoteResults) -> String {
    let mut out = String::from(
        "**Remoting, same run**\n\n\
         | workload | rakt | bare tonic | ratio | target | met |\n\
         | --- | ---: | ---: | ---: | ---: | :---: |\n",
    );
    for (index, pairs) in REMOTE_PAIRS.iter().enumerate() {
        let (rakt, baseline) = results.tells[index];
        let ratio = rakt / baseline;
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "| remote tell, {pairs} pair(s) | {} msg/s | {} msg/s | {ratio:.2} | ≥ {} msg/s and ≥ {REMOTE_TELL_MIN_RATIO:.2} | {} |",
            thousands(rakt),
            thousands(baseline),
            thousands(REMOTE_TELL_MIN_PER_SECOND),
            met(rakt >= REMOTE_TELL_MIN_PER_SECOND && ratio >= REMOTE_TELL_MIN_RATIO),
        );
    }
    for (index, pairs) in REMOTE_PAIRS.iter().enumerate() {
        for (slot, percentile) in ["p50", "p99"].iter().enumerate() {
            let (rakt, baseline) = results.asks[index][slot];
            let ratio = rakt / baseline;
            let (target, ok) = if slot == 0 {
                (
                    format!("≤ {REMOTE_ASK_P50_MAX_RATIO:.2}"),
                    met(ratio <= REMOTE_ASK_P50_MAX_RATIO),
                )
            } else {
                ("–".to_owned(), "–")
            };
            let _ = writeln!(
                out,
                "| remote ask {percentile}, {pairs} pair(s) | {} | {} | {ratio:.2} | {target} | {ok} |",
                duration(rakt * 1e3),
                duration(baseline * 1e3),
            );
        }
    }
    let _ = write!(
        out,
        "\nTwo nodes in one process on loopback, on one two-worker tokio runtime; the baseline is a \
         bare tonic server of the same `RemoteService` with no actors behind it, sent the same \
         envelopes (256 to a frame on one `Exchange` stream per pair) or the same unary `Ask`. \
         Tell throughput is the median of five rounds of 200,000 messages, higher is better \
         (ratio rakt ÷ baseline); ask percentiles are over 5,000 sequential asks per pair, lower \
         is better. Same machine and toolchain as above; `cargo xtask bench` also runs `cargo {}`.\n",
        REMOTE_BENCH_COMMAND.join(" "),
    );
    out
}

/// A number rounded to a whole, with thousands separated by commas.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Two rendered tables, `second` below `first`, with a blank line between them.
fn stack(first: &str, second: &str) -> String {
    format!("{first}\n{second}")
}

fn met(ok: bool) -> &'static str {
    if ok { "yes" } else { "**no**" }
}

/// A duration in the largest unit that keeps it at or above one, to three significant digits.
fn duration(ns: f64) -> String {
    let (value, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    if value >= 100.0 {
        format!("{value:.0} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

/// `doc` with everything between the markers replaced by `table`; markers are appended to a
/// document that has none.
fn splice(doc: &str, table: &str) -> Result<String> {
    let Some(begin) = doc.find(BEGIN) else {
        if doc.contains(END) {
            return Err(format!("{DOC} has `{END}` but no `{BEGIN}`").into());
        }
        let separator = if doc.ends_with('\n') { "\n" } else { "\n\n" };
        return Ok(format!("{doc}{separator}{BEGIN}\n{table}{END}\n"));
    };
    let after_begin = begin + BEGIN.len();
    let end = doc[after_begin..]
        .find(END)
        .map(|offset| after_begin + offset)
        .ok_or_else(|| format!("{DOC} has `{BEGIN}` but no `{END}` after it"))?;
    Ok(format!("{}\n{table}{}", &doc[..after_begin], &doc[end..]))
}

/// Today's date in UTC, as `YYYY-MM-DD`.
fn today() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let (year, month, day) = civil_date(seconds / 86_400);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The Gregorian calendar date `days` days after 1970-01-01.
fn civil_date(mut days: u64) -> (u64, u64, u64) {
    let is_leap = |year: u64| {
        (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
    };
    let mut year = 1970;
    loop {
        let length = if is_leap(year) { 366 } else { 365 };
        if days < length {
            break;
        }
        days -= length;
        year += 1;
    }
    let february = if is_leap(year) { 29 } else { 28 };
    let months = [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 1;
    for length in months {
        if days < length {
            break;
        }
        days -= length;
        month += 1;
    }
    (year, month, days + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::TempDir;

    fn sample() -> (Vec<Timing>, IdleMemory, Setting) {
        let medians = [
            (30.0e6, 25.0e6),
            (12.5e6, 9.0e6),
            (410.0e6, 250.0e6),
            (48.0e6, 52.0e6),
            (7.5e6, 6.0e6),
        ];
        let timings = WORKLOADS
            .iter()
            .zip(medians)
            .map(|(workload, (rakt_ns, baseline_ns))| Timing {
                workload: *workload,
                rakt_ns,
                baseline_ns,
            })
            .collect();
        let memory = IdleMemory {
            rakt_bytes_per_actor: 612.4,
            rakt_passivating_bytes_per_actor: 700.0,
            baseline_bytes_per_task: 288.0,
        };
        let setting = Setting {
            date: "2026-11-23".to_owned(),
            rustc: "rustc 1.95.0 (59807616e 2026-04-14)".to_owned(),
            cores: 2,
        };
        (timings, memory, setting)
    }

    #[test]
    fn renders_the_table() {
        let (timings, memory, setting) = sample();
        let expected = "\
| workload | rakt (median) | baseline (median) | ratio | target | met |
| --- | ---: | ---: | ---: | ---: | :---: |
| `tell_1m` | 30.0 ms | 25.0 ms | 1.20 | ≤ 1.50 | yes |
| `ask_100k` | 12.5 ms | 9.00 ms | 1.39 | ≤ 1.25 | **no** |
| `fanout_1000x1000` | 410 ms | 250 ms | 1.64 | ≤ 2.00 | yes |
| `spawn_stop_100k` | 48.0 ms | 52.0 ms | 0.92 | ≤ 1.00 | yes |
| `ping_pong_100k` | 7.50 ms | 6.00 ms | 1.25 | ≤ 1.50 | yes |
| idle actor memory | 612 B/actor | 288 B/task | 2.13 | ≤ 1024 B | yes |
| passivating idle actor memory | 700 B/actor | 288 B/task | 2.43 | ≤ 1152 B | yes |

Ratio is rakt ÷ baseline, lower is better; the memory target is absolute.
Measured on 2026-11-23 with `rustc 1.95.0 (59807616e 2026-04-14)` on 2 cores (`nproc`).
Command: `cargo xtask bench`, which runs `cargo bench -p rakt-benches --bench runtime` and `cargo bench -p rakt-benches --bench idle_actor`.
";
        assert_eq!(render(&timings, memory, &setting), expected);
    }

    #[test]
    fn a_ratio_exactly_at_the_target_is_met() {
        let (mut timings, memory, setting) = sample();
        timings[1].rakt_ns = 12.5e6;
        timings[1].baseline_ns = 10.0e6;
        let table = render(&timings, memory, &setting);
        assert!(table.contains("| `ask_100k` | 12.5 ms | 10.0 ms | 1.25 | ≤ 1.25 | yes |"));
    }

    #[test]
    fn the_remote_table_checks_throughput_and_median_latency() {
        let results = RemoteResults {
            tells: [(1_200_000.0, 1_500_000.0), (900_000.0, 2_000_000.0)],
            asks: [
                [(60.0, 55.0), (300.0, 100.0)],
                [(150.0, 100.0), (900.0, 400.0)],
            ],
        };
        let table = render_remote(&results);
        assert!(
            table.contains("| remote tell, 1 pair(s) | 1,200,000 msg/s | 1,500,000 msg/s | 0.80 |"),
            "{table}"
        );
        assert!(table.contains("≥ 0.70 | yes |"), "{table}");
        assert!(
            table.contains("| remote tell, 8 pair(s) | 900,000 msg/s | 2,000,000 msg/s | 0.45 |"),
            "{table}"
        );
        assert!(
            table.contains(
                "| remote ask p50, 1 pair(s) | 60.0 µs | 55.0 µs | 1.09 | ≤ 1.20 | yes |"
            ),
            "{table}"
        );
        assert!(
            table.contains(
                "| remote ask p50, 8 pair(s) | 150 µs | 100 µs | 1.50 | ≤ 1.20 | **no** |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| remote ask p99, 8 pair(s) | 900 µs | 400 µs | 2.25 | – | – |"),
            "{table}"
        );
        assert_eq!(table.matches("**no**").count(), 2, "{table}");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_000.0), "1,000");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(812.0), "812 ns");
        assert_eq!(duration(1_234.0), "1.23 µs");
        assert_eq!(duration(45_600_000.0), "45.6 ms");
        assert_eq!(duration(2_500_000_000.0), "2.50 s");
    }

    #[test]
    fn splices_between_the_markers_and_keeps_the_rest() {
        let doc = format!("# Title\n\nIntro.\n\n{BEGIN}\nold table\n{END}\n\nOutro.\n");
        let spliced = splice(&doc, "| new |\n").unwrap();
        assert_eq!(
            spliced,
            format!("# Title\n\nIntro.\n\n{BEGIN}\n| new |\n{END}\n\nOutro.\n")
        );
        // Splicing again with the same table changes nothing.
        assert_eq!(splice(&spliced, "| new |\n").unwrap(), spliced);
    }

    #[test]
    fn the_new_document_has_both_markers() {
        let spliced = splice(NEW_DOC, "| t |\n").unwrap();
        assert!(spliced.starts_with("# Benchmarks\n"));
        assert!(spliced.ends_with(&format!("{BEGIN}\n| t |\n{END}\n")));
    }

    #[test]
    fn markers_are_appended_when_missing_and_required_in_order() {
        assert_eq!(
            splice("# Benchmarks\n", "| t |\n").unwrap(),
            format!("# Benchmarks\n\n{BEGIN}\n| t |\n{END}\n")
        );
        assert!(splice(&format!("{END}\n{BEGIN}\n"), "| t |\n").is_err());
        assert!(splice(&format!("{BEGIN}\n"), "| t |\n").is_err());
    }

    #[test]
    fn reads_criterion_and_memory_results() {
        let target = TempDir::new("xtask-bench-test").unwrap();
        for (id, median) in [("rakt", 30.5e6), ("baseline", 25.0e6)] {
            let dir = target.path().join("criterion/tell_1m").join(id).join("new");
            fs::create_dir_all(&dir).unwrap();
            let estimates = format!(
                r#"{{"mean":{{"point_estimate":1.0}},"median":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0}},"point_estimate":{median},"standard_error":3.0}}}}"#
            );
            fs::write(dir.join("estimates.json"), estimates).unwrap();
        }
        let timing = read_timing(target.path(), WORKLOADS[0]).unwrap();
        assert_eq!((timing.rakt_ns, timing.baseline_ns), (30.5e6, 25.0e6));

        let memory_file = target.path().join("idle_actor.json");
        fs::write(
            &memory_file,
            r#"{"rakt_bytes_per_actor": 512.5, "rakt_passivating_bytes_per_actor": 600, "baseline_bytes_per_task": 300}"#,
        )
        .unwrap();
        assert_eq!(
            read_idle_memory(&memory_file).unwrap(),
            IdleMemory {
                rakt_bytes_per_actor: 512.5,
                rakt_passivating_bytes_per_actor: 600.0,
                baseline_bytes_per_task: 300.0,
            }
        );

        let error = read_timing(target.path(), WORKLOADS[1])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("criterion/ask_100k/rakt/new/estimates.json"),
            "{error}"
        );
    }

    fn peer_sample() -> (Vec<PeerTiming>, PeerMemory) {
        let medians = [
            [30.0e6, 41.5e6, 88.0e6, 120.0e6, 25.0e6],
            [12.5e6, 20.0e6, 35.2e6, 18.0e6, 9.0e6],
        ];
        let timings = PEER_WORKLOADS
            .iter()
            .zip(medians)
            .map(|(workload, medians_ns)| PeerTiming {
                workload: *workload,
                medians_ns,
            })
            .collect();
        let memory = PeerMemory {
            bytes_per_actor: [612.4, 751.7, 6344.6, 5804.4],
        };
        (timings, memory)
    }

    #[test]
    fn renders_the_peers_table() {
        let (timings, memory) = peer_sample();
        let expected = "\
**Peers, same run**

| workload | rakt | actix | ractor | kameo | baseline |
| --- | ---: | ---: | ---: | ---: | ---: |
| tell 1M | 30.0 ms | 41.5 ms | 88.0 ms | 120 ms | 25.0 ms |
| ask 100k | 12.5 ms | 20.0 ms | 35.2 ms | 18.0 ms | 9.00 ms |
| idle actor bytes | 612 B | 752 B | 6345 B | 5804 B | – |

Times are the medians of `peers_tell_1m` and `peers_ask_100k`, lower is better; idle actor bytes are the live heap bytes per idle actor, handle included, of 10,000 actors of each framework.
actix runs on its own single-threaded `actix_rt::System`, the others on one two-worker tokio runtime; the baseline is the bare tokio one of the table above.
Same machine and toolchain as above; `cargo xtask bench` also runs `cargo bench -p rakt-benches --bench peers` and `cargo bench -p rakt-benches --bench peers_memory`.
";
        assert_eq!(render_peers(&timings, memory), expected);
    }

    #[test]
    fn the_peers_table_goes_below_the_first_within_the_markers() {
        let (timings, memory, setting) = sample();
        let (peer_timings, peer_memory) = peer_sample();
        let table = stack(
            &render(&timings, memory, &setting),
            &render_peers(&peer_timings, peer_memory),
        );
        let spliced = splice(NEW_DOC, &table).unwrap();
        let first = spliced.find("| `tell_1m` |").unwrap();
        let peers = spliced.find("**Peers, same run**").unwrap();
        let end = spliced.find(END).unwrap();
        assert!(first < peers && peers < end, "{spliced}");
        // The first table's text ends before the peers caption starts, with a blank line between.
        assert!(spliced.contains("--bench idle_actor`.\n\n**Peers, same run**\n"));
    }

    #[test]
    fn reads_peer_criterion_and_memory_results() {
        let target = TempDir::new("xtask-bench-peers-test").unwrap();
        for (id, median) in PEER_IDS
            .iter()
            .zip([30.5e6, 41.0e6, 88.0e6, 120.0e6, 25.0e6])
        {
            let dir = target
                .path()
                .join("criterion/peers_tell_1m")
                .join(id)
                .join("new");
            fs::create_dir_all(&dir).unwrap();
            let estimates = format!(
                r#"{{"mean":{{"point_estimate":1.0}},"median":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0}},"point_estimate":{median},"standard_error":3.0}}}}"#
            );
            fs::write(dir.join("estimates.json"), estimates).unwrap();
        }
        let timing = read_peer_timing(target.path(), PEER_WORKLOADS[0]).unwrap();
        assert_eq!(timing.medians_ns, [30.5e6, 41.0e6, 88.0e6, 120.0e6, 25.0e6]);

        let memory_file = target.path().join("peers_memory.json");
        fs::write(
            &memory_file,
            r#"{"rakt": 1001.5, "actix": 752, "ractor": 6344.25, "kameo": 5804.0}"#,
        )
        .unwrap();
        assert_eq!(
            read_peer_memory(&memory_file).unwrap(),
            PeerMemory {
                bytes_per_actor: [1001.5, 752.0, 6344.25, 5804.0],
            }
        );

        fs::write(&memory_file, r#"{"rakt": 1001.5, "actix": 752}"#).unwrap();
        let error = read_peer_memory(&memory_file).unwrap_err().to_string();
        assert!(error.contains("no number at ractor"), "{error}");

        let error = read_peer_timing(target.path(), PEER_WORKLOADS[1])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("criterion/peers_ask_100k/rakt/new/estimates.json"),
            "{error}"
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(59), (1970, 3, 1));
        // 2000 is a leap year (divisible by 400); 2100 is not.
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(11_017), (2000, 3, 1));
        assert_eq!(civil_date(20_415), (2025, 11, 23));
        assert_eq!(civil_date(47_540), (2100, 2, 28));
        assert_eq!(civil_date(47_541), (2100, 3, 1));
    }
}
