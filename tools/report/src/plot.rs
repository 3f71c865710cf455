//! `--plot DIR`: SVG charts people read faster than tables. Drawn with `plotters` (SVG backend
//! only: no font or C libraries needed; text is left to the SVG viewer's fonts).

use crate::aggregate::Aggregate;
use crate::collect::Collector;
use crate::stats::Dist;
use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

const SIZE: (u32, u32) = (900, 540);
const CDF_POINTS: usize = 400;

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot: {e:?}")
}

/// The (label, aggregate) series of a chart: each group, or the whole run.
fn series(c: &Collector) -> Vec<(String, &Aggregate)> {
    if c.groups.is_empty() {
        vec![("all".to_string(), &c.total)]
    } else {
        c.groups.iter().map(|(k, a)| (k.clone(), a)).collect()
    }
}

/// Writes every chart into `dir` (created if missing); returns the files written.
pub fn plot_all(c: &Collector, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("--plot: cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    let s = series(c);
    for (file, title, xdesc, pick) in [
        (
            "ttft_cdf.svg",
            "TTFT, cumulative distribution",
            "TTFT (ms)",
            (|a: &Aggregate| &a.ttft) as fn(&Aggregate) -> &Dist,
        ),
        ("e2el_cdf.svg", "E2EL, cumulative distribution", "E2EL (ms)", |a: &Aggregate| &a.e2el),
    ] {
        let lines: Vec<(String, Vec<(f64, f64)>)> = s
            .iter()
            .map(|(k, a)| (k.clone(), pick(a).cdf(CDF_POINTS).into_iter().map(|(x, y)| (x / 1e6, y)).collect()))
            .collect();
        let path = dir.join(file);
        lines_chart(&path, title, xdesc, "fraction of requests", &lines, false)?;
        written.push(path);
    }
    let secs: Vec<(String, Vec<crate::timeline::SecondBin>)> =
        s.iter().map(|(k, a)| (k.clone(), a.timeline.seconds())).collect();
    let tput: Vec<(String, Vec<(f64, f64)>)> =
        secs.iter().map(|(k, b)| (k.clone(), b.iter().map(|x| (x.t_s, x.tokens as f64)).collect())).collect();
    let path = dir.join("throughput.svg");
    lines_chart(
        &path,
        "Output token throughput over time",
        "time since first request (s)",
        "output tokens/s",
        &tput,
        false,
    )?;
    written.push(path);
    let inflight: Vec<(String, Vec<(f64, f64)>)> =
        secs.iter().map(|(k, b)| (k.clone(), b.iter().map(|x| (x.t_s, x.in_flight_max as f64)).collect())).collect();
    let path = dir.join("in_flight.svg");
    lines_chart(
        &path,
        "Requests in flight over time (max per second)",
        "time since first request (s)",
        "requests",
        &inflight,
        false,
    )?;
    written.push(path);

    if c.groups.len() >= 2 {
        let top = c.opts.percentiles.iter().cloned().fold(99.0_f64.min(f64::MAX), f64::max);
        let mut points: Vec<(f64, &Aggregate)> =
            c.groups.values().map(|a| (a.completed as f64 / a.duration_s().max(1e-9), a)).collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let line = |name: String, f: &dyn Fn(&Aggregate) -> f64| -> (String, Vec<(f64, f64)>) {
            (name, points.iter().map(|(x, a)| (*x, f(a) / 1e6)).collect())
        };
        let lines = vec![
            line("TTFT median".into(), &|a| a.ttft.percentile(None, 50.0)),
            line(format!("TTFT p{top}"), &|a| a.ttft.percentile(None, top)),
            line("E2EL median".into(), &|a| a.e2el.percentile(None, 50.0)),
            line(format!("E2EL p{top}"), &|a| a.e2el.percentile(None, top)),
        ];
        let path = dir.join("latency_vs_load.svg");
        lines_chart(
            &path,
            "Latency vs load across groups",
            "achieved request throughput (req/s)",
            "latency (ms)",
            &lines,
            true,
        )?;
        written.push(path);
    }
    Ok(written)
}

fn lines_chart(
    path: &Path,
    title: &str,
    xdesc: &str,
    ydesc: &str,
    lines: &[(String, Vec<(f64, f64)>)],
    with_points: bool,
) -> Result<()> {
    let all = lines.iter().flat_map(|(_, v)| v.iter());
    let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0_f64);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= 0.0 {
        y1 = 1.0;
    }
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, 0.0..y1 * 1.05)
        .map_err(err)?;
    chart.configure_mesh().x_desc(xdesc).y_desc(ydesc).draw().map_err(err)?;
    for (i, (name, pts)) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.iter().cloned(), color.stroke_width(2)))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        if with_points {
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(err)?;
        }
    }
    if lines.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}
