//! Which host a new room goes to. Pure: the caller reads the hosts from the store and the clock.

use crate::store::HostRecord;

/// Whether `host` was heard of since `alive_since_ms` (else it is taken for dead).
pub fn alive(host: &HostRecord, alive_since_ms: i64) -> bool {
    host.last_seen_ms >= alive_since_ms
}

/// Whether `host` may take a new room: alive and not being drained.
pub fn takes_rooms(host: &HostRecord, alive_since_ms: i64) -> bool {
    alive(host, alive_since_ms) && !host.draining
}

/// The host for a room nobody holds yet: the one named by the room's `servN` prefix (a host whose id is
/// that prefix) when it takes rooms, else the least loaded one for its capacity (ties by id, so every
/// host choosing at the same moment chooses the same). `None` when no host takes rooms.
pub fn choose_host<'a>(room_id: &str, hosts: &'a [HostRecord], alive_since_ms: i64) -> Option<&'a HostRecord> {
    let mut open = hosts.iter().filter(|h| takes_rooms(h, alive_since_ms));
    if let Some(prefix) = crate::call_config::server_prefix(room_id) {
        if let Some(named) = open.clone().find(|h| h.id == prefix) {
            return Some(named);
        }
    }
    // load / capacity compared without division: a/b < c/d  <=>  a*d < c*b.
    open.by_ref().min_by(|a, b| {
        let (ca, cb) = (u64::from(a.capacity.max(1)), u64::from(b.capacity.max(1)));
        (u64::from(a.load) * cb).cmp(&(u64::from(b.load) * ca)).then_with(|| a.id.cmp(&b.id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 100_000;

    fn host(id: &str, load: u32, capacity: u32) -> HostRecord {
        HostRecord { id: id.into(), url: format!("http://{id}"), capacity, load, draining: false, last_seen_ms: NOW }
    }

    fn chosen<'a>(room: &str, hosts: &'a [HostRecord]) -> Option<&'a str> {
        choose_host(room, hosts, NOW - 15_000).map(|h| h.id.as_str())
    }

    #[test]
    fn the_least_loaded_for_its_capacity_wins_and_ties_go_by_id() {
        let hosts = [host("h1", 50, 100), host("h2", 80, 200), host("h3", 10, 10)];
        assert_eq!(chosen("room", &hosts), Some("h2"), "40% beats 50% and 100%");
        let even = [host("b", 5, 100), host("a", 5, 100)];
        assert_eq!(chosen("room", &even), Some("a"));
    }

    #[test]
    fn a_serv_prefix_names_its_host_while_it_takes_rooms() {
        let mut hosts = vec![host("serv0", 0, 100), host("serv1", 90, 100), host("serv12", 0, 100)];
        assert_eq!(chosen("serv1_weekly", &hosts), Some("serv1"), "named, although the busiest");
        assert_eq!(chosen("serv12x", &hosts), Some("serv12"), "serv12 is not serv1");
        assert_eq!(chosen("serv7_other", &hosts), Some("serv0"), "an unknown prefix goes by load");
        hosts[1].draining = true;
        assert_eq!(chosen("serv1_weekly", &hosts), Some("serv0"), "a drained host takes no new room");
    }

    #[test]
    fn dead_and_draining_hosts_take_nothing() {
        let mut hosts = vec![host("h1", 0, 100), host("h2", 5, 100)];
        hosts[0].last_seen_ms = NOW - 20_000;
        assert_eq!(chosen("room", &hosts), Some("h2"));
        hosts[1].draining = true;
        assert_eq!(chosen("room", &hosts), None);
        assert_eq!(chosen("room", &[]), None);
    }

    #[test]
    fn capacity_zero_counts_as_one() {
        let hosts = [host("h1", 1, 0), host("h2", 3, 10)];
        assert_eq!(chosen("room", &hosts), Some("h2"));
    }
}
