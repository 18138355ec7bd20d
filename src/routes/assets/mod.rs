//! Asset routes.

pub mod delete;
pub mod list;
pub mod update;
pub mod upload;
