//! natscope-report's tests, one binary: the JSON contract (schema,
//! fixtures, compatibility), the table and the HTML page.

mod common;
mod contract;
mod html;
mod metrics;
mod peer;
mod table;
