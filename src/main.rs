use clap::Parser;

fn main() -> std::process::ExitCode {
    netdojo::app::main(netdojo::cli::Cli::parse())
}
