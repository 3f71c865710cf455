//! A stable 64-bit hash of bytes (FNV-1a): the same on every machine, build and run, unlike
//! std's hasher, for what several processes or runs must agree on (which shard a session goes
//! to, a shared-prefix group's name).

pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_seeded(0, bytes)
}

/// FNV-1a from the offset basis XORed with `seed`: two seeds give two independent 64-bit
/// hashes of the same bytes (a 128-bit id from two).
pub fn fnv1a_seeded(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64 ^ seed, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        assert_eq!(super::fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(super::fnv1a(b"a"), 0xaf63dc4c8601ec8c);
    }
}
