//! medialib: a self-hosted media library server whose HTTP API is compatible with the Prismic Asset API.
//!
//! Without the default feature `server`, the crate holds only the parsers of untrusted input and the image renderer,
//! which is what the fuzz targets build.

#[cfg(feature = "server")]
pub mod auth;
#[cfg(feature = "server")]
pub mod cli;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod db;
pub mod domain;
#[cfg(feature = "server")]
pub mod drain;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "server")]
pub mod header_limits;
pub mod imaging;
#[cfg(feature = "server")]
pub mod listing;
#[cfg(feature = "server")]
pub mod memory;
pub mod multipart;
pub mod probe;
#[cfg(feature = "server")]
pub mod routes;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod startup;
#[cfg(feature = "server")]
pub mod state;
#[cfg(feature = "server")]
pub mod storage;
#[cfg(feature = "server")]
pub mod telemetry;
