//! `Bounded<T, N>`: a vector that never holds more than N items.
//!
//! Why not `heapless::Vec`: it stores its full capacity inline, so the model
//! would occupy its maximum size (6.4 MB) in every copy, on the stack. This
//! keeps items on the heap, sized to what is there, while the bound is
//! enforced on every way in (push, collect, decoding), so the encoded size
//! still has a known maximum. Short strings stay `heapless::String`.

use core::ops::{Deref, DerefMut};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bounded<T, const N: usize>(Vec<T>);

impl<T, const N: usize> Default for Bounded<T, N> {
    fn default() -> Self {
        Bounded(Vec::new())
    }
}

impl<T, const N: usize> Bounded<T, N> {
    pub const CAPACITY: usize = N;

    pub const fn new() -> Self {
        Bounded(Vec::new())
    }

    /// Appends, or gives the item back when full (as `heapless::Vec::push`).
    pub fn push(&mut self, item: T) -> Result<(), T> {
        if self.0.len() >= N {
            return Err(item);
        }
        // A short list grows one at a time: most are (a real server's one
        // checker), and Vec's first growth makes room for four.
        if self.0.len() == self.0.capacity() && self.0.len() < 4 {
            self.0.reserve_exact(1);
        }
        self.0.push(item);
        Ok(())
    }

    pub fn capacity(&self) -> usize {
        N
    }

    pub fn is_full(&self) -> bool {
        self.0.len() >= N
    }

    pub fn remove(&mut self, index: usize) -> T {
        self.0.remove(index)
    }

    pub fn insert(&mut self, index: usize, item: T) -> Result<(), T> {
        if self.0.len() >= N || index > self.0.len() {
            return Err(item);
        }
        self.0.insert(index, item);
        Ok(())
    }

    pub fn retain(&mut self, f: impl FnMut(&T) -> bool) {
        self.0.retain(f)
    }

    pub fn clear(&mut self) {
        self.0.clear()
    }

    /// Gives back the room growth left unused (a config read item by item
    /// is kept for as long as it runs).
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit()
    }

    pub fn as_slice(&self) -> &[T] {
        &self.0
    }

    /// Each item converted: as many items, so within the same bound (for
    /// bringing an old schema's lists up to today's types).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Bounded<U, N> {
        Bounded(self.0.into_iter().map(f).collect())
    }
}

impl<T, const N: usize> TryFrom<Vec<T>> for Bounded<T, N> {
    type Error = Vec<T>;
    fn try_from(v: Vec<T>) -> Result<Self, Vec<T>> {
        if v.len() > N { Err(v) } else { Ok(Bounded(v)) }
    }
}

impl<T, const N: usize> Deref for Bounded<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T, const N: usize> DerefMut for Bounded<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

impl<'a, T, const N: usize> IntoIterator for &'a Bounded<T, N> {
    type Item = &'a T;
    type IntoIter = core::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a, T, const N: usize> IntoIterator for &'a mut Bounded<T, N> {
    type Item = &'a mut T;
    type IntoIter = core::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter_mut()
    }
}

impl<T: Serialize, const N: usize> Serialize for Bounded<T, N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Bounded<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(core::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> serde::de::Visitor<'de> for V<T, N> {
            type Value = Bounded<T, N>;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "a sequence of at most {N} items")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // Never trust a length prefix for allocation: a corrupt blob
                // could claim billions.
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(N));
                while let Some(item) = seq.next_element()? {
                    if v.len() >= N {
                        return Err(serde::de::Error::invalid_length(v.len() + 1, &self));
                    }
                    v.push(item);
                }
                Ok(Bounded(v))
            }
        }
        d.deserialize_seq(V::<T, N>(core::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::Bounded;

    #[test]
    fn the_bound_holds_on_every_way_in() {
        let mut b: Bounded<u8, 2> = Bounded::new();
        assert_eq!(b.push(1), Ok(()));
        assert_eq!(b.push(2), Ok(()));
        assert_eq!(b.push(3), Err(3));
        assert_eq!(b.insert(0, 9), Err(9));
        assert!(Bounded::<u8, 2>::try_from(vec![1, 2, 3]).is_err());
        let enc = postcard::to_allocvec(&vec![1u8, 2, 3]).unwrap();
        assert!(postcard::from_bytes::<Bounded<u8, 2>>(&enc).is_err());
        let enc = postcard::to_allocvec(&b).unwrap();
        assert_eq!(postcard::from_bytes::<Bounded<u8, 2>>(&enc).unwrap(), b);
    }
}
