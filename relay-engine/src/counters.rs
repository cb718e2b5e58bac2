//! Packet-path counters. Plain `u64` fields bumped by the engine that owns them (one per core), read
//! by the IO layer for `Stats`; a bad packet costs one increment, never an allocation.

use std::collections::BTreeMap;

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        #[derive(Debug, Default, Clone)]
        pub struct Counters {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl Counters {
            pub fn to_map(&self) -> BTreeMap<String, u64> {
                let mut m = BTreeMap::new();
                $(m.insert(stringify!($name).to_string(), self.$name);)*
                m
            }

            /// Adds `other` into `self` (per-core counters summed for a report).
            pub fn add(&mut self, other: &Counters) {
                $(self.$name += other.$name;)*
            }
        }
    };
}

counters! {
    datagrams_in,
    bytes_in,
    datagrams_out,
    bytes_out,
    stun_in,
    dtls_in,
    rtp_in,
    rtcp_in,
    rtp_forwarded,
    /// Packets handed to the recorder ([`super::record`]); dropped because the engine's queue for it
    /// was full, or because the recorder's channel was (it never slows forwarding).
    rtp_recorded,
    record_drop_backlog,
    record_drop_queue_full,
    /// Packets handed to another core for its consumers.
    rtp_piped,
    /// Messages from another core about a stream that is gone here.
    drop_pipe_stale,
    rtcp_out,
    /// First byte matches no protocol of RFC 7983.
    drop_unknown_kind,
    /// Larger than a receive buffer; cut off by the kernel.
    drop_truncated,
    /// ICE-TCP (`io::tcp`): connections accepted, and refused over the per-core cap.
    tcp_accepted,
    tcp_refused,
    /// RFC 4571 frames received.
    tcp_frames_in,
    /// Connections the browser closed (or that failed).
    tcp_closed,
    /// Connections closed for a zero-length frame.
    tcp_drop_bad_frame,
    /// Connections closed for a frame longer than a datagram can be.
    tcp_drop_oversized,
    /// Connections closed for passing no ICE check in time, or leaving a frame half-sent.
    tcp_drop_slow,
    /// Connections closed after a silence longer than ICE consent.
    tcp_drop_idle,
    /// Datagrams for a TCP path whose connection is gone or too far behind.
    tcp_send_dropped,
    drop_stun_malformed,
    /// Not a Binding request or response (indications, other methods).
    drop_stun_unexpected,
    /// A Binding response that answers no check of an upstream relay link ([`super::upstream`]).
    drop_stun_unsolicited,
    /// Checks an upstream relay link sent to the origin, and the answers that refused one.
    upstream_checks_out,
    upstream_check_errors,
    drop_stun_unknown_user,
    drop_stun_integrity,
    /// DTLS from an address that never completed an ICE check.
    drop_dtls_unknown_addr,
    drop_dtls_failed,
    /// SRTP/SRTCP from an address that never completed ICE.
    drop_srtp_unknown_addr,
    /// SRTP before the DTLS handshake gave keys.
    drop_srtp_not_ready,
    drop_srtp_auth,
    drop_rtp_malformed,
    drop_rtp_unknown_ssrc,
    /// RTP of a paused producer (a device the peer turned off, or a stream refused a seat).
    drop_rtp_paused,
    drop_rtcp_malformed,
    pli_forwarded,
    fir_forwarded,
    keyframe_request_rate_limited,
    /// NACK packets written to producers (a consumer's passed on, or the relay's own).
    nack_forwarded,
    /// NACK packets received from consumers.
    nack_received,
    /// Retransmissions sent to consumers from the cache.
    rtx_sent,
    /// NACKed packets neither cached nor awaited (too old, or lost before the relay).
    rtx_missed,
    /// NACKed packets the relay is itself asking the producer for.
    rtx_awaited,
    /// NACKed packets not sent because the consumer used up its retransmission budget.
    rtx_over_budget,
    /// NACK packets the relay wrote to producers for its own losses.
    nack_sent,
    /// Lost packets the relay stopped asking for (too old or asked too often).
    nack_given_up,
    /// Packets received on producers' RTX streams.
    rtx_received,
    /// RTX packets without a packet inside (bandwidth probes).
    rtx_padding,
    /// Missing packets that arrived (retransmitted, or reordered).
    rtp_recovered,
    /// Packets already received (a retransmission nobody needed).
    drop_rtp_duplicate,
    /// Keyframes asked for because a gap was too large to fill.
    keyframe_for_gap,
    /// Connected peers whose ICE path moved to another address (a change of network); each video they
    /// receive is asked for a keyframe.
    path_moves,
    /// Transport-wide congestion control feedback packets sent to producers.
    transport_feedback_sent,
    /// Transport-wide feedback packets from receivers that could not be read.
    drop_transport_feedback_malformed,
    /// Video consumers paused because their receiver's link could not carry them, and resumed.
    consumers_paused,
    consumers_resumed,
    /// Simulcast: layer SSRCs learned from `rtp-stream-id`; consumers switched to another layer; steps
    /// down and up of a consumer's layer for its receiver's link.
    simulcast_ssrcs_learned,
    layer_switches,
    layers_lowered,
    layers_raised,
    sr_translated,
    rr_sent,
    remb_sent,
    peers_timed_out,
}
