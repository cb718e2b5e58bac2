//! Forwarding a packet allocates nothing once buffers are warm: a counting allocator watches the engine
//! forward to several consumers.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use common::Net;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn forwarding_does_not_allocate() {
    let mut net = Net::new();
    let a = net.join("room1", "alice", "10.0.0.2:5000");
    net.produce(a, 1111);
    for i in 0..4 {
        let c = net.join("room1", &format!("viewer{i}"), &format!("10.0.1.{i}:5000"));
        net.consume(c, a);
    }
    // Prepare protected packets ahead, so only the relay's work is counted.
    let mut packets = Vec::new();
    for i in 0..1600u32 {
        net.send_rtp(a, 1111, 96, &[i as u8; 1000]);
        packets.push(net.clients[a].outbox.pop_back().unwrap());
    }
    let source = net.clients[a].addr;
    let mut forwarded = 0;
    let mut measured = 0;
    for (i, mut p) in packets.into_iter().enumerate() {
        // 1,000 packets a second (an 8 Mbit/s stream).
        net.advance(Duration::from_millis(1));
        let before = ALLOCATIONS.with(Cell::get);
        net.engine.handle_datagram(net.now, source, &mut p);
        while let Some(t) = net.engine.poll_transmit() {
            forwarded += 1;
            net.engine.recycle(t.contents);
        }
        let after = ALLOCATIONS.with(Cell::get);
        // The first packets warm the buffer pool, the SRTP contexts' per-SSRC state and the
        // retransmission cache (which sizes itself to the stream's second, each slot given its buffer by
        // its first packet).
        if i >= 1200 {
            measured += after - before;
        }
    }
    assert_eq!(forwarded, 1600 * 4);
    assert_eq!(measured, 0, "allocations while forwarding 400 packets to 4 consumers");
}
