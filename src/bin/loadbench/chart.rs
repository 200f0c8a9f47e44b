//! The chart next to the table: the server's CPU per row, interest off and on, beside the issue's reference figures.

use std::fmt::Write as _;

use crate::plan::{Mode, RowSpec};
use crate::report::trustworthy;
use crate::row::{Outcome, Row};

/// Reference points from the benchmark issue, measured on the same kind of 2-core machine with the same load:
/// (players, % of a core). The floor is a minimal Rust broadcaster with no game; the framework a popular Node.js
/// game server framework, everyone seeing everyone.
const FLOOR_CPU: [(usize, f64); 2] = [(500, 18.0), (1000, 31.5)];
const FRAMEWORK_CPU: [(usize, f64); 2] = [(500, 30.0), (1000, 58.0)];

/// A grouped bar chart of the server's CPU per room size (interest off and on, user and system stacked), beside
/// the floor and the framework where the issue gives them, as a self-contained SVG.
pub fn chart_svg(rows: &[Row], header: &[String; 2], bots_cores: usize) -> String {
    const HEIGHT: f64 = 380.0;
    const LEFT: f64 = 56.0;
    const TOP: f64 = 64.0;
    const BOTTOM: f64 = 64.0;
    const BAR: f64 = 40.0;
    let mut specs: Vec<RowSpec> = rows.iter().map(|row| row.spec).collect();
    specs.dedup();
    // Each group: our rows (stacked user + sys), then the references present for that size.
    struct Bar {
        label: &'static str,
        parts: Vec<(f64, &'static str)>,
        /// False when the bots could not keep up or not all of them joined: drawn faded, marked with an asterisk.
        valid: bool,
    }
    let groups: Vec<(RowSpec, Vec<Bar>)> = specs
        .iter()
        .map(|&spec| {
            let mut bars = Vec::new();
            for row in rows.iter().filter(|row| row.spec == spec) {
                let label = match row.mode {
                    Mode::Off => "off",
                    Mode::On => "on",
                };
                let (parts, valid) = match &row.outcome {
                    Outcome::Measured(m) => {
                        let (user, sys) = (m.server_user_percent, m.server_system_percent);
                        let color = if row.mode == Mode::On { ("#1f6feb", "#8cb8f5") } else { ("#2da44e", "#96d7a6") };
                        (vec![(user, color.0), (sys, color.1)], trustworthy(spec.total(), bots_cores, m))
                    }
                    _ => (Vec::new(), true),
                };
                bars.push(Bar { label, parts, valid });
            }
            // The references are of one room.
            for (label, reference, color) in [("floor", &FLOOR_CPU, "#8c959f"), ("node", &FRAMEWORK_CPU, "#cf222e")] {
                if let Some((_, cpu)) = reference.iter().find(|(size, _)| spec.rooms.is_none() && *size == spec.players)
                {
                    bars.push(Bar { label, parts: vec![(*cpu, color)], valid: true });
                }
            }
            (spec, bars)
        })
        .collect();
    // Wide enough for the fullest group at every group's width (the classic three room sizes fit in 760).
    let widest = groups.iter().map(|(_, bars)| bars.len()).max().unwrap_or(1) as f64;
    let width = (LEFT + 10.0 + groups.len() as f64 * (BAR * widest + 16.0)).max(760.0);
    let peak = groups
        .iter()
        .flat_map(|(_, bars)| bars.iter().map(|bar| bar.parts.iter().map(|(v, _)| v).sum::<f64>()))
        .fold(10.0f64, f64::max);
    let scale_max = (peak / 10.0).ceil() * 10.0;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let y = |value: f64| TOP + plot_height * (1.0 - value / scale_max);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"##
    );
    let _ = writeln!(svg, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="20" font-size="15" font-weight="bold">Server CPU under load (% of one core; dark = user, light = system)</text>"##
    );
    for (line, text) in header.iter().enumerate() {
        let y = 36.0 + 14.0 * line as f64;
        let _ = writeln!(svg, r##"<text x="{LEFT}" y="{y}" fill="#57606a">{}</text>"##, xml_escape(text));
    }
    for step in 0..=5 {
        let value = scale_max * f64::from(step) / 5.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#d0d7de"/><text x="{}" y="{:.1}" text-anchor="end">{value:.0}%</text>"##,
            width - 10.0,
            LEFT - 6.0,
            y(value) + 4.0,
            y = y(value)
        );
    }
    let group_width = (width - LEFT - 10.0) / groups.len().max(1) as f64;
    for (index, (spec, bars)) in groups.iter().enumerate() {
        let start = LEFT + group_width * index as f64 + (group_width - BAR * bars.len() as f64) / 2.0;
        for (k, bar) in bars.iter().enumerate() {
            let x = start + BAR * k as f64;
            let mut base = 0.0;
            let opacity = if bar.valid { 1.0 } else { 0.35 };
            for (value, color) in &bar.parts {
                let _ = writeln!(
                    svg,
                    r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}" opacity="{opacity}"/>"##,
                    x + 2.0,
                    y(base + value),
                    BAR - 4.0,
                    y(base) - y(base + value)
                );
                base += value;
            }
            let total = match (bar.parts.is_empty(), bar.valid) {
                (true, _) => "n/a".to_string(),
                (false, true) => format!("{base:.0}"),
                (false, false) => format!("{base:.0}*"),
            };
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{total}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#57606a">{}</text>"##,
                x + BAR / 2.0,
                y(base) - 4.0,
                x + BAR / 2.0,
                HEIGHT - BOTTOM + 16.0,
                bar.label
            );
        }
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text>"##,
            LEFT + group_width * (index as f64 + 0.5),
            HEIGHT - BOTTOM + 36.0,
            group_label(spec)
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="{}" fill="#57606a">off / on: interest management; floor, node: the issue's reference figures; * bots could not keep up: not valid</text>"##,
        HEIGHT - 8.0
    );
    svg.push_str("</svg>\n");
    svg
}

/// "1000 players", "10 x 100 players".
fn group_label(spec: &RowSpec) -> String {
    match spec.rooms {
        None => format!("{} players", spec.players),
        Some(rooms) => format!("{rooms} x {} players", spec.players),
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
