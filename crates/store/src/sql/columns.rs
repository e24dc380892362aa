//! Reading a result row by column name, whichever driver produced it: sqlx's `AnyRow` (every
//! statement on both databases) or a rusqlite row (the verification read on SQLite, see
//! [`crate::sql::lite`]). The row decoders are written once against [`Columns`].

use sqlx::any::AnyRow;

use crate::error::StoreError;

/// A value type both drivers can decode.
pub(crate) trait Column:
    for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

impl<T> Column for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

/// A result row whose columns are read by name.
pub(crate) trait Columns {
    /// The column `name`, decoded; a missing column or a value of the wrong type is an error.
    fn col<T: Column>(&self, name: &str) -> Result<T, StoreError>;
}

impl Columns for AnyRow {
    fn col<T: Column>(&self, name: &str) -> Result<T, StoreError> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
}
