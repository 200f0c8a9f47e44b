//! Geometry for collisions: a circle pushed out of a rectangle, and a moving point swept against rectangles,
//! a box's inside and circles. All tests are closed (touching counts) unless said otherwise.

use glam::Vec2;

use super::{Wall, POS_SCALE};

/// An axis-aligned rectangle `min..=max` in world units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Rect {
    /// Top-left corner.
    pub(crate) min: Vec2,
    /// Bottom-right corner.
    pub(crate) max: Vec2,
}

impl Rect {
    /// The rectangle a wall covers.
    pub(crate) fn from_wall(wall: &Wall) -> Rect {
        let min = Vec2::new(wall.x as f32, wall.y as f32);
        Rect { min, max: min + Vec2::new(wall.w as f32, wall.h as f32) }
    }

    /// The rectangle grown by `r` on every side (its corners stay square).
    pub(crate) fn inflate(self, r: f32) -> Rect {
        Rect { min: self.min - Vec2::splat(r), max: self.max + Vec2::splat(r) }
    }

    /// Whether `p` is inside or on the border.
    pub(crate) fn contains(self, p: Vec2) -> bool {
        p.x >= self.min.x && p.x <= self.max.x && p.y >= self.min.y && p.y <= self.max.y
    }

    /// Whether `p` is strictly inside (not on the border).
    pub(crate) fn contains_strictly(self, p: Vec2) -> bool {
        p.x > self.min.x && p.x < self.max.x && p.y > self.min.y && p.y < self.max.y
    }

    /// Whether a circle overlaps the rectangle by more than touching.
    #[cfg(test)]
    pub(crate) fn overlaps_circle(self, center: Vec2, r: f32) -> bool {
        let d = center - center.clamp(self.min, self.max);
        d.length_squared() < r * r
    }
}

/// Rounds down to the 1/16 grid.
pub(crate) fn floor_to_grid(v: f32) -> f32 {
    (v * POS_SCALE).floor() / POS_SCALE
}

/// Rounds up to the 1/16 grid.
pub(crate) fn ceil_to_grid(v: f32) -> f32 {
    (v * POS_SCALE).ceil() / POS_SCALE
}

/// Pushes a circle of radius `r` at `pos` out of `rect` if they overlap, and zeroes `vel` along the push.
/// Returns whether it pushed.
///
/// Overlap means the distance from the centre to the nearest point of the rectangle is below `r`. Let `d` be the
/// centre minus that nearest point (so `d.x` is 0 when the centre is within the rectangle's x span). Along x, the
/// circle clears the rectangle once its centre is `hx = sqrt(r² - d.y²)` beyond a side, so it may move left by
/// `pos.x - (min.x - hx)` or right by `(max.x + hx) - pos.x`; likewise along y with `hy = sqrt(r² - d.x²)`. The
/// shortest of the four moves wins (x before y on a tie, left/up before right/down on a tie): the pushed
/// coordinate becomes `floor16(min - h)` or `ceil16(max + h)` (rounded away from the wall onto the 1/16 grid, so the
/// circle ends exactly touching or just clear), and that velocity component becomes 0. Against a face this is the
/// usual push to `min - r` / `max + r`; near a corner it is the small move that slides the circle around it.
pub(crate) fn push_circle_out(pos: &mut Vec2, vel: &mut Vec2, rect: Rect, r: f32) -> bool {
    let d = *pos - pos.clamp(rect.min, rect.max);
    let r2 = r * r;
    if d.length_squared() >= r2 {
        return false;
    }
    let hx = (r2 - d.y * d.y).max(0.0).sqrt();
    let hy = (r2 - d.x * d.x).max(0.0).sqrt();
    let left = pos.x - (rect.min.x - hx);
    let right = (rect.max.x + hx) - pos.x;
    let up = pos.y - (rect.min.y - hy);
    let down = (rect.max.y + hy) - pos.y;
    if left.min(right) <= up.min(down) {
        pos.x = if left <= right { floor_to_grid(rect.min.x - hx) } else { ceil_to_grid(rect.max.x + hx) };
        vel.x = 0.0;
    } else {
        pos.y = if up <= down { floor_to_grid(rect.min.y - hy) } else { ceil_to_grid(rect.max.y + hy) };
        vel.y = 0.0;
    }
    true
}

/// The earliest `t` in `0..=1` at which `p + t * d` is inside or on `rect`, if any.
pub(crate) fn segment_rect(p: Vec2, d: Vec2, rect: Rect) -> Option<f32> {
    let mut t0 = 0.0f32;
    let mut t1 = 1.0f32;
    for (p, d, lo, hi) in [(p.x, d.x, rect.min.x, rect.max.x), (p.y, d.y, rect.min.y, rect.max.y)] {
        if d == 0.0 {
            if p < lo || p > hi {
                return None;
            }
        } else {
            let (a, b) = ((lo - p) / d, (hi - p) / d);
            let (a, b) = if a <= b { (a, b) } else { (b, a) };
            t0 = t0.max(a);
            t1 = t1.min(b);
            if t0 > t1 {
                return None;
            }
        }
    }
    Some(t0)
}

/// The earliest `t` in `0..=1` at which `p + t * d` reaches the border of `inside` (or 0 if `p` is not strictly
/// inside it), if any: where a point moving inside the world meets its edges.
pub(crate) fn segment_exit(p: Vec2, d: Vec2, inside: Rect) -> Option<f32> {
    if !inside.contains_strictly(p) {
        return Some(0.0);
    }
    let mut t = f32::INFINITY;
    for (p, d, lo, hi) in [(p.x, d.x, inside.min.x, inside.max.x), (p.y, d.y, inside.min.y, inside.max.y)] {
        if d > 0.0 {
            t = t.min((hi - p) / d);
        } else if d < 0.0 {
            t = t.min((lo - p) / d);
        }
    }
    (t <= 1.0).then_some(t)
}

/// The earliest `t` in `0..=1` at which `p + t * d` is within `r` of `center`, if any (0 if it starts within).
pub(crate) fn segment_circle(p: Vec2, d: Vec2, center: Vec2, r: f32) -> Option<f32> {
    let f = p - center;
    let c = f.length_squared() - r * r;
    if c <= 0.0 {
        return Some(0.0);
    }
    let b = f.dot(d);
    if b >= 0.0 {
        // Starts outside and moves away (or not at all).
        return None;
    }
    let a = d.length_squared();
    let disc = b * b - a * c;
    if disc < 0.0 {
        return None;
    }
    let t = (-b - disc.sqrt()) / a;
    (t <= 1.0).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Rect {
        Rect { min: Vec2::new(x0, y0), max: Vec2::new(x1, y1) }
    }

    #[test]
    fn push_out_of_faces_and_corners() {
        let r = rect(100.0, 100.0, 200.0, 150.0);
        // From the left face: pushed to x = 100 - 16, vx zeroed, vy kept.
        let (mut p, mut v) = (Vec2::new(90.0, 120.0), Vec2::new(5.0, 3.0));
        assert!(push_circle_out(&mut p, &mut v, r, 16.0));
        assert_eq!((p, v), (Vec2::new(84.0, 120.0), Vec2::new(0.0, 3.0)));
        // From below.
        let (mut p, mut v) = (Vec2::new(150.0, 160.0), Vec2::new(5.0, -3.0));
        assert!(push_circle_out(&mut p, &mut v, r, 16.0));
        assert_eq!((p, v), (Vec2::new(150.0, 166.0), Vec2::new(5.0, 0.0)));
        // Deep inside, nearest to the top.
        let (mut p, mut v) = (Vec2::new(160.0, 105.0), Vec2::ZERO);
        assert!(push_circle_out(&mut p, &mut v, r, 16.0));
        assert_eq!(p, Vec2::new(160.0, 84.0));
        // Near the top-left corner: a small move, onto the grid, leaving no overlap.
        let (mut p, mut v) = (Vec2::new(92.0, 90.0), Vec2::new(1.0, 1.0));
        assert!(push_circle_out(&mut p, &mut v, r, 16.0));
        assert!(!r.overlaps_circle(p, 16.0));
        assert!(p.distance(Vec2::new(92.0, 90.0)) < 4.0);
        assert_eq!(p * 16.0, (p * 16.0).round());
        // Touching is not overlapping.
        let (mut p, mut v) = (Vec2::new(84.0, 120.0), Vec2::new(1.0, 0.0));
        assert!(!push_circle_out(&mut p, &mut v, r, 16.0));
        assert_eq!(v, Vec2::new(1.0, 0.0));
    }

    #[test]
    fn segments_against_rects_edges_and_circles() {
        let r = rect(10.0, -5.0, 20.0, 5.0);
        assert_eq!(segment_rect(Vec2::ZERO, Vec2::new(40.0, 0.0), r), Some(0.25));
        assert_eq!(segment_rect(Vec2::ZERO, Vec2::new(5.0, 0.0), r), None);
        assert_eq!(segment_rect(Vec2::new(0.0, 10.0), Vec2::new(40.0, 0.0), r), None);
        assert_eq!(segment_rect(Vec2::new(15.0, 0.0), Vec2::new(40.0, 0.0), r), Some(0.0));
        assert_eq!(segment_rect(Vec2::new(15.0, -20.0), Vec2::new(0.0, 30.0), r), Some(0.5));

        let world = rect(4.0, 4.0, 96.0, 96.0);
        assert_eq!(segment_exit(Vec2::new(50.0, 50.0), Vec2::new(10.0, 0.0), world), None);
        assert_eq!(segment_exit(Vec2::new(90.0, 50.0), Vec2::new(12.0, 0.0), world), Some(0.5));
        assert_eq!(segment_exit(Vec2::new(50.0, 8.0), Vec2::new(0.0, -8.0), world), Some(0.5));
        assert_eq!(segment_exit(Vec2::new(2.0, 50.0), Vec2::new(10.0, 0.0), world), Some(0.0));

        let c = Vec2::new(50.0, 0.0);
        assert_eq!(segment_circle(Vec2::ZERO, Vec2::new(100.0, 0.0), c, 10.0), Some(0.4));
        assert_eq!(segment_circle(Vec2::ZERO, Vec2::new(30.0, 0.0), c, 10.0), None);
        assert_eq!(segment_circle(Vec2::new(0.0, 11.0), Vec2::new(100.0, 0.0), c, 10.0), None);
        assert_eq!(segment_circle(Vec2::new(45.0, 0.0), Vec2::new(100.0, 0.0), c, 10.0), Some(0.0));
        assert_eq!(segment_circle(Vec2::new(70.0, 0.0), Vec2::new(100.0, 0.0), c, 10.0), None);
        assert_eq!(segment_circle(Vec2::ZERO, Vec2::ZERO, c, 10.0), None);
    }
}
