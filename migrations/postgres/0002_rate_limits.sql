-- Rate-limit state shared by every server on this database (src/auth/shared_rate_limit.rs): one row per key seen
-- recently, where a key is a limit's scope and the SHA-256 of a token id or sign-in email, as `token:{hex}` or
-- `login:{hex}`. tat_us is the key's GCRA theoretical arrival time in Unix epoch microseconds of the database
-- clock. A missing row decides like a row whose tat_us has passed, so servers delete such rows every minute.
--
-- UNLOGGED, because the rows are short-lived counters: writes skip the WAL, and after a crash of the database the
-- table is empty, which gives every key a full burst again. Standbys do not receive its rows, so after a failover
-- the same happens. Only the primary key is indexed, so the update of each request stays a HOT update.
CREATE UNLOGGED TABLE rate_limits (
    key     TEXT COLLATE "C" PRIMARY KEY,
    tat_us  BIGINT NOT NULL
);
