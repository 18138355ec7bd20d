//! The `medialib` command line.

mod accounts;
mod copy;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{LogFormat, ServeSettings, StorageSettings};

/// A self-hosted media library server compatible with the Prismic Asset API.
#[derive(Debug, Parser)]
#[command(name = "medialib", version, about)]
pub struct Cli {
    #[command(flatten)]
    storage: StorageSettings,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve(ServeSettings),
    /// Create, list and delete repositories.
    #[command(subcommand)]
    Repository(accounts::RepositoryCommand),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(accounts::TokenCommand),
    /// Create users of the Authentication API, set their passwords, list them.
    #[command(subcommand)]
    User(accounts::UserCommand),
    /// Apply pending database migrations and exit; every other command also applies them when it starts.
    Migrate,
    /// Copy a whole installation into an empty target (another database and file store) and verify the copy; run
    /// it again to resume an interrupted copy.
    ///
    /// The --from-* options name the source and the --to-* options the target; --data-dir, --database-url and
    /// --storage-url do not apply to this command.
    Copy(copy::CopySettings),
}

/// Runs the command line; returns 0 on success and 1 with a one-line message on standard error otherwise.
pub fn main() -> ExitCode {
    crate::memory::tune_allocator();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    let log_format = match &cli.command {
        Command::Serve(settings) => settings.log_format,
        _ => LogFormat::Text,
    };
    let default_filter = match &cli.command {
        Command::Serve(_) => "info,sqlx=warn",
        _ => "warn,sqlx=error",
    };
    crate::telemetry::init(log_format, default_filter);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints help and version requests as clap does; other parse errors get one line and exit code 1.
fn usage_error(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    let rendered = error.render().to_string();
    let mut lines = rendered.lines();
    let mut first_line = lines
        .next()
        .unwrap_or("error: invalid arguments")
        .to_owned();
    // A list that clap puts under its first line, such as the missing arguments, belongs in the one line.
    if first_line.ends_with(':') {
        let items: Vec<&str> = lines
            .take_while(|line| line.starts_with(' '))
            .map(str::trim)
            .collect();
        first_line = format!("{first_line} {}", items.join(", "));
    }
    let tip = rendered
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("tip:"));
    match tip {
        Some(tip) => eprintln!("{first_line} ({tip}; see `medialib --help`)"),
        None => eprintln!("{first_line} (see `medialib --help`)"),
    }
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(settings) => crate::startup::serve(settings, cli.storage).await,
        Command::Repository(command) => accounts::run_repository(command, &cli.storage).await,
        Command::Token(command) => accounts::run_token(command, &cli.storage).await,
        Command::User(command) => accounts::run_user(command, &cli.storage).await,
        Command::Copy(settings) => copy::run(settings).await,
        Command::Migrate => {
            crate::startup::open_database(&cli.storage).await?;
            // The same line whether this run applied migrations or found them applied.
            println!("{}: every migration is applied", cli.storage.database().redacted());
            Ok(())
        }
    }
}
