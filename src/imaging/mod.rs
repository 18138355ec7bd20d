//! Image transforms on file URLs, with imgix's parameters.

pub mod animation;
pub mod geometry;
pub mod negotiate;
pub mod params;
pub mod render;
pub mod service;
pub mod svg;

#[cfg(test)]
mod tests;
