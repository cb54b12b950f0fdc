//! Use cases: load, apply a domain transition, write conditionally. Handlers call these and
//! nothing else, so every rule runs the same way whoever calls it.

pub mod videos;

pub use videos::VideoService;
