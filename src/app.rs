//! From a parsed command line to an exit code: set up colour and the reporter,
//! run the command, and turn an error into one line on stderr.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, ColorChoice, Command, QueueCommand, TcpCommand, UdpCommand, WsCommand};
use crate::error::UsageError;
use crate::report::{Pacing, Reporter};
use crate::{cli, inspect, lab, lesson, queue, tcp, tour, udp, ws};

/// Parses the command line and runs it: the whole program, for `main.rs`.
pub fn run_from_args() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // `--help` and usage errors come before the command line is parsed, so
    // `--color` is looked for by hand, to apply to them too.
    let color = color_choice_in(&args);
    let mut cmd = Cli::command().color(match color {
        ColorChoice::Auto => clap::ColorChoice::Auto,
        ColorChoice::Always => clap::ColorChoice::Always,
        ColorChoice::Never => clap::ColorChoice::Never,
    });
    let parsed = cmd
        .try_get_matches_from_mut(&args)
        .and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches))
        .map_err(|e| e.format(&mut cmd));
    match parsed {
        Ok(cli) => main(cli),
        Err(e) => clap_failure(&e, &args, color),
    }
}

/// The last `--color WHEN` (or `--color=WHEN`) on a command line, as clap
/// would take it; `auto` when there is none or it is not a choice (which
/// clap then reports).
fn color_choice_in(args: &[String]) -> ColorChoice {
    use clap::ValueEnum;
    let mut choice = ColorChoice::Auto;
    let mut words = args.iter().skip(1);
    while let Some(word) = words.next() {
        if word == "--" {
            break;
        }
        let value = match word.strip_prefix("--color") {
            Some("") => words.next().map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(c) = value.and_then(|v| ColorChoice::from_str(v, false).ok()) {
            choice = c;
        }
    }
    choice
}

/// Runs the program and returns its exit code: 0 success, 1 runtime failure,
/// 2 usage error.
pub fn main(cli: Cli) -> ExitCode {
    // JSON is for programs: never colour it, whatever the terminal.
    let color = if cli.json {
        ColorChoice::Never
    } else {
        cli.color
    };
    configure_color(color);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            return fail(
                &anyhow::anyhow!("cannot start the async runtime: {e}"),
                color,
            );
        }
    };
    let reporter = if cli.json {
        Reporter::json(cli.verbose)
    } else {
        Reporter::human(cli.verbose, Pacing::new(cli.pace, cli.step))
    };
    let result = runtime.block_on(run(cli, reporter));
    // Do not wait for tasks still blocked on stdin (a client's reader) or the
    // network: the command is over.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, color),
    }
}

async fn run(cli: Cli, reporter: Reporter) -> anyhow::Result<()> {
    match cli.command {
        Command::Tour { list: true, .. } => {
            tour::list(&reporter);
            Ok(())
        }
        Command::Tour { only, .. } => tour::run(&reporter, only.as_deref()).await,
        Command::Lesson { which, plain } => lesson::run(&which, plain, &reporter),
        Command::Completions { shell } => print_raw(&cli::completion_script(shell)),
        Command::Man { dir: None } => print_raw(&cli::man_page()),
        Command::Man { dir: Some(dir) } => {
            let pages = cli::write_man_pages(&dir)
                .map_err(|e| anyhow::anyhow!("cannot write man pages to {}: {e}", dir.display()))?;
            for page in &pages {
                reporter.item(
                    "man_page",
                    &[("path", page.display().to_string().into())],
                    &format!("wrote {}", page.display()),
                );
            }
            Ok(())
        }
        Command::Tcp(TcpCommand::Serve { listen }) => {
            let listener = listen.bind_tcp().await?;
            tcp::serve(listener, reporter, shutdown_signal()).await
        }
        Command::Tcp(TcpCommand::Connect { addr, send }) => {
            tcp::client::run(&addr, send, &reporter).await
        }
        Command::Tcp(TcpCommand::Demo) => tcp::demo::run(&reporter).await.map(drop),
        Command::Udp(UdpCommand::Serve { listen, echo }) => {
            let socket = listen.bind_udp().await?;
            udp::serve(
                socket,
                udp::ServeOptions { echo },
                reporter,
                shutdown_signal(),
            )
            .await
        }
        Command::Udp(UdpCommand::Send(args)) => udp::sender::run(&args, &reporter).await.map(drop),
        Command::Udp(UdpCommand::Demo) => udp::demo::run(&reporter).await.map(drop),
        Command::Udp(UdpCommand::Relay(args)) => {
            let listen = args.listen.bind_udp().await?;
            let to = args.to.resolve().await?;
            lab::relay::relay(
                listen,
                to,
                lab::Impairments {
                    loss: args.loss,
                    delay: args.delay,
                    jitter: args.jitter,
                    duplicate: args.duplicate,
                    reorder: args.reorder,
                    corrupt: args.corrupt,
                    bandwidth: args.bandwidth.0,
                },
                args.seed,
                reporter,
                shutdown_signal(),
            )
            .await
        }
        // Reading frames is blocking work (files, a raw socket): keep it off
        // the async workers.
        Command::Inspect(args) => {
            let json = cli.json;
            tokio::task::spawn_blocking(move || inspect::run(&args, json)).await?
        }
        // The simulation is pure computation: keep it off the async workers.
        Command::Compare(args) => {
            let json = cli.json;
            tokio::task::spawn_blocking(move || lab::run(&args, &reporter, json)).await?
        }
        Command::Ws(WsCommand::Serve {
            listen,
            max_clients,
            no_recovery,
            rate_limit,
            heartbeat,
            heartbeat_timeout,
        }) => {
            if heartbeat_timeout < heartbeat {
                return Err(UsageError(format!(
                    "--heartbeat-timeout {} is shorter than --heartbeat {}: every client would be dropped before its first ping",
                    humantime::format_duration(heartbeat_timeout),
                    humantime::format_duration(heartbeat)
                ))
                .into());
            }
            let listener = listen.bind_tcp().await?;
            let options = ws::server::ServeOptions {
                max_clients,
                recovery: !no_recovery,
                rate_per_sec: rate_limit,
                heartbeat_interval: heartbeat,
                heartbeat_timeout,
            };
            ws::server::serve(listener, options, reporter, shutdown_signal()).await
        }
        Command::Queue(QueueCommand::Serve(args)) => queue::run_serve(&args, reporter).await,
        Command::Queue(QueueCommand::Produce(args)) => {
            queue::client::produce(&args, &reporter).await
        }
        Command::Queue(QueueCommand::Consume(args)) => {
            queue::client::consume(&args, &reporter).await
        }
        Command::Queue(QueueCommand::Stats { broker }) => {
            let addr = broker.resolve().await?;
            queue::client::stats(addr, &reporter).await
        }
        Command::Queue(QueueCommand::Demo) => queue::demo::run(&reporter).await.map(drop),
        Command::Ws(WsCommand::Chat(args)) => ws::chat::run(&args, &reporter).await,
        Command::Ws(WsCommand::Demo) => ws::demo::run(&reporter).await.map(drop),
        Command::Ws(WsCommand::Tap { listen, upstream }) => {
            let listener = listen.bind_tcp().await?;
            let upstream = upstream.resolve().await?;
            ws::tap::run(listener, upstream, reporter, shutdown_signal()).await
        }
    }
}

/// Colour only where it helps: `auto` means a terminal and no `NO_COLOR`.
fn configure_color(choice: ColorChoice) {
    colored::control::set_override(color_on(choice, std::io::stdout().is_terminal()));
}

/// Whether to colour a stream, given `--color` and whether the stream is a
/// terminal.
fn color_on(choice: ColorChoice, terminal: bool) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => !no_color && terminal,
    }
}

/// Writes what is not narration (a completion script, a man page) to
/// stdout as it is; a closed stdout (`| head`) is not an error.
fn print_raw(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written.map_err(|e| anyhow::anyhow!("cannot write to stdout: {e}")),
    }
}

/// Prints the error as one line and picks the exit code.
fn fail(e: &anyhow::Error, color: ColorChoice) -> ExitCode {
    let code = if e.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    };
    eprintln!("{} {e:#}", error_label(color));
    ExitCode::from(code)
}

/// `error:`, in bold red where stderr may have colour. Decided for stderr
/// itself: `2> log` from a terminal gets no escape codes.
fn error_label(color: ColorChoice) -> String {
    if color_on(color, std::io::stderr().is_terminal()) {
        let style = clap::builder::styling::AnsiColor::Red.on_default().bold();
        format!("{style}error:{style:#}")
    } else {
        "error:".to_string()
    }
}

/// What clap could not parse. `--help` and `--version` are not failures:
/// they print as clap renders them, to stdout, with exit code 0. Anything
/// else is a usage error, said in one line (see [`usage_line`]), exit code 2.
fn clap_failure(e: &clap::Error, args: &[String], color: ColorChoice) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // A closed stdout (`--help | head`) is not worth an error.
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{} {}", error_label(color), usage_line(e, args));
            ExitCode::from(2)
        }
    }
}

/// A clap error as one line, without the `error: ` prefix: what was wrong
/// (the value, the argument, why), clap's tip if it has one, and where to
/// read more. clap's own rendering spreads this over several lines, with a
/// usage block and a blank line or two; the facts are kept, the layout is not.
pub fn usage_line(e: &clap::Error, args: &[String]) -> String {
    use clap::error::ErrorKind;
    let root = Cli::command();
    let path = command_path(&root, args.get(1..).unwrap_or_default());
    let cmd = path
        .iter()
        .try_fold(&root, |cmd, name| cmd.find_subcommand(name))
        .unwrap_or(&root);
    let shown = std::iter::once("netdojo")
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let subcommands = || {
        cmd.get_subcommands()
            .filter(|c| !c.is_hide_set() && c.get_name() != "help")
            .map(|c| c.get_name().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut line = match e.kind() {
        // clap would print the whole help page to stderr here.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand
            if cmd.has_subcommands() =>
        {
            format!("{shown} needs a command: {}", subcommands())
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            format!("{shown} needs arguments")
        }
        kind => {
            let mut line = one_line(&e.render().to_string());
            if kind == ErrorKind::InvalidSubcommand && cmd.has_subcommands() {
                line.push_str(&format!("; {shown} has {}", subcommands()));
            }
            line
        }
    };
    line.push_str(&format!(" (see {shown} --help)"));
    line
}

/// clap's rendered error, paragraph by paragraph, without the parts that
/// only make sense on several lines: the `error: ` prefix, the usage block
/// and the "For more information" pointer (replaced by our own).
fn one_line(rendered: &str) -> String {
    let mut paragraphs: Vec<String> = Vec::new();
    for paragraph in rendered.split("\n\n") {
        let lines: Vec<&str> = paragraph
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let Some((first, rest)) = lines.split_first() else {
            continue;
        };
        if first.starts_with("Usage:") || first.starts_with("For more information") {
            continue;
        }
        let first = first.strip_prefix("error:").map_or(*first, str::trim_start);
        let text = if rest.is_empty() {
            first.to_string()
        } else if first.ends_with(':') {
            // "the following required arguments were not provided:" + a list
            format!("{first} {}", rest.join(", "))
        } else {
            format!("{first} {}", rest.join(" "))
        };
        paragraphs.push(text);
    }
    paragraphs.join("; ")
}

/// The subcommands named on a command line (`["tcp", "connect"]`), as far as
/// they are real: the help to point at. Options and their values are
/// skipped; a word that is no subcommand of the one reached so far is an
/// argument, or the mistake being reported.
fn command_path(root: &clap::Command, args: &[String]) -> Vec<String> {
    let mut path = Vec::new();
    let mut cmd = root;
    for arg in args {
        if arg == "--" {
            break;
        }
        if arg.starts_with('-') {
            continue;
        }
        if let Some(sub) = cmd.find_subcommand(arg).filter(|c| c.get_name() != "help") {
            path.push(sub.get_name().to_string());
            cmd = sub;
        }
    }
    path
}

/// Resolves on Ctrl-C (and on SIGTERM on Unix): how a server is asked to stop.
///
/// The handlers are installed when this is called, not when the future is
/// first polled: a server announces "listening" before its accept loop polls
/// anything, and a SIGTERM arriving in between (a test stopping a server that
/// has just served one connection) would otherwise take the default action
/// and kill the process instead of shutting it down.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt()).ok();
        let term = signal(SignalKind::terminate()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(int) => {}
                _ = wait(term) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A shutdown future that never resolves, for code that runs to completion.
pub fn never() -> impl Future<Output = ()> {
    std::future::pending()
}
