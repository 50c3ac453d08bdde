//! A number per asset for the few assets that have one, in less room than a list over all
//! assets or a hash map: `(asset index, value)` pairs in index order, found by binary search.

/// Values by asset index; assets without one read as 0. Built from pairs in rising index
/// order (as a pass over the assets yields them).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseCounts(Vec<(u32, u32)>);

impl SparseCounts {
    /// From `(index, value)` pairs with rising indices. Panics if they are not (a caller's
    /// bug: lookups would miss).
    pub fn from_ordered(pairs: impl IntoIterator<Item = (u32, u32)>) -> SparseCounts {
        let pairs: Vec<(u32, u32)> = pairs.into_iter().collect();
        assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0), "pairs must come in rising index order");
        SparseCounts(pairs)
    }

    /// The value of asset `index`, 0 when it has none.
    pub fn get(&self, index: u32) -> u32 {
        self.0.binary_search_by_key(&index, |&(i, _)| i).map_or(0, |k| self.0[k].1)
    }

    /// How many assets have a value.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_by_index_and_missing_ones_read_zero() {
        let counts = SparseCounts::from_ordered([(2, 7), (5, 1), (9, 30)]);
        assert_eq!([0, 1, 2, 3, 5, 9, 10].map(|i| counts.get(i)), [0, 0, 7, 0, 1, 30, 0]);
        assert_eq!(counts.len(), 3);
        assert_eq!(SparseCounts::default().get(0), 0);
    }

    #[test]
    #[should_panic(expected = "rising index order")]
    fn pairs_out_of_order_are_refused() {
        SparseCounts::from_ordered([(5, 1), (2, 7)]);
    }
}
