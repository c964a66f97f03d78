//! Procedural macros of tars-mqtt. Use them through the `tars` crate.
