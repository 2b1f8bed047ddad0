//! Every command's `--help` is a snapshot: `tests/snapshots/help/` holds one
//! file per command (`netdojo-queue-serve.txt`), as a user at a 100-column
//! terminal without colour sees it. A change to a flag or a doc comment
//! shows up in review as a change to these files; `UPDATE_SNAPSHOTS=1`
//! rewrites them after a deliberate one.

mod common;

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use common::netdojo;

/// The width the snapshots are taken at.
const COLUMNS: &str = "100";

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/help")
}

/// Every command line that has a `--help`, found by walking clap's tree so
/// that a command added later gets a snapshot too: `[]`, `["tcp"]`,
/// `["tcp", "serve"]`, ...
fn every_command_path() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(path.clone());
        for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
            path.push(sub.get_name().to_string());
            walk(sub, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(&netdojo::cli::Cli::command(), &mut Vec::new(), &mut out);
    out
}

/// `netdojo-tcp-serve.txt` for `["tcp", "serve"]`.
fn snapshot_name(path: &[String]) -> String {
    std::iter::once("netdojo")
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("-")
        + ".txt"
}

/// `netdojo PATH --help`, at a fixed width, checked to succeed quietly.
fn help(path: &[String]) -> String {
    let out = netdojo()
        .args(path)
        .arg("--help")
        .env("COLUMNS", COLUMNS)
        .output()
        .unwrap();
    assert!(out.status.success(), "{path:?} --help");
    assert!(out.stderr.is_empty(), "{path:?} --help wrote to stderr");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_commands_help_matches_its_snapshot() {
    let paths = every_command_path();
    assert!(paths.len() > 20, "the walk found only {paths:?}");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    if update {
        std::fs::create_dir_all(snapshot_dir()).unwrap();
    }
    let mut differ = Vec::new();
    for path in &paths {
        let name = snapshot_name(path);
        let file = snapshot_dir().join(&name);
        let actual = help(path);
        assert!(!actual.contains('\x1b'), "{name}: escape codes");
        if update {
            std::fs::write(&file, &actual).unwrap();
            continue;
        }
        match std::fs::read_to_string(&file) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => {
                eprintln!(
                    "{name} differs from its snapshot:\n{}",
                    diff(&expected, &actual)
                );
                differ.push(name);
            }
            Err(_) => {
                eprintln!("{name}: no snapshot yet; this is the help:\n{actual}");
                differ.push(name);
            }
        }
    }
    assert!(
        differ.is_empty(),
        "--help differs from tests/snapshots/help/ for {differ:?} (UPDATE_SNAPSHOTS=1 rewrites them)"
    );
}

#[test]
fn every_snapshot_belongs_to_a_command() {
    let names: Vec<String> = every_command_path()
        .iter()
        .map(|p| snapshot_name(p))
        .collect();
    let Ok(entries) = std::fs::read_dir(snapshot_dir()) else {
        return; // none yet: the test above says so
    };
    for entry in entries {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            names.contains(&file),
            "tests/snapshots/help/{file} is the help of no command: delete it"
        );
    }
}

#[test]
fn help_obeys_the_colour_flags() {
    // Auto into a pipe, and never: no escape codes. Always: some.
    for (args, coloured) in [
        (&["tcp", "--help"][..], false),
        (&["--color", "never", "tcp", "--help"], false),
        (&["--color=always", "tcp", "--help"], true),
    ] {
        let out = netdojo()
            .env_remove("NO_COLOR")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        assert_eq!(out.stdout.contains(&0x1b), coloured, "{args:?}");
    }
}

/// The lines that differ, `-` expected and `+` actual, by position: enough
/// to see what moved in a help page.
fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = String::new();
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => {}
            (x, y) => {
                if let Some(x) = x {
                    out.push_str(&format!("{:>4} - {x}\n", i + 1));
                }
                if let Some(y) = y {
                    out.push_str(&format!("{:>4} + {y}\n", i + 1));
                }
            }
        }
    }
    out
}
