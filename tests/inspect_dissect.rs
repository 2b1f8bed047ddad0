//! The dissector through the binary, and its promise not to allocate.
//!
//! - Every built-in example opens with `netdojo --json inspect --example`,
//!   its layers tiling the frame, the truncated one saying where it stopped.
//! - `facts()` runs once per packet on the `--summary` hot path: it must
//!   not allocate. A counting allocator (this test binary's own) checks it.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::run_json;
use netdojo::inspect::dissect::facts;
use netdojo::inspect::examples;

/// Counts allocations made on the current thread, so tests running in
/// parallel do not disturb each other's counts.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter is a const-initialised thread-local, which never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn facts_never_allocate() {
    let frames: Vec<_> = examples::all()
        .iter()
        .map(|e| (e.name, (e.build)()))
        .collect();
    for (name, frame) in &frames {
        // And cut short, where the stop reasons are computed.
        let mut cut = frame.clone();
        cut.data.truncate(frame.data.len() * 2 / 3);
        for f in [frame, &cut] {
            let before = allocations();
            let facts = facts(std::hint::black_box(f));
            let after = allocations();
            std::hint::black_box(facts);
            assert_eq!(after, before, "facts() allocated for {name}");
        }
    }
    // The counter does count: the full dissection allocates its fields.
    let before = allocations();
    std::hint::black_box(netdojo::inspect::dissect::dissect(&frames[0].1));
    assert!(allocations() > before, "the counting allocator counts");
}

#[test]
fn every_example_opens_through_the_binary() {
    for e in examples::all() {
        let (out, events) = run_json(&["inspect", "--example", e.name]);
        assert!(out.status.success(), "{}: {:?}", e.name, out);
        assert_eq!(events.len(), 1, "{}: one frame", e.name);
        let frame = &events[0];
        let len = frame["captured_len"].as_u64().expect("captured_len");
        let mut at = 0;
        for layer in frame["layers"].as_array().expect("layers") {
            let range = layer["range"].as_array().expect("range");
            assert_eq!(range[0].as_u64(), Some(at), "{}: {layer}", e.name);
            at = range[1].as_u64().expect("end");
        }
        assert_eq!(at, len, "{}: layers cover the frame", e.name);
        if e.name == "truncated" {
            assert_eq!(frame["stop"]["layer"], 4);
            assert_eq!(
                frame["stop"]["reason"],
                "TCP header needs 20 bytes, 7 present"
            );
        } else {
            assert!(frame["stop"].is_null(), "{}: {}", e.name, frame["stop"]);
        }
    }
}
