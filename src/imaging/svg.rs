//! Rasterising of SVG sources with resvg, for requests that ask for a raster `fm`.
//!
//! The document is drawn straight at the output scale, so a small icon stays sharp at any requested width. usvg
//! reads nothing outside the document: `<image>` elements are dropped whatever their `href` (a path, a URL or a
//! data URL), and text is dropped too, because resvg is built without its font support.
//!
//! Two checks against the source pixel limit run before any pixel buffer exists. The first is on the declared size
//! (`width`, `height`, `viewBox`), as for raster sources. The second is on an upper bound of every buffer resvg
//! allocates for this render: the canvas, group layers, filter results, masks, clip paths and pattern tiles.

use image::RgbaImage;
use resvg::tiny_skia::{IntSize, NonZeroRect, Pixmap, Rect, Transform};
use resvg::usvg;

use super::geometry::{plan, Plan};
use super::params::ImageParams;
use super::render::{RenderError, RenderLimits};

/// resvg clips a layer to this many canvas widths and heights (two before the canvas and two after it), so one
/// layer covers at most 25 canvases.
const LAYER_REACH: f64 = 5.0;

/// Tells whether `source` is an SVG document rather than a raster image: raster formats start with a binary
/// signature, SVG with `<` after an optional byte order mark and white space.
pub fn is_svg(source: &[u8]) -> bool {
    let text = source.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(source);
    text.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'<')
}

/// Parses and rasterises `source` at the size and region that `params` plan for its declared size, and returns
/// the scaled pixels with the plan, ready for `sat`, `blur` and padding.
pub fn rasterise(
    source: &[u8],
    params: &ImageParams,
    limits: RenderLimits,
) -> Result<(RgbaImage, Plan), RenderError> {
    let tree = parse(source)?;
    let size = tree.size();
    let width = whole_pixels(size.width());
    let height = whole_pixels(size.height());
    if u64::from(width) * u64::from(height) > limits.max_source_pixels {
        return Err(RenderError::SourceTooLarge {
            width,
            height,
            limit: limits.max_source_pixels,
        });
    }

    let (upright_width, upright_height) = if params.rotation % 180 == 90 {
        (height, width)
    } else {
        (width, height)
    };
    let plan = plan(
        upright_width,
        upright_height,
        params,
        limits.max_output_dimension,
    );
    let fit_whole_pixels =
        Transform::from_scale(width as f32 / size.width(), height as f32 / size.height());
    let transform = fit_whole_pixels
        .post_concat(orientation(width as f32, height as f32, params))
        .post_concat(crop_and_scale(&plan));

    let (canvas_width, canvas_height) = plan.scaled;
    let pixels = buffer_pixels(&tree, transform, canvas_width, canvas_height);
    if pixels > limits.max_source_pixels as f64 {
        return Err(RenderError::SvgBuffersTooLarge {
            pixels: pixels as u64,
            limit: limits.max_source_pixels,
        });
    }

    let mut pixmap = Pixmap::new(canvas_width, canvas_height).ok_or_else(|| {
        RenderError::Encode(format!(
            "allocating a {canvas_width}x{canvas_height} canvas failed"
        ))
    })?;
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    let scaled = RgbaImage::from_raw(canvas_width, canvas_height, pixmap.take_demultiplied())
        .expect("a pixmap contains four bytes per pixel");
    Ok((scaled, plan))
}

/// Parses the document with every way of reaching other files or URLs turned off.
fn parse(source: &[u8]) -> Result<usvg::Tree, RenderError> {
    let options = usvg::Options {
        resources_dir: None,
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: Box::new(|_, _, _| None),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    };
    usvg::Tree::from_data(source, &options)
        .map_err(|error| RenderError::InvalidSvg(error.to_string()))
}

fn whole_pixels(length: f32) -> u32 {
    f64::from(length).round().clamp(1.0, f64::from(u32::MAX)) as u32
}

/// Returns the transform that applies `rot`, then `flip`, to a `width` x `height` drawing, as the raster path does
/// with `rotate90`, `rotate180`, `rotate270`, `fliph` and `flipv`.
fn orientation(width: f32, height: f32, params: &ImageParams) -> Transform {
    let (rotation, upright_width, upright_height) = match params.rotation {
        // Clockwise: (x, y) goes to (height - y, x).
        90 => (
            Transform::from_row(0.0, 1.0, -1.0, 0.0, height, 0.0),
            height,
            width,
        ),
        180 => (
            Transform::from_row(-1.0, 0.0, 0.0, -1.0, width, height),
            width,
            height,
        ),
        // Counter-clockwise: (x, y) goes to (y, width - x).
        270 => (
            Transform::from_row(0.0, -1.0, 1.0, 0.0, 0.0, width),
            height,
            width,
        ),
        _ => (Transform::identity(), width, height),
    };
    let mut transform = rotation;
    if params.flip_horizontal {
        transform =
            transform.post_concat(Transform::from_row(-1.0, 0.0, 0.0, 1.0, upright_width, 0.0));
    }
    if params.flip_vertical {
        transform = transform.post_concat(Transform::from_row(
            1.0,
            0.0,
            0.0,
            -1.0,
            0.0,
            upright_height,
        ));
    }
    transform
}

/// Returns the transform that moves the planned source region to the origin and scales it to the planned size.
fn crop_and_scale(plan: &Plan) -> Transform {
    let source = plan.source;
    let scale_x = plan.scaled.0 as f32 / source.width as f32;
    let scale_y = plan.scaled.1 as f32 / source.height as f32;
    Transform::from_translate(-(source.x as f32), -(source.y as f32))
        .post_concat(Transform::from_scale(scale_x, scale_y))
}

/// Returns an upper bound of the pixels in every buffer that resvg allocates to draw `tree` with `transform` on a
/// `width` x `height` canvas, the canvas included.
fn buffer_pixels(tree: &usvg::Tree, transform: Transform, width: u32, height: u32) -> f64 {
    let canvas = f64::from(width) * f64::from(height);
    let reach = Rect::from_xywh(
        -2.0 * width as f32,
        -2.0 * height as f32,
        LAYER_REACH as f32 * width as f32,
        LAYER_REACH as f32 * height as f32,
    );
    let mut estimate = BufferEstimate {
        canvas,
        reach,
        pixels: canvas,
    };
    estimate.group(tree.root(), transform, false);
    estimate.pixels
}

/// Running total of the buffer estimate of one render.
struct BufferEstimate {
    canvas: f64,
    /// Canvas area that a layer is clipped to, in canvas pixels; `None` when it does not fit in `f32`.
    reach: Option<Rect>,
    pixels: f64,
}

impl BufferEstimate {
    /// Adds the buffers of `group` and its descendants. Inside masks, clip paths and pattern tiles (`nested`), the
    /// nodes' absolute bounding boxes are not in canvas pixels, so each layer counts as its largest possible size.
    fn group(&mut self, group: &usvg::Group, transform: Transform, nested: bool) {
        if group.should_isolate() {
            let layer = if nested {
                self.largest_layer()
            } else {
                self.layer(group.abs_layer_bounding_box(), transform)
            };
            let filter_results: usize = group
                .filters()
                .iter()
                .map(|filter| filter.primitives().len())
                .sum();
            self.pixels += layer * (1 + filter_results) as f64;
        }
        let mut clip_path = group.clip_path();
        while let Some(clip) = clip_path {
            self.pixels += self.canvas;
            self.group(clip.root(), transform, true);
            clip_path = clip.clip_path();
        }
        let mut mask = group.mask();
        while let Some(current) = mask {
            self.pixels += self.canvas;
            self.group(current.root(), transform, true);
            mask = current.mask();
        }

        for child in group.children() {
            match child {
                usvg::Node::Group(child) => self.group(child, transform, nested),
                usvg::Node::Path(path) => {
                    let paints = path
                        .fill()
                        .map(usvg::Fill::paint)
                        .into_iter()
                        .chain(path.stroke().map(usvg::Stroke::paint));
                    for paint in paints {
                        if let usvg::Paint::Pattern(pattern) = paint {
                            self.pattern(pattern, transform.pre_concat(path.abs_transform()));
                        }
                    }
                }
                // Images and text are dropped when parsing, and nothing else allocates.
                _ => {}
            }
        }
    }

    /// Adds a pattern tile, drawn at the scale of the path that uses it, and the buffers of its content.
    fn pattern(&mut self, pattern: &usvg::Pattern, path_transform: Transform) {
        let (scale_x, scale_y) = path_transform.pre_concat(pattern.transform()).get_scale();
        let rect = pattern.rect();
        let tile_width = (f64::from(rect.width()) * f64::from(scale_x)).round();
        let tile_height = (f64::from(rect.height()) * f64::from(scale_y)).round();
        self.pixels += tile_width * tile_height;
        if IntSize::from_wh(tile_width as u32, tile_height as u32).is_some() {
            self.group(
                pattern.root(),
                Transform::from_scale(scale_x, scale_y),
                true,
            );
        }
    }

    /// Returns the area of a layer whose bounds are `bounds` before `transform`, clipped as resvg clips it.
    fn layer(&self, bounds: NonZeroRect, transform: Transform) -> f64 {
        let Some(bounds) = bounds.transform(transform) else {
            return self.largest_layer();
        };
        let Some(reach) = self.reach else {
            return f64::from(bounds.width()) * f64::from(bounds.height());
        };
        let left = bounds.left().max(reach.left());
        let top = bounds.top().max(reach.top());
        let right = bounds.right().min(reach.right());
        let bottom = bounds.bottom().min(reach.bottom());
        // Layers are rounded out to whole pixels and widened by 2 pixels on each side for anti-aliasing.
        let layer_width = (f64::from(right - left).ceil() + 4.0).max(0.0);
        let layer_height = (f64::from(bottom - top).ceil() + 4.0).max(0.0);
        layer_width * layer_height
    }

    fn largest_layer(&self) -> f64 {
        self.canvas * LAYER_REACH * LAYER_REACH
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    const LIMITS: RenderLimits = RenderLimits {
        max_source_pixels: 100_000_000,
        max_output_dimension: 8192,
    };

    /// A 40x20 drawing: red in its top-left 10x5 corner, blue elsewhere.
    const MARKED: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">
        <rect width="40" height="20" fill="#0000ff"/><rect width="10" height="5" fill="#ff0000"/></svg>"##;

    fn rasterise_query(svg: &str, query: &str) -> Result<(RgbaImage, Plan), RenderError> {
        rasterise(svg.as_bytes(), &ImageParams::parse(query), LIMITS)
    }

    fn is_red(image: &RgbaImage, x: u32, y: u32) -> bool {
        let [r, _, b, a] = image.get_pixel(x, y).0;
        r > 200 && b < 60 && a > 200
    }

    #[test]
    fn recognises_svg_text() {
        assert!(is_svg(b"<svg/>"));
        assert!(is_svg(b"\xEF\xBB\xBF\n  <?xml version=\"1.0\"?><svg/>"));
        assert!(!is_svg(b"\x89PNG\r\n\x1a\n"));
        assert!(!is_svg(b"GIF89a"));
        assert!(!is_svg(b""));
    }

    #[test]
    fn draws_at_the_output_scale() {
        let (image, _) = rasterise_query(MARKED, "w=400").unwrap();
        assert_eq!(image.dimensions(), (400, 200));
        assert!(
            is_red(&image, 95, 45),
            "the red corner is scaled, not resampled from 10x5 pixels"
        );
        assert!(!is_red(&image, 105, 55));
    }

    #[test]
    fn without_size_uses_the_declared_size() {
        let (image, _) = rasterise_query(MARKED, "fm=png").unwrap();
        assert_eq!(image.dimensions(), (40, 20));
    }

    #[test]
    fn rotation_and_flip_move_the_corner() {
        // Where the red top-left corner lands, as (right, bottom), and the output size.
        let cases = [
            ("rot=90", (true, false), (20, 40)),
            ("rot=180", (true, true), (40, 20)),
            ("rot=270", (false, true), (20, 40)),
            ("flip=h", (true, false), (40, 20)),
            ("flip=v", (false, true), (40, 20)),
            ("rot=90&flip=h", (false, false), (20, 40)),
        ];
        for (query, (right, bottom), size) in cases {
            let (image, _) = rasterise_query(MARKED, query).unwrap();
            assert_eq!(image.dimensions(), size, "{query}");
            let x = if right { image.width() - 2 } else { 1 };
            let y = if bottom { image.height() - 2 } else { 1 };
            assert!(
                is_red(&image, x, y),
                "{query}: the red corner should be at ({x}, {y})"
            );
        }
    }

    #[test]
    fn rect_keeps_the_requested_region() {
        let (corner, _) = rasterise_query(MARKED, "rect=0,0,10,5&w=100").unwrap();
        assert_eq!(corner.dimensions(), (100, 50));
        assert!(corner
            .enumerate_pixels()
            .all(|(x, y, _)| is_red(&corner, x, y)));
        let (crop, plan) = rasterise_query(MARKED, "w=10&h=10&fit=crop&crop=left").unwrap();
        assert_eq!(crop.dimensions(), (10, 10));
        assert_eq!(plan.source.width, 20);
        assert!(is_red(&crop, 1, 1));
    }

    #[test]
    fn huge_view_box_is_refused() {
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200000 200000"><rect width="1" height="1"/></svg>"#;
        let error = rasterise_query(svg, "fm=png&w=10").unwrap_err();
        assert!(
            matches!(
                error,
                RenderError::SourceTooLarge {
                    width: 200_000,
                    height: 200_000,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn huge_pattern_tile_is_refused() {
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">
            <pattern id="p" width="100000" height="100000" patternUnits="userSpaceOnUse"><rect width="5" height="5"/></pattern>
            <rect width="10" height="10" fill="url(#p)"/></svg>"#;
        let error = rasterise_query(svg, "fm=png").unwrap_err();
        assert!(
            matches!(error, RenderError::SvgBuffersTooLarge { .. }),
            "{error}"
        );
    }

    #[test]
    fn small_pattern_and_opacity_render() {
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">
            <pattern id="p" width="2" height="2" patternUnits="userSpaceOnUse"><rect width="1" height="1" fill="red"/></pattern>
            <g opacity="0.5"><rect width="10" height="10" fill="url(#p)"/></g></svg>"#;
        let (image, _) = rasterise_query(svg, "w=20").unwrap();
        assert_eq!(image.dimensions(), (20, 20));
    }

    #[test]
    fn linked_and_embedded_images_are_not_loaded() {
        // resvg draws SVG images even without raster image support, so a loaded one would paint red pixels.
        let red = r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="red"/></svg>"#;
        let directory = tempfile::tempdir().unwrap();
        let linked = directory.path().join("red.svg");
        std::fs::write(&linked, red).unwrap();
        let embedded = format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(red)
        );
        let svg = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">
            <image width="10" height="10" href="{}"/><image width="10" height="10" href="{embedded}"/>
            <image width="10" height="10" href="http://127.0.0.1:9/red.svg"/></svg>"#,
            linked.display()
        );
        let (image, _) = rasterise_query(&svg, "fm=png").unwrap();
        assert!(
            image.pixels().all(|pixel| pixel.0[3] == 0),
            "nothing is drawn"
        );
    }

    #[test]
    fn invalid_document_is_an_error() {
        let error = rasterise_query("<svg", "fm=png").unwrap_err();
        assert!(matches!(error, RenderError::InvalidSvg(_)), "{error}");
    }
}
