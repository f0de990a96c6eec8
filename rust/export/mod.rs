pub mod http;
pub mod lifecycle;
pub mod server;
pub mod worker;
