//! The renamed dependency's service: `#[bus::service(crate = "bus")]`.

use tars_renamed_crate as _; // links the library's handler

#[bus::service(name = "renamed-service", crate = "bus")]
async fn main() {}
