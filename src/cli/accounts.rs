//! `medialib repository`, `medialib token` and `medialib user`.

use anyhow::{anyhow, bail, Context};
use clap::Subcommand;

use super::output::{print_list, time};
use crate::config::StorageSettings;
use crate::db::{DbError, NewToken};
use crate::domain::ids::{hash_token, new_token_id, new_token_secret};
use crate::domain::{now_millis, repository_name};
use crate::startup::open_storage;

#[derive(Debug, Subcommand)]
pub enum RepositoryCommand {
    /// Create a repository.
    Create {
        /// Lower-case letters, digits and hyphens, 4 to 63 characters.
        name: String,
    },
    /// List repositories.
    List {
        /// Print JSON instead of a table.
        #[arg(long, env = "MEDIALIB_JSON")]
        json: bool,
    },
    /// Delete a repository with its assets, tags and tokens.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a permanent token and print it alone on standard output.
    Create {
        /// Repository the token gives access to.
        #[arg(long, env = "MEDIALIB_REPOSITORY")]
        repository: String,
        /// Allow only reading.
        #[arg(long, env = "MEDIALIB_READ_ONLY")]
        read_only: bool,
        /// A note to recognise the token by.
        #[arg(long, env = "MEDIALIB_LABEL")]
        label: Option<String>,
    },
    /// List tokens (never their secrets).
    List {
        /// Print JSON instead of a table.
        #[arg(long, env = "MEDIALIB_JSON")]
        json: bool,
    },
    /// Revoke a token by the id shown by `token list`.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user of a repository, or add a repository to an existing user.
    Create {
        #[arg(long, env = "MEDIALIB_EMAIL")]
        email: String,
        #[arg(long, env = "MEDIALIB_REPOSITORY")]
        repository: String,
    },
    /// Set a user's password from the first line of standard input; ends the user's sessions.
    SetPassword {
        #[arg(long, env = "MEDIALIB_EMAIL")]
        email: String,
    },
    /// List users.
    List {
        /// Print JSON instead of a table.
        #[arg(long, env = "MEDIALIB_JSON")]
        json: bool,
    },
}

pub async fn run_repository(
    command: RepositoryCommand,
    storage: &StorageSettings,
) -> anyhow::Result<()> {
    let (database, store) = open_storage(storage).await?;
    match command {
        RepositoryCommand::Create { name } => {
            repository_name::check(&name).map_err(|message| anyhow!(message))?;
            match database.create_repository(&name, now_millis()).await {
                Ok(_) => println!("{name}"),
                Err(DbError::Conflict) => bail!("repository {name:?} already exists"),
                Err(error) => return Err(error.into()),
            }
        }
        RepositoryCommand::List { json } => {
            let repositories = database.list_repositories().await?;
            print_list(
                &repositories,
                json,
                &["NAME", "ASSETS", "TOKENS", "CREATED"],
                |repository| {
                    vec![
                        repository.name.clone(),
                        repository.assets.to_string(),
                        repository.tokens.to_string(),
                        time(repository.created_at),
                    ]
                },
            );
        }
        RepositoryCommand::Delete { name } => {
            let keys = match database.delete_repository(&name, now_millis()).await {
                Ok(keys) => keys,
                Err(DbError::NotFound) => bail!("repository {name:?} not found"),
                Err(error) => return Err(error.into()),
            };
            for key in &keys {
                if store.delete(key).await.is_ok() {
                    database.remove_pending_object(key).await?;
                }
            }
        }
    }
    Ok(())
}

pub async fn run_token(command: TokenCommand, storage: &StorageSettings) -> anyhow::Result<()> {
    let (database, _store) = open_storage(storage).await?;
    match command {
        TokenCommand::Create {
            repository,
            read_only,
            label,
        } => {
            let Some(record) = database.find_repository(&repository).await? else {
                bail!("repository {repository:?} not found; create it with `medialib repository create {repository}`");
            };
            let secret = new_token_secret("mlt");
            let token = NewToken {
                id: new_token_id(),
                secret_hash: hash_token(&secret),
                repository_id: Some(record.id),
                user_id: None,
                read_only,
                label,
                created_at: now_millis(),
                expires_at: None,
            };
            database.create_token(token).await?;
            println!("{secret}");
        }
        TokenCommand::List { json } => {
            let tokens = database.list_tokens().await?;
            print_list(
                &tokens,
                json,
                &[
                    "ID",
                    "KIND",
                    "REPOSITORY",
                    "ACCESS",
                    "LABEL",
                    "CREATED",
                    "STATE",
                ],
                |token| {
                    let state = if token.revoked_at.is_some() {
                        "revoked"
                    } else if token
                        .expires_at
                        .is_some_and(|expires_at| expires_at <= now_millis())
                    {
                        "expired"
                    } else {
                        "active"
                    };
                    vec![
                        token.id.clone(),
                        token.kind.to_owned(),
                        token
                            .repository
                            .clone()
                            .or_else(|| token.user_email.clone())
                            .unwrap_or_default(),
                        if token.read_only { "read" } else { "write" }.to_owned(),
                        token.label.clone().unwrap_or_default(),
                        time(token.created_at),
                        state.to_owned(),
                    ]
                },
            );
        }
        TokenCommand::Revoke { id } => match database.revoke_token(&id, now_millis()).await {
            Ok(()) => {}
            Err(DbError::NotFound) => bail!("token {id:?} not found; see `medialib token list`"),
            Err(error) => return Err(error.into()),
        },
    }
    Ok(())
}

pub async fn run_user(command: UserCommand, storage: &StorageSettings) -> anyhow::Result<()> {
    let (database, _store) = open_storage(storage).await?;
    match command {
        UserCommand::Create { email, repository } => {
            let email = email.to_lowercase();
            if !email.contains('@') || email.trim() != email || email.len() > 320 {
                bail!("invalid email {email:?}: send an address such as ada@example.com");
            }
            let Some(record) = database.find_repository(&repository).await? else {
                bail!("repository {repository:?} not found; create it with `medialib repository create {repository}`");
            };
            match database.create_user(&email, record.id, now_millis()).await {
                Ok(user) => println!("{}", user.id),
                Err(DbError::Conflict) => {
                    bail!("user {email:?} already belongs to repository {repository:?}")
                }
                Err(error) => return Err(error.into()),
            }
        }
        UserCommand::SetPassword { email } => {
            let email = email.to_lowercase();
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("failed to read the password from standard input")?;
            let password = line.trim_end_matches(['\n', '\r']).to_owned();
            if password.is_empty() {
                bail!("the password is empty; write it as the first line of standard input");
            }
            let phc = tokio::task::spawn_blocking(move || crate::auth::password::hash(&password))
                .await??;
            match database.set_password(&email, &phc, now_millis()).await {
                Ok(()) => {}
                Err(DbError::NotFound) => {
                    bail!("user {email:?} not found; create it with `medialib user create`")
                }
                Err(error) => return Err(error.into()),
            }
        }
        UserCommand::List { json } => {
            let users = database.list_users().await?;
            print_list(
                &users,
                json,
                &["ID", "EMAIL", "REPOSITORIES", "PASSWORD", "CREATED"],
                |user| {
                    vec![
                        user.id.clone(),
                        user.email.clone(),
                        user.repositories.join(","),
                        if user.has_password { "set" } else { "none" }.to_owned(),
                        time(user.created_at),
                    ]
                },
            );
        }
    }
    Ok(())
}
