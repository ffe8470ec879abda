//! The `turn` and `ice` sections, whose typed models do not exist yet: their
//! content is any JSON object. Recognised shapes get a chart (a TURN stage
//! waterfall per transport, an ICE candidate-type matrix); everything else
//! is shown as nested key/value tables.

use super::open_section;
use super::writer::Html;
use crate::section::{Opaque, Section};
use serde_json::{Map, Value};

/// Nesting shown before the generic renderer writes "…".
const MAX_DEPTH: usize = 12;
/// Array items shown before "… and N more".
const MAX_ITEMS: usize = 200;

pub(super) fn turn_section(h: &mut Html, turn: &Section<Opaque>) {
    let Some(content) = open_section(h, "turn", "TURN", turn) else {
        return;
    };
    let (results, rest) = split_results(content);
    if results.is_empty() {
        generic_object(h, content, 0);
    } else {
        for (i, r) in results.iter().enumerate() {
            turn_result(h, i, r);
        }
        if !rest.is_empty() {
            h.m("<h3>Other TURN details</h3>\n");
            generic_object(h, &rest, 0);
        }
    }
    h.m("</section>\n");
}

pub(super) fn ice_section(h: &mut Html, ice: &Section<Opaque>) {
    let Some(content) = open_section(h, "ice", "ICE", ice) else {
        return;
    };
    let pairs = find_pairs(content);
    if !pairs.is_empty() {
        matrix(h, &pairs);
        h.m("<p class=\"muted\">Details</p>\n");
    }
    generic_object(h, content, 0);
    h.m("</section>\n");
}

/// TURN results: the content itself if it has a `stages` array, otherwise
/// the objects with a `stages` array found in its top-level arrays. Returns
/// them and the content without those arrays.
fn split_results(content: &Opaque) -> (Vec<&Map<String, Value>>, Opaque) {
    if has_stages(content) {
        return (vec![content], Map::new());
    }
    let mut results = Vec::new();
    let mut rest = Map::new();
    for (k, v) in content {
        match v {
            Value::Array(items)
                if !items.is_empty()
                    && items.iter().all(|i| i.as_object().is_some_and(has_stages)) =>
            {
                results.extend(items.iter().filter_map(Value::as_object));
            }
            _ => {
                rest.insert(k.clone(), v.clone());
            }
        }
    }
    (results, rest)
}

fn has_stages(o: &Map<String, Value>) -> bool {
    o.get("stages").is_some_and(Value::is_array)
}

#[derive(Clone, Copy, PartialEq)]
enum Status {
    Pass,
    Fail,
    NotRun,
}

fn status_of(o: &Map<String, Value>) -> Status {
    if let Some(s) = o.get("status").and_then(Value::as_str) {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "passed" | "pass" | "ok" | "success" | "succeeded" | "done" => return Status::Pass,
            "failed" | "fail" | "error" | "timeout" | "timed_out" => return Status::Fail,
            "not_tested" | "skipped" | "not_run" | "not_applicable" => return Status::NotRun,
            _ => {}
        }
    }
    if let Some(ok) = o.get("ok").and_then(Value::as_bool) {
        return if ok { Status::Pass } else { Status::Fail };
    }
    if error_of(o).is_some() {
        Status::Fail
    } else if duration_of(o).is_some() {
        Status::Pass
    } else {
        Status::NotRun
    }
}

fn error_of(o: &Map<String, Value>) -> Option<&Value> {
    ["error", "failure", "reason"]
        .iter()
        .filter_map(|k| o.get(*k))
        .find(|v| !v.is_null())
}

fn duration_of(o: &Map<String, Value>) -> Option<f64> {
    ["duration_ms", "elapsed_ms", "took_ms"]
        .iter()
        .find_map(|k| o.get(*k).and_then(Value::as_f64))
        .filter(|d| d.is_finite() && *d >= 0.0)
}

fn name_of(o: &Map<String, Value>) -> String {
    ["stage", "name", "id"]
        .iter()
        .find_map(|k| o.get(*k))
        .map(flat_text)
        .unwrap_or_else(|| "stage".to_owned())
}

/// A value as one line of plain text (for error objects such as
/// `{"kind": "timeout", "after_ms": 3000}` → `timeout (after_ms: 3000)`).
fn flat_text(v: &Value) -> String {
    flat_text_depth(v, 0)
}

fn flat_text_depth(v: &Value, depth: usize) -> String {
    if depth > 4 {
        return "…".to_owned();
    }
    match v {
        Value::Null => "—".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.replace('_', " "),
        Value::Array(items) => items
            .iter()
            .take(20)
            .map(|i| flat_text_depth(i, depth + 1))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(o) => {
            let head = o.get("kind").map(|k| flat_text_depth(k, depth + 1));
            let parts: Vec<String> = o
                .iter()
                .filter(|(k, _)| k.as_str() != "kind")
                .take(20)
                .map(|(k, v)| format!("{k}: {}", flat_text_depth(v, depth + 1)))
                .collect();
            match (head, parts.is_empty()) {
                (Some(h), true) => h,
                (Some(h), false) => format!("{h} ({})", parts.join(", ")),
                (None, _) => parts.join(", "),
            }
        }
    }
}

/// One TURN transport result: heading, stage waterfall, stage table, the
/// other fields.
fn turn_result(h: &mut Html, index: usize, r: &Map<String, Value>) {
    h.m("<div class=\"turn-result\" id=\"turn-result-")
        .int(index)
        .m("\"><h3>");
    match r.get("uri") {
        Some(uri) => {
            h.m("<code>").t(&flat_text(uri)).m("</code>");
        }
        None => {
            h.m("TURN result ").int(index + 1);
        }
    }
    if let Some(t) = r.get("transport") {
        h.m(" over ").t(&flat_text(t).to_uppercase());
    }
    h.m(" ");
    match r.get("ok").and_then(Value::as_bool) {
        Some(true) => h.m("<span class=\"badge pass\">works</span>"),
        Some(false) => h.m("<span class=\"badge fail\">fails</span>"),
        None => h.m(""),
    };
    h.m("</h3>\n");
    if let Some(f) = r.get("failure").filter(|f| !f.is_null()) {
        h.m("<p class=\"err\">");
        if let Some(stage) = r.get("failed_stage").filter(|s| !s.is_null()) {
            h.m("Failed at <strong>")
                .t(&flat_text(stage))
                .m("</strong>: ");
        }
        h.t(&flat_text(f)).m("</p>\n");
    }

    let stages: Vec<&Map<String, Value>> = r
        .get("stages")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_object)
                .take(MAX_ITEMS)
                .collect()
        })
        .unwrap_or_default();
    if !stages.is_empty() {
        waterfall(h, index, &stages);
        h.m("<div class=\"scroll\"><table class=\"turn-stages\"><thead><tr><th>Stage</th><th>Result</th><th>Duration</th><th>Details</th></tr></thead><tbody>\n");
        for s in &stages {
            h.m("<tr><td>").t(&name_of(s)).m("</td><td>");
            h.m(match status_of(s) {
                Status::Pass => "<span class=\"badge pass\">ok</span>",
                Status::Fail => "<span class=\"badge fail\">failed</span>",
                Status::NotRun => "<span class=\"badge nt\">not run</span>",
            });
            h.m("</td><td class=\"num\">");
            match duration_of(s) {
                Some(d) => {
                    h.num(d, 1).m(" ms");
                }
                None => {
                    h.m("<span class=\"muted\">—</span>");
                }
            }
            h.m("</td><td>");
            if let Some(e) = error_of(s) {
                h.m("<span class=\"err\">").t(&flat_text(e)).m("</span>");
            }
            if let Some(n) = s.get("note").filter(|n| !n.is_null()) {
                h.m(" <span class=\"muted\">").t(&flat_text(n)).m("</span>");
            }
            h.m("</td></tr>\n");
        }
        h.m("</tbody></table></div>\n");
    }

    let mut rest = r.clone();
    for k in [
        "stages",
        "uri",
        "transport",
        "ok",
        "failure",
        "failed_stage",
    ] {
        rest.remove(k);
    }
    if !rest.is_empty() {
        h.m("<p class=\"muted\">Details</p>\n");
        generic_object(h, &rest, 0);
    }
    h.m("</div>\n");
}

/// Stages as a waterfall: each bar starts where the previous ended (or at
/// its `start_ms` when given) and is as long as the stage took.
fn waterfall(h: &mut Html, index: usize, stages: &[&Map<String, Value>]) {
    const ROW: i64 = 26;
    const TOP: i64 = 22;
    const X0: f64 = 200.0;
    const W: f64 = 400.0;
    let mut spans = Vec::with_capacity(stages.len());
    let mut cursor = 0.0f64;
    for s in stages {
        let d = duration_of(s);
        let start = s
            .get("start_ms")
            .and_then(Value::as_f64)
            .filter(|x| x.is_finite() && *x >= 0.0)
            .unwrap_or(cursor);
        if let Some(d) = d {
            cursor = cursor.max(start + d);
        }
        spans.push((start, d));
    }
    let total = cursor;
    let height = TOP + ROW * stages.len() as i64 + 6;
    h.m("<figure class=\"chart\"><svg class=\"turn-waterfall\" id=\"turn-waterfall-")
        .int(index)
        .m("\" viewBox=\"0 0 760 ")
        .int(height)
        .m("\" role=\"img\"><title>TURN stages, in order, as a timeline</title>\n")
        .m("<text x=\"200\" y=\"14\" font-size=\"11\" fill=\"#57606a\">0 ms</text><text x=\"600\" y=\"14\" text-anchor=\"end\" font-size=\"11\" fill=\"#57606a\">")
        .num(total, 1)
        .m(" ms</text>\n");
    for (i, (s, (start, dur))) in stages.iter().zip(spans).enumerate() {
        let y = TOP + ROW * i as i64;
        let status = status_of(s);
        h.m("<text x=\"192\" y=\"")
            .int(y + 16)
            .m("\" text-anchor=\"end\" font-size=\"12\" fill=\"#1b1f24\">")
            .t_short(&name_of(s), 28)
            .m("</text>");
        let (x, w) = match dur {
            Some(d) if total > 0.0 => (X0 + start / total * W, (d / total * W).max(2.0)),
            Some(_) => (X0, 2.0),
            None => (X0 + start / total.max(f64::MIN_POSITIVE) * W, 0.0),
        };
        let x = x.min(X0 + W);
        if status == Status::NotRun && dur.is_none() {
            h.m("<text x=\"")
                .num(x + 4.0, 1)
                .m("\" y=\"")
                .int(y + 16)
                .m("\" font-size=\"11\" fill=\"#57606a\">not run</text>\n");
            continue;
        }
        h.m("<rect x=\"")
            .num(x, 1)
            .m("\" y=\"")
            .int(y + 4)
            .m("\" width=\"")
            .num(w.max(2.0), 1)
            .m("\" height=\"16\" rx=\"3\" fill=\"")
            .m(match status {
                Status::Pass => "#1a7f37",
                Status::Fail => "#c62828",
                Status::NotRun => "#8c959f",
            })
            .m("\"/><text x=\"")
            .num(x + w.max(2.0) + 5.0, 1)
            .m("\" y=\"")
            .int(y + 16)
            .m("\" font-size=\"11\" fill=\"")
            .m(if status == Status::Fail {
                "#c62828"
            } else {
                "#1b1f24"
            })
            .m("\">");
        if let Some(d) = dur {
            h.num(d, 1).m(" ms");
        }
        if status == Status::Fail {
            h.m(" ✗ ");
            if let Some(e) = error_of(s) {
                h.t_short(&flat_text(e), 40);
            } else {
                h.m("failed");
            }
        }
        h.m("</text>\n");
    }
    h.m("</svg></figure>\n");
}

/// ICE pair-like objects: in a top-level array, with `local_type` and
/// `remote_type` strings. Returns (local type, remote type, status).
fn find_pairs(content: &Opaque) -> Vec<(String, String, Status)> {
    let mut out = Vec::new();
    for v in content.values() {
        let Some(items) = v.as_array() else { continue };
        for o in items.iter().filter_map(Value::as_object).take(MAX_ITEMS) {
            let (Some(l), Some(r)) = (
                o.get("local_type").and_then(Value::as_str),
                o.get("remote_type").and_then(Value::as_str),
            ) else {
                continue;
            };
            let status = match o.get("state").and_then(Value::as_str) {
                Some("succeeded" | "success" | "connected") => Status::Pass,
                Some("failed") => Status::Fail,
                Some(_) => Status::NotRun,
                None => status_of(o),
            };
            out.push((l.to_owned(), r.to_owned(), status));
        }
    }
    out
}

/// Local candidate type × remote candidate type: did a pair of those types
/// connect?
fn matrix(h: &mut Html, pairs: &[(String, String, Status)]) {
    let order = |t: &String| match t.as_str() {
        "host" => 0,
        "srflx" => 1,
        "prflx" => 2,
        "relay" => 3,
        _ => 4,
    };
    let mut locals: Vec<&String> = pairs.iter().map(|p| &p.0).collect();
    let mut remotes: Vec<&String> = pairs.iter().map(|p| &p.1).collect();
    for v in [&mut locals, &mut remotes] {
        v.sort_by(|a, b| order(a).cmp(&order(b)).then(a.cmp(b)));
        v.dedup();
        v.truncate(16);
    }
    h.m("<h3>Candidate-type matrix</h3>\n<div class=\"scroll\"><table id=\"ice-matrix\"><thead><tr><th>local \\ remote</th>");
    for r in &remotes {
        h.m("<th>").t(r).m("</th>");
    }
    h.m("</tr></thead><tbody>\n");
    for l in &locals {
        h.m("<tr><th>").t(l).m("</th>");
        for r in &remotes {
            let cell: Vec<Status> = pairs
                .iter()
                .filter(|p| &p.0 == *l && &p.1 == *r)
                .map(|p| p.2)
                .collect();
            h.m("<td>");
            h.m(if cell.contains(&Status::Pass) {
                "<span class=\"badge pass\">works</span>"
            } else if cell.contains(&Status::Fail) {
                "<span class=\"badge fail\">fails</span>"
            } else if cell.is_empty() {
                "<span class=\"muted\">—</span>"
            } else {
                "<span class=\"badge nt\">not tested</span>"
            });
            h.m("</td>");
        }
        h.m("</tr>\n");
    }
    h.m("</tbody></table></div>\n");
}

/// Any JSON object as a key/value table (nested objects as nested tables).
fn generic_object(h: &mut Html, o: &Map<String, Value>, depth: usize) {
    if o.is_empty() {
        h.m("<span class=\"muted\">(empty)</span>");
        return;
    }
    h.m("<div class=\"scroll nest\"><table class=\"kv\"><tbody>");
    for (k, v) in o {
        h.m("<tr><th>").t(k).m("</th><td>");
        generic_value(h, v, depth + 1);
        h.m("</td></tr>");
    }
    h.m("</tbody></table></div>\n");
}

fn generic_value(h: &mut Html, v: &Value, depth: usize) {
    if depth > MAX_DEPTH {
        h.m("…");
        return;
    }
    match v {
        Value::Null => {
            h.m("<span class=\"muted\">—</span>");
        }
        Value::Bool(true) => {
            h.m("yes");
        }
        Value::Bool(false) => {
            h.m("no");
        }
        Value::Number(n) => {
            h.d(n);
        }
        Value::String(s) => {
            h.t(s);
        }
        Value::Array(items) if items.is_empty() => {
            h.m("<span class=\"muted\">none</span>");
        }
        Value::Array(items) => {
            h.m("<ul>");
            for i in items.iter().take(MAX_ITEMS) {
                h.m("<li>");
                generic_value(h, i, depth + 1);
                h.m("</li>");
            }
            if items.len() > MAX_ITEMS {
                h.m("<li class=\"muted\">… and ")
                    .int(items.len() - MAX_ITEMS)
                    .m(" more</li>");
            }
            h.m("</ul>");
        }
        Value::Object(o) => generic_object(h, o, depth),
    }
}
