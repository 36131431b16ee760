//! Windows memory and stack-overflow services.

mod memory;
mod overflow;

pub(crate) use memory::{
    OUT_OF_MAPPINGS_HINT, OVERFLOW_ZONE, discard, guard_len, is_out_of_mappings, map_count_limit,
    map_stack, page_size, unmap_stack,
};
pub(crate) use overflow::{install_overflow_handler, prepare_thread};
