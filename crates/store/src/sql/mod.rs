//! The SQL implementation of every store trait, shared by SQLite and PostgreSQL through
//! sqlx's `Any` driver. Statements are written once, in the SQL both databases accept; the
//! only dialect differences are the column types in the migrations, `FOR UPDATE`
//! (PostgreSQL) and `BEGIN IMMEDIATE` (SQLite), which each serialise a write transaction
//! against concurrent consent changes.
//!
//! One file per concern implements its trait on [`SqlStore`]; the machinery they share is
//! below them: `store` (the pool and the change-with-its-leaf helper), `writer` (group
//! commit), `lite` (SQLite reads and batches without sqlx's hand-offs), `decode` (row
//! decoders), `conn` (URLs, pragmas, small helpers), `migrate`.

mod claims;
mod clients;
mod columns;
mod conn;
mod consents;
mod decode;
mod devices;
mod fairness;
mod galleries;
mod governance;
mod incidents;
mod keys;
mod ledger;
mod ledger_index;
mod limits;
mod lite;
mod mailbox;
mod migrate;
mod outbox;
mod portal;
mod purposes;
mod retention;
mod store;
mod tenants;
mod verification;
mod verify_read;
mod webhooks;
mod writer;

pub use conn::LEDGER_CHANNEL;
pub use ledger::LedgerListener;
pub use store::{SqlStore, count_rows};
pub use writer::WriteStats;
