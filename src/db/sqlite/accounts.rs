//! Repositories, tokens and users.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{ResultExt, SqliteDatabase};
use crate::db::*;

impl SqliteDatabase {
    pub(super) async fn bootstrap(&self, name: &str, token: NewToken) -> DbResult<bool> {
        let mut tx = self.begin_write().await?;

        let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM repositories")
            .fetch_one(&mut *tx)
            .await
            .db()?;
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM bootstrap")
            .fetch_one(&mut *tx)
            .await
            .db()?;
        if existing > 0 || done > 0 {
            return Ok(false);
        }

        sqlx::query("INSERT INTO bootstrap (id, created_at) VALUES (1, ?)")
            .bind(token.created_at)
            .execute(&mut *tx)
            .await
            .db()?;
        let repository_id: i64 = sqlx::query_scalar(
            "INSERT INTO repositories (name, created_at) VALUES (?, ?) RETURNING id",
        )
        .bind(name)
        .bind(token.created_at)
        .fetch_one(&mut *tx)
        .await
        .db()?;
        insert_token(
            &mut tx,
            &NewToken {
                repository_id: Some(repository_id),
                ..token
            },
        )
        .await?;

        tx.commit().await.db()?;
        Ok(true)
    }

    pub(super) async fn create_repository(
        &self,
        name: &str,
        now: i64,
    ) -> DbResult<RepositoryRecord> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO repositories (name, created_at) VALUES (?, ?) RETURNING id",
        )
        .bind(name)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .db()?;
        Ok(RepositoryRecord {
            id,
            name: name.to_owned(),
            created_at: now,
        })
    }

    pub(super) async fn list_repositories(&self) -> DbResult<Vec<RepositorySummary>> {
        let rows = sqlx::query(
            "SELECT r.name, r.created_at,
                    (SELECT count(*) FROM assets a WHERE a.repository_id = r.id) AS assets,
                    (SELECT count(*) FROM tokens t WHERE t.repository_id = r.id AND t.revoked_at IS NULL) AS tokens
             FROM repositories r ORDER BY r.name",
        )
        .fetch_all(&self.pool)
        .await
        .db()?;
        Ok(rows
            .into_iter()
            .map(|row| RepositorySummary {
                name: row.get("name"),
                created_at: row.get("created_at"),
                assets: row.get("assets"),
                tokens: row.get("tokens"),
            })
            .collect())
    }

    pub(super) async fn delete_repository(&self, name: &str, now: i64) -> DbResult<Vec<String>> {
        let mut tx = self.begin_write().await?;

        let id: i64 = sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .db()?
            .ok_or(DbError::NotFound)?;
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT storage_key FROM assets WHERE repository_id = ?")
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .db()?;
        sqlx::query(
            "INSERT OR REPLACE INTO pending_objects (storage_key, not_before)
             SELECT storage_key, ? FROM assets WHERE repository_id = ?",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .db()?;
        sqlx::query("DELETE FROM repositories WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .db()?;

        tx.commit().await.db()?;
        Ok(keys)
    }

    pub(super) async fn find_repository(&self, name: &str) -> DbResult<Option<RepositoryRecord>> {
        let row = sqlx::query("SELECT id, name, created_at FROM repositories WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        Ok(row.map(|row| RepositoryRecord {
            id: row.get("id"),
            name: row.get("name"),
            created_at: row.get("created_at"),
        }))
    }

    pub(super) async fn create_token(&self, token: NewToken) -> DbResult<()> {
        let mut tx = self.begin_write().await?;
        insert_token(&mut tx, &token).await?;
        tx.commit().await.db()
    }

    pub(super) async fn list_tokens(&self) -> DbResult<Vec<TokenSummary>> {
        let rows = sqlx::query(
            "SELECT t.id, r.name AS repository, u.email, t.user_id, t.read_only, t.label, t.created_at,
                    t.expires_at, t.revoked_at
             FROM tokens t
             LEFT JOIN repositories r ON r.id = t.repository_id
             LEFT JOIN users u ON u.id = t.user_id
             ORDER BY t.created_at, t.id",
        )
        .fetch_all(&self.pool)
        .await
        .db()?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let user_id: Option<String> = row.get("user_id");
                TokenSummary {
                    id: row.get("id"),
                    kind: if user_id.is_some() {
                        "session"
                    } else {
                        "permanent"
                    },
                    repository: row.get("repository"),
                    user_email: row.get("email"),
                    read_only: row.get("read_only"),
                    label: row.get("label"),
                    created_at: row.get("created_at"),
                    expires_at: row.get("expires_at"),
                    revoked_at: row.get("revoked_at"),
                }
            })
            .collect())
    }

    pub(super) async fn revoke_token(&self, id: &str, now: i64) -> DbResult<()> {
        let result =
            sqlx::query("UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await
                .db()?;
        if result.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    pub(super) async fn find_token(&self, secret_hash: &str) -> DbResult<Option<TokenRecord>> {
        let row = sqlx::query(
            "SELECT id, repository_id, user_id, read_only, expires_at, revoked_at FROM tokens WHERE secret_hash = ?",
        )
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await
        .db()?;
        Ok(row.map(|row| token_from_row(&row)))
    }

    pub(super) async fn create_user(
        &self,
        email: &str,
        repository_id: i64,
        now: i64,
    ) -> DbResult<UserRecord> {
        let mut tx = self.begin_write().await?;

        let existing = sqlx::query("SELECT id, email, password_hash FROM users WHERE email = ?")
            .bind(email)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        let user = match existing {
            Some(row) => UserRecord {
                id: row.get("id"),
                email: row.get("email"),
                password_hash: row.get("password_hash"),
            },
            None => {
                let user = UserRecord {
                    id: crate::domain::ids::new_user_id(),
                    email: email.to_owned(),
                    password_hash: None,
                };
                sqlx::query("INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)")
                    .bind(&user.id)
                    .bind(email)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .db()?;
                user
            }
        };
        let added = sqlx::query(
            "INSERT OR IGNORE INTO user_repositories (user_id, repository_id) VALUES (?, ?)",
        )
        .bind(&user.id)
        .bind(repository_id)
        .execute(&mut *tx)
        .await
        .db()?;
        if added.rows_affected() == 0 {
            return Err(DbError::Conflict);
        }

        tx.commit().await.db()?;
        Ok(user)
    }

    pub(super) async fn set_password(
        &self,
        email: &str,
        password_hash: &str,
        now: i64,
    ) -> DbResult<()> {
        let mut tx = self.begin_write().await?;

        let user_id: String = sqlx::query_scalar("SELECT id FROM users WHERE email = ?")
            .bind(email)
            .fetch_optional(&mut *tx)
            .await
            .db()?
            .ok_or(DbError::NotFound)?;
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .db()?;
        sqlx::query("UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL")
            .bind(now)
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .db()?;

        tx.commit().await.db()
    }

    pub(super) async fn list_users(&self) -> DbResult<Vec<UserSummary>> {
        let rows = sqlx::query(
            "SELECT u.id, u.email, u.password_hash IS NOT NULL AS has_password, u.created_at,
                    (SELECT group_concat(name, char(10)) FROM (
                        SELECT r.name FROM user_repositories ur JOIN repositories r ON r.id = ur.repository_id
                        WHERE ur.user_id = u.id ORDER BY r.name)) AS repositories
             FROM users u ORDER BY u.email",
        )
        .fetch_all(&self.pool)
        .await
        .db()?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let repositories: Option<String> = row.get("repositories");
                UserSummary {
                    id: row.get("id"),
                    email: row.get("email"),
                    repositories: repositories
                        .map(|names| names.lines().map(str::to_owned).collect())
                        .unwrap_or_default(),
                    has_password: row.get("has_password"),
                    created_at: row.get("created_at"),
                }
            })
            .collect())
    }

    pub(super) async fn find_user_by_email(&self, email: &str) -> DbResult<Option<UserRecord>> {
        let row = sqlx::query("SELECT id, email, password_hash FROM users WHERE email = ?")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        Ok(row.map(|row| UserRecord {
            id: row.get("id"),
            email: row.get("email"),
            password_hash: row.get("password_hash"),
        }))
    }

    pub(super) async fn find_token_access(
        &self,
        secret_hash: &str,
        repository_name: &str,
    ) -> DbResult<Option<TokenAccess>> {
        let row = sqlx::query(
            "SELECT t.id, t.repository_id, t.user_id, t.read_only, t.expires_at, t.revoked_at,
                    r.id AS named_id, r.name AS named_name, r.created_at AS named_created_at,
                    CASE
                        WHEN r.id IS NULL THEN 0
                        WHEN t.repository_id IS NOT NULL THEN t.repository_id = r.id
                        WHEN t.user_id IS NOT NULL THEN EXISTS (
                            SELECT 1 FROM user_repositories m WHERE m.user_id = t.user_id AND m.repository_id = r.id)
                        ELSE 0
                    END AS allowed
             FROM tokens t
             LEFT JOIN repositories r ON r.name = ?
             WHERE t.secret_hash = ?",
        )
        .bind(repository_name)
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await
        .db()?;
        Ok(row.map(|row| {
            let repository = row
                .get::<Option<i64>, _>("named_id")
                .map(|id| RepositoryRecord {
                    id,
                    name: row.get("named_name"),
                    created_at: row.get("named_created_at"),
                });
            TokenAccess {
                token: token_from_row(&row),
                repository,
                allowed: row.get("allowed"),
            }
        }))
    }
}

async fn insert_token(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    token: &NewToken,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO tokens (id, secret_hash, repository_id, user_id, read_only, label, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&token.id)
    .bind(&token.secret_hash)
    .bind(token.repository_id)
    .bind(&token.user_id)
    .bind(token.read_only)
    .bind(&token.label)
    .bind(token.created_at)
    .bind(token.expires_at)
    .execute(&mut **tx)
    .await
    .db()
    .map(|_| ())
}

/// Reads the token columns of a row of `tokens`.
fn token_from_row(row: &SqliteRow) -> TokenRecord {
    TokenRecord {
        id: row.get("id"),
        repository_id: row.get("repository_id"),
        user_id: row.get("user_id"),
        read_only: row.get("read_only"),
        expires_at: row.get("expires_at"),
        revoked_at: row.get("revoked_at"),
    }
}
