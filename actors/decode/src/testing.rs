//! Test support shared by the decoders: a deterministic generator for their fuzz loops, so that a
//! failing iteration can be replayed from its seed. Each decoder keeps its own mutations.

/// Xorshift64.
pub(crate) struct XorShift(pub u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The independent captures of `shared/` (beside the repository), which several decoders'
/// tests read whole.
pub(crate) fn shared_captures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/captures")
}
