//! Pod IP allocation (pure): each pod gets its own loopback address `<prefix>.x.y`.
//!
//! Linux routes all of 127.0.0.0/8 to `lo`, so a process can bind any of these addresses without
//! set-up; giving every pod its own address lets several brokers use the same ports. The prefix
//! (two octets, e.g. `127.20`) separates environments that run side by side.
//!
//! Like CNI's host-local IPAM, allocation goes round-robin from the last address handed out, so
//! a pod that is replaced (a StatefulSet pod deleted and recreated) gets a new IP, as it would on
//! a real cluster, and names must be resolved again (see `crate::hosts`).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Errors of the allocator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("parsing pod ip prefix {0:?}: expected two octets such as 127.20")]
    Prefix(String),
    #[error("allocating a pod ip: all addresses under {0} are in use")]
    Exhausted(String),
}

/// Allocates the next free address after the last one handed out, under a /16 loopback prefix.
#[derive(Debug, Clone)]
pub struct Ipam {
    prefix: [u8; 2],
    used: BTreeSet<u16>,
    last: u16,
}

impl Ipam {
    /// A new allocator for `prefix` (e.g. `"127.20"`).
    pub fn new(prefix: &str) -> Result<Self, Error> {
        let octets: Vec<u8> = prefix
            .split('.')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| Error::Prefix(prefix.to_owned()))?;
        match octets.as_slice() {
            [127, b] => Ok(Self {
                prefix: [127, *b],
                used: BTreeSet::new(),
                last: 0,
            }),
            _ => Err(Error::Prefix(prefix.to_owned())),
        }
    }

    /// Takes the next free address after the last one handed out, wrapping around (never
    /// `.0.0`, `.x.0` or `.x.255`).
    pub fn allocate(&mut self) -> Result<Ipv4Addr, Error> {
        let free = (self.last.saturating_add(1)..=u16::MAX)
            .chain(1..=self.last)
            .filter(|n| !matches!(n & 0xff, 0 | 0xff))
            .find(|n| !self.used.contains(n))
            .ok_or_else(|| Error::Exhausted(format!("{}.{}", self.prefix[0], self.prefix[1])))?;
        self.used.insert(free);
        self.last = free;
        Ok(self.addr(free))
    }

    /// Marks an address as used (re-adopting a running pod); false if it is outside the prefix.
    pub fn claim(&mut self, ip: Ipv4Addr) -> bool {
        let o = ip.octets();
        if o[..2] != self.prefix {
            return false;
        }
        self.used.insert(u16::from_be_bytes([o[2], o[3]]))
    }

    /// Returns an address to the pool.
    pub fn release(&mut self, ip: Ipv4Addr) {
        let o = ip.octets();
        if o[..2] == self.prefix {
            self.used.remove(&u16::from_be_bytes([o[2], o[3]]));
        }
    }

    fn addr(&self, n: u16) -> Ipv4Addr {
        let [x, y] = n.to_be_bytes();
        Ipv4Addr::new(self.prefix[0], self.prefix[1], x, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_round_robin_so_a_replaced_pod_gets_a_new_ip() {
        let mut ipam = Ipam::new("127.20").unwrap();
        let a = ipam.allocate().unwrap();
        let b = ipam.allocate().unwrap();
        assert_eq!(
            (a, b),
            (Ipv4Addr::new(127, 20, 0, 1), Ipv4Addr::new(127, 20, 0, 2))
        );
        ipam.release(a);
        assert_eq!(ipam.allocate().unwrap(), Ipv4Addr::new(127, 20, 0, 3));
    }

    #[test]
    fn wraps_around_to_released_addresses() {
        let mut ipam = Ipam::new("127.20").unwrap();
        ipam.last = u16::MAX - 1;
        let a = ipam.allocate().unwrap();
        assert_eq!(a, Ipv4Addr::new(127, 20, 0, 1));
        assert!(ipam.claim(Ipv4Addr::new(127, 20, 0, 2)));
        assert_eq!(ipam.allocate().unwrap(), Ipv4Addr::new(127, 20, 0, 3));
    }

    #[test]
    fn rejects_non_loopback_prefixes() {
        assert!(Ipam::new("10.0").is_err());
        assert!(Ipam::new("127").is_err());
    }

    proptest::proptest! {
        #[test]
        fn addresses_are_unique_and_usable(n in 1usize..600) {
            let mut ipam = Ipam::new("127.21").unwrap();
            let mut seen = BTreeSet::new();
            for _ in 0..n {
                let ip = ipam.allocate().unwrap();
                let o = ip.octets();
                proptest::prop_assert!(o[0] == 127 && o[1] == 21 && o[3] != 0 && o[3] != 255);
                proptest::prop_assert!(seen.insert(ip));
            }
        }
    }
}
