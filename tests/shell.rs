//! Shell habits: completion scripts for every shell clap knows, and man
//! pages, made from the same command line as `--help`.
//!
//! `bash` checks the bash script's syntax and asks it for real completions.
//! The other shells, `man` and `groff` are used where installed and skipped
//! otherwise: they read what we write, and no test needs them to run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::CommandFactory;
use common::netdojo;

const SHELLS: [&str; 5] = ["bash", "zsh", "fish", "powershell", "elvish"];

/// `netdojo completions SHELL`, checked to succeed quietly.
fn completions(shell: &str) -> String {
    let out = netdojo().args(["completions", shell]).output().unwrap();
    assert!(out.status.success(), "completions {shell}");
    assert!(
        out.stderr.is_empty(),
        "completions {shell}: {:?}",
        out.stderr
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A program on PATH, or `None` (and a note that the check is skipped).
fn installed(program: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!("skipping the {program} check: {program} is not installed");
    }
    found
}

/// A fresh, empty directory under the target directory.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_shell_gets_a_script_that_knows_the_commands() {
    for shell in SHELLS {
        let script = completions(shell);
        assert!(script.len() > 1000, "{shell}: {} bytes", script.len());
        for word in ["tour", "inspect", "queue", "lesson", "completions"] {
            assert!(script.contains(word), "{shell}'s script lacks {word}");
        }
    }
}

#[test]
fn the_bash_script_parses_and_completes() {
    let script = completions("bash");
    let dir = scratch_dir("completions-bash");
    let file = dir.join("netdojo.bash");
    std::fs::write(&file, &script).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(
        syntax.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    // What Tab would offer: bash calls the function with the words so far.
    let complete = |words: &str| -> Vec<String> {
        let program = format!(
            "source {file}\nCOMP_WORDS=({words})\nCOMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n_netdojo netdojo \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file = file.display()
        );
        let out = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", &program])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{words}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    };
    assert_eq!(complete("netdojo qu"), ["queue"]);
    assert_eq!(complete("netdojo tcp de"), ["demo"]);
    let shells = complete("netdojo completions ''");
    for shell in SHELLS {
        assert!(shells.iter().any(|s| s == shell), "{shell}: {shells:?}");
    }
    let flags = complete("netdojo compare --lo");
    assert_eq!(flags, ["--loss"]);
}

#[test]
fn the_other_scripts_parse_where_their_shell_is_installed() {
    for (shell, program, args) in [
        ("zsh", "zsh", &["-n"][..]),
        ("fish", "fish", &["--no-execute"]),
        ("powershell", "pwsh", &["-NoProfile", "-File"]),
    ] {
        let Some(program) = installed(program) else {
            continue;
        };
        let dir = scratch_dir(&format!("completions-{shell}"));
        let file = dir.join(if shell == "powershell" {
            "netdojo.ps1"
        } else {
            "netdojo"
        });
        std::fs::write(&file, completions(shell)).unwrap();
        let out = Command::new(program)
            .args(args)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The page's lines after the roff preamble that every clap_mangen page
/// opens with (`.ie \n(.g .ds Aq \(aq` / `.el .ds Aq '`, which defines the
/// apostrophe for groff and for other roffs).
fn after_preamble(page: &str) -> Vec<&str> {
    page.lines()
        .skip_while(|l| l.starts_with(".ie ") || l.starts_with(".el "))
        .collect()
}

#[test]
fn man_prints_the_programs_page() {
    let out = netdojo().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    let lines = after_preamble(&page);
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with(".TH netdojo 1")),
        "{page}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(lines.contains(&section), "no {section}:\n{page}");
    }
    // Subcommands point at their own pages; clap's `help` has none.
    assert!(page.contains("netdojo\\-tcp(1)"), "{page}");
    assert!(!page.contains("netdojo\\-help"), "{page}");
    assert!(page.contains("netdojo tcp demo \\-\\-pace 800ms"), "{page}");
}

/// Every command path as a page name: `netdojo`, `netdojo-tcp`,
/// `netdojo-tcp-serve`, ...
fn every_page_name() -> Vec<String> {
    fn walk(cmd: &clap::Command, name: String, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
            walk(sub, format!("{name}-{}", sub.get_name()), out);
        }
        out.push(name);
    }
    let mut out = Vec::new();
    walk(
        &netdojo::cli::Cli::command(),
        "netdojo".to_string(),
        &mut out,
    );
    out
}

#[test]
fn man_dir_writes_one_page_per_command() {
    let dir = scratch_dir("man-pages").join("man1");
    let out = netdojo().args(["man", "--dir"]).arg(&dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut written: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    let mut expected: Vec<String> = every_page_name()
        .into_iter()
        .map(|n| format!("{n}.1"))
        .collect();
    expected.sort();
    assert_eq!(written, expected);
    assert!(written.iter().any(|n| n == "netdojo-tcp-serve.1"));
    // Each file written is reported, one line each.
    let said = String::from_utf8(out.stdout).unwrap();
    assert_eq!(said.lines().count(), expected.len(), "{said}");
    assert!(said.contains("netdojo-queue-serve.1"), "{said}");

    let serve = std::fs::read_to_string(dir.join("netdojo-tcp-serve.1")).unwrap();
    let lines = after_preamble(&serve);
    assert!(
        lines[0].starts_with(".TH netdojo-tcp-serve 1  \"netdojo 0.1.0\""),
        "{}",
        lines[0]
    );
    assert!(serve.contains("\\-\\-listen"), "{serve}");

    if let Some(man) = installed("man") {
        let out = Command::new(man)
            .arg("-l")
            .arg(dir.join("netdojo-tcp-serve.1"))
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("NAME") && text.contains("--listen"), "{text}");
    }
    // -k: through preconv, as man does, since the pages are UTF-8 (×, ·).
    if let Some(groff) = installed("groff") {
        for name in ["netdojo.1", "netdojo-compare.1", "netdojo-queue-serve.1"] {
            let out = Command::new(&groff)
                .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
                .arg(dir.join(name))
                .output()
                .unwrap();
            assert!(out.status.success(), "{name}");
            assert!(
                out.stderr.is_empty(),
                "groff warns about {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn a_closed_pipe_ends_them_quietly() {
    for args in [&["completions", "zsh"][..], &["man"], &["lesson", "1"]] {
        // Like `| head -0`: the reader is gone before the first write.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = netdojo()
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {:?}", out.status);
        assert!(
            out.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
