//! Podman as the engine: the same containers as docker.rs, on Debian's
//! rootful podman.

pub use super::docker::{Container, Engine, Spec};

pub fn available() -> Result<(), String> {
    Engine::Podman.available()
}
