//! Image transforms on file URLs, with imgix's parameters.

pub mod geometry;
pub mod negotiate;
pub mod params;
pub mod render;
pub mod service;

#[cfg(test)]
mod tests;
