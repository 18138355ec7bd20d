//! Image transforms on file URLs, with imgix's parameters.

pub mod animation;
pub mod geometry;
pub mod jpeg;
pub mod negotiate;
pub mod params;
pub mod render;
pub mod service;
pub mod single_flight;
pub mod svg;

#[cfg(test)]
mod tests;
