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

/// A bounded list of either kind, to push into (the importer's one way of
/// adding an item and saying when the bound dropped it).
pub trait Push<T> {
    const LIMIT: usize;
    fn push_item(&mut self, item: T) -> Result<(), T>;
}

impl<T, const N: usize> Push<T> for Bounded<T, N> {
    const LIMIT: usize = N;
    fn push_item(&mut self, item: T) -> Result<(), T> {
        self.push(item)
    }
}

impl<T, const N: usize> Push<T> for FirstInline<T, N> {
    const LIMIT: usize = N;
    fn push_item(&mut self, item: T) -> Result<(), T> {
        self.push(item)
    }
}

/// A `Bounded` list whose first item is kept inline: for a list that
/// nearly always holds exactly one (a real server's checkers: 37,298 real
/// servers with one TCP_CHECK each in keepalived issue #2318's config). A
/// one-item `Vec` is a heap block of its own beside the list's 24 bytes;
/// inline, a model at that shape is 1.3 MB smaller. It reads, writes and
/// encodes as the `Bounded` it stands for (the same bytes on flash).
#[derive(Clone, PartialEq, Eq)]
pub struct FirstInline<T, const N: usize>(Items<T>);

#[derive(Clone, PartialEq, Eq)]
enum Items<T> {
    None,
    One(T),
    /// Two or more.
    Many(Vec<T>),
}

impl<T, const N: usize> Default for FirstInline<T, N> {
    fn default() -> Self {
        FirstInline(Items::None)
    }
}

impl<T: core::fmt::Debug, const N: usize> core::fmt::Debug for FirstInline<T, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T, const N: usize> FirstInline<T, N> {
    pub const CAPACITY: usize = N;

    pub const fn new() -> Self {
        FirstInline(Items::None)
    }

    /// The items as a `Vec`, leaving the list empty (for the rare edits).
    fn take(&mut self) -> Vec<T> {
        match core::mem::replace(&mut self.0, Items::None) {
            Items::None => Vec::new(),
            Items::One(t) => vec![t],
            Items::Many(v) => v,
        }
    }

    /// From a list already within the bound.
    fn from_vec(mut v: Vec<T>) -> Self {
        FirstInline(match v.len() {
            0 => Items::None,
            1 => Items::One(v.remove(0)),
            _ => {
                v.shrink_to_fit();
                Items::Many(v)
            }
        })
    }

    /// Appends, or gives the item back when full (as `Bounded::push`).
    pub fn push(&mut self, item: T) -> Result<(), T> {
        if self.len() >= N {
            return Err(item);
        }
        self.0 = match core::mem::replace(&mut self.0, Items::None) {
            Items::None => Items::One(item),
            Items::One(first) => {
                let mut v = Vec::with_capacity(2);
                v.extend([first, item]);
                Items::Many(v)
            }
            Items::Many(mut v) => {
                v.push(item);
                Items::Many(v)
            }
        };
        Ok(())
    }

    pub fn capacity(&self) -> usize {
        N
    }

    pub fn is_full(&self) -> bool {
        self.len() >= N
    }

    /// Panics if `index` is out of range, as `Vec::remove`.
    pub fn remove(&mut self, index: usize) -> T {
        let mut v = self.take();
        let item = v.remove(index);
        *self = Self::from_vec(v);
        item
    }

    pub fn insert(&mut self, index: usize, item: T) -> Result<(), T> {
        if self.len() >= N || index > self.len() {
            return Err(item);
        }
        let mut v = self.take();
        v.insert(index, item);
        *self = Self::from_vec(v);
        Ok(())
    }

    pub fn retain(&mut self, f: impl FnMut(&T) -> bool) {
        let mut v = self.take();
        v.retain(f);
        *self = Self::from_vec(v);
    }

    pub fn clear(&mut self) {
        self.0 = Items::None;
    }

    pub fn shrink_to_fit(&mut self) {
        if let Items::Many(v) = &mut self.0 {
            v.shrink_to_fit();
        }
    }

    pub fn as_slice(&self) -> &[T] {
        match &self.0 {
            Items::None => &[],
            Items::One(t) => core::slice::from_ref(t),
            Items::Many(v) => v,
        }
    }

    /// Each item converted: as many items, so within the same bound.
    pub fn map<U>(mut self, f: impl FnMut(T) -> U) -> FirstInline<U, N> {
        FirstInline::from_vec(self.take().into_iter().map(f).collect())
    }
}

impl<T, const N: usize> From<Bounded<T, N>> for FirstInline<T, N> {
    fn from(b: Bounded<T, N>) -> Self {
        Self::from_vec(b.0)
    }
}

impl<T, const N: usize> TryFrom<Vec<T>> for FirstInline<T, N> {
    type Error = Vec<T>;
    fn try_from(v: Vec<T>) -> Result<Self, Vec<T>> {
        if v.len() > N { Err(v) } else { Ok(Self::from_vec(v)) }
    }
}

impl<T, const N: usize> Deref for FirstInline<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T, const N: usize> DerefMut for FirstInline<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.0 {
            Items::None => &mut [],
            Items::One(t) => core::slice::from_mut(t),
            Items::Many(v) => v,
        }
    }
}

impl<'a, T, const N: usize> IntoIterator for &'a FirstInline<T, N> {
    type Item = &'a T;
    type IntoIter = core::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<'a, T, const N: usize> IntoIterator for &'a mut FirstInline<T, N> {
    type Item = &'a mut T;
    type IntoIter = core::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.deref_mut().iter_mut()
    }
}

impl<T: Serialize, const N: usize> Serialize for FirstInline<T, N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(s)
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for FirstInline<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Bounded's decoding (the bound checked as the items come), then
        // the first item moved inline.
        Bounded::<T, N>::deserialize(d).map(Self::from)
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

    #[test]
    fn first_inline_reads_writes_and_encodes_as_bounded() {
        use super::FirstInline;
        let mut f: FirstInline<u16, 3> = FirstInline::new();
        let mut b: Bounded<u16, 3> = Bounded::new();
        assert!(f.is_empty());
        for i in [7, 8, 9] {
            assert_eq!(f.push(i), Ok(()));
            b.push(i).unwrap();
            assert_eq!(&*f, &*b);
            assert_eq!(postcard::to_allocvec(&f).unwrap(), postcard::to_allocvec(&b).unwrap(), "the same bytes");
        }
        assert_eq!(f.push(10), Err(10), "the bound holds");
        assert_eq!(f.remove(1), 8);
        assert_eq!(f.as_slice(), [7, 9]);
        f.retain(|&i| i == 9);
        assert_eq!(f.as_slice(), [9]);
        assert_eq!(f.insert(0, 1), Ok(()));
        assert_eq!(f.as_slice(), [1, 9]);
        f[1] = 5;
        assert_eq!(f.clone().map(u32::from).as_slice(), [1u32, 5]);
        let bytes = postcard::to_allocvec(&f).unwrap();
        let back: FirstInline<u16, 3> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, f);
        // Decoding keeps the bound: four items into a list of three fail.
        let four = postcard::to_allocvec(&vec![1u16, 2, 3, 4]).unwrap();
        assert!(postcard::from_bytes::<FirstInline<u16, 3>>(&four).is_err());
        f.clear();
        assert!(f.is_empty() && f.iter().next().is_none());
    }
}
