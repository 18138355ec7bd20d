//! Tag routes.

pub mod assignment;
pub mod crud;
