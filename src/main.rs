fn main() -> std::process::ExitCode {
    netdojo::app::run_from_args()
}
