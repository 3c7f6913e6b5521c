//! The digest's charts as PNG images: mentions per day by label (the period against the days
//! before it) and net sentiment per day over the last 30 days. Drawn with plotters' bitmap
//! backend at 600 px wide, the width a phone's mail app shows without scaling much; labels use
//! the Liberation Sans font compiled into the binary (`assets/fonts/`), so nothing depends on
//! fontconfig or the fonts installed on the server.

use std::sync::OnceLock;

use chrono::NaiveDate;
use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// Width of every chart, in pixels.
pub const WIDTH: u32 = 600;
/// Height of the volume chart.
pub const VOLUME_HEIGHT: u32 = 280;
/// Height of the sentiment chart.
pub const SENTIMENT_HEIGHT: u32 = 240;

const FONT: &str = "sans-serif";
const FONT_FILE: &[u8] = include_bytes!("../../assets/fonts/LiberationSans-Regular.ttf");

/// Why a chart could not be drawn; the digest then goes out without it.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The bundled font did not load.
    #[error("the bundled chart font cannot be read")]
    Font,
    /// plotters refused to draw.
    #[error("cannot draw the chart: {0}")]
    Draw(String),
    /// The pixels did not encode as PNG.
    #[error("cannot encode the chart as PNG: {0}")]
    Encode(#[from] png::EncodingError),
}

fn draw_err<E: std::fmt::Display>(e: E) -> ChartError {
    ChartError::Draw(e.to_string())
}

/// Registers the bundled font once per process.
fn font() -> Result<(), ChartError> {
    static LOADED: OnceLock<bool> = OnceLock::new();
    let ok = *LOADED
        .get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_FILE).is_ok());
    if ok { Ok(()) } else { Err(ChartError::Font) }
}

/// Mentions of one local day by label, spam left out.
#[derive(Debug, Clone, PartialEq)]
pub struct DayVolume {
    /// The local day.
    pub day: NaiveDate,
    /// Whether the day is in the digest's period (else it is one of the days before).
    pub in_period: bool,
    /// Complaints.
    pub complaints: i64,
    /// Questions.
    pub questions: i64,
    /// Praise.
    pub praise: i64,
    /// Everything else that is not spam (neutral, unclassified).
    pub other: i64,
}

/// Net sentiment of one local day, or `None` on a day without mentions.
#[derive(Debug, Clone, PartialEq)]
pub struct DayNet {
    /// The local day.
    pub day: NaiveDate,
    /// Points, −100…100.
    pub score: Option<f64>,
}

const COMPLAINT: RGBColor = RGBColor(0xc4, 0x32, 0x0a);
const QUESTION: RGBColor = RGBColor(0x18, 0x49, 0xa9);
const PRAISE: RGBColor = RGBColor(0x06, 0x76, 0x47);
const OTHER: RGBColor = RGBColor(0x66, 0x70, 0x85);
const PERIOD_BG: RGBColor = RGBColor(0xfe, 0xf0, 0xc7);
const GRID: RGBColor = RGBColor(0xea, 0xec, 0xf0);

/// A line of the volume chart: its name, colour and value per day.
type Series = (&'static str, RGBColor, fn(&DayVolume) -> i64);

/// The frame both charts are drawn in: margins, and room for the axis labels.
fn frame<'a, 'b, DB: DrawingBackend>(root: &'a DrawingArea<DB, Shift>) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(root);
    builder
        .margin(12)
        .margin_right(24)
        .x_label_area_size(32)
        .y_label_area_size(52);
    builder
}

/// The grid, axes and labels both charts share on `mesh`: one x label per day of `days`
/// (written by `x_label`, which leaves most of them blank), five on the y axis.
fn day_mesh<'m, 'a, 'b, Y, YT, DB>(
    mesh: &'m mut MeshStyle<'a, 'b, RangedCoordf64, Y, DB>,
    days: usize,
    x_label: &'b dyn Fn(&f64) -> String,
) -> &'m mut MeshStyle<'a, 'b, RangedCoordf64, Y, DB>
where
    Y: Ranged<ValueType = YT> + ValueFormatter<YT>,
    DB: DrawingBackend,
{
    mesh.light_line_style(WHITE)
        .bold_line_style(GRID)
        .disable_x_mesh()
        .x_labels(days)
        .y_labels(5)
        .x_label_formatter(x_label)
        .label_style((FONT, 18))
        .axis_style(OTHER)
}

/// The x-axis label at `x` for a chart of one point per day of `days`: the day in `format`
/// on every `step`th day counted back from the last, nothing elsewhere or between days.
fn day_label(
    x: f64,
    mut days: impl ExactSizeIterator<Item = NaiveDate>,
    step: usize,
    format: &str,
) -> String {
    let i = x.round() as usize;
    let count = days.len();
    match days.nth(i) {
        Some(day) if (x - i as f64).abs() < 0.01 && (count - 1 - i).is_multiple_of(step) => {
            day.format(format).to_string()
        }
        _ => String::new(),
    }
}

/// Every `step`-th day is labelled (at most eight labels), so they never overlap at 600 px.
fn label_step(days: usize) -> usize {
    days.div_ceil(8).max(1)
}

/// A chart `height` pixels high, drawn by `draw` on a white canvas, as a PNG.
fn draw_png(
    height: u32,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), ChartError>,
) -> Result<Vec<u8>, ChartError> {
    font()?;
    let mut pixels = vec![0u8; (WIDTH * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    png(&pixels, height)
}

fn png(pixels: &[u8], height: u32) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, WIDTH, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    // The charts travel in every digest mail: the smallest file is worth the milliseconds.
    enc.set_compression(png::Compression::Best);
    let mut w = enc.write_header()?;
    w.write_image_data(pixels)?;
    w.finish()?;
    Ok(out)
}

/// Mentions per day by label, the period's days on a shaded background. `None` when there is
/// nothing to draw.
pub fn volume_png(days: &[DayVolume]) -> Result<Option<Vec<u8>>, ChartError> {
    let max = days
        .iter()
        .flat_map(|d| [d.complaints, d.questions, d.praise, d.other])
        .max()
        .unwrap_or(0);
    if days.is_empty() || max == 0 {
        return Ok(None);
    }
    draw_png(VOLUME_HEIGHT, |root| {
        let n = days.len() as i32;
        let top = (max as f64 * 1.15).ceil().max(4.0) as i64;
        let mut chart = frame(root)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0i64..top)
            .map_err(draw_err)?;
        // The period's days, shaded, drawn first so the lines stay on top.
        chart
            .draw_series(
                days.iter()
                    .enumerate()
                    .filter(|(_, d)| d.in_period)
                    .map(|(i, _)| {
                        Rectangle::new(
                            [(i as f64 - 0.5, 0), (i as f64 + 0.5, top)],
                            PERIOD_BG.filled(),
                        )
                    }),
            )
            .map_err(draw_err)?;
        let step = label_step(days.len());
        let x_label = |x: &f64| day_label(*x, days.iter().map(|d| d.day), step, "%a %-d");
        day_mesh(&mut chart.configure_mesh(), days.len(), &x_label)
            .draw()
            .map_err(draw_err)?;
        let series: [Series; 4] = [
            ("complaints", COMPLAINT, |d| d.complaints),
            ("questions", QUESTION, |d| d.questions),
            ("praise", PRAISE, |d| d.praise),
            ("other", OTHER, |d| d.other),
        ];
        for (name, colour, value) in series {
            if days.iter().all(|d| value(d) == 0) {
                continue;
            }
            let points: Vec<(f64, i64)> = days
                .iter()
                .enumerate()
                .map(|(i, d)| (i as f64, value(d)))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(3)))
                .map_err(draw_err)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(3))
                });
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, colour.filled())),
                )
                .map_err(draw_err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(GRID)
            .label_font((FONT, 18))
            .draw()
            .map_err(draw_err)?;
        Ok(())
    })
    .map(Some)
}

/// Net sentiment per day with the zero line; days without mentions break the line. `None`
/// when no day has mentions.
pub fn sentiment_png(days: &[DayNet]) -> Result<Option<Vec<u8>>, ChartError> {
    if days.iter().all(|d| d.score.is_none()) {
        return Ok(None);
    }
    draw_png(SENTIMENT_HEIGHT, |root| {
        let n = days.len() as f64;
        let mut chart = frame(root)
            .build_cartesian_2d(-0.5f64..(n - 0.5), -100f64..100f64)
            .map_err(draw_err)?;
        let step = label_step(days.len());
        let x_label = |x: &f64| day_label(*x, days.iter().map(|d| d.day), step, "%-d %b");
        day_mesh(&mut chart.configure_mesh(), days.len(), &x_label)
            .y_label_formatter(&|y| match y.round() as i64 {
                0 => "0".into(),
                v if v > 0 => format!("+{v}"),
                v => format!("−{}", -v),
            })
            .draw()
            .map_err(draw_err)?;
        chart
            .draw_series(LineSeries::new(
                [(-0.5, 0.0), (n - 0.5, 0.0)],
                OTHER.stroke_width(1),
            ))
            .map_err(draw_err)?;
        // One line per run of days with mentions, so a gap is not drawn as a slope.
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut runs = Vec::new();
        for (i, d) in days.iter().enumerate() {
            match d.score {
                Some(s) => run.push((i as f64, s)),
                None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
                None => {}
            }
        }
        if !run.is_empty() {
            runs.push(run);
        }
        for run in runs {
            chart
                .draw_series(run.iter().map(|&(x, y)| {
                    let colour = if y >= 0.0 { PRAISE } else { COMPLAINT };
                    Circle::new((x, y), 3, colour.filled())
                }))
                .map_err(draw_err)?;
            chart
                .draw_series(LineSeries::new(run, QUESTION.stroke_width(2)))
                .map_err(draw_err)?;
        }
        Ok(())
    })
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(i: i64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 1).unwrap() + chrono::Duration::days(i)
    }

    /// Width and height from a PNG's IHDR chunk.
    fn size(png: &[u8]) -> (u32, u32) {
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        (be(&png[16..20]), be(&png[20..24]))
    }

    #[test]
    fn the_volume_chart_is_a_600_px_png_with_text_and_lines() {
        let days: Vec<DayVolume> = (0..14)
            .map(|i| DayVolume {
                day: day(i),
                in_period: i >= 7,
                complaints: i % 5,
                questions: 2,
                praise: i % 3,
                other: 1,
            })
            .collect();
        let png = volume_png(&days).unwrap().unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert_eq!(size(&png), (WIDTH, VOLUME_HEIGHT));
        // Decoded, it holds the complaint colour (a line) and dark pixels (the labels' text).
        let mut dec = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        let mut buf = vec![0; dec.output_buffer_size()];
        dec.next_frame(&mut buf).unwrap();
        let px: Vec<&[u8]> = buf.chunks(3).collect();
        assert!(px.iter().any(|p| *p == [0xc4, 0x32, 0x0a]));
        assert!(
            px.iter().any(|p| *p == [0xfe, 0xf0, 0xc7]),
            "period shading"
        );
        // Text is drawn in black by default: the legend and axis labels are there.
        assert!(px.iter().filter(|p| p.iter().all(|c| *c < 60)).count() > 200);
    }

    #[test]
    fn nothing_to_draw_gives_no_chart() {
        assert!(volume_png(&[]).unwrap().is_none());
        let quiet = [DayNet {
            day: day(0),
            score: None,
        }];
        assert!(sentiment_png(&quiet).unwrap().is_none());
    }

    #[test]
    fn the_sentiment_chart_draws_with_gaps() {
        let days: Vec<DayNet> = (0..30)
            .map(|i| DayNet {
                day: day(i),
                score: (i % 7 != 3).then_some((i as f64 * 7.0) % 200.0 - 100.0),
            })
            .collect();
        let png = sentiment_png(&days).unwrap().unwrap();
        assert_eq!(size(&png), (WIDTH, SENTIMENT_HEIGHT));
    }
}
