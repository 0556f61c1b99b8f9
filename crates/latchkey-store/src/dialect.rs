//! The seam between the one implementation of the store ([`crate::shared`])
//! and the two databases.
//!
//! The shared code writes every statement once, with `$n` placeholders
//! (PostgreSQL's, which sqlx's SQLite driver also binds by number), binds
//! values through [`Arg`] and reads them through [`Columns`]. The column
//! types that differ (`INTEGER`/`BIGINT`, `BLOB`/`BYTEA`, `INTEGER`/`BOOLEAN`)
//! are bound and read as the same Rust types (`i64`, `Vec<u8>`, `bool`),
//! which both drivers accept. What genuinely differs is a [`Dialect`]:
//! the words the migrations' placeholders stand for and the column that
//! orders rows by insertion. The rest of
//! what is particular to a backend (connecting, pragmas, LISTEN/NOTIFY, the
//! advisory lock, time limits) stays in `sqlite.rs` and `postgres.rs`.

use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, SqlSafeStr, SqlStr, Type};

use crate::StoreError;

/// What differs between the databases, for the shared code.
pub(crate) trait Dialect: Database<Connection: Conn> {
    /// What the migrations' placeholders stand for in this database's DDL:
    /// `{int}` (64-bit integer), `{bool}`, `{blob}` (bytes), and
    /// `{insertion_order}`, a column definition (with its comma) that numbers
    /// rows in insertion order where the database has no implicit one.
    const SCHEMA_WORDS: &'static [(&'static str, &'static str)];
    /// The column that orders `group_members` and `scp_attachments` rows by
    /// insertion: SQLite's implicit `rowid`, PostgreSQL's `seq` column.
    const INSERTION_ORDER: &'static str;
    /// Run first in a load's transaction (PostgreSQL: one snapshot, whatever
    /// other nodes commit meanwhile).
    const BEGIN_LOAD: Option<&'static str> = None;

    /// A statement run last in each applied batch's transaction, given its
    /// new version (PostgreSQL: NOTIFY, delivered on commit).
    fn announce(_version: i64) -> Option<(&'static str, Vec<Arg<'static>>)> {
        None
    }
}

/// A migration's DDL for `DB`: the placeholders replaced by its words.
pub(crate) fn render<DB: Dialect>(template: &str) -> String {
    DB::SCHEMA_WORDS.iter().fold(template.to_owned(), |sql, (placeholder, word)| sql.replace(placeholder, word))
}

/// A value bound to a placeholder.
pub(crate) enum Arg<'a> {
    Str(&'a str),
    String(String),
    OptStr(Option<&'a str>),
    Int(i64),
    OptInt(Option<i64>),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Str(v)
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Str(v)
    }
}
impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::String(v)
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::OptStr(v)
    }
}
impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::OptStr(v.as_deref())
    }
}
impl From<Option<String>> for Arg<'_> {
    fn from(v: Option<String>) -> Self {
        match v {
            Some(s) => Arg::String(s),
            None => Arg::OptStr(None),
        }
    }
}
impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<&i64> for Arg<'_> {
    fn from(v: &i64) -> Self {
        Arg::Int(*v)
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::OptInt(v)
    }
}
impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl From<Vec<u8>> for Arg<'_> {
    fn from(v: Vec<u8>) -> Self {
        Arg::Bytes(v)
    }
}

/// The values of a statement's placeholders, `$1` first.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::dialect::Arg::from($value)),*]
    };
}
pub(crate) use args;

/// Reads a column as `T`.
pub(crate) trait Get<T> {
    fn get(&self, column: &str) -> Result<T, StoreError>;
}

impl<R, T> Get<T> for R
where
    R: sqlx::Row,
    for<'c> &'c str: ColumnIndex<R>,
    T: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    fn get(&self, column: &str) -> Result<T, StoreError> {
        Ok(self.try_get(column)?)
    }
}

/// A row whose columns read as the types the store uses.
pub(crate) trait Columns:
    Get<String> + Get<Option<String>> + Get<i64> + Get<Option<i64>> + Get<bool> + Get<Vec<u8>> + Send
{
}

impl<R> Columns for R where R: Get<String> + Get<Option<String>> + Get<i64> + Get<Option<i64>> + Get<bool> + Get<Vec<u8>> + Send {}

/// A connection (or a transaction, through its `DerefMut`) the shared code
/// runs statements on. Implemented once for both drivers' connections.
pub(crate) trait Conn: Send {
    /// A result row.
    type Row: Columns;

    // The statements are `&'static str` or an `SqlStr`, not `impl
    // SqlSafeStr`: a generic parameter here would make the callers' futures
    // fail to prove `Send` for every lifetime of a `&str`.

    /// Runs a statement; the number of rows it changed.
    async fn execute(&mut self, sql: &'static str, args: Vec<Arg<'_>>) -> Result<u64, StoreError>;

    /// The first row of a query, if any.
    async fn fetch_optional(&mut self, sql: &'static str, args: Vec<Arg<'_>>) -> Result<Option<Self::Row>, StoreError>;

    /// A query's rows, streamed (not collected) so a large table never
    /// sits in the driver's buffers all at once.
    fn fetch(&mut self, sql: SqlStr, args: Vec<Arg<'_>>) -> BoxStream<'_, Result<Self::Row, StoreError>>;

    /// Runs a script of several statements without placeholders (a rendered
    /// migration: this crate's own text, never input).
    async fn execute_script(&mut self, sql: String) -> Result<(), StoreError>;
}

/// The drivers' statement results, which share no trait for this.
pub(crate) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// A database whose driver binds every kind of [`Arg`]: both do.
pub(crate) trait Binds: Database {
    /// `sql` with `args` bound to `$1`, `$2`, …
    fn query(sql: impl SqlSafeStr, args: Vec<Arg<'_>>) -> Query<'static, Self, Self::Arguments>;
}

impl<DB> Binds for DB
where
    DB: Database,
    for<'s> &'s str: Encode<'s, DB> + Type<DB>,
    for<'s> Option<&'s str>: Encode<'s, DB> + Type<DB>,
    String: for<'s> Encode<'s, DB> + Type<DB>,
    i64: for<'s> Encode<'s, DB> + Type<DB>,
    Option<i64>: for<'s> Encode<'s, DB> + Type<DB>,
    bool: for<'s> Encode<'s, DB> + Type<DB>,
    Vec<u8>: for<'s> Encode<'s, DB> + Type<DB>,
{
    fn query(sql: impl SqlSafeStr, args: Vec<Arg<'_>>) -> Query<'static, Self, Self::Arguments> {
        args.into_iter().fold(sqlx::query(sql), |q, arg| match arg {
            Arg::Str(v) => q.bind(v),
            Arg::String(v) => q.bind(v),
            Arg::OptStr(v) => q.bind(v),
            Arg::Int(v) => q.bind(v),
            Arg::OptInt(v) => q.bind(v),
            Arg::Bool(v) => q.bind(v),
            Arg::Bytes(v) => q.bind(v),
        })
    }
}

impl<C, DB> Conn for C
where
    C: sqlx::Connection<Database = DB>,
    DB: Binds,
    for<'c> &'c mut C: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    DB::Row: Columns,
    DB::QueryResult: RowsAffected,
{
    type Row = DB::Row;

    async fn execute(&mut self, sql: &'static str, args: Vec<Arg<'_>>) -> Result<u64, StoreError> {
        let query = DB::query(sql, args);
        let done = Executor::execute(self, query).await?;
        Ok(done.rows_affected())
    }

    async fn fetch_optional(&mut self, sql: &'static str, args: Vec<Arg<'_>>) -> Result<Option<Self::Row>, StoreError> {
        let query = DB::query(sql, args);
        Ok(Executor::fetch_optional(self, query).await?)
    }

    fn fetch(&mut self, sql: SqlStr, args: Vec<Arg<'_>>) -> BoxStream<'_, Result<Self::Row, StoreError>> {
        let query = DB::query(sql, args);
        Executor::fetch(self, query).map_err(StoreError::from).boxed()
    }

    async fn execute_script(&mut self, sql: String) -> Result<(), StoreError> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(self).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sqlx::{Connection as _, PgConnection, Postgres, Sqlite, SqliteConnection};

    use super::*;

    #[test]
    fn every_migration_placeholder_has_a_word_in_both_dialects() {
        let left_over = |sql: &str| {
            sql.split('{').skip(1).filter_map(|rest| rest.split_once('}')).map(|(word, _)| word.to_owned()).collect::<Vec<_>>()
        };
        for (version, template) in crate::shared::MIGRATIONS {
            assert!(left_over(template).iter().all(|w| ["int", "bool", "blob", "insertion_order"].contains(&w.as_str())));
            assert_eq!(left_over(&render::<Sqlite>(template)), Vec::<String>::new(), "migration {version} for SQLite");
            assert_eq!(left_over(&render::<Postgres>(template)), Vec::<String>::new(), "migration {version} for PostgreSQL");
        }
        assert!(render::<Postgres>("x {int} {bool} {blob} {insertion_order}") == "x BIGINT BOOLEAN BYTEA seq BIGSERIAL,");
        assert!(render::<Sqlite>("x {int} {bool} {blob} {insertion_order}") == "x INTEGER INTEGER BLOB ");
    }

    /// Every kind of [`Arg`] goes in through `$n` (bound by number, not by
    /// the order they appear in) and comes back out through [`Columns`].
    async fn args_round_trip<DB: Dialect>(c: &mut DB::Connection) {
        let table = "CREATE TEMPORARY TABLE probe (n {int}, t TEXT, ot TEXT, oi {int}, b {bool}, y {blob})";
        c.execute_script(render::<DB>(table)).await.unwrap();
        let insert = "INSERT INTO probe (y, b, oi, ot, t, n) VALUES ($6, $5, $4, $3, $2, $1)";
        let text = String::from("owned");
        for (n, t, ot, oi) in [(1_i64, "one", Some("x"), Some(-5_i64)), (i64::MAX, "two", None, None)] {
            let done = c.execute(insert, args![n, t, ot, oi, n == 1, vec![0_u8, 255, 7]]).await.unwrap();
            assert_eq!(done, 1);
        }
        let done = c.execute(insert, args![3_i64, &text, Some(text.clone()), &4_i64, false, Vec::new()]).await.unwrap();
        assert_eq!(done, 1);

        let row = c.fetch_optional("SELECT n, t, ot, oi, b, y FROM probe WHERE t = $2 AND n = $1", args![1_i64, "one"]);
        let row = row.await.unwrap().unwrap();
        assert_eq!(Get::<i64>::get(&row, "n").unwrap(), 1);
        assert_eq!(Get::<String>::get(&row, "t").unwrap(), "one");
        assert_eq!(Get::<Option<String>>::get(&row, "ot").unwrap().as_deref(), Some("x"));
        assert_eq!(Get::<Option<i64>>::get(&row, "oi").unwrap(), Some(-5));
        assert!(Get::<bool>::get(&row, "b").unwrap());
        assert_eq!(Get::<Vec<u8>>::get(&row, "y").unwrap(), vec![0, 255, 7]);

        let mut seen = Vec::new();
        let mut rows = c.fetch("SELECT n, ot, oi, b, y FROM probe ORDER BY n".into_sql_str(), args![]);
        while let Some(row) = rows.try_next().await.unwrap() {
            let n: i64 = row.get("n").unwrap();
            let ot: Option<String> = row.get("ot").unwrap();
            let oi: Option<i64> = row.get("oi").unwrap();
            let b: bool = row.get("b").unwrap();
            let y: Vec<u8> = row.get("y").unwrap();
            seen.push((n, ot, oi, b, y.len()));
        }
        assert_eq!(
            seen,
            vec![
                (1, Some("x".to_owned()), Some(-5), true, 3),
                (3, Some("owned".to_owned()), Some(4), false, 0),
                (i64::MAX, None, None, false, 3),
            ]
        );
    }

    #[tokio::test]
    async fn sqlite_binds_and_reads_every_arg() {
        let mut c = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        args_round_trip::<Sqlite>(&mut c).await;
    }

    #[tokio::test]
    async fn postgres_binds_and_reads_every_arg() {
        let url = std::env::var("LATCHKEY_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let mut c = PgConnection::connect(&url).await.unwrap();
        args_round_trip::<Postgres>(&mut c).await;
    }
}
