//! [`PerSide`]: one value per ICE agent of a run, indexed by
//! `model::ice::Side` (never by a bare number or a role string).

use model::ice::Side;
use std::ops::{Index, IndexMut};

/// One `T` for agent "a" and one for agent "b".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PerSide<T> {
    /// Agent "a" (controlling).
    pub(crate) a: T,
    /// Agent "b" (controlled).
    pub(crate) b: T,
}

impl<T> PerSide<T> {
    /// Builds both values from their side.
    pub(crate) fn new(mut f: impl FnMut(Side) -> T) -> PerSide<T> {
        PerSide {
            a: f(Side::A),
            b: f(Side::B),
        }
    }

    /// Like [`PerSide::new`], for constructors that can fail.
    pub(crate) fn try_new<E>(mut f: impl FnMut(Side) -> Result<T, E>) -> Result<PerSide<T>, E> {
        Ok(PerSide {
            a: f(Side::A)?,
            b: f(Side::B)?,
        })
    }

    /// Both values, "a" first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        [&self.a, &self.b].into_iter()
    }

    /// Both values, "a" first.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        [&mut self.a, &mut self.b].into_iter()
    }

    /// Both values with their side, "a" first.
    pub(crate) fn into_pairs(self) -> [(Side, T); 2] {
        [(Side::A, self.a), (Side::B, self.b)]
    }
}

impl<T> Index<Side> for PerSide<T> {
    type Output = T;
    fn index(&self, side: Side) -> &T {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }
}

impl<T> IndexMut<Side> for PerSide<T> {
    fn index_mut(&mut self, side: Side) -> &mut T {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }
}
