//! Tables for people, JSON for scripts. Server answers are shown generically (objects as key/value rows,
//! arrays of objects as columns), so a field the server adds shows up without a meetctl release.

use serde_json::Value;

pub fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON values serialize"));
}

/// A value as one table cell: strings without quotes, `null` as empty.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Plain aligned columns (no box drawing, so `grep`/`awk` work on it too); multi-line cells are flattened.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let rows: Vec<Vec<String>> =
        rows.into_iter().map(|r| r.into_iter().map(|c| c.replace(['\n', '\r', '\t'], " ")).collect()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, c) in cells.enumerate() {
            if i + 1 < widths.len() {
                out.push_str(c);
                out.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count() + 2));
            } else {
                out.push_str(c);
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(&mut headers.iter().copied());
    for r in &rows {
        out.push('\n');
        out.push_str(&line(&mut r.iter().map(String::as_str).take(widths.len())));
    }
    out
}

/// Prints a server answer: JSON as is with `--json`, otherwise a table. `{"data": ...}` envelopes (the
/// statistics endpoints) are unwrapped for the table.
pub fn print_value(value: &Value, json: bool) {
    if json {
        return print_json(value);
    }
    let inner = match value.get("data") {
        Some(d) if value.as_object().is_some_and(|o| o.keys().all(|k| k == "data" || k == "errors")) => d,
        _ => value,
    };
    match inner {
        Value::Array(items) if items.is_empty() => println!("(none)"),
        Value::Array(items) if items.iter().all(Value::is_object) => {
            let mut columns: Vec<String> = Vec::new();
            for item in items {
                for k in item.as_object().expect("checked").keys() {
                    if !columns.contains(k) {
                        columns.push(k.clone());
                    }
                }
            }
            // Identifying columns first; the rest in the server's (alphabetical) order.
            const FIRST: [&str; 6] = ["id", "roomId", "peerId", "person_id", "name", "numberPeers"];
            columns.sort_by_key(|c| FIRST.iter().position(|f| f == c).unwrap_or(FIRST.len()));
            let rows = items
                .iter()
                .map(|i| columns.iter().map(|c| i.get(c).map(cell).unwrap_or_default()).collect())
                .collect();
            let headers: Vec<&str> = columns.iter().map(String::as_str).collect();
            println!("{}", table(&headers, rows));
        }
        Value::Array(items) => {
            for i in items {
                println!("{}", cell(i));
            }
        }
        Value::Object(o) => {
            let rows = o
                .iter()
                .filter(|(k, _)| k.as_str() != "errors" || o.get("errors").is_some_and(|e| e != &Value::Array(vec![])))
                .map(|(k, v)| vec![k.clone(), cell(v)])
                .collect();
            println!("{}", table(&["FIELD", "VALUE"], rows));
        }
        other => println!("{}", cell(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(&["ID", "NAME"], vec![vec!["1".into(), "backend".into()], vec!["10".into(), "a\nb".into()]]);
        assert_eq!(t, "ID  NAME\n1   backend\n10  a b");
    }
}
