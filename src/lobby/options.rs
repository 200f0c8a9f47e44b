//! Room options as a creator asks for them (hello's `create`, `POST /rooms`), checked against the server's limits
//! and resolved into a `RoomConfig` with the server's defaults for whatever was left out.

use crate::config::{bundled_map, RoomConfig, BUNDLED_MAPS, MAX_ROOM_NAME_CHARS, MAX_VIEW_RADIUS, ROOM_MAP_SIDES};

/// The highest tick rate a room may be created with.
pub const MAX_ROOM_TICK_RATE: u32 = 60;
use crate::protocol::RoomOptions;
use crate::sim::Map;

/// Seed of generated room maps: the same size always gives the same map, whoever asks.
const GENERATED_MAP_SEED: u64 = 7;

/// A room option out of bounds; the text is what the creator receives (close 4005, or HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadOptions(pub String);

/// The map a room asks for: a bundled name, or `WIDTHxHEIGHT` for a generated arena.
pub fn resolve_map(name: &str) -> Result<(Map, String), BadOptions> {
    if let Some(map) = bundled_map(name) {
        return Ok((map, name.to_string()));
    }
    let sides = generated_sides(name);
    match sides {
        Some((width, height)) if ROOM_MAP_SIDES.contains(&width) && ROOM_MAP_SIDES.contains(&height) => {
            let label = format!("{width}x{height}");
            // The welcome names the map as the lobby lists it.
            let map = Map { name: label.clone(), ..Map::generated(width, height, GENERATED_MAP_SEED) };
            Ok((map, label))
        }
        Some(_) => Err(BadOptions(format!(
            "map sides must be {} to {} units, got {name:?}",
            ROOM_MAP_SIDES.start(),
            ROOM_MAP_SIDES.end()
        ))),
        None => {
            let names: Vec<&str> = BUNDLED_MAPS.iter().map(|(name, _)| *name).collect();
            Err(BadOptions(format!("unknown map {name:?}: use one of {} or WIDTHxHEIGHT", names.join(", "))))
        }
    }
}

/// The sides of a `WIDTHxHEIGHT` map name (`x` or `X`), unchecked; `None` for any other name.
fn generated_sides(name: &str) -> Option<(i32, i32)> {
    let (width, height) = name.split_once(['x', 'X'])?;
    Some((width.parse().ok()?, height.parse().ok()?))
}

/// A room name: 1 to `MAX_ROOM_NAME_CHARS` characters once trimmed, no control characters.
pub fn check_room_name(name: &str) -> Result<String, BadOptions> {
    let trimmed = name.trim();
    let chars = trimmed.chars().count();
    if chars == 0 || chars > MAX_ROOM_NAME_CHARS {
        return Err(BadOptions(format!("name must be 1 to {MAX_ROOM_NAME_CHARS} characters, got {chars}")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(BadOptions("name contains control characters".into()));
    }
    Ok(trimmed.to_string())
}

/// Applies `options` to the server's `defaults`. A room given no name gets an empty one, for the lobby to name
/// when it opens the room.
pub fn resolve(options: &RoomOptions, defaults: &RoomConfig) -> Result<RoomConfig, BadOptions> {
    let mut room = defaults.clone();
    if let Some(map) = &options.map {
        // The default map (a `--map` file's name included) by its label; otherwise a bundled or generated one.
        if canonical_map(map) != defaults.map_label {
            (room.map, room.map_label) = resolve_map(map)?;
        }
    }
    if let Some(max_players) = options.max_players {
        let cap = defaults.max_players;
        if max_players == 0 || max_players as usize > cap {
            return Err(BadOptions(format!("max_players must be 1 to {cap}, got {max_players}")));
        }
        room.max_players = max_players as usize;
    }
    if let Some(tick_rate) = options.tick_rate {
        // Up to 60: at one input per tick a client stays within the default message rate (90 per second).
        if !(1..=MAX_ROOM_TICK_RATE).contains(&tick_rate) {
            return Err(BadOptions(format!("tick_rate must be 1 to {MAX_ROOM_TICK_RATE}, got {tick_rate}")));
        }
        room.tick_rate = tick_rate;
    }
    if let Some(radius) = options.view_radius {
        if !(0.0..=MAX_VIEW_RADIUS).contains(&radius) {
            return Err(BadOptions(format!("view_radius must be 0 (off) to {MAX_VIEW_RADIUS}, got {radius}")));
        }
        room.view_radius = radius;
    }
    room.private = options.private.unwrap_or(false);
    room.name = match &options.name {
        Some(name) => check_room_name(name)?,
        None => String::new(),
    };
    Ok(room)
}

/// A map name as rooms are labelled: bundled names as they are, `WIDTHxHEIGHT` with a lowercase `x` and plain
/// numbers (so `4000X3000` and `4000x3000` are one map to quick play's filter).
pub fn canonical_map(name: &str) -> String {
    let sides = generated_sides(name);
    match sides {
        Some((width, height)) => format!("{width}x{height}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> RoomConfig {
        RoomConfig::for_tests()
    }

    #[test]
    fn left_out_options_take_the_defaults_and_given_ones_are_applied() {
        let room = resolve(&RoomOptions::default(), &defaults()).unwrap();
        assert_eq!((room.name.as_str(), room.map_label.as_str(), room.private), ("", "arena", false));
        assert_eq!((room.max_players, room.tick_rate, room.view_radius), (1000, 30, 0.0));
        let options = RoomOptions {
            name: Some("  duel night ".into()),
            map: Some("duel".into()),
            max_players: Some(2),
            tick_rate: Some(60),
            view_radius: Some(500.0),
            private: Some(true),
        };
        let room = resolve(&options, &defaults()).unwrap();
        assert_eq!(
            (room.name.as_str(), room.map_label.as_str(), room.map.name.as_str()),
            ("duel night", "duel", "duel")
        );
        assert_eq!((room.max_players, room.tick_rate, room.view_radius, room.private), (2, 60, 500.0, true));
        let generated = resolve(&RoomOptions { map: Some("4000X3000".into()), ..Default::default() }, &defaults());
        let generated = generated.unwrap();
        assert_eq!(
            (generated.map.width, generated.map.height, generated.map_label.as_str()),
            (4000, 3000, "4000x3000")
        );
    }

    #[test]
    fn options_out_of_bounds_are_refused_with_the_reason() {
        let refuse = |options: RoomOptions| resolve(&options, &defaults()).unwrap_err().0;
        assert_eq!(
            refuse(RoomOptions { max_players: Some(0), ..Default::default() }),
            "max_players must be 1 to 1000, got 0"
        );
        assert_eq!(
            refuse(RoomOptions { max_players: Some(1001), ..Default::default() }),
            "max_players must be 1 to 1000, got 1001"
        );
        assert_eq!(
            refuse(RoomOptions { tick_rate: Some(121), ..Default::default() }),
            "tick_rate must be 1 to 60, got 121"
        );
        assert_eq!(
            refuse(RoomOptions { view_radius: Some(f32::NAN), ..Default::default() }),
            "view_radius must be 0 (off) to 20000, got NaN"
        );
        assert_eq!(
            refuse(RoomOptions { map: Some("moon".into()), ..Default::default() }),
            "unknown map \"moon\": use one of arena, duel or WIDTHxHEIGHT"
        );
        assert_eq!(
            refuse(RoomOptions { map: Some("100x100".into()), ..Default::default() }),
            "map sides must be 320 to 20000 units, got \"100x100\""
        );
        assert_eq!(
            refuse(RoomOptions { name: Some(" ".into()), ..Default::default() }),
            "name must be 1 to 24 characters, got 0"
        );
        assert_eq!(
            refuse(RoomOptions { name: Some("a\u{7}".into()), ..Default::default() }),
            "name contains control characters"
        );
    }
}
