//! A scene as the bytes of an SVG or PNG file. A density raster is an image of the
//! raster's plotting area laid over the drawing: pixels in the PNG, an embedded PNG in
//! the SVG.

use plotters::prelude::*;

use super::Format;
use super::draw::{self, colour};
use super::layout::{Layout, Rect};
use super::raster::Marks;
use super::scene::Scene;

/// The file's bytes.
pub(crate) fn encode(scene: &Scene, layout: &Layout, format: Format) -> Result<Vec<u8>, String> {
    draw::register_font()?;
    let size = (layout.width, layout.height);
    let plot = layout.raster.plot;
    let density = density_image(scene, plot);
    match format {
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                draw::draw(&root, scene, layout)?;
                root.present().map_err(|e| e.to_string())?;
            }
            if let Some(rgba) = density {
                let png = png_bytes(&rgba, plot.width(), plot.height(), png::ColorType::Rgba)?;
                let image = format!(
                    r#"<image x="{}" y="{}" width="{}" height="{}" preserveAspectRatio="none" style="image-rendering:pixelated" href="data:image/png;base64,{}"/>"#,
                    plot.left,
                    plot.top,
                    plot.width(),
                    plot.height(),
                    base64(&png)
                );
                let end = svg.rfind("</svg>").ok_or("the SVG has no end tag")?;
                svg.insert_str(end, &format!("{image}\n"));
            }
            Ok(svg.into_bytes())
        }
        Format::Png => {
            let (w, h) = (usize::try_from(layout.width).unwrap_or(0), usize::try_from(layout.height).unwrap_or(0));
            let mut rgb = vec![0u8; w * h * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
                draw::draw(&root, scene, layout)?;
                root.present().map_err(|e| e.to_string())?;
            }
            if let Some(rgba) = density {
                overlay(&mut rgb, w, plot, &rgba);
            }
            png_bytes(&rgb, w, h, png::ColorType::Rgb)
        }
    }
}

/// The density raster as RGBA pixels of the plotting area (transparent where there are
/// no spikes): the placement set's colour, paler for fewer spikes (log scale).
fn density_image(scene: &Scene, plot: Rect) -> Option<Vec<u8>> {
    let Marks::Density(d) = &scene.raster.marks else { return None };
    let (w, h) = (plot.width(), plot.height());
    let mut rgba = vec![0u8; w * h * 4];
    let most = d.counts.iter().copied().max().unwrap_or(0);
    let log_most = f64::from(most).ln_1p().max(f64::MIN_POSITIVE);
    for band in 0..d.bands {
        let row = d.first_row(band, scene.raster.rows);
        let [r, g, b] = colour(scene.group_of(row));
        let (top, bottom) = draw::band(plot, d.bands, band);
        for column in 0..d.columns.min(w) {
            let count = d.counts[band * d.columns + column];
            if count == 0 {
                continue;
            }
            let shade = 0.3 + 0.7 * f64::from(count).ln_1p() / log_most;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let mix = |c: u8| (255.0 - (255.0 - f64::from(c)) * shade).round() as u8;
            for y in usize::try_from(top).unwrap_or(0)..usize::try_from(bottom).unwrap_or(0).min(h) {
                let at = (y * w + column) * 4;
                rgba[at..at + 4].copy_from_slice(&[mix(r), mix(g), mix(b), 255]);
            }
        }
    }
    Some(rgba)
}

/// Lays the opaque pixels of `rgba` (the plotting area's) over an RGB figure `width` wide.
fn overlay(rgb: &mut [u8], width: usize, plot: Rect, rgba: &[u8]) {
    let (w, left, top) = (plot.width(), usize::try_from(plot.left).unwrap_or(0), usize::try_from(plot.top).unwrap_or(0));
    for (i, px) in rgba.chunks_exact(4).enumerate() {
        if px[3] == 0 {
            continue;
        }
        let at = ((top + i / w) * width + left + i % w) * 3;
        rgb[at..at + 3].copy_from_slice(&px[..3]);
    }
}

fn png_bytes(pixels: &[u8], width: usize, height: usize, colour: png::ColorType) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let size = |v: usize| u32::try_from(v).map_err(|_| "the image is too large".to_owned());
    let mut encoder = png::Encoder::new(&mut out, size(width)?, size(height)?);
    encoder.set_color(colour);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(pixels).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_the_standard_vectors() {
        for (plain, coded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(plain.as_bytes()), coded);
        }
    }
}
