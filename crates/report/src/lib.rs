//! report — TODO
#![deny(missing_docs)]
