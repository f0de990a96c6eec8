//! Layer 1, the floor: background workers and their flush / shutdown / fork sequencing, the
//! hooks upper layers register (settle before read, around fork), ferrotel's own drop and
//! failure counts, errors, and the CPython calling-convention glue. It imports nothing else
//! from the crate.

pub mod errors;
pub mod hooks;
pub mod lifecycle;
pub mod seconds;
pub mod selfmetrics;
pub mod vectorcall;
