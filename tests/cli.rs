//! The command line as a user meets it: help, colour, the tour, exit codes.

mod common;

use clap::CommandFactory;
use common::{event, events, netdojo, run_json};

/// Every command line that has a `--help`: the program itself, then every
/// subcommand, groups (`tcp`) and leaves (`tcp connect`) alike, found by
/// walking clap's tree, so a command added later is checked too.
fn every_command_path() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(path.clone());
        // clap's own `help` subcommand is not ours to document.
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

#[test]
fn every_command_explains_itself_with_an_example() {
    let paths = every_command_path();
    // The walk must reach groups and leaves, or it would check nothing.
    for expected in [
        &[][..],
        &["tcp"],
        &["tcp", "connect"],
        &["udp"],
        &["udp", "send"],
        &["ws"],
        &["ws", "tap"],
        &["inspect"],
        &["lesson"],
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "the walk missed {expected:?}: {paths:?}"
        );
    }
    for path in &paths {
        let out = netdojo().args(path).arg("--help").output().unwrap();
        assert!(out.status.success(), "{path:?} --help");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains("Example"),
            "netdojo {} --help has no example:\n{help}",
            path.join(" ")
        );
        assert!(
            help.lines().next().is_some_and(|l| !l.is_empty()),
            "{path:?} --help starts with a summary"
        );
    }
}

#[test]
fn the_tour_runs_end_to_end_in_json() {
    let (out, all) = run_json(&["tour"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let chapters: Vec<_> = events(&all, "chapter")
        .iter()
        .map(|c| c["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        chapters,
        [
            "netdojo tour · Layers",
            "netdojo tour · TCP",
            "netdojo tour · UDP",
            "netdojo tour · TCP vs UDP under loss",
            "netdojo tour · Packets, layer by layer",
            "netdojo tour · WebSockets",
            "netdojo tour · Events, rooms and recovery",
            "netdojo tour · Message queues",
            "netdojo tour · Recap",
        ]
    );
    let packets = event(&all, "recap_packets");
    assert_eq!(
        packets["layers"],
        serde_json::json!(["Ethernet II", "IPv4", "TCP", "Payload"])
    );
    assert_eq!(packets["header_bytes"], 54, "14 + 20 + 20 bytes of headers");
    let layers: Vec<_> = events(&all, "layer")
        .iter()
        .map(|l| l["layer"].as_u64().unwrap())
        .collect();
    assert_eq!(layers, [7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(event(&all, "recap_tcp")["echo_intact"], true);
    let udp = event(&all, "recap_udp");
    assert_eq!(udp["boundaries_kept"], true);
    assert_eq!(
        udp["burst_received"].as_u64().unwrap() + udp["burst_lost"].as_u64().unwrap(),
        udp["burst_sent"].as_u64().unwrap()
    );
    let chat = event(&all, "recap_ws");
    assert_eq!(chat["server_frames_masked"], 0);
    assert!(chat["client_frames_masked"].as_u64().unwrap() > 0);
    assert_eq!(chat["recovered"], chat["sent_while_away"]);
    assert_eq!(chat["missed_without_recovery"], chat["sent_while_away"]);
    let mq = event(&all, "recap_queue");
    assert_eq!(mq["pubsub_received_after_return"], 0);
    assert_eq!(mq["queue_received_after_return"], mq["queue_stored"]);
    assert_eq!(
        (
            mq["naive_charges"].as_u64(),
            mq["idempotent_charges"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let compare = event(&all, "recap_compare");
    assert_eq!(compare["tcp_delivered"], compare["sent"]);
    assert_eq!(
        compare["udp_delivered"].as_u64().unwrap() + compare["udp_lost"].as_u64().unwrap(),
        compare["sent"].as_u64().unwrap()
    );
}

#[test]
fn the_tour_runs_only_the_sections_asked_for_in_the_tours_order() {
    let (out, all) = run_json(&["tour", "--only", "queues,tcp"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let chapters: Vec<_> = events(&all, "chapter")
        .iter()
        .map(|c| c["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        chapters,
        [
            "netdojo tour · TCP",
            "netdojo tour · Message queues",
            "netdojo tour · Recap"
        ]
    );
    assert_eq!(events(&all, "recap_udp").len(), 0);
    assert_eq!(events(&all, "recap_queue").len(), 1);
    // Half of the WebSocket demo: its other half runs silently.
    let (out, all) = run_json(&["tour", "--only", "events"]);
    assert!(out.status.success());
    assert!(
        events(&all, "upgrade_request").is_empty(),
        "the wire half is silent"
    );
    assert_eq!(events(&all, "broadcast").len(), 1);
    let (out, listed) = run_json(&["tour", "--list"]);
    assert!(out.status.success());
    let names: Vec<_> = events(&listed, "section")
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "layers",
            "tcp",
            "udp",
            "loss",
            "packets",
            "websockets",
            "events",
            "queues"
        ]
    );
    let out = netdojo()
        .args(["tour", "--only", "sockets"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"sockets\"") && err.contains("websockets"),
        "{err}"
    );
}

#[test]
fn no_color_and_color_never_print_no_escape_codes() {
    let plain = netdojo()
        .args(["--color", "never", "tcp", "demo"])
        .output()
        .unwrap();
    assert!(plain.status.success());
    assert!(
        !plain.stdout.contains(&0x1b),
        "--color never printed an escape code"
    );
    // NO_COLOR is set by netdojo() itself, and wins over auto.
    let auto = netdojo().args(["tcp", "demo"]).output().unwrap();
    assert!(!auto.stdout.contains(&0x1b));
    let forced = netdojo()
        .args(["--color", "always", "tcp", "demo"])
        .output()
        .unwrap();
    assert!(
        forced.stdout.contains(&0x1b),
        "--color always colours even into a pipe"
    );
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(
        text.contains("[L4 Transport]"),
        "the badge carries the layer without colour"
    );
}

/// Runs a command line that is wrong and returns its stderr, checking that
/// it is a usage error said in exactly one line, with nothing on stdout.
fn usage_error(args: &[&str]) -> String {
    let out = netdojo().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{args:?}: not one line:\n{stderr}"
    );
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    stderr
}

#[test]
fn a_usage_error_is_one_line_that_keeps_what_was_wrong_and_why() {
    let e = usage_error(&["tcp", "connect", "nonsense"]);
    assert!(e.contains("'nonsense'") && e.contains("no port"), "{e}");
    assert!(e.contains("(see netdojo tcp connect --help)"), "{e}");

    let e = usage_error(&["udp", "send", "127.0.0.1:9", "--size", "70000"]);
    assert!(e.contains("'70000'") && e.contains("65,507"), "{e}");
    assert!(e.contains("(see netdojo udp send --help)"), "{e}");

    // A global flag before the subcommand: the hint still finds the command.
    let e = usage_error(&["--pace", "fast", "tcp", "demo"]);
    assert!(e.contains("'fast'") && e.contains("800ms"), "{e}");
    assert!(e.contains("(see netdojo tcp demo --help)"), "{e}");

    let e = usage_error(&["tcp", "bogus"]);
    assert!(e.contains("'bogus'"), "{e}");
    assert!(e.contains("serve, connect, demo"), "{e}");
    assert!(e.contains("(see netdojo tcp --help)"), "{e}");

    let e = usage_error(&["--color", "purple", "tcp", "demo"]);
    assert!(
        e.contains("'purple'") && e.contains("auto, always, never"),
        "{e}"
    );

    let e = usage_error(&["tcp", "connect"]);
    assert!(e.contains("<ADDR>"), "{e}");

    let e = usage_error(&["udp", "demo", "--bogus"]);
    assert!(e.contains("'--bogus'"), "{e}");

    // A group without its command would print its whole help page to stderr.
    let e = usage_error(&["ws"]);
    assert!(
        e.contains("netdojo ws needs a command: serve, chat, demo, tap"),
        "{e}"
    );
    usage_error(&[]);
}

#[test]
fn help_and_version_are_not_errors() {
    for args in [
        &["--help"][..],
        &["tcp", "--help"],
        &["--version"],
        &["help", "udp"],
    ] {
        let out = netdojo().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(out.stderr.is_empty(), "{args:?}");
        assert!(out.stdout.len() > 10, "{args:?} printed nothing");
    }
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &["--pace", "soon", "tcp", "demo"][..],
        &["--color", "purple", "tcp", "demo"],
        &["tcp", "launch"],
        &["udp", "send", "127.0.0.1:9", "--rate", "fast"],
        &["udp", "send", "127.0.0.1:9", "--count", "0"],
    ] {
        usage_error(args);
    }
}

#[test]
fn step_waits_for_enter_and_pace_slows_without_changing_the_story() {
    use std::io::Write;
    use std::process::Stdio;

    // Enough Enters for every step; when they run out, stdin's end stops the waiting.
    let mut child = netdojo()
        .args(["--step", "tcp", "demo"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&b"\n".repeat(5))
        .unwrap();
    let stepped = child.wait_with_output().unwrap();
    assert!(stepped.status.success());
    let paced = netdojo()
        .args(["--pace", "1ms", "tcp", "demo"])
        .output()
        .unwrap();
    assert!(paced.status.success());
    for out in [&stepped.stdout, &paced.stdout] {
        let text = String::from_utf8_lossy(out);
        assert!(
            text.contains("half-closed") || text.contains("Half-close"),
            "{text}"
        );
        assert!(text.contains("TCP_INFO"), "{text}");
    }
}

#[test]
fn a_lesson_into_a_pipe_or_with_plain_is_its_markdown_file() {
    let file =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/lessons/02-tcp.md")).unwrap();
    // `--color always` would style a terminal; --plain wins, and a pipe is
    // never styled or paged.
    for args in [
        &["lesson", "2", "--plain"][..],
        &["--color", "always", "lesson", "2", "--plain"],
        &["--color", "always", "lesson", "2"],
        &["lesson", "tcp"],
    ] {
        let out = netdojo().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("{}\n", file.trim_end()),
            "{args:?}"
        );
    }
    // JSON is the same with and without --plain: the fields, markdown and all.
    let (out, plain) = run_json(&["lesson", "2", "--plain"]);
    assert!(out.status.success());
    assert_eq!(event(&plain, "lesson")["markdown"], file.as_str());
    let (out, all) = run_json(&["lesson", "2"]);
    assert!(out.status.success());
    assert_eq!(all, plain);
}

/// The tour and each demo, as a class meets them.
const SHOWCASE: &[&[&str]] = &[
    &["tour", "--pace", "0"],
    &["tcp", "demo"],
    &["udp", "demo"],
    &["ws", "demo"],
    &["queue", "demo"],
    &["compare"],
    &["inspect", "--example", "tcp-syn", "--hexdump", "--explain"],
    &["lesson", "1"],
];

/// Whether any byte of stdout or stderr is an ESC: the start of every
/// colour, style or cursor movement.
fn has_escape(out: &std::process::Output) -> bool {
    out.stdout.contains(&0x1b) || out.stderr.contains(&0x1b)
}

#[test]
fn no_color_and_color_never_print_no_escape_code_anywhere_in_the_tour() {
    use std::process::Stdio;
    for args in SHOWCASE {
        // netdojo() sets NO_COLOR=1; --color never must do without it.
        let no_color = netdojo().args(*args).stdin(Stdio::null()).output().unwrap();
        let never = netdojo()
            .env_remove("NO_COLOR")
            .args(["--color", "never"])
            .args(*args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        for (how, out) in [("NO_COLOR=1", &no_color), ("--color never", &never)] {
            assert!(
                out.status.success(),
                "{how} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!out.stdout.is_empty(), "{how} {args:?} printed nothing");
            assert!(!has_escape(out), "{how} {args:?} printed an escape code");
        }
        // The two say the same: colour was all that could differ.
        if args[0] != "tour" {
            continue;
        }
        let text = String::from_utf8_lossy(&never.stdout);
        for layer in netdojo::layer::Layer::ALL {
            assert!(
                text.contains(&layer.badge()),
                "{} is named without colour",
                layer.badge()
            );
        }
    }
    // The check can fail: forced colour colours the tour, and usage errors.
    let forced = netdojo()
        .args(["--color", "always", "tour", "--pace", "0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(forced.status.success());
    assert!(
        forced.stdout.contains(&0x1b),
        "--color always colours the tour"
    );
    let wrong = netdojo()
        .args(["--color", "always", "tcp", "bogus"])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        wrong.stderr.contains(&0x1b),
        "--color always colours error:"
    );
    let wrong = netdojo()
        .env_remove("NO_COLOR")
        .args(["--color", "never", "tcp", "bogus"])
        .output()
        .unwrap();
    assert!(!has_escape(&wrong));
}

/// Runs `netdojo ARGS` on a pseudo-terminal of 100 × 40 through `script`
/// (util-linux), with `env` set, and returns all it wrote there; `None`
/// where `script` is missing.
fn on_a_terminal(env: &[(&str, &str)], args: &[&str]) -> Option<Vec<u8>> {
    let script = ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file());
    let Some(script) = script else {
        eprintln!("skipping the terminal half: script(1) is not installed");
        return None;
    };
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let line = std::iter::once("stty cols 100 rows 40; exec env".to_string())
        .chain(env.iter().map(|(k, v)| format!("{k}={}", quote(v))))
        .chain(std::iter::once(quote(env!("CARGO_BIN_EXE_netdojo"))))
        .chain(args.iter().map(|a| quote(a)))
        .collect::<Vec<_>>()
        .join(" ");
    let out = std::process::Command::new(script)
        .args(["-qec", &line, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("PAGER")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    Some(out.stdout)
}

#[test]
fn on_a_terminal_no_color_and_color_never_still_print_no_escape_code() {
    // PAGER=cat: were a lesson styled after all, it would fail here rather
    // than wait in less for a key.
    for args in [&["tour", "--pace", "0"][..], &["lesson", "1"]] {
        let Some(no_color) = on_a_terminal(&[("NO_COLOR", "1"), ("PAGER", "cat")], args) else {
            return;
        };
        let never = on_a_terminal(
            &[("PAGER", "cat")],
            &[&["--color", "never"][..], args].concat(),
        )
        .unwrap();
        for (how, out) in [("NO_COLOR=1", no_color), ("--color never", never)] {
            assert!(out.len() > 1000, "{how} {args:?} printed little");
            assert!(
                !out.contains(&0x1b),
                "{how} {args:?} printed an escape code"
            );
        }
    }
    // Where colour is allowed, a terminal gets it.
    let auto = on_a_terminal(&[], &["tcp", "demo"]).unwrap();
    assert!(auto.contains(&0x1b), "a terminal gets colour under auto");
}

#[test]
fn on_a_terminal_a_lesson_is_styled_and_paged() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("lesson-pager");
    std::fs::create_dir_all(&dir).unwrap();
    let paged = dir.join("paged.txt");
    let _ = std::fs::remove_file(&paged);
    // A "pager" that keeps what it is given: the whole styled lesson.
    let pager = format!("sh -c cat>{}", paged.display());
    let Some(screen) = on_a_terminal(&[("PAGER", &pager)], &["lesson", "1"]) else {
        return;
    };
    let screen = String::from_utf8_lossy(&screen);
    assert!(
        !screen.contains("Layers"),
        "the pager had it, not the screen"
    );
    let styled = std::fs::read_to_string(&paged).unwrap();
    assert!(styled.contains('\x1b'), "styled");
    assert!(styled.contains("Answer") && !styled.contains("<details>"));
    assert!(!styled.contains("# Layers"), "the heading is rendered");
    // A short one, or no pager at all: straight to the screen.
    let screen = on_a_terminal(&[("PAGER", "")], &["lesson", "3"]).unwrap();
    let screen = String::from_utf8_lossy(&screen);
    assert!(
        screen.contains('\x1b') && screen.contains("UDP"),
        "{screen}"
    );
    // --plain on a terminal: the file as it is.
    let plain = on_a_terminal(&[], &["lesson", "2", "--plain"]).unwrap();
    let plain = String::from_utf8_lossy(&plain).replace("\r\n", "\n");
    let file =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/lessons/02-tcp.md")).unwrap();
    assert_eq!(plain, format!("{}\n", file.trim_end()));
}

/// The text a person reads in coloured output: without its escape codes.
fn without_escapes(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        // ESC [ parameters, up to a final byte from @ to ~.
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

#[test]
fn color_never_loses_nothing_that_colour_shows() {
    // Runs that say the same every time (seeded, or built-in frames).
    for args in [
        &["compare", "--messages", "20"][..],
        &["compare", "--messages", "5", "--trace"],
        &["inspect", "--example", "tcp-syn", "--hexdump", "--explain"],
        &["inspect", "--example", "http-response", "--explain"],
    ] {
        let run = |color: &str| {
            let out = netdojo()
                .env_remove("NO_COLOR")
                .args(["--color", color])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "--color {color} {args:?}");
            out.stdout
        };
        let coloured = run("always");
        assert!(coloured.contains(&0x1b), "{args:?} has colour to lose");
        let coloured = without_escapes(&coloured);
        let never = String::from_utf8(run("never")).unwrap();
        // Every line colour shows is there without it, in the same order;
        // without colour some views add lines (the hex dump marks each
        // byte's layer under it).
        let mut plain = never.lines();
        for line in coloured.lines() {
            assert!(
                plain.any(|l| l == line),
                "--color never {args:?} lacks {line:?}:\n{never}"
            );
        }
    }
}
