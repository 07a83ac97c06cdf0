//! A hint to the memory that a line will be read soon: how netwc's hot loops hide the ~100 ns
//! a read of a word or a table slot out of cache costs, by asking for it a few items ahead.

/// How many items ahead a loop over words asks for the next ones: enough for a read from
/// memory to arrive while the items between are handled, few enough to stay in the L1 cache.
pub(crate) const AHEAD: usize = 8;

/// The items of `items` in order, each handed out after `ask` was called with the one
/// [`AHEAD`] places later: what the loop reads of an item (a word's text, a table entry it
/// names) is then in cache when its turn comes.
#[inline]
pub(crate) fn read_ahead<'a, T>(
    items: &'a [T],
    ask: impl Fn(&'a T) + 'a,
) -> impl Iterator<Item = &'a T> + 'a {
    items.iter().enumerate().map(move |(i, item)| {
        if let Some(ahead) = items.get(i + AHEAD) {
            ask(ahead);
        }
        item
    })
}

/// Asks the memory for the line at `address`, to be read soon (nothing where the target has
/// no such hint on stable Rust). Any address will do: a prefetch reads nothing and never
/// faults.
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn prefetch(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        let address = address.cast::<i8>();
        // SAFETY: a prefetch reads nothing and never faults, whatever the address, and SSE
        // (the intrinsic's target feature) is part of every x86_64. There is no safe way:
        // stable std has no prefetch (`core::intrinsics::prefetch_read_data` is unstable),
        // rustix has none, and the intrinsic is `unsafe` only for its target feature.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
