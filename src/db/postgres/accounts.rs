//! Repositories, tokens and users.

use sqlx::postgres::PgRow;
use sqlx::Row;

use super::text::storable;
use super::{retry, PostgresDatabase, ResultExt};
use crate::db::*;

/// Key of the transaction-level advisory lock that serialises first-start bootstraps ("medialib" in ASCII).
const BOOTSTRAP_LOCK: i64 = 0x6d65_6469_616c_6962;

impl PostgresDatabase {
    pub(super) async fn bootstrap(&self, name: &str, token: NewToken) -> DbResult<bool> {
        retry(|| self.bootstrap_once(name, token.clone())).await
    }

    /// Creates the demo repository under an advisory lock, so servers starting together check and insert one after
    /// the other. The single `bootstrap` row would make a second creation fail even without the lock.
    async fn bootstrap_once(&self, name: &str, token: NewToken) -> DbResult<bool> {
        let mut tx = self.begin().await?;

        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(BOOTSTRAP_LOCK)
            .execute(&mut *tx)
            .await
            .db()?;
        let done: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM repositories) OR EXISTS (SELECT 1 FROM bootstrap)",
        )
        .fetch_one(&mut *tx)
        .await
        .db()?;
        if done {
            return Ok(false);
        }

        sqlx::query("INSERT INTO bootstrap (id, created_at) VALUES (1, $1)")
            .bind(token.created_at)
            .execute(&mut *tx)
            .await
            .db()?;
        let repository_id: i64 = sqlx::query_scalar(
            "INSERT INTO repositories (name, created_at) VALUES ($1, $2) RETURNING id",
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
            "INSERT INTO repositories (name, created_at) VALUES ($1, $2) RETURNING id",
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
        if !storable(name) {
            return Err(DbError::NotFound);
        }
        retry(|| self.delete_repository_once(name, now)).await
    }

    async fn delete_repository_once(&self, name: &str, now: i64) -> DbResult<Vec<String>> {
        let mut tx = self.begin().await?;

        let id: i64 = sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .db()?
            .ok_or(DbError::NotFound)?;
        let keys: Vec<String> = sqlx::query_scalar(
            "SELECT storage_key FROM assets WHERE repository_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .db()?;
        sqlx::query(
            "INSERT INTO pending_objects (storage_key, not_before)
             SELECT DISTINCT storage_key, $1::bigint FROM assets WHERE repository_id = $2
             ON CONFLICT (storage_key) DO UPDATE SET not_before = excluded.not_before",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .db()?;
        sqlx::query("DELETE FROM repositories WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .db()?;

        tx.commit().await.db()?;
        Ok(keys)
    }

    pub(super) async fn find_repository(&self, name: &str) -> DbResult<Option<RepositoryRecord>> {
        if !storable(name) {
            return Ok(None);
        }
        let row = sqlx::query("SELECT id, name, created_at FROM repositories WHERE name = $1")
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
        let mut tx = self.begin().await?;
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
                    label: super::text::decode_option(row.get("label")),
                    created_at: row.get("created_at"),
                    expires_at: row.get("expires_at"),
                    revoked_at: row.get("revoked_at"),
                }
            })
            .collect())
    }

    pub(super) async fn revoke_token(&self, id: &str, now: i64) -> DbResult<()> {
        if !storable(id) {
            return Err(DbError::NotFound);
        }
        let result =
            sqlx::query("UPDATE tokens SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2")
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
        if !storable(secret_hash) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, repository_id, user_id, read_only, expires_at, revoked_at FROM tokens WHERE secret_hash = $1",
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
        if !storable(email) {
            return Err(DbError::Other(anyhow::anyhow!(
                "an email cannot contain U+0000"
            )));
        }
        retry(|| self.create_user_once(email, repository_id, now)).await
    }

    /// Inserts the user unless the email is taken, then adds the membership. Two processes creating the same user
    /// at once both end on the one row that the unique email allows.
    async fn create_user_once(
        &self,
        email: &str,
        repository_id: i64,
        now: i64,
    ) -> DbResult<UserRecord> {
        let mut tx = self.begin().await?;

        sqlx::query("INSERT INTO users (id, email, created_at) VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING")
            .bind(crate::domain::ids::new_user_id())
            .bind(email)
            .bind(now)
            .execute(&mut *tx)
            .await
            .db()?;
        let row = sqlx::query("SELECT id, email, password_hash FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(&mut *tx)
            .await
            .db()?;
        let user = UserRecord {
            id: row.get("id"),
            email: row.get("email"),
            password_hash: row.get("password_hash"),
        };
        let added = sqlx::query(
            "INSERT INTO user_repositories (user_id, repository_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
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
        if !storable(email) {
            return Err(DbError::NotFound);
        }
        let mut tx = self.begin().await?;

        let user_id: String =
            sqlx::query_scalar("UPDATE users SET password_hash = $1 WHERE email = $2 RETURNING id")
                .bind(password_hash)
                .bind(email)
                .fetch_optional(&mut *tx)
                .await
                .db()?
                .ok_or(DbError::NotFound)?;
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
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
                    ARRAY(SELECT r.name FROM user_repositories ur JOIN repositories r ON r.id = ur.repository_id
                          WHERE ur.user_id = u.id ORDER BY r.name) AS repositories
             FROM users u ORDER BY u.email",
        )
        .fetch_all(&self.pool)
        .await
        .db()?;
        Ok(rows
            .into_iter()
            .map(|row| UserSummary {
                id: row.get("id"),
                email: row.get("email"),
                repositories: row.get("repositories"),
                has_password: row.get("has_password"),
                created_at: row.get("created_at"),
            })
            .collect())
    }

    pub(super) async fn find_user_by_email(&self, email: &str) -> DbResult<Option<UserRecord>> {
        if !storable(email) {
            return Ok(None);
        }
        let row = sqlx::query("SELECT id, email, password_hash FROM users WHERE email = $1")
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
        if !storable(secret_hash) {
            return Ok(None);
        }
        // No repository has an empty name.
        let repository_name = if storable(repository_name) {
            repository_name
        } else {
            ""
        };
        let row = sqlx::query(
            "SELECT t.id, t.repository_id, t.user_id, t.read_only, t.expires_at, t.revoked_at,
                    r.id AS named_id, r.name AS named_name, r.created_at AS named_created_at,
                    CASE
                        WHEN r.id IS NULL THEN false
                        WHEN t.repository_id IS NOT NULL THEN t.repository_id = r.id
                        WHEN t.user_id IS NOT NULL THEN EXISTS (
                            SELECT 1 FROM user_repositories m WHERE m.user_id = t.user_id AND m.repository_id = r.id)
                        ELSE false
                    END AS allowed
             FROM tokens t
             LEFT JOIN repositories r ON r.name = $1
             WHERE t.secret_hash = $2",
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
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    token: &NewToken,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO tokens (id, secret_hash, repository_id, user_id, read_only, label, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&token.id)
    .bind(&token.secret_hash)
    .bind(token.repository_id)
    .bind(&token.user_id)
    .bind(token.read_only)
    .bind(super::text::encode_option(token.label.as_deref()))
    .bind(token.created_at)
    .bind(token.expires_at)
    .execute(&mut **tx)
    .await
    .db()
    .map(|_| ())
}

/// Reads the token columns of a row of `tokens`.
fn token_from_row(row: &PgRow) -> TokenRecord {
    TokenRecord {
        id: row.get("id"),
        repository_id: row.get("repository_id"),
        user_id: row.get("user_id"),
        read_only: row.get("read_only"),
        expires_at: row.get("expires_at"),
        revoked_at: row.get("revoked_at"),
    }
}
