//! See runtime/mod.rs.
