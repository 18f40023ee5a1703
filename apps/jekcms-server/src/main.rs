//! `jekcms`: see `jekcms --help`. The program is [`jekcms_server::cli::main`].

fn main() -> std::process::ExitCode {
    jekcms_server::cli::main()
}
