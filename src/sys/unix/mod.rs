//! Unix (Linux, macOS, BSDs) memory and stack-overflow services.

mod memory;
mod overflow;

pub(crate) use memory::{discard, guard_len, map_count_limit, map_stack, page_size, unmap_stack};
pub(crate) use overflow::{install_overflow_handler, prepare_thread};
