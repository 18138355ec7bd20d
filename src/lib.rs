//! medialib: a self-hosted media library server whose HTTP API is compatible with the Prismic Asset API.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod drain;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod imaging;
pub mod listing;
pub mod memory;
pub mod probe;
pub mod routes;
pub mod server;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
