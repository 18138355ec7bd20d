//! Matroska and WebM: the EBML `DocType` names the container, and the track types in `Tracks` decide between audio
//! and video.

use super::sniff::Detection;
use super::Kind;

const EBML_HEADER: u32 = 0x1A45_DFA3;
const DOC_TYPE: u32 = 0x4282;
const SEGMENT: u32 = 0x1853_8067;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_TYPE: u32 = 0x83;
const CLUSTER: u32 = 0x1F43_B675;

/// `TrackType` values.
const VIDEO_TRACK: u64 = 1;
const AUDIO_TRACK: u64 = 2;

/// Extensions under which a Matroska or WebM file without track information in the head is taken as audio.
const AUDIO_EXTENSIONS: &[&str] = &["weba", "mka"];

/// Reads an EBML element ID at `position`: its value (length marker included, as IDs are written) and length.
fn read_id(data: &[u8], position: usize) -> Option<(u32, usize)> {
    let first = *data.get(position)?;
    let length = first.leading_zeros() as usize + 1;
    if length > 4 {
        return None;
    }
    let bytes = data.get(position..position + length)?;
    Some((
        bytes
            .iter()
            .fold(0, |id, &byte| (id << 8) | u32::from(byte)),
        length,
    ))
}

/// Reads an EBML element size at `position`: its value (`None` for the reserved "unknown size") and length.
fn read_size(data: &[u8], position: usize) -> Option<(Option<u64>, usize)> {
    let first = *data.get(position)?;
    let length = first.leading_zeros() as usize + 1;
    if length > 8 {
        return None;
    }
    let bytes = data.get(position..position + length)?;
    let marker_free = u64::from(first) & (0xFF >> length);
    let value = bytes[1..]
        .iter()
        .fold(marker_free, |value, &byte| (value << 8) | u64::from(byte));
    let unknown = value == (1 << (7 * length)) - 1;
    Some((if unknown { None } else { Some(value) }, length))
}

/// Iterator over the EBML elements laid out one after another in a byte range, yielding each element's ID and
/// body. As with ISO boxes, an element that runs past the range yields the bytes that are present. An element of
/// unknown size extends to the end of the range.
struct Elements<'a> {
    rest: &'a [u8],
}

impl<'a> Elements<'a> {
    fn new(data: &'a [u8]) -> Self {
        Elements { rest: data }
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = (u32, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (id, id_length) = read_id(self.rest, 0)?;
        let (size, size_length) = read_size(self.rest, id_length)?;
        let start = id_length + size_length;
        let end = match size {
            Some(size) => usize::try_from(size)
                .unwrap_or(usize::MAX)
                .saturating_add(start),
            None => self.rest.len(),
        }
        .min(self.rest.len());

        // Both reads succeeded, so `start <= end <= self.rest.len()`.
        let body = &self.rest[start..end];
        self.rest = &self.rest[end..];
        Some((id, body))
    }
}

fn child(data: &[u8], target: u32) -> Option<&[u8]> {
    Elements::new(data)
        .find(|(id, _)| *id == target)
        .map(|(_, body)| body)
}

/// Recognises a Matroska (`DocType` "matroska") or WebM (`DocType` "webm") file.
///
/// A video track makes a video and audio tracks alone make audio. When the track list is not in the head, an audio
/// extension (`weba`, `mka`) makes audio and anything else is video.
pub(super) fn detect(head: &[u8], extension: &str) -> Option<Detection> {
    let mut top_level = Elements::new(head);
    let (id, header) = top_level.next()?;
    if id != EBML_HEADER {
        return None;
    }
    // Writers may pad the string with NUL bytes.
    let doc_type = child(header, DOC_TYPE)?;
    let doc_type = doc_type.split(|&byte| byte == 0).next().unwrap_or(&[]);
    let webm = match doc_type {
        b"webm" => true,
        b"matroska" => false,
        _ => return None,
    };

    let tracks = top_level
        .find(|(id, _)| *id == SEGMENT)
        .map(|(_, segment)| Tracks::read(segment))
        .unwrap_or_default();
    let is_audio = if tracks.video {
        false
    } else {
        tracks.audio || AUDIO_EXTENSIONS.contains(&extension)
    };

    Some(match (is_audio, webm) {
        (true, true) => Detection::new(Kind::Audio, "audio/webm"),
        (true, false) => Detection::new(Kind::Audio, "audio/x-matroska"),
        (false, true) => Detection::new(Kind::Video, "video/webm"),
        (false, false) => Detection::new(Kind::Video, "video/x-matroska"),
    })
}

/// Kinds of track listed in the segment's `Tracks` element.
#[derive(Debug, Default)]
struct Tracks {
    video: bool,
    audio: bool,
}

impl Tracks {
    fn read(segment: &[u8]) -> Self {
        let mut tracks = Tracks::default();
        for (id, body) in Elements::new(segment) {
            if id == CLUSTER {
                // Media data: the track list, when present, comes before the first cluster.
                break;
            }
            if id != TRACKS {
                continue;
            }
            for (_, entry) in Elements::new(body).filter(|(id, _)| *id == TRACK_ENTRY) {
                let track_type = child(entry, TRACK_TYPE)
                    .filter(|value| value.len() <= 8)
                    .map(|value| {
                        value
                            .iter()
                            .fold(0u64, |number, &byte| (number << 8) | u64::from(byte))
                    });
                match track_type {
                    Some(VIDEO_TRACK) => tracks.video = true,
                    Some(AUDIO_TRACK) => tracks.audio = true,
                    _ => {}
                }
            }
        }
        tracks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_marks_unknown() {
        assert_eq!(read_size(&[0xFF], 0), Some((None, 1)));
        assert_eq!(
            read_size(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], 0),
            Some((None, 8))
        );
        assert_eq!(read_size(&[0x81], 0), Some((Some(1), 1)));
        assert_eq!(read_size(&[0x40, 0x02], 0), Some((Some(2), 2)));
        assert_eq!(read_size(&[0x00, 0x01], 0), None);
        assert_eq!(read_size(&[0x40], 0), None);
    }

    #[test]
    fn id_keeps_marker() {
        assert_eq!(
            read_id(&[0x1A, 0x45, 0xDF, 0xA3], 0),
            Some((EBML_HEADER, 4))
        );
        assert_eq!(read_id(&[0xAE], 0), Some((TRACK_ENTRY, 1)));
        assert_eq!(read_id(&[0x08, 0, 0, 0, 0], 0), None);
    }
}
