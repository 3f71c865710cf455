//! The charts of `--plot DIR` and of the HTML report, drawn with `plotters` (SVG backend only:
//! no font or C libraries needed; text is left to the SVG viewer's fonts). docs/report.md,
//! "Plots", lists them.
//!
//! Conventions, the same on every chart: one colour per `--group-by` value from the Okabe-Ito
//! colour-blind-safe palette (its yellow left out: unreadable on white), groups in numeric order,
//! the legend beside the plot (never over the data) and titled with the group key, the model,
//! rate and run in the title, and one time axis for all groups: seconds since the first request
//! of the whole input, so that the points of a sweep run one after another.

use crate::aggregate::Aggregate;
use crate::collect::Collector;
use crate::meta;
use crate::report::{group_cmp, Report};
use crate::stats::Dist;
use anyhow::{anyhow, Context, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

const SIZE: (u32, u32) = (960, 540);
/// Width of the legend column right of the plot.
const LEGEND_W: u32 = 190;
const CDF_POINTS: usize = 400;
/// Groups drawn on one chart; the legend says how many more there are.
const MAX_SERIES: usize = 14;
/// Dots drawn on the scatter plots, all groups together.
const SCATTER_DOTS: usize = 6000;
/// The percentiles marked on every CDF.
const CDF_MARKS: [f64; 3] = [50.0, 90.0, 99.0];
const FONT: &str = "sans-serif";

/// Okabe & Ito, "Color Universal Design" (2008), in their order, yellow (#F0E442) left out.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(230, 159, 0),   // orange
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(0, 0, 0),       // black
];
const GREY: RGBColor = RGBColor(120, 120, 120);

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Past the palette's seven colours, lines are dashed so that no two series look the same.
fn dashed(i: usize) -> bool {
    (i / PALETTE.len()) % 2 == 1
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot: {e:?}")
}

/// One drawn chart.
pub struct Chart {
    pub file: &'static str,
    pub title: String,
    pub svg: String,
}

/// What every chart of one report shares.
struct Ctx<'a> {
    /// `Qwen/Qwen3-0.6B · poisson:12 · run 18c…`, appended to titles.
    about: String,
    /// Legend title: the `--group-by` key, or `run`.
    key: String,
    series: Vec<(String, &'a Aggregate)>,
    /// Groups not drawn (more than [`MAX_SERIES`]).
    hidden: usize,
    /// Second 0 of the time axis: the first request of the whole input.
    t0_ns: Option<u64>,
    percentiles: Vec<f64>,
    /// sb-sweep's highest sustainable rate (achieved, target), when a sweep record says it.
    sweep_max_rps: Option<(f64, f64)>,
}

/// A legend entry: a line, a dot, or a line with dots.
#[derive(Clone, Copy, PartialEq)]
enum Mark {
    Line,
    Dot,
    LineDot,
}

struct Entry {
    label: String,
    colour: RGBColor,
    mark: Mark,
    dashed: bool,
}

fn entries(s: &[(String, &Aggregate)], mark: Mark) -> Vec<Entry> {
    s.iter()
        .enumerate()
        .map(|(i, (k, _))| Entry { label: k.clone(), colour: colour(i), mark, dashed: dashed(i) })
        .collect()
}

/// "model · rate · run", from the run records (what they agree on). The rate and concurrency
/// are those of one run (its shards together); several runs (a sweep) have one each, which
/// the groups show.
pub fn about(r: &Report) -> String {
    let mut parts = Vec::new();
    if let Some(m) = meta::common(&r.meta, |m| m.model.as_ref()) {
        parts.push(m.clone());
    }
    if r.load.runs.len() == 1 {
        let mut load = Vec::new();
        let closed_loop = r.load.stages == ["inf"] && r.load.max_concurrency.is_some();
        if !r.load.stages.is_empty() && !closed_loop {
            load.push(format!("rate {}", r.load.stages.join(" → ")));
        } else if let Some(rate) = r.load.target_rate.filter(|_| r.load.stages.is_empty()) {
            load.push(format!("rate {rate} req/s"));
        }
        if let Some(c) = r.load.max_concurrency {
            load.push(format!("concurrency {c}"));
        }
        if !load.is_empty() {
            parts.push(load.join(", "));
        }
    }
    let runs: Vec<&str> = r.runs.iter().map(|(k, _)| k.as_str()).filter(|k| *k != "-").collect();
    match runs.as_slice() {
        [] => {}
        [one] => parts.push(format!("run {one}")),
        many => parts.push(format!("{} runs", many.len())),
    }
    parts.join(" · ")
}

fn ctx<'a>(c: &'a Collector, r: &Report) -> Ctx<'a> {
    let (mut series, key): (Vec<(String, &Aggregate)>, String) = match &c.opts.group_by {
        Some(key) if !c.groups.is_empty() => (c.groups.iter().map(|(k, g)| (k.clone(), &g.agg)).collect(), key.clone()),
        _ => (vec![("all".to_string(), &c.total)], "requests".to_string()),
    };
    series.sort_by(|a, b| group_cmp(&a.0, &b.0));
    let hidden = series.len().saturating_sub(MAX_SERIES);
    series.truncate(MAX_SERIES);
    Ctx {
        about: about(r),
        key,
        series,
        hidden,
        t0_ns: c.total.first_sent_ns,
        percentiles: c.opts.percentiles.clone(),
        sweep_max_rps: sweep_max_rps(c),
    }
}

/// sb-sweep's capacity search result (the last sweep record that found one): the highest
/// passing rate, marked on the latency-vs-load chart at its achieved rate (that chart's x axis),
/// with the target rate in the legend.
fn sweep_max_rps(c: &Collector) -> Option<(f64, f64)> {
    c.sweeps.iter().rev().find_map(|s| s.max_rate_rps.map(|t| (s.max_rate_achieved_rps.unwrap_or(t), t)))
}

fn title(what: &str, cx: &Ctx) -> String {
    if cx.about.is_empty() {
        what.to_string()
    } else {
        format!("{what} — {}", cx.about)
    }
}

/// Every chart, as SVG text.
pub fn charts(c: &Collector, r: &Report) -> Result<Vec<Chart>> {
    let cx = ctx(c, r);
    let mut out = Vec::new();
    type Pick = fn(&Aggregate) -> &Dist;
    let requests = "fraction of requests ≤ x";
    let cdfs: [(&'static str, &str, &str, &str, Pick); 4] = [
        ("ttft_cdf.svg", "TTFT", "time to first token (ms)", requests, |a| &a.ttft),
        ("tpot_cdf.svg", "TPOT", "time per output token, excl. the 1st (ms)", requests, |a| &a.tpot),
        ("itl_cdf.svg", "ITL", "inter-token latency, per chunk gap (ms)", "fraction of chunk gaps ≤ x", |a| &a.itl),
        ("e2el_cdf.svg", "E2EL", "end-to-end latency (ms)", requests, |a| &a.e2el),
    ];
    for (file, name, xdesc, ydesc, pick) in cdfs {
        let t = title(&format!("{name} CDF"), &cx);
        out.push(Chart { file, svg: cdf_chart(&cx, &t, xdesc, ydesc, pick)?, title: t });
    }
    let t = title("Output token throughput over time", &cx);
    out.push(Chart {
        file: "throughput.svg",
        svg: time_chart(&cx, &t, "output tokens/s", true, |b| b.tokens as f64)?,
        title: t,
    });
    let t = title("Requests in flight over time (max per second)", &cx);
    out.push(Chart {
        file: "in_flight.svg",
        svg: time_chart(&cx, &t, "requests in flight", false, |b| b.in_flight_max as f64)?,
        title: t,
    });
    let t = title("TTFT and E2EL of each request over time", &cx);
    out.push(Chart { file: "latency_over_time.svg", svg: scatter_chart(&cx, &t)?, title: t });
    if cx.series.len() >= 2 {
        let t = title(&format!("Latency vs load across {}", cx.key), &cx);
        out.push(Chart { file: "latency_vs_load.svg", svg: latency_vs_load(&cx, &t)?, title: t });
        let t = title(&format!("Throughput vs latency across {}", cx.key), &cx);
        out.push(Chart { file: "throughput_vs_latency.svg", svg: throughput_vs_latency(&cx, &t)?, title: t });
    }
    Ok(out)
}

/// Writes every chart into `dir` (created if missing); returns the files written.
pub fn plot_all(c: &Collector, r: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("--plot: cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for chart in charts(c, r)? {
        let path = dir.join(chart.file);
        std::fs::write(&path, chart.svg).with_context(|| format!("--plot: cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

type Area<'b> = DrawingArea<SVGBackend<'b>, Shift>;

/// The whole canvas split into the title (what the chart shows, and below it the model, rate
/// and run), the plot area(s) and the legend column.
fn canvas<'b>(svg: &'b mut String, title: &str) -> Result<(Area<'b>, Area<'b>, Area<'b>)> {
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (head, body) = root.split_vertically(60);
    let (what, about) = title.split_once(" — ").unwrap_or((title, ""));
    let centred = |size: u32, c: &RGBColor| (FONT, size).into_font().color(c).pos(Pos::new(HPos::Center, VPos::Center));
    head.draw(&Text::new(what.to_string(), (SIZE.0 as i32 / 2, 20), centred(22, &BLACK))).map_err(err)?;
    let about: String = if about.chars().count() > 110 {
        format!("{}…", about.chars().take(109).collect::<String>())
    } else {
        about.to_string()
    };
    head.draw(&Text::new(about, (SIZE.0 as i32 / 2, 44), centred(16, &GREY))).map_err(err)?;
    let (plot, legend) = body.split_horizontally(SIZE.0 - LEGEND_W);
    Ok((root, plot, legend))
}

/// The legend column: its title (the group key), one row per entry, and what was left out.
fn legend(area: &Area, heading: &str, entries: &[Entry], hidden: usize) -> Result<()> {
    let style = |size| (FONT, size).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = 30;
    let bold = (FONT, 18, FontStyle::Bold).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    area.draw(&Text::new(heading.to_string(), (12, y), bold)).map_err(err)?;
    y += 24;
    let max_rows = ((SIZE.1 - 60) as i32 - y - 30) / 22;
    for (i, e) in entries.iter().enumerate() {
        if i as i32 >= max_rows {
            let more = entries.len() - i + hidden;
            area.draw(&Text::new(format!("… {more} more"), (12, y), style(16))).map_err(err)?;
            return Ok(());
        }
        let c = e.colour;
        if e.mark != Mark::Dot {
            if e.dashed {
                for k in 0..3 {
                    area.draw(&PathElement::new(vec![(12 + k * 10, y), (18 + k * 10, y)], c.stroke_width(3)))
                        .map_err(err)?;
                }
            } else {
                area.draw(&PathElement::new(vec![(12, y), (40, y)], c.stroke_width(3))).map_err(err)?;
            }
        }
        if e.mark != Mark::Line {
            area.draw(&Circle::new((26, y), 4, c.filled())).map_err(err)?;
        }
        let label: String = if e.label.chars().count() > 18 {
            format!("{}…", e.label.chars().take(17).collect::<String>())
        } else {
            e.label.clone()
        };
        area.draw(&Text::new(label, (48, y), style(16))).map_err(err)?;
        y += 22;
    }
    if hidden > 0 {
        area.draw(&Text::new(format!("… {hidden} more not drawn"), (12, y), style(16))).map_err(err)?;
    }
    Ok(())
}

fn bounds(points: impl Iterator<Item = (f64, f64)>) -> (f64, f64, f64, f64) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    (x0, x1, y0, y1)
}

fn draw_line<DB: DrawingBackend, CT: plotters::coord::CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<DB, CT>,
    pts: &[(f64, f64)],
    i: usize,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let style = colour(i).stroke_width(2);
    if dashed(i) {
        chart.draw_series(DashedLineSeries::new(pts.iter().cloned(), 8, 5, style)).map_err(err)?;
    } else {
        chart.draw_series(LineSeries::new(pts.iter().cloned(), style)).map_err(err)?;
    }
    Ok(())
}

type Axes<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart over `x` and `y` on `plot`, with the mesh every full-size chart has: its fonts, a
/// light grid and both axes described; `y_label_w` is the room for the y labels.
fn axes<'a, 'b>(
    plot: &'a Area<'b>,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    y_label_w: u32,
    xdesc: &str,
    ydesc: &str,
) -> Result<Axes<'a, 'b>> {
    let mut chart = ChartBuilder::on(plot)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(y_label_w)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(xdesc)
        .y_desc(ydesc)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

fn cdf_chart(cx: &Ctx, title: &str, xdesc: &str, ydesc: &str, pick: fn(&Aggregate) -> &Dist) -> Result<String> {
    let lines: Vec<Vec<(f64, f64)>> = cx
        .series
        .iter()
        .map(|(_, a)| pick(a).cdf(CDF_POINTS).into_iter().map(|(x, y)| (x / 1e6, y)).collect())
        .collect();
    let (_, x1, _, _) = bounds(lines.iter().flatten().cloned());
    let mut svg = String::new();
    {
        let (root, plot, legend_area) = canvas(&mut svg, title)?;
        let mut chart = axes(&plot, 0.0..x1 * 1.04, 0.0..1.0, 60, xdesc, ydesc)?;
        // Guide lines at the marked percentiles, labelled at the right edge.
        for p in CDF_MARKS {
            let y = p / 100.0;
            chart
                .draw_series(DashedLineSeries::new([(0.0, y), (x1 * 1.04, y)], 4, 4, GREY.stroke_width(1)))
                .map_err(err)?;
            chart
                .draw_series([Text::new(
                    format!("p{p}"),
                    (x1 * 1.035, y),
                    (FONT, 14).into_font().color(&GREY).pos(Pos::new(HPos::Right, VPos::Bottom)),
                )])
                .map_err(err)?;
        }
        for (i, ((_, a), pts)) in cx.series.iter().zip(&lines).enumerate() {
            draw_line(&mut chart, pts, i)?;
            let d = pick(a);
            if !pts.is_empty() {
                let marks = CDF_MARKS
                    .iter()
                    .map(|p| Circle::new((d.percentile(None, *p) / 1e6, p / 100.0), 4, colour(i).filled()));
                chart.draw_series(marks).map_err(err)?;
            }
        }
        let mut e = entries(&cx.series, Mark::Line);
        for ((entry, (_, a)), pts) in e.iter_mut().zip(&cx.series).zip(&lines) {
            let d = pick(a);
            if !pts.is_empty() {
                entry.label = format!("{} (p50 {})", entry.label, short_ms(d.percentile(None, 50.0) / 1e6));
            }
        }
        legend(&legend_area, &cx.key, &e, cx.hidden)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// `84 ms`, `1.2 s`.
fn short_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// Seconds of the common time axis at which `a`'s per-second bins start.
fn offset_s(cx: &Ctx, a: &Aggregate) -> f64 {
    match (cx.t0_ns, a.timeline.start_ns()) {
        (Some(t0), Some(s)) => s.saturating_sub(t0) as f64 / 1e9,
        _ => 0.0,
    }
}

/// A per-second series on the common time axis, each point in the middle of its second.
/// `rate`: the value is per second (scaled in a last, partial second).
fn time_chart(
    cx: &Ctx,
    title: &str,
    ydesc: &str,
    rate: bool,
    value: fn(&crate::timeline::SecondBin) -> f64,
) -> Result<String> {
    let lines: Vec<Vec<(f64, f64)>> = cx
        .series
        .iter()
        .map(|(_, a)| {
            let off = offset_s(cx, a);
            let bins = a.timeline.seconds();
            // The last second is cut short by the end of the run: a rate scales to the part
            // covered (a sliver under 0.2 s is left out), a count stays as it is.
            let span_s = match a.timeline.start_ns() {
                Some(s) => a.last_done_ns.saturating_sub(s) as f64 / 1e9,
                None => 0.0,
            };
            let n = bins.len();
            bins.iter()
                .enumerate()
                .filter_map(|(i, b)| {
                    let covered = if i + 1 == n { (span_s - b.t_s).clamp(0.0, 1.0) } else { 1.0 };
                    match (rate, covered) {
                        (true, c) if c < 0.2 => None,
                        (true, c) => Some((off + b.t_s + c / 2.0, value(b) / c)),
                        (false, c) => Some((off + b.t_s + c / 2.0, value(b))),
                    }
                })
                .collect()
        })
        .collect();
    let (x0, x1, _, y1) = bounds(lines.iter().flatten().cloned());
    let mut svg = String::new();
    {
        let (root, plot, legend_area) = canvas(&mut svg, title)?;
        let xdesc = "seconds since the first request of the input (one axis for all groups)";
        let mut chart = axes(&plot, x0.min(0.0)..x1, 0.0..y1 * 1.05, 64, xdesc, ydesc)?;
        for (i, pts) in lines.iter().enumerate() {
            draw_line(&mut chart, pts, i)?;
        }
        legend(&legend_area, &cx.key, &entries(&cx.series, Mark::Line), cx.hidden)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// TTFT (top) and E2EL (bottom) of each request against its send time: warm-up, saturation
/// and outliers show here, not in the CDFs.
fn scatter_chart(cx: &Ctx, title: &str) -> Result<String> {
    let t0 = cx.t0_ns.unwrap_or(0);
    // Many groups share one budget of dots, so that the page stays light (~100 bytes a dot).
    let held: usize = cx.series.iter().map(|(_, a)| a.points.points().len()).sum();
    let step = held.div_ceil(SCATTER_DOTS).max(1);
    let pts: Vec<Vec<(f64, f64, f64)>> = cx
        .series
        .iter()
        .map(|(_, a)| {
            a.points
                .points()
                .iter()
                .step_by(step)
                .map(|p| (p.sent_ns.saturating_sub(t0) as f64 / 1e9, p.ttft_ms as f64, p.e2el_ms as f64))
                .collect()
        })
        .collect();
    let thinned = cx.series.iter().map(|(_, a)| a.points.stride()).max().unwrap_or(1) * step as u64;
    let mut svg = String::new();
    {
        let (root, plot, legend_area) = canvas(&mut svg, title)?;
        let (top, bottom) = plot.split_vertically((SIZE.1 - 60) / 2);
        for (area, name, ymetric) in [(&top, "TTFT (ms)", 1usize), (&bottom, "E2EL (ms)", 2)] {
            let get = |p: &(f64, f64, f64)| (p.0, if ymetric == 1 { p.1 } else { p.2 });
            let (x0, x1, _, y1) = bounds(pts.iter().flatten().map(get));
            let mut chart = ChartBuilder::on(area)
                .margin(10)
                .x_label_area_size(if ymetric == 2 { 40 } else { 20 })
                .y_label_area_size(64)
                .build_cartesian_2d(x0.min(0.0)..x1 * 1.01, 0.0..y1 * 1.05)
                .map_err(err)?;
            let mut mesh = chart.configure_mesh();
            mesh.y_desc(name)
                .label_style((FONT, 14))
                .axis_desc_style((FONT, 15))
                .light_line_style(RGBColor(235, 235, 235));
            if ymetric == 2 {
                mesh.x_desc("send time: seconds since the first request of the input");
            }
            mesh.draw().map_err(err)?;
            for (i, series) in pts.iter().enumerate() {
                let c = colour(i);
                let dots =
                    series.iter().map(get).filter(|p| p.1.is_finite()).map(|p| Circle::new(p, 2, c.mix(0.6).filled()));
                chart.draw_series(dots).map_err(err)?;
            }
        }
        let mut e = entries(&cx.series, Mark::Dot);
        if thinned > 1 {
            e.push(Entry { label: format!("(1 in {thinned} shown)"), colour: WHITE, mark: Mark::Dot, dashed: false });
        }
        legend(&legend_area, &cx.key, &e, cx.hidden)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The highest of the asked percentiles, for the "tail" lines.
fn top_percentile(cx: &Ctx) -> f64 {
    cx.percentiles.iter().cloned().fold(f64::NAN, f64::max).max(50.0)
}

fn pct_label(p: f64) -> String {
    crate::report::pct_name(p)
}

/// Median and tail TTFT and E2EL against each group's achieved request rate.
fn latency_vs_load(cx: &Ctx, title: &str) -> Result<String> {
    let top = top_percentile(cx);
    // In group order (a sweep's order), not sorted by x: past saturation a higher point can
    // achieve less, and the line should show it turning back.
    let points: Vec<(f64, &Aggregate)> =
        cx.series.iter().map(|(_, a)| (a.completed as f64 / a.duration_s().max(1e-9), *a)).collect();
    let line =
        |f: &dyn Fn(&Aggregate) -> f64| -> Vec<(f64, f64)> { points.iter().map(|(x, a)| (*x, f(a) / 1e6)).collect() };
    let lines = [
        ("TTFT p50".to_string(), line(&|a| a.ttft.percentile(None, 50.0))),
        (format!("TTFT {}", pct_label(top)), line(&|a| a.ttft.percentile(None, top))),
        ("E2EL p50".to_string(), line(&|a| a.e2el.percentile(None, 50.0))),
        (format!("E2EL {}", pct_label(top)), line(&|a| a.e2el.percentile(None, top))),
    ];
    let (x0, mut x1, _, y1) = bounds(lines.iter().flat_map(|(_, v)| v.iter().cloned()));
    if let Some((m, _)) = cx.sweep_max_rps {
        x1 = x1.max(m);
    }
    let mut svg = String::new();
    {
        let (root, plot, legend_area) = canvas(&mut svg, title)?;
        let pad = (x1 - x0) * 0.05;
        let xdesc = "achieved request throughput of the group (req/s)";
        let mut chart = axes(&plot, (x0 - pad).max(0.0)..x1 + pad, 0.0..y1 * 1.08, 64, xdesc, "latency (ms)")?;
        for (i, (_, pts)) in lines.iter().enumerate() {
            draw_line(&mut chart, pts, i)?;
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, colour(i).filled()))).map_err(err)?;
        }
        // Each point's group value, above the TTFT p50 point.
        for (x, a) in &points {
            if let Some((k, _)) = cx.series.iter().find(|(_, b)| std::ptr::eq(*b, *a)) {
                let y = a.e2el.percentile(None, top) / 1e6;
                chart
                    .draw_series([Text::new(
                        k.clone(),
                        (*x, y),
                        (FONT, 14).into_font().color(&GREY).pos(Pos::new(HPos::Center, VPos::Bottom)),
                    )])
                    .map_err(err)?;
            }
        }
        if let Some((m, _)) = cx.sweep_max_rps {
            chart
                .draw_series(DashedLineSeries::new([(m, 0.0), (m, y1 * 1.08)], 6, 4, BLACK.stroke_width(2)))
                .map_err(err)?;
        }
        let mut e: Vec<Entry> = lines
            .iter()
            .enumerate()
            .map(|(i, (l, _))| Entry { label: l.clone(), colour: colour(i), mark: Mark::LineDot, dashed: dashed(i) })
            .collect();
        if let Some((_, target)) = cx.sweep_max_rps {
            e.push(Entry { label: format!("max {target:.2} req/s"), colour: BLACK, mark: Mark::Line, dashed: true });
        }
        legend(&legend_area, "metric", &e, 0)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// guidellm's and InferenceMAX's view of a sweep: what throughput each point gives for the
/// latency it costs. Top: total output tok/s; bottom: output tok/s per request (1000 / median
/// TPOT, "interactivity"); left against median TTFT, right against median ITL. One dot per
/// group, joined in group order.
fn throughput_vs_latency(cx: &Ctx, title: &str) -> Result<String> {
    let per_req = |a: &Aggregate| {
        let tpot = a.tpot.percentile(None, 50.0) / 1e6;
        if tpot > 0.0 {
            1000.0 / tpot
        } else {
            f64::NAN
        }
    };
    let total = |a: &Aggregate| a.total_output_tokens as f64 / a.duration_s().max(1e-9);
    let ttft = |a: &Aggregate| a.ttft.percentile(None, 50.0) / 1e6;
    let itl = |a: &Aggregate| a.itl.percentile(None, 50.0) / 1e6;
    type Metric<'f> = &'f dyn Fn(&Aggregate) -> f64;
    let panels: [(&str, &str, Metric, Metric); 4] = [
        ("TTFT p50 (ms)", "output tok/s (total)", &ttft, &total),
        ("ITL p50 (ms)", "output tok/s (total)", &itl, &total),
        ("TTFT p50 (ms)", "output tok/s per request", &ttft, &per_req),
        ("ITL p50 (ms)", "output tok/s per request", &itl, &per_req),
    ];
    let mut svg = String::new();
    {
        let (root, plot, legend_area) = canvas(&mut svg, title)?;
        let cells = plot.split_evenly((2, 2));
        for (cell, (xdesc, ydesc, fx, fy)) in cells.iter().zip(panels) {
            let pts: Vec<(f64, f64)> = cx.series.iter().map(|(_, a)| (fx(a), fy(a))).collect();
            // Both axes from 0: a zoomed latency axis would make 4.29 vs 4.37 ms look far apart.
            let (_, x1, _, y1) = bounds(pts.iter().cloned());
            let mut chart = ChartBuilder::on(cell)
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(58)
                .build_cartesian_2d(0.0..x1 * 1.08, 0.0..y1 * 1.1)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_labels(6)
                .y_labels(6)
                .x_desc(xdesc)
                .y_desc(ydesc)
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 14))
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(err)?;
            let finite: Vec<(f64, f64)> = pts.iter().cloned().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
            chart.draw_series(LineSeries::new(finite.iter().cloned(), GREY.stroke_width(1))).map_err(err)?;
            chart
                .draw_series(
                    pts.iter()
                        .enumerate()
                        .filter(|(_, p)| p.0.is_finite() && p.1.is_finite())
                        .map(|(i, p)| Circle::new(*p, 5, colour(i).filled())),
                )
                .map_err(err)?;
        }
        legend(&legend_area, &cx.key, &entries(&cx.series, Mark::Dot), cx.hidden)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}
