//! Output geometry of an image request: which part of the source is kept, the size it is scaled to, and the canvas
//! it is placed on. Pure arithmetic, so every fit mode can be checked against values worked out by hand.

use super::params::{Fit, ImageParams, Rect};

/// Fill of the canvas around the scaled image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    None,
    /// The background color (`bg`), or white for formats without transparency.
    Color,
    /// The image's edge pixels, repeated.
    Edge,
}

/// How to turn the oriented source into the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Part of the oriented source to keep.
    pub source: Rect,
    /// Size that part is scaled to.
    pub scaled: (u32, u32),
    /// Size of the output.
    pub canvas: (u32, u32),
    /// Position of the scaled image on the canvas.
    pub offset: (u32, u32),
    pub padding: Padding,
}

/// Works out the plan for a source of `width` x `height` pixels (after EXIF orientation and `rot`), keeping every
/// output side at or under `max_dimension` with the aspect ratio unchanged.
pub fn plan(width: u32, height: u32, params: &ImageParams, max_dimension: u32) -> Plan {
    let region = clamp_rect(params.rect, width, height);
    let (region_width, region_height) = (region.width as f64, region.height as f64);

    let fraction = |value: f64, whole: f64| if value < 1.0 { value * whole } else { value };
    let mut target_width = params.width.map(|w| fraction(w, region_width) * params.dpr);
    let mut target_height = params.height.map(|h| fraction(h, region_height) * params.dpr);
    let uses_ratio = matches!(params.fit, Fit::Crop | Fit::Min | Fit::Fill | Fit::FillMax);
    if let (Some(ratio), true) = (params.aspect_ratio, uses_ratio) {
        match (target_width, target_height) {
            (Some(w), None) => target_height = Some(w / ratio),
            (None, Some(h)) => target_width = Some(h * ratio),
            (None, None) => {
                let (w, h) = largest_box(ratio, region_width, region_height);
                (target_width, target_height) = (Some(w), Some(h));
            }
            (Some(_), Some(_)) => {}
        }
    }

    let mut plan = match (target_width, target_height) {
        (None, None) => whole(region),
        (w, h) => fit(region, w, h, params),
    };
    let limit_width = params.max_width.unwrap_or(u32::MAX).min(max_dimension) as f64;
    let limit_height = params.max_height.unwrap_or(u32::MAX).min(max_dimension) as f64;
    let shrink = (limit_width / plan.canvas.0 as f64).min(limit_height / plan.canvas.1 as f64);
    if shrink < 1.0 {
        plan.scaled = (scale(plan.scaled.0, shrink), scale(plan.scaled.1, shrink));
        plan.canvas = (scale(plan.canvas.0, shrink), scale(plan.canvas.1, shrink));
        plan.offset = ((plan.offset.0 as f64 * shrink) as u32, (plan.offset.1 as f64 * shrink) as u32);
    }
    plan
}

fn whole(region: Rect) -> Plan {
    let size = (region.width, region.height);
    Plan { source: region, scaled: size, canvas: size, offset: (0, 0), padding: Padding::None }
}

fn fit(region: Rect, width: Option<f64>, height: Option<f64>, params: &ImageParams) -> Plan {
    let (region_width, region_height) = (region.width as f64, region.height as f64);
    let inside = |never_enlarge: bool| {
        let factor = match (width, height) {
            (Some(w), Some(h)) => (w / region_width).min(h / region_height),
            (Some(w), None) => w / region_width,
            (None, Some(h)) => h / region_height,
            (None, None) => 1.0,
        };
        let factor = if never_enlarge { factor.min(1.0) } else { factor };
        (round(region_width * factor), round(region_height * factor))
    };

    match (params.fit, width, height) {
        (Fit::Scale, _, _) => {
            let w = width.unwrap_or_else(|| region_width * height.unwrap_or(region_height) / region_height);
            let h = height.unwrap_or_else(|| region_height * w / region_width);
            let size = (round(w), round(h));
            Plan { source: region, scaled: size, canvas: size, offset: (0, 0), padding: Padding::None }
        }
        (Fit::Crop | Fit::Min, Some(w), Some(h)) => {
            let (box_width, box_height) = if params.fit == Fit::Min && (w > region_width || h > region_height) {
                largest_box(w / h, region_width, region_height)
            } else {
                (w, h)
            };
            let factor = (box_width / region_width).max(box_height / region_height);
            let keep_width = (box_width / factor).min(region_width);
            let keep_height = (box_height / factor).min(region_height);
            // The position is clamped after rounding the kept size, which can round up, so the kept region never
            // reaches past the right or bottom edge.
            let width = round(keep_width).min(region.width);
            let height = round(keep_height).min(region.height);
            let x = (params.crop.x * region_width - keep_width / 2.0).round().clamp(0.0, f64::from(region.width - width));
            let y = (params.crop.y * region_height - keep_height / 2.0).round().clamp(0.0, f64::from(region.height - height));
            let source = Rect { x: region.x + x as u32, y: region.y + y as u32, width, height };
            let size = (round(box_width), round(box_height));
            Plan { source, scaled: size, canvas: size, offset: (0, 0), padding: Padding::None }
        }
        (Fit::Fill | Fit::FillMax | Fit::Clamp, Some(w), Some(h)) => {
            let scaled = inside(params.fit == Fit::FillMax);
            let canvas = (round(w).max(scaled.0), round(h).max(scaled.1));
            let offset = ((canvas.0 - scaled.0) / 2, (canvas.1 - scaled.1) / 2);
            let padding = if params.fit == Fit::Clamp { Padding::Edge } else { Padding::Color };
            Plan { source: region, scaled, canvas, offset, padding }
        }
        (Fit::Max | Fit::FillMax | Fit::Min, _, _) => {
            let size = inside(true);
            Plan { source: region, scaled: size, canvas: size, offset: (0, 0), padding: Padding::None }
        }
        _ => {
            let size = inside(false);
            Plan { source: region, scaled: size, canvas: size, offset: (0, 0), padding: Padding::None }
        }
    }
}

/// Returns the largest box of aspect `ratio` (width / height) that fits in `width` x `height`.
fn largest_box(ratio: f64, width: f64, height: f64) -> (f64, f64) {
    if width / height > ratio {
        (height * ratio, height)
    } else {
        (width, width / ratio)
    }
}

/// Clamps `rect` to the image; a rectangle entirely outside it is ignored.
fn clamp_rect(rect: Option<Rect>, width: u32, height: u32) -> Rect {
    let full = Rect { x: 0, y: 0, width, height };
    let Some(rect) = rect else {
        return full;
    };
    if rect.x >= width || rect.y >= height {
        return full;
    }
    Rect {
        x: rect.x,
        y: rect.y,
        width: rect.width.min(width - rect.x),
        height: rect.height.min(height - rect.y),
    }
}

fn round(value: f64) -> u32 {
    value.round().clamp(1.0, u32::MAX as f64) as u32
}

fn scale(value: u32, factor: f64) -> u32 {
    round(value as f64 * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u32 = 8192;

    fn plan_for(width: u32, height: u32, query: &str) -> Plan {
        plan(width, height, &ImageParams::parse(query), LIMIT)
    }

    #[test]
    fn clip_fits_inside_and_may_enlarge() {
        assert_eq!(plan_for(4000, 3000, "w=400").canvas, (400, 300));
        assert_eq!(plan_for(4000, 3000, "w=400&h=400").canvas, (400, 300));
        assert_eq!(plan_for(100, 50, "w=300").canvas, (300, 150));
        assert_eq!(plan_for(4000, 3000, "h=150").canvas, (200, 150));
    }

    #[test]
    fn max_never_enlarges() {
        assert_eq!(plan_for(100, 50, "w=300&fit=max").canvas, (100, 50));
        assert_eq!(plan_for(4000, 3000, "w=400&fit=max").canvas, (400, 300));
    }

    #[test]
    fn crop_fills_the_box_and_centers() {
        let plan = plan_for(4000, 3000, "w=300&h=300&fit=crop");
        assert_eq!(plan.canvas, (300, 300));
        assert_eq!(plan.source, Rect { x: 500, y: 0, width: 3000, height: 3000 });
    }

    #[test]
    fn crop_follows_anchor_and_focal_point() {
        let left = plan_for(400, 200, "w=100&h=100&fit=crop&crop=left");
        assert_eq!(left.source, Rect { x: 0, y: 0, width: 200, height: 200 });
        let right = plan_for(400, 200, "w=100&h=100&fit=crop&crop=right");
        assert_eq!(right.source.x, 200);
        let focal = plan_for(400, 200, "w=100&h=100&fit=crop&crop=focalpoint&fp-x=0.3");
        assert_eq!(focal.source.x, 20);
    }

    #[test]
    fn min_never_enlarges() {
        let plan = plan_for(400, 200, "w=800&h=800&fit=min");
        assert_eq!(plan.canvas, (200, 200));
        assert_eq!(plan.source, Rect { x: 100, y: 0, width: 200, height: 200 });
    }

    #[test]
    fn scale_stretches() {
        assert_eq!(plan_for(400, 200, "w=100&h=100&fit=scale").canvas, (100, 100));
    }

    #[test]
    fn fill_pads_to_the_box() {
        let plan = plan_for(400, 200, "w=100&h=100&fit=fill");
        assert_eq!(plan.scaled, (100, 50));
        assert_eq!(plan.canvas, (100, 100));
        assert_eq!(plan.offset, (0, 25));
        assert_eq!(plan.padding, Padding::Color);
        let fillmax = plan_for(40, 20, "w=100&h=100&fit=fillmax");
        assert_eq!((fillmax.scaled, fillmax.canvas, fillmax.offset), ((40, 20), (100, 100), (30, 40)));
        assert_eq!(plan_for(400, 200, "w=100&h=100&fit=clamp").padding, Padding::Edge);
    }

    #[test]
    fn rect_applies_before_resizing() {
        let plan = plan_for(1000, 1000, "rect=100,200,400,200&w=200");
        assert_eq!(plan.source, Rect { x: 100, y: 200, width: 400, height: 200 });
        assert_eq!(plan.canvas, (200, 100));
        let clamped = plan_for(1000, 1000, "rect=900,900,400,400");
        assert_eq!(clamped.source, Rect { x: 900, y: 900, width: 100, height: 100 });
    }

    #[test]
    fn dpr_multiplies_sizes() {
        assert_eq!(plan_for(4000, 3000, "w=400&dpr=2").canvas, (800, 600));
        assert_eq!(plan_for(4000, 3000, "dpr=2").canvas, (4000, 3000));
    }

    #[test]
    fn aspect_ratio_with_crop() {
        assert_eq!(plan_for(4000, 3000, "w=400&ar=1:1&fit=crop").canvas, (400, 400));
        assert_eq!(plan_for(4000, 3000, "ar=16:9&fit=crop").canvas, (4000, 2250));
        assert_eq!(plan_for(4000, 3000, "w=400&ar=1:1").canvas, (400, 300));
    }

    #[test]
    fn output_clamped_to_max_dimension() {
        assert_eq!(plan_for(16, 1, "w=10000").canvas, (8192, 512));
        assert_eq!(plan_for(4000, 3000, "w=400&max-w=200").canvas, (200, 150));
    }
}
