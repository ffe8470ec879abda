//! The HTML report in a real headless Chromium.

#[path = "../support/mod.rs"]
mod support;

mod html;
mod peer;
