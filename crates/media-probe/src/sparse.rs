//! The bytes of a file read so far: a few disjoint ranges.

/// Missing bytes: from `offset`, `len` of them up to the next held range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gap {
    pub offset: u64,
    pub len: u64,
}

/// Sorted, disjoint, non-adjacent ranges (adjacent ones are merged on insert, so any range
/// read in pieces can be handed out as one slice).
#[derive(Debug, Default)]
pub(crate) struct Sparse {
    chunks: Vec<(u64, Vec<u8>)>,
}

fn end(chunk: &(u64, Vec<u8>)) -> u64 {
    chunk.0 + chunk.1.len() as u64
}

impl Sparse {
    pub(crate) fn insert(&mut self, offset: u64, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.chunks.push((offset, bytes));
        self.chunks.sort_by_key(|c| c.0);
        let mut merged: Vec<(u64, Vec<u8>)> = Vec::with_capacity(self.chunks.len());
        for chunk in self.chunks.drain(..) {
            match merged.last_mut() {
                Some(last) if chunk.0 <= end(last) => {
                    let overlap = usize::try_from(end(last) - chunk.0).unwrap_or(usize::MAX);
                    if let Some(rest) = chunk.1.get(overlap..) {
                        last.1.extend_from_slice(rest);
                    }
                }
                _ => merged.push(chunk),
            }
        }
        self.chunks = merged;
    }

    /// The held bytes from `offset` to the end of their range.
    pub(crate) fn from(&self, offset: u64) -> Option<&[u8]> {
        let chunk = self
            .chunks
            .iter()
            .find(|c| c.0 <= offset && offset < end(c))?;
        chunk.1.get(usize::try_from(offset - chunk.0).ok()?..)
    }

    /// `len` bytes from `offset`, or the first gap in them.
    pub(crate) fn get(&self, offset: u64, len: u64) -> Result<&[u8], Gap> {
        let held = self.from(offset).unwrap_or_default();
        if held.len() as u64 >= len {
            return held
                .get(..usize::try_from(len).unwrap_or(usize::MAX))
                .ok_or(Gap { offset, len });
        }
        let start = offset + held.len() as u64;
        let stop = offset + len;
        let next = self
            .chunks
            .iter()
            .map(|c| c.0)
            .find(|&o| o > start)
            .unwrap_or(stop)
            .min(stop);
        Err(Gap {
            offset: start,
            len: next - start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_merge_and_gaps_are_named() {
        let mut s = Sparse::default();
        s.insert(10, vec![1; 10]);
        s.insert(30, vec![3; 10]);
        assert_eq!(s.get(12, 5), Ok(&[1u8; 5][..]));
        assert_eq!(s.get(15, 10), Err(Gap { offset: 20, len: 5 }));
        assert_eq!(s.get(0, 50), Err(Gap { offset: 0, len: 10 }));
        s.insert(20, vec![2; 10]);
        let all = s.get(10, 30).expect("contiguous now");
        assert_eq!(all.len(), 30);
        assert_eq!((all[9], all[10], all[29]), (1, 2, 3));
        // Overlapping reads keep the first bytes and add only what is new.
        s.insert(35, vec![9; 10]);
        assert_eq!(s.get(38, 4), Ok(&[3, 3, 9, 9][..]));
    }
}
