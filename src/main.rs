fn main() -> std::process::ExitCode {
    medialib::cli::main()
}
