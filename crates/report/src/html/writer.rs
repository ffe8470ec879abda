//! [`Html`]: the only way the HTML renderer writes output.
//!
//! Markup can only be a `&'static str` (a literal in this crate's source),
//! text is always escaped, numbers are formatted from numeric types, and the
//! embedded JSON has every `<`, `>` and `&` turned into a JSON `\u` escape.
//! There is no method that writes a runtime string unescaped, so a string
//! from the network cannot become markup.

use crate::sanitize;

/// An HTML document being written.
pub(crate) struct Html {
    out: String,
}

/// Integer types [`Html::int`] accepts. Their `Display` output is digits and
/// an optional minus sign only.
pub(crate) trait Integer: std::fmt::Display + Copy {}
impl Integer for u8 {}
impl Integer for u16 {}
impl Integer for u32 {}
impl Integer for u64 {}
impl Integer for usize {}
impl Integer for i32 {}
impl Integer for i64 {}

impl Html {
    /// An empty document.
    pub(crate) fn new() -> Html {
        Html {
            out: String::with_capacity(32 * 1024),
        }
    }

    /// The finished document.
    pub(crate) fn finish(self) -> String {
        self.out
    }

    /// Trusted markup: only string literals (`&'static str`) of this crate.
    pub(crate) fn m(&mut self, markup: &'static str) -> &mut Html {
        self.out.push_str(markup);
        self
    }

    /// Untrusted text, for element content and attribute values: terminal
    /// escapes and control characters removed ([`sanitize::terminal`]), then
    /// HTML-escaped ([`sanitize::html_escape`]).
    pub(crate) fn t(&mut self, text: &str) -> &mut Html {
        self.out
            .push_str(&sanitize::html_escape(&sanitize::terminal(text)));
        self
    }

    /// Like [`Html::t`], cut to at most `max` characters (an ellipsis marks a
    /// cut). For labels in diagrams, where space is fixed.
    pub(crate) fn t_short(&mut self, text: &str, max: usize) -> &mut Html {
        self.out
            .push_str(&sanitize::html_escape(&sanitize::terminal_short(text, max)));
        self
    }

    /// Anything `Display` (addresses, enums), escaped like [`Html::t`].
    pub(crate) fn d(&mut self, value: impl std::fmt::Display) -> &mut Html {
        self.t(&value.to_string())
    }

    /// An integer.
    pub(crate) fn int(&mut self, n: impl Integer) -> &mut Html {
        self.out.push_str(&n.to_string());
        self
    }

    /// A float with `decimals` digits after the point; non-finite values
    /// (which a hand-edited report might not hold, but a built one could)
    /// are written as 0 so SVG geometry stays valid.
    pub(crate) fn num(&mut self, x: f64, decimals: usize) -> &mut Html {
        let x = if x.is_finite() { x } else { 0.0 };
        self.out.push_str(&format!("{x:.decimals$}"));
        self
    }

    /// JSON for a `<script type="application/json">` element: `<`, `>`, `&`,
    /// U+2028/U+2029 and control characters other than line feeds become
    /// `\uXXXX` escapes. In JSON text these
    /// characters only occur inside strings, where the escapes mean the same
    /// characters, so the JSON parses to the same value; and the element
    /// can contain neither `</script` nor `<!--`.
    pub(crate) fn json(&mut self, json: &str) -> &mut Html {
        self.out.reserve(json.len());
        for c in json.chars() {
            match c {
                '<' => self.out.push_str("\\u003c"),
                '>' => self.out.push_str("\\u003e"),
                '&' => self.out.push_str("\\u0026"),
                '\u{2028}' => self.out.push_str("\\u2028"),
                '\u{2029}' => self.out.push_str("\\u2029"),
                // serde_json leaves C1 controls and DEL raw; they only occur
                // inside strings, so escape them too and keep the file free
                // of control characters.
                c if c.is_control() && c != '\n' => {
                    self.out.push_str(&format!("\\u{:04x}", u32::from(c)))
                }
                c => self.out.push(c),
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_cleaned() {
        let mut h = Html::new();
        h.m("<p>")
            .t("<script>\u{1b}[2J\"x'&")
            .m("</p>")
            .int(42u32)
            .num(1.25, 1)
            .num(f64::NAN, 0);
        assert_eq!(h.finish(), "<p>&lt;script&gt;&quot;x&#39;&amp;</p>421.20");
    }

    #[test]
    fn json_cannot_close_the_script() {
        let mut h = Html::new();
        h.json(r#"{"a":"</script><!--&\u2028"}"#);
        let out = h.finish();
        assert!(!out.contains('<') && !out.contains('>') && !out.contains('&'));
        let v: serde_json::Value = serde_json::from_str(&out).expect("escaped JSON parses");
        assert_eq!(v["a"], "</script><!--&\u{2028}");
    }
}
