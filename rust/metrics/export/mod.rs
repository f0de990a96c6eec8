//! Where metrics leave the process: scraped from the `/metrics` server, or pushed to a
//! Pushgateway.

pub mod pushgateway;
mod query;
mod serve;
pub mod server;
mod sockets;
mod thread;
