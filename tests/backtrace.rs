//! A backtrace taken inside a coroutine continues into the code that resumed it.

use fibra::{Builder, Yielder};
use std::backtrace::Backtrace;

#[inline(never)]
fn resumer_marker_frame() -> String {
    let mut co = Builder::new()
        .stack_size(4 << 20) // symbolisation is stack-hungry in debug builds
        .build(|y: &Yielder<(), String>, ()| {
            y.suspend(String::new());
            coroutine_marker_frame()
        })
        .unwrap();
    co.resume(());
    std::hint::black_box(co.resume(()).into_return().unwrap())
}

#[inline(never)]
fn coroutine_marker_frame() -> String {
    std::hint::black_box(Backtrace::force_capture().to_string())
}

#[test]
#[inline(never)]
fn backtrace_crosses_the_switch() {
    let bt = resumer_marker_frame();
    let inside = bt
        .find("coroutine_marker_frame")
        .unwrap_or_else(|| panic!("no coroutine frame in:\n{bt}"));
    let outside = bt
        .find("resumer_marker_frame")
        .unwrap_or_else(|| panic!("backtrace stops at the switch:\n{bt}"));
    assert!(inside < outside, "frames out of order:\n{bt}");
    assert!(
        bt.contains("backtrace_crosses_the_switch"),
        "does not reach the test function:\n{bt}"
    );
}

#[test]
fn backtrace_crosses_nested_switches() {
    #[inline(never)]
    fn outer_resumer_marker() -> String {
        let mut outer = Builder::new()
            .stack_size(4 << 20)
            .build(|_: &Yielder<(), ()>, ()| {
                let mut inner = Builder::new()
                    .stack_size(4 << 20)
                    .build(|_: &Yielder<(), ()>, ()| coroutine_marker_frame())
                    .unwrap();
                inner.resume(()).into_return().unwrap()
            })
            .unwrap();
        std::hint::black_box(outer.resume(()).into_return().unwrap())
    }
    let bt = outer_resumer_marker();
    assert!(bt.contains("outer_resumer_marker"), "{bt}");
}
