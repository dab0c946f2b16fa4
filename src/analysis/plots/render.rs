//! One drawing, three files: plotters draws the figure once as SVG; `resvg` rasterises that SVG
//! into the PNG at the chosen resolution and `svg2pdf` converts it into the PDF, so the three show
//! the same figure (sizes are given in pixels at 100 dpi: 900 × 520 is 9 × 5.2 inches).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use resvg::{tiny_skia, usvg};

/// The resolution figure sizes are given at.
pub const BASE_DPI: u32 = 100;

/// The file kinds every figure is written as.
pub const EXTENSIONS: [&str; 3] = ["png", "svg", "pdf"];

pub fn ok<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| anyhow!("{e}"))
}

/// Draws `draw` on a `size` canvas and writes `<dir>/<stem>.{svg,png,pdf}` (the PNG at `dpi`).
pub fn figure(
    dir: &Path,
    stem: &str,
    size: (u32, u32),
    dpi: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>,
) -> Result<Vec<PathBuf>> {
    let [png, svg, pdf] = EXTENSIONS.map(|e| dir.join(format!("{stem}.{e}")));
    let fonts = fonts();
    if fonts.is_empty() {
        return Err(anyhow!(
            "{}: no fonts on this machine to write the figure's text in (install e.g. fonts-dejavu-core)",
            svg.display()
        ));
    }
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        ok(root.fill(&WHITE))?;
        draw(&root).with_context(|| format!("drawing {}", svg.display()))?;
        ok(root.present())?;
    }
    fs_err::write(&svg, &text)?;
    let tree = usvg::Tree::from_str(&text, &svg_options())
        .with_context(|| format!("reading back {}", svg.display()))?;

    let scale = dpi as f32 / BASE_DPI as f32;
    let (w, h) = (
        (size.0 as f32 * scale).round() as u32,
        (size.1 as f32 * scale).round() as u32,
    );
    let mut pixmap = tiny_skia::Pixmap::new(w, h)
        .ok_or_else(|| anyhow!("{}: a {w}×{h} image is too large", png.display()))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    let bytes = pixmap
        .encode_png()
        .with_context(|| format!("encoding {}", png.display()))?;
    fs_err::write(&png, bytes)?;

    let page = svg2pdf::PageOptions {
        dpi: BASE_DPI as f32,
    };
    let bytes = svg2pdf::to_pdf(&tree, svg2pdf::ConversionOptions::default(), page)
        .map_err(|e| anyhow!("converting {} to PDF: {e}", svg.display()))?;
    fs_err::write(&pdf, bytes)?;
    Ok(vec![png, svg, pdf])
}

/// SVG reading options with the system's fonts (see [`fonts`]).
fn svg_options() -> usvg::Options<'static> {
    usvg::Options {
        fontdb: fonts().clone(),
        ..Default::default()
    }
}

/// The system's fonts, loaded once per process, `sans-serif` being the first of DejaVu Sans,
/// Liberation Sans, Arial or any font there is. That face is also registered with plotters, whose
/// layout then measures text with the font resvg draws it in.
fn fonts() -> &'static Arc<usvg::fontdb::Database> {
    static FONTS: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    FONTS.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_system_fonts();
        let families: Vec<String> = db
            .faces()
            .flat_map(|f| f.families.iter().map(|(name, _)| name.clone()))
            .collect();
        let pick = ["DejaVu Sans", "Liberation Sans", "Arial"]
            .iter()
            .map(|s| s.to_string())
            .find(|want| families.contains(want))
            .or_else(|| families.first().cloned());
        if let Some(family) = pick {
            register_with_plotters(&db, &family);
            db.set_sans_serif_family(family);
        }
        Arc::new(db)
    })
}

/// Registers the regular face of `family` as plotters' `sans-serif` (its bytes kept for the
/// process, as plotters asks).
fn register_with_plotters(db: &usvg::fontdb::Database, family: &str) {
    let query = usvg::fontdb::Query {
        families: &[usvg::fontdb::Family::Name(family)],
        ..Default::default()
    };
    let Some(id) = db.query(&query) else { return };
    let bytes = db.with_face_data(id, |data, index| (index == 0).then(|| data.to_vec()));
    if let Some(bytes) = bytes.flatten() {
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        // A face ab_glyph cannot read leaves plotters without the family: figures then say so.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A caption measured by plotters (ab_glyph) and drawn by resvg lands as dark pixels in the
    /// PNG's top band, centred as its measured width asks.
    #[test]
    fn captions_are_measured_and_drawn() {
        let dir = tempfile::tempdir().unwrap();
        let files = figure(dir.path(), "t", (400, 200), BASE_DPI, |root| {
            let chart = ChartBuilder::on(root)
                .caption("Measured text", ("sans-serif", 24))
                .build_cartesian_2d(0..1, 0..1);
            ok(chart).map(|_| ())
        })
        .unwrap();
        assert_eq!(files.len(), 3);
        let decoder = png::Decoder::new(std::fs::File::open(&files[0]).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let channels = info.color_type.samples();
        let dark_columns: Vec<usize> = (0..info.width as usize)
            .filter(|&x| {
                (0..40).any(|y| {
                    let i = (y * info.width as usize + x) * channels;
                    buf[i] < 128
                })
            })
            .collect();
        assert!(dark_columns.len() > 20, "no caption drawn");
        let (first, last) = (dark_columns[0], *dark_columns.last().unwrap());
        let centre = (first + last) as i64 / 2;
        assert!(
            (centre - 200).abs() < 20,
            "caption centred at {centre}, not 200"
        );
    }
}
