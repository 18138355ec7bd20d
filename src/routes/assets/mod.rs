//! Asset routes.

pub mod delete;
pub mod list;
pub mod multipart;
pub mod update;
pub mod upload;
