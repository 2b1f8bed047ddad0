//! From a parsed command line to an exit code: set up colour and the reporter,
//! run the command, and turn an error into one line on stderr.

use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;

use colored::Colorize;

use crate::cli::{Cli, ColorChoice, Command, TcpCommand, UdpCommand, WsCommand};
use crate::error::UsageError;
use crate::report::{Pacing, Reporter};
use crate::{inspect, lab, lesson, tcp, tour, udp, ws};

/// Runs the program and returns its exit code: 0 success, 1 runtime failure,
/// 2 usage error (clap exits with 2 by itself for what it can check).
pub fn main(cli: Cli) -> ExitCode {
    // JSON is for programs: never colour it, whatever the terminal.
    configure_color(if cli.json {
        ColorChoice::Never
    } else {
        cli.color
    });
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the async runtime: {e}")),
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
        Err(e) => fail(&e),
    }
}

async fn run(cli: Cli, reporter: Reporter) -> anyhow::Result<()> {
    match cli.command {
        Command::Tour => tour::run(&reporter).await,
        Command::Lesson { which } => lesson::run(&which, &reporter),
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
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let on = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => !no_color && std::io::stdout().is_terminal(),
    };
    colored::control::set_override(on);
}

/// Prints the error as one line and picks the exit code.
fn fail(e: &anyhow::Error) -> ExitCode {
    let code = if e.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    };
    eprintln!("{} {e:#}", "error:".red().bold());
    ExitCode::from(code)
}

/// Resolves on Ctrl-C (and on SIGTERM on Unix): how a server is asked to stop.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// A shutdown future that never resolves, for code that runs to completion.
pub fn never() -> impl Future<Output = ()> {
    std::future::pending()
}
