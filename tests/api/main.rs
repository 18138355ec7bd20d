//! Black-box tests of `medialib serve`: every test starts the real binary on its own data directory and port,
//! then talks to it over HTTP and through the command line, as a client of the Asset API would.

mod fixtures;
mod helpers;

mod access_matrix;
mod auth;
mod auth_api;
mod cli;
mod copy;
mod crash;
mod delete;
mod files;
mod image_cache;
mod image_params;
mod listing;
mod operations;
mod protocol_abuse;
mod rate_limit;
mod search;
mod tags;
mod two_instances;
mod update;
mod upload;
mod uploaders;
