//! The report reader behind `natscope report render` (`report::from_json`)
//! and both renderers on whatever it accepts. The table must be free of
//! terminal control characters and the HTML must never carry a raw `<script`
//! from the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use report::{Report, TableOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let report = match report::from_json(text) {
        Ok(r) => r,
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains('\u{1b}'), "ESC in an error message: {msg:?}");
            return;
        }
    };
    for color in [false, true] {
        let table = report::table::render(
            &report,
            TableOptions {
                color,
                width: Some(100),
            },
        );
        if !color {
            if let Some(c) = table.chars().find(|c| c.is_control() && *c != '\n') {
                panic!("control character {c:?} in table output");
            }
        }
    }
    let html = report::html::render(&report);
    let lower = html.to_ascii_lowercase();
    // The renderer's own page has exactly the script tags of its template;
    // input text must not add any.
    let template_scripts = report::html::render(&Report::new("x", "y"))
        .to_ascii_lowercase()
        .matches("<script")
        .count();
    assert!(
        lower.matches("<script").count() <= template_scripts,
        "input produced a <script> tag"
    );
    let _ = report.to_json_pretty();
});
