//! The renamed dependency's service: `#[bus::service(crate = "bus")]`, serving the
//! handlers of its library (`handlers = [...]` links it).

#[bus::service(name = "renamed-service", handlers = [tars_renamed_crate], crate = "bus")]
async fn main() {}
